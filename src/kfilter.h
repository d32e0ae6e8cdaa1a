/* The part of a filter the kernel can evaluate during a dump: what ctread.c
 * sends with the dump request. Matching in full is filter.c's. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "filter.h"
#include "record.h"

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

/* The kernel part of f, as far as the running kernel (caps) filters. */
void filter_to_kernel(const struct ct_filter *f, const struct ct_kcaps *caps, struct ct_kfilter *kf);
/* Whether a dump with a returns exactly the entries a dump with b does. */
bool kfilter_equal(const struct ct_kfilter *a, const struct ct_kfilter *b);
