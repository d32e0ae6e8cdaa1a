/* Fuzz target: the a{sv} parsers (List/DeleteMatching filters, List options
 * via the same integer reader, Delete's connection) with D-Bus messages
 * whose keys, value types, nesting and values all come from the input.
 *
 * The input is a little program: per entry, one byte picks a key (a known
 * one, or a string from the input), then a value is built recursively:
 * one byte picks the type (basic types, arrays, nested variants and
 * dictionaries), the following bytes give its contents. */
#include <stdint.h>
#include <string.h>

#include "../unit/busmsg.h"
#include "connspec.h"
#include "filter.h"
#include "kfilter.h"

struct input { const uint8_t *p; size_t n; };

static uint8_t byte(struct input *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static uint64_t u64(struct input *in)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | byte(in);
	return v;
}

static void str(struct input *in, char *out, size_t max)
{
	size_t len = byte(in) % max, i;
	for (i = 0; i < len && in->n; i++)
		out[i] = (char)(byte(in) | 1);   /* no NUL inside */
	out[i] = '\0';
}

static const char *const keys[] = {
	"family", "protocol", "state", "status", "address", "src", "dst", "reply-src",
	"reply-dst", "port", "sport", "dport", "mark", "mark-mask", "zone", "nat",
	"nat-address", "interface", "stale", "sport", "icmp-type", "icmp-code", "icmp-id", "id",
	"offset", "limit", "sort", "reverse",
};
static const char *const strings[] = {
	"tcp", "udp", "icmp", "ipv4", "ipv6", "ESTABLISHED", "established", "10.0.0.1",
	"10.0.0.0/8", "::1", "2001:db8::/33", "198.51.100.2/32", "snat", "none", "wan1", "17",
	"256", "1.2.3.4/", "/24", "", "ASSURED", "UNREPLIED", "bytes",
};

static int value(sd_bus_message *m, struct input *in, int depth);

static int basic_string(sd_bus_message *m, struct input *in, char type)
{
	char buf[80];
	if (byte(in) & 1)
		return sd_bus_message_append_basic(m, type, strings[byte(in) % (sizeof(strings) / sizeof(*strings))]);
	str(in, buf, sizeof(buf));
	return sd_bus_message_append_basic(m, type, buf);
}

/* Appends one variant whose contents the input chooses. */
static int value(sd_bus_message *m, struct input *in, int depth)
{
	uint8_t t = byte(in) % (depth > 6 ? 10 : 14);
	uint64_t v = u64(in);
	int r;

	switch (t) {
	case 0: { uint8_t x = (uint8_t)v; return sd_bus_message_append(m, "v", "y", x); }
	case 1: { int16_t x = (int16_t)v; return sd_bus_message_append(m, "v", "n", x); }
	case 2: { uint16_t x = (uint16_t)v; return sd_bus_message_append(m, "v", "q", x); }
	case 3: { int32_t x = (int32_t)v; return sd_bus_message_append(m, "v", "i", x); }
	case 4: { uint32_t x = (uint32_t)v; return sd_bus_message_append(m, "v", "u", x); }
	case 5: return sd_bus_message_append(m, "v", "x", (int64_t)v);
	case 6: return sd_bus_message_append(m, "v", "t", v);
	case 7: return sd_bus_message_append(m, "v", "b", (int)(v & 1));
	case 8: return sd_bus_message_append(m, "v", "d", (double)(int64_t)v / 7.0);
	case 9:
		if ((r = sd_bus_message_open_container(m, 'v', "s")) < 0 || (r = basic_string(m, in, 's')) < 0)
			return r;
		return sd_bus_message_close_container(m);
	case 10: {   /* as */
		unsigned n = byte(in) % 40;
		if ((r = sd_bus_message_open_container(m, 'v', "as")) < 0 ||
		    (r = sd_bus_message_open_container(m, 'a', "s")) < 0)
			return r;
		for (unsigned i = 0; i < n && r >= 0; i++)
			r = basic_string(m, in, 's');
		if (r < 0 || (r = sd_bus_message_close_container(m)) < 0)
			return r;
		return sd_bus_message_close_container(m);
	}
	case 11:   /* a variant in a variant */
		if ((r = sd_bus_message_open_container(m, 'v', "v")) < 0 || (r = value(m, in, depth + 1)) < 0)
			return r;
		return sd_bus_message_close_container(m);
	case 12: { /* a{sv} inside */
		unsigned n = byte(in) % 4;
		if ((r = sd_bus_message_open_container(m, 'v', "a{sv}")) < 0 ||
		    (r = sd_bus_message_open_container(m, 'a', "{sv}")) < 0)
			return r;
		for (unsigned i = 0; i < n && r >= 0; i++) {
			if ((r = sd_bus_message_open_container(m, 'e', "sv")) < 0 ||
			    (r = sd_bus_message_append(m, "s", keys[byte(in) % (sizeof(keys) / sizeof(*keys))])) < 0 ||
			    (r = value(m, in, depth + 1)) < 0)
				return r;
			r = sd_bus_message_close_container(m);
		}
		if (r < 0 || (r = sd_bus_message_close_container(m)) < 0)
			return r;
		return sd_bus_message_close_container(m);
	}
	default: { /* ai */
		unsigned n = byte(in) % 16;
		if ((r = sd_bus_message_open_container(m, 'v', "ai")) < 0 ||
		    (r = sd_bus_message_open_container(m, 'a', "i")) < 0)
			return r;
		for (unsigned i = 0; i < n && r >= 0; i++)
			r = sd_bus_message_append(m, "i", (int32_t)u64(in));
		if (r < 0 || (r = sd_bus_message_close_container(m)) < 0)
			return r;
		return sd_bus_message_close_container(m);
	}
	}
}

static int fake_iface(void *u, const char *name, GArray *out)
{
	struct addr_prefix p;
	if (strcmp(name, "wan1") != 0)
		return -ENOENT;
	addr_prefix_parse("198.51.100.2", &p);
	g_array_append_val(out, p);
	return 0;
}

static int fake_stale(void *u, GArray *out)
{
	struct addr_prefix p;
	addr_prefix_parse("2001:db8::5", &p);
	g_array_append_val(out, p);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct filter_env env = { NULL, fake_iface, fake_stale, NULL };
	static const struct ct_kcaps caps = { true, true };
	struct input in = { data, size };
	sd_bus_message *m = new_call();
	int r = sd_bus_message_open_container(m, 'a', "{sv}");
	unsigned entries = byte(&in) % 24;

	for (unsigned i = 0; i < entries && r >= 0; i++) {
		char key[64];
		uint8_t k = byte(&in);
		if (k < 200)
			snprintf(key, sizeof(key), "%s", keys[k % (sizeof(keys) / sizeof(*keys))]);
		else
			str(&in, key, sizeof(key));
		if ((r = sd_bus_message_open_container(m, 'e', "sv")) < 0 ||
		    (r = sd_bus_message_append(m, "s", key)) < 0 || (r = value(m, &in, 0)) < 0)
			break;
		r = sd_bus_message_close_container(m);
	}
	if (r < 0 || sd_bus_message_close_container(m) < 0) {
		sd_bus_message_unref(m);   /* the input made an invalid message: sd-bus refused it */
		return 0;
	}
	seal(m);

	struct ct_filter f;
	sd_bus_error e = SD_BUS_ERROR_NULL;
	if (filter_parse(m, &f, &env, &e) >= 0) {
		struct ct_record recs[3] = { { .family = AF_INET, .proto = 6 }, { .family = AF_INET6, .proto = 17 },
					     { .family = AF_INET, .proto = 1, .status = 0x30 } };
		struct ct_kfilter kf;
		recs[0].t[1].dst[0] = 198;
		for (int i = 0; i < 3; i++)
			(void)filter_match(&f, &recs[i]);
		filter_to_kernel(&f, &caps, &kf);
	} else if (!sd_bus_error_is_set(&e))
		abort();   /* every refusal must say why */
	filter_clear(&f);
	sd_bus_error_free(&e);

	struct conn_spec spec;
	if (sd_bus_message_rewind(m, 1) >= 0 && conn_spec_parse(m, &spec, &e) < 0 && !sd_bus_error_is_set(&e))
		abort();
	sd_bus_error_free(&e);
	sd_bus_message_unref(m);
	return 0;
}
