#include "record.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter/nf_conntrack_tcp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

/* Other names conntrack(8) accepts for a state: TCP's state 9 is the
 * kernel's TCP_CONNTRACK_LISTEN, printed as SYN_SENT2, taken as LISTEN. */
static const struct {
	uint8_t proto;
	uint8_t state;
	const char *name;
} state_aliases[] = {
	{ IPPROTO_TCP, TCP_CONNTRACK_LISTEN, "LISTEN" },
};

int ct_state_from_name(uint8_t proto, const char *name)
{
	unsigned n;
	const char *const *names = states_of(proto, &n);

	for (unsigned st = 0; names && st < n; st++)
		if (strcasecmp(names[st], name) == 0)
			return (int)st;
	for (size_t i = 0; i < sizeof(state_aliases) / sizeof(state_aliases[0]); i++)
		if (state_aliases[i].proto == proto && strcasecmp(state_aliases[i].name, name) == 0)
			return state_aliases[i].state;
	return -1;
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

const char *ct_addr_str(uint8_t family, const uint8_t *addr, char buf[INET6_ADDRSTRLEN])
{
	char *p = buf;

	if (family == AF_INET6) {
		if (!inet_ntop(AF_INET6, addr, buf, INET6_ADDRSTRLEN))
			strcpy(buf, "?");
		return buf;
	}
	/* Every listed entry has four of these: inet_ntop's printf costs a
	 * tenth of a List page. */
	for (int i = 0; i < 4; i++) {
		unsigned v = addr[i];
		if (i)
			*p++ = '.';
		if (v >= 100)
			*p++ = (char)('0' + v / 100);
		if (v >= 10)
			*p++ = (char)('0' + v / 10 % 10);
		*p++ = (char)('0' + v % 10);
	}
	*p = '\0';
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

/* A bounded writer: appends while there is room, remembers overflow.
 * Export formats every entry of the table, so no printf here. */
struct out {
	char *p;
	size_t len, size;
	bool full;
};

static void w_raw(struct out *o, const char *s, size_t n)
{
	if (o->full || n > o->size - o->len) {
		o->full = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void w_str(struct out *o, const char *s)
{
	w_raw(o, s, strlen(s));
}

static void w_u64(struct out *o, uint64_t v)
{
	char tmp[20];
	size_t i = sizeof(tmp);
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	w_raw(o, tmp + i, sizeof(tmp) - i);
}

static void w_addr(struct out *o, uint8_t family, const uint8_t *a)
{
	char buf[INET6_ADDRSTRLEN];
	w_str(o, ct_addr_str(family, a, buf));
}

/* Status flags in D-Bus order, joined by sep, each wrapped in quote. */
static void w_status(struct out *o, const struct ct_record *r, const char *sep, const char *quote)
{
	const char *s = "";
	if (!(r->status & IPS_SEEN_REPLY)) {
		w_str(o, quote); w_str(o, "UNREPLIED"); w_str(o, quote);
		s = sep;
	}
	for (unsigned bit = 0; bit < CT_STATUS_BITS; bit++)
		if (r->status & (1u << bit)) {
			w_str(o, s); w_str(o, quote); w_str(o, status_names[bit]); w_str(o, quote);
			s = sep;
		}
}

/* The fields both formats share, from src to start: JSON keys (with the
 * quotes around string values) or CSV commas before each value. */
static void w_body(struct out *o, const struct ct_record *r, bool json)
{
	static const char *const json_keys[] = {
		"\"src\":\"", "\",\"dst\":\"", "\",\"sport\":", ",\"dport\":", ",\"reply-src\":\"",
		"\",\"reply-dst\":\"", "\",\"reply-sport\":", ",\"reply-dport\":", ",\"timeout\":",
		",\"mark\":", ",\"zone\":", ",\"packets\":", ",\"bytes\":", ",\"reply-packets\":",
		",\"reply-bytes\":", ",\"start\":",
	};
	static const char *const csv_keys[] = {
		"", ",", ",", ",", ",", ",", ",", ",", ",", ",", ",", ",", ",", ",", ",", ",",
	};
	const char *const *k = json ? json_keys : csv_keys;
	const struct ct_tuple *t = r->t;

	w_str(o, k[0]); w_addr(o, r->family, t[0].src);
	w_str(o, k[1]); w_addr(o, r->family, t[0].dst);
	w_str(o, k[2]); w_u64(o, t[0].sport);
	w_str(o, k[3]); w_u64(o, t[0].dport);
	w_str(o, k[4]); w_addr(o, r->family, t[1].src);
	w_str(o, k[5]); w_addr(o, r->family, t[1].dst);
	w_str(o, k[6]); w_u64(o, t[1].sport);
	w_str(o, k[7]); w_u64(o, t[1].dport);
	w_str(o, k[8]); w_u64(o, r->timeout);
	w_str(o, k[9]); w_u64(o, r->mark);
	w_str(o, k[10]); w_u64(o, r->zone);
	w_str(o, k[11]); w_u64(o, r->packets[0]);
	w_str(o, k[12]); w_u64(o, r->bytes[0]);
	w_str(o, k[13]); w_u64(o, r->packets[1]);
	w_str(o, k[14]); w_u64(o, r->bytes[1]);
	w_str(o, k[15]); w_u64(o, r->start_ns / 1000);
}

/* extra: JSON members, or CSV key=value pairs joined by ';'. */
static void w_extra(struct out *o, const struct ct_record *r, bool json)
{
	const char *sep = "", *next = json ? "," : ";";
	const char *kq = json ? "\"" : "", *kv = json ? "\":" : "=";

#define KEY(name) do { w_str(o, sep); w_str(o, kq); w_str(o, name); w_str(o, kv); sep = next; } while (0)
	if (r->flags & CT_HAS_ICMP) {
		KEY("icmp-type"); w_u64(o, r->icmp_type);
		KEY("icmp-code"); w_u64(o, r->icmp_code);
		KEY("icmp-id"); w_u64(o, r->icmp_id);
	}
	if (r->flags & CT_HAS_HELPER) {
		/* Helper names are kernel identifiers ([a-z0-9-]): nothing to escape. */
		KEY("helper"); w_str(o, kq); w_str(o, r->helper); w_str(o, kq);
	}
	if (r->flags & CT_HAS_USE) {
		KEY("use"); w_u64(o, r->use);
	}
	if (r->flags & CT_HAS_LABELS) {
		const char *ls = "";
		KEY("labels");
		if (json)
			w_str(o, "[");
		for (unsigned bit = 0; bit < 128; bit++)
			if (r->labels[bit / 8] & (1u << (bit % 8))) {
				w_str(o, ls); w_str(o, kq); w_u64(o, bit); w_str(o, kq);
				ls = json ? "," : "|";
			}
		if (json)
			w_str(o, "]");
	}
#undef KEY
}

size_t ct_record_json(const struct ct_record *r, char *buf, size_t size)
{
	struct out o = { buf, 0, size, false };
	char pb[4];
	const char *state = (r->flags & CT_HAS_STATE) ? ct_state_name(r->proto, r->state) : NULL;

	w_str(&o, "{\"id\":"); w_u64(&o, r->id);
	w_str(&o, ",\"family\":\""); w_str(&o, ct_family_name(r->family));
	w_str(&o, "\",\"protocol\":\""); w_str(&o, ct_proto_name(r->proto, pb));
	w_str(&o, "\",\"state\":\""); w_str(&o, state ? state : "");
	w_str(&o, "\",\"status\":[");
	w_status(&o, r, ",", "\"");
	w_str(&o, "],");
	w_body(&o, r, true);
	w_str(&o, ",\"extra\":{");
	w_extra(&o, r, true);
	w_str(&o, "}}\n");
	return o.full ? 0 : o.len;
}

size_t ct_record_csv_header(char *buf, size_t size)
{
	struct out o = { buf, 0, size, false };
	for (int i = 0; i < 22; i++) {
		if (i)
			w_str(&o, ",");
		w_str(&o, ct_record_fields[i]);
	}
	w_str(&o, "\n");
	return o.full ? 0 : o.len;
}

size_t ct_record_csv(const struct ct_record *r, char *buf, size_t size)
{
	struct out o = { buf, 0, size, false };
	char pb[4];
	const char *state = (r->flags & CT_HAS_STATE) ? ct_state_name(r->proto, r->state) : NULL;

	/* No field can hold a comma or a quote: flags are joined with '|',
	 * extra is key=value pairs joined with ';'. */
	w_u64(&o, r->id); w_str(&o, ",");
	w_str(&o, ct_family_name(r->family)); w_str(&o, ",");
	w_str(&o, ct_proto_name(r->proto, pb)); w_str(&o, ",");
	w_str(&o, state ? state : ""); w_str(&o, ",");
	w_status(&o, r, "|", "");
	w_str(&o, ",");
	w_body(&o, r, false);
	w_str(&o, ",");
	w_extra(&o, r, false);
	w_str(&o, "\n");
	return o.full ? 0 : o.len;
}

/* Records are appended field by field with sd_bus_message_append_basic:
 * a format string parsed for every record costs a sixth of a List page. */
static int append_tuple(sd_bus_message *m, uint8_t family, const struct ct_tuple *t)
{
	char a[INET6_ADDRSTRLEN];
	int k;

	if ((k = sd_bus_message_append_basic(m, 's', ct_addr_str(family, t->src, a))) < 0 ||
	    (k = sd_bus_message_append_basic(m, 's', ct_addr_str(family, t->dst, a))) < 0 ||
	    (k = sd_bus_message_append_basic(m, 'q', &t->sport)) < 0)
		return k;
	return sd_bus_message_append_basic(m, 'q', &t->dport);
}

/* Opens the {sv} entry key and its variant of contents; close both after. */
static int open_entry(sd_bus_message *m, const char *key, const char *contents)
{
	int k;

	if ((k = sd_bus_message_open_container(m, 'e', "sv")) < 0 ||
	    (k = sd_bus_message_append_basic(m, 's', key)) < 0)
		return k;
	return sd_bus_message_open_container(m, 'v', contents);
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
		/* Every entry has it: appended without a format string. */
		if ((k = open_entry(m, "use", "u")) < 0 ||
		    (k = sd_bus_message_append_basic(m, 'u', &r->use)) < 0 ||
		    (k = sd_bus_message_close_container(m)) < 0 ||
		    (k = sd_bus_message_close_container(m)) < 0)
			return k;
	}
	if (r->flags & CT_HAS_LABELS) {
		/* Labels are bit numbers (connlabel.conf names are a userspace convention). */
		if ((k = open_entry(m, "labels", "as")) < 0 ||
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
	const uint64_t id = r->id, start_us = r->start_ns / 1000;
	const uint64_t counters[4] = { r->packets[CT_ORIG], r->bytes[CT_ORIG], r->packets[CT_REPLY], r->bytes[CT_REPLY] };
	int k;

	if ((k = sd_bus_message_open_container(m, 'r', "tsssasssqqssqquuqttttta{sv}")) < 0 ||
	    (k = sd_bus_message_append_basic(m, 't', &id)) < 0 ||
	    (k = sd_bus_message_append_basic(m, 's', ct_family_name(r->family))) < 0 ||
	    (k = sd_bus_message_append_basic(m, 's', ct_proto_name(r->proto, pbuf))) < 0 ||
	    (k = sd_bus_message_append_basic(m, 's', state ? state : "")) < 0 ||
	    (k = sd_bus_message_open_container(m, 'a', "s")) < 0)
		return k;
	if (!(r->status & IPS_SEEN_REPLY) && (k = sd_bus_message_append_basic(m, 's', "UNREPLIED")) < 0)
		return k;
	for (unsigned bit = 0; bit < CT_STATUS_BITS; bit++)
		if ((r->status & (1u << bit)) && (k = sd_bus_message_append_basic(m, 's', status_names[bit])) < 0)
			return k;
	if ((k = sd_bus_message_close_container(m)) < 0 ||
	    (k = append_tuple(m, r->family, &r->t[CT_ORIG])) < 0 ||
	    (k = append_tuple(m, r->family, &r->t[CT_REPLY])) < 0 ||
	    (k = sd_bus_message_append_basic(m, 'u', &r->timeout)) < 0 ||
	    (k = sd_bus_message_append_basic(m, 'u', &r->mark)) < 0 ||
	    (k = sd_bus_message_append_basic(m, 'q', &r->zone)) < 0)
		return k;
	for (int i = 0; i < 4; i++)
		if ((k = sd_bus_message_append_basic(m, 't', &counters[i])) < 0)
			return k;
	if ((k = sd_bus_message_append_basic(m, 't', &start_us)) < 0 ||
	    (k = append_extra(m, r)) < 0)
		return k;
	return sd_bus_message_close_container(m);
}

static int read_tuple(sd_bus_message *m, uint8_t family, struct ct_tuple *t)
{
	const char *src, *dst;
	int k;

	if ((k = sd_bus_message_read(m, "ssqq", &src, &dst, &t->sport, &t->dport)) < 0)
		return k;
	if (inet_pton(family, src, t->src) != 1 || inet_pton(family, dst, t->dst) != 1)
		return -EINVAL;
	return 0;
}

static int read_extra(sd_bus_message *m, struct ct_record *r)
{
	const char *key, *sig;
	int k;

	if ((k = sd_bus_message_enter_container(m, 'a', "{sv}")) < 0)
		return k;
	while ((k = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		if ((k = sd_bus_message_read(m, "s", &key)) < 0 ||
		    (k = sd_bus_message_peek_type(m, NULL, &sig)) < 0)
			return k;
		if (strcmp(key, "icmp-type") == 0 && strcmp(sig, "y") == 0)
			k = sd_bus_message_read(m, "v", "y", &r->icmp_type), r->flags |= CT_HAS_ICMP;
		else if (strcmp(key, "icmp-code") == 0 && strcmp(sig, "y") == 0)
			k = sd_bus_message_read(m, "v", "y", &r->icmp_code);
		else if (strcmp(key, "icmp-id") == 0 && strcmp(sig, "q") == 0)
			k = sd_bus_message_read(m, "v", "q", &r->icmp_id);
		else if (strcmp(key, "use") == 0 && strcmp(sig, "u") == 0)
			k = sd_bus_message_read(m, "v", "u", &r->use), r->flags |= CT_HAS_USE;
		else if (strcmp(key, "helper") == 0 && strcmp(sig, "s") == 0) {
			const char *h;
			if ((k = sd_bus_message_read(m, "v", "s", &h)) >= 0) {
				snprintf(r->helper, sizeof(r->helper), "%s", h);
				r->flags |= CT_HAS_HELPER;
			}
		} else if (strcmp(key, "labels") == 0 && strcmp(sig, "as") == 0) {
			const char *l;
			if ((k = sd_bus_message_enter_container(m, 'v', "as")) < 0 ||
			    (k = sd_bus_message_enter_container(m, 'a', "s")) < 0)
				return k;
			while ((k = sd_bus_message_read(m, "s", &l)) > 0) {
				unsigned long bit = strtoul(l, NULL, 10);
				if (bit < 128)
					r->labels[bit / 8] |= (uint8_t)(1u << (bit % 8));
			}
			if (k < 0 || (k = sd_bus_message_exit_container(m)) < 0 ||
			    (k = sd_bus_message_exit_container(m)) < 0)
				return k;
			r->flags |= CT_HAS_LABELS;
		} else
			k = sd_bus_message_skip(m, "v");   /* details of later versions */
		if (k < 0 || (k = sd_bus_message_exit_container(m)) < 0)
			return k;
	}
	if (k < 0)
		return k;
	return sd_bus_message_exit_container(m);
}

int ct_record_read(sd_bus_message *m, struct ct_record *r)
{
	const char *family, *proto, *state, *flag;
	uint64_t id, start;
	int k, p;

	memset(r, 0, sizeof(*r));
	if ((k = sd_bus_message_enter_container(m, 'r', "tsssasssqqssqquuqttttta{sv}")) <= 0)
		return k;
	if ((k = sd_bus_message_read(m, "tsss", &id, &family, &proto, &state)) < 0)
		return k;
	r->id = (uint32_t)id;
	r->family = strcmp(family, "ipv6") == 0 ? AF_INET6 : AF_INET;
	if ((p = ct_proto_from_name(proto)) < 0)
		return -EINVAL;
	r->proto = (uint8_t)p;
	if (*state && (k = ct_state_from_name(r->proto, state)) >= 0) {
		r->state = (uint8_t)k;
		r->flags |= CT_HAS_STATE;
	}
	if ((k = sd_bus_message_enter_container(m, 'a', "s")) < 0)
		return k;
	while ((k = sd_bus_message_read(m, "s", &flag)) > 0)
		for (unsigned bit = 0; bit < CT_STATUS_BITS; bit++)
			if (strcmp(flag, status_names[bit]) == 0)
				r->status |= 1u << bit;
	if (k < 0 || (k = sd_bus_message_exit_container(m)) < 0)
		return k;
	if ((k = read_tuple(m, r->family, &r->t[CT_ORIG])) < 0 ||
	    (k = read_tuple(m, r->family, &r->t[CT_REPLY])) < 0)
		return k;
	if ((k = sd_bus_message_read(m, "uuqttttt", &r->timeout, &r->mark, &r->zone,
				     &r->packets[CT_ORIG], &r->bytes[CT_ORIG],
				     &r->packets[CT_REPLY], &r->bytes[CT_REPLY], &start)) < 0)
		return k;
	r->start_ns = start * 1000;
	if ((k = read_extra(m, r)) < 0)
		return k;
	if ((k = sd_bus_message_exit_container(m)) < 0)
		return k;
	return 1;
}

/* Splits s at sep in place: the next field, or NULL after the last. */
static char *next_field(char **s, char sep)
{
	char *f = *s, *e;

	if (!f)
		return NULL;
	e = strchr(f, sep);
	if (e) {
		*e = '\0';
		*s = e + 1;
	} else
		*s = NULL;
	return f;
}

static int csv_u64(const char *s, uint64_t max, uint64_t *v)
{
	char *end;
	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno || *end || *v > max ? -EINVAL : 0;
}

static int csv_extra(char *s, struct ct_record *r)
{
	char *item;
	uint64_t v;

	while (s && *s && (item = next_field(&s, ';'))) {
		char *value = strchr(item, '=');
		if (!value)
			return -EINVAL;
		*value++ = '\0';
		if (strcmp(item, "helper") == 0) {
			snprintf(r->helper, sizeof(r->helper), "%s", value);
			r->flags |= CT_HAS_HELPER;
		} else if (strcmp(item, "labels") == 0) {
			char *l;
			while ((l = next_field(&value, '|')))
				if (csv_u64(l, 127, &v) == 0)
					r->labels[v / 8] |= (uint8_t)(1u << (v % 8));
			r->flags |= CT_HAS_LABELS;
		} else if (csv_u64(value, UINT32_MAX, &v) < 0)
			return -EINVAL;
		else if (strcmp(item, "icmp-type") == 0)
			r->icmp_type = (uint8_t)v, r->flags |= CT_HAS_ICMP;
		else if (strcmp(item, "icmp-code") == 0)
			r->icmp_code = (uint8_t)v;
		else if (strcmp(item, "icmp-id") == 0)
			r->icmp_id = (uint16_t)v;
		else if (strcmp(item, "use") == 0)
			r->use = (uint32_t)v, r->flags |= CT_HAS_USE;
	}
	return 0;
}

int ct_record_from_csv(char *line, struct ct_record *r)
{
	char *f[22], *s = line, *flag;
	uint64_t v[22] = { 0 };
	static const uint64_t max[22] = {
		[0] = UINT32_MAX, [7] = UINT16_MAX, [8] = UINT16_MAX, [11] = UINT16_MAX,
		[12] = UINT16_MAX, [13] = UINT32_MAX, [14] = UINT32_MAX, [15] = UINT16_MAX,
		[16] = UINT64_MAX, [17] = UINT64_MAX, [18] = UINT64_MAX, [19] = UINT64_MAX,
		[20] = UINT64_MAX,
	};
	int p;

	memset(r, 0, sizeof(*r));
	for (int i = 0; i < 22; i++)
		if (!(f[i] = next_field(&s, i < 21 ? ',' : '\n')))
			return -EINVAL;
	for (int i = 0; i < 21; i++)
		if (max[i] && csv_u64(f[i], max[i], &v[i]) < 0)
			return -EINVAL;
	r->id = (uint32_t)v[0];
	r->family = strcmp(f[1], "ipv6") == 0 ? AF_INET6 : AF_INET;
	if ((p = ct_proto_from_name(f[2])) < 0)
		return -EINVAL;
	r->proto = (uint8_t)p;
	if (*f[3] && (p = ct_state_from_name(r->proto, f[3])) >= 0) {
		r->state = (uint8_t)p;
		r->flags |= CT_HAS_STATE;
	}
	s = f[4];
	while ((flag = next_field(&s, '|')))
		for (unsigned bit = 0; bit < CT_STATUS_BITS; bit++)
			if (strcmp(flag, status_names[bit]) == 0)
				r->status |= 1u << bit;
	if (inet_pton(r->family, f[5], r->t[CT_ORIG].src) != 1 || inet_pton(r->family, f[6], r->t[CT_ORIG].dst) != 1 ||
	    inet_pton(r->family, f[9], r->t[CT_REPLY].src) != 1 || inet_pton(r->family, f[10], r->t[CT_REPLY].dst) != 1)
		return -EINVAL;
	r->t[CT_ORIG].sport = (uint16_t)v[7];
	r->t[CT_ORIG].dport = (uint16_t)v[8];
	r->t[CT_REPLY].sport = (uint16_t)v[11];
	r->t[CT_REPLY].dport = (uint16_t)v[12];
	r->timeout = (uint32_t)v[13];
	r->mark = (uint32_t)v[14];
	r->zone = (uint16_t)v[15];
	r->packets[CT_ORIG] = v[16];
	r->bytes[CT_ORIG] = v[17];
	r->packets[CT_REPLY] = v[18];
	r->bytes[CT_REPLY] = v[19];
	r->start_ns = v[20] * 1000;
	return csv_extra(f[21], r);
}
