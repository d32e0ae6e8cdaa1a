#include "bus.h"

#include <stddef.h>
#include <string.h>

#include "bus-delete.h"
#include "bus-export.h"
#include "bus-list.h"
#include "bus-statistics.h"
#include "bus-subscribe.h"
#include "bus-summarize.h"
#include "ctstats.h"
#include "record.h"

/* --- Properties ----------------------------------------------------------- */

static int prop_count_max(sd_bus *bus, const char *path, const char *interface,
			  const char *property, sd_bus_message *reply, void *userdata,
			  sd_bus_error *error)
{
	uint32_t count, max;
	int r = ct_count(&count, &max);
	if (r < 0)
		return sd_bus_error_set_errnof(error, r, "Reading the conntrack table size failed: %m");
	return sd_bus_message_append(reply, "u", strcmp(property, "Count") == 0 ? count : max);
}

static int prop_sysctl_bool(sd_bus *bus, const char *path, const char *interface,
			    const char *property, sd_bus_message *reply, void *userdata,
			    sd_bus_error *error)
{
	uint64_t v = 0;
	const char *name = strcmp(property, "Accounting") == 0 ? "nf_conntrack_acct"
							     : "nf_conntrack_timestamp";
	(void)ct_sysctl(name, &v);   /* absent sysctl: the feature is off */
	return sd_bus_message_append(reply, "b", v != 0);
}

static const sd_bus_vtable vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_PROPERTY("Count", "u", prop_count_max, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("Max", "u", prop_count_max, 0, 0),
	SD_BUS_PROPERTY("Accounting", "b", prop_sysctl_bool, 0, 0),
	SD_BUS_PROPERTY("Timestamps", "b", prop_sysctl_bool, 0, 0),
	SD_BUS_PROPERTY("Version", "s", NULL, offsetof(struct context, version), SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_METHOD_WITH_ARGS("List",
		SD_BUS_ARGS("a{sv}", filter, "a{sv}", options),
		SD_BUS_RESULT("u", total, "a" CT_RECORD_SIGNATURE, connections),
		method_list, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Export",
		SD_BUS_ARGS("a{sv}", filter, "s", format),
		SD_BUS_RESULT("h", data),
		method_export, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Summarize",
		SD_BUS_ARGS("a{sv}", filter, "s", by, "a{sv}", options),
		SD_BUS_RESULT("u", total, "a(sutt)", groups),
		method_summarize, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("GetStatistics",
		SD_BUS_NO_ARGS,
		SD_BUS_RESULT("a{st}", statistics),
		method_get_statistics, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Delete",
		SD_BUS_ARGS("a{sv}", connection),
		SD_BUS_NO_RESULT,
		method_delete, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("DeleteMatching",
		SD_BUS_ARGS("a{sv}", filter),
		SD_BUS_RESULT("u", deleted),
		method_delete_matching, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Flush",
		SD_BUS_NO_ARGS,
		SD_BUS_RESULT("u", deleted),
		method_flush, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Subscribe",
		SD_BUS_NO_ARGS, SD_BUS_NO_RESULT,
		method_subscribe, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Unsubscribe",
		SD_BUS_NO_ARGS, SD_BUS_NO_RESULT,
		method_unsubscribe, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_SIGNAL_WITH_NAMES("ConnectionsChanged", "tuuub",
		SD_BUS_PARAM(generation) SD_BUS_PARAM(new) SD_BUS_PARAM(updated)
		SD_BUS_PARAM(destroyed) SD_BUS_PARAM(lost), 0),
	SD_BUS_SIGNAL_WITH_NAMES("ConnectionsDeleted", "sa{sv}u",
		SD_BUS_PARAM(method) SD_BUS_PARAM(filter) SD_BUS_PARAM(count), 0),
	SD_BUS_VTABLE_END
};

/* Sees every incoming message first: the idle timer counts from the last call. */
static int note_call(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct context *ctx = userdata;
	if (sd_bus_message_is_method_call(m, NULL, NULL) > 0)
		(void)sd_event_now(ctx->event, CLOCK_MONOTONIC, &ctx->last_call_usec);
	return 0;
}

int bus_add_object(struct context *ctx)
{
	int r = sd_bus_add_filter(ctx->bus, NULL, note_call, ctx);
	if (r < 0)
		return r;
	return sd_bus_add_object_vtable(ctx->bus, NULL, BUS_PATH, BUS_INTERFACE, vtable, ctx);
}

bool bus_idle(const struct context *ctx)
{
	return ctx->busy == 0 && auth_pending(ctx->auth) == 0 &&
	       (!ctx->events || events_subscribers(ctx->events) == 0);
}
