/* Resource limits: how much one user, and all other users together, may
 * have going on at once. Beyond a limit a call fails at once with
 * org.freedesktop.DBus.Error.LimitsExceeded, so a flooding user cannot
 * starve others or grow the service's memory without bound.
 *
 * Limits count per user (the uid the bus reports), shared by all of that
 * user's connections: opening more connections buys no more. The service's
 * own uid (root) has a lane of its own: it counts against its own per-user
 * limit only, never against the totals, so no other user's load can make
 * the service refuse root (the failover cleanup of a dispatcher script).
 * Root's work is not counted at all: the scheduler queues it instead. */
#pragma once
#include <sys/types.h>
#include <systemd/sd-bus.h>

enum limit_kind {
	LIMIT_AUTH,   /* polkit checks waiting for an answer */
	LIMIT_WORK,   /* users' calls that read the table, running or waiting */
	_LIMIT_MAX
};

#define LIMIT_AUTH_PER_USER 16
#define LIMIT_AUTH_TOTAL    256
#define LIMIT_WORK_PER_USER 8
#define LIMIT_WORK_TOTAL    64
#define LIMIT_SUBSCRIBERS   256

struct limits;

/* self: the uid with a lane of its own (the service's). */
int limits_new(uid_t self, struct limits **ret);
void limits_free(struct limits *l);
/* Takes one unit of kind for uid: 0, or a negative errno with error set. */
int limits_acquire(struct limits *l, uid_t uid, enum limit_kind kind, sd_bus_error *error);
void limits_release(struct limits *l, uid_t uid, enum limit_kind kind);
