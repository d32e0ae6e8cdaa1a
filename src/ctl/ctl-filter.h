/* connectionsctl's filter: conntrack(8)-style options collected into the
 * service's a{sv} filter (and into Delete's connection). Values are checked
 * here only as far as their D-Bus type needs; the service says what else is
 * wrong, naming the key. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#define CTL_FILTER_MAX 32

struct ctl_value {
	const char *key;   /* the service's key: "src", "mark-mask", ... */
	const char *option; /* the option it came from, for messages */
	char type;         /* 's', 'q', 'u', 'b', 'y' or 'a' (as, comma-separated text) */
	const char *s;
	uint32_t u;
};

struct ctl_filter {
	struct ctl_value v[CTL_FILTER_MAX];
	unsigned n;
};

/* Adds the value of one option; on a malformed number or a key given twice
 * prints one line naming the option and returns -EINVAL. */
int ctl_filter_add(struct ctl_filter *f, const char *key, const char *option, char type, const char *arg);
/* -m VALUE[/MASK]: mark and mark-mask. */
int ctl_filter_add_mark(struct ctl_filter *f, const char *option, const char *arg);
const struct ctl_value *ctl_filter_get(const struct ctl_filter *f, const char *key);

/* Appends every value as an a{sv}. */
int ctl_filter_append(sd_bus_message *m, const struct ctl_filter *f);

/* A number 0..max (decimal, or hex with 0x); -1 if malformed. */
int64_t ctl_parse_uint(const char *s, uint64_t max);
