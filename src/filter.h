/* Filters: the filter a{sv} of List, Export and DeleteMatching parsed into a
 * struct, matched against records, and translated into the part the kernel
 * can evaluate during a dump.
 * The kernel part is only an optimisation: every record is matched here too. */
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

/* Walks an a{sv} whose keys must be among names[0..n): per entry, enters it
 * and its variant and returns 1 with the key's index and the variant's
 * signature; 0 after the last entry (the array is left); <0 with error set
 * for an unknown or repeated key ("Unknown <what> 'k'", "<What> 'k' is
 * given more than once"). After reading the value call dict_entry_end(). */
int dict_next(sd_bus_message *m, const char *const *names, unsigned n, uint64_t *seen,
	      const char *what, unsigned *index, const char **contents, sd_bus_error *error);
int dict_entry_end(sd_bus_message *m);

/* Reads the current variant's integer, whatever D-Bus integer type it has
 * (contents is its signature), and checks it against [0, max]. Errors read
 * "<what> '<key>': ...". */
int variant_read_uint(sd_bus_message *m, const char *what, const char *key, const char *contents,
		      uint64_t max, uint64_t *out, sd_bus_error *error);

bool filter_match(const struct ct_filter *f, const struct ct_record *r);

/* Whether the filter leaves out more than whole address families. Keys that
 * match every entry (an empty status list, mark-mask 0, stale false while no
 * address is stale) or only pick a family (family, a /0 prefix) narrow
 * nothing: deleting what such a filter matches is a flush. */
bool filter_narrows(const struct ct_filter *f);

/* Parses an address or CIDR prefix ("192.0.2.0/24", "2001:db8::1"). */
int addr_prefix_parse(const char *s, struct addr_prefix *p);
bool addr_prefix_match(const struct addr_prefix *p, uint8_t family, const uint8_t *addr);

/* CTA_FILTER flag bits. The kernel keeps these in nf_conntrack_netlink.c, not
 * in its UAPI headers, so they are defined here, once; ctread.c probes at
 * start whether the running kernel accepts them. */
#define CTA_FILTER_F_IP_SRC     (1u << 0)
#define CTA_FILTER_F_IP_DST     (1u << 1)
#define CTA_FILTER_F_TUPLE_ZONE (1u << 2)
#define CTA_FILTER_F_PROTO_NUM  (1u << 3)
#define CTA_FILTER_F_SRC_PORT   (1u << 4)
#define CTA_FILTER_F_DST_PORT   (1u << 5)
#define CTA_FILTER_F_USED       (CTA_FILTER_F_IP_SRC | CTA_FILTER_F_IP_DST | \
				 CTA_FILTER_F_PROTO_NUM | CTA_FILTER_F_SRC_PORT | \
				 CTA_FILTER_F_DST_PORT)

/* What the kernel can filter on during a dump (see ctread.c for how it is sent). */
struct ct_kfilter {
	uint8_t family;                 /* 0 = all (with tuple flags: IPv4, then IPv6) */
	bool mark;   uint32_t mark_val, mark_mask;
	bool status; uint32_t status_val, status_mask;
	uint32_t orig_flags, reply_flags; /* CTA_FILTER_F_* */
	uint8_t proto;
	struct ct_tuple orig, reply;
	bool empty;                     /* the filter can match nothing */
};

/* Kernel capabilities found by probing at start. */
struct ct_kcaps {
	bool tuple_filter;   /* CTA_FILTER in dumps (Linux 5.9+) */
	bool status_filter;  /* CTA_STATUS/CTA_STATUS_MASK in dumps (Linux 6.1+) */
};

void filter_to_kernel(const struct ct_filter *f, const struct ct_kcaps *caps, struct ct_kfilter *kf);
