/* One page of a List: offset/limit/sort over a stream of matching records,
 * in memory bounded by offset+limit small slots (never the whole table).
 *
 * - dump order, forward: keep only the records inside the window;
 * - sorted (or reversed): a bounded max-heap of the best offset+limit
 *   (sort key, dump position) slots. Small pages keep their records in the
 *   heap; deep pages keep only ids and fetch the page's records in a second
 *   dump (page_needs_second_pass / page_fill). */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "record.h"

enum sort_key {
	SORT_NONE, SORT_ID, SORT_PROTOCOL, SORT_STATE, SORT_SRC, SORT_DST,
	SORT_SPORT, SORT_DPORT, SORT_TIMEOUT, SORT_BYTES, SORT_PACKETS, SORT_START,
};

/* Returns the key or -1 for an unknown name. */
int sort_key_from_name(const char *name);

struct page_slot {
	uint64_t k[2];
	uint64_t seq;
	uint64_t ident; /* ct_record_ident(): what the second pass looks for */
	uint32_t idx;   /* record index in the pool when the heap keeps records */
};

struct page {
	uint64_t offset, limit;
	enum sort_key sort;
	bool reverse;
	uint64_t total;            /* matching records seen */

	bool heap_mode, keep;
	struct page_slot *heap;
	size_t nheap, cap, alloc; /* alloc: slots (and pool records) allocated */
	struct ct_record *pool;    /* keep mode: cap records */

	struct ct_record *out;     /* the page, in order */
	size_t nout, out_alloc;
	GHashTable *want;          /* second pass: ident -> position + 1 */
	uint64_t *want_keys;
	bool *have;
};

/* Pages whose offset+limit exceeds keep_max slots use the two-pass mode. */
void page_init(struct page *p, uint64_t offset, uint64_t limit, enum sort_key sort,
	       bool reverse, size_t keep_max);
int page_add(struct page *p, const struct ct_record *r);
/* Orders the selection; afterwards out/nout hold the page (or, when a second
 * pass is needed, the slots to fill). */
int page_finish(struct page *p);
bool page_needs_second_pass(const struct page *p);
/* In dump order: whether every record of the page has been seen. */
bool page_window_full(const struct page *p);
void page_fill(struct page *p, const struct ct_record *r);
/* Puts n records (in dump order) into the order of sort and reverse, the
 * same as pages give them; -ENOMEM if it cannot. */
int page_sort_records(struct ct_record *recs, size_t n, enum sort_key sort, bool reverse);
/* After the second pass: drops entries that vanished between the passes. */
void page_compact(struct page *p);
void page_free(struct page *p);
