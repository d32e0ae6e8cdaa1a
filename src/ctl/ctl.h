/* What connectionsctl's commands share: the parsed command line, the bus,
 * one way to call the service and report its errors, and exit codes. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>
#include "ctl-filter.h"

#define CTL_NAME  "org.example.Connections"
#define CTL_PATH  "/org/example/Connections"
#define CTL_IFACE "org.example.Connections"

/* Exit codes (documented in connectionsctl(1)). */
enum {
	CTL_EXIT_OK = 0,
	CTL_EXIT_FAILURE = 1,
	CTL_EXIT_USAGE = 2,
	CTL_EXIT_NOT_FOUND = 4,
};

enum ctl_output { OUT_TABLE, OUT_JSON, OUT_CSV };

struct ctl {
	sd_bus *bus;
	struct ctl_filter filter;
	const char *sort, *by;
	bool reverse, legend, yes, ask_password;
	bool has_limit;
	uint64_t limit, offset;
	enum ctl_output output;
	char **args;            /* what follows the command */
	int nargs;
};

/* A new method call on the service's object. */
int ctl_new_call(struct ctl *c, const char *method, sd_bus_message **ret);
/* Sends it and waits (long enough for big deletes and for a password);
 * on an error prints one line (the service's message, with the option a
 * named filter key came from) and returns the exit code; 0 on success. */
int ctl_send(struct ctl *c, sd_bus_message *m, sd_bus_message **reply);
/* A D-Bus error (or errno) as one line on stderr, and its exit code. */
int ctl_report(const struct ctl *c, const char *what, const sd_bus_error *e, int error);

#define CTL_UNIT_LEN 32
/* Human units: "1.5M" (bytes, 1024-based), "4d", "12min", "59s". */
const char *ctl_format_bytes(uint64_t n, char buf[CTL_UNIT_LEN]);
const char *ctl_format_seconds(uint64_t s, char buf[CTL_UNIT_LEN]);
/* s as a JSON string (with the quotes) to f. */
void ctl_json_string(FILE *f, const char *s);

/* The commands (ctl-list.c, ctl-delete.c, ctl-watch.c): each returns an exit code. */
int ctl_list(struct ctl *c);
int ctl_export(struct ctl *c);
int ctl_summary(struct ctl *c);
int ctl_stats(struct ctl *c);
int ctl_delete(struct ctl *c);
int ctl_delete_matching(struct ctl *c);
int ctl_flush(struct ctl *c);
int ctl_watch(struct ctl *c);

/* Prints one page of the listing as a table: shared by list and watch. */
struct ctl_table;
struct ct_record;
struct ctl_table *ctl_connections_table(void);
void ctl_connections_row(struct ctl_table *t, const struct ct_record *r, uint64_t now_usec);
void ctl_connections_print(struct ctl_table *t, bool legend, size_t width);
