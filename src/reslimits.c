#include "reslimits.h"

#include <errno.h>
#include <glib.h>
#include <stdbool.h>
#include <stdlib.h>

struct limits {
	uid_t self;
	GHashTable *users;            /* uid -> unsigned[_LIMIT_MAX] */
	unsigned total[_LIMIT_MAX];   /* every user's but self's */
};

static const unsigned per_user[_LIMIT_MAX] = { LIMIT_AUTH_PER_USER, LIMIT_WORK_PER_USER };
static const unsigned total_max[_LIMIT_MAX] = { LIMIT_AUTH_TOTAL, LIMIT_WORK_TOTAL };
static const char *const what[_LIMIT_MAX] = { "authorizations pending", "calls in progress" };

int limits_new(uid_t self, struct limits **ret)
{
	struct limits *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->self = self;
	l->users = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
	*ret = l;
	return 0;
}

void limits_free(struct limits *l)
{
	if (!l)
		return;
	g_hash_table_unref(l->users);
	free(l);
}

int limits_acquire(struct limits *l, uid_t uid, enum limit_kind kind, sd_bus_error *error)
{
	unsigned *used = g_hash_table_lookup(l->users, GUINT_TO_POINTER(uid));
	bool own_lane = uid == l->self;

	if (!own_lane && l->total[kind] >= total_max[kind])
		return sd_bus_error_setf(error, SD_BUS_ERROR_LIMITS_EXCEEDED,
					 "Too many %s of all users (%u); try again later", what[kind],
					 total_max[kind]);
	if (used && used[kind] >= per_user[kind])
		return sd_bus_error_setf(error, SD_BUS_ERROR_LIMITS_EXCEEDED,
					 "Too many %s for uid %u (%u); wait for the answers", what[kind],
					 (unsigned)uid, per_user[kind]);
	if (!used) {
		used = g_new0(unsigned, _LIMIT_MAX);
		g_hash_table_insert(l->users, GUINT_TO_POINTER(uid), used);
	}
	used[kind]++;
	if (!own_lane)
		l->total[kind]++;
	return 0;
}

void limits_release(struct limits *l, uid_t uid, enum limit_kind kind)
{
	unsigned *used = g_hash_table_lookup(l->users, GUINT_TO_POINTER(uid));

	if (!used || used[kind] == 0)
		return;
	used[kind]--;
	if (uid != l->self)
		l->total[kind]--;
	for (int k = 0; k < _LIMIT_MAX; k++)
		if (used[k])
			return;
	g_hash_table_remove(l->users, GUINT_TO_POINTER(uid));   /* no entry per departed user */
}
