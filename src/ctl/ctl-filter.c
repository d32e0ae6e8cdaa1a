#include "ctl-filter.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t ctl_parse_uint(const char *s, uint64_t max)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || v > max)
		return -1;
	return (int64_t)v;
}

const struct ctl_value *ctl_filter_get(const struct ctl_filter *f, const char *key)
{
	for (unsigned i = 0; i < f->n; i++)
		if (strcmp(f->v[i].key, key) == 0)
			return &f->v[i];
	return NULL;
}

int ctl_filter_add(struct ctl_filter *f, const char *key, const char *option, char type, const char *arg)
{
	static const uint64_t max[128] = { ['q'] = UINT16_MAX, ['u'] = UINT32_MAX, ['y'] = UINT8_MAX };
	struct ctl_value *v;
	const struct ctl_value *old = ctl_filter_get(f, key);
	int64_t n;

	if (old) {
		fprintf(stderr, "connectionsctl: %s and %s select the same key '%s': give it once\n",
			old->option, option, key);
		return -EINVAL;
	}
	if (f->n >= CTL_FILTER_MAX)
		return -E2BIG;
	v = &f->v[f->n];
	*v = (struct ctl_value){ .key = key, .option = option, .type = type, .s = arg };
	if (type == 'q' || type == 'u' || type == 'y') {
		if ((n = ctl_parse_uint(arg, max[(int)type])) < 0) {
			fprintf(stderr, "connectionsctl: %s '%s': expected a number from 0 to %llu\n",
				option, arg, (unsigned long long)max[(int)type]);
			return -EINVAL;
		}
		v->u = (uint32_t)n;
	}
	f->n++;
	return 0;
}

int ctl_filter_add_mark(struct ctl_filter *f, const char *option, const char *arg)
{
	char value[32];
	const char *slash = strchr(arg, '/');
	int r;

	if (!slash)
		return ctl_filter_add(f, "mark", option, 'u', arg);
	if ((size_t)(slash - arg) >= sizeof(value)) {
		fprintf(stderr, "connectionsctl: %s '%s': expected VALUE[/MASK]\n", option, arg);
		return -EINVAL;
	}
	snprintf(value, sizeof(value), "%.*s", (int)(slash - arg), arg);
	if ((r = ctl_filter_add(f, "mark", option, 'u', value)) < 0)
		return r;
	/* The value's text lives in argv; keep ours alive as long as the filter. */
	f->v[f->n - 1].s = arg;
	return ctl_filter_add(f, "mark-mask", option, 'u', slash + 1);
}

static int append_strv(sd_bus_message *m, const char *list)
{
	const char *p = list;
	int r;

	if ((r = sd_bus_message_open_container(m, 'v', "as")) < 0 ||
	    (r = sd_bus_message_open_container(m, 'a', "s")) < 0)
		return r;
	while (*p) {
		size_t n = strcspn(p, ",");
		char item[64];
		if (n > 0) {
			snprintf(item, sizeof(item), "%.*s", (int)n, p);
			if ((r = sd_bus_message_append(m, "s", item)) < 0)
				return r;
		}
		p += n + (p[n] == ',');
	}
	if ((r = sd_bus_message_close_container(m)) < 0)
		return r;
	return sd_bus_message_close_container(m);
}

int ctl_filter_append(sd_bus_message *m, const struct ctl_filter *f)
{
	int r;

	if ((r = sd_bus_message_open_container(m, 'a', "{sv}")) < 0)
		return r;
	for (unsigned i = 0; i < f->n; i++) {
		const struct ctl_value *v = &f->v[i];
		if ((r = sd_bus_message_open_container(m, 'e', "sv")) < 0 ||
		    (r = sd_bus_message_append(m, "s", v->key)) < 0)
			return r;
		switch (v->type) {
		case 's': r = sd_bus_message_append(m, "v", "s", v->s); break;
		case 'q': r = sd_bus_message_append(m, "v", "q", (uint16_t)v->u); break;
		case 'u': r = sd_bus_message_append(m, "v", "u", v->u); break;
		case 'y': r = sd_bus_message_append(m, "v", "y", (uint8_t)v->u); break;
		case 'b': r = sd_bus_message_append(m, "v", "b", 1); break;
		case 'a': r = append_strv(m, v->s); break;
		default:  r = -EINVAL;
		}
		if (r < 0 || (r = sd_bus_message_close_container(m)) < 0)
			return r;
	}
	return sd_bus_message_close_container(m);
}
