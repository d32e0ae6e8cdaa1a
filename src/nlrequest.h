/* Netlink requests: the header every conntrack request starts with, and one
 * synchronous exchange on a fresh socket for small requests the kernel
 * answers at once (statistics, probes, the address dump at start, a flush
 * run off the loop). Table dumps use ctread.c instead. */
#pragma once
#include <libmnl/libmnl.h>
#include <stdint.h>

/* Puts a ctnetlink request header into buf (aligned to NLMSG_ALIGNTO):
 * message type msg (IPCTNL_MSG_CT_*), flags, the nfgenmsg with family
 * (AF_UNSPEC: both) and seq. Attributes follow it. */
struct nlmsghdr *ct_msg_header(char *buf, uint8_t msg, uint16_t flags, uint8_t family, uint32_t seq);

/* Sends nlh on a new socket of the given netlink family (NETLINK_NETFILTER,
 * NETLINK_ROUTE) and runs cb (may be NULL) on every answer until the kernel
 * is done. Returns 0, or a negative errno (the kernel's own errors too). */
int nl_request(int family, struct nlmsghdr *nlh, mnl_cb_t cb, void *data);
