#include "record.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct { uint8_t num; const char *name; } protos[] = {
	{ IPPROTO_TCP, "tcp" }, { IPPROTO_UDP, "udp" }, { IPPROTO_UDPLITE, "udplite" },
	{ IPPROTO_SCTP, "sctp" }, { IPPROTO_DCCP, "dccp" }, { IPPROTO_ICMP, "icmp" },
	{ IPPROTO_ICMPV6, "icmpv6" }, { IPPROTO_GRE, "gre" },
};

const char *ct_proto_name(uint8_t proto, char buf[4])
{
	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		if (protos[i].num == proto)
			return protos[i].name;
	snprintf(buf, 4, "%u", proto);
	return buf;
}

int ct_proto_from_name(const char *s)
{
	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		if (strcmp(protos[i].name, s) == 0)
			return protos[i].num;
	if (s[0] < '0' || s[0] > '9' || strlen(s) > 3)
		return -1;
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v > 255)
		return -1;
	return (int)v;
}

/* Names as the kernel's conntrack protocol trackers define them (enum
 * tcp_conntrack, sctp_conntrack, ct_dccp_states) and as conntrack(8) prints. */
static const char *const tcp_states[] = {
	"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT",
	"LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2",
};
static const char *const sctp_states[] = {
	"NONE", "CLOSED", "COOKIE_WAIT", "COOKIE_ECHOED", "ESTABLISHED",
	"SHUTDOWN_SENT", "SHUTDOWN_RECD", "SHUTDOWN_ACK_SENT", "HEARTBEAT_SENT",
	"HEARTBEAT_ACKED",
};
static const char *const dccp_states[] = {
	"NONE", "REQUEST", "RESPOND", "PARTOPEN", "OPEN", "CLOSEREQ", "CLOSING",
	"TIMEWAIT", "IGNORE", "INVALID",
};

static const char *const *states_of(uint8_t proto, unsigned *n)
{
	switch (proto) {
	case IPPROTO_TCP:  *n = sizeof(tcp_states) / sizeof(tcp_states[0]); return tcp_states;
	case IPPROTO_SCTP: *n = sizeof(sctp_states) / sizeof(sctp_states[0]); return sctp_states;
	case IPPROTO_DCCP: *n = sizeof(dccp_states) / sizeof(dccp_states[0]); return dccp_states;
	default: *n = 0; return NULL;
	}
}

unsigned ct_state_count(uint8_t proto)
{
	unsigned n;
	states_of(proto, &n);
	return n;
}

const char *ct_state_name(uint8_t proto, uint8_t state)
{
	unsigned n;
	const char *const *names = states_of(proto, &n);
	return names && state < n ? names[state] : NULL;
}

static const char *const status_names[CT_STATUS_BITS] = {
	"EXPECTED", "SEEN_REPLY", "ASSURED", "CONFIRMED", "SRC_NAT", "DST_NAT",
	"SEQ_ADJUST", "SRC_NAT_DONE", "DST_NAT_DONE", "DYING", "FIXED_TIMEOUT",
	"TEMPLATE", "UNTRACKED", "HELPER", "OFFLOAD", "HW_OFFLOAD",
};

const char *ct_status_name(unsigned bit)
{
	return bit < CT_STATUS_BITS ? status_names[bit] : NULL;
}

const char *ct_family_name(uint8_t family)
{
	return family == AF_INET6 ? "ipv6" : "ipv4";
}

const char *ct_addr_str(uint8_t family, const uint8_t *addr, char buf[46])
{
	if (!inet_ntop(family == AF_INET6 ? AF_INET6 : AF_INET, addr, buf, 46))
		strcpy(buf, "?");
	return buf;
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
	const uint8_t *p = data;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

uint64_t ct_record_ident(const struct ct_record *r)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	h = fnv1a(h, &r->id, sizeof(r->id));
	h = fnv1a(h, &r->family, 1);
	h = fnv1a(h, &r->proto, 1);
	h = fnv1a(h, &r->zone, sizeof(r->zone));
	h = fnv1a(h, &r->t[CT_ORIG], sizeof(r->t[CT_ORIG]));
	return h;
}

const char *const ct_record_fields[22] = {
	"id", "family", "protocol", "state", "status", "src", "dst", "sport", "dport",
	"reply-src", "reply-dst", "reply-sport", "reply-dport", "timeout", "mark", "zone",
	"packets", "bytes", "reply-packets", "reply-bytes", "start", "extra",
};

/* A bounded writer: appends while there is room, remembers overflow. */
struct out {
	char *p;
	size_t len, size;
	bool full;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->p + o->len, o->size - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->size - o->len)
		o->full = true;
	else
		o->len += (size_t)n;
}

/* Status flags in D-Bus order, joined by sep, each wrapped in quote. */
static void put_status(struct out *o, const struct ct_record *r, const char *sep, const char *quote)
{
	const char *s = "";
	if (!(r->status & (1u << 1))) {
		put(o, "%sUNREPLIED%s", quote, quote);
		s = sep;
	}
	for (unsigned bit = 0; bit < CT_STATUS_BITS; bit++)
		if (r->status & (1u << bit)) {
			put(o, "%s%s%s%s", s, quote, status_names[bit], quote);
			s = sep;
		}
}

size_t ct_record_json(const struct ct_record *r, char *buf, size_t size)
{
	struct out o = { buf, 0, size, false };
	char pb[4], a[4][46];
	const char *state = (r->flags & CT_HAS_STATE) ? ct_state_name(r->proto, r->state) : NULL;
	const struct ct_tuple *t = r->t;

	put(&o, "{\"id\":%u,\"family\":\"%s\",\"protocol\":\"%s\",\"state\":\"%s\",\"status\":[",
	    r->id, ct_family_name(r->family), ct_proto_name(r->proto, pb), state ? state : "");
	put_status(&o, r, ",", "\"");
	put(&o, "],\"src\":\"%s\",\"dst\":\"%s\",\"sport\":%u,\"dport\":%u,"
	    "\"reply-src\":\"%s\",\"reply-dst\":\"%s\",\"reply-sport\":%u,\"reply-dport\":%u,"
	    "\"timeout\":%u,\"mark\":%u,\"zone\":%u,\"packets\":%llu,\"bytes\":%llu,"
	    "\"reply-packets\":%llu,\"reply-bytes\":%llu,\"start\":%llu,\"extra\":{",
	    ct_addr_str(r->family, t[0].src, a[0]), ct_addr_str(r->family, t[0].dst, a[1]),
	    t[0].sport, t[0].dport, ct_addr_str(r->family, t[1].src, a[2]),
	    ct_addr_str(r->family, t[1].dst, a[3]), t[1].sport, t[1].dport, r->timeout, r->mark,
	    r->zone, (unsigned long long)r->packets[0], (unsigned long long)r->bytes[0],
	    (unsigned long long)r->packets[1], (unsigned long long)r->bytes[1],
	    (unsigned long long)(r->start_ns / 1000));
	const char *sep = "";
	if (r->flags & CT_HAS_ICMP) {
		put(&o, "\"icmp-type\":%u,\"icmp-code\":%u,\"icmp-id\":%u", r->icmp_type, r->icmp_code, r->icmp_id);
		sep = ",";
	}
	if (r->flags & CT_HAS_HELPER) {
		/* Helper names are kernel identifiers ([a-z0-9-]): nothing to escape. */
		put(&o, "%s\"helper\":\"%s\"", sep, r->helper);
		sep = ",";
	}
	if (r->flags & CT_HAS_USE) {
		put(&o, "%s\"use\":%u", sep, r->use);
		sep = ",";
	}
	if (r->flags & CT_HAS_LABELS) {
		const char *ls = "";
		put(&o, "%s\"labels\":[", sep);
		for (unsigned bit = 0; bit < 128; bit++)
			if (r->labels[bit / 8] & (1u << (bit % 8))) {
				put(&o, "%s\"%u\"", ls, bit);
				ls = ",";
			}
		put(&o, "]");
	}
	put(&o, "}}\n");
	return o.full ? 0 : o.len;
}

size_t ct_record_csv_header(char *buf, size_t size)
{
	struct out o = { buf, 0, size, false };
	for (int i = 0; i < 22; i++)
		put(&o, "%s%s", i ? "," : "", ct_record_fields[i]);
	put(&o, "\n");
	return o.full ? 0 : o.len;
}

size_t ct_record_csv(const struct ct_record *r, char *buf, size_t size)
{
	struct out o = { buf, 0, size, false };
	char pb[4], a[4][46];
	const char *state = (r->flags & CT_HAS_STATE) ? ct_state_name(r->proto, r->state) : NULL;
	const struct ct_tuple *t = r->t;

	/* No field can hold a comma or a quote: flags are joined with '|',
	 * extra is key=value pairs joined with ';'. */
	put(&o, "%u,%s,%s,%s,", r->id, ct_family_name(r->family), ct_proto_name(r->proto, pb),
	    state ? state : "");
	put_status(&o, r, "|", "");
	put(&o, ",%s,%s,%u,%u,%s,%s,%u,%u,%u,%u,%u,%llu,%llu,%llu,%llu,%llu,",
	    ct_addr_str(r->family, t[0].src, a[0]), ct_addr_str(r->family, t[0].dst, a[1]),
	    t[0].sport, t[0].dport, ct_addr_str(r->family, t[1].src, a[2]),
	    ct_addr_str(r->family, t[1].dst, a[3]), t[1].sport, t[1].dport, r->timeout, r->mark,
	    r->zone, (unsigned long long)r->packets[0], (unsigned long long)r->bytes[0],
	    (unsigned long long)r->packets[1], (unsigned long long)r->bytes[1],
	    (unsigned long long)(r->start_ns / 1000));
	const char *sep = "";
	if (r->flags & CT_HAS_ICMP) {
		put(&o, "icmp-type=%u;icmp-code=%u;icmp-id=%u", r->icmp_type, r->icmp_code, r->icmp_id);
		sep = ";";
	}
	if (r->flags & CT_HAS_HELPER) {
		put(&o, "%shelper=%s", sep, r->helper);
		sep = ";";
	}
	if (r->flags & CT_HAS_USE) {
		put(&o, "%suse=%u", sep, r->use);
		sep = ";";
	}
	if (r->flags & CT_HAS_LABELS) {
		const char *ls = "";
		put(&o, "%slabels=", sep);
		for (unsigned bit = 0; bit < 128; bit++)
			if (r->labels[bit / 8] & (1u << (bit % 8))) {
				put(&o, "%s%u", ls, bit);
				ls = "|";
			}
	}
	put(&o, "\n");
	return o.full ? 0 : o.len;
}

static int append_tuple(sd_bus_message *m, uint8_t family, const struct ct_tuple *t)
{
	char a[46], b[46];
	return sd_bus_message_append(m, "ssqq", ct_addr_str(family, t->src, a),
				     ct_addr_str(family, t->dst, b), t->sport, t->dport);
}

static int append_extra(sd_bus_message *m, const struct ct_record *r)
{
	int k;

	k = sd_bus_message_open_container(m, 'a', "{sv}");
	if (k < 0)
		return k;
	if (r->flags & CT_HAS_ICMP) {
		k = sd_bus_message_append(m, "{sv}{sv}{sv}", "icmp-type", "y", r->icmp_type,
					  "icmp-code", "y", r->icmp_code, "icmp-id", "q", r->icmp_id);
		if (k < 0)
			return k;
	}
	if (r->flags & CT_HAS_HELPER) {
		k = sd_bus_message_append(m, "{sv}", "helper", "s", r->helper);
		if (k < 0)
			return k;
	}
	if (r->flags & CT_HAS_USE) {
		k = sd_bus_message_append(m, "{sv}", "use", "u", r->use);
		if (k < 0)
			return k;
	}
	if (r->flags & CT_HAS_LABELS) {
		/* Labels are bit numbers (connlabel.conf names are a userspace convention). */
		if ((k = sd_bus_message_open_container(m, 'e', "sv")) < 0 ||
		    (k = sd_bus_message_append(m, "s", "labels")) < 0 ||
		    (k = sd_bus_message_open_container(m, 'v', "as")) < 0 ||
		    (k = sd_bus_message_open_container(m, 'a', "s")) < 0)
			return k;
		for (unsigned bit = 0; bit < 128; bit++) {
			if (!(r->labels[bit / 8] & (1u << (bit % 8))))
				continue;
			char num[4];
			snprintf(num, sizeof(num), "%u", bit);
			if ((k = sd_bus_message_append(m, "s", num)) < 0)
				return k;
		}
		if ((k = sd_bus_message_close_container(m)) < 0 ||
		    (k = sd_bus_message_close_container(m)) < 0 ||
		    (k = sd_bus_message_close_container(m)) < 0)
			return k;
	}
	return sd_bus_message_close_container(m);
}

int ct_record_append(sd_bus_message *m, const struct ct_record *r)
{
	char pbuf[4];
	const char *state = (r->flags & CT_HAS_STATE) ? ct_state_name(r->proto, r->state) : NULL;
	int k;

	if ((k = sd_bus_message_open_container(m, 'r', "tsssasssqqssqquuqttttta{sv}")) < 0)
		return k;
	if ((k = sd_bus_message_append(m, "tsss", (uint64_t)r->id, ct_family_name(r->family),
				       ct_proto_name(r->proto, pbuf), state ? state : "")) < 0)
		return k;
	if ((k = sd_bus_message_open_container(m, 'a', "s")) < 0)
		return k;
	if (!(r->status & (1u << 1)) && (k = sd_bus_message_append(m, "s", "UNREPLIED")) < 0)
		return k;
	for (unsigned bit = 0; bit < CT_STATUS_BITS; bit++)
		if ((r->status & (1u << bit)) && (k = sd_bus_message_append(m, "s", status_names[bit])) < 0)
			return k;
	if ((k = sd_bus_message_close_container(m)) < 0)
		return k;
	if ((k = append_tuple(m, r->family, &r->t[CT_ORIG])) < 0 ||
	    (k = append_tuple(m, r->family, &r->t[CT_REPLY])) < 0)
		return k;
	if ((k = sd_bus_message_append(m, "uuqttttt", r->timeout, r->mark, r->zone,
				       r->packets[CT_ORIG], r->bytes[CT_ORIG],
				       r->packets[CT_REPLY], r->bytes[CT_REPLY],
				       r->start_ns / 1000)) < 0)
		return k;
	if ((k = append_extra(m, r)) < 0)
		return k;
	return sd_bus_message_close_container(m);
}
