/* The argument of Delete: one connection, named by its original tuple
 * (protocol, src, dst, ports or ICMP type/code/id, optional zone and id) or
 * by its id alone. */
#pragma once
#include <stdbool.h>
#include <systemd/sd-bus.h>
#include "record.h"

struct conn_spec {
	bool by_id;        /* only 'id' was given */
	bool has_id;       /* the entry must also have this id */
	struct ct_record rec;  /* family, proto, t[CT_ORIG], icmp_*, zone, id */
};

/* Reads the a{sv}; bad input gives InvalidArgs naming the key. */
int conn_spec_parse(sd_bus_message *m, struct conn_spec *s, sd_bus_error *error);
