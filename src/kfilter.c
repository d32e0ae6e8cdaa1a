#include "kfilter.h"

#include <netinet/in.h>
#include <string.h>

/* An exact (full-length) address key can go into the kernel's tuple filter. */
static bool exact(const struct addr_prefix *p)
{
	return p->len == (p->family == AF_INET ? 32 : 128);
}

/* The tuple part (CTA_FILTER): protocol, ports, exact addresses. Ports need
 * the protocol, and the kernel only compares them for TCP and UDP. The tuple
 * filter needs a family: without one, the dump asks each family in turn
 * (ctread.c). */
static void tuple_to_kernel(const struct ct_filter *f, struct ct_kfilter *kf)
{
	if (FILTER_HAS(f, FK_PROTOCOL)) {
		kf->proto = f->proto;
		kf->orig_flags |= CTA_FILTER_F_PROTO_NUM;
		if (f->proto == IPPROTO_TCP || f->proto == IPPROTO_UDP) {
			if (FILTER_HAS(f, FK_SPORT)) {
				kf->orig.sport = f->sport;
				kf->orig_flags |= CTA_FILTER_F_SRC_PORT;
			}
			if (FILTER_HAS(f, FK_DPORT)) {
				kf->orig.dport = f->dport;
				kf->orig_flags |= CTA_FILTER_F_DST_PORT;
			}
		}
	}
	if (FILTER_HAS(f, FK_SRC) && exact(&f->addr[FK_SRC])) {
		memcpy(kf->orig.src, f->addr[FK_SRC].addr, 16);
		kf->orig_flags |= CTA_FILTER_F_IP_SRC;
	}
	if (FILTER_HAS(f, FK_DST) && exact(&f->addr[FK_DST])) {
		memcpy(kf->orig.dst, f->addr[FK_DST].addr, 16);
		kf->orig_flags |= CTA_FILTER_F_IP_DST;
	}
	if (FILTER_HAS(f, FK_REPLY_SRC) && exact(&f->addr[FK_REPLY_SRC])) {
		memcpy(kf->reply.src, f->addr[FK_REPLY_SRC].addr, 16);
		kf->reply_flags |= CTA_FILTER_F_IP_SRC;
	}
	if (FILTER_HAS(f, FK_REPLY_DST) && exact(&f->addr[FK_REPLY_DST])) {
		memcpy(kf->reply.dst, f->addr[FK_REPLY_DST].addr, 16);
		kf->reply_flags |= CTA_FILTER_F_IP_DST;
	}
}

void filter_to_kernel(const struct ct_filter *f, const struct ct_kcaps *caps, struct ct_kfilter *kf)
{
	static const enum filter_key addr_keys[] = {
		FK_ADDRESS, FK_SRC, FK_DST, FK_REPLY_SRC, FK_REPLY_DST, FK_NAT_ADDRESS,
	};

	memset(kf, 0, sizeof(*kf));
	kf->family = FILTER_HAS(f, FK_FAMILY) ? f->family : 0;
	/* Every address key implies its family; two different ones match nothing. */
	for (size_t i = 0; i < sizeof(addr_keys) / sizeof(addr_keys[0]); i++) {
		const struct addr_prefix *p = &f->addr[addr_keys[i]];
		if (!FILTER_HAS(f, addr_keys[i]))
			continue;
		if (kf->family && kf->family != p->family)
			kf->empty = true;
		kf->family = p->family;
	}

	if (FILTER_HAS(f, FK_MARK)) {
		kf->mark = true;
		kf->mark_mask = f->mark_mask;
		kf->mark_val = f->mark & f->mark_mask;
	}
	if (caps->status_filter && (f->status_set | f->status_clear)) {
		kf->status = true;
		kf->status_val = f->status_set;
		kf->status_mask = f->status_set | f->status_clear;
	}

	if (caps->tuple_filter && !kf->empty)
		tuple_to_kernel(f, kf);
}

static bool tuple_equal(const struct ct_tuple *a, const struct ct_tuple *b)
{
	return memcmp(a->src, b->src, sizeof(a->src)) == 0 && memcmp(a->dst, b->dst, sizeof(a->dst)) == 0 &&
	       a->sport == b->sport && a->dport == b->dport;
}

/* Field by field: the structs' padding is whatever their writers left. */
bool kfilter_equal(const struct ct_kfilter *a, const struct ct_kfilter *b)
{
	return a->family == b->family && a->empty == b->empty &&
	       a->mark == b->mark && (!a->mark || (a->mark_val == b->mark_val && a->mark_mask == b->mark_mask)) &&
	       a->status == b->status &&
	       (!a->status || (a->status_val == b->status_val && a->status_mask == b->status_mask)) &&
	       a->orig_flags == b->orig_flags && a->reply_flags == b->reply_flags && a->proto == b->proto &&
	       tuple_equal(&a->orig, &b->orig) && tuple_equal(&a->reply, &b->reply);
}
