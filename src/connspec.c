#include "connspec.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "errors.h"
#include "asv.h"
#include "filter.h"


enum { K_PROTOCOL, K_SRC, K_DST, K_SPORT, K_DPORT, K_ICMP_TYPE, K_ICMP_CODE, K_ICMP_ID,
       K_ZONE, K_ID, _K_MAX };
static const char *const names[_K_MAX] = {
	"protocol", "src", "dst", "sport", "dport", "icmp-type", "icmp-code", "icmp-id", "zone", "id",
};
static const uint64_t max[_K_MAX] = {
	[K_SPORT] = UINT16_MAX, [K_DPORT] = UINT16_MAX, [K_ICMP_TYPE] = UINT8_MAX,
	[K_ICMP_CODE] = UINT8_MAX, [K_ICMP_ID] = UINT16_MAX, [K_ZONE] = UINT16_MAX,
	[K_ID] = UINT32_MAX,
};

#define HAS(k) ((seen >> (k)) & 1u)

static int read_addr(sd_bus_message *m, const char *key, const char *contents, uint8_t *family,
		     uint8_t *addr, sd_bus_error *error)
{
	struct addr_prefix p;
	const char *s;
	int r;

	if ((r = variant_read_string(m, "Connection key", key, contents, &s, error)) < 0)
		return r;
	if (addr_prefix_parse(s, &p) < 0 || p.len != (p.family == AF_INET ? 32 : 128) || strchr(s, '/'))
		return INVALID(error, "Connection key '%s': '%s' is not a single IP address", key, s);
	if (*family && *family != p.family)
		return INVALID(error, "Connection key '%s': '%s' is not of the same family as the other address",
			       key, s);
	*family = p.family;
	memcpy(addr, p.addr, 16);
	return 0;
}

/* Reads the value of key k into c. */
static int read_key(sd_bus_message *m, unsigned k, const char *contents, struct ct_record *c,
		    sd_bus_error *error)
{
	const char *str;
	uint64_t u;
	int r;

	switch (k) {
	case K_PROTOCOL:
		if ((r = variant_read_string(m, "Connection key", names[k], contents, &str, error)) < 0)
			return r;
		if ((r = ct_proto_from_name(str)) < 0)
			return INVALID(error, "Connection key 'protocol': unknown protocol '%s'", str);
		c->proto = (uint8_t)r;
		return 0;
	case K_SRC:
		return read_addr(m, names[k], contents, &c->family, c->t[CT_ORIG].src, error);
	case K_DST:
		return read_addr(m, names[k], contents, &c->family, c->t[CT_ORIG].dst, error);
	}
	if ((r = variant_read_uint(m, "Connection key", names[k], contents, max[k], &u, error)) < 0)
		return r;
	switch (k) {
	case K_SPORT:     c->t[CT_ORIG].sport = (uint16_t)u; break;
	case K_DPORT:     c->t[CT_ORIG].dport = (uint16_t)u; break;
	case K_ICMP_TYPE: c->icmp_type = (uint8_t)u; break;
	case K_ICMP_CODE: c->icmp_code = (uint8_t)u; break;
	case K_ICMP_ID:   c->icmp_id = (uint16_t)u; break;
	case K_ZONE:      c->zone = (uint16_t)u; break;
	case K_ID:        c->id = (uint32_t)u; break;
	}
	return 0;
}

/* A tuple names one entry only whole: protocol, addresses, and ports or
 * ICMP type, code and id, as the protocol has them. */
static int check_tuple(const struct ct_record *c, uint32_t seen, sd_bus_error *error)
{
	bool icmp = c->proto == IPPROTO_ICMP || c->proto == IPPROTO_ICMPV6;
	bool ports = c->proto == IPPROTO_TCP || c->proto == IPPROTO_UDP || c->proto == IPPROTO_UDPLITE ||
		     c->proto == IPPROTO_SCTP || c->proto == IPPROTO_DCCP;
	char pbuf[4];

	for (int k = K_PROTOCOL; k <= K_DST; k++)
		if (!HAS(k))
			return INVALID(error, "Connection key '%s' is missing: give protocol, src, dst and ports "
				       "(or icmp-type, icmp-code, icmp-id), or 'id' alone", names[k]);
	if (!icmp && !ports)
		return INVALID(error, "Connection key 'protocol': entries of protocol '%s' can only be deleted by 'id'",
			       ct_proto_name(c->proto, pbuf));
	if (icmp && (c->proto == IPPROTO_ICMP) != (c->family == AF_INET))
		return INVALID(error, "Connection key 'protocol': '%s' does not go with %s addresses",
			       ct_proto_name(c->proto, pbuf), ct_family_name(c->family));
	for (int k = K_SPORT; k <= K_ICMP_ID; k++) {
		bool wanted = (k <= K_DPORT) ? ports : icmp;
		if (wanted && !HAS(k))
			return INVALID(error, "Connection key '%s' is missing for protocol '%s'", names[k],
				       ct_proto_name(c->proto, pbuf));
		if (!wanted && HAS(k))
			return INVALID(error, "Connection key '%s' does not apply to protocol '%s'", names[k],
				       ct_proto_name(c->proto, pbuf));
	}
	return 0;
}

int conn_spec_parse(sd_bus_message *m, struct conn_spec *s, sd_bus_error *error)
{
	uint32_t seen = 0;
	int r;

	memset(s, 0, sizeof(*s));
	if ((r = sd_bus_message_enter_container(m, 'a', "{sv}")) < 0)
		return r;
	for (;;) {
		uint64_t seen64 = seen;
		const char *contents;
		unsigned k;

		if ((r = dict_next(m, names, _K_MAX, &seen64, "connection key", &k, &contents, error)) <= 0) {
			if (r < 0)
				return r;
			break;
		}
		seen = (uint32_t)seen64;
		if ((r = read_key(m, k, contents, &s->rec, error)) < 0 || (r = dict_entry_end(m)) < 0)
			return r;
	}
	s->has_id = HAS(K_ID);
	if (seen == 1u << K_ID) {
		s->by_id = true;
		return 0;
	}
	return check_tuple(&s->rec, seen, error);
}
