#include "bus-statistics.h"

#include <errno.h>
#include <string.h>

#include "bus-call.h"
#include "bus.h"
#include "ctstats.h"
#include "log.h"
#include "util.h"

static int statistics_reply(sd_bus_message *m)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	uint64_t sums[CT_CPU_STATS], buckets = 0;
	uint32_t count, max;
	int r;

	if ((r = ct_count(&count, &max)) < 0 || (r = ct_cpu_stats(sums)) < 0)
		return reply_dump_error(m, r);
	(void)ct_sysctl("nf_conntrack_buckets", &buckets);

	if ((r = sd_bus_message_new_method_return(m, &reply)) < 0 ||
	    (r = sd_bus_message_open_container(reply, 'a', "{st}")) < 0 ||
	    (r = sd_bus_message_append(reply, "{st}{st}{st}", "count", (uint64_t)count,
				       "max", (uint64_t)max, "buckets", buckets)) < 0)
		return r;
	for (int i = 0; i < CT_CPU_STATS; i++)
		if ((r = sd_bus_message_append(reply, "{st}", ct_cpu_stat_names[i], sums[i])) < 0)
			return r;
	if ((r = sd_bus_message_close_container(reply)) < 0)
		return r;
	return sd_bus_send(NULL, reply, NULL);
}

static void statistics_run(struct call *c)
{
	int r = statistics_reply(c->m);
	if (r < 0 && (r = sd_bus_reply_method_errnof(c->m, r, "GetStatistics failed: %m")) < 0)
		log_warn("Could not send GetStatistics reply: %s", strerror(-r));
	call_free(c);
}

static const struct call_ops statistics_ops = { .run = statistics_run, .free = call_free };

int method_get_statistics(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct call *c = call_new(userdata, m, &statistics_ops, sizeof(*c));

	if (!c)
		return -ENOMEM;
	return call_authorize(c, ACTION_LIST, NULL, error);
}
