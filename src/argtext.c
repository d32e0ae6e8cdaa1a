#include "argtext.h"

#include <stdint.h>
#include <string.h>

/* Appends the current variant's value as text. */
static int format_value(sd_bus_message *m, const char *contents, GString *out)
{
	union { uint8_t y; int16_t n; uint16_t q; int32_t i; uint32_t u; int64_t x; uint64_t t;
		int b; const char *s; } v;
	int r;

	if (strcmp(contents, "as") == 0) {
		if ((r = sd_bus_message_enter_container(m, 'a', "s")) < 0)
			return r;
		for (int first = 1; (r = sd_bus_message_read_basic(m, 's', &v.s)) > 0; first = 0)
			g_string_append_printf(out, "%s%s", first ? "" : ",", v.s);
		if (r < 0)
			return r;
		return sd_bus_message_exit_container(m);
	}
	if (strlen(contents) != 1 || !strchr("ynqiuxtbs", contents[0]))
		return sd_bus_message_skip(m, contents);
	if ((r = sd_bus_message_read_basic(m, contents[0], &v)) < 0)
		return r;
	switch (contents[0]) {
	case 'y': g_string_append_printf(out, "%u", v.y); break;
	case 'n': g_string_append_printf(out, "%d", v.n); break;
	case 'q': g_string_append_printf(out, "%u", v.q); break;
	case 'i': g_string_append_printf(out, "%d", v.i); break;
	case 'u': g_string_append_printf(out, "%u", v.u); break;
	case 'x': g_string_append_printf(out, "%lld", (long long)v.x); break;
	case 't': g_string_append_printf(out, "%llu", (unsigned long long)v.t); break;
	case 'b': g_string_append(out, v.b ? "true" : "false"); break;
	case 's': g_string_append(out, v.s); break;
	}
	return 0;
}

int argtext_walk(sd_bus_message *m, void (*fn)(const char *key, const char *value, void *userdata),
		 void *userdata)
{
	g_autoptr(GString) value = g_string_new(NULL);
	const char *key, *contents;
	char type;
	int r;

	if ((r = sd_bus_message_rewind(m, 1)) < 0 || (r = sd_bus_message_enter_container(m, 'a', "{sv}")) <= 0)
		return r;
	while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		if ((r = sd_bus_message_read_basic(m, 's', &key)) < 0 ||
		    (r = sd_bus_message_peek_type(m, &type, &contents)) < 0 ||
		    (r = sd_bus_message_enter_container(m, 'v', contents)) < 0)
			return r;
		g_string_truncate(value, 0);
		if ((r = format_value(m, contents, value)) < 0 ||
		    (r = sd_bus_message_exit_container(m)) < 0 || (r = sd_bus_message_exit_container(m)) < 0)
			return r;
		fn(key, value->str, userdata);
	}
	return r;
}

static void join_one(const char *key, const char *value, void *userdata)
{
	GString *out = userdata;
	g_string_append_printf(out, "%s%s=%s", out->len ? " " : "", key, value);
}

char *argtext_join(sd_bus_message *m)
{
	GString *out = g_string_new(NULL);
	(void)argtext_walk(m, join_one, out);   /* what could be read is shown */
	return g_string_free(out, FALSE);
}
