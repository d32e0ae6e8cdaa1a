/* Filter parsing (every error names its key), matching, and the kernel part. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter/nf_conntrack_sctp.h>
#include <linux/netfilter/nf_conntrack_tcp.h>
#include <netinet/in.h>
#include <string.h>

#include "busmsg.h"
#include "filter.h"
#include "kfilter.h"

static const struct filter_env *env;   /* address source for 'interface'/'stale' */

/* Parses the message's a{sv}; returns the error message or NULL. */
static char *parse(sd_bus_message *m, struct ct_filter *f)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	char *msg = NULL;
	seal(m);
	int r = filter_parse(m, f, env, &e);
	if (r < 0) {
		g_assert_true(sd_bus_error_is_set(&e));
		g_assert_cmpstr(e.name, ==, SD_BUS_ERROR_INVALID_ARGS);
		msg = g_strdup(e.message);
	} else
		g_assert_false(sd_bus_error_is_set(&e));
	sd_bus_error_free(&e);
	sd_bus_message_unref(m);
	return msg;
}

#define PARSE_OK(f, ...) do { \
	sd_bus_message *m_ = new_call(); \
	g_assert_cmpint(sd_bus_message_append(m_, "a{sv}", __VA_ARGS__), >=, 0); \
	char *err_ = parse(m_, f); \
	if (err_) g_error("unexpected error: %s", err_); \
} while (0)

#define PARSE_ERR(needle, ...) do { \
	struct ct_filter f_; \
	sd_bus_message *m_ = new_call(); \
	g_assert_cmpint(sd_bus_message_append(m_, "a{sv}", __VA_ARGS__), >=, 0); \
	char *err_ = parse(m_, &f_); \
	filter_clear(&f_); \
	g_assert_nonnull(err_); \
	if (!strstr(err_, needle)) g_error("error '%s' does not name '%s'", err_, needle); \
	g_free(err_); \
} while (0)

static void test_parse_all_keys(void)
{
	struct ct_filter f;
	PARSE_OK(&f, 17, "family", "s", "ipv6", "protocol", "s", "tcp", "state", "s", "established",
		 "status", "as", 2, "ASSURED", "UNREPLIED", "address", "s", "2001:db8::/32",
		 "src", "s", "2001:db8::1", "dst", "s", "2001:db8::2", "reply-src", "s", "2001:db8::3/128",
		 "reply-dst", "s", "2001:db8::/64", "port", "q", 80, "sport", "u", 1234,
		 "dport", "y", 22, "mark", "t", (uint64_t)0x10, "mark-mask", "i", 0xf0,
		 "zone", "n", 3, "nat", "s", "none", "nat-address", "s", "2001:db8:ffff::1");
	g_assert_cmpuint(f.family, ==, AF_INET6);
	g_assert_cmpuint(f.proto, ==, IPPROTO_TCP);
	g_assert_cmpuint(f.tcp_states, ==, 1u << TCP_CONNTRACK_ESTABLISHED);
	g_assert_cmpuint(f.sctp_states, ==, 1u << SCTP_CONNTRACK_ESTABLISHED);   /* an SCTP state too */
	g_assert_cmpuint(f.status_set, ==, IPS_ASSURED);
	g_assert_cmpuint(f.status_clear, ==, IPS_SEEN_REPLY);
	g_assert_cmpuint(f.addr[FK_ADDRESS].len, ==, 32);
	g_assert_cmpuint(f.addr[FK_REPLY_DST].len, ==, 64);
	g_assert_cmpuint(f.port, ==, 80);
	g_assert_cmpuint(f.sport, ==, 1234);
	g_assert_cmpuint(f.dport, ==, 22);
	g_assert_cmpuint(f.mark, ==, 0x10);
	g_assert_cmpuint(f.mark_mask, ==, 0xf0);
	g_assert_cmpuint(f.zone, ==, 3);
	g_assert_cmpint(f.nat, ==, NAT_NONE);
	g_assert_cmpuint(f.keys, ==, (1u << FK_INTERFACE) - 1);

	PARSE_OK(&f, 0);
	g_assert_cmpuint(f.keys, ==, 0);
	g_assert_cmpuint(f.mark_mask, ==, UINT32_MAX);
	PARSE_OK(&f, 1, "protocol", "s", "132");
	g_assert_cmpuint(f.proto, ==, IPPROTO_SCTP);
}

static void test_parse_errors(void)
{
	PARSE_ERR("'colour'", 1, "colour", "s", "red");
	PARSE_ERR("more than once", 2, "port", "q", 1, "port", "q", 2);
	PARSE_ERR("'port'", 1, "port", "s", "80");
	PARSE_ERR("'port': value 65536", 1, "port", "u", 65536);
	PARSE_ERR("negative", 1, "sport", "i", -1);
	PARSE_ERR("negative", 1, "dport", "x", (int64_t)-70000);
	PARSE_ERR("'zone'", 1, "zone", "t", (uint64_t)1 << 40);
	PARSE_ERR("'mark'", 1, "mark", "x", (int64_t)1 << 32);
	PARSE_ERR("'mark'", 1, "mark", "b", 1);
	PARSE_ERR("'mark'", 1, "mark", "d", 1.0);
	PARSE_ERR("requires 'mark'", 1, "mark-mask", "u", 0xff);
	PARSE_ERR("'family'", 1, "family", "s", "inet");
	PARSE_ERR("'family'", 1, "family", "u", 4);
	PARSE_ERR("'protocol'", 1, "protocol", "s", "tcp6");
	PARSE_ERR("'protocol'", 1, "protocol", "s", "-1");
	PARSE_ERR("'protocol'", 1, "protocol", "s", "1000");
	PARSE_ERR("'protocol'", 1, "protocol", "s", "");
	PARSE_ERR("'state'", 1, "state", "s", "LISTENING");
	PARSE_ERR("'state'", 1, "state", "s", "");
	PARSE_ERR("'BOGUS'", 1, "status", "as", 2, "ASSURED", "BOGUS");
	PARSE_ERR("'status'", 1, "status", "s", "ASSURED");
	PARSE_ERR("'status'", 1, "status", "au", 1, 4);
	PARSE_ERR("'src'", 1, "src", "s", "1.2.3");
	PARSE_ERR("'src'", 1, "src", "s", "1.2.3.4/");
	PARSE_ERR("'src'", 1, "src", "s", "/24");
	PARSE_ERR("'src'", 1, "src", "s", "1.2.3.4/-1");
	PARSE_ERR("'src'", 1, "src", "s", "1.2.3.4/1x");
	PARSE_ERR("too long", 1, "dst", "s", "1.2.3.4/33");
	PARSE_ERR("too long", 1, "dst", "s", "::/129");
	PARSE_ERR("'dst'", 1, "dst", "s", "1.2.3.4/0033");
	PARSE_ERR("'reply-src'", 1, "reply-src", "s", "fe80::1%eth0");
	PARSE_ERR("'address'", 1, "address", "s",
		  "2001:0db8:0000:0000:0000:0000:0000:0001:0001/64");
	PARSE_ERR("'nat'", 1, "nat", "s", "SNAT");
	PARSE_ERR("'nat-address'", 1, "nat-address", "s", "localhost");
	PARSE_ERR("'interface'", 1, "interface", "s", "wan1");   /* no address source */
	PARSE_ERR("'stale'", 1, "stale", "b", 1);
	PARSE_ERR("'stale'", 1, "stale", "s", "yes");
}

static void test_nested_variant(void)
{
	struct ct_filter f;
	sd_bus_message *m = new_call();
	g_assert_cmpint(sd_bus_message_open_container(m, 'a', "{sv}"), >=, 0);
	g_assert_cmpint(sd_bus_message_open_container(m, 'e', "sv"), >=, 0);
	g_assert_cmpint(sd_bus_message_append(m, "s", "port"), >=, 0);
	g_assert_cmpint(sd_bus_message_open_container(m, 'v', "v"), >=, 0);
	g_assert_cmpint(sd_bus_message_append(m, "v", "q", 80), >=, 0);
	g_assert_cmpint(sd_bus_message_close_container(m), >=, 0);
	g_assert_cmpint(sd_bus_message_close_container(m), >=, 0);
	g_assert_cmpint(sd_bus_message_close_container(m), >=, 0);
	char *err = parse(m, &f);
	g_assert_nonnull(err);
	g_assert_nonnull(strstr(err, "'port'"));
	g_free(err);
}

static struct ct_record rec4(const char *src, const char *dst, uint16_t sport, uint16_t dport,
			     const char *rsrc, const char *rdst)
{
	struct ct_record r = { .family = AF_INET, .proto = IPPROTO_TCP };
	inet_pton(AF_INET, src, r.t[0].src);
	inet_pton(AF_INET, dst, r.t[0].dst);
	inet_pton(AF_INET, rsrc, r.t[1].src);
	inet_pton(AF_INET, rdst, r.t[1].dst);
	r.t[0].sport = sport; r.t[0].dport = dport;
	r.t[1].sport = dport; r.t[1].dport = sport;
	return r;
}

static void test_prefixes(void)
{
	struct addr_prefix p;
	uint8_t a[16];

	g_assert_cmpint(addr_prefix_parse("10.1.2.3/8", &p), ==, 0);
	g_assert_cmpuint(p.addr[1], ==, 0);   /* host bits cleared */
	inet_pton(AF_INET, "10.255.0.1", a);
	g_assert_true(addr_prefix_match(&p, AF_INET, a));
	inet_pton(AF_INET, "11.0.0.1", a);
	g_assert_false(addr_prefix_match(&p, AF_INET, a));

	g_assert_cmpint(addr_prefix_parse("192.168.1.128/25", &p), ==, 0);
	inet_pton(AF_INET, "192.168.1.127", a);
	g_assert_false(addr_prefix_match(&p, AF_INET, a));
	inet_pton(AF_INET, "192.168.1.255", a);
	g_assert_true(addr_prefix_match(&p, AF_INET, a));

	g_assert_cmpint(addr_prefix_parse("0.0.0.0/0", &p), ==, 0);
	g_assert_true(addr_prefix_match(&p, AF_INET, a));
	g_assert_false(addr_prefix_match(&p, AF_INET6, a));   /* families never mix */

	g_assert_cmpint(addr_prefix_parse("2001:db8:0:1::/63", &p), ==, 0);
	inet_pton(AF_INET6, "2001:db8::ffff", a);
	g_assert_true(addr_prefix_match(&p, AF_INET6, a));
	inet_pton(AF_INET6, "2001:db8:0:2::1", a);
	g_assert_false(addr_prefix_match(&p, AF_INET6, a));
	g_assert_cmpint(addr_prefix_parse("::ffff:10.0.0.1", &p), ==, 0);
	g_assert_cmpuint(p.family, ==, AF_INET6);
}

static bool matches(struct ct_record *r, sd_bus_message *m)
{
	struct ct_filter f;
	char *err = parse(m, &f);
	if (err)
		g_error("%s", err);
	bool ok = filter_match(&f, r);
	filter_clear(&f);
	return ok;
}

#define MATCH(r, ...) ({ sd_bus_message *m_ = new_call(); \
	g_assert_cmpint(sd_bus_message_append(m_, "a{sv}", __VA_ARGS__), >=, 0); matches(r, m_); })

static void test_match(void)
{
	/* LAN host 10.0.0.2 SNATed to 198.51.100.2 towards 198.51.100.1:80 */
	struct ct_record r = rec4("10.0.0.2", "198.51.100.1", 40000, 80, "198.51.100.1", "198.51.100.2");
	r.status = IPS_SEEN_REPLY | IPS_ASSURED | IPS_CONFIRMED | IPS_SRC_NAT;
	r.flags |= CT_HAS_STATE;
	r.state = 3;
	r.mark = 0x1234;
	r.zone = 2;

	g_assert_true(MATCH(&r, 0));
	g_assert_true(MATCH(&r, 1, "address", "s", "198.51.100.2"));   /* reply-dst */
	g_assert_false(MATCH(&r, 1, "address", "s", "10.0.0.3"));
	g_assert_true(MATCH(&r, 1, "port", "q", 80));
	g_assert_true(MATCH(&r, 1, "port", "q", 40000));
	g_assert_false(MATCH(&r, 1, "port", "q", 81));
	g_assert_true(MATCH(&r, 1, "dport", "q", 80));
	g_assert_false(MATCH(&r, 1, "sport", "q", 80));
	g_assert_true(MATCH(&r, 1, "state", "s", "ESTABLISHED"));
	g_assert_false(MATCH(&r, 1, "state", "s", "TIME_WAIT"));
	g_assert_false(MATCH(&r, 1, "state", "s", "OPEN"));   /* a DCCP state */
	g_assert_true(MATCH(&r, 1, "status", "as", 2, "ASSURED", "SRC_NAT"));
	g_assert_false(MATCH(&r, 1, "status", "as", 1, "UNREPLIED"));
	g_assert_false(MATCH(&r, 1, "status", "as", 1, "DST_NAT"));
	g_assert_true(MATCH(&r, 1, "nat", "s", "snat"));
	g_assert_true(MATCH(&r, 1, "nat", "s", "any"));
	g_assert_false(MATCH(&r, 1, "nat", "s", "dnat"));
	g_assert_false(MATCH(&r, 1, "nat", "s", "none"));
	g_assert_true(MATCH(&r, 1, "nat-address", "s", "198.51.100.2"));
	g_assert_true(MATCH(&r, 1, "nat-address", "s", "198.51.100.0/24"));
	g_assert_false(MATCH(&r, 1, "nat-address", "s", "198.51.100.1"));  /* the peer, not the NAT address */
	g_assert_true(MATCH(&r, 2, "mark", "u", 0x34, "mark-mask", "u", 0xff));
	g_assert_false(MATCH(&r, 1, "mark", "u", 0x34));
	g_assert_true(MATCH(&r, 1, "zone", "q", 2));
	g_assert_false(MATCH(&r, 1, "zone", "q", 0));
	g_assert_false(MATCH(&r, 1, "family", "s", "ipv6"));
	g_assert_true(MATCH(&r, 1, "protocol", "s", "tcp"));
	g_assert_false(MATCH(&r, 1, "protocol", "s", "udp"));
	g_assert_true(MATCH(&r, 2, "src", "s", "10.0.0.0/24", "reply-src", "s", "198.51.100.1"));
	g_assert_false(MATCH(&r, 2, "src", "s", "10.0.0.0/24", "reply-src", "s", "198.51.100.2"));

	/* The same flow seen as a DNAT: nat-address is then the reply source. */
	struct ct_record d = rec4("10.0.0.2", "10.0.0.1", 40000, 8080, "203.0.113.1", "10.0.0.2");
	d.status = IPS_DST_NAT;
	g_assert_true(MATCH(&d, 1, "nat-address", "s", "203.0.113.1"));
	g_assert_true(MATCH(&d, 1, "status", "as", 1, "UNREPLIED"));
	g_assert_false(MATCH(&d, 1, "state", "s", "ESTABLISHED"));   /* no state known */
}

static void test_kernel_part(void)
{
	struct ct_kcaps all = { true, true }, none = { false, false };
	struct ct_filter f;
	struct ct_kfilter kf;

	PARSE_OK(&f, 4, "protocol", "s", "tcp", "src", "s", "10.0.0.2", "dport", "q", 80,
		 "reply-dst", "s", "198.51.100.2");
	filter_to_kernel(&f, &all, &kf);
	g_assert_cmpuint(kf.family, ==, AF_INET);
	g_assert_cmpuint(kf.orig_flags, ==, CTA_FILTER_F_PROTO_NUM | CTA_FILTER_F_IP_SRC | CTA_FILTER_F_DST_PORT);
	g_assert_cmpuint(kf.reply_flags, ==, CTA_FILTER_F_IP_DST);
	g_assert_cmpuint(kf.orig.dport, ==, 80);
	filter_to_kernel(&f, &none, &kf);
	g_assert_cmpuint(kf.orig_flags | kf.reply_flags, ==, 0);
	g_assert_cmpuint(kf.family, ==, AF_INET);   /* the family is always understood */

	/* Prefixes, and ports of protocols the kernel does not compare, stay in userspace. */
	PARSE_OK(&f, 3, "protocol", "s", "sctp", "src", "s", "10.0.0.0/8", "dport", "q", 80);
	filter_to_kernel(&f, &all, &kf);
	g_assert_cmpuint(kf.orig_flags, ==, CTA_FILTER_F_PROTO_NUM);

	/* Without a family the tuple still goes to the kernel: the dump asks
	 * for IPv4, then IPv6, each filtered. */
	PARSE_OK(&f, 2, "protocol", "s", "tcp", "dport", "q", 80);
	filter_to_kernel(&f, &all, &kf);
	g_assert_cmpuint(kf.family, ==, 0);
	g_assert_cmpuint(kf.orig_flags, ==, CTA_FILTER_F_PROTO_NUM | CTA_FILTER_F_DST_PORT);
	g_assert_cmpuint(kf.orig.dport, ==, 80);

	PARSE_OK(&f, 2, "mark", "u", 0x1234, "mark-mask", "u", 0xff);
	filter_to_kernel(&f, &all, &kf);
	g_assert_true(kf.mark);
	g_assert_cmpuint(kf.mark_val, ==, 0x34);
	g_assert_cmpuint(kf.mark_mask, ==, 0xff);

	PARSE_OK(&f, 1, "status", "as", 2, "ASSURED", "UNREPLIED");
	filter_to_kernel(&f, &all, &kf);
	g_assert_true(kf.status);
	g_assert_cmpuint(kf.status_val, ==, IPS_ASSURED);
	g_assert_cmpuint(kf.status_mask, ==, IPS_ASSURED | IPS_SEEN_REPLY);
	filter_to_kernel(&f, &none, &kf);
	g_assert_false(kf.status);

	PARSE_OK(&f, 2, "src", "s", "10.0.0.1", "address", "s", "::1");
	filter_to_kernel(&f, &all, &kf);
	g_assert_true(kf.empty);
}

static void add(GArray *out, const char *a)
{
	struct addr_prefix p;
	g_assert_cmpint(addr_prefix_parse(a, &p), ==, 0);
	g_array_append_val(out, p);
}

/* wan1 held 198.51.100.2 (gone now) and holds 198.51.100.3. */
static int fake_interface(void *u, const char *ifname, GArray *out)
{
	if (strcmp(ifname, "wan1") != 0)
		return -ENOENT;
	add(out, "198.51.100.2");
	add(out, "198.51.100.3");
	return 0;
}

static int fake_stale(void *u, GArray *out)
{
	add(out, "198.51.100.2");
	return 0;
}

static void test_interface_and_stale(void)
{
	static const struct filter_env fake = { NULL, fake_interface, fake_stale, NULL };
	struct ct_record old = rec4("10.0.0.2", "192.0.2.1", 40000, 5060, "192.0.2.1", "198.51.100.2");
	struct ct_record cur = rec4("10.0.0.2", "192.0.2.1", 40001, 5060, "192.0.2.1", "198.51.100.3");
	struct ct_record other = rec4("10.0.0.2", "192.0.2.1", 40002, 5060, "192.0.2.1", "203.0.113.2");
	struct ct_record local = rec4("198.51.100.3", "192.0.2.9", 1, 2, "192.0.2.9", "198.51.100.3");

	env = &fake;
	g_assert_true(MATCH(&old, 1, "interface", "s", "wan1"));
	g_assert_true(MATCH(&cur, 1, "interface", "s", "wan1"));
	g_assert_true(MATCH(&local, 1, "interface", "s", "wan1"));
	g_assert_false(MATCH(&other, 1, "interface", "s", "wan1"));
	g_assert_true(MATCH(&old, 2, "interface", "s", "wan1", "stale", "b", 1));
	g_assert_false(MATCH(&cur, 2, "interface", "s", "wan1", "stale", "b", 1));
	g_assert_false(MATCH(&old, 1, "stale", "b", 0));
	g_assert_true(MATCH(&other, 1, "stale", "b", 0));
	PARSE_ERR("unknown interface 'eth9'", 1, "interface", "s", "eth9");
	PARSE_ERR("'interface'", 1, "interface", "u", 1);
	env = NULL;
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/filter/parse-all-keys", test_parse_all_keys);
	g_test_add_func("/filter/parse-errors", test_parse_errors);
	g_test_add_func("/filter/nested-variant", test_nested_variant);
	g_test_add_func("/filter/prefixes", test_prefixes);
	g_test_add_func("/filter/match", test_match);
	g_test_add_func("/filter/kernel-part", test_kernel_part);
	g_test_add_func("/filter/interface-and-stale", test_interface_and_stale);
	return g_test_run();
}
