#include "ctparse.h"

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <netinet/in.h>
#include <glib.h>
#include <string.h>

/* Expected payload type of each attribute we read, per nesting level; an
 * attribute of the wrong size makes the whole message invalid rather than
 * being read out of bounds. */
struct attr_spec {
	const enum mnl_attr_data_type *types;
	unsigned max;
	const struct nlattr **tb;
};

static int collect_cb(const struct nlattr *a, void *data)
{
	struct attr_spec *s = data;
	unsigned type = mnl_attr_get_type(a);

	if (type > s->max || s->types[type] == MNL_TYPE_UNSPEC)
		return MNL_CB_OK;   /* attributes we don't use are skipped */
	if (s->types[type] == MNL_TYPE_BINARY) {
		s->tb[type] = a;
		return MNL_CB_OK;
	}
	if (mnl_attr_validate(a, s->types[type]) < 0)
		return MNL_CB_ERROR;
	s->tb[type] = a;
	return MNL_CB_OK;
}

static int parse_nested(const struct nlattr *nest, const enum mnl_attr_data_type *types,
			unsigned max, const struct nlattr **tb)
{
	struct attr_spec s = { types, max, tb };
	memset(tb, 0, sizeof(*tb) * (max + 1));
	return mnl_attr_parse_nested(nest, collect_cb, &s) < 0 ? -EBADMSG : 0;
}

static const enum mnl_attr_data_type ip_types[CTA_IP_MAX + 1] = {
	[CTA_IP_V4_SRC] = MNL_TYPE_U32, [CTA_IP_V4_DST] = MNL_TYPE_U32,
	[CTA_IP_V6_SRC] = MNL_TYPE_BINARY, [CTA_IP_V6_DST] = MNL_TYPE_BINARY,
};
static const enum mnl_attr_data_type proto_types[CTA_PROTO_MAX + 1] = {
	[CTA_PROTO_NUM] = MNL_TYPE_U8,
	[CTA_PROTO_SRC_PORT] = MNL_TYPE_U16, [CTA_PROTO_DST_PORT] = MNL_TYPE_U16,
	[CTA_PROTO_ICMP_ID] = MNL_TYPE_U16, [CTA_PROTO_ICMP_TYPE] = MNL_TYPE_U8,
	[CTA_PROTO_ICMP_CODE] = MNL_TYPE_U8,
	[CTA_PROTO_ICMPV6_ID] = MNL_TYPE_U16, [CTA_PROTO_ICMPV6_TYPE] = MNL_TYPE_U8,
	[CTA_PROTO_ICMPV6_CODE] = MNL_TYPE_U8,
};
static const enum mnl_attr_data_type tuple_types[CTA_TUPLE_MAX + 1] = {
	[CTA_TUPLE_IP] = MNL_TYPE_NESTED, [CTA_TUPLE_PROTO] = MNL_TYPE_NESTED,
};
static const enum mnl_attr_data_type counter_types[CTA_COUNTERS_MAX + 1] = {
	[CTA_COUNTERS_PACKETS] = MNL_TYPE_U64, [CTA_COUNTERS_BYTES] = MNL_TYPE_U64,
	[CTA_COUNTERS32_PACKETS] = MNL_TYPE_U32, [CTA_COUNTERS32_BYTES] = MNL_TYPE_U32,
};
static const enum mnl_attr_data_type ts_types[CTA_TIMESTAMP_MAX + 1] = {
	[CTA_TIMESTAMP_START] = MNL_TYPE_U64,
};
static const enum mnl_attr_data_type protoinfo_types[CTA_PROTOINFO_MAX + 1] = {
	[CTA_PROTOINFO_TCP] = MNL_TYPE_NESTED, [CTA_PROTOINFO_DCCP] = MNL_TYPE_NESTED,
	[CTA_PROTOINFO_SCTP] = MNL_TYPE_NESTED,
};
static const enum mnl_attr_data_type tcpinfo_types[CTA_PROTOINFO_TCP_MAX + 1] = {
	[CTA_PROTOINFO_TCP_STATE] = MNL_TYPE_U8,
};
static const enum mnl_attr_data_type dccpinfo_types[CTA_PROTOINFO_DCCP_MAX + 1] = {
	[CTA_PROTOINFO_DCCP_STATE] = MNL_TYPE_U8,
};
static const enum mnl_attr_data_type sctpinfo_types[CTA_PROTOINFO_SCTP_MAX + 1] = {
	[CTA_PROTOINFO_SCTP_STATE] = MNL_TYPE_U8,
};
static const enum mnl_attr_data_type help_types[CTA_HELP_MAX + 1] = {
	[CTA_HELP_NAME] = MNL_TYPE_NUL_STRING,
};
static const enum mnl_attr_data_type ct_types[CTA_MAX + 1] = {
	[CTA_TUPLE_ORIG] = MNL_TYPE_NESTED, [CTA_TUPLE_REPLY] = MNL_TYPE_NESTED,
	[CTA_STATUS] = MNL_TYPE_U32, [CTA_PROTOINFO] = MNL_TYPE_NESTED,
	[CTA_HELP] = MNL_TYPE_NESTED, [CTA_TIMEOUT] = MNL_TYPE_U32,
	[CTA_MARK] = MNL_TYPE_U32, [CTA_COUNTERS_ORIG] = MNL_TYPE_NESTED,
	[CTA_COUNTERS_REPLY] = MNL_TYPE_NESTED, [CTA_USE] = MNL_TYPE_U32,
	[CTA_ID] = MNL_TYPE_U32, [CTA_ZONE] = MNL_TYPE_U16,
	[CTA_TIMESTAMP] = MNL_TYPE_NESTED, [CTA_LABELS] = MNL_TYPE_BINARY,
};

static int parse_tuple(const struct nlattr *nest, uint8_t family, struct ct_tuple *t,
		       struct ct_record *r, int dir)
{
	const struct nlattr *tb[CTA_TUPLE_MAX + 1], *ip[CTA_IP_MAX + 1], *pr[CTA_PROTO_MAX + 1];

	if (parse_nested(nest, tuple_types, CTA_TUPLE_MAX, tb) < 0 ||
	    !tb[CTA_TUPLE_IP] || !tb[CTA_TUPLE_PROTO] ||
	    parse_nested(tb[CTA_TUPLE_IP], ip_types, CTA_IP_MAX, ip) < 0 ||
	    parse_nested(tb[CTA_TUPLE_PROTO], proto_types, CTA_PROTO_MAX, pr) < 0)
		return -EBADMSG;

	if (family == AF_INET) {
		if (!ip[CTA_IP_V4_SRC] || !ip[CTA_IP_V4_DST])
			return -EBADMSG;
		memcpy(t->src, mnl_attr_get_payload(ip[CTA_IP_V4_SRC]), 4);
		memcpy(t->dst, mnl_attr_get_payload(ip[CTA_IP_V4_DST]), 4);
	} else {
		if (!ip[CTA_IP_V6_SRC] || !ip[CTA_IP_V6_DST] ||
		    mnl_attr_get_payload_len(ip[CTA_IP_V6_SRC]) != 16 ||
		    mnl_attr_get_payload_len(ip[CTA_IP_V6_DST]) != 16)
			return -EBADMSG;
		memcpy(t->src, mnl_attr_get_payload(ip[CTA_IP_V6_SRC]), 16);
		memcpy(t->dst, mnl_attr_get_payload(ip[CTA_IP_V6_DST]), 16);
	}

	if (!pr[CTA_PROTO_NUM])
		return -EBADMSG;
	uint8_t proto = mnl_attr_get_u8(pr[CTA_PROTO_NUM]);
	if (dir == CT_ORIG)
		r->proto = proto;
	if (pr[CTA_PROTO_SRC_PORT])
		t->sport = ntohs(mnl_attr_get_u16(pr[CTA_PROTO_SRC_PORT]));
	if (pr[CTA_PROTO_DST_PORT])
		t->dport = ntohs(mnl_attr_get_u16(pr[CTA_PROTO_DST_PORT]));

	/* ICMP identity comes from the original direction, as conntrack(8) shows it. */
	if (dir == CT_ORIG) {
		int id = proto == IPPROTO_ICMPV6 ? CTA_PROTO_ICMPV6_ID : CTA_PROTO_ICMP_ID;
		int ty = proto == IPPROTO_ICMPV6 ? CTA_PROTO_ICMPV6_TYPE : CTA_PROTO_ICMP_TYPE;
		int co = proto == IPPROTO_ICMPV6 ? CTA_PROTO_ICMPV6_CODE : CTA_PROTO_ICMP_CODE;
		if ((proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) && pr[ty]) {
			r->flags |= CT_HAS_ICMP;
			r->icmp_type = mnl_attr_get_u8(pr[ty]);
			r->icmp_code = pr[co] ? mnl_attr_get_u8(pr[co]) : 0;
			r->icmp_id = pr[id] ? ntohs(mnl_attr_get_u16(pr[id])) : 0;
		}
	}
	return 0;
}

static int parse_counters(const struct nlattr *nest, struct ct_record *r, int dir)
{
	const struct nlattr *tb[CTA_COUNTERS_MAX + 1];

	if (parse_nested(nest, counter_types, CTA_COUNTERS_MAX, tb) < 0)
		return -EBADMSG;
	if (tb[CTA_COUNTERS_PACKETS])
		r->packets[dir] = be64toh(mnl_attr_get_u64(tb[CTA_COUNTERS_PACKETS]));
	else if (tb[CTA_COUNTERS32_PACKETS])
		r->packets[dir] = ntohl(mnl_attr_get_u32(tb[CTA_COUNTERS32_PACKETS]));
	if (tb[CTA_COUNTERS_BYTES])
		r->bytes[dir] = be64toh(mnl_attr_get_u64(tb[CTA_COUNTERS_BYTES]));
	else if (tb[CTA_COUNTERS32_BYTES])
		r->bytes[dir] = ntohl(mnl_attr_get_u32(tb[CTA_COUNTERS32_BYTES]));
	return 0;
}

static int parse_protoinfo(const struct nlattr *nest, struct ct_record *r)
{
	const struct nlattr *tb[CTA_PROTOINFO_MAX + 1];
	const struct nlattr *info[8];   /* every *_STATE index is small */
	const struct nlattr *nested = NULL;
	const enum mnl_attr_data_type *types = NULL;
	unsigned max = 0, state_attr = 0;

	if (parse_nested(nest, protoinfo_types, CTA_PROTOINFO_MAX, tb) < 0)
		return -EBADMSG;
	switch (r->proto) {
	case IPPROTO_TCP:
		nested = tb[CTA_PROTOINFO_TCP]; types = tcpinfo_types;
		max = CTA_PROTOINFO_TCP_STATE; state_attr = CTA_PROTOINFO_TCP_STATE;
		break;
	case IPPROTO_DCCP:
		nested = tb[CTA_PROTOINFO_DCCP]; types = dccpinfo_types;
		max = CTA_PROTOINFO_DCCP_STATE; state_attr = CTA_PROTOINFO_DCCP_STATE;
		break;
	case IPPROTO_SCTP:
		nested = tb[CTA_PROTOINFO_SCTP]; types = sctpinfo_types;
		max = CTA_PROTOINFO_SCTP_STATE; state_attr = CTA_PROTOINFO_SCTP_STATE;
		break;
	}
	if (!nested)
		return 0;
	if (parse_nested(nested, types, max, info) < 0)
		return -EBADMSG;
	if (info[state_attr]) {
		r->state = mnl_attr_get_u8(info[state_attr]);
		if (r->state < ct_state_count(r->proto))
			r->flags |= CT_HAS_STATE;
	}
	return 0;
}

static int parse_timestamp(const struct nlattr *nest, struct ct_record *r)
{
	const struct nlattr *ts[CTA_TIMESTAMP_MAX + 1];

	if (parse_nested(nest, ts_types, CTA_TIMESTAMP_MAX, ts) < 0)
		return -EBADMSG;
	if (ts[CTA_TIMESTAMP_START])
		r->start_ns = be64toh(mnl_attr_get_u64(ts[CTA_TIMESTAMP_START]));
	return 0;
}

static int parse_help(const struct nlattr *nest, struct ct_record *r)
{
	const struct nlattr *h[CTA_HELP_MAX + 1];
	size_t n;

	if (parse_nested(nest, help_types, CTA_HELP_MAX, h) < 0)
		return -EBADMSG;
	if (!h[CTA_HELP_NAME])
		return 0;
	/* strncpy semantics without the warning: the name is NUL-terminated
	 * by validation, we only bound its length. */
	n = strnlen(mnl_attr_get_str(h[CTA_HELP_NAME]), sizeof(r->helper) - 1);
	memcpy(r->helper, mnl_attr_get_str(h[CTA_HELP_NAME]), n);
	r->helper[n] = '\0';
	/* Helper names are identifiers ("ftp", "sip", "RAS"); anything else
	 * would break D-Bus strings (UTF-8 only) and JSON. */
	for (size_t i = 0; i < n; i++)
		if (!g_ascii_isalnum(r->helper[i]) && !strchr("-_.", r->helper[i]))
			r->helper[i] = '?';
	r->flags |= CT_HAS_HELPER;
	return 0;
}

static void parse_labels(const struct nlattr *a, struct ct_record *r)
{
	size_t n = mnl_attr_get_payload_len(a);

	memcpy(r->labels, mnl_attr_get_payload(a), n < sizeof(r->labels) ? n : sizeof(r->labels));
	for (size_t i = 0; i < sizeof(r->labels); i++)
		if (r->labels[i])
			r->flags |= CT_HAS_LABELS;
}

int ct_parse_nlmsg(const struct nlmsghdr *nlh, struct ct_record *r)
{
	const struct nlattr *tb[CTA_MAX + 1];
	struct attr_spec s = { ct_types, CTA_MAX, tb };
	const struct nfgenmsg *nfg;

	memset(r, 0, sizeof(*r));
	if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(*nfg))
		return -EBADMSG;
	nfg = mnl_nlmsg_get_payload(nlh);
	if (nfg->nfgen_family != AF_INET && nfg->nfgen_family != AF_INET6)
		return -EBADMSG;
	r->family = nfg->nfgen_family;

	memset(tb, 0, sizeof(tb));
	if (mnl_attr_parse(nlh, sizeof(*nfg), collect_cb, &s) < 0)
		return -EBADMSG;
	if (!tb[CTA_TUPLE_ORIG] || !tb[CTA_TUPLE_REPLY])
		return -EBADMSG;
	if (parse_tuple(tb[CTA_TUPLE_ORIG], r->family, &r->t[CT_ORIG], r, CT_ORIG) < 0 ||
	    parse_tuple(tb[CTA_TUPLE_REPLY], r->family, &r->t[CT_REPLY], r, CT_REPLY) < 0)
		return -EBADMSG;

	if (tb[CTA_ID])
		r->id = ntohl(mnl_attr_get_u32(tb[CTA_ID]));
	if (tb[CTA_STATUS])
		r->status = ntohl(mnl_attr_get_u32(tb[CTA_STATUS]));
	if (tb[CTA_TIMEOUT])
		r->timeout = ntohl(mnl_attr_get_u32(tb[CTA_TIMEOUT]));
	if (tb[CTA_MARK])
		r->mark = ntohl(mnl_attr_get_u32(tb[CTA_MARK]));
	if (tb[CTA_ZONE])
		r->zone = ntohs(mnl_attr_get_u16(tb[CTA_ZONE]));
	if (tb[CTA_USE]) {
		r->use = ntohl(mnl_attr_get_u32(tb[CTA_USE]));
		r->flags |= CT_HAS_USE;
	}
	if (tb[CTA_COUNTERS_ORIG] && parse_counters(tb[CTA_COUNTERS_ORIG], r, CT_ORIG) < 0)
		return -EBADMSG;
	if (tb[CTA_COUNTERS_REPLY] && parse_counters(tb[CTA_COUNTERS_REPLY], r, CT_REPLY) < 0)
		return -EBADMSG;
	if (tb[CTA_TIMESTAMP] && parse_timestamp(tb[CTA_TIMESTAMP], r) < 0)
		return -EBADMSG;
	if (tb[CTA_PROTOINFO] && parse_protoinfo(tb[CTA_PROTOINFO], r) < 0)
		return -EBADMSG;
	if (tb[CTA_HELP] && parse_help(tb[CTA_HELP], r) < 0)
		return -EBADMSG;
	if (tb[CTA_LABELS])
		parse_labels(tb[CTA_LABELS], r);
	return 0;
}
