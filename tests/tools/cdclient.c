/* cdclient: a small sd-bus client of connectionsd for tests and benchmarks.
 *
 *   cdclient list [--limit N] [--sort KEY] [--max N] [--routed] [FILTER...]
 *       pages through List until every match (or --max) is received;
 *       prints "total T received N pages P", then the seconds of the first
 *       page's round trip and the mean and slowest of the others. With
 *       --routed it first prints "routed" once the bus has passed the first
 *       page's call on to the service (as flood's --routed)
 *   cdclient export json|csv [FILTER...]
 *       writes what Export returns to stdout
 *   cdclient delete-matching FILTER...
 *       prints the number deleted
 *   cdclient flood N [--no-wait] [--statistics|--count|--flush|--delete-matching FILTER] [--routed] [--times]
 *                  [--keep SECONDS]
 *       sends N List calls (limit 0, sorted: each reads the whole table), or GetStatistics,
 *       unsorted counts (List limit 0: the kernel's count), Flush or DeleteMatching calls, at once on one connection; prints "ok K" and
 *       "error NAME COUNT" lines, or hangs up at once with --no-wait. With --routed it first
 *       prints "routed N" once the bus has passed every call on to the service (a bus call of
 *       its own on the same connection came back: the bus handles a connection's messages in
 *       order). With --times, each successful answer prints "answered T" as it comes
 *       (T: CLOCK_MONOTONIC seconds). With --keep, each answered call is sent again for
 *       that many seconds, or until SIGTERM: N stay in flight
 *
 * FILTER is KEY=TYPE:VALUE with TYPE s, q, u, b or as (comma-separated),
 * e.g. dport=q:443 src=s:10.0.0.0/8 status=as:ASSURED,SEEN_REPLY. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-bus.h>

#define NAME "org.example.Connections"
#define PATH "/org/example/Connections"
#define IFACE "org.example.Connections"

static int append_filter(sd_bus_message *m, int n, char **args)
{
	int r = sd_bus_message_open_container(m, 'a', "{sv}");
	for (int i = 0; r >= 0 && i < n; i++) {
		char arg[256];   /* a copy: every page appends the filter again */
		snprintf(arg, sizeof(arg), "%s", args[i]);
		char *eq = strchr(arg, '='), *colon = eq ? strchr(eq, ':') : NULL;
		if (!eq || !colon) {
			fprintf(stderr, "cdclient: bad filter '%s'\n", args[i]);
			exit(2);
		}
		*eq = *colon = '\0';
		const char *key = arg, *type = eq + 1, *val = colon + 1;
		if ((r = sd_bus_message_open_container(m, 'e', "sv")) < 0 ||
		    (r = sd_bus_message_append(m, "s", key)) < 0)
			break;
		if (strcmp(type, "s") == 0)
			r = sd_bus_message_append(m, "v", "s", val);
		else if (strcmp(type, "q") == 0)
			r = sd_bus_message_append(m, "v", "q", (uint16_t)strtoul(val, NULL, 0));
		else if (strcmp(type, "u") == 0)
			r = sd_bus_message_append(m, "v", "u", (uint32_t)strtoul(val, NULL, 0));
		else if (strcmp(type, "b") == 0)
			r = sd_bus_message_append(m, "v", "b", strcmp(val, "true") == 0);
		else if (strcmp(type, "as") == 0) {
			char *copy = strdup(val), *save = NULL;
			if ((r = sd_bus_message_open_container(m, 'v', "as")) >= 0 &&
			    (r = sd_bus_message_open_container(m, 'a', "s")) >= 0) {
				for (char *t = strtok_r(copy, ",", &save); t && r >= 0; t = strtok_r(NULL, ",", &save))
					r = sd_bus_message_append(m, "s", t);
				if (r >= 0 && (r = sd_bus_message_close_container(m)) >= 0)
					r = sd_bus_message_close_container(m);
			}
			free(copy);
		} else {
			fprintf(stderr, "cdclient: bad type '%s'\n", type);
			exit(2);
		}
		if (r >= 0)
			r = sd_bus_message_close_container(m);
	}
	return r < 0 ? r : sd_bus_message_close_container(m);
}

static int call(sd_bus *bus, sd_bus_message *m, sd_bus_message **reply)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int r = sd_bus_call(bus, m, 600 * 1000000ULL, &e, reply);
	if (r < 0)
		fprintf(stderr, "cdclient: %s: %s\n", e.name ? e.name : "error", e.message ? e.message : strerror(-r));
	sd_bus_error_free(&e);
	return r;
}

static sd_bus_message *routed_reply;

static int routed_cb(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	routed_reply = sd_bus_message_ref(m);
	return 0;
}

/* call(), printing "routed" once the bus has passed m on: a call of our own
 * to the bus came back (it handles a connection's messages in order). */
static int call_routed(sd_bus *bus, sd_bus_message *m, sd_bus_message **reply)
{
	const sd_bus_error *e;
	int r;

	if ((r = sd_bus_call_async(bus, NULL, m, routed_cb, NULL, 600 * 1000000ULL)) < 0 ||
	    (r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
				    "GetId", NULL, NULL, "")) < 0)
		return r;
	printf("routed\n");
	fflush(stdout);
	while (!routed_reply) {
		if ((r = sd_bus_process(bus, NULL)) < 0)
			return r;
		if (r == 0 && (r = sd_bus_wait(bus, UINT64_MAX)) < 0)
			return r;
	}
	*reply = routed_reply;
	routed_reply = NULL;
	if ((e = sd_bus_message_get_error(*reply))) {
		fprintf(stderr, "cdclient: %s: %s\n", e->name, e->message ? e->message : "");
		r = -sd_bus_message_get_errno(*reply);
		*reply = sd_bus_message_unref(*reply);
		return r < 0 ? r : -EIO;
	}
	return 0;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int do_list(sd_bus *bus, int argc, char **argv)
{
	uint32_t limit = 0, offset = 0, total = 0;
	unsigned long received = 0, pages = 0, max = 0;
	double first = 0, later = 0, later_max = 0;
	const char *sort = NULL;
	bool have_limit = false, routed = false;
	int i = 0, r;

	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		if (strcmp(argv[i], "--routed") == 0) {
			routed = true;
			i--;
			continue;
		}
		if (i + 1 >= argc)
			return -EINVAL;
		if (strcmp(argv[i], "--limit") == 0) {
			limit = (uint32_t)strtoul(argv[i + 1], NULL, 0);
			have_limit = true;
		}
		else if (strcmp(argv[i], "--sort") == 0)
			sort = argv[i + 1];
		else if (strcmp(argv[i], "--max") == 0)
			max = strtoul(argv[i + 1], NULL, 0);
	}
	do {
		sd_bus_message *m = NULL, *reply = NULL;
		double t0 = now(), t;
		if ((r = sd_bus_message_new_method_call(bus, &m, NAME, PATH, IFACE, "List")) < 0 ||
		    (r = append_filter(m, argc - i, argv + i)) < 0 ||
		    (r = sd_bus_message_open_container(m, 'a', "{sv}")) < 0 ||
		    (r = sd_bus_message_append(m, "{sv}", "offset", "u", offset)) < 0 ||
		    (have_limit && (r = sd_bus_message_append(m, "{sv}", "limit", "u", limit)) < 0) ||
		    (sort && (r = sd_bus_message_append(m, "{sv}", "sort", "s", sort)) < 0) ||
		    (r = sd_bus_message_close_container(m)) < 0 ||
		    (r = (routed && pages == 0 ? call_routed : call)(bus, m, &reply)) < 0 ||
		    (r = sd_bus_message_read(reply, "u", &total)) < 0 ||
		    (r = sd_bus_message_enter_container(reply, 'a', "(tsssasssqqssqquuqttttta{sv})")) < 0) {
			sd_bus_message_unref(m);
			sd_bus_message_unref(reply);
			return r;
		}
		unsigned long n = 0;
		while ((r = sd_bus_message_skip(reply, "(tsssasssqqssqquuqttttta{sv})")) > 0)
			n++;
		sd_bus_message_unref(m);
		sd_bus_message_unref(reply);
		if (r < 0)
			return r;
		t = now() - t0;
		if (pages == 0)
			first = t;
		else {
			later += t;
			later_max = t > later_max ? t : later_max;
		}
		received += n;
		offset += (uint32_t)n;
		pages++;
		if (n == 0)
			break;
	} while (received < total && (!max || received < max));
	printf("total %u received %lu pages %lu\n", total, received, pages);
	/* Each page's round trip, for the bench: the first, the mean and the slowest of the others. */
	printf("seconds first %.6f later-mean %.6f later-max %.6f\n", first,
	       pages > 1 ? later / (double)(pages - 1) : 0.0, later_max);
	return 0;
}

static int do_export(sd_bus *bus, int argc, char **argv)
{
	sd_bus_message *m = NULL, *reply = NULL;
	char buf[1 << 16];
	int fd, r;

	if (argc < 1)
		return -EINVAL;
	if ((r = sd_bus_message_new_method_call(bus, &m, NAME, PATH, IFACE, "Export")) < 0 ||
	    (r = append_filter(m, argc - 1, argv + 1)) < 0 ||
	    (r = sd_bus_message_append(m, "s", argv[0])) < 0 ||
	    (r = call(bus, m, &reply)) < 0 ||
	    (r = sd_bus_message_read(reply, "h", &fd)) < 0)
		goto out;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0) {
			r = n < 0 ? -errno : 0;
			break;
		}
		if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n) {
			r = -EIO;
			break;
		}
	}
out:
	sd_bus_message_unref(m);
	sd_bus_message_unref(reply);
	return r;
}

static int do_delete_matching(sd_bus *bus, int argc, char **argv)
{
	sd_bus_message *m = NULL, *reply = NULL;
	uint32_t n = 0;
	int r;

	if ((r = sd_bus_message_new_method_call(bus, &m, NAME, PATH, IFACE, "DeleteMatching")) >= 0 &&
	    (r = append_filter(m, argc, argv)) >= 0 && (r = call(bus, m, &reply)) >= 0 &&
	    (r = sd_bus_message_read(reply, "u", &n)) >= 0)
		printf("%u\n", n);
	sd_bus_message_unref(m);
	sd_bus_message_unref(reply);
	return r;
}

static unsigned flood_pending, flood_ok, flood_err_n;
static bool flood_times;
static char flood_err[16][128];
static unsigned flood_err_count[16];
/* What each call of the flood is, and until when answered calls are sent again. */
static struct {
	int statistics, count, flush;
	char *delete_filter;
	double keep_until;
} flood;

static int flood_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error);

static int flood_send(sd_bus *bus)
{
	sd_bus_message *m = NULL;
	int r;

	if (flood.statistics)
		r = sd_bus_call_method_async(bus, NULL, NAME, PATH, IFACE, "GetStatistics", flood_reply, NULL, "");
	else if (flood.count)
		r = sd_bus_call_method_async(bus, NULL, NAME, PATH, IFACE, "List", flood_reply, NULL,
					     "a{sv}a{sv}", 0, 1, "limit", "u", 0);
	else if (flood.flush)
		r = sd_bus_call_method_async(bus, NULL, NAME, PATH, IFACE, "Flush", flood_reply, NULL, "");
	else if (flood.delete_filter) {
		if ((r = sd_bus_message_new_method_call(bus, &m, NAME, PATH, IFACE, "DeleteMatching")) >= 0 &&
		    (r = append_filter(m, 1, &flood.delete_filter)) >= 0)
			r = sd_bus_call_async(bus, NULL, m, flood_reply, NULL, 0);
		sd_bus_message_unref(m);
	} else
		/* The count of a sorted listing: a whole-table read each (an
		 * unsorted count of the whole table is answered without one). */
		r = sd_bus_call_method_async(bus, NULL, NAME, PATH, IFACE, "List", flood_reply, NULL,
					     "a{sv}a{sv}", 0, 2, "limit", "u", 0, "sort", "s", "bytes");
	return r;
}

static void flood_count(const sd_bus_error *e)
{
	if (!e) {
		flood_ok++;
		if (flood_times) {
			printf("answered %.6f\n", now());
			fflush(stdout);
		}
		return;
	}
	for (unsigned i = 0; i < flood_err_n; i++)
		if (strcmp(flood_err[i], e->name) == 0) {
			flood_err_count[i]++;
			return;
		}
	if (flood_err_n < 16) {
		snprintf(flood_err[flood_err_n], sizeof(flood_err[0]), "%s", e->name);
		flood_err_count[flood_err_n++] = 1;
	}
}

static volatile sig_atomic_t flood_stop;

static void on_term(int sig)
{
	flood_stop = 1;
}

static int flood_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	flood_count(sd_bus_message_get_error(m));
	/* With --keep, the call goes out again: as many in flight until then. */
	if (!flood_stop && now() < flood.keep_until && flood_send(sd_bus_message_get_bus(m)) >= 0)
		return 0;
	flood_pending--;
	return 0;
}

static int do_flood(sd_bus *bus, int argc, char **argv)
{
	unsigned n = argc > 0 ? (unsigned)strtoul(argv[0], NULL, 0) : 10;
	int no_wait = 0, routed = 0;
	int r;

	for (int i = 1; i < argc; i++) {
		no_wait |= strcmp(argv[i], "--no-wait") == 0;
		flood.statistics |= strcmp(argv[i], "--statistics") == 0;
		flood.count |= strcmp(argv[i], "--count") == 0;
		flood.flush |= strcmp(argv[i], "--flush") == 0;
		routed |= strcmp(argv[i], "--routed") == 0;
		flood_times |= strcmp(argv[i], "--times") == 0;
		if (strcmp(argv[i], "--delete-matching") == 0 && i + 1 < argc)
			flood.delete_filter = argv[++i];
		if (strcmp(argv[i], "--keep") == 0 && i + 1 < argc) {
			flood.keep_until = now() + atof(argv[++i]);
			signal(SIGTERM, on_term);
		}
	}
	for (unsigned i = 0; i < n; i++) {
		if ((r = flood_send(bus)) < 0)
			return r;
		flood_pending++;
	}
	if (no_wait) {
		sd_bus_flush(bus);
		printf("sent %u\n", n);
		return 0;
	}
	if (routed) {
		if ((r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
					    "org.freedesktop.DBus", "GetId", NULL, NULL, "")) < 0)
			return r;
		printf("routed %u\n", n);
		fflush(stdout);
	}
	while (flood_pending > 0) {
		r = sd_bus_process(bus, NULL);
		if (r < 0)
			return r;
		if (r == 0 && (r = sd_bus_wait(bus, UINT64_MAX)) < 0 && r != -EINTR)
			return r;
	}
	printf("ok %u\n", flood_ok);
	for (unsigned i = 0; i < flood_err_n; i++)
		printf("error %s %u\n", flood_err[i], flood_err_count[i]);
	return 0;
}

int main(int argc, char **argv)
{
	sd_bus *bus = NULL;
	int r;

	if (argc < 2) {
		fprintf(stderr, "usage: cdclient list|export|delete-matching ...\n");
		return 2;
	}
	if ((r = sd_bus_open_system(&bus)) < 0) {
		fprintf(stderr, "cdclient: cannot connect: %s\n", strerror(-r));
		return 1;
	}
	if (strcmp(argv[1], "list") == 0)
		r = do_list(bus, argc - 2, argv + 2);
	else if (strcmp(argv[1], "export") == 0)
		r = do_export(bus, argc - 2, argv + 2);
	else if (strcmp(argv[1], "delete-matching") == 0)
		r = do_delete_matching(bus, argc - 2, argv + 2);
	else if (strcmp(argv[1], "flood") == 0)
		r = do_flood(bus, argc - 2, argv + 2);
	else
		r = -EINVAL;
	fflush(stdout);
	sd_bus_flush_close_unref(bus);
	if (r < 0 && r != -EINVAL)
		fprintf(stderr, "cdclient %s: %s\n", argv[1], strerror(-r));
	return r < 0 ? 1 : 0;
}
