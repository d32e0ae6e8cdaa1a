/* Resource limits: how much one caller, and everyone together, may have
 * going on at once. Beyond a limit a call fails at once with
 * org.freedesktop.DBus.Error.LimitsExceeded, so a flooding client cannot
 * starve others or grow the service's memory without bound. */
#pragma once
#include <systemd/sd-bus.h>

enum limit_kind {
	LIMIT_AUTH,   /* polkit checks waiting for an answer */
	LIMIT_WORK,   /* calls in progress: dumps, deletes, exports */
	_LIMIT_MAX
};

#define LIMIT_AUTH_PER_CALLER 16
#define LIMIT_AUTH_TOTAL      256
#define LIMIT_WORK_PER_CALLER 8
#define LIMIT_WORK_TOTAL      64
#define LIMIT_SUBSCRIBERS     256

struct limits;

int limits_new(struct limits **ret);
void limits_free(struct limits *l);
/* Takes one unit of kind for sender: 0, or a negative errno with error set. */
int limits_acquire(struct limits *l, const char *sender, enum limit_kind kind, sd_bus_error *error);
void limits_release(struct limits *l, const char *sender, enum limit_kind kind);
