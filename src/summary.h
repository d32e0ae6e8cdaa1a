/* Summarize's grouping: matching records counted by one key (source,
 * destination port, NAT address, interface...), in memory bounded by a cap
 * on distinct groups. Records whose key would make one group too many are
 * counted in one overflow group, so that the counts always add up to the
 * total. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "filter.h"
#include "record.h"

enum summary_by {
	BY_SRC, BY_DST, BY_REPLY_SRC, BY_REPLY_DST, BY_SPORT, BY_DPORT, BY_PROTOCOL,
	BY_STATE, BY_FAMILY, BY_MARK, BY_ZONE, BY_NAT_ADDRESS, BY_INTERFACE,
};

enum summary_sort { SUMMARY_CONNECTIONS, SUMMARY_BYTES, SUMMARY_PACKETS };

/* The overflow group's key: the space keeps it apart from every real key
 * (addresses, numbers, protocol, state and interface names have none). */
#define SUMMARY_OTHER_KEY "(other keys)"

struct summary_key {
	uint8_t family;    /* addresses: AF_INET / AF_INET6; 0 otherwise */
	uint8_t b[19];     /* address, big-endian number, or NUL-padded name */
};

struct summary_group {
	struct summary_key key;
	bool other;        /* the overflow group */
	uint64_t connections, packets, bytes;
};

struct summary {
	enum summary_by by;
	size_t max_groups;
	uint64_t total;          /* records added */
	GHashTable *groups;      /* struct summary_key * -> struct summary_group * */
	struct summary_group other;
	GHashTable *owners;      /* BY_INTERFACE: address -> struct addr_owner * */
	GArray *owner_list;      /* struct addr_owner, owned */
};

/* Names as Summarize's 'by' argument and 'sort' option take them; -1 if unknown. */
int summary_by_from_name(const char *name);
int summary_sort_from_name(const char *name);

/* owners (struct addr_owner, taken; may be NULL unless by is BY_INTERFACE):
 * where an address is held by several, the first listed wins. */
void summary_init(struct summary *s, enum summary_by by, size_t max_groups, GArray *owners);
/* Counts one record; -ENOMEM only when memory runs out. */
int summary_add(struct summary *s, const struct ct_record *r);
/* Every group (the overflow group last among equals, if it counted any),
 * biggest first by sort, then by connections, then by key. The array and
 * its groups stay owned by s; free the array with g_free. */
struct summary_group **summary_sorted(const struct summary *s, enum summary_sort sort, size_t *n);
/* The group's key as text: addresses as inet_ntop writes them, numbers in
 * decimal, names as they are; "" where a record has no such value (no NAT,
 * no state, no interface). */
#define SUMMARY_KEY_MAX 48
const char *summary_key_text(const struct summary *s, const struct summary_group *g,
			     char buf[SUMMARY_KEY_MAX]);
void summary_free(struct summary *s);
