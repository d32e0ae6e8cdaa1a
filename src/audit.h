/* One audit record per destructive call: caller uid, pid and unique bus
 * name, method, its argument, outcome and count. To the journal with
 * structured CONNECTIONSD_* fields; to stderr when there is no journal. */
#pragma once
#include <systemd/sd-bus.h>

/* m: the call (its a{sv} argument, if any, is re-read from the start);
 * error: NULL on success, else the D-Bus error name sent back. */
void audit_record(sd_bus_message *m, const char *method, const char *error, unsigned count);
