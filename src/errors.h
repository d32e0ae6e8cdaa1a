/* The D-Bus errors the service answers with: its own names, and one way to
 * say that an argument is wrong (InvalidArgs naming what was wrong). */
#pragma once
#include <systemd/sd-bus.h>

#define ERROR_NOT_FOUND      "org.example.Connections.Error.NotFound"
#define ERROR_ALREADY        "org.example.Connections.Error.AlreadySubscribed"
#define ERROR_NOT_SUBSCRIBED "org.example.Connections.Error.NotSubscribed"

#define INVALID(error, ...) sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, __VA_ARGS__)
