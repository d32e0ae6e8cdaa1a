/* A method call's life, the same for every method: parse, authorize, run.
 *
 *   c = call_new(ctx, m, &ops, sizeof(*c));    the handler parses into c,
 *   return call_authorize(&c->base, ACTION_…, details, error);
 *
 * call_authorize() asks polkit (root passes at once), then hands a method
 * that walks the table to the scheduler (scheduler.h: root's lane first,
 * users in turn, a user refused past its limit) and calls ops->run when the
 * call's turn comes; a denial is answered, reported to ops->refused and the
 * call freed. From there on ops->run owns the call and ends it with
 * ops->free. Dumps a call starts go through call_dump_start(), in its
 * lane's dump group (users' pause while root's work runs). */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <systemd/sd-bus.h>
#include "ctread.h"
#include "scheduler.h"

struct context;
struct call;

struct call_ops {
	void (*run)(struct call *c);    /* authorized (and holding a work slot if work) */
	void (*free)(struct call *c);   /* frees the method's call; ends with call_done() */
	/* Optional: the call was refused (denied, over a limit) with error_name;
	 * the caller has been answered already. The destructive methods audit it. */
	void (*refused)(struct call *c, const char *error_name);
	bool work;                      /* walks the table: waits for the scheduler's slot */
	/* Optional, for work: whether this call will be answered without
	 * walking the table (a count from the kernel's, a kept listing's page);
	 * such a call takes no slot and is never refused for others' load. */
	bool (*light)(struct call *c);
};

/* What every call holds: its message, a place in ctx->busy (for
 * --exit-idle), the caller's uid (asked once) and, while running, a work slot.
 * Each method's call embeds it as its first member, named base. */
struct call {
	struct context *ctx;
	sd_bus_message *m;
	const struct call_ops *ops;
	uid_t uid;      /* the caller's, as the bus reports it; -1 if unknown */
	bool counted;   /* holds a LIMIT_WORK unit */
	bool scheduled; /* job is with the scheduler */
	struct sched_job job;
};

#define CALL_OF(c, type) ((type *)(void *)(c))

/* A zeroed call of size bytes (its struct call first), or NULL. */
void *call_new(struct context *ctx, sd_bus_message *m, const struct call_ops *ops, size_t size);
/* Releases what call_new() set up; a method's free function ends with it. */
void call_done(struct call *c);
/* ops->free for calls that are a plain struct call. */
void call_free(struct call *c);

/* Authorizes c for action (details for polkit rules and dialogs, or NULL),
 * then runs it. Returns 1 (c is handled from here on), or a negative errno
 * with error set, c refused and freed: the handler returns it as it is. */
int call_authorize(struct call *c, const char *action, GHashTable *details, sd_bus_error *error);
/* Refuses c at parse time: error is set; reports it to ops->refused, frees
 * c and returns r for the handler to return. */
int call_refuse(struct call *c, int r, const sd_bus_error *error);

/* ct_dump_start() in the dump group of c's lane. */
int call_dump_start(struct call *c, const struct ct_kfilter *kf, ct_dump_record_fn on_record,
		    ct_dump_done_fn on_done, void *userdata, struct ct_dump **ret);

/* Answers the call with an error; a failure to send it (the caller left,
 * the bus is gone) is logged, as every failed reply is. */
void call_reply_error(sd_bus_message *m, const sd_bus_error *error);
/* Answers a call whose kernel dump failed with error (a negative errno). */
int reply_dump_error(sd_bus_message *m, int error);
