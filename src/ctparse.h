/* Conntrack netlink message -> compact record. Pure: no sockets, no state,
 * so it can be fuzzed with arbitrary payloads. */
#pragma once
#include <linux/netlink.h>
#include "record.h"

/* Parses an IPCTNL_MSG_CT_NEW/DELETE message. Returns 0, or -EBADMSG when
 * the message is malformed or lacks the original/reply tuples. */
int ct_parse_nlmsg(const struct nlmsghdr *nlh, struct ct_record *r);
