#include "bus-delete.h"

#include <errno.h>
#include <gio/gio.h>
#include <stdlib.h>
#include <string.h>

#include "argtext.h"
#include "audit.h"
#include "bus-call.h"
#include "bus.h"
#include "connspec.h"
#include "ctread.h"
#include "ctstats.h"
#include "ctwrite.h"
#include "errors.h"
#include "log.h"
#include "util.h"


enum del_kind { DEL_ONE, DEL_MATCHING, DEL_FLUSH };
static const char *const method_names[] = {
	[DEL_ONE] = "Delete", [DEL_MATCHING] = "DeleteMatching", [DEL_FLUSH] = "Flush",
};

struct del_call {
	struct call base;
	enum del_kind kind;
	const char *method;       /* method_names[kind]: for replies and audit records */
	struct audit_caller who;
	struct conn_spec spec;    /* Delete */
	struct ct_filter filter;  /* DeleteMatching */
	struct ct_kfilter kf;
	struct ct_dump *dump;
	struct ct_batch *batch;
	unsigned found;           /* Delete by id: entries carrying the id */
	unsigned deleted;         /* the count its signal carries */
	struct ct_record target;
};

static void del_call_free(struct call *base)
{
	struct del_call *c = CALL_OF(base, struct del_call);

	if (!c)
		return;
	ct_dump_free(c->dump);
	ct_batch_free(c->batch);
	filter_clear(&c->filter);
	call_done(&c->base);
	free(c);
}

static struct del_call *del_call_new(struct context *ctx, sd_bus_message *m, const struct call_ops *ops,
				     enum del_kind kind)
{
	struct del_call *c = call_new(ctx, m, ops, sizeof(*c));
	if (!c)
		return NULL;
	c->kind = kind;
	c->method = method_names[kind];
	audit_caller_get(m, &c->who);
	return c;
}

/* Every refusal (denied, over a limit, bad arguments) is audited too. */
static void del_refused(struct call *base, const char *error_name)
{
	struct del_call *c = CALL_OF(base, struct del_call);
	audit_record(c->base.m, &c->who, c->method, error_name, 0);
}

/* ConnectionsDeleted(method, the caller's argument, count). */
static int append_deleted(sd_bus_message *s, void *userdata)
{
	struct del_call *c = userdata;
	int r;

	if ((r = sd_bus_message_append(s, "s", c->method)) < 0)
		return r;
	if (c->kind == DEL_FLUSH)
		r = sd_bus_message_append(s, "a{sv}", 0);
	else if ((r = sd_bus_message_rewind(c->base.m, 1)) >= 0)
		r = sd_bus_message_copy(s, c->base.m, 1);   /* the call's only argument */
	if (r < 0)
		return r;
	return sd_bus_message_append(s, "u", c->deleted);
}

/* To subscribers alone: what was deleted is for those who may list. */
static int emit_deleted(struct del_call *c, unsigned count)
{
	if (!c->base.ctx->events)
		return 0;
	c->deleted = count;
	return events_signal_subscribers(c->base.ctx->events, "ConnectionsDeleted", append_deleted, c);
}

/* Ends a call: the reply (or error), the signal, the audit record; frees c. */
static void finish(struct del_call *c, int error, const char *error_name, const char *fmt, unsigned count)
{
	int r;

	if (error_name || error < 0) {
		const char *name = error_name ? error_name : SD_BUS_ERROR_FAILED;
		if (fmt)
			r = sd_bus_reply_method_errorf(c->base.m, name, fmt, count);
		else
			r = sd_bus_reply_method_errorf(c->base.m, name, "%s failed: %s", c->method, strerror(-error));
		audit_record(c->base.m, &c->who, c->method, name, 0);
	} else {
		if (c->kind == DEL_ONE)
			r = sd_bus_reply_method_return(c->base.m, NULL);
		else
			r = sd_bus_reply_method_return(c->base.m, "u", count);
		if (r >= 0 && (r = emit_deleted(c, count)) < 0)
			log_warn("Could not emit ConnectionsDeleted: %s", strerror(-r));
		audit_record(c->base.m, &c->who, c->method, NULL, count);
	}
	if (r < 0)
		log_warn("Could not answer %s: %s", c->method, strerror(-r));
	del_call_free(&c->base);
}

static void add_detail(const char *key, const char *value, void *details)
{
	g_hash_table_insert(details, g_strdup(key), g_strdup(value));
}

/* What polkit rules and dialogs see: every key of the caller's argument as a
 * detail of its own (a rule can allow, say, delete-matching for interface
 * wan1 alone), the whole of it as "filter" or "connection", and a
 * polkit.message that says what would be deleted. */
static GHashTable *details_new(struct del_call *c, const char *action)
{
	GHashTable *d = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	g_autofree char *text = NULL;

	if (c->kind == DEL_FLUSH)
		return d;
	(void)argtext_walk(c->base.m, add_detail, d);
	text = argtext_join(c->base.m);
	if (c->kind == DEL_ONE) {
		g_hash_table_insert(d, g_strdup("connection"), g_strdup(text));
		g_hash_table_insert(d, g_strdup("polkit.message"),
				    g_strdup_printf("Authentication is required to delete the tracked network "
						    "connection %s.", text));
	} else {
		g_hash_table_insert(d, g_strdup("filter"), g_strdup(text));
		g_hash_table_insert(d, g_strdup("polkit.message"), strcmp(action, ACTION_FLUSH) == 0
			? g_strdup_printf("Authentication is required to delete every tracked network "
					  "connection: the filter %s leaves none out.", text)
			: g_strdup_printf("Authentication is required to delete the tracked network "
					  "connections that match %s.", text));
	}
	return d;
}

/* Authorizes c for action, with its details, then runs it. */
static int authorize(struct del_call *c, const char *action, sd_bus_error *error)
{
	g_autoptr(GHashTable) details = details_new(c, action);
	return call_authorize(&c->base, action, details, error);
}

/* --- Delete --------------------------------------------------------------- */

static void delete_now(struct del_call *c, const struct ct_record *r, bool with_id)
{
	int k = ct_delete_one(r, with_id);
	if (k == -ENOENT)
		finish(c, 0, ERROR_NOT_FOUND, "No such connection", 0);
	else
		finish(c, k, NULL, NULL, 1);
}

static int find_id(const struct ct_record *r, void *userdata)
{
	struct del_call *c = userdata;
	if (r->id == c->spec.rec.id && c->found++ == 0)
		c->target = *r;
	return 0;
}

static void find_id_done(struct ct_dump *d, int error, void *userdata)
{
	struct del_call *c = userdata;

	ct_dump_free(c->dump);
	c->dump = NULL;
	if (error < 0)
		finish(c, error, NULL, NULL, 0);
	else if (c->found == 0)
		finish(c, 0, ERROR_NOT_FOUND, "No connection has this id", 0);
	else if (c->found > 1)
		/* Kernel ids are 32-bit hashes and do collide: refuse to guess. */
		finish(c, 0, SD_BUS_ERROR_INVALID_ARGS,
		       "Connection key 'id': %u connections carry this id; name the connection by its tuple",
		       c->found);
	else
		delete_now(c, &c->target, true);
}

static void delete_run(struct call *base)
{
	struct del_call *c = CALL_OF(base, struct del_call);
	struct ct_kfilter all = { 0 };
	int r;

	if (!c->spec.by_id) {
		delete_now(c, &c->spec.rec, c->spec.has_id);
		return;
	}
	r = call_dump_start(&c->base, &all, find_id, find_id_done, c, &c->dump);
	if (r < 0)
		finish(c, r, NULL, NULL, 0);
}

static const struct call_ops delete_ops = {
	.run = delete_run, .free = del_call_free, .refused = del_refused, .work = true,
};

int method_delete(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct del_call *c = del_call_new(userdata, m, &delete_ops, DEL_ONE);
	int r;

	if (!c)
		return -ENOMEM;
	if ((r = conn_spec_parse(m, &c->spec, error)) < 0)
		return call_refuse(&c->base, r, error);
	return authorize(c, ACTION_DELETE, error);
}

/* --- DeleteMatching ------------------------------------------------------- */

static int matching_record(const struct ct_record *r, void *userdata)
{
	struct del_call *c = userdata;
	/* Same match as List; the id makes sure a newer entry reusing the tuple
	 * after this dump is not the one deleted. */
	return filter_match(&c->filter, r) ? ct_batch_add(c->batch, r, true) : 0;
}

static void matching_done(struct ct_dump *d, int error, void *userdata)
{
	struct del_call *c = userdata;
	int r;

	ct_dump_free(c->dump);
	c->dump = NULL;
	r = ct_batch_flush(c->batch);
	if (error >= 0)
		error = r;
	log_debug("DeleteMatching: %u deleted, %u already gone", ct_batch_deleted(c->batch),
		  ct_batch_vanished(c->batch));
	finish(c, error < 0 ? error : 0, NULL, NULL, ct_batch_deleted(c->batch));
}

static void matching_run(struct call *base)
{
	struct del_call *c = CALL_OF(base, struct del_call);
	int r;

	if (c->kf.empty) {
		finish(c, 0, NULL, NULL, 0);
		return;
	}
	if ((r = ct_batch_new(&c->batch)) < 0 ||
	    (r = call_dump_start(&c->base, &c->kf, matching_record, matching_done, c, &c->dump)) < 0)
		finish(c, r, NULL, NULL, 0);
}

static const struct call_ops matching_ops = {
	.run = matching_run, .free = del_call_free, .refused = del_refused, .work = true,
};

int method_delete_matching(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct context *ctx = userdata;
	struct del_call *c = del_call_new(ctx, m, &matching_ops, DEL_MATCHING);
	int r;

	if (!c)
		return -ENOMEM;
	if ((r = filter_parse(m, &c->filter, &ctx->filter_env, error)) < 0)
		return call_refuse(&c->base, r, error);
	if (c->filter.keys == 0)
		return call_refuse(&c->base, INVALID(error, "DeleteMatching needs a filter: an empty one would "
						     "delete every connection (use Flush for that)"), error);
	filter_to_kernel(&c->filter, &ctx->caps, &c->kf);
	/* Authorization follows the effect: a filter that narrows nothing is a flush. */
	return authorize(c, filter_narrows(&c->filter) ? ACTION_DELETE_MATCHING : ACTION_FLUSH, error);
}

/* --- Flush ---------------------------------------------------------------- */

struct flush_result {
	int error;
	unsigned count;
};

/* Runs on a worker thread: the kernel's flush walks the whole table inside
 * one syscall, which must not hold up the loop. */
static void flush_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancel)
{
	struct flush_result *res = g_new0(struct flush_result, 1);
	uint32_t before = 0;

	/* The kernel does not say how many a flush removed: report how many
	 * entries the table held right before it. */
	res->error = ct_count(&before, NULL);
	if (res->error >= 0)
		res->error = ct_flush_all();
	res->count = before;
	g_task_return_pointer(task, res, g_free);
}

static void flush_done(GObject *source, GAsyncResult *result, gpointer userdata)
{
	struct del_call *c = userdata;
	struct flush_result *res = g_task_propagate_pointer(G_TASK(result), NULL);

	finish(c, res ? res->error : -EIO, NULL, NULL, res ? res->count : 0);
	g_free(res);
}

static void flush_run(struct call *base)
{
	GTask *task = g_task_new(NULL, NULL, flush_done, CALL_OF(base, struct del_call));
	g_task_run_in_thread(task, flush_thread);
	g_object_unref(task);
}

static const struct call_ops flush_ops = {
	.run = flush_run, .free = del_call_free, .refused = del_refused, .work = true,
};

int method_flush(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct del_call *c = del_call_new(userdata, m, &flush_ops, DEL_FLUSH);
	if (!c)
		return -ENOMEM;
	return authorize(c, ACTION_FLUSH, error);
}
