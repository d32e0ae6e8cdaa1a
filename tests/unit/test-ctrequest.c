/* The requests the service sends the kernel, read back attribute by
 * attribute: dump requests with their filters (libnetfilter_conntrack's
 * family/mark/status part and the CTA_FILTER tuple part) and deletes. */
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <netinet/in.h>
#include <string.h>

#include <glib.h>
#include "ctread.h"
#include "ctwrite.h"

/* Top-level attributes of a ctnetlink message, by type. */
static void attrs(const struct nlmsghdr *nlh, const struct nlattr **tb, unsigned max)
{
	const struct nlattr *a;

	memset(tb, 0, sizeof(*tb) * (max + 1));
	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg))
		if (mnl_attr_get_type(a) <= max)
			tb[mnl_attr_get_type(a)] = a;
}

static void nested(const struct nlattr *nest, const struct nlattr **tb, unsigned max)
{
	const struct nlattr *a;

	memset(tb, 0, sizeof(*tb) * (max + 1));
	mnl_attr_for_each_nested(a, nest)
		if (mnl_attr_get_type(a) <= max)
			tb[mnl_attr_get_type(a)] = a;
}

static uint8_t family_of(const struct nlmsghdr *nlh)
{
	return ((const struct nfgenmsg *)mnl_nlmsg_get_payload(nlh))->nfgen_family;
}

static void test_dump_filters(void)
{
	char buf[MNL_SOCKET_BUFFER_SIZE] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct ct_kfilter kf = {
		.family = AF_INET, .mark = true, .mark_val = 0x20, .mark_mask = 0xf0,
		.status = true, .status_val = IPS_SRC_NAT, .status_mask = IPS_SRC_NAT | IPS_DST_NAT,
		.proto = IPPROTO_UDP,
		.orig_flags = CTA_FILTER_F_IP_SRC | CTA_FILTER_F_PROTO_NUM | CTA_FILTER_F_DST_PORT,
	};
	const struct nlattr *tb[CTA_MAX + 1], *t[CTA_TUPLE_MAX + 1], *ip[CTA_IP_MAX + 1], *pr[CTA_PROTO_MAX + 1];
	const struct nlattr *fl[CTA_FILTER_MAX + 1];
	struct nlmsghdr *nlh;

	inet_pton(AF_INET, "192.0.2.7", kf.orig.src);
	kf.orig.dport = 5060;
	nlh = ct_dump_request(buf, &kf, 9);
	g_assert_nonnull(nlh);
	g_assert_cmpuint(nlh->nlmsg_type, ==, (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET);
	g_assert_cmpuint(nlh->nlmsg_flags, ==, NLM_F_REQUEST | NLM_F_DUMP);
	g_assert_cmpuint(nlh->nlmsg_seq, ==, 9);
	g_assert_cmpuint(family_of(nlh), ==, AF_INET);
	attrs(nlh, tb, CTA_MAX);
	g_assert_nonnull(tb[CTA_MARK]);
	g_assert_cmphex(ntohl(mnl_attr_get_u32(tb[CTA_MARK])), ==, 0x20);
	g_assert_cmphex(ntohl(mnl_attr_get_u32(tb[CTA_MARK_MASK])), ==, 0xf0);
	g_assert_nonnull(tb[CTA_STATUS]);
	g_assert_cmphex(ntohl(mnl_attr_get_u32(tb[CTA_STATUS])), ==, IPS_SRC_NAT);
	g_assert_cmphex(ntohl(mnl_attr_get_u32(tb[CTA_STATUS_MASK])), ==, IPS_SRC_NAT | IPS_DST_NAT);
	g_assert_nonnull(tb[CTA_FILTER]);
	nested(tb[CTA_FILTER], fl, CTA_FILTER_MAX);
	g_assert_cmphex(mnl_attr_get_u32(fl[CTA_FILTER_ORIG_FLAGS]), ==, kf.orig_flags);
	g_assert_cmphex(mnl_attr_get_u32(fl[CTA_FILTER_REPLY_FLAGS]), ==, 0);
	g_assert_null(tb[CTA_TUPLE_REPLY]);
	nested(tb[CTA_TUPLE_ORIG], t, CTA_TUPLE_MAX);
	nested(t[CTA_TUPLE_IP], ip, CTA_IP_MAX);
	g_assert_nonnull(ip[CTA_IP_V4_SRC]);
	g_assert_null(ip[CTA_IP_V4_DST]);
	g_assert_cmpmem(mnl_attr_get_payload(ip[CTA_IP_V4_SRC]), 4, kf.orig.src, 4);
	nested(t[CTA_TUPLE_PROTO], pr, CTA_PROTO_MAX);
	g_assert_cmpuint(mnl_attr_get_u8(pr[CTA_PROTO_NUM]), ==, IPPROTO_UDP);
	g_assert_null(pr[CTA_PROTO_SRC_PORT]);
	g_assert_cmpuint(ntohs(mnl_attr_get_u16(pr[CTA_PROTO_DST_PORT])), ==, 5060);

	/* No filter at all: both families, no attributes. */
	struct ct_kfilter none = { 0 };
	nlh = ct_dump_request(buf, &none, 1);
	g_assert_cmpuint(family_of(nlh), ==, AF_UNSPEC);
	g_assert_cmpuint(nlh->nlmsg_len, ==, NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg)));
}

static void test_delete_tcp4(void)
{
	char buf[MNL_SOCKET_BUFFER_SIZE] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct ct_record r = { .family = AF_INET, .proto = IPPROTO_TCP, .zone = 5, .id = 0xabcdef01 };
	const struct nlattr *tb[CTA_MAX + 1], *t[CTA_TUPLE_MAX + 1], *ip[CTA_IP_MAX + 1], *pr[CTA_PROTO_MAX + 1];
	struct nlmsghdr *nlh;

	inet_pton(AF_INET, "10.0.0.2", r.t[CT_ORIG].src);
	inet_pton(AF_INET, "198.51.100.1", r.t[CT_ORIG].dst);
	r.t[CT_ORIG].sport = 40000;
	r.t[CT_ORIG].dport = 443;
	nlh = ct_delete_request(buf, &r, true, 3);
	g_assert_nonnull(nlh);
	g_assert_cmpuint(nlh->nlmsg_type, ==, (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE);
	g_assert_cmpuint(nlh->nlmsg_flags, ==, NLM_F_REQUEST);
	g_assert_cmpuint(family_of(nlh), ==, AF_INET);
	attrs(nlh, tb, CTA_MAX);
	g_assert_nonnull(tb[CTA_TUPLE_ORIG]);
	g_assert_null(tb[CTA_TUPLE_REPLY]);
	g_assert_null(tb[CTA_STATUS]);
	g_assert_cmpuint(ntohs(mnl_attr_get_u16(tb[CTA_ZONE])), ==, 5);
	g_assert_cmphex(ntohl(mnl_attr_get_u32(tb[CTA_ID])), ==, 0xabcdef01);
	nested(tb[CTA_TUPLE_ORIG], t, CTA_TUPLE_MAX);
	nested(t[CTA_TUPLE_IP], ip, CTA_IP_MAX);
	g_assert_cmpmem(mnl_attr_get_payload(ip[CTA_IP_V4_SRC]), 4, r.t[CT_ORIG].src, 4);
	g_assert_cmpmem(mnl_attr_get_payload(ip[CTA_IP_V4_DST]), 4, r.t[CT_ORIG].dst, 4);
	nested(t[CTA_TUPLE_PROTO], pr, CTA_PROTO_MAX);
	g_assert_cmpuint(mnl_attr_get_u8(pr[CTA_PROTO_NUM]), ==, IPPROTO_TCP);
	g_assert_cmpuint(ntohs(mnl_attr_get_u16(pr[CTA_PROTO_SRC_PORT])), ==, 40000);
	g_assert_cmpuint(ntohs(mnl_attr_get_u16(pr[CTA_PROTO_DST_PORT])), ==, 443);

	/* Without the id and in zone 0: neither attribute. */
	r.zone = 0;
	nlh = ct_delete_request(buf, &r, false, 4);
	attrs(nlh, tb, CTA_MAX);
	g_assert_null(tb[CTA_ID]);
	g_assert_null(tb[CTA_ZONE]);
}

static void test_delete_icmp6(void)
{
	char buf[MNL_SOCKET_BUFFER_SIZE] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct ct_record r = { .family = AF_INET6, .proto = IPPROTO_ICMPV6, .icmp_type = 128, .icmp_code = 0,
			       .icmp_id = 4711 };
	const struct nlattr *tb[CTA_MAX + 1], *t[CTA_TUPLE_MAX + 1], *ip[CTA_IP_MAX + 1], *pr[CTA_PROTO_MAX + 1];
	struct nlmsghdr *nlh;

	inet_pton(AF_INET6, "2001:db8::1", r.t[CT_ORIG].src);
	inet_pton(AF_INET6, "2001:db8::2", r.t[CT_ORIG].dst);
	nlh = ct_delete_request(buf, &r, false, 1);
	g_assert_nonnull(nlh);
	g_assert_cmpuint(family_of(nlh), ==, AF_INET6);
	attrs(nlh, tb, CTA_MAX);
	nested(tb[CTA_TUPLE_ORIG], t, CTA_TUPLE_MAX);
	nested(t[CTA_TUPLE_IP], ip, CTA_IP_MAX);
	g_assert_cmpmem(mnl_attr_get_payload(ip[CTA_IP_V6_SRC]), 16, r.t[CT_ORIG].src, 16);
	g_assert_cmpmem(mnl_attr_get_payload(ip[CTA_IP_V6_DST]), 16, r.t[CT_ORIG].dst, 16);
	nested(t[CTA_TUPLE_PROTO], pr, CTA_PROTO_MAX);
	g_assert_cmpuint(mnl_attr_get_u8(pr[CTA_PROTO_NUM]), ==, IPPROTO_ICMPV6);
	g_assert_cmpuint(mnl_attr_get_u8(pr[CTA_PROTO_ICMPV6_TYPE]), ==, 128);
	g_assert_cmpuint(mnl_attr_get_u8(pr[CTA_PROTO_ICMPV6_CODE]), ==, 0);
	g_assert_cmpuint(ntohs(mnl_attr_get_u16(pr[CTA_PROTO_ICMPV6_ID])), ==, 4711);
	g_assert_null(pr[CTA_PROTO_SRC_PORT]);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/ctrequest/dump-filters", test_dump_filters);
	g_test_add_func("/ctrequest/delete-tcp4", test_delete_tcp4);
	g_test_add_func("/ctrequest/delete-icmp6", test_delete_icmp6);
	return g_test_run();
}
