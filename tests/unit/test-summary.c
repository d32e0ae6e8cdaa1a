/* Summarize's grouping against a brute-force count, the cap on groups, the
 * order of groups and which interface an address belongs to. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include <glib.h>
#include "summary.h"

#define N 2000

static struct ct_record recs[N];

static void make_records(GRand *rnd)
{
	for (int i = 0; i < N; i++) {
		struct ct_record *r = &recs[i];
		memset(r, 0, sizeof(*r));
		r->family = g_rand_boolean(rnd) ? AF_INET : AF_INET6;
		r->proto = g_rand_boolean(rnd) ? IPPROTO_TCP : IPPROTO_UDP;
		r->t[0].src[0] = r->family == AF_INET ? 10 : 0x20;
		r->t[0].src[3] = (uint8_t)g_rand_int_range(rnd, 0, 50);
		r->t[0].dport = (uint16_t)g_rand_int_range(rnd, 0, 7) * 1000;
		r->packets[0] = (uint64_t)g_rand_int_range(rnd, 0, 100);
		r->packets[1] = (uint64_t)g_rand_int_range(rnd, 0, 100);
		r->bytes[0] = r->packets[0] * 60;
		r->bytes[1] = r->packets[1] * 1500;
	}
}

/* The key of record i as text, done the long way. */
static void ref_key(const struct ct_record *r, enum summary_by by, char buf[64])
{
	if (by == BY_SRC)
		inet_ntop(r->family, r->t[0].src, buf, 64);
	else
		g_snprintf(buf, 64, "%u", r->t[0].dport);
}

static void check_against_reference(enum summary_by by)
{
	g_autoptr(GHashTable) ref = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	g_autofree struct summary_group **groups = NULL;
	struct summary s;
	size_t n;

	for (int i = 0; i < N; i++) {
		char key[64];
		uint64_t *v;
		ref_key(&recs[i], by, key);
		if (!(v = g_hash_table_lookup(ref, key))) {
			v = g_new0(uint64_t, 3);
			g_hash_table_insert(ref, g_strdup(key), v);
		}
		v[0]++;
		v[1] += recs[i].packets[0] + recs[i].packets[1];
		v[2] += recs[i].bytes[0] + recs[i].bytes[1];
	}
	summary_init(&s, by, 100000, NULL);
	for (int i = 0; i < N; i++)
		g_assert_cmpint(summary_add(&s, &recs[i]), ==, 0);
	g_assert_cmpuint(s.total, ==, N);
	groups = summary_sorted(&s, SUMMARY_BYTES, &n);
	g_assert_cmpuint(n, ==, g_hash_table_size(ref));
	for (size_t i = 0; i < n; i++) {
		char buf[SUMMARY_KEY_MAX];
		const char *key = summary_key_text(&s, groups[i], buf);
		uint64_t *v = g_hash_table_lookup(ref, key);
		g_assert_nonnull(v);
		g_assert_cmpuint(groups[i]->connections, ==, v[0]);
		g_assert_cmpuint(groups[i]->packets, ==, v[1]);
		g_assert_cmpuint(groups[i]->bytes, ==, v[2]);
		if (i > 0)
			g_assert_cmpuint(groups[i - 1]->bytes, >=, groups[i]->bytes);
	}
	summary_free(&s);
}

static void test_reference(void)
{
	check_against_reference(BY_SRC);
	check_against_reference(BY_DPORT);
}

static void test_cap(void)
{
	g_autofree struct summary_group **groups = NULL;
	struct summary s;
	uint64_t sum = 0;
	size_t n;
	char buf[SUMMARY_KEY_MAX];

	summary_init(&s, BY_SRC, 10, NULL);
	for (int i = 0; i < N; i++)
		g_assert_cmpint(summary_add(&s, &recs[i]), ==, 0);
	groups = summary_sorted(&s, SUMMARY_CONNECTIONS, &n);
	g_assert_cmpuint(n, ==, 11);
	for (size_t i = 0; i < n; i++)
		sum += groups[i]->connections;
	g_assert_cmpuint(sum, ==, N);
	/* 100 sources in 10 groups: the other 90 outweigh any one of them. */
	g_assert_true(groups[0]->other);
	g_assert_cmpstr(summary_key_text(&s, groups[0], buf), ==, SUMMARY_OTHER_KEY);
	summary_free(&s);
}

/* Equal counts: ordered by key, numbers numerically. */
static void test_ties(void)
{
	static const uint16_t ports[] = { 8080, 22, 443, 80, 53 };
	g_autofree struct summary_group **groups = NULL;
	struct summary s;
	char buf[SUMMARY_KEY_MAX];
	size_t n;

	summary_init(&s, BY_DPORT, 100, NULL);
	for (size_t i = 0; i < G_N_ELEMENTS(ports); i++) {
		struct ct_record r = { .family = AF_INET, .proto = IPPROTO_TCP };
		r.t[0].dport = ports[i];
		g_assert_cmpint(summary_add(&s, &r), ==, 0);
	}
	groups = summary_sorted(&s, SUMMARY_CONNECTIONS, &n);
	g_assert_cmpuint(n, ==, 5);
	g_assert_cmpstr(summary_key_text(&s, groups[0], buf), ==, "22");
	g_assert_cmpstr(summary_key_text(&s, groups[1], buf), ==, "53");
	g_assert_cmpstr(summary_key_text(&s, groups[4], buf), ==, "8080");
	summary_free(&s);
}

static void owner(GArray *a, const char *addr, const char *ifname)
{
	struct addr_owner o = { .family = strchr(addr, ':') ? AF_INET6 : AF_INET };
	inet_pton(o.family, addr, o.addr);
	g_strlcpy(o.ifname, ifname, sizeof(o.ifname));
	g_array_append_val(a, o);
}

/* The first of src, dst, reply-src, reply-dst that an interface holds; where
 * an address is listed twice, the first listing. */
static void test_interface(void)
{
	GArray *owners = g_array_new(FALSE, FALSE, sizeof(struct addr_owner));
	g_autofree struct summary_group **groups = NULL;
	struct ct_record snat = { .family = AF_INET, .proto = IPPROTO_UDP, .status = IPS_SRC_NAT };
	struct ct_record local = { .family = AF_INET, .proto = IPPROTO_UDP };
	struct ct_record forwarded = { .family = AF_INET, .proto = IPPROTO_UDP };
	struct summary s;
	char buf[SUMMARY_KEY_MAX];
	size_t n;

	owner(owners, "198.51.100.2", "wan1");
	owner(owners, "10.0.0.1", "lan0");
	owner(owners, "198.51.100.2", "wan9");   /* lost since: the current holder wins */
	inet_pton(AF_INET, "10.0.0.2", snat.t[0].src);
	inet_pton(AF_INET, "192.0.2.1", snat.t[0].dst);
	inet_pton(AF_INET, "192.0.2.1", snat.t[1].src);
	inet_pton(AF_INET, "198.51.100.2", snat.t[1].dst);
	inet_pton(AF_INET, "10.0.0.2", local.t[0].src);
	inet_pton(AF_INET, "10.0.0.1", local.t[0].dst);
	inet_pton(AF_INET, "10.0.0.1", local.t[1].src);
	inet_pton(AF_INET, "10.0.0.2", local.t[1].dst);
	inet_pton(AF_INET, "10.0.0.2", forwarded.t[0].src);
	inet_pton(AF_INET, "10.0.0.3", forwarded.t[0].dst);
	inet_pton(AF_INET, "10.0.0.3", forwarded.t[1].src);
	inet_pton(AF_INET, "10.0.0.2", forwarded.t[1].dst);

	summary_init(&s, BY_INTERFACE, 100, owners);
	g_assert_cmpint(summary_add(&s, &snat), ==, 0);
	g_assert_cmpint(summary_add(&s, &snat), ==, 0);
	g_assert_cmpint(summary_add(&s, &local), ==, 0);
	g_assert_cmpint(summary_add(&s, &forwarded), ==, 0);
	groups = summary_sorted(&s, SUMMARY_CONNECTIONS, &n);
	g_assert_cmpuint(n, ==, 3);
	g_assert_cmpstr(summary_key_text(&s, groups[0], buf), ==, "wan1");
	g_assert_cmpuint(groups[0]->connections, ==, 2);
	g_assert_cmpstr(summary_key_text(&s, groups[1], buf), ==, "");   /* '' < 'lan0' */
	g_assert_cmpstr(summary_key_text(&s, groups[2], buf), ==, "lan0");
	summary_free(&s);
}

static void test_names(void)
{
	g_assert_cmpint(summary_by_from_name("nat-address"), ==, BY_NAT_ADDRESS);
	g_assert_cmpint(summary_by_from_name("reply-dst"), ==, BY_REPLY_DST);
	g_assert_cmpint(summary_by_from_name("Src"), ==, -1);
	g_assert_cmpint(summary_by_from_name(""), ==, -1);
	g_assert_cmpint(summary_sort_from_name("bytes"), ==, SUMMARY_BYTES);
	g_assert_cmpint(summary_sort_from_name("size"), ==, -1);
}

int main(int argc, char **argv)
{
	g_autoptr(GRand) rnd = g_rand_new_with_seed(4242);

	g_test_init(&argc, &argv, NULL);
	make_records(rnd);
	g_test_add_func("/summary/against-reference", test_reference);
	g_test_add_func("/summary/cap", test_cap);
	g_test_add_func("/summary/ties", test_ties);
	g_test_add_func("/summary/interface", test_interface);
	g_test_add_func("/summary/names", test_names);
	return g_test_run();
}
