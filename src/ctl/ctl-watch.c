/* watch: the table followed live through ConnectionsChanged. On a terminal
 * a view refreshed like top(1): counts, the last change and the first page
 * of the listing; elsewhere one line per signal, for scripts and logs. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-event.h>

#include "ctl-table.h"
#include "ctl.h"
#include "record.h"
#include "util.h"

/* A terminal view also redraws this often: timeouts and counters move without signals. */
#define REDRAW_USEC (2 * 1000000ULL)

struct watch {
	struct ctl *c;
	sd_event *event;
	bool tty;
	char last[160];   /* the last change, as the view says it */
	int error;        /* exit code once something failed */
};

static uint32_t table_count(struct watch *w)
{
	uint32_t n = 0;
	(void)sd_bus_get_property_trivial(w->c->bus, CTL_NAME, CTL_PATH, CTL_IFACE, "Count", NULL, 'u', &n);
	return n;
}

static unsigned terminal_rows(void)
{
	struct winsize ws;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0)
		return ws.ws_row;
	return 24;
}

/* The first rows of the listing that fit under the header. */
static int redraw(struct watch *w)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
	struct ctl *c = w->c;
	unsigned rows = terminal_rows();
	uint32_t room = rows > 7 ? rows - 7 : 1, total;
	uint64_t now;
	struct ctl_table *t;
	struct ct_record rec;
	struct timespec ts;
	char clock[16];
	int r;

	if ((r = ctl_new_call(c, "List", &m)) < 0 ||
	    (r = ctl_filter_append(m, &c->filter)) < 0 ||
	    (r = sd_bus_message_open_container(m, 'a', "{sv}")) < 0 ||
	    (r = sd_bus_message_append(m, "{sv}", "limit", "u", room)) < 0 ||
	    (c->sort && (r = sd_bus_message_append(m, "{sv}", "sort", "s", c->sort)) < 0) ||
	    (c->reverse && (r = sd_bus_message_append(m, "{sv}", "reverse", "b", 1)) < 0) ||
	    (r = sd_bus_message_close_container(m)) < 0)
		return ctl_report(c, "List", NULL, r);
	if ((r = ctl_send(c, m, &reply)) != 0)
		return r;
	if ((r = sd_bus_message_read(reply, "u", &total)) < 0 ||
	    (r = sd_bus_message_enter_container(reply, 'a', CT_RECORD_SIGNATURE)) < 0)
		return ctl_report(c, "List", NULL, r);
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
	t = ctl_connections_table();
	while ((r = ct_record_read(reply, &rec)) > 0)
		ctl_connections_row(t, &rec, now);
	strftime(clock, sizeof(clock), "%H:%M:%S", localtime(&ts.tv_sec));
	/* Home, clear, then the view. */
	fputs("\033[H\033[2J", stdout);
	printf("connectionsctl watch  %s  %" PRIu32 " connections in the table, %" PRIu32 " matching\n",
	       clock, table_count(w), total);
	printf("%s\n\n", w->last[0] ? w->last : "No change seen yet.");
	ctl_connections_print(t, true, ctl_terminal_width(stdout));
	if (total > ctl_table_rows(t))
		printf("… %" PRIu64 " more\n", (uint64_t)(total - ctl_table_rows(t)));
	ctl_table_free(t);
	fflush(stdout);
	return r < 0 ? ctl_report(c, "List", NULL, r) : 0;
}

static void fail(struct watch *w, int code)
{
	w->error = code;
	sd_event_exit(w->event, code);
}

static int on_changed(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct watch *w = userdata;
	uint64_t gen;
	uint32_t added, updated, destroyed;
	int lost, r;

	if ((r = sd_bus_message_read(m, "tuuub", &gen, &added, &updated, &destroyed, &lost)) < 0)
		return 0;
	if (!w->tty) {
		printf("changed generation=%" PRIu64 " new=%" PRIu32 " updated=%" PRIu32 " destroyed=%" PRIu32
		       " lost=%s count=%" PRIu32 "\n", gen, added, updated, destroyed, lost ? "yes" : "no",
		       table_count(w));
		fflush(stdout);
		return 0;
	}
	snprintf(w->last, sizeof(w->last), "Last change (#%" PRIu64 "): %" PRIu32 " new, %" PRIu32
		 " updated, %" PRIu32 " destroyed%s", gen, added, updated, destroyed,
		 lost ? "; events were lost, listed anew" : "");
	if ((r = redraw(w)) != 0)
		fail(w, r);
	return 0;
}

static int on_deleted(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct watch *w = userdata;
	const char *method;
	uint32_t count;
	int r;

	if ((r = sd_bus_message_read(m, "s", &method)) < 0 ||
	    (r = sd_bus_message_skip(m, "a{sv}")) < 0 ||
	    (r = sd_bus_message_read(m, "u", &count)) < 0)
		return 0;
	if (!w->tty) {
		printf("deleted method=%s count=%" PRIu32 "\n", method, count);
		fflush(stdout);
		return 0;
	}
	snprintf(w->last, sizeof(w->last), "%s deleted %" PRIu32 " connections", method, count);
	if ((r = redraw(w)) != 0)
		fail(w, r);
	return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct watch *w = userdata;
	int r = redraw(w);
	if (r != 0) {
		fail(w, r);
		return 0;
	}
	return sd_event_source_set_time(s, usec + REDRAW_USEC);
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct watch *w = userdata;
	return sd_event_exit(w->event, 0);
}

int ctl_watch(struct ctl *c)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
	struct watch w = { .c = c, .tty = isatty(STDOUT_FILENO) };
	sigset_t mask;
	uint64_t now;
	int r;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if ((r = sd_event_default(&w.event)) < 0 ||
	    (r = sigprocmask(SIG_BLOCK, &mask, NULL)) < 0 ||
	    (r = sd_event_add_signal(w.event, NULL, SIGINT, on_signal, &w)) < 0 ||
	    (r = sd_event_add_signal(w.event, NULL, SIGTERM, on_signal, &w)) < 0 ||
	    (r = sd_bus_attach_event(c->bus, w.event, SD_EVENT_PRIORITY_NORMAL)) < 0 ||
	    (r = sd_bus_match_signal(c->bus, NULL, NULL, CTL_PATH, CTL_IFACE, "ConnectionsChanged",
				     on_changed, &w)) < 0 ||
	    (r = sd_bus_match_signal(c->bus, NULL, NULL, CTL_PATH, CTL_IFACE, "ConnectionsDeleted",
				     on_deleted, &w)) < 0) {
		r = ctl_report(c, "watch", NULL, r);
		goto out;
	}
	/* The service sends its signals to subscribers only. */
	if ((r = ctl_new_call(c, "Subscribe", &m)) < 0) {
		r = ctl_report(c, "Subscribe", NULL, r);
		goto out;
	}
	if ((r = ctl_send(c, m, &reply)) != 0)
		goto out;
	if (w.tty) {
		fputs("\033[?1049h", stdout);   /* the alternate screen, as top uses */
		if ((r = redraw(&w)) != 0)
			goto out;
		sd_event_now(w.event, CLOCK_MONOTONIC, &now);
		if ((r = sd_event_add_time(w.event, NULL, CLOCK_MONOTONIC, now + REDRAW_USEC, 0, on_timer, &w)) < 0) {
			r = ctl_report(c, "watch", NULL, r);
			goto out;
		}
	} else {
		printf("watching count=%" PRIu32 "\n", table_count(&w));
		fflush(stdout);
	}
	r = sd_event_loop(w.event);
	r = w.error ? w.error : r < 0 ? ctl_report(c, "watch", NULL, r) : 0;
out:
	if (w.tty)
		fputs("\033[?1049l", stdout);
	fflush(stdout);
	sd_bus_detach_event(c->bus);
	sd_event_unref(w.event);
	return r;
}
