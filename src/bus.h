/* The org.example.Connections object: what its methods share (the
 * context) and the object itself (bus.c: properties and the vtable). Each
 * method family has a file of its own: bus-list.c, bus-export.c,
 * bus-summarize.c, bus-statistics.c, bus-subscribe.c, bus-delete.c; their
 * calls live as bus-call.h describes. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include "auth.h"
#include "ctread.h"
#include "busnames.h"
#include "events.h"
#include "filter.h"
#include "kfilter.h"

struct list_call;

struct context {
	sd_bus *bus;
	sd_event *event;
	struct auth *auth;
	struct limits *limits;
	struct scheduler *scheduler;    /* the work of calls: root's lane first */
	struct ct_dump_group *root_dumps, *user_dumps;  /* users' pause while root works */
	struct events *events;
	struct export_budget *exports;  /* memory Export's open memfds hold, per user */
	struct listings *listings;      /* List results kept for their later pages */
	struct list_call *list_walks;   /* Lists whose dump others may still share (bus-list.c) */
	struct filter_env filter_env;   /* addrwatch, for 'interface' and 'stale' */
	struct ct_kcaps caps;
	uint32_t page_size;      /* List's default and maximum limit */
	uint32_t summary_groups; /* distinct groups one Summarize keeps */
	const char *version;     /* points to PACKAGE_VERSION; a property */
	unsigned busy;           /* calls in progress (dumps, deletes) */
	uint64_t last_call_usec; /* CLOCK_MONOTONIC of the last incoming call */
};

/* Puts the object (properties, methods, signals) on ctx->bus. */
int bus_add_object(struct context *ctx);

/* Whether nothing is going on: no call in progress, no polkit check, no subscriber. */
bool bus_idle(const struct context *ctx);
