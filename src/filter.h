/* Filters: the filter a{sv} of List, Export, Summarize and DeleteMatching
 * parsed into a struct and matched against records. kfilter.h has the part
 * the kernel can evaluate during a dump, only a shortcut: every record is
 * matched here too. */
#pragma once
#include <stdbool.h>
#include <glib.h>
#include <net/if.h>
#include <stdint.h>
#include <systemd/sd-bus.h>
#include "record.h"

enum filter_key {
	FK_FAMILY, FK_PROTOCOL, FK_STATE, FK_STATUS, FK_ADDRESS, FK_SRC, FK_DST,
	FK_REPLY_SRC, FK_REPLY_DST, FK_PORT, FK_SPORT, FK_DPORT, FK_MARK,
	FK_MARK_MASK, FK_ZONE, FK_NAT, FK_NAT_ADDRESS, FK_INTERFACE, FK_STALE,
	_FK_MAX
};

enum nat_kind { NAT_SNAT, NAT_DNAT, NAT_ANY, NAT_NONE };

struct addr_prefix {
	uint8_t family;   /* AF_INET / AF_INET6 */
	uint8_t len;      /* prefix length in bits */
	uint8_t addr[16]; /* host bits cleared */
};

/* An address and the interface that holds it (or held it last). */
struct addr_owner {
	uint8_t family;
	uint8_t addr[16];
	char ifname[IFNAMSIZ];
};

struct ct_filter {
	uint32_t keys;    /* 1 << enum filter_key for every key given */
	uint8_t family, proto;
	/* Per protocol with states, which state numbers the 'state' key accepts. */
	uint32_t tcp_states, sctp_states, dccp_states;
	uint32_t status_set, status_clear; /* must have all of set, none of clear */
	struct addr_prefix addr[_FK_MAX]; /* indexed by the address keys */
	uint16_t port, sport, dport, zone;
	uint32_t mark, mark_mask;
	enum nat_kind nat;
	bool stale;               /* the value of the 'stale' key */
	GArray *iface_addrs;      /* 'interface': struct addr_prefix, owned */
	GArray *stale_addrs;      /* 'stale': struct addr_prefix, owned */
};

/* Where the 'interface' and 'stale' keys find addresses (addrwatch.c in the
 * service). Without it those keys are refused. */
struct filter_env {
	void *userdata;
	/* Appends the addresses an interface holds or has held; -ENOENT if unknown. */
	int (*interface_addrs)(void *userdata, const char *ifname, GArray *out);
	/* Appends the addresses held since start that nobody holds now. */
	int (*stale_addrs)(void *userdata, GArray *out);
	/* Appends (struct addr_owner) every address held now, then every one
	 * held since start that nobody holds now, each with its interface. */
	int (*addr_owners)(void *userdata, GArray *out);
};

#define FILTER_HAS(f, k) (((f)->keys >> (k)) & 1u)

/* Reads an a{sv} filter from m into f. On bad input returns a negative errno
 * and sets error to InvalidArgs naming the key and what was wrong. */
int filter_parse(sd_bus_message *m, struct ct_filter *f, const struct filter_env *env,
		 sd_bus_error *error);
/* Frees what a parsed filter owns. */
void filter_clear(struct ct_filter *f);

bool filter_match(const struct ct_filter *f, const struct ct_record *r);

/* Whether the filter leaves out more than whole address families. Keys that
 * match every entry (an empty status list, mark-mask 0, stale false while no
 * address is stale) or only pick a family (family, a /0 prefix) narrow
 * nothing: deleting what such a filter matches is a flush. */
bool filter_narrows(const struct ct_filter *f);

/* Parses an address or CIDR prefix ("192.0.2.0/24", "2001:db8::1"). */
int addr_prefix_parse(const char *s, struct addr_prefix *p);
bool addr_prefix_match(const struct addr_prefix *p, uint8_t family, const uint8_t *addr);
