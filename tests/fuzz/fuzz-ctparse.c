/* Fuzz target: the conntrack netlink parser with arbitrary payloads, and
 * what the service does with a parsed record (D-Bus, JSON, CSV). */
#include <linux/netlink.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/busmsg.h"
#include "ctparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char buf[1 << 16] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	struct ct_record r;
	char text[CT_TEXT_MAX];

	if (size < sizeof(*nlh) || size > sizeof(buf))
		return 0;
	memcpy(buf, data, size);
	nlh->nlmsg_len = (uint32_t)size;   /* the socket layer guarantees this much */
	if (ct_parse_nlmsg(nlh, &r) < 0)
		return 0;
	if (ct_record_json(&r, text, sizeof(text)) == 0 || ct_record_csv(&r, text, sizeof(text)) == 0)
		abort();   /* CT_TEXT_MAX must hold any record */
	sd_bus_message *m = new_call();
	if (ct_record_append(m, &r) < 0)
		abort();
	sd_bus_message_unref(m);
	return 0;
}
