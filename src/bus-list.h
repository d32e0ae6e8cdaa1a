/* List: one page of the matching entries, filtered, sorted and paged here;
 * a caller's whole listing kept for its later pages (listings.c). */
#pragma once
#include <systemd/sd-bus.h>

int method_list(sd_bus_message *m, void *userdata, sd_bus_error *error);
