/* Conntrack table dumps, streamed on the event loop.
 * Each dump has its own netlink socket (a second dump on one socket is
 * EBUSY); each wakeup reads a bounded number of kernel buffers, so a dump of
 * a million entries never holds the loop for long. */
#pragma once
#include <systemd/sd-event.h>
#include "kfilter.h"
#include "record.h"

struct ct_dump;

/* Called for every parsed entry; a negative return aborts the dump with that
 * error, a positive one ends it there (done is called with 0). */
typedef int (*ct_dump_record_fn)(const struct ct_record *r, void *userdata);
/* Called once when the dump ends: 0, or a negative errno. The callee may free the dump. */
typedef void (*ct_dump_done_fn)(struct ct_dump *d, int error, void *userdata);

int ct_dump_start(sd_event *e, const struct ct_kfilter *kf, ct_dump_record_fn on_record,
		  ct_dump_done_fn on_done, void *userdata, struct ct_dump **ret);
/* Stops a dump (if still running) and frees it; done is not called. */
void ct_dump_free(struct ct_dump *d);

/* Finds out which dump filters the running kernel accepts. */
int ct_probe(struct ct_kcaps *caps);

/* Builds the dump request for kf into buf; NULL when out of memory. */
struct nlmsghdr *ct_dump_request(char *buf, const struct ct_kfilter *kf, uint32_t seq);
