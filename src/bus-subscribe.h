/* Subscribe and Unsubscribe: ConnectionsChanged and ConnectionsDeleted are
 * sent to subscribers alone (events.c keeps them). */
#pragma once
#include <systemd/sd-bus.h>

int method_subscribe(sd_bus_message *m, void *userdata, sd_bus_error *error);
int method_unsubscribe(sd_bus_message *m, void *userdata, sd_bus_error *error);
