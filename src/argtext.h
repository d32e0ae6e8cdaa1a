/* A call's a{sv} argument (a filter, a connection) as text, key by key:
 * what audit records show and what polkit rules read as details. */
#pragma once
#include <glib.h>
#include <systemd/sd-bus.h>

/* Calls fn(key, value as text) for each entry of m's first argument, an
 * already validated a{sv}; lists read "a,b". Returns what the walk got to
 * (< 0 when the message could not be read). */
int argtext_walk(sd_bus_message *m, void (*fn)(const char *key, const char *value, void *userdata),
		 void *userdata);

/* The same as one string: "key=value key=value" (empty for none). */
char *argtext_join(sd_bus_message *m);
