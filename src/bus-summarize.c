#include "bus-summarize.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "asv.h"
#include "bus-call.h"
#include "bus.h"
#include "ctread.h"
#include "errors.h"
#include "log.h"
#include "summary.h"
#include "util.h"

#define SUMMARY_LIMIT_DEFAULT 100

struct summarize_opts {
	enum summary_sort sort;
	uint64_t offset, limit;
};

struct summarize_call {
	struct call base;
	struct ct_filter filter;
	struct ct_kfilter kf;
	enum summary_by by;
	struct summarize_opts opts;
	struct summary summary;
	struct ct_dump *dump;
};

static void summarize_call_free(struct call *base)
{
	struct summarize_call *c = CALL_OF(base, struct summarize_call);

	if (!c)
		return;
	ct_dump_free(c->dump);
	summary_free(&c->summary);
	filter_clear(&c->filter);
	call_done(&c->base);
	free(c);
}

static int parse_by(sd_bus_message *m, enum summary_by *by, sd_bus_error *error)
{
	const char *s;
	int r;

	if ((r = sd_bus_message_read_basic(m, 's', &s)) < 0)
		return r;
	if ((r = summary_by_from_name(s)) < 0)
		return INVALID(error, "Unknown grouping key '%s' (by): src, dst, reply-src, reply-dst, "
			       "sport, dport, protocol, state, family, mark, zone, nat-address or interface", s);
	*by = (enum summary_by)r;
	return 0;
}

static int parse_opts(sd_bus_message *m, struct summarize_opts *o, sd_bus_error *error)
{
	static const char *const names[] = { "sort", "limit", "offset" };
	uint64_t seen = 0;
	int r;

	*o = (struct summarize_opts){ .sort = SUMMARY_CONNECTIONS, .limit = SUMMARY_LIMIT_DEFAULT };
	if ((r = sd_bus_message_enter_container(m, 'a', "{sv}")) < 0)
		return r;
	for (;;) {
		const char *contents, *s;
		unsigned i;
		uint64_t u;

		if ((r = dict_next(m, names, G_N_ELEMENTS(names), &seen, "option", &i, &contents, error)) <= 0)
			return r;
		if (i == 0) {
			if ((r = variant_read_string(m, "Option", names[i], contents, &s, error)) < 0)
				return r;
			if ((r = summary_sort_from_name(s)) < 0)
				return INVALID(error, "Option 'sort': unknown order '%s' (connections, bytes or packets)", s);
			o->sort = (enum summary_sort)r;
		} else {
			if ((r = variant_read_uint(m, "Option", names[i], contents, UINT32_MAX, &u, error)) < 0)
				return r;
			if (i == 1)
				o->limit = u;
			else
				o->offset = u;
		}
		if ((r = dict_entry_end(m)) < 0)
			return r;
	}
}

static int summarize_reply(struct summarize_call *c)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	g_autofree struct summary_group **groups = NULL;
	uint64_t total = c->summary.total;
	size_t n;
	int r;

	groups = summary_sorted(&c->summary, c->opts.sort, &n);
	if ((r = sd_bus_message_new_method_return(c->base.m, &reply)) < 0 ||
	    (r = sd_bus_message_append(reply, "u", (uint32_t)(total > UINT32_MAX ? UINT32_MAX : total))) < 0 ||
	    (r = sd_bus_message_open_container(reply, 'a', "(sutt)")) < 0)
		return r;
	for (uint64_t i = c->opts.offset; i < n && i - c->opts.offset < c->opts.limit; i++) {
		const struct summary_group *g = groups[i];
		char buf[SUMMARY_KEY_MAX];
		uint32_t conns = g->connections > UINT32_MAX ? UINT32_MAX : (uint32_t)g->connections;

		if ((r = sd_bus_message_append(reply, "(sutt)", summary_key_text(&c->summary, g, buf),
					       conns, g->packets, g->bytes)) < 0)
			return r;
	}
	if ((r = sd_bus_message_close_container(reply)) < 0)
		return r;
	return sd_bus_send(NULL, reply, NULL);
}

static int summarize_record(const struct ct_record *r, void *userdata)
{
	struct summarize_call *c = userdata;

	if (!filter_match(&c->filter, r))
		return 0;
	return summary_add(&c->summary, r);
}

static void summarize_done(struct ct_dump *d, int error, void *userdata)
{
	struct summarize_call *c = userdata;
	int r = error;

	ct_dump_free(c->dump);
	c->dump = NULL;
	if (r >= 0)
		r = summarize_reply(c);
	else
		r = reply_dump_error(c->base.m, r);
	if (r < 0)
		log_warn("Could not answer Summarize: %s", strerror(-r));
	summarize_call_free(&c->base);
}

static void summarize_run(struct call *base)
{
	struct summarize_call *c = CALL_OF(base, struct summarize_call);
	struct context *ctx = c->base.ctx;
	GArray *owners = NULL;
	int r;

	if (c->by == BY_INTERFACE) {
		owners = g_array_new(FALSE, FALSE, sizeof(struct addr_owner));
		(void)ctx->filter_env.addr_owners(ctx->filter_env.userdata, owners);
	}
	summary_init(&c->summary, c->by, ctx->summary_groups, owners);
	if (c->kf.empty) {
		/* Keys that contradict each other (an IPv4 and an IPv6 prefix) match nothing. */
		summarize_done(NULL, 0, c);
		return;
	}
	r = call_dump_start(&c->base, &c->kf, summarize_record, summarize_done, c, &c->dump);
	if (r < 0)
		summarize_done(NULL, r, c);
}

static const struct call_ops summarize_ops = { .run = summarize_run, .free = summarize_call_free, .work = true };

int method_summarize(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct context *ctx = userdata;
	struct summarize_call *c = call_new(ctx, m, &summarize_ops, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	if ((r = filter_parse(m, &c->filter, &ctx->filter_env, error)) < 0 ||
	    (r = parse_by(m, &c->by, error)) < 0 ||
	    (r = parse_opts(m, &c->opts, error)) < 0)
		return call_refuse(&c->base, r, error);
	if (c->by == BY_INTERFACE && !ctx->filter_env.addr_owners)
		return call_refuse(&c->base, INVALID(error, "Grouping by interface is not available: "
						     "the service does not follow addresses"), error);
	filter_to_kernel(&c->filter, &ctx->caps, &c->kf);
	return call_authorize(&c->base, ACTION_LIST, NULL, error);
}
