/* The netlink parser against messages built independently by
 * libnetfilter_conntrack, and against truncated and corrupted input. */
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <netinet/in.h>
#include <string.h>

#include <glib.h>
#include "ctparse.h"

static struct nlmsghdr *build(char *buf, struct nf_conntrack *ct, uint8_t family)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
	struct nfgenmsg *nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = family;
	nfg->version = NFNETLINK_V0;
	g_assert_cmpint(nfct_nlmsg_build(nlh, ct), ==, 0);
	return nlh;
}

/* An IPv4 entry with both tuples, built through the library's setters. */
static struct nf_conntrack *entry4(uint8_t proto, const char *src, const char *dst, uint16_t sport,
				   uint16_t dport, const char *rsrc, const char *rdst)
{
	struct nf_conntrack *ct = nfct_new();
	nfct_set_attr_u8(ct, ATTR_ORIG_L3PROTO, AF_INET);
	nfct_set_attr_u32(ct, ATTR_ORIG_IPV4_SRC, inet_addr(src));
	nfct_set_attr_u32(ct, ATTR_ORIG_IPV4_DST, inet_addr(dst));
	nfct_set_attr_u8(ct, ATTR_ORIG_L4PROTO, proto);
	nfct_set_attr_u16(ct, ATTR_ORIG_PORT_SRC, htons(sport));
	nfct_set_attr_u16(ct, ATTR_ORIG_PORT_DST, htons(dport));
	nfct_set_attr_u8(ct, ATTR_REPL_L3PROTO, AF_INET);
	nfct_set_attr_u32(ct, ATTR_REPL_IPV4_SRC, inet_addr(rsrc));
	nfct_set_attr_u32(ct, ATTR_REPL_IPV4_DST, inet_addr(rdst));
	nfct_set_attr_u8(ct, ATTR_REPL_L4PROTO, proto);
	nfct_set_attr_u16(ct, ATTR_REPL_PORT_SRC, htons(dport));
	nfct_set_attr_u16(ct, ATTR_REPL_PORT_DST, htons(sport));
	return ct;
}

static void test_tcp4(void)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nf_conntrack *ct = entry4(IPPROTO_TCP, "10.0.0.2", "198.51.100.1", 40000, 80,
					 "198.51.100.1", "198.51.100.2");
	struct ct_record r;

	nfct_set_attr_u8(ct, ATTR_TCP_STATE, 3);
	nfct_set_attr_u32(ct, ATTR_TIMEOUT, 431999);
	nfct_set_attr_u32(ct, ATTR_MARK, 0xdeadbeef);
	nfct_set_attr_u32(ct, ATTR_STATUS, IPS_SEEN_REPLY | IPS_SRC_NAT);
	nfct_set_attr_u16(ct, ATTR_ZONE, 7);
	nfct_set_attr(ct, ATTR_HELPER_NAME, "ftp");

	g_assert_cmpint(ct_parse_nlmsg(build(buf, ct, AF_INET), &r), ==, 0);
	char a[46];
	g_assert_cmpuint(r.family, ==, AF_INET);
	g_assert_cmpuint(r.proto, ==, IPPROTO_TCP);
	g_assert_cmpstr(ct_addr_str(AF_INET, r.t[0].src, a), ==, "10.0.0.2");
	g_assert_cmpstr(ct_addr_str(AF_INET, r.t[0].dst, a), ==, "198.51.100.1");
	g_assert_cmpstr(ct_addr_str(AF_INET, r.t[1].dst, a), ==, "198.51.100.2");
	g_assert_cmpuint(r.t[0].sport, ==, 40000);
	g_assert_cmpuint(r.t[0].dport, ==, 80);
	g_assert_cmpuint(r.t[1].sport, ==, 80);
	g_assert_cmpuint(r.timeout, ==, 431999);
	g_assert_cmpuint(r.mark, ==, 0xdeadbeef);
	/* The library's builder adds CONFIRMED, as the kernel wants for creation. */
	g_assert_cmpuint(r.status, ==, IPS_SEEN_REPLY | IPS_CONFIRMED | IPS_SRC_NAT);
	g_assert_cmpuint(r.zone, ==, 7);
	g_assert_true(r.flags & CT_HAS_STATE);
	g_assert_cmpstr(ct_state_name(r.proto, r.state), ==, "ESTABLISHED");
	g_assert_true(r.flags & CT_HAS_HELPER);
	g_assert_cmpstr(r.helper, ==, "ftp");
	nfct_destroy(ct);
}

/* A helper name must come out as a valid D-Bus string (the fuzzer found
 * that a non-UTF-8 one failed the whole reply). */
static void test_helper_name_sanitized(void)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nf_conntrack *ct = entry4(IPPROTO_TCP, "10.0.0.2", "10.0.0.3", 1, 2, "10.0.0.3", "10.0.0.2");
	struct ct_record r;

	nfct_set_attr(ct, ATTR_HELPER_NAME, "f\xfft\"p");
	g_assert_cmpint(ct_parse_nlmsg(build(buf, ct, AF_INET), &r), ==, 0);
	g_assert_cmpstr(r.helper, ==, "f?t?p");
	nfct_destroy(ct);
}

static void test_icmp6(void)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nf_conntrack *ct = nfct_new();
	struct ct_record r;
	struct in6_addr s, d;

	inet_pton(AF_INET6, "2001:db8::1", &s);
	inet_pton(AF_INET6, "2001:db8::2", &d);
	nfct_set_attr_u8(ct, ATTR_ORIG_L3PROTO, AF_INET6);
	nfct_set_attr(ct, ATTR_ORIG_IPV6_SRC, &s);
	nfct_set_attr(ct, ATTR_ORIG_IPV6_DST, &d);
	nfct_set_attr_u8(ct, ATTR_ORIG_L4PROTO, IPPROTO_ICMPV6);
	nfct_set_attr_u8(ct, ATTR_ICMP_TYPE, 128);
	nfct_set_attr_u8(ct, ATTR_ICMP_CODE, 0);
	nfct_set_attr_u16(ct, ATTR_ICMP_ID, htons(4711));
	nfct_set_attr_u8(ct, ATTR_REPL_L3PROTO, AF_INET6);
	nfct_set_attr(ct, ATTR_REPL_IPV6_SRC, &d);
	nfct_set_attr(ct, ATTR_REPL_IPV6_DST, &s);
	nfct_set_attr_u8(ct, ATTR_REPL_L4PROTO, IPPROTO_ICMPV6);
	nfct_set_attr_u32(ct, ATTR_TIMEOUT, 30);

	g_assert_cmpint(ct_parse_nlmsg(build(buf, ct, AF_INET6), &r), ==, 0);
	char a[46];
	g_assert_cmpuint(r.family, ==, AF_INET6);
	g_assert_cmpstr(ct_addr_str(AF_INET6, r.t[0].src, a), ==, "2001:db8::1");
	g_assert_cmpstr(ct_addr_str(AF_INET6, r.t[1].src, a), ==, "2001:db8::2");
	g_assert_true(r.flags & CT_HAS_ICMP);
	g_assert_cmpuint(r.icmp_type, ==, 128);
	g_assert_cmpuint(r.icmp_id, ==, 4711);
	g_assert_cmpuint(r.t[0].sport, ==, 0);
	g_assert_false(r.flags & CT_HAS_STATE);
	nfct_destroy(ct);
}

/* Every truncation and many corruptions of a valid message must parse or be
 * refused, never read out of bounds (the sanitizer build checks the latter). */
static void test_hostile(void)
{
	char buf[MNL_SOCKET_BUFFER_SIZE], copy[MNL_SOCKET_BUFFER_SIZE];
	struct nf_conntrack *ct = entry4(IPPROTO_UDP, "10.0.0.2", "10.0.0.3", 1, 2, "10.0.0.3", "10.0.0.2");
	struct ct_record r;

	struct nlmsghdr *nlh = build(buf, ct, AF_INET);
	uint32_t len = nlh->nlmsg_len;

	for (uint32_t cut = 0; cut < len; cut++) {
		memcpy(copy, buf, len);
		((struct nlmsghdr *)copy)->nlmsg_len = cut;
		/* Cut after the tuples, the rest is optional: then the tuples must be right. */
		if (ct_parse_nlmsg((struct nlmsghdr *)copy, &r) == 0) {
			g_assert_cmpuint(r.t[0].sport, ==, 1);
			g_assert_cmpuint(r.t[1].sport, ==, 2);
		}
	}
	GRand *rnd = g_rand_new_with_seed(7);
	for (int i = 0; i < 20000; i++) {
		memcpy(copy, buf, len);
		for (int k = 0; k < 3; k++)
			copy[g_rand_int_range(rnd, sizeof(struct nlmsghdr), (gint32)len)] = (char)g_rand_int(rnd);
		(void)ct_parse_nlmsg((struct nlmsghdr *)copy, &r);
	}
	g_rand_free(rnd);

	/* Missing reply tuple: refused. */
	nfct_attr_unset(ct, ATTR_REPL_IPV4_SRC);
	nfct_attr_unset(ct, ATTR_REPL_IPV4_DST);
	nfct_attr_unset(ct, ATTR_REPL_L4PROTO);
	nfct_attr_unset(ct, ATTR_REPL_PORT_SRC);
	nfct_attr_unset(ct, ATTR_REPL_PORT_DST);
	nfct_attr_unset(ct, ATTR_REPL_L3PROTO);
	g_assert_cmpint(ct_parse_nlmsg(build(buf, ct, AF_INET), &r), ==, -EBADMSG);
	nfct_destroy(ct);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/ctparse/tcp4", test_tcp4);
	g_test_add_func("/ctparse/icmp6", test_icmp6);
	g_test_add_func("/ctparse/helper-name-sanitized", test_helper_name_sanitized);
	g_test_add_func("/ctparse/hostile", test_hostile);
	return g_test_run();
}
