/* The service's names on the bus. */
#pragma once

#define BUS_NAME      "org.example.Connections"
#define BUS_PATH      "/org/example/Connections"
#define BUS_INTERFACE "org.example.Connections"
