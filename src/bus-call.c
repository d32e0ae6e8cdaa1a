#include "bus-call.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "bus.h"
#include "log.h"
#include "reslimits.h"
#include "scheduler.h"

void *call_new(struct context *ctx, sd_bus_message *m, const struct call_ops *ops, size_t size)
{
	struct call *c = calloc(1, size);

	if (!c)
		return NULL;
	c->ctx = ctx;
	c->m = sd_bus_message_ref(m);
	c->ops = ops;
	if (auth_caller_uid(ctx->auth, m, &c->uid) < 0)
		c->uid = (uid_t)-1;   /* counted as a user of its own, never as the service's */
	ctx->busy++;
	return c;
}

void call_done(struct call *c)
{
	if (c->scheduled)
		scheduler_done(c->ctx->scheduler, &c->job);
	if (c->counted)
		limits_release(c->ctx->limits, c->uid, LIMIT_WORK);
	c->ctx->busy--;
	c->m = sd_bus_message_unref(c->m);
}

void call_free(struct call *c)
{
	if (!c)
		return;
	call_done(c);
	free(c);
}

void call_reply_error(sd_bus_message *m, const sd_bus_error *error)
{
	int r = sd_bus_reply_method_error(m, error);
	if (r < 0)
		log_warn("Could not answer %s with %s: %s", sd_bus_message_get_member(m), error->name, strerror(-r));
}

int reply_dump_error(sd_bus_message *m, int error)
{
	return sd_bus_reply_method_errorf(m, SD_BUS_ERROR_FAILED,
					  "Reading the conntrack table failed: %s", strerror(-error));
}

static void refused(struct call *c, const char *error_name)
{
	if (c->ops->refused)
		c->ops->refused(c, error_name);
	c->ops->free(c);
}

static void job_start(struct sched_job *j)
{
	struct call *c = (struct call *)((char *)j - offsetof(struct call, job));
	c->ops->run(c);
}

/* Authorized: work that walks the table goes to the scheduler, after a
 * user's limit on calls in progress (a refusal is answered with
 * LimitsExceeded; root's lane has none: it waits its turn); the rest runs
 * at once. */
static void call_run(struct call *c)
{
	struct scheduler *s = c->ctx->scheduler;

	if (!c->ops->work || (c->ops->light && c->ops->light(c))) {
		c->ops->run(c);
		return;
	}
	if (!scheduler_is_root(s, c->uid)) {
		sd_bus_error error = SD_BUS_ERROR_NULL;
		if (limits_acquire(c->ctx->limits, c->uid, LIMIT_WORK, &error) < 0) {
			call_reply_error(c->m, &error);
			refused(c, error.name);
			sd_bus_error_free(&error);
			return;
		}
		c->counted = true;
	}
	c->job = (struct sched_job){ .start = job_start, .uid = c->uid };
	c->scheduled = true;
	scheduler_submit(s, &c->job);
}

int call_dump_start(struct call *c, const struct ct_kfilter *kf, ct_dump_record_fn on_record,
		    ct_dump_done_fn on_done, void *userdata, struct ct_dump **ret)
{
	/* An unscheduled call's job is zeroed: a user's. */
	return ct_dump_start(c->ctx->event, c->job.root ? c->ctx->root_dumps : c->ctx->user_dumps, kf, on_record,
			     on_done, userdata, ret);
}

/* polkit's answer. */
static void call_authorized(sd_bus_message *m, int ok, const sd_bus_error *error, void *userdata)
{
	struct call *c = userdata;

	if (ok) {
		call_run(c);
		return;
	}
	call_reply_error(m, error);
	refused(c, error->name);
}

int call_authorize(struct call *c, const char *action, GHashTable *details, sd_bus_error *error)
{
	int r = auth_check(c->ctx->auth, c->m, c->uid, action, details, call_authorized, c, error);

	if (r < 0) {
		refused(c, error->name ? error->name : SD_BUS_ERROR_FAILED);
		return r;
	}
	if (r > 0)
		call_run(c);
	return 1;
}

int call_refuse(struct call *c, int r, const sd_bus_error *error)
{
	/* Without a name set, sd-bus answers a failed read of the arguments as InvalidArgs. */
	refused(c, error->name ? error->name : SD_BUS_ERROR_INVALID_ARGS);
	return r;
}
