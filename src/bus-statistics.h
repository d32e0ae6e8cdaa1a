/* GetStatistics: the table's size and the kernel's per-CPU conntrack counters. */
#pragma once
#include <systemd/sd-bus.h>

int method_get_statistics(sd_bus_message *m, void *userdata, sd_bus_error *error);
