#include "bus-list.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "argtext.h"
#include "asv.h"
#include "bus-call.h"
#include "bus.h"
#include "ctread.h"
#include "ctstats.h"
#include "errors.h"
#include "kfilter.h"
#include "listings.h"
#include "log.h"
#include "page.h"
#include "util.h"

/* A reply is cut short (fewer records than the limit; clients page on by the
 * number they got) long before the bus's 32 MiB message limit. */
#define REPLY_BUDGET (16u << 20)
/* Sorted pages deeper than this keep only ids and fetch records in a second dump. */
#define PAGE_KEEP_MAX 20000

struct list_opts {
	uint64_t offset, limit;
	enum sort_key sort;
	const char *sort_name;
	bool reverse, fresh;
};

struct list_call {
	struct call base;
	struct ct_filter filter;
	struct ct_kfilter kf;
	struct list_opts opts;
	struct page page;
	struct ct_dump *dump;
	char *key;        /* of the listing this call reads or makes */
	bool second_pass;
	/* A page of the whole table in dump order, nothing kept: answered as
	 * soon as it is full, with the table's count as the total. */
	bool early;
	/* Making a listing: every matching record, in dump order, up to room. */
	bool building;
	struct ct_record *all;
	size_t nall, all_alloc, room;
	/* A shared walk: Lists of the same kernel filter in the same lane that
	 * start before the first record of another's dump read that dump
	 * instead of one of their own. The owner is in ctx->list_walks until
	 * its first record; the others are on its joined list. */
	struct list_call *walk_next, *joined, *join_next;
	bool walk_open;
	int join_error;    /* a joiner's own failure while the owner reads on */
};

/* No one joins c's walk any more. */
static void walk_close(struct list_call *c)
{
	if (!c->walk_open)
		return;
	for (struct list_call **p = &c->base.ctx->list_walks; *p; p = &(*p)->walk_next)
		if (*p == c) {
			*p = c->walk_next;
			break;
		}
	c->walk_next = NULL;
	c->walk_open = false;
}

static void list_call_free(struct call *base)
{
	struct list_call *c = CALL_OF(base, struct list_call);

	if (!c)
		return;
	assert(!c->joined);   /* an owner ends its joiners before itself */
	walk_close(c);
	if (c->building)
		listings_end_build(c->base.ctx->listings);
	free(c->all);
	ct_dump_free(c->dump);
	page_free(&c->page);
	filter_clear(&c->filter);
	g_free(c->key);
	call_done(&c->base);
	free(c);
}

static int parse_list_opts(sd_bus_message *m, uint32_t page_size, struct list_opts *o,
			   sd_bus_error *error)
{
	static const char *const names[] = { "offset", "limit", "sort", "reverse", "fresh" };
	uint64_t seen = 0;
	int r;

	*o = (struct list_opts){ .limit = page_size, .sort = SORT_NONE };
	if ((r = sd_bus_message_enter_container(m, 'a', "{sv}")) < 0)
		return r;
	for (;;) {
		const char *contents, *s;
		unsigned i;
		uint64_t u;

		if ((r = dict_next(m, names, 5, &seen, "option", &i, &contents, error)) <= 0)
			return r;
		switch (i) {
		case 0: case 1:
			if ((r = variant_read_uint(m, "Option", names[i], contents, UINT32_MAX, &u, error)) < 0)
				return r;
			if (i == 0)
				o->offset = u;
			else
				o->limit = u < page_size ? u : page_size; /* clamped, as the interface documents */
			break;
		case 2:
			if ((r = variant_read_string(m, "Option", names[i], contents, &s, error)) < 0)
				return r;
			if ((r = sort_key_from_name(s)) < 0)
				return INVALID(error, "Option 'sort': unknown sort key '%s'", s);
			o->sort = (enum sort_key)r;
			o->sort_name = s;
			break;
		case 3:
			if ((r = variant_read_bool(m, "Option", names[i], contents, &o->reverse, error)) < 0)
				return r;
			break;
		case 4:
			if ((r = variant_read_bool(m, "Option", names[i], contents, &o->fresh, error)) < 0)
				return r;
			break;
		}
		if ((r = dict_entry_end(m)) < 0)
			return r;
	}
}

static size_t record_size_estimate(const struct ct_record *r)
{
	size_t n = 512;
	if (r->flags & CT_HAS_LABELS)
		n += 128 * 16;
	return n;
}

/* Answers with total and the records [from, from + n) of recs. */
static int list_reply_records(sd_bus_message *m, uint64_t total, const struct ct_record *recs,
			      size_t count, uint64_t from, uint64_t n)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	size_t budget = REPLY_BUDGET;
	int r;

	if ((r = sd_bus_message_new_method_return(m, &reply)) < 0 ||
	    (r = sd_bus_message_append(reply, "u", (uint32_t)(total > UINT32_MAX ? UINT32_MAX : total))) < 0 ||
	    (r = sd_bus_message_open_container(reply, 'a', CT_RECORD_SIGNATURE)) < 0)
		return r;
	for (uint64_t i = from; i < count && i - from < n; i++) {
		size_t need = record_size_estimate(&recs[i]);
		if (need > budget)
			break;
		budget -= need;
		if ((r = ct_record_append(reply, &recs[i])) < 0)
			return r;
	}
	if ((r = sd_bus_message_close_container(reply)) < 0)
		return r;
	return sd_bus_send(NULL, reply, NULL);
}

static int list_reply(struct list_call *c)
{
	struct listings *ls = c->base.ctx->listings;
	sd_bus_message *m = c->base.m;
	struct listing *l;
	struct ct_record *recs;
	size_t n;
	int r;

	if ((r = list_reply_records(m, c->page.total, c->page.out, c->page.nout, 0, c->page.nout)) < 0 ||
	    !c->building)
		return r;
	/* Then keep the whole listing for the later pages, unless the table
	 * outgrew the budget meanwhile. It is put in page order when a later
	 * page first asks: the first page costs no more than it would alone. */
	if (c->nall != c->page.total)
		return 0;
	recs = c->all;
	n = c->nall;
	c->all = NULL;
	l = listings_keep(ls, c->base.ctx->bus, sd_bus_message_get_sender(m), c->key, recs, n);
	c->key = NULL;   /* taken */
	if (l) {
		l->sort = c->opts.sort;
		l->reverse = c->opts.reverse;
		l->ordered = c->opts.sort == SORT_NONE && !c->opts.reverse;   /* dump order already */
	}
	if (l)
		log_debug("Keeping a listing of %zu entries for %s (%zu kept, %zu bytes)", n,
			  sd_bus_message_get_sender(m), listings_count(ls), listings_bytes(ls));
	return 0;
}

/* One record of the dump, for c alone. */
static int list_take(struct list_call *c, const struct ct_record *r)
{
	int k;

	if (!filter_match(&c->filter, r))
		return 0;
	if (c->second_pass) {
		page_fill(&c->page, r);
		return 0;
	}
	if (c->building && c->nall < c->room) {
		if (c->nall == c->all_alloc) {
			size_t a = c->all_alloc ? c->all_alloc * 2 : 1024;
			struct ct_record *all = reallocarray(c->all, a < c->room ? a : c->room, sizeof(*all));
			if (!all)
				return -ENOMEM;
			c->all = all;
			c->all_alloc = a < c->room ? a : c->room;
		}
		c->all[c->nall++] = *r;
	}
	if ((k = page_add(&c->page, r)) < 0)
		return k;
	return c->early && page_window_full(&c->page);   /* 1 ends the dump */
}

/* A record of c's dump: c's, and each joiner's. */
static int list_on_record(const struct ct_record *r, void *userdata)
{
	struct list_call *c = userdata;

	walk_close(c);   /* from the first record on, a newcomer would miss some */
	for (struct list_call *j = c->joined; j; j = j->join_next) {
		int k = j->join_error == 0 ? list_take(j, r) : 0;
		if (k < 0)
			j->join_error = k;   /* it fails at the end; the others read on */
	}
	return list_take(c, r);
}

static void list_on_done(struct ct_dump *d, int error, void *userdata);

/* c's walk of the table ended (error 0 or a negative errno): answer, or go
 * on with a second pass. */
static void list_walk_done(struct list_call *c, int error)
{
	int r;

	if (error < 0) {
		reply_dump_error(c->base.m, error);
		goto out;
	}
	if (c->early) {
		uint32_t count = 0;
		/* The dump stopped at the page: the kernel counts the rest. */
		if ((r = ct_count(&count, NULL)) < 0) {
			reply_dump_error(c->base.m, r);
			goto out;
		}
		if (count > c->page.total)
			c->page.total = count;
		log_debug("Answering %zu entries at offset %" PRIu64 " of the table's %" PRIu64
			  " without dumping the rest", c->page.nout, c->opts.offset, c->page.total);
	} else if (c->second_pass)
		page_compact(&c->page);
	else {
		if ((r = page_finish(&c->page)) < 0) {
			reply_dump_error(c->base.m, r);
			goto out;
		}
		if (page_needs_second_pass(&c->page)) {
			c->second_pass = true;
			r = call_dump_start(&c->base, &c->kf, list_on_record, list_on_done, c, &c->dump);
			if (r >= 0)
				return;
			reply_dump_error(c->base.m, r);
			goto out;
		}
	}
	if ((r = list_reply(c)) < 0)
		log_warn("Could not send List reply: %s", strerror(-r));
out:
	list_call_free(&c->base);
}

static void list_on_done(struct ct_dump *d, int error, void *userdata)
{
	struct list_call *c = userdata, *joined = c->joined;

	ct_dump_free(c->dump);
	c->dump = NULL;
	walk_close(c);
	c->joined = NULL;
	while (joined) {
		struct list_call *j = joined;
		joined = j->join_next;
		j->join_next = NULL;
		list_walk_done(j, error < 0 ? error : j->join_error);
	}
	list_walk_done(c, error);
}

/* Another List's dump that c can read instead of one of its own. */
static struct list_call *walk_find(const struct list_call *c)
{
	for (struct list_call *o = c->base.ctx->list_walks; o; o = o->walk_next)
		if (o->base.job.root == c->base.job.root && kfilter_equal(&o->kf, &c->kf))
			return o;
	return NULL;
}

/* The page the dump fills. Once full it is answered without the rest of the
 * dump when nothing is being kept and it is in dump order, of the whole
 * table (whose size the kernel counts). */
static void begin_page(struct list_call *c)
{
	page_init(&c->page, c->opts.offset, c->opts.limit, c->opts.sort, c->opts.reverse, PAGE_KEEP_MAX);
	c->early = !c->building && c->opts.sort == SORT_NONE && !c->opts.reverse && c->filter.keys == 0;
}

/* Sets up the page: a later page of a listing still kept is answered from
 * it (1 returned: done); otherwise, when the whole listing fits the
 * budget, the dump makes the whole listing (answered, then kept); else just
 * the page asked for. Returns 0 when c is done (and freed). */
static int list_start_page(struct list_call *c)
{
	struct listings *ls = c->base.ctx->listings;
	uint32_t count = 0, max = 0;
	size_t room;
	int r;

	if (!ls || !c->key) {
		begin_page(c);
		return 1;
	}
	if (c->opts.offset > 0 && !c->opts.fresh) {
		struct listing *l = listings_find(ls, c->key);
		if (l && !l->ordered) {
			if ((r = page_sort_records(l->recs, l->n, l->sort, l->reverse)) < 0) {
				reply_dump_error(c->base.m, r);
				list_call_free(&c->base);
				return 0;
			}
			l->ordered = true;
		}
		if (l) {
			if ((r = list_reply_records(c->base.m, l->n, l->recs, l->n, c->opts.offset, c->opts.limit)) < 0)
				log_warn("Could not send List reply: %s", strerror(-r));
			list_call_free(&c->base);
			return 0;
		}
	}
	/* The table's size bounds the listing's: build only what the budget holds. */
	room = listings_begin_build(ls);
	if (room > 0)
		(void)ct_count(&count, &max);
	if (room > 0 && count < room) {
		c->building = true;
		c->room = room;
	} else if (room > 0)
		listings_end_build(ls);
	begin_page(c);
	return 1;
}

/* The count alone of the whole table in dump order: the kernel's entry
 * count. (A sorted one still reads the table: it makes the listing its
 * later pages read.) */
static bool list_is_count(const struct list_call *c)
{
	return c->opts.limit == 0 && c->filter.keys == 0 && c->opts.sort == SORT_NONE && !c->opts.reverse;
}

/* Whether the call is answered without walking the table: a count, or a
 * later page of a listing still kept. It then takes no work slot. */
static bool list_light(struct call *base)
{
	struct list_call *c = CALL_OF(base, struct list_call);
	struct listings *ls = c->base.ctx->listings;

	return list_is_count(c) ||
	       (ls && c->key && c->opts.offset > 0 && !c->opts.fresh && listings_find(ls, c->key));
}

/* Runs the call once it is authorized; owns c from here on. */
static void list_run(struct call *base)
{
	struct list_call *c = CALL_OF(base, struct list_call);
	uint32_t count = 0;
	int r;

	if (list_is_count(c)) {
		if ((r = ct_count(&count, NULL)) < 0)
			reply_dump_error(c->base.m, r);
		else if ((r = list_reply_records(c->base.m, count, NULL, 0, 0, 0)) < 0)
			log_warn_errno(r, "Could not send List reply");
		list_call_free(&c->base);
		return;
	}
	if (!list_start_page(c))
		return;
	if (c->kf.empty) {
		/* Keys that contradict each other (an IPv4 and an IPv6 prefix) match nothing. */
		if ((r = list_reply(c)) < 0)
			log_warn("Could not send List reply: %s", strerror(-r));
		list_call_free(&c->base);
		return;
	}
	/* A walk of the whole filter (not a page that ends it early) is shared. */
	struct list_call *owner = c->early ? NULL : walk_find(c);
	if (owner) {
		c->join_next = owner->joined;
		owner->joined = c;
		log_debug("A List of %s reads the dump of a List of %s", sd_bus_message_get_sender(c->base.m),
			  sd_bus_message_get_sender(owner->base.m));
		return;
	}
	r = call_dump_start(&c->base, &c->kf, list_on_record, list_on_done, c, &c->dump);
	if (r < 0) {
		reply_dump_error(c->base.m, r);
		list_call_free(&c->base);
		return;
	}
	if (!c->early) {
		c->walk_next = c->base.ctx->list_walks;
		c->base.ctx->list_walks = c;
		c->walk_open = true;
	}
}

static const struct call_ops list_ops = {
	.run = list_run, .free = list_call_free, .work = true, .light = list_light,
};

int method_list(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct context *ctx = userdata;
	struct list_call *c = call_new(ctx, m, &list_ops, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	if ((r = filter_parse(m, &c->filter, &ctx->filter_env, error)) < 0 ||
	    (r = parse_list_opts(m, ctx->page_size, &c->opts, error)) < 0)
		return call_refuse(&c->base, r, error);
	filter_to_kernel(&c->filter, &ctx->caps, &c->kf);
	if (ctx->listings) {
		g_autofree char *text = argtext_join(m);
		c->key = listing_key(sd_bus_message_get_sender(m), c->opts.sort_name, c->opts.reverse, text);
	}
	return call_authorize(&c->base, ACTION_LIST, NULL, error);
}
