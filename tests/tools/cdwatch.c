/* cdwatch: a minimal connectionsd client in sd-bus. Subscribes, then prints
 * one line per ConnectionsChanged (and Count change) with a CLOCK_MONOTONIC
 * timestamp, until --seconds pass or SIGTERM.
 *
 *   cdwatch [--no-subscribe] [--seconds N] [--subscribe-twice] [--unsubscribe-after N] [--announce]
 *
 * Lines: "subscribing" (with --announce: the call is about to be sent),
 * "ready", "changed GEN NEW UPDATED DESTROYED LOST T", "count N T",
 * "error NAME MESSAGE", "unsubscribed T". */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <systemd/sd-bus.h>

#define NAME "org.example.Connections"
#define PATH "/org/example/Connections"
#define IFACE "org.example.Connections"

static volatile sig_atomic_t stop;
static int signals_seen, unsubscribe_after = -1;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int call(sd_bus *bus, const char *method)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	int r = sd_bus_call_method(bus, NAME, PATH, IFACE, method, &e, &reply, "");
	if (r < 0)
		printf("error %s %s\n", e.name ? e.name : "?", e.message ? e.message : "");
	sd_bus_error_free(&e);
	sd_bus_message_unref(reply);
	fflush(stdout);
	return r;
}

static int on_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	uint64_t gen;
	uint32_t n, u, d;
	int lost;

	if (sd_bus_message_read(m, "tuuub", &gen, &n, &u, &d, &lost) < 0)
		return 0;
	printf("changed %llu %u %u %u %d %.6f\n", (unsigned long long)gen, n, u, d, lost, now());
	fflush(stdout);
	if (++signals_seen == unsubscribe_after && call(sd_bus_message_get_bus(m), "Unsubscribe") >= 0) {
		printf("unsubscribed %.6f\n", now());
		fflush(stdout);
	}
	return 0;
}

static int on_properties(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	const char *iface, *prop;
	uint32_t count;

	if (sd_bus_message_read(m, "s", &iface) < 0 || strcmp(iface, IFACE) != 0 ||
	    sd_bus_message_enter_container(m, 'a', "{sv}") <= 0)
		return 0;
	while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
		if (sd_bus_message_read(m, "s", &prop) >= 0 && strcmp(prop, "Count") == 0 &&
		    sd_bus_message_read(m, "v", "u", &count) >= 0)
			printf("count %u %.6f\n", count, now());
		else
			sd_bus_message_skip(m, "v");
		sd_bus_message_exit_container(m);
	}
	fflush(stdout);
	return 0;
}

static void on_term(int sig) { stop = 1; }

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "no-subscribe", no_argument, NULL, 'n' }, { "seconds", required_argument, NULL, 's' },
		{ "subscribe-twice", no_argument, NULL, 't' },
		{ "unsubscribe-after", required_argument, NULL, 'u' },
		{ "announce", no_argument, NULL, 'a' }, {}
	};
	int subscribe = 1, twice = 0, announce = 0, c;
	double seconds = 3600;
	sd_bus *bus = NULL;

	while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
		switch (c) {
		case 'n': subscribe = 0; break;
		case 's': seconds = atof(optarg); break;
		case 't': twice = 1; break;
		case 'u': unsubscribe_after = atoi(optarg); break;
		case 'a': announce = 1; break;
		default: return 2;
		}
	}
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	if (sd_bus_open_system(&bus) < 0 ||
	    sd_bus_match_signal(bus, NULL, NAME, PATH, IFACE, "ConnectionsChanged", on_changed, NULL) < 0 ||
	    sd_bus_match_signal(bus, NULL, NAME, PATH, "org.freedesktop.DBus.Properties",
				"PropertiesChanged", on_properties, NULL) < 0) {
		fprintf(stderr, "cdwatch: cannot connect\n");
		return 1;
	}
	if (subscribe) {
		if (announce) {
			printf("subscribing\n");
			fflush(stdout);
		}
		if (call(bus, "Subscribe") < 0)
			return 3;
	}
	if (twice)
		call(bus, "Subscribe");
	printf("ready\n");
	fflush(stdout);
	double end = now() + seconds;
	while (!stop && now() < end) {
		int r = sd_bus_process(bus, NULL);
		if (r < 0)
			break;
		if (r == 0)
			sd_bus_wait(bus, 100000);
	}
	sd_bus_flush_close_unref(bus);
	return 0;
}
