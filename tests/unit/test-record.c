/* The record's D-Bus form both ways: what the service appends
 * (ct_record_append) a client reads back (ct_record_read) unchanged, and
 * formats the same JSON and CSV as Export. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <string.h>

#include <glib.h>
#include "busmsg.h"
#include "record.h"

static struct ct_record tcp_snat(void)
{
	struct ct_record r = {
		.id = 4242, .family = AF_INET, .proto = IPPROTO_TCP, .state = 3, .flags = CT_HAS_STATE | CT_HAS_USE,
		.status = IPS_SEEN_REPLY | IPS_ASSURED | IPS_CONFIRMED | IPS_SRC_NAT | IPS_SRC_NAT_DONE,
		.timeout = 431999, .mark = 0x100, .zone = 5, .use = 1,
		.packets = { 12, 10 }, .bytes = { 1200, 56000 }, .start_ns = 1764470000123456000ull,
	};
	inet_pton(AF_INET, "10.0.0.2", r.t[0].src);
	inet_pton(AF_INET, "198.51.100.1", r.t[0].dst);
	inet_pton(AF_INET, "198.51.100.1", r.t[1].src);
	inet_pton(AF_INET, "198.51.100.2", r.t[1].dst);
	r.t[0].sport = 40000; r.t[0].dport = 80;
	r.t[1].sport = 80; r.t[1].dport = 40000;
	return r;
}

static struct ct_record icmp6_labels(void)
{
	struct ct_record r = {
		.id = 7, .family = AF_INET6, .proto = IPPROTO_ICMPV6, .flags = CT_HAS_ICMP | CT_HAS_LABELS | CT_HAS_HELPER,
		.icmp_type = 128, .icmp_code = 0, .icmp_id = 99, .timeout = 29, .helper = "ftp",
	};
	inet_pton(AF_INET6, "2001:db8::1", r.t[0].src);
	inet_pton(AF_INET6, "2001:db8::2", r.t[0].dst);
	inet_pton(AF_INET6, "2001:db8::2", r.t[1].src);
	inet_pton(AF_INET6, "2001:db8::1", r.t[1].dst);
	r.labels[0] = 0x05;
	r.labels[15] = 0x80;
	return r;
}

static void text(char *buf, size_t len)
{
	g_assert_cmpuint(len, >, 0);
	buf[len] = '\0';
}

static void round_trip(const struct ct_record *in)
{
	sd_bus_message *m = new_call();
	struct ct_record out, end;
	char a[CT_TEXT_MAX], b[CT_TEXT_MAX];

	g_assert_cmpint(sd_bus_message_open_container(m, 'a', CT_RECORD_SIGNATURE), >=, 0);
	g_assert_cmpint(ct_record_append(m, in), >=, 0);
	g_assert_cmpint(sd_bus_message_close_container(m), >=, 0);
	seal(m);
	g_assert_cmpint(sd_bus_message_enter_container(m, 'a', CT_RECORD_SIGNATURE), >, 0);
	g_assert_cmpint(ct_record_read(m, &out), ==, 1);
	g_assert_cmpint(ct_record_read(m, &end), ==, 0);   /* the end of the array */
	sd_bus_message_unref(m);

	/* D-Bus carries microseconds: the nanoseconds below are not kept. */
	g_assert_cmpuint(out.start_ns, ==, in->start_ns / 1000 * 1000);
	/* Every field shows in the JSON line (extra too): equal lines, equal records. */
	g_assert_cmpuint(out.flags, ==, in->flags);
	/* The formatters return a length and write no NUL. */
	text(a, ct_record_json(in, a, sizeof(a) - 1));
	text(b, ct_record_json(&out, b, sizeof(b) - 1));
	g_assert_cmpstr(a, ==, b);
	text(b, ct_record_csv(&out, b, sizeof(b) - 1));
	text(a, ct_record_csv(in, a, sizeof(a) - 1));
	g_assert_cmpstr(a, ==, b);

	/* And back from CSV (what connectionsctl reads from Export). */
	{
		struct ct_record from;
		g_assert_cmpint(ct_record_from_csv(a, &from), ==, 0);
		text(b, ct_record_json(&from, b, sizeof(b) - 1));
		text(a, ct_record_json(in, a, sizeof(a) - 1));
		g_assert_cmpstr(a, ==, b);
	}
}

static void test_csv_garbage(void)
{
	static const char *const bad[] = {
		"", "1,ipv4,tcp", "x,ipv4,tcp,,,1.2.3.4,1.2.3.5,1,2,1.2.3.5,1.2.3.4,2,1,9,0,0,0,0,0,0,0,\n",
		"1,ipv4,tcp,,,1.2.3.400,1.2.3.5,1,2,1.2.3.5,1.2.3.4,2,1,9,0,0,0,0,0,0,0,\n",
		"1,ipv4,bogus,,,1.2.3.4,1.2.3.5,1,2,1.2.3.5,1.2.3.4,2,1,9,0,0,0,0,0,0,0,\n",
		"1,ipv4,tcp,,,1.2.3.4,1.2.3.5,70000,2,1.2.3.5,1.2.3.4,2,1,9,0,0,0,0,0,0,0,\n",
		"1,ipv4,tcp,,,1.2.3.4,1.2.3.5,1,2,1.2.3.5,1.2.3.4,2,1,9,0,0,0,0,0,0,0,use\n",
	};
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		char *line = g_strdup(bad[i]);
		struct ct_record r;
		g_assert_cmpint(ct_record_from_csv(line, &r), ==, -EINVAL);
		g_free(line);
	}
}

static void test_tcp(void)
{
	struct ct_record r = tcp_snat();
	round_trip(&r);
}

static void test_icmp6(void)
{
	struct ct_record r = icmp6_labels();
	round_trip(&r);
}

/* IPv4 text is written by hand (no inet_ntop): it must equal inet_ntop's for
 * every octet value, at every position. */
static void test_ipv4_text(void)
{
	char ours[INET6_ADDRSTRLEN], libc[INET_ADDRSTRLEN];
	uint8_t a[16] = { 0 };

	for (unsigned v = 0; v < 256; v++)
		for (unsigned pos = 0; pos < 4; pos++) {
			memset(a, (int)((v * 7 + pos) & 0xff), 4);
			a[pos] = (uint8_t)v;
			g_assert_nonnull(inet_ntop(AF_INET, a, libc, sizeof(libc)));
			g_assert_cmpstr(ct_addr_str(AF_INET, a, ours), ==, libc);
		}
	memset(a, 255, 4);
	g_assert_cmpstr(ct_addr_str(AF_INET, a, ours), ==, "255.255.255.255");
	memset(a, 0, 4);
	g_assert_cmpstr(ct_addr_str(AF_INET, a, ours), ==, "0.0.0.0");
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/record/round-trip/tcp-snat", test_tcp);
	g_test_add_func("/record/round-trip/icmpv6-labels-helper", test_icmp6);
	g_test_add_func("/record/csv-garbage", test_csv_garbage);
	g_test_add_func("/record/ipv4-text", test_ipv4_text);
	return g_test_run();
}
