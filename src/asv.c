#include "asv.h"

#include <glib.h>
#include <string.h>

#include "errors.h"

int dict_next(sd_bus_message *m, const char *const *names, unsigned n, uint64_t *seen,
	      const char *what, unsigned *index, const char **contents, sd_bus_error *error)
{
	const char *key;
	char type;
	unsigned k;
	int r;

	if ((r = sd_bus_message_enter_container(m, 'e', "sv")) <= 0) {
		if (r < 0)
			return r;
		return (r = sd_bus_message_exit_container(m)) < 0 ? r : 0;
	}
	if ((r = sd_bus_message_read_basic(m, 's', &key)) < 0)
		return r;
	for (k = 0; k < n; k++)
		if (strcmp(names[k], key) == 0)
			break;
	if (k == n)
		return INVALID(error, "Unknown %s '%s'", what, key);
	if ((*seen >> k) & 1u)
		return INVALID(error, "%c%s '%s' is given more than once", g_ascii_toupper(what[0]), what + 1, key);
	*seen |= 1ull << k;
	if ((r = sd_bus_message_peek_type(m, &type, contents)) < 0 ||
	    (r = sd_bus_message_enter_container(m, 'v', *contents)) < 0)
		return r;
	*index = k;
	return 1;
}

int dict_entry_end(sd_bus_message *m)
{
	int r = sd_bus_message_exit_container(m);   /* the variant */
	return r < 0 ? r : sd_bus_message_exit_container(m);   /* the entry */
}

int variant_read_uint(sd_bus_message *m, const char *what, const char *key, const char *contents,
		      uint64_t max, uint64_t *out, sd_bus_error *error)
{
	union { uint8_t y; int16_t n; uint16_t q; int32_t i; uint32_t u; int64_t x; uint64_t t; } v;
	int64_t sv = 0;
	uint64_t uv = 0;
	bool is_signed = false;
	int r;

	if (strlen(contents) != 1 || !strchr("ynqiuxt", contents[0]))
		return INVALID(error, "%s '%s' must be an integer, got type '%s'", what, key, contents);
	r = sd_bus_message_read_basic(m, contents[0], &v);
	if (r < 0)
		return r;
	switch (contents[0]) {
	case 'y': uv = v.y; break;
	case 'q': uv = v.q; break;
	case 'u': uv = v.u; break;
	case 't': uv = v.t; break;
	case 'n': sv = v.n; is_signed = true; break;
	case 'i': sv = v.i; is_signed = true; break;
	case 'x': sv = v.x; is_signed = true; break;
	}
	if (is_signed) {
		if (sv < 0)
			return INVALID(error, "%s '%s': value %lld is negative", what, key, (long long)sv);
		uv = (uint64_t)sv;
	}
	if (uv > max)
		return INVALID(error, "%s '%s': value %llu is out of range 0..%llu", what, key,
			       (unsigned long long)uv, (unsigned long long)max);
	*out = uv;
	return 0;
}

int variant_read_string(sd_bus_message *m, const char *what, const char *key, const char *contents,
			const char **out, sd_bus_error *error)
{
	if (strcmp(contents, "s") != 0)
		return INVALID(error, "%s '%s' must be of type 's', got '%s'", what, key, contents);
	return sd_bus_message_read_basic(m, 's', out);
}

int variant_read_bool(sd_bus_message *m, const char *what, const char *key, const char *contents,
		      bool *out, sd_bus_error *error)
{
	int b, r;

	if (strcmp(contents, "b") != 0)
		return INVALID(error, "%s '%s' must be of type 'b', got '%s'", what, key, contents);
	if ((r = sd_bus_message_read_basic(m, 'b', &b)) < 0)
		return r;
	*out = b;
	return 0;
}
