/* One audit record per destructive call: caller uid, pid and unique bus
 * name, method, its argument, outcome and count. To the journal with
 * structured CONNECTIONSD_* fields; to stderr when there is no journal. */
#pragma once
#include <systemd/sd-bus.h>

#include <sys/types.h>

/* Who called, as the bus daemon reports it. Taken when the call arrives:
 * once the reply is out, the caller may have left the bus. */
struct audit_caller {
	uid_t uid;
	pid_t pid;
};
void audit_caller_get(sd_bus_message *m, struct audit_caller *who);

/* m: the call (its a{sv} argument, if any, is re-read from the start);
 * error: NULL on success, else the D-Bus error name sent back. */
void audit_record(sd_bus_message *m, const struct audit_caller *who, const char *method,
		  const char *error, unsigned count);
