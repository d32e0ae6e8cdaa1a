/* Page selection against a brute-force reference: a stable sort of every
 * record, then the [offset, offset+limit) slice. Both the one-pass mode
 * (records kept in the heap) and the two-pass mode (ids only, records
 * fetched by a second pass) are checked. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include "page.h"

#define N 600

static struct ct_record recs[N];
static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_SCTP, 99, 200 };

static void make_records(GRand *rnd)
{
	for (int i = 0; i < N; i++) {
		struct ct_record *r = &recs[i];
		memset(r, 0, sizeof(*r));
		r->id = (uint32_t)(i * 7919 + 13);
		r->family = g_rand_boolean(rnd) ? AF_INET : AF_INET6;
		r->proto = protos[g_rand_int_range(rnd, 0, sizeof(protos))];
		if (r->proto == IPPROTO_TCP || r->proto == IPPROTO_SCTP) {
			r->flags |= CT_HAS_STATE;
			r->state = (uint8_t)g_rand_int_range(rnd, 0, 9);
		}
		/* Few distinct values, so that ties (and stability) matter. */
		for (int b = 0; b < 16; b++) {
			r->t[0].src[b] = (uint8_t)g_rand_int_range(rnd, 0, 3);
			r->t[0].dst[b] = (uint8_t)g_rand_int_range(rnd, 0, 2);
		}
		r->t[0].sport = (uint16_t)g_rand_int_range(rnd, 0, 20);
		r->t[0].dport = (uint16_t)g_rand_int_range(rnd, 0, 5);
		r->timeout = (uint32_t)g_rand_int_range(rnd, 0, 50);
		r->bytes[0] = (uint64_t)g_rand_int_range(rnd, 0, 30);
		r->bytes[1] = (uint64_t)g_rand_int_range(rnd, 0, 30);
		r->packets[0] = (uint64_t)g_rand_int_range(rnd, 0, 10);
		r->start_ns = (uint64_t)g_rand_int_range(rnd, 0, 40) * 1000;
	}
}

/* The reference order, written independently of page.c's packed keys. */
static enum sort_key ref_key;
static bool ref_reverse;

static void mapped(const struct ct_record *r, const uint8_t *a, uint8_t out[16])
{
	memset(out, 0, 16);
	if (r->family == AF_INET) {
		out[10] = out[11] = 0xff;
		memcpy(out + 12, a, 4);
	} else
		memcpy(out, a, 16);
}

static int ref_cmp_key(const struct ct_record *a, const struct ct_record *b)
{
	char ba[4], bb[4];
	uint8_t ma[16], mb[16];
	const char *sa, *sb;
#define CMP(x, y) ((x) < (y) ? -1 : (x) > (y) ? 1 : 0)
	switch (ref_key) {
	case SORT_ID: return CMP(a->id, b->id);
	case SORT_PROTOCOL: return strcmp(ct_proto_name(a->proto, ba), ct_proto_name(b->proto, bb));
	case SORT_STATE:
		sa = (a->flags & CT_HAS_STATE) ? ct_state_name(a->proto, a->state) : "";
		sb = (b->flags & CT_HAS_STATE) ? ct_state_name(b->proto, b->state) : "";
		return strcmp(sa, sb);
	case SORT_SRC: mapped(a, a->t[0].src, ma); mapped(b, b->t[0].src, mb); return memcmp(ma, mb, 16);
	case SORT_DST: mapped(a, a->t[0].dst, ma); mapped(b, b->t[0].dst, mb); return memcmp(ma, mb, 16);
	case SORT_SPORT: return CMP(a->t[0].sport, b->t[0].sport);
	case SORT_DPORT: return CMP(a->t[0].dport, b->t[0].dport);
	case SORT_TIMEOUT: return CMP(a->timeout, b->timeout);
	case SORT_BYTES: return CMP(a->bytes[0] + a->bytes[1], b->bytes[0] + b->bytes[1]);
	case SORT_PACKETS: return CMP(a->packets[0] + a->packets[1], b->packets[0] + b->packets[1]);
	case SORT_START: return CMP(a->start_ns, b->start_ns);
	case SORT_NONE: return 0;
	}
	return 0;
}

static int ref_cmp(const void *pa, const void *pb)
{
	int ia = *(const int *)pa, ib = *(const int *)pb;
	int c = ref_cmp_key(&recs[ia], &recs[ib]);
	if (ref_reverse)
		c = -c;
	if (ref_key == SORT_NONE && ref_reverse)
		return ib - ia;   /* reverse dump order */
	return c ? c : ia - ib;   /* stable */
}

static void check(enum sort_key key, bool reverse, uint64_t offset, uint64_t limit, size_t keep_max)
{
	int order[N];
	struct page p;

	for (int i = 0; i < N; i++)
		order[i] = i;
	ref_key = key;
	ref_reverse = reverse;
	qsort(order, N, sizeof(int), ref_cmp);

	page_init(&p, offset, limit, key, reverse, keep_max);
	for (int i = 0; i < N; i++)
		g_assert_cmpint(page_add(&p, &recs[i]), ==, 0);
	g_assert_cmpint(page_finish(&p), ==, 0);
	if (page_needs_second_pass(&p)) {
		g_assert_true(offset + limit > keep_max);
		for (int i = 0; i < N; i++)
			page_fill(&p, &recs[i]);
		page_compact(&p);
	}
	g_assert_cmpuint(p.total, ==, N);
	size_t want = offset >= N ? 0 : MIN((size_t)limit, N - (size_t)offset);
	g_assert_cmpuint(p.nout, ==, want);
	for (size_t i = 0; i < p.nout; i++)
		if (memcmp(&p.out[i], &recs[order[offset + i]], sizeof(p.out[i])) != 0)
			g_error("sort %d reverse %d offset %lu limit %lu keep %zu: position %zu has id %u, want %u",
				key, reverse, (unsigned long)offset, (unsigned long)limit, keep_max, i,
				p.out[i].id, recs[order[offset + i]].id);
	page_free(&p);
}

/* A kept listing is put in order in one go: the same order as pages. */
static void check_sort_records(enum sort_key key, bool reverse)
{
	static struct ct_record copy[N];
	int order[N];

	for (int i = 0; i < N; i++)
		order[i] = i;
	ref_key = key;
	ref_reverse = reverse;
	qsort(order, N, sizeof(int), ref_cmp);
	memcpy(copy, recs, sizeof(copy));
	g_assert_cmpint(page_sort_records(copy, N, key, reverse), ==, 0);
	for (int i = 0; i < N; i++)
		if (memcmp(&copy[i], &recs[order[i]], sizeof(copy[i])) != 0)
			g_error("sort %d reverse %d: position %d has id %u, want %u", key, reverse, i, copy[i].id,
				recs[order[i]].id);
}

static void test_pages(void)
{
	static const uint64_t offsets[] = { 0, 1, 17, 299, 590, 600, 1000 };
	static const uint64_t limits[] = { 0, 1, 10, 100, 600, 10000 };
	GRand *rnd = g_rand_new_with_seed(42);

	make_records(rnd);
	for (int key = SORT_NONE; key <= SORT_START; key++)
		for (int rev = 0; rev < 2; rev++)
			check_sort_records(key, rev);
	for (int key = SORT_NONE; key <= SORT_START; key++)
		for (int rev = 0; rev < 2; rev++)
			for (size_t o = 0; o < G_N_ELEMENTS(offsets); o++)
				for (size_t l = 0; l < G_N_ELEMENTS(limits); l++) {
					check(key, rev, offsets[o], limits[l], 1u << 20);  /* one pass */
					check(key, rev, offsets[o], limits[l], 8);         /* two passes */
				}
	g_rand_free(rnd);
}

static void test_vanished_between_passes(void)
{
	struct page p;
	page_init(&p, 0, 5, SORT_ID, false, 2);
	for (int i = 0; i < 10; i++)
		page_add(&p, &recs[i]);
	page_finish(&p);
	g_assert_true(page_needs_second_pass(&p));
	for (int i = 1; i < 10; i++)   /* record 0 is gone by the second dump */
		page_fill(&p, &recs[i]);
	page_compact(&p);
	g_assert_cmpuint(p.nout, ==, 4);
	for (size_t i = 0; i < p.nout; i++)
		g_assert_cmpuint(p.out[i].id, !=, recs[0].id);
	page_free(&p);
}

/* Kernel ids are hashes and collide: the second pass must still fetch the
 * right records when every record has the same id. */
static void test_colliding_ids(void)
{
	GRand *rnd = g_rand_new_with_seed(43);
	make_records(rnd);
	for (int i = 0; i < N; i++) {
		recs[i].id = 5;
		recs[i].t[0].sport = (uint16_t)i;   /* tuples stay distinct */
	}
	for (int key = SORT_NONE; key <= SORT_START; key++) {
		check(key, false, 100, 50, 8);
		check(key, true, 0, 300, 8);
	}
	g_rand_free(rnd);
}

static void test_sort_names(void)
{
	g_assert_cmpint(sort_key_from_name("bytes"), ==, SORT_BYTES);
	g_assert_cmpint(sort_key_from_name("start"), ==, SORT_START);
	g_assert_cmpint(sort_key_from_name(""), ==, -1);
	g_assert_cmpint(sort_key_from_name("BYTES"), ==, -1);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/page/against-reference", test_pages);
	g_test_add_func("/page/vanished-between-passes", test_vanished_between_passes);
	g_test_add_func("/page/colliding-ids", test_colliding_ids);
	g_test_add_func("/page/sort-names", test_sort_names);
	return g_test_run();
}
