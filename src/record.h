/* The compact connection record (fixed size, no pointers) and its names.
 * One record per conntrack entry while it is being looked at; pages keep
 * only as many as they return. */
#pragma once
#include <linux/netfilter/nf_conntrack_common.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#define CT_RECORD_SIGNATURE "(tsssasssqqssqquuqttttta{sv})"

enum {
	CT_HAS_ICMP     = 1 << 0,
	CT_HAS_HELPER   = 1 << 1,
	CT_HAS_LABELS   = 1 << 2,
	CT_HAS_USE      = 1 << 3,
	CT_HAS_STATE    = 1 << 4,
};

enum { CT_ORIG = 0, CT_REPLY = 1 };

struct ct_tuple {
	uint8_t src[16], dst[16];   /* IPv4 in the first 4 bytes */
	uint16_t sport, dport;      /* host order; 0 for ICMP */
};

struct ct_record {
	uint64_t packets[2], bytes[2];
	uint64_t start_ns;
	uint32_t id, status, timeout, mark, use;
	uint16_t zone, icmp_id;
	uint8_t family, proto, state, icmp_type, icmp_code, flags;
	struct ct_tuple t[2];
	char helper[16];
	uint8_t labels[16];
};

/* Protocol number <-> name ("tcp"...); unknown numbers print in decimal. */
const char *ct_proto_name(uint8_t proto, char buf[4]);
/* Returns the protocol number or -1. Accepts names and decimal numbers 0..255. */
int ct_proto_from_name(const char *s);

/* Protocol state name for protocols with states, NULL otherwise. */
const char *ct_state_name(uint8_t proto, uint8_t state);
/* Number of states of a protocol with states (tcp, sctp, dccp), 0 otherwise. */
unsigned ct_state_count(uint8_t proto);
/* The state a name stands for in a protocol (any case; the names
 * ct_state_name gives and the others conntrack(8) accepts), or -1. */
int ct_state_from_name(uint8_t proto, const char *name);

/* Kernel IPS_* bit names without the prefix; NULL for unnamed bits. */
const char *ct_status_name(unsigned bit);
#define CT_STATUS_BITS 16

const char *ct_family_name(uint8_t family);
/* Canonical text form of one of the record's addresses. */
const char *ct_addr_str(uint8_t family, const uint8_t *addr, char buf[INET6_ADDRSTRLEN]);

/* The kernel's conntrack id is a 32-bit hash: on big tables several entries
 * share one (about 5 in 200,000). This 64-bit identity of id, zone and
 * original tuple tells entries apart where an id alone cannot. */
uint64_t ct_record_ident(const struct ct_record *r);

/* The record's field names, in order, as Export's JSON keys and CSV header. */
extern const char *const ct_record_fields[22];

/* One JSON object (one line, with '\n') or one CSV line of the record into
 * buf; returns its length, or 0 if buf is too small (CT_TEXT_MAX always fits). */
#define CT_TEXT_MAX 4096
size_t ct_record_json(const struct ct_record *r, char *buf, size_t size);
size_t ct_record_csv(const struct ct_record *r, char *buf, size_t size);
/* Parses one CSV line as ct_record_csv writes it (line is changed; the
 * trailing '\n' may be absent). -EINVAL for anything else. */
int ct_record_from_csv(char *line, struct ct_record *r);
/* The CSV header line. */
size_t ct_record_csv_header(char *buf, size_t size);

/* Appends the record as one CT_RECORD_SIGNATURE struct. */
int ct_record_append(sd_bus_message *m, const struct ct_record *r);
/* Reads one CT_RECORD_SIGNATURE struct back (what clients get from List):
 * 1, 0 at the end of the array, or a negative errno. */
int ct_record_read(sd_bus_message *m, struct ct_record *r);
