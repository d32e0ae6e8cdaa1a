/* The destructive methods: Delete, DeleteMatching, Flush, and the
 * ConnectionsDeleted signal that follows each success. */
#pragma once
#include <systemd/sd-bus.h>

int method_delete(sd_bus_message *m, void *userdata, sd_bus_error *error);
int method_delete_matching(sd_bus_message *m, void *userdata, sd_bus_error *error);
int method_flush(sd_bus_message *m, void *userdata, sd_bus_error *error);
