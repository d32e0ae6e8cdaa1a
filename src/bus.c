#include "bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus-delete.h"
#include "bus-export.h"
#include "bus-summarize.h"
#include "argtext.h"
#include "listings.h"
#include "config.h"
#include "errors.h"
#include "util.h"
#include "ctread.h"
#include "ctstats.h"
#include "log.h"
#include "page.h"

/* A reply is cut short (fewer records than the limit; clients page on by the
 * number they got) long before the bus's 32 MiB message limit. */
#define REPLY_BUDGET (16u << 20)
/* Sorted pages deeper than this keep only ids and fetch records in a second dump. */
#define PAGE_KEEP_MAX 20000



int reply_dump_error(sd_bus_message *m, int error)
{
	return sd_bus_reply_method_errorf(m, SD_BUS_ERROR_FAILED,
					  "Reading the conntrack table failed: %s", strerror(-error));
}

/* --- List ---------------------------------------------------------------- */

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
	/* Making a listing: every matching record, in dump order, up to room. */
	bool building;
	struct ct_record *all;
	size_t nall, all_alloc, room;
};

static void list_call_free(struct list_call *c)
{
	if (!c)
		return;
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
		int b;

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
			if (strcmp(contents, "s") != 0)
				return INVALID(error, "Option 'sort' must be of type 's', got '%s'", contents);
			if ((r = sd_bus_message_read_basic(m, 's', &s)) < 0)
				return r;
			if ((r = sort_key_from_name(s)) < 0)
				return INVALID(error, "Option 'sort': unknown sort key '%s'", s);
			o->sort = (enum sort_key)r;
			o->sort_name = s;
			break;
		case 3: case 4:
			if (strcmp(contents, "b") != 0)
				return INVALID(error, "Option '%s' must be of type 'b', got '%s'", names[i], contents);
			if ((r = sd_bus_message_read_basic(m, 'b', &b)) < 0)
				return r;
			if (i == 3)
				o->reverse = b;
			else
				o->fresh = b;
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

static int list_on_record(const struct ct_record *r, void *userdata)
{
	struct list_call *c = userdata;

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
	return page_add(&c->page, r);
}

static void list_on_done(struct ct_dump *d, int error, void *userdata)
{
	struct list_call *c = userdata;
	int r;

	ct_dump_free(c->dump);
	c->dump = NULL;
	if (error < 0) {
		reply_dump_error(c->base.m, error);
		goto out;
	}
	if (c->second_pass)
		page_compact(&c->page);
	else {
		if ((r = page_finish(&c->page)) < 0) {
			reply_dump_error(c->base.m, r);
			goto out;
		}
		if (page_needs_second_pass(&c->page)) {
			c->second_pass = true;
			r = ct_dump_start(c->base.ctx->event, &c->kf, list_on_record, list_on_done, c, &c->dump);
			if (r >= 0)
				return;
			reply_dump_error(c->base.m, r);
			goto out;
		}
	}
	if ((r = list_reply(c)) < 0)
		log_warn("Could not send List reply: %s", strerror(-r));
out:
	list_call_free(c);
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
		page_init(&c->page, c->opts.offset, c->opts.limit, c->opts.sort, c->opts.reverse, PAGE_KEEP_MAX);
		return 1;
	}
	if (c->opts.offset > 0 && !c->opts.fresh) {
		struct listing *l = listings_find(ls, c->key);
		if (l && !l->ordered) {
			if ((r = page_sort_records(l->recs, l->n, l->sort, l->reverse)) < 0) {
				reply_dump_error(c->base.m, r);
				list_call_free(c);
				return 0;
			}
			l->ordered = true;
		}
		if (l) {
			if ((r = list_reply_records(c->base.m, l->n, l->recs, l->n, c->opts.offset, c->opts.limit)) < 0)
				log_warn("Could not send List reply: %s", strerror(-r));
			list_call_free(c);
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
	page_init(&c->page, c->opts.offset, c->opts.limit, c->opts.sort, c->opts.reverse, PAGE_KEEP_MAX);
	return 1;
}

/* Runs the call once it is authorized; owns c from here on. */
static void list_run(struct list_call *c)
{
	int r;

	if (!call_start_work(&c->base)) {
		list_call_free(c);
		return;
	}
	if (!list_start_page(c))
		return;
	if (c->kf.empty) {
		/* Keys that contradict each other (an IPv4 and an IPv6 prefix) match nothing. */
		if ((r = list_reply(c)) < 0)
			log_warn("Could not send List reply: %s", strerror(-r));
		list_call_free(c);
		return;
	}
	r = ct_dump_start(c->base.ctx->event, &c->kf, list_on_record, list_on_done, c, &c->dump);
	if (r < 0) {
		reply_dump_error(c->base.m, r);
		list_call_free(c);
	}
}

static void list_authorized(sd_bus_message *m, int authorized, const sd_bus_error *error,
			    void *userdata)
{
	struct list_call *c = userdata;

	if (!authorized) {
		call_reply_error(m, error);
		list_call_free(c);
		return;
	}
	list_run(c);
}

static int method_list(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct context *ctx = userdata;
	struct list_call *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	call_init(&c->base, ctx, m);
	if ((r = filter_parse(m, &c->filter, &ctx->filter_env, error)) < 0 ||
	    (r = parse_list_opts(m, ctx->page_size, &c->opts, error)) < 0)
		goto fail;
	filter_to_kernel(&c->filter, &ctx->caps, &c->kf);
	if (ctx->listings) {
		g_autofree char *text = argtext_join(m);
		c->key = listing_key(sd_bus_message_get_sender(m), c->opts.sort_name, c->opts.reverse, text);
	}

	r = auth_check(ctx->auth, m, ACTION_LIST, list_authorized, c, error);
	if (r < 0)
		goto fail;
	if (r > 0)
		list_run(c);
	return 1;
fail:
	list_call_free(c);
	return r;
}

/* --- GetStatistics -------------------------------------------------------- */

static int statistics_reply(sd_bus_message *m)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	uint64_t sums[CT_CPU_STATS], buckets = 0;
	uint32_t count, max;
	int r;

	if ((r = ct_count(&count, &max)) < 0 || (r = ct_cpu_stats(sums)) < 0)
		return reply_dump_error(m, r);
	(void)ct_sysctl("nf_conntrack_buckets", &buckets);

	if ((r = sd_bus_message_new_method_return(m, &reply)) < 0 ||
	    (r = sd_bus_message_open_container(reply, 'a', "{st}")) < 0 ||
	    (r = sd_bus_message_append(reply, "{st}{st}{st}", "count", (uint64_t)count,
				       "max", (uint64_t)max, "buckets", buckets)) < 0)
		return r;
	for (int i = 0; i < CT_CPU_STATS; i++)
		if ((r = sd_bus_message_append(reply, "{st}", ct_cpu_stat_names[i], sums[i])) < 0)
			return r;
	if ((r = sd_bus_message_close_container(reply)) < 0)
		return r;
	return sd_bus_send(NULL, reply, NULL);
}

static void statistics_authorized(sd_bus_message *m, int authorized, const sd_bus_error *error,
				  void *userdata)
{
	int r = authorized ? statistics_reply(m) : sd_bus_reply_method_error(m, error);
	if (r < 0)
		log_warn("Could not send GetStatistics reply: %s", strerror(-r));
}

static int method_get_statistics(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct context *ctx = userdata;
	int r = auth_check(ctx->auth, m, ACTION_LIST, statistics_authorized, NULL, error);
	if (r <= 0)
		return r < 0 ? r : 1;
	return statistics_reply(m);
}

/* --- Subscribe / Unsubscribe ---------------------------------------------- */

static int subscribe_reply(struct context *ctx, sd_bus_message *m)
{
	sd_bus_error error = SD_BUS_ERROR_NULL;
	int r = events_subscribe(ctx->events, m, &error);
	if (r < 0)
		r = sd_bus_error_is_set(&error) ? sd_bus_reply_method_error(m, &error)
						: sd_bus_reply_method_errnof(m, r, "Subscribing failed: %m");
	else
		r = sd_bus_reply_method_return(m, NULL);
	sd_bus_error_free(&error);
	return r;
}

static void subscribe_authorized(sd_bus_message *m, int authorized, const sd_bus_error *error,
				 void *userdata)
{
	int r = authorized ? subscribe_reply(userdata, m) : sd_bus_reply_method_error(m, error);
	if (r < 0)
		log_warn("Could not answer Subscribe: %s", strerror(-r));
}

static int method_subscribe(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct context *ctx = userdata;
	int r = auth_check(ctx->auth, m, ACTION_LIST, subscribe_authorized, ctx, error);
	if (r <= 0)
		return r < 0 ? r : 1;
	return subscribe_reply(ctx, m);
}

/* Unsubscribing only ever concerns the caller's own subscription: no polkit. */
static int method_unsubscribe(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct context *ctx = userdata;
	int r = events_unsubscribe(ctx->events, m, error);
	if (r < 0)
		return r;
	return sd_bus_reply_method_return(m, NULL);
}

/* --- Properties ----------------------------------------------------------- */

static int prop_count_max(sd_bus *bus, const char *path, const char *interface,
			  const char *property, sd_bus_message *reply, void *userdata,
			  sd_bus_error *error)
{
	uint32_t count, max;
	int r = ct_count(&count, &max);
	if (r < 0)
		return sd_bus_error_set_errnof(error, r, "Reading the conntrack table size failed: %m");
	return sd_bus_message_append(reply, "u", strcmp(property, "Count") == 0 ? count : max);
}

static int prop_sysctl_bool(sd_bus *bus, const char *path, const char *interface,
			    const char *property, sd_bus_message *reply, void *userdata,
			    sd_bus_error *error)
{
	uint64_t v = 0;
	const char *name = strcmp(property, "Accounting") == 0 ? "nf_conntrack_acct"
							     : "nf_conntrack_timestamp";
	(void)ct_sysctl(name, &v);   /* absent sysctl: the feature is off */
	return sd_bus_message_append(reply, "b", v != 0);
}

static const sd_bus_vtable vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_PROPERTY("Count", "u", prop_count_max, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("Max", "u", prop_count_max, 0, 0),
	SD_BUS_PROPERTY("Accounting", "b", prop_sysctl_bool, 0, 0),
	SD_BUS_PROPERTY("Timestamps", "b", prop_sysctl_bool, 0, 0),
	SD_BUS_PROPERTY("Version", "s", NULL, offsetof(struct context, version), SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_METHOD_WITH_ARGS("List",
		SD_BUS_ARGS("a{sv}", filter, "a{sv}", options),
		SD_BUS_RESULT("u", total, "a" CT_RECORD_SIGNATURE, connections),
		method_list, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Export",
		SD_BUS_ARGS("a{sv}", filter, "s", format),
		SD_BUS_RESULT("h", data),
		method_export, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Summarize",
		SD_BUS_ARGS("a{sv}", filter, "s", by, "a{sv}", options),
		SD_BUS_RESULT("u", total, "a(sutt)", groups),
		method_summarize, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("GetStatistics",
		SD_BUS_NO_ARGS,
		SD_BUS_RESULT("a{st}", statistics),
		method_get_statistics, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Delete",
		SD_BUS_ARGS("a{sv}", connection),
		SD_BUS_NO_RESULT,
		method_delete, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("DeleteMatching",
		SD_BUS_ARGS("a{sv}", filter),
		SD_BUS_RESULT("u", deleted),
		method_delete_matching, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Flush",
		SD_BUS_NO_ARGS,
		SD_BUS_RESULT("u", deleted),
		method_flush, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Subscribe",
		SD_BUS_NO_ARGS, SD_BUS_NO_RESULT,
		method_subscribe, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Unsubscribe",
		SD_BUS_NO_ARGS, SD_BUS_NO_RESULT,
		method_unsubscribe, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_SIGNAL_WITH_NAMES("ConnectionsChanged", "tuuub",
		SD_BUS_PARAM(generation) SD_BUS_PARAM(new) SD_BUS_PARAM(updated)
		SD_BUS_PARAM(destroyed) SD_BUS_PARAM(lost), 0),
	SD_BUS_SIGNAL_WITH_NAMES("ConnectionsDeleted", "sa{sv}u",
		SD_BUS_PARAM(method) SD_BUS_PARAM(filter) SD_BUS_PARAM(count), 0),
	SD_BUS_VTABLE_END
};

/* Sees every incoming message first: the idle timer counts from the last call. */
static int note_call(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct context *ctx = userdata;
	if (sd_bus_message_is_method_call(m, NULL, NULL) > 0)
		(void)sd_event_now(ctx->event, CLOCK_MONOTONIC, &ctx->last_call_usec);
	return 0;
}

int bus_add_object(struct context *ctx)
{
	int r = sd_bus_add_filter(ctx->bus, NULL, note_call, ctx);
	if (r < 0)
		return r;
	return sd_bus_add_object_vtable(ctx->bus, NULL, BUS_PATH, BUS_INTERFACE, vtable, ctx);
}

void call_init(struct call *c, struct context *ctx, sd_bus_message *m)
{
	c->ctx = ctx;
	c->m = sd_bus_message_ref(m);
	c->counted = false;
	if (auth_caller_uid(m, &c->uid) < 0)
		c->uid = (uid_t)-1;   /* counted as a user of its own, never as the service's */
	ctx->busy++;
}

void call_done(struct call *c)
{
	if (c->counted)
		limits_release(c->ctx->limits, c->uid, LIMIT_WORK);
	c->ctx->busy--;
	c->m = sd_bus_message_unref(c->m);
}

void call_reply_error(sd_bus_message *m, const sd_bus_error *error)
{
	int r = sd_bus_reply_method_error(m, error);
	if (r < 0)
		log_warn("Could not answer %s with %s: %s", sd_bus_message_get_member(m), error->name, strerror(-r));
}

bool call_start_work(struct call *c)
{
	sd_bus_error error = SD_BUS_ERROR_NULL;

	if (limits_acquire(c->ctx->limits, c->uid, LIMIT_WORK, &error) >= 0)
		return c->counted = true;
	call_reply_error(c->m, &error);
	sd_bus_error_free(&error);
	return false;
}

bool bus_idle(const struct context *ctx)
{
	return ctx->busy == 0 && auth_pending(ctx->auth) == 0 &&
	       (!ctx->events || events_subscribers(ctx->events) == 0);
}
