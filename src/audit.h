/* One audit record per destructive call, refused ones included: caller uid,
 * pid, unique bus name, audit login uid and session, method, its argument,
 * outcome and count. To the journal with
 * structured CONNECTIONSD_* fields; to stderr when there is no journal. */
#pragma once
#include <systemd/sd-bus.h>

#include <stdint.h>
#include <sys/types.h>

/* Who called, as the bus reports it. Taken when the call arrives: once the
 * reply is out, the caller may have left the bus. The audit login uid and
 * session name the human behind a call made as root (`sudo busctl ...`,
 * Cockpit's administrative access); -1 when the caller has none. */
struct audit_caller {
	uid_t uid;
	pid_t pid;
	uid_t login_uid;
	uint32_t session;
};
void audit_caller_get(sd_bus_message *m, struct audit_caller *who);

/* m: the call (its a{sv} argument, if any, is re-read from the start);
 * error: NULL on success, else the D-Bus error name sent back. */
void audit_record(sd_bus_message *m, const struct audit_caller *who, const char *method,
		  const char *error, unsigned count);
