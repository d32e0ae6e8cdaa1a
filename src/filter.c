#include "filter.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "asv.h"
#include "errors.h"

static const char *const key_names[_FK_MAX] = {
	[FK_FAMILY] = "family", [FK_PROTOCOL] = "protocol", [FK_STATE] = "state",
	[FK_STATUS] = "status", [FK_ADDRESS] = "address", [FK_SRC] = "src",
	[FK_DST] = "dst", [FK_REPLY_SRC] = "reply-src", [FK_REPLY_DST] = "reply-dst",
	[FK_PORT] = "port", [FK_SPORT] = "sport", [FK_DPORT] = "dport",
	[FK_MARK] = "mark", [FK_MARK_MASK] = "mark-mask", [FK_ZONE] = "zone",
	[FK_NAT] = "nat", [FK_NAT_ADDRESS] = "nat-address", [FK_INTERFACE] = "interface",
	[FK_STALE] = "stale",
};


int addr_prefix_parse(const char *s, struct addr_prefix *p)
{
	char buf[INET6_ADDRSTRLEN + 5];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned max, len;

	if (alen == 0 || alen >= INET6_ADDRSTRLEN)
		return -EINVAL;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	memset(p, 0, sizeof(*p));
	if (inet_pton(AF_INET, buf, p->addr) == 1) {
		p->family = AF_INET; max = 32;
	} else if (inet_pton(AF_INET6, buf, p->addr) == 1) {
		p->family = AF_INET6; max = 128;
	} else
		return -EINVAL;

	len = max;
	if (slash) {
		const char *d = slash + 1;
		size_t n = strlen(d);
		if (n == 0 || n > 3 || strspn(d, "0123456789") != n)
			return -EINVAL;
		len = (unsigned)atoi(d);
		if (len > max)
			return -ERANGE;
	}
	p->len = (uint8_t)len;
	/* Clear host bits so that matching is a plain prefix compare. */
	for (unsigned bit = len; bit < max; bit++)
		p->addr[bit / 8] &= (uint8_t)~(0x80u >> (bit % 8));
	return 0;
}

bool addr_prefix_match(const struct addr_prefix *p, uint8_t family, const uint8_t *addr)
{
	unsigned full = p->len / 8, rest = p->len % 8;

	if (p->family != family)
		return false;
	if (memcmp(p->addr, addr, full) != 0)
		return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff00u >> rest);
		if ((addr[full] & mask) != p->addr[full])
			return false;
	}
	return true;
}


static int expect_type(const char *key, const char *contents, const char *want, sd_bus_error *error)
{
	if (strcmp(contents, want) != 0)
		return INVALID(error, "Filter key '%s' must be of type '%s', got '%s'", key, want, contents);
	return 0;
}

static int parse_state(struct ct_filter *f, const char *s, sd_bus_error *error)
{
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_SCTP, IPPROTO_DCCP };
	uint32_t *masks[] = { &f->tcp_states, &f->sctp_states, &f->dccp_states };
	bool any = false;

	for (size_t i = 0; i < sizeof(protos); i++) {
		int st = ct_state_from_name(protos[i], s);
		if (st >= 0) {
			*masks[i] |= 1u << st;
			any = true;
		}
	}
	if (!any)
		return INVALID(error, "Filter key 'state': unknown state '%s'", s);
	return 0;
}

static int parse_status(sd_bus_message *m, struct ct_filter *f, sd_bus_error *error)
{
	const char *flag;
	int r;

	r = sd_bus_message_enter_container(m, 'a', "s");
	if (r < 0)
		return r;
	while ((r = sd_bus_message_read_basic(m, 's', &flag)) > 0) {
		unsigned bit;
		if (strcasecmp(flag, "UNREPLIED") == 0) {
			f->status_clear |= IPS_SEEN_REPLY;
			continue;
		}
		for (bit = 0; bit < CT_STATUS_BITS; bit++)
			if (strcasecmp(ct_status_name(bit), flag) == 0)
				break;
		if (bit == CT_STATUS_BITS)
			return INVALID(error, "Filter key 'status': unknown flag '%s'", flag);
		f->status_set |= 1u << bit;
	}
	if (r < 0)
		return r;
	return sd_bus_message_exit_container(m);
}

static int parse_value(sd_bus_message *m, struct ct_filter *f, enum filter_key k,
		       const char *contents, const struct filter_env *env, sd_bus_error *error)
{
	const char *key = key_names[k], *s;
	uint64_t u;
	int r;

	switch (k) {
	case FK_STATUS:
		if ((r = expect_type(key, contents, "as", error)) < 0)
			return r;
		return parse_status(m, f, error);

	case FK_PORT: case FK_SPORT: case FK_DPORT: case FK_ZONE:
		if ((r = variant_read_uint(m, "Filter key", key, contents, UINT16_MAX, &u, error)) < 0)
			return r;
		*(k == FK_PORT ? &f->port : k == FK_SPORT ? &f->sport :
		  k == FK_DPORT ? &f->dport : &f->zone) = (uint16_t)u;
		return 0;

	case FK_MARK: case FK_MARK_MASK:
		if ((r = variant_read_uint(m, "Filter key", key, contents, UINT32_MAX, &u, error)) < 0)
			return r;
		*(k == FK_MARK ? &f->mark : &f->mark_mask) = (uint32_t)u;
		return 0;

	case FK_STALE: {
		int b;
		if ((r = expect_type(key, contents, "b", error)) < 0)
			return r;
		if ((r = sd_bus_message_read_basic(m, 'b', &b)) < 0)
			return r;
		if (!env || !env->stale_addrs)
			return INVALID(error, "Filter key 'stale' is not available: the service does not follow addresses");
		f->stale = b;
		f->stale_addrs = g_array_new(FALSE, FALSE, sizeof(struct addr_prefix));
		return env->stale_addrs(env->userdata, f->stale_addrs);
	}
	default:
		break;
	}

	/* The remaining keys are strings. */
	if ((r = expect_type(key, contents, "s", error)) < 0)
		return r;
	if ((r = sd_bus_message_read_basic(m, 's', &s)) < 0)
		return r;

	switch (k) {
	case FK_FAMILY:
		if (strcmp(s, "ipv4") == 0)
			f->family = AF_INET;
		else if (strcmp(s, "ipv6") == 0)
			f->family = AF_INET6;
		else
			return INVALID(error, "Filter key 'family': '%s' is neither 'ipv4' nor 'ipv6'", s);
		return 0;
	case FK_PROTOCOL:
		if ((r = ct_proto_from_name(s)) < 0)
			return INVALID(error, "Filter key 'protocol': unknown protocol '%s'", s);
		f->proto = (uint8_t)r;
		return 0;
	case FK_STATE:
		return parse_state(f, s, error);
	case FK_ADDRESS: case FK_SRC: case FK_DST: case FK_REPLY_SRC: case FK_REPLY_DST:
	case FK_NAT_ADDRESS:
		r = addr_prefix_parse(s, &f->addr[k]);
		if (r == -ERANGE)
			return INVALID(error, "Filter key '%s': prefix length in '%s' is too long", key, s);
		if (r < 0)
			return INVALID(error, "Filter key '%s': '%s' is not an IP address or prefix", key, s);
		return 0;
	case FK_NAT:
		if (strcmp(s, "snat") == 0) f->nat = NAT_SNAT;
		else if (strcmp(s, "dnat") == 0) f->nat = NAT_DNAT;
		else if (strcmp(s, "any") == 0) f->nat = NAT_ANY;
		else if (strcmp(s, "none") == 0) f->nat = NAT_NONE;
		else
			return INVALID(error, "Filter key 'nat': '%s' is not one of snat, dnat, any, none", s);
		return 0;
	case FK_INTERFACE:
		if (!env || !env->interface_addrs)
			return INVALID(error, "Filter key 'interface' is not available: the service does not follow addresses");
		f->iface_addrs = g_array_new(FALSE, FALSE, sizeof(struct addr_prefix));
		r = env->interface_addrs(env->userdata, s, f->iface_addrs);
		if (r == -ENOENT)
			return INVALID(error, "Filter key 'interface': unknown interface '%s'", s);
		return r;
	default:
		return -EINVAL;
	}
}


void filter_clear(struct ct_filter *f)
{
	if (f->iface_addrs)
		g_array_unref(f->iface_addrs);
	if (f->stale_addrs)
		g_array_unref(f->stale_addrs);
	f->iface_addrs = f->stale_addrs = NULL;
}

int filter_parse(sd_bus_message *m, struct ct_filter *f, const struct filter_env *env,
		 sd_bus_error *error)
{
	int r;

	memset(f, 0, sizeof(*f));
	f->mark_mask = UINT32_MAX;

	r = sd_bus_message_enter_container(m, 'a', "{sv}");
	if (r < 0)
		return r;
	for (;;) {
		uint64_t seen = f->keys;
		const char *contents;
		unsigned k;

		if ((r = dict_next(m, key_names, _FK_MAX, &seen, "filter key", &k, &contents, error)) <= 0) {
			if (r < 0)
				return r;
			break;
		}
		if ((r = parse_value(m, f, (enum filter_key)k, contents, env, error)) < 0)
			return r;
		f->keys = (uint32_t)seen;
		if ((r = dict_entry_end(m)) < 0)
			return r;
	}

	if (FILTER_HAS(f, FK_MARK_MASK) && !FILTER_HAS(f, FK_MARK))
		return INVALID(error, "Filter key 'mark-mask' requires 'mark'");
	return 0;
}

static bool state_match(const struct ct_filter *f, const struct ct_record *r)
{
	uint32_t mask;

	if (!(r->flags & CT_HAS_STATE))
		return false;
	switch (r->proto) {
	case IPPROTO_TCP:  mask = f->tcp_states; break;
	case IPPROTO_SCTP: mask = f->sctp_states; break;
	case IPPROTO_DCCP: mask = f->dccp_states; break;
	default: return false;
	}
	return (mask >> r->state) & 1u;
}

static bool any_port(const struct ct_record *r, uint16_t port)
{
	return r->t[CT_ORIG].sport == port || r->t[CT_ORIG].dport == port ||
	       r->t[CT_REPLY].sport == port || r->t[CT_REPLY].dport == port;
}

/* Is one of the entry's four addresses in the set? */
static bool bound_to(const GArray *set, const struct ct_record *r)
{
	for (guint i = 0; i < set->len; i++) {
		const struct addr_prefix *p = &g_array_index(set, struct addr_prefix, i);
		for (int d = 0; d < 2; d++)
			if (addr_prefix_match(p, r->family, r->t[d].src) ||
			    addr_prefix_match(p, r->family, r->t[d].dst))
				return true;
	}
	return false;
}

bool filter_narrows(const struct ct_filter *f)
{
	static const enum filter_key addr_keys[] = { FK_ADDRESS, FK_SRC, FK_DST, FK_REPLY_SRC, FK_REPLY_DST };
	uint32_t wide = 1u << FK_FAMILY;

	if (FILTER_HAS(f, FK_STATUS) && !f->status_set && !f->status_clear)
		wide |= 1u << FK_STATUS;
	if (FILTER_HAS(f, FK_MARK_MASK) && f->mark_mask == 0)
		wide |= 1u << FK_MARK | 1u << FK_MARK_MASK;
	for (size_t i = 0; i < sizeof(addr_keys) / sizeof(addr_keys[0]); i++)
		if (FILTER_HAS(f, addr_keys[i]) && f->addr[addr_keys[i]].len == 0)
			wide |= 1u << addr_keys[i];
	if (FILTER_HAS(f, FK_STALE) && !f->stale && (!f->stale_addrs || f->stale_addrs->len == 0))
		wide |= 1u << FK_STALE;
	return (f->keys & ~wide) != 0;
}

bool filter_match(const struct ct_filter *f, const struct ct_record *r)
{
	const struct ct_tuple *o = &r->t[CT_ORIG], *re = &r->t[CT_REPLY];
	const struct addr_prefix *a = f->addr;
	bool snat = r->status & IPS_SRC_NAT, dnat = r->status & IPS_DST_NAT;

	if (!f->keys)
		return true;
	if (FILTER_HAS(f, FK_FAMILY) && r->family != f->family)
		return false;
	if (FILTER_HAS(f, FK_PROTOCOL) && r->proto != f->proto)
		return false;
	if (FILTER_HAS(f, FK_STATE) && !state_match(f, r))
		return false;
	if ((r->status & f->status_set) != f->status_set || (r->status & f->status_clear))
		return false;
	if (FILTER_HAS(f, FK_SRC) && !addr_prefix_match(&a[FK_SRC], r->family, o->src))
		return false;
	if (FILTER_HAS(f, FK_DST) && !addr_prefix_match(&a[FK_DST], r->family, o->dst))
		return false;
	if (FILTER_HAS(f, FK_REPLY_SRC) && !addr_prefix_match(&a[FK_REPLY_SRC], r->family, re->src))
		return false;
	if (FILTER_HAS(f, FK_REPLY_DST) && !addr_prefix_match(&a[FK_REPLY_DST], r->family, re->dst))
		return false;
	if (FILTER_HAS(f, FK_ADDRESS) &&
	    !addr_prefix_match(&a[FK_ADDRESS], r->family, o->src) &&
	    !addr_prefix_match(&a[FK_ADDRESS], r->family, o->dst) &&
	    !addr_prefix_match(&a[FK_ADDRESS], r->family, re->src) &&
	    !addr_prefix_match(&a[FK_ADDRESS], r->family, re->dst))
		return false;
	if (FILTER_HAS(f, FK_PORT) && !any_port(r, f->port))
		return false;
	if (FILTER_HAS(f, FK_SPORT) && o->sport != f->sport)
		return false;
	if (FILTER_HAS(f, FK_DPORT) && o->dport != f->dport)
		return false;
	if (FILTER_HAS(f, FK_MARK) && (r->mark & f->mark_mask) != (f->mark & f->mark_mask))
		return false;
	if (FILTER_HAS(f, FK_ZONE) && r->zone != f->zone)
		return false;
	if (FILTER_HAS(f, FK_NAT)) {
		bool ok = f->nat == NAT_SNAT ? snat : f->nat == NAT_DNAT ? dnat :
			  f->nat == NAT_ANY ? (snat || dnat) : !(snat || dnat);
		if (!ok)
			return false;
	}
	if (FILTER_HAS(f, FK_NAT_ADDRESS) &&
	    !(snat && addr_prefix_match(&a[FK_NAT_ADDRESS], r->family, re->dst)) &&
	    !(dnat && addr_prefix_match(&a[FK_NAT_ADDRESS], r->family, re->src)))
		return false;
	if (FILTER_HAS(f, FK_INTERFACE) && !bound_to(f->iface_addrs, r))
		return false;
	if (FILTER_HAS(f, FK_STALE) && bound_to(f->stale_addrs, r) != f->stale)
		return false;
	return true;
}
