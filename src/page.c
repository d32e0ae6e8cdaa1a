#include "page.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

static const char *const sort_names[] = {
	[SORT_ID] = "id", [SORT_PROTOCOL] = "protocol", [SORT_STATE] = "state",
	[SORT_SRC] = "src", [SORT_DST] = "dst", [SORT_SPORT] = "sport",
	[SORT_DPORT] = "dport", [SORT_TIMEOUT] = "timeout", [SORT_BYTES] = "bytes",
	[SORT_PACKETS] = "packets", [SORT_START] = "start",
};

int sort_key_from_name(const char *name)
{
	for (size_t i = 1; i < sizeof(sort_names) / sizeof(sort_names[0]); i++)
		if (strcmp(sort_names[i], name) == 0)
			return (int)i;
	return -1;
}

/* Up to 16 characters packed big-endian: integer order == string order. */
static void pack_str(const char *s, uint64_t k[2])
{
	uint8_t b[16] = { 0 };
	size_t n = strnlen(s, 16);
	memcpy(b, s, n);
	k[0] = k[1] = 0;
	for (int i = 0; i < 8; i++) {
		k[0] = (k[0] << 8) | b[i];
		k[1] = (k[1] << 8) | b[8 + i];
	}
}

/* Addresses sort in IPv6 order, IPv4 as ::ffff:a.b.c.d. */
static void pack_addr(uint8_t family, const uint8_t *a, uint64_t k[2])
{
	uint8_t b[16] = { 0 };
	if (family == AF_INET) {
		b[10] = b[11] = 0xff;
		memcpy(b + 12, a, 4);
	} else
		memcpy(b, a, 16);
	k[0] = k[1] = 0;
	for (int i = 0; i < 8; i++) {
		k[0] = (k[0] << 8) | b[i];
		k[1] = (k[1] << 8) | b[8 + i];
	}
}

static void make_key(const struct page *p, const struct ct_record *r, uint64_t k[2])
{
	char buf[4];
	const char *s;

	k[0] = k[1] = 0;
	switch (p->sort) {
	case SORT_NONE:     k[0] = p->total; break;   /* dump position */
	case SORT_ID:       k[0] = r->id; break;
	case SORT_PROTOCOL: pack_str(ct_proto_name(r->proto, buf), k); break;
	case SORT_STATE:
		s = (r->flags & CT_HAS_STATE) ? ct_state_name(r->proto, r->state) : "";
		pack_str(s ? s : "", k);
		break;
	case SORT_SRC:      pack_addr(r->family, r->t[CT_ORIG].src, k); break;
	case SORT_DST:      pack_addr(r->family, r->t[CT_ORIG].dst, k); break;
	case SORT_SPORT:    k[0] = r->t[CT_ORIG].sport; break;
	case SORT_DPORT:    k[0] = r->t[CT_ORIG].dport; break;
	case SORT_TIMEOUT:  k[0] = r->timeout; break;
	case SORT_BYTES:    k[0] = r->bytes[0] + r->bytes[1]; break;
	case SORT_PACKETS:  k[0] = r->packets[0] + r->packets[1]; break;
	case SORT_START:    k[0] = r->start_ns; break;
	}
}

/* <0 when a comes before b in the page. Equal keys keep dump order, also
 * when reversed (a stable sort of the reversed key). */
static int slot_cmp(const struct page_slot *a, const struct page_slot *b, bool reverse)
{
	for (int i = 0; i < 2; i++)
		if (a->k[i] != b->k[i])
			return ((a->k[i] < b->k[i]) != reverse) ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq ? 1 : 0;
}

void page_init(struct page *p, uint64_t offset, uint64_t limit, enum sort_key sort,
	       bool reverse, size_t keep_max)
{
	memset(p, 0, sizeof(*p));
	p->offset = offset;
	p->limit = limit;
	p->sort = sort;
	p->reverse = reverse;
	p->heap_mode = sort != SORT_NONE || reverse;
	p->cap = (size_t)(offset + limit);  /* both are at most 2^32 */
	p->keep = p->cap <= keep_max;
}

static void sift_down(struct page *p, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < p->nheap && slot_cmp(&p->heap[l], &p->heap[m], p->reverse) > 0)
			m = l;
		if (r < p->nheap && slot_cmp(&p->heap[r], &p->heap[m], p->reverse) > 0)
			m = r;
		if (m == i)
			return;
		struct page_slot t = p->heap[i];
		p->heap[i] = p->heap[m];
		p->heap[m] = t;
		i = m;
	}
}

static void sift_up(struct page *p, size_t i)
{
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (slot_cmp(&p->heap[i], &p->heap[parent], p->reverse) <= 0)
			return;
		struct page_slot t = p->heap[i];
		p->heap[i] = p->heap[parent];
		p->heap[parent] = t;
		i = parent;
	}
}

/* Grows *arr (of *alloc elements) geometrically so that it holds need
 * elements, never beyond cap. */
static int grow(void **arr, size_t alloc, size_t need, size_t cap, size_t size, size_t *new_alloc)
{
	size_t n = alloc ? alloc : 64;
	while (n < need)
		n *= 2;
	if (n > cap)
		n = cap;
	void *a = reallocarray(*arr, n, size);
	if (!a)
		return -ENOMEM;
	*arr = a;
	*new_alloc = n;
	return 0;
}

int page_add(struct page *p, const struct ct_record *r)
{
	uint64_t pos = p->total++;

	if (p->limit == 0)
		return 0;
	if (!p->heap_mode) {
		if (pos < p->offset || pos >= p->offset + p->limit)
			return 0;
		if (p->nout == p->out_alloc &&
		    grow((void **)&p->out, p->out_alloc, p->nout + 1, (size_t)p->limit,
			 sizeof(*p->out), &p->out_alloc) < 0)
			return -ENOMEM;
		p->out[p->nout++] = *r;
		return 0;
	}

	struct page_slot s = { .seq = pos, .ident = ct_record_ident(r) };
	make_key(p, r, s.k);
	if (p->sort == SORT_NONE)
		s.k[0] = pos;

	if (p->nheap < p->cap) {
		if (p->nheap == p->alloc) {
			size_t a = p->alloc;
			if (grow((void **)&p->heap, p->alloc, p->nheap + 1, p->cap, sizeof(*p->heap), &a) < 0)
				return -ENOMEM;
			if (p->keep && grow((void **)&p->pool, p->alloc, p->nheap + 1, p->cap,
					    sizeof(*p->pool), &a) < 0)
				return -ENOMEM;
			p->alloc = a;
		}
		s.idx = (uint32_t)p->nheap;
		if (p->keep)
			p->pool[s.idx] = *r;
		p->heap[p->nheap] = s;
		sift_up(p, p->nheap++);
		return 0;
	}
	/* Full: replace the worst slot if the new record comes before it. */
	if (slot_cmp(&s, &p->heap[0], p->reverse) >= 0)
		return 0;
	s.idx = p->heap[0].idx;
	if (p->keep)
		p->pool[s.idx] = *r;
	p->heap[0] = s;
	sift_down(p, 0);
	return 0;
}

static int qcmp(const void *a, const void *b, void *reverse)
{
	return slot_cmp(a, b, *(const bool *)reverse);
}

/* recs[i] = old recs[slots[i].idx] for every i, in place: the idx of n
 * slots are a permutation of 0..n-1, walked cycle by cycle. */
static int reorder(struct ct_record *recs, const struct page_slot *slots, size_t n)
{
	uint8_t *done = calloc((n + 7) / 8, 1);

	if (!done)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct ct_record first;
		size_t j = i;

		if (done[i / 8] & (1u << (i % 8)))
			continue;
		first = recs[i];
		for (;;) {
			size_t k = slots[j].idx;
			done[j / 8] |= (uint8_t)(1u << (j % 8));
			if (k == i) {
				recs[j] = first;
				break;
			}
			recs[j] = recs[k];
			j = k;
		}
	}
	free(done);
	return 0;
}

bool page_window_full(const struct page *p)
{
	return !p->heap_mode && p->total >= p->offset + p->limit;
}

int page_finish(struct page *p)
{
	size_t start, n;

	if (!p->heap_mode)
		return 0;
	if (p->nheap > 1)   /* an empty heap was never allocated */
		qsort_r(p->heap, p->nheap, sizeof(*p->heap), qcmp, &p->reverse);
	start = p->offset < p->nheap ? (size_t)p->offset : p->nheap;
	n = p->nheap - start;
	if (n > p->limit)
		n = (size_t)p->limit;
	if (n) {
		p->out = calloc(n, sizeof(*p->out));
		if (!p->out)
			return -ENOMEM;
		p->out_alloc = n;
	}
	p->nout = n;
	if (p->keep) {
		for (size_t i = 0; i < n; i++)
			p->out[i] = p->pool[p->heap[start + i].idx];
	} else if (n) {
		p->want = g_hash_table_new(g_int64_hash, g_int64_equal);
		p->have = calloc(n, sizeof(*p->have));
		p->want_keys = calloc(n, sizeof(*p->want_keys));
		if (!p->have || !p->want_keys)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			p->want_keys[i] = p->heap[start + i].ident;
			g_hash_table_insert(p->want, &p->want_keys[i], GSIZE_TO_POINTER(i + 1));
		}
	}
	free(p->heap);
	p->heap = NULL;
	free(p->pool);
	p->pool = NULL;
	p->nheap = 0;
	return 0;
}

int page_sort_records(struct ct_record *recs, size_t n, enum sort_key sort, bool reverse)
{
	struct page p = { .sort = sort, .reverse = reverse };
	struct page_slot *slots;
	int r;

	if (n < 2)
		return 0;
	if (!(slots = calloc(n, sizeof(*slots))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		p.total = i;   /* SORT_NONE's key: the dump position */
		make_key(&p, &recs[i], slots[i].k);
		slots[i].seq = i;
		slots[i].idx = (uint32_t)i;
	}
	qsort_r(slots, n, sizeof(*slots), qcmp, &p.reverse);
	r = reorder(recs, slots, n);
	free(slots);
	return r;
}

bool page_needs_second_pass(const struct page *p)
{
	return p->want != NULL;
}

void page_fill(struct page *p, const struct ct_record *r)
{
	uint64_t ident = ct_record_ident(r);
	size_t pos = GPOINTER_TO_SIZE(g_hash_table_lookup(p->want, &ident));
	if (pos == 0)
		return;
	p->out[pos - 1] = *r;
	p->have[pos - 1] = true;
}

void page_compact(struct page *p)
{
	size_t j = 0;
	for (size_t i = 0; i < p->nout; i++)
		if (p->have[i])
			p->out[j++] = p->out[i];
	p->nout = j;
}

void page_free(struct page *p)
{
	free(p->heap);
	free(p->pool);
	free(p->out);
	free(p->have);
	free(p->want_keys);
	if (p->want)
		g_hash_table_unref(p->want);
	memset(p, 0, sizeof(*p));
}
