/* Conntrack table dumps, streamed on the event loop.
 * Each dump has its own netlink socket (a second dump on one socket is
 * EBUSY); each wakeup reads a bounded number of kernel buffers, so a dump of
 * a million entries never holds the loop for long. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>
#include "kfilter.h"
#include "record.h"

struct ct_dump;

/* Called for every parsed entry; a negative return aborts the dump with that
 * error, a positive one ends it there (done is called with 0). */
typedef int (*ct_dump_record_fn)(const struct ct_record *r, void *userdata);
/* Called once when the dump ends: 0, or a negative errno. The callee may free the dump. */
typedef void (*ct_dump_done_fn)(struct ct_dump *d, int error, void *userdata);

/* Dumps of one kind (the scheduler's lanes): read at one event priority,
 * paused and resumed together. A paused dump is not read, so the kernel
 * does not walk on either. With guard_usec, each running dump of the group
 * also reads a slice every guard_usec from a timer at normal priority, so
 * that sources above the group's priority (a storm of calls on the bus)
 * slow its dumps down but never starve them. */
struct ct_dump_group;

int ct_dump_group_new(sd_event *e, int64_t priority, uint64_t guard_usec, struct ct_dump_group **ret);
/* Frees g; a dump of g still running leaves it. */
void ct_dump_group_free(struct ct_dump_group *g);
void ct_dump_group_pause(struct ct_dump_group *g, bool paused);

/* Starts a dump in group g (running, or waiting while g is paused). Its
 * first read waits until nothing else in the loop is ready (or for the
 * group's guard): the calls queued meanwhile are read first, so that those
 * that can share its records (bus-list.c) find it before any came. */
int ct_dump_start(sd_event *e, struct ct_dump_group *g, const struct ct_kfilter *kf, ct_dump_record_fn on_record,
		  ct_dump_done_fn on_done, void *userdata, struct ct_dump **ret);
/* Stops a dump (if still running) and frees it; done is not called. */
void ct_dump_free(struct ct_dump *d);

/* Finds out which dump filters the running kernel accepts. */
int ct_probe(struct ct_kcaps *caps);

/* Builds the dump request for kf into buf; NULL when out of memory. */
struct nlmsghdr *ct_dump_request(char *buf, const struct ct_kfilter *kf, uint32_t seq);
