/* Deleting conntrack entries: exactly one by tuple, many in batches, or all.
 * A delete names the original tuple, zone and (optionally) id: the kernel
 * deletes nothing else, and with the id not even a newer entry that reuses
 * the tuple. */
#pragma once
#include <libmnl/libmnl.h>
#include <stdbool.h>
#include "record.h"

struct ct_batch;

int ct_batch_new(struct ct_batch **ret);
void ct_batch_free(struct ct_batch *b);
/* Queues the deletion of r's entry (tuple + zone, + id when with_id); sends
 * the batch when it is full. Returns 0 or a negative errno. */
int ct_batch_add(struct ct_batch *b, const struct ct_record *r, bool with_id);
/* Sends what is queued and reads every answer. */
int ct_batch_flush(struct ct_batch *b);
/* Entries deleted so far, and entries already gone when their delete came. */
unsigned ct_batch_deleted(const struct ct_batch *b);
unsigned ct_batch_vanished(const struct ct_batch *b);

/* Deletes one entry now: 0, -ENOENT when there is no such entry (or its id
 * differs), or another negative errno. */
int ct_delete_one(const struct ct_record *r, bool with_id);

/* The IPCTNL_MSG_CT_DELETE request for r into buf (MNL_SOCKET_BUFFER_SIZE
 * will do), built by libnetfilter_conntrack; NULL when out of memory. */
struct nlmsghdr *ct_delete_request(char *buf, const struct ct_record *r, bool with_id, uint32_t seq);

/* Deletes every entry of the namespace's table. Blocking: run it off the loop. */
int ct_flush_all(void);
