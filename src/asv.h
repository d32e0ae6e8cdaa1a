/* Reading an a{sv} argument (a filter, Delete's connection, List's and
 * Summarize's options) key by key, with errors that name the key. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

/* Walks an a{sv} whose keys must be among names[0..n): per entry, enters it
 * and its variant and returns 1 with the key's index and the variant's
 * signature; 0 after the last entry (the array is left); <0 with error set
 * for an unknown or repeated key ("Unknown <what> 'k'", "<What> 'k' is
 * given more than once"). After reading the value call dict_entry_end(). */
int dict_next(sd_bus_message *m, const char *const *names, unsigned n, uint64_t *seen,
	      const char *what, unsigned *index, const char **contents, sd_bus_error *error);
int dict_entry_end(sd_bus_message *m);

/* Reads the current variant's integer, whatever D-Bus integer type it has
 * (contents is its signature), and checks it against [0, max]. Errors read
 * "<what> '<key>': ...". */
int variant_read_uint(sd_bus_message *m, const char *what, const char *key, const char *contents,
		      uint64_t max, uint64_t *out, sd_bus_error *error);

/* Reads the current variant's string (contents must be "s"). Errors read
 * "<what> '<key>' must be of type 's', got '<contents>'". */
int variant_read_string(sd_bus_message *m, const char *what, const char *key, const char *contents,
			const char **out, sd_bus_error *error);
/* Reads the current variant's boolean (contents must be "b"). */
int variant_read_bool(sd_bus_message *m, const char *what, const char *key, const char *contents,
		      bool *out, sd_bus_error *error);
