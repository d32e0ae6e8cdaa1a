/* The commands that delete: delete, delete-matching, flush. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "util.h"

static int print_deleted(struct ctl *c, sd_bus_message *reply, const char *method)
{
	uint32_t n;
	int r = sd_bus_message_read(reply, "u", &n);
	if (r < 0)
		return ctl_report(c, method, NULL, r);
	printf("Deleted %" PRIu32 " connection%s.\n", n, n == 1 ? "" : "s");
	return fflush(stdout) == 0 ? 0 : ctl_report(c, "writing", NULL, -errno);
}

/* Delete takes the tuple options (or --id alone) as its a{sv}: the service
 * says which key does not belong there. */
int ctl_delete(struct ctl *c)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
	int r;

	if (c->filter.n == 0) {
		fprintf(stderr, "connectionsctl: delete: name the connection: -p -s -d --sport --dport "
			"(or --icmp-type --icmp-code --icmp-id), or --id\n");
		return CTL_EXIT_USAGE;
	}
	if ((r = ctl_new_call(c, "Delete", &m)) < 0 || (r = ctl_filter_append(m, &c->filter)) < 0)
		return ctl_report(c, "Delete", NULL, r);
	if ((r = ctl_send(c, m, &reply)) != 0)
		return r;
	printf("Deleted 1 connection.\n");
	return fflush(stdout) == 0 ? 0 : ctl_report(c, "writing", NULL, -errno);
}

int ctl_delete_matching(struct ctl *c)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
	int r;

	if (c->filter.n == 0) {
		fprintf(stderr, "connectionsctl: delete-matching: give a filter (to delete everything, use flush)\n");
		return CTL_EXIT_USAGE;
	}
	if ((r = ctl_new_call(c, "DeleteMatching", &m)) < 0 || (r = ctl_filter_append(m, &c->filter)) < 0)
		return ctl_report(c, "DeleteMatching", NULL, r);
	if ((r = ctl_send(c, m, &reply)) != 0)
		return r;
	return print_deleted(c, reply, "DeleteMatching");
}

/* On a terminal, says how many would go and waits for a yes. */
static bool confirm_flush(struct ctl *c)
{
	uint32_t count = 0;
	char answer[16];

	(void)sd_bus_get_property_trivial(c->bus, CTL_NAME, CTL_PATH, CTL_IFACE, "Count", NULL, 'u', &count);
	printf("Delete all %" PRIu32 " connections of the table? Every flow through and to this host "
	       "starts over. [y/N] ", count);
	fflush(stdout);
	if (!fgets(answer, sizeof(answer), stdin))
		return false;
	return answer[0] == 'y' || answer[0] == 'Y';
}

int ctl_flush(struct ctl *c)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
	int r;

	if (c->filter.n > 0) {
		fprintf(stderr, "connectionsctl: flush takes no filter (%s given); use delete-matching\n",
			c->filter.v[0].option);
		return CTL_EXIT_USAGE;
	}
	if (!c->yes && isatty(STDIN_FILENO) && !confirm_flush(c)) {
		fprintf(stderr, "connectionsctl: flush: nothing deleted\n");
		return CTL_EXIT_FAILURE;
	}
	if ((r = ctl_new_call(c, "Flush", &m)) < 0)
		return ctl_report(c, "Flush", NULL, r);
	if ((r = ctl_send(c, m, &reply)) != 0)
		return r;
	return print_deleted(c, reply, "Flush");
}
