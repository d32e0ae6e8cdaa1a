/* The same job as ctparse.c, done by libnetfilter_conntrack: kept to measure
 * one against the other end to end (meson -Dparser=libnetfilter_conntrack,
 * tests/bench/parser.py); README's design section has the figures. The
 * daemon uses ctparse.c's own parser by default. */
#include "ctparse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <string.h>

static const int ip_attrs[2][2][2] = {   /* [dir][v6][src/dst] */
	{ { ATTR_ORIG_IPV4_SRC, ATTR_ORIG_IPV4_DST }, { ATTR_ORIG_IPV6_SRC, ATTR_ORIG_IPV6_DST } },
	{ { ATTR_REPL_IPV4_SRC, ATTR_REPL_IPV4_DST }, { ATTR_REPL_IPV6_SRC, ATTR_REPL_IPV6_DST } },
};
static const int port_attrs[2][2] = {
	{ ATTR_ORIG_PORT_SRC, ATTR_ORIG_PORT_DST }, { ATTR_REPL_PORT_SRC, ATTR_REPL_PORT_DST },
};
static const int counter_attrs[2][2] = {
	{ ATTR_ORIG_COUNTER_PACKETS, ATTR_ORIG_COUNTER_BYTES }, { ATTR_REPL_COUNTER_PACKETS, ATTR_REPL_COUNTER_BYTES },
};

static int get_tuple(const struct nf_conntrack *ct, struct ct_record *r, int dir)
{
	bool v6 = r->family == AF_INET6;
	size_t n = v6 ? 16 : 4;

	for (int k = 0; k < 2; k++) {
		const void *a = nfct_get_attr(ct, ip_attrs[dir][v6][k]);
		if (!a)
			return -EBADMSG;
		memcpy(k ? r->t[dir].dst : r->t[dir].src, a, n);
	}
	if (nfct_attr_is_set(ct, port_attrs[dir][0]) > 0)
		r->t[dir].sport = ntohs(nfct_get_attr_u16(ct, port_attrs[dir][0]));
	if (nfct_attr_is_set(ct, port_attrs[dir][1]) > 0)
		r->t[dir].dport = ntohs(nfct_get_attr_u16(ct, port_attrs[dir][1]));
	if (nfct_attr_is_set(ct, counter_attrs[dir][0]) > 0)
		r->packets[dir] = nfct_get_attr_u64(ct, counter_attrs[dir][0]);
	if (nfct_attr_is_set(ct, counter_attrs[dir][1]) > 0)
		r->bytes[dir] = nfct_get_attr_u64(ct, counter_attrs[dir][1]);
	return 0;
}

static void get_extras(const struct nf_conntrack *ct, struct ct_record *r)
{
	int state = r->proto == IPPROTO_TCP ? ATTR_TCP_STATE : r->proto == IPPROTO_SCTP ? ATTR_SCTP_STATE
		  : r->proto == IPPROTO_DCCP ? ATTR_DCCP_STATE : -1;
	const char *helper = nfct_get_attr(ct, ATTR_HELPER_NAME);
	const struct nfct_bitmask *labels = nfct_get_attr(ct, ATTR_CONNLABELS);

	if ((r->proto == IPPROTO_ICMP || r->proto == IPPROTO_ICMPV6) && nfct_attr_is_set(ct, ATTR_ICMP_TYPE) > 0) {
		r->flags |= CT_HAS_ICMP;
		r->icmp_type = nfct_get_attr_u8(ct, ATTR_ICMP_TYPE);
		r->icmp_code = nfct_get_attr_u8(ct, ATTR_ICMP_CODE);
		r->icmp_id = ntohs(nfct_get_attr_u16(ct, ATTR_ICMP_ID));
		r->t[CT_ORIG].sport = r->t[CT_ORIG].dport = r->t[CT_REPLY].sport = r->t[CT_REPLY].dport = 0;
	}
	if (state >= 0 && nfct_attr_is_set(ct, state) > 0) {
		r->state = nfct_get_attr_u8(ct, state);
		if (r->state < ct_state_count(r->proto))
			r->flags |= CT_HAS_STATE;
	}
	if (helper) {
		size_t n = strnlen(helper, sizeof(r->helper) - 1);
		memcpy(r->helper, helper, n);
		for (size_t i = 0; i < n; i++)
			if (!g_ascii_isalnum(r->helper[i]) && !strchr("-_.", r->helper[i]))
				r->helper[i] = '?';
		r->flags |= CT_HAS_HELPER;
	}
	for (unsigned bit = 0; labels && bit <= nfct_bitmask_maxbit(labels) && bit < 8 * sizeof(r->labels); bit++)
		if (nfct_bitmask_test_bit(labels, bit)) {
			r->labels[bit / 8] |= (uint8_t)(1u << (bit % 8));
			r->flags |= CT_HAS_LABELS;
		}
}

int ct_parse_nlmsg(const struct nlmsghdr *nlh, struct ct_record *r)
{
	struct nf_conntrack *ct = nfct_new();
	int k = -EBADMSG;

	memset(r, 0, sizeof(*r));
	if (!ct)
		return -ENOMEM;
	if (nfct_nlmsg_parse(nlh, ct) < 0)
		goto out;
	r->family = nfct_get_attr_u8(ct, ATTR_ORIG_L3PROTO);
	r->proto = nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO);
	if ((r->family != AF_INET && r->family != AF_INET6) ||
	    get_tuple(ct, r, CT_ORIG) < 0 || get_tuple(ct, r, CT_REPLY) < 0)
		goto out;
	r->id = nfct_get_attr_u32(ct, ATTR_ID);
	r->status = nfct_get_attr_u32(ct, ATTR_STATUS);
	r->timeout = nfct_get_attr_u32(ct, ATTR_TIMEOUT);
	r->mark = nfct_get_attr_u32(ct, ATTR_MARK);
	r->zone = nfct_get_attr_u16(ct, ATTR_ZONE);
	r->start_ns = nfct_get_attr_u64(ct, ATTR_TIMESTAMP_START);
	if (nfct_attr_is_set(ct, ATTR_USE) > 0) {
		r->use = nfct_get_attr_u32(ct, ATTR_USE);
		r->flags |= CT_HAS_USE;
	}
	get_extras(ct, r);
	k = 0;
out:
	nfct_destroy(ct);
	return k;
}
