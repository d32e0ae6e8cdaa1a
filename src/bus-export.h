/* Export: every matching entry, unpaged, as JSON lines or CSV in a sealed memfd. */
#pragma once
#include <systemd/sd-bus.h>

int method_export(sd_bus_message *m, void *userdata, sd_bus_error *error);
