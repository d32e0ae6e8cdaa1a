/* Kept listings: the whole result of a List at offset 0 (every matching
 * record, in page order), kept for the caller, filter and sort that made it,
 * so that the later pages of that listing come from it: each entry appears
 * exactly once across them, and no page costs a kernel dump.
 *
 * A listing goes when its caller leaves the bus, when nobody has read it for
 * a while, or when newer ones need its room in the memory budget (the least
 * recently used go first). A page whose listing went is listed anew. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include "page.h"
#include "record.h"

struct listings;

struct listing {
	char *key;
	char *sender;             /* the caller's unique bus name */
	struct ct_record *recs;   /* in dump order until ordered */
	size_t n;
	enum sort_key sort;       /* the listing's order */
	bool reverse, ordered;
	uint64_t last_used;       /* CLOCK_MONOTONIC usec */
	sd_bus_track *caller;
	struct listings *set;
};

int listings_new(sd_event *e, size_t budget, uint64_t idle_usec, struct listings **ret);
void listings_free(struct listings *ls);

/* What identifies a listing: its caller, sort and filter (as text). */
char *listing_key(const char *sender, const char *sort, bool reverse, const char *filter);

/* The listing kept under key, marked as just used; NULL if there is none. */
struct listing *listings_find(struct listings *ls, const char *key);

/* One listing is built at a time, of at most the records the budget holds:
 * how many a new one may have, or 0 when one is being built or the budget
 * is 0. End each begun build with listings_end_build. */
size_t listings_begin_build(struct listings *ls);
void listings_end_build(struct listings *ls);

/* Keeps recs (n records, taken: freed with free()) under key for the caller
 * sender on bus, replacing what key had; makes room by dropping the least
 * recently used. Returns the listing, or NULL when it could not be kept
 * (recs are freed then). */
struct listing *listings_keep(struct listings *ls, sd_bus *bus, const char *sender, char *key,
			      struct ct_record *recs, size_t n);

/* Listings kept and the memory they hold (for logs and tests). */
size_t listings_count(const struct listings *ls);
size_t listings_bytes(const struct listings *ls);
