/* The org.example.Connections object: vtable and method handlers. */
#pragma once
#include <stdint.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include "auth.h"
#include "events.h"
#include "filter.h"

#define BUS_NAME      "org.example.Connections"
#define BUS_PATH      "/org/example/Connections"
#define BUS_INTERFACE "org.example.Connections"

struct context {
	sd_bus *bus;
	sd_event *event;
	struct auth *auth;
	struct limits *limits;
	struct events *events;
	struct export_budget *exports;  /* memory Export's open memfds hold, per user */
	struct listings *listings;      /* List results kept for their later pages */
	struct filter_env filter_env;   /* addrwatch, for 'interface' and 'stale' */
	struct ct_kcaps caps;
	uint32_t page_size;      /* List's default and maximum limit */
	uint32_t summary_groups; /* distinct groups one Summarize keeps */
	const char *version;     /* points to PACKAGE_VERSION; a property */
	unsigned busy;           /* calls in progress (dumps, deletes) */
	uint64_t last_call_usec; /* CLOCK_MONOTONIC of the last incoming call */
};

int bus_add_object(struct context *ctx);
/* What every asynchronous call holds: its message, a place in ctx->busy
 * (for --exit-idle) and, once authorized and running, a work slot. */
struct call {
	struct context *ctx;
	sd_bus_message *m;
	uid_t uid;      /* the caller's, as the bus reports it; -1 if unknown */
	bool counted;   /* holds a LIMIT_WORK unit */
};

void call_init(struct call *c, struct context *ctx, sd_bus_message *m);
void call_done(struct call *c);
/* Takes a work slot (LIMIT_WORK) for an authorized call about to run. On
 * refusal it answers the call with LimitsExceeded and returns false. */
bool call_start_work(struct call *c);

/* Answers the call with an error; a failure to send it (the caller left,
 * the bus is gone) is logged, as every failed reply is. */
void call_reply_error(sd_bus_message *m, const sd_bus_error *error);

/* Answers a call whose kernel dump failed with error (a negative errno). */
int reply_dump_error(sd_bus_message *m, int error);

/* Whether nothing is going on: no call in progress, no polkit check, no subscriber. */
bool bus_idle(const struct context *ctx);
