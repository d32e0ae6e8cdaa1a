/* The Delete argument: a tuple or an id, and nothing ambiguous. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "busmsg.h"
#include "connspec.h"

static char *parse(sd_bus_message *m, struct conn_spec *s)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	char *msg = NULL;
	seal(m);
	if (conn_spec_parse(m, s, &e) < 0) {
		g_assert_cmpstr(e.name, ==, SD_BUS_ERROR_INVALID_ARGS);
		msg = g_strdup(e.message);
	}
	sd_bus_error_free(&e);
	sd_bus_message_unref(m);
	return msg;
}

#define SPEC(s, ...) ({ sd_bus_message *m_ = new_call(); \
	g_assert_cmpint(sd_bus_message_append(m_, "a{sv}", __VA_ARGS__), >=, 0); parse(m_, s); })

static void expect_error(char *err, const char *needle)
{
	g_assert_nonnull(err);
	if (!strstr(err, needle))
		g_error("'%s' does not name '%s'", err, needle);
	g_free(err);
}

#define SPEC_ERR(needle, ...) do { struct conn_spec s_; \
	expect_error(SPEC(&s_, __VA_ARGS__), needle); } while (0)

static void test_valid(void)
{
	struct conn_spec s;
	char a[46];

	g_assert_null(SPEC(&s, 5, "protocol", "s", "tcp", "src", "s", "10.0.0.2", "dst", "s", "10.0.0.3",
			   "sport", "q", 1000, "dport", "u", 80));
	g_assert_false(s.by_id);
	g_assert_false(s.has_id);
	g_assert_cmpuint(s.rec.family, ==, AF_INET);
	g_assert_cmpstr(ct_addr_str(AF_INET, s.rec.t[0].dst, a), ==, "10.0.0.3");
	g_assert_cmpuint(s.rec.t[0].dport, ==, 80);

	g_assert_null(SPEC(&s, 7, "protocol", "s", "icmpv6", "src", "s", "::1", "dst", "s", "::1",
			   "icmp-type", "y", 128, "icmp-code", "y", 0, "icmp-id", "q", 77, "zone", "q", 4));
	g_assert_cmpuint(s.rec.icmp_id, ==, 77);
	g_assert_cmpuint(s.rec.zone, ==, 4);

	g_assert_null(SPEC(&s, 1, "id", "t", (uint64_t)4000000000u));
	g_assert_true(s.by_id);
	g_assert_cmpuint(s.rec.id, ==, 4000000000u);

	g_assert_null(SPEC(&s, 6, "protocol", "s", "udp", "src", "s", "10.0.0.2", "dst", "s", "10.0.0.3",
			   "sport", "q", 1, "dport", "q", 2, "id", "u", 5));
	g_assert_true(s.has_id);
	g_assert_false(s.by_id);
}

static void test_errors(void)
{
	SPEC_ERR("'protocol' is missing", 0);
	SPEC_ERR("'dst' is missing", 2, "protocol", "s", "tcp", "src", "s", "10.0.0.1");
	SPEC_ERR("'sport' is missing", 3, "protocol", "s", "tcp", "src", "s", "10.0.0.1", "dst", "s", "10.0.0.2");
	SPEC_ERR("'icmp-id' is missing", 5, "protocol", "s", "icmp", "src", "s", "10.0.0.1", "dst", "s", "10.0.0.2",
		 "icmp-type", "y", 8, "icmp-code", "y", 0);
	SPEC_ERR("'dport' does not apply", 7, "protocol", "s", "icmp", "src", "s", "10.0.0.1", "dst", "s", "10.0.0.2",
		 "icmp-type", "y", 8, "icmp-code", "y", 0, "icmp-id", "q", 1, "dport", "q", 1);
	SPEC_ERR("'icmp-type' does not apply", 6, "protocol", "s", "udp", "src", "s", "10.0.0.1", "dst", "s",
		 "10.0.0.2", "sport", "q", 1, "dport", "q", 2, "icmp-type", "y", 3);
	SPEC_ERR("'protocol'", 5, "protocol", "s", "icmp", "src", "s", "::1", "dst", "s", "::1",
		 "icmp-type", "y", 8, "icmp-code", "y", 0);
	SPEC_ERR("only be deleted by 'id'", 3, "protocol", "s", "gre", "src", "s", "10.0.0.1", "dst", "s", "10.0.0.2");
	SPEC_ERR("'src'", 1, "src", "s", "10.0.0.0/24");
	SPEC_ERR("'src'", 1, "src", "s", "10.0.0.1/32");
	SPEC_ERR("'dst'", 2, "src", "s", "10.0.0.1", "dst", "s", "::2");
	SPEC_ERR("'id'", 1, "id", "t", (uint64_t)1 << 32);
	SPEC_ERR("'id'", 1, "id", "s", "5");
	SPEC_ERR("'sport'", 1, "sport", "i", -1);
	SPEC_ERR("'zone'", 1, "zone", "u", 70000);
	SPEC_ERR("'colour'", 1, "colour", "s", "red");
	SPEC_ERR("more than once", 2, "id", "u", 1, "id", "u", 2);
	/* id with a partial tuple is a tuple missing its parts, not an id lookup */
	SPEC_ERR("'protocol' is missing", 2, "id", "u", 1, "zone", "q", 1);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/connspec/valid", test_valid);
	g_test_add_func("/connspec/errors", test_errors);
	return g_test_run();
}
