#include "reslimits.h"

#include <errno.h>
#include <glib.h>
#include <stdlib.h>

struct limits {
	GHashTable *callers;          /* unique name -> unsigned[_LIMIT_MAX] */
	unsigned total[_LIMIT_MAX];
};

static const unsigned per_caller[_LIMIT_MAX] = { LIMIT_AUTH_PER_CALLER, LIMIT_WORK_PER_CALLER };
static const unsigned total_max[_LIMIT_MAX] = { LIMIT_AUTH_TOTAL, LIMIT_WORK_TOTAL };
static const char *const what[_LIMIT_MAX] = { "authorizations pending", "calls in progress" };

int limits_new(struct limits **ret)
{
	struct limits *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->callers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	*ret = l;
	return 0;
}

void limits_free(struct limits *l)
{
	if (!l)
		return;
	g_hash_table_unref(l->callers);
	free(l);
}

int limits_acquire(struct limits *l, const char *sender, enum limit_kind kind, sd_bus_error *error)
{
	unsigned *used;

	if (!sender)
		sender = "";
	used = g_hash_table_lookup(l->callers, sender);
	if (l->total[kind] >= total_max[kind])
		return sd_bus_error_setf(error, SD_BUS_ERROR_LIMITS_EXCEEDED,
					 "Too many %s in all (%u); try again later", what[kind], total_max[kind]);
	if (used && used[kind] >= per_caller[kind])
		return sd_bus_error_setf(error, SD_BUS_ERROR_LIMITS_EXCEEDED,
					 "Too many %s for %s (%u); wait for the answers", what[kind], sender,
					 per_caller[kind]);
	if (!used) {
		used = g_new0(unsigned, _LIMIT_MAX);
		g_hash_table_insert(l->callers, g_strdup(sender), used);
	}
	used[kind]++;
	l->total[kind]++;
	return 0;
}

void limits_release(struct limits *l, const char *sender, enum limit_kind kind)
{
	unsigned *used = g_hash_table_lookup(l->callers, sender ? sender : "");

	if (!used || used[kind] == 0)
		return;
	used[kind]--;
	l->total[kind]--;
	for (int k = 0; k < _LIMIT_MAX; k++)
		if (used[k])
			return;
	g_hash_table_remove(l->callers, sender ? sender : "");   /* no entry per departed caller */
}
