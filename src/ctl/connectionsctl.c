/* connectionsctl: the command-line client of org.example.Connections.
 * This file: the command line, the bus, errors and exit codes; the
 * commands live in ctl-list.c, ctl-delete.c and ctl-watch.c. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "ctl-agent.h"
#include "ctl.h"

/* Calls can wait for a password at the terminal, or delete a million entries. */
#define CALL_TIMEOUT_USEC (600ULL * 1000000ULL)

static void help(void)
{
	printf("Usage: connectionsctl [OPTIONS...] COMMAND\n"
	       "See and manage the kernel's connection tracking table (connectionsd).\n\n"
	       "Commands:\n"
	       "  list                 Connections matching the filter, as a table\n"
	       "  summary              Who holds the table: matching connections counted\n"
	       "                       by --by KEY, biggest first\n"
	       "  export               Every matching connection as JSON lines (or -o csv)\n"
	       "  watch                Follow changes live\n"
	       "  stats                Table size and the kernel's counters\n"
	       "  delete               Delete one connection: -p -s -d --sport --dport\n"
	       "                       [--zone] [--id], or --id alone\n"
	       "  delete-matching      Delete every connection matching the filter\n"
	       "  flush                Delete every connection (asks first on a terminal)\n\n"
	       "Filter (as conntrack(8) where they overlap; addresses take CIDR prefixes):\n"
	       "  -p --proto NAME      tcp, udp, icmp, ... or a number\n"
	       "  -s --src ADDR        -d --dst ADDR       original direction\n"
	       "  -r --reply-src ADDR  -q --reply-dst ADDR reply direction\n"
	       "     --sport PORT         --dport PORT     original direction\n"
	       "  -f --family FAMILY   ipv4 or ipv6\n"
	       "     --state STATE     ESTABLISHED, TIME_WAIT, ...\n"
	       "  -u --status FLAGS    ASSURED,SEEN_REPLY,UNREPLIED,SRC_NAT,...\n"
	       "  -m --mark VALUE[/MASK]\n"
	       "     --zone ZONE\n"
	       "     --address ADDR    any of the four addresses\n"
	       "     --port PORT       any of the four ports\n"
	       "     --nat KIND        snat, dnat, any or none\n"
	       "     --nat-address ADDR  the translated address\n"
	       "     --interface IFACE bound to an address IFACE holds or held\n"
	       "     --stale           bound to an address no interface holds any more\n"
	       "     --id ID           (delete) the entry's id\n"
	       "     --icmp-type N --icmp-code N --icmp-id N   (delete) ICMP entries\n\n"
	       "Output:\n"
	       "  -n --limit N         At most N connections (list) or groups (summary)\n"
	       "     --offset N        Skip N first groups (summary)\n"
	       "  -S --sort KEY        list: id, protocol, state, src, dst, sport, dport,\n"
	       "                       timeout, bytes, packets, start;\n"
	       "                       summary: connections, bytes, packets\n"
	       "     --reverse         Reverse the order (list)\n"
	       "  -b --by KEY          summary: src, dst, reply-src, reply-dst, sport, dport,\n"
	       "                       protocol, state, family, mark, zone, nat-address,\n"
	       "                       interface (default src)\n"
	       "  -o --output FORMAT   table (default), json or csv\n"
	       "  -j --json            Same as -o json\n"
	       "     --no-legend       No header and footer\n\n"
	       "  -y --yes             Do not ask before flush\n"
	       "     --no-ask-password Do not ask for a password to authorize\n"
	       "  -h --help            Show this help\n"
	       "     --version         Show the version\n\n"
	       "Exit status: 0 success, 1 failure, 2 bad usage or argument, 4 no such connection.\n"
	       "See connectionsctl(1).\n");
}

struct filter_option {
	int id;
	const char *key, *option;
	char type;
};

enum {
	ARG_VERSION = 0x100, ARG_SPORT, ARG_DPORT, ARG_STATE, ARG_ZONE, ARG_ADDRESS, ARG_PORT,
	ARG_NAT, ARG_NAT_ADDRESS, ARG_INTERFACE, ARG_STALE, ARG_ID, ARG_ICMP_TYPE, ARG_ICMP_CODE,
	ARG_ICMP_ID, ARG_REVERSE, ARG_NO_LEGEND, ARG_NO_ASK_PASSWORD, ARG_OFFSET,
};

static const struct filter_option filter_options[] = {
	{ 'p', "protocol", "--proto", 's' },
	{ 's', "src", "--src", 's' },
	{ 'd', "dst", "--dst", 's' },
	{ 'r', "reply-src", "--reply-src", 's' },
	{ 'q', "reply-dst", "--reply-dst", 's' },
	{ ARG_SPORT, "sport", "--sport", 'q' },
	{ ARG_DPORT, "dport", "--dport", 'q' },
	{ 'f', "family", "--family", 's' },
	{ ARG_STATE, "state", "--state", 's' },
	{ 'u', "status", "--status", 'a' },
	{ ARG_ZONE, "zone", "--zone", 'q' },
	{ ARG_ADDRESS, "address", "--address", 's' },
	{ ARG_PORT, "port", "--port", 'q' },
	{ ARG_NAT, "nat", "--nat", 's' },
	{ ARG_NAT_ADDRESS, "nat-address", "--nat-address", 's' },
	{ ARG_INTERFACE, "interface", "--interface", 's' },
	{ ARG_STALE, "stale", "--stale", 'b' },
	{ ARG_ID, "id", "--id", 'u' },
	{ ARG_ICMP_TYPE, "icmp-type", "--icmp-type", 'y' },
	{ ARG_ICMP_CODE, "icmp-code", "--icmp-code", 'y' },
	{ ARG_ICMP_ID, "icmp-id", "--icmp-id", 'q' },
};

static const struct filter_option *find_filter_option(int id)
{
	for (size_t i = 0; i < sizeof(filter_options) / sizeof(filter_options[0]); i++)
		if (filter_options[i].id == id)
			return &filter_options[i];
	return NULL;
}

static int parse_output(const char *s, enum ctl_output *out)
{
	if (strcmp(s, "table") == 0)
		*out = OUT_TABLE;
	else if (strcmp(s, "json") == 0)
		*out = OUT_JSON;
	else if (strcmp(s, "csv") == 0)
		*out = OUT_CSV;
	else {
		fprintf(stderr, "connectionsctl: -o/--output '%s': expected table, json or csv\n", s);
		return -EINVAL;
	}
	return 0;
}

/* 1: go on; 0: done (help, version); <0: usage error (already said). */
static int parse_argv(int argc, char **argv, struct ctl *c)
{
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, ARG_VERSION },
		{ "proto", required_argument, NULL, 'p' },
		{ "protonum", required_argument, NULL, 'p' },
		{ "src", required_argument, NULL, 's' },
		{ "orig-src", required_argument, NULL, 's' },
		{ "dst", required_argument, NULL, 'd' },
		{ "orig-dst", required_argument, NULL, 'd' },
		{ "reply-src", required_argument, NULL, 'r' },
		{ "reply-dst", required_argument, NULL, 'q' },
		{ "sport", required_argument, NULL, ARG_SPORT },
		{ "orig-port-src", required_argument, NULL, ARG_SPORT },
		{ "dport", required_argument, NULL, ARG_DPORT },
		{ "orig-port-dst", required_argument, NULL, ARG_DPORT },
		{ "family", required_argument, NULL, 'f' },
		{ "state", required_argument, NULL, ARG_STATE },
		{ "status", required_argument, NULL, 'u' },
		{ "mark", required_argument, NULL, 'm' },
		{ "zone", required_argument, NULL, ARG_ZONE },
		{ "address", required_argument, NULL, ARG_ADDRESS },
		{ "port", required_argument, NULL, ARG_PORT },
		{ "nat", required_argument, NULL, ARG_NAT },
		{ "nat-address", required_argument, NULL, ARG_NAT_ADDRESS },
		{ "interface", required_argument, NULL, ARG_INTERFACE },
		{ "stale", no_argument, NULL, ARG_STALE },
		{ "id", required_argument, NULL, ARG_ID },
		{ "icmp-type", required_argument, NULL, ARG_ICMP_TYPE },
		{ "icmp-code", required_argument, NULL, ARG_ICMP_CODE },
		{ "icmp-id", required_argument, NULL, ARG_ICMP_ID },
		{ "limit", required_argument, NULL, 'n' },
		{ "offset", required_argument, NULL, ARG_OFFSET },
		{ "sort", required_argument, NULL, 'S' },
		{ "reverse", no_argument, NULL, ARG_REVERSE },
		{ "by", required_argument, NULL, 'b' },
		{ "output", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ "no-legend", no_argument, NULL, ARG_NO_LEGEND },
		{ "yes", no_argument, NULL, 'y' },
		{ "no-ask-password", no_argument, NULL, ARG_NO_ASK_PASSWORD },
		{}
	};
	const struct filter_option *fo;
	int64_t v;
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":hp:s:d:r:q:f:u:m:n:S:b:o:jy", options, NULL)) >= 0) {
		switch (opt) {
		case 'h':
			help();
			return 0;
		case ARG_VERSION:
			printf("connectionsctl %s\n", PACKAGE_VERSION);
			return 0;
		case 'm':
			if (ctl_filter_add_mark(&c->filter, "-m/--mark", optarg) < 0)
				return -EINVAL;
			break;
		case 'n': case ARG_OFFSET:
			if ((v = ctl_parse_uint(optarg, UINT32_MAX)) < 0) {
				fprintf(stderr, "connectionsctl: %s '%s': expected a number from 0 to %u\n",
					opt == 'n' ? "-n/--limit" : "--offset", optarg, UINT32_MAX);
				return -EINVAL;
			}
			if (opt == 'n') {
				c->limit = (uint64_t)v;
				c->has_limit = true;
			} else
				c->offset = (uint64_t)v;
			break;
		case 'S':
			c->sort = optarg;
			break;
		case ARG_REVERSE:
			c->reverse = true;
			break;
		case 'b':
			c->by = optarg;
			break;
		case 'o':
			if (parse_output(optarg, &c->output) < 0)
				return -EINVAL;
			break;
		case 'j':
			c->output = OUT_JSON;
			break;
		case ARG_NO_LEGEND:
			c->legend = false;
			break;
		case 'y':
			c->yes = true;
			break;
		case ARG_NO_ASK_PASSWORD:
			c->ask_password = false;
			break;
		case ':':
			fprintf(stderr, "connectionsctl: option %s needs a value\n", argv[optind - 1]);
			return -EINVAL;
		case '?':
			if (optopt)
				fprintf(stderr, "connectionsctl: unknown option -%c\n", optopt);
			else
				fprintf(stderr, "connectionsctl: unknown option %s\n", argv[optind - 1]);
			return -EINVAL;
		default:
			if (!(fo = find_filter_option(opt)))
				return -EINVAL;
			if (ctl_filter_add(&c->filter, fo->key, fo->option, fo->type, optarg) < 0)
				return -EINVAL;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "connectionsctl: no command given (list, summary, export, watch, stats, "
			"delete, delete-matching, flush); see --help\n");
		return -EINVAL;
	}
	c->args = argv + optind;
	c->nargs = argc - optind;
	return 1;
}

int ctl_new_call(struct ctl *c, const char *method, sd_bus_message **ret)
{
	int r = sd_bus_message_new_method_call(c->bus, ret, CTL_NAME, CTL_PATH, CTL_IFACE, method);
	if (r >= 0)
		r = sd_bus_message_set_allow_interactive_authorization(*ret, c->ask_password);
	return r;
}

int ctl_report(const struct ctl *c, const char *what, const sd_bus_error *e, int error)
{
	const char *name = e && e->name ? e->name : "";
	const char *msg = e && e->message ? e->message : strerror(error < 0 ? -error : error);
	const char *from = NULL;

	/* The service names filter keys; say which option that was. */
	for (unsigned i = 0; e && e->message && i < c->filter.n; i++) {
		char quoted[64];
		snprintf(quoted, sizeof(quoted), "'%s'", c->filter.v[i].key);
		if (strstr(e->message, quoted))
			from = c->filter.v[i].option;
	}
	if (strcmp(name, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED) == 0)
		fprintf(stderr, "connectionsctl: %s: authorization needed: run on a terminal to authenticate "
			"(without --no-ask-password), or as root\n", what);
	else if (strcmp(name, SD_BUS_ERROR_SERVICE_UNKNOWN) == 0 || strcmp(name, SD_BUS_ERROR_NAME_HAS_NO_OWNER) == 0)
		fprintf(stderr, "connectionsctl: %s: the connections service is not available: %s\n", what, msg);
	else if (from)
		fprintf(stderr, "connectionsctl: %s: %s (given as %s)\n", what, msg, from);
	else
		fprintf(stderr, "connectionsctl: %s: %s\n", what, msg);

	if (strcmp(name, SD_BUS_ERROR_INVALID_ARGS) == 0)
		return CTL_EXIT_USAGE;
	if (strcmp(name, "org.example.Connections.Error.NotFound") == 0)
		return CTL_EXIT_NOT_FOUND;
	return CTL_EXIT_FAILURE;
}

int ctl_send(struct ctl *c, sd_bus_message *m, sd_bus_message **reply)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int r;

	ctl_agent_open();
	r = sd_bus_call(c->bus, m, CALL_TIMEOUT_USEC, &e, reply);
	if (r < 0) {
		r = ctl_report(c, sd_bus_message_get_member(m), &e, r);
		sd_bus_error_free(&e);
		return r;
	}
	return 0;
}

const char *ctl_format_bytes(uint64_t n, char buf[CTL_UNIT_LEN])
{
	static const char units[] = "KMGTPE";
	double v = (double)n;
	int u = -1;

	if (n < 1024) {
		snprintf(buf, CTL_UNIT_LEN, "%" PRIu64 "B", n);
		return buf;
	}
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	snprintf(buf, CTL_UNIT_LEN, v < 10 ? "%.1f%c" : "%.0f%c", v, units[u]);
	return buf;
}

const char *ctl_format_seconds(uint64_t s, char buf[CTL_UNIT_LEN])
{
	if (s < 120)
		snprintf(buf, CTL_UNIT_LEN, "%" PRIu64 "s", s);
	else if (s < 2 * 3600)
		snprintf(buf, CTL_UNIT_LEN, "%" PRIu64 "min", s / 60);
	else if (s < 2 * 86400)
		snprintf(buf, CTL_UNIT_LEN, "%" PRIu64 "h", s / 3600);
	else
		snprintf(buf, CTL_UNIT_LEN, "%" PRIu64 "d", s / 86400);
	return buf;
}

void ctl_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static const struct {
	const char *name;
	int (*run)(struct ctl *c);
} commands[] = {
	{ "list", ctl_list },
	{ "summary", ctl_summary },
	{ "export", ctl_export },
	{ "watch", ctl_watch },
	{ "stats", ctl_stats },
	{ "delete", ctl_delete },
	{ "delete-matching", ctl_delete_matching },
	{ "flush", ctl_flush },
};

int main(int argc, char **argv)
{
	struct ctl c = { .legend = true, .ask_password = true };
	int r;

	/* Listings of a million lines: fewer, bigger writes when not on a terminal. */
	if (!isatty(STDOUT_FILENO))
		setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	if ((r = parse_argv(argc, argv, &c)) <= 0)
		return r < 0 ? CTL_EXIT_USAGE : CTL_EXIT_OK;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(commands[i].name, c.args[0]) != 0)
			continue;
		if (c.nargs > 1) {
			fprintf(stderr, "connectionsctl: %s: unexpected argument '%s'\n", c.args[0], c.args[1]);
			return CTL_EXIT_USAGE;
		}
		/* The system bus, or $DBUS_SYSTEM_BUS_ADDRESS, as the service. */
		if ((r = sd_bus_open_system(&c.bus)) < 0) {
			fprintf(stderr, "connectionsctl: cannot connect to the system bus: %s\n", strerror(-r));
			return CTL_EXIT_FAILURE;
		}
		r = commands[i].run(&c);
		ctl_agent_close();
		sd_bus_flush_close_unref(c.bus);
		return r;
	}
	fprintf(stderr, "connectionsctl: unknown command '%s'; see --help\n", c.args[0]);
	return CTL_EXIT_USAGE;
}
