/* Summarize: the matching entries counted by one key, biggest groups first. */
#pragma once
#include <systemd/sd-bus.h>

int method_summarize(sd_bus_message *m, void *userdata, sd_bus_error *error);
