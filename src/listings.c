#include "listings.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <glib.h>

#include "log.h"

struct listings {
	sd_event *event;
	sd_event_source *sweep;   /* drops listings nobody read for idle_usec */
	GHashTable *by_key;       /* key -> struct listing * (owned) */
	size_t budget, bytes;
	uint64_t idle_usec;
	bool building;
};

static size_t listing_bytes(const struct listing *l)
{
	return l->n * sizeof(*l->recs);
}

static void listing_free(gpointer p)
{
	struct listing *l = p;

	l->set->bytes -= listing_bytes(l);
	sd_bus_track_unref(l->caller);
	free(l->recs);
	g_free(l->sender);
	g_free(l->key);
	g_free(l);
}

static uint64_t now_usec(const struct listings *ls)
{
	uint64_t t = 0;
	(void)sd_event_now(ls->event, CLOCK_MONOTONIC, &t);
	return t;
}

static void drop(struct listings *ls, struct listing *l, const char *why)
{
	log_debug("Dropping the kept listing of %zu entries for %s: %s", l->n, l->sender, why);
	g_hash_table_remove(ls->by_key, l->key);   /* frees l */
}

static int sweep_cb(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct listings *ls = userdata;
	GHashTableIter it;
	gpointer value;

	g_hash_table_iter_init(&it, ls->by_key);
	while (g_hash_table_iter_next(&it, NULL, &value)) {
		struct listing *l = value;
		if (usec >= l->last_used + ls->idle_usec) {
			log_debug("Dropping the kept listing of %zu entries for %s: nobody read it for a while",
				  l->n, l->sender);
			g_hash_table_iter_remove(&it);
		}
	}
	if (g_hash_table_size(ls->by_key) == 0)
		return sd_event_source_set_enabled(s, SD_EVENT_OFF);
	return sd_event_source_set_time(s, usec + ls->idle_usec / 2);
}

int listings_new(sd_event *e, size_t budget, uint64_t idle_usec, struct listings **ret)
{
	struct listings *ls = g_new0(struct listings, 1);
	int r;

	ls->event = sd_event_ref(e);
	ls->budget = budget;
	ls->idle_usec = idle_usec;
	ls->by_key = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, listing_free);
	r = sd_event_add_time(e, &ls->sweep, CLOCK_MONOTONIC, 0, 0, sweep_cb, ls);
	if (r >= 0)
		r = sd_event_source_set_enabled(ls->sweep, SD_EVENT_OFF);
	if (r < 0) {
		listings_free(ls);
		return r;
	}
	*ret = ls;
	return 0;
}

void listings_free(struct listings *ls)
{
	if (!ls)
		return;
	g_hash_table_destroy(ls->by_key);
	sd_event_source_disable_unref(ls->sweep);
	sd_event_unref(ls->event);
	g_free(ls);
}

char *listing_key(const char *sender, const char *sort, bool reverse, const char *filter)
{
	return g_strdup_printf("%s\n%s\n%d\n%s", sender ? sender : "", sort ? sort : "", reverse,
			       filter ? filter : "");
}

struct listing *listings_find(struct listings *ls, const char *key)
{
	struct listing *l = g_hash_table_lookup(ls->by_key, key);
	if (l)
		l->last_used = now_usec(ls);
	return l;
}

size_t listings_begin_build(struct listings *ls)
{
	if (ls->building || ls->budget < sizeof(struct ct_record))
		return 0;
	ls->building = true;
	return ls->budget / sizeof(struct ct_record);
}

void listings_end_build(struct listings *ls)
{
	ls->building = false;
}

static int caller_left(sd_bus_track *t, void *userdata)
{
	struct listing *l = userdata;
	drop(l->set, l, "the caller left the bus");
	return 0;
}

static struct listing *least_recently_used(struct listings *ls)
{
	struct listing *oldest = NULL;
	GHashTableIter it;
	gpointer value;

	g_hash_table_iter_init(&it, ls->by_key);
	while (g_hash_table_iter_next(&it, NULL, &value)) {
		struct listing *l = value;
		if (!oldest || l->last_used < oldest->last_used)
			oldest = l;
	}
	return oldest;
}

struct listing *listings_keep(struct listings *ls, sd_bus *bus, const char *sender, char *key,
			      struct ct_record *recs, size_t n)
{
	struct listing *l, *old;
	size_t need = n * sizeof(*recs);
	int r;

	if ((old = g_hash_table_lookup(ls->by_key, key)))
		g_hash_table_remove(ls->by_key, key);
	if (need > ls->budget || !sender) {
		free(recs);
		g_free(key);
		return NULL;
	}
	while (ls->bytes + need > ls->budget && (old = least_recently_used(ls)))
		drop(ls, old, "its room in the budget went to a newer one");

	l = g_new0(struct listing, 1);
	*l = (struct listing){ .key = key, .sender = g_strdup(sender), .recs = recs, .n = n, .set = ls,
			       .last_used = now_usec(ls) };
	ls->bytes += need;
	g_hash_table_insert(ls->by_key, l->key, l);
	if ((r = sd_bus_track_new(bus, &l->caller, caller_left, l)) < 0 ||
	    (r = sd_bus_track_add_name(l->caller, sender)) < 0) {
		/* Without knowing when the caller leaves, only the sweep ends it. */
		log_debug("Cannot follow %s for its listing: %s", sender, strerror(-r));
	}
	if (sd_event_source_get_enabled(ls->sweep, NULL) == 0) {
		(void)sd_event_source_set_time(ls->sweep, l->last_used + ls->idle_usec / 2);
		(void)sd_event_source_set_enabled(ls->sweep, SD_EVENT_ON);
	}
	return l;
}

size_t listings_count(const struct listings *ls)
{
	return g_hash_table_size(ls->by_key);
}

size_t listings_bytes(const struct listings *ls)
{
	return ls->bytes;
}
