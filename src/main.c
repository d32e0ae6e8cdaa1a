/* connectionsd: options, the main loop and its wiring.
 *
 * One loop: GLib's (polkit-gobject's async calls need it). sd-event runs
 * inside it as a GSource, and sd-bus and every conntrack socket are attached
 * to sd-event, so all work is dispatched from the same thread. */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <glib-unix.h>
#include <glib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "addrwatch.h"
#include "auth.h"
#include "bus.h"
#include "config.h"
#include "ctread.h"
#include "exportbudget.h"
#include "listings.h"
#include "log.h"
#include "reslimits.h"
#include "scheduler.h"

#define PAGE_SIZE_DEFAULT 10000
#define PAGE_SIZE_MAX 100000
#define INTERVAL_DEFAULT 500
#define EVENT_BUFFER_DEFAULT (32u << 20)  /* ~50,000 events at ~640 bytes of buffer each */
/* Longer than TCP's established timeout (5 days): a flow NATed to a lost
 * address can still be found as stale for as long as it can live. */
#define ADDRESS_AGE_DEFAULT (7 * 24 * 3600)
#define ADDRESS_HISTORY_DEFAULT 1024
/* A whole 1,000,000-entry table as JSON lines is ~350 MiB: one fits. */
#define EXPORT_BUDGET_DEFAULT (512ull << 20)
/* ~100 bytes a group: a Summarize holds ~6.5 MiB at most. */
#define SUMMARY_GROUPS_DEFAULT 65536
/* ~176 bytes an entry: a 200,000-entry listing is 34 MiB. */
#define LISTING_BUDGET_DEFAULT (64ull << 20)
#define LISTING_IDLE_USEC (30ull * 1000000ull)

/* --- sd-event as a GSource -------------------------------------------------
 * sd-event exposes one epoll fd covering all its sources; GLib polls it and
 * asks sd-event to prepare/wait/dispatch around that poll. */
struct sd_event_gsource {
	GSource source;
	sd_event *event;
};

static gboolean event_prepare(GSource *source, gint *timeout)
{
	*timeout = -1; /* sd-event's timers are timerfds inside its epoll fd */
	return sd_event_prepare(((struct sd_event_gsource *)source)->event) > 0;
}

static gboolean event_check(GSource *source)
{
	return sd_event_wait(((struct sd_event_gsource *)source)->event, 0) > 0;
}

static gboolean event_dispatch(GSource *source, GSourceFunc callback, gpointer userdata)
{
	int r = sd_event_dispatch(((struct sd_event_gsource *)source)->event);
	if (r < 0)
		log_err("sd-event dispatch failed: %s", strerror(-r));
	return G_SOURCE_CONTINUE;
}

static void event_finalize(GSource *source)
{
	sd_event_unref(((struct sd_event_gsource *)source)->event);
}

static GSourceFuncs event_funcs = {
	.prepare = event_prepare,
	.check = event_check,
	.dispatch = event_dispatch,
	.finalize = event_finalize,
};

static GSource *event_gsource_new(sd_event *event)
{
	GSource *source = g_source_new(&event_funcs, sizeof(struct sd_event_gsource));
	((struct sd_event_gsource *)source)->event = sd_event_ref(event);
	g_source_add_unix_fd(source, sd_event_get_fd(event), G_IO_IN);
	return source;
}

/* --- options ---------------------------------------------------------------- */

static void help(void)
{
	printf("Usage: connectionsd [OPTION...]\n"
	       "Serves the kernel's connection tracking table of this network namespace\n"
	       "on the system bus as %s.\n\n"
	       "  -h --help              Show this help and exit\n"
	       "     --version           Show the version and exit\n"
	       "     --page-size=N       Default and maximum entries per List reply\n"
	       "                         (1..%d, default %d)\n"
	       "     --signal-interval=MS  At most one ConnectionsChanged per interval\n"
	       "                         (10..60000, default %d)\n"
	       "     --event-buffer=BYTES  Receive buffer for conntrack events\n"
	       "                         (4096..1073741824, default %u)\n"
	       "     --state-dir=DIR     Where the address history is kept across restarts\n"
	       "                         (default $RUNTIME_DIRECTORY, else /run/connectionsd)\n"
	       "     --max-subscribers=N At most N callers subscribed at once (default %d)\n"
	       "     --address-max-age=SECONDS  Forget an address no interface has held for\n"
	       "                         that long (0: never; default %d, 7 days)\n"
	       "     --address-history-max=N  Keep at most N addresses no interface holds\n"
	       "                         (0: no cap; default %d)\n"
	       "     --export-budget=BYTES  Memory the open exports of one user may hold\n"
	       "                         (0: no bound; default %llu MiB)\n"
	       "     --listing-budget=BYTES  Memory for kept List results, which later pages\n"
	       "                         read (0: keep none; default %llu MiB)\n"
	       "     --summary-groups=N  Distinct groups one Summarize counts at most; the\n"
	       "                         rest are counted together (1..1000000, default %d)\n"
	       "     --exit-idle=SECONDS Exit after that long without calls, work or\n"
	       "                         subscribers (default 0: never)\n"
	       "     --log-level=LEVEL   err, warning, info or debug (default info)\n\n"
	       "The bus is the system bus, or $DBUS_SYSTEM_BUS_ADDRESS when set.\n",
	       BUS_NAME, PAGE_SIZE_MAX, PAGE_SIZE_DEFAULT, INTERVAL_DEFAULT, EVENT_BUFFER_DEFAULT,
	       LIMIT_SUBSCRIBERS, ADDRESS_AGE_DEFAULT, ADDRESS_HISTORY_DEFAULT, EXPORT_BUDGET_DEFAULT >> 20,
	       LISTING_BUDGET_DEFAULT >> 20, SUMMARY_GROUPS_DEFAULT);
}

/* A decimal number in [min, max], or -1 after saying what is wrong. */
static long long parse_number(const char *opt, const char *s, long long min, long long max)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "Invalid --%s '%s': expected %lld..%lld\n", opt, s, min, max);
		return -1;
	}
	return v;
}

static const char *state_dir;
static unsigned exit_idle_sec;
static struct addrwatch_config addr_cfg = { ADDRESS_AGE_DEFAULT, ADDRESS_HISTORY_DEFAULT };
static uint64_t export_budget = EXPORT_BUDGET_DEFAULT;
static uint64_t listing_budget = LISTING_BUDGET_DEFAULT;

static int parse_argv(int argc, char **argv, struct context *ctx, struct events_config *ecfg)
{
	enum { ARG_VERSION = 0x100, ARG_PAGE_SIZE, ARG_LOG_LEVEL, ARG_INTERVAL, ARG_EVENT_BUFFER,
	       ARG_STATE_DIR, ARG_EXIT_IDLE, ARG_MAX_SUBSCRIBERS, ARG_ADDRESS_AGE, ARG_ADDRESS_MAX,
	       ARG_EXPORT_BUDGET, ARG_SUMMARY_GROUPS, ARG_LISTING_BUDGET };
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, ARG_VERSION },
		{ "page-size", required_argument, NULL, ARG_PAGE_SIZE },
		{ "signal-interval", required_argument, NULL, ARG_INTERVAL },
		{ "event-buffer", required_argument, NULL, ARG_EVENT_BUFFER },
		{ "log-level", required_argument, NULL, ARG_LOG_LEVEL },
		{ "state-dir", required_argument, NULL, ARG_STATE_DIR },
		{ "exit-idle", required_argument, NULL, ARG_EXIT_IDLE },
		{ "max-subscribers", required_argument, NULL, ARG_MAX_SUBSCRIBERS },
		{ "address-max-age", required_argument, NULL, ARG_ADDRESS_AGE },
		{ "address-history-max", required_argument, NULL, ARG_ADDRESS_MAX },
		{ "export-budget", required_argument, NULL, ARG_EXPORT_BUDGET },
		{ "summary-groups", required_argument, NULL, ARG_SUMMARY_GROUPS },
		{ "listing-budget", required_argument, NULL, ARG_LISTING_BUDGET },
		{}
	};
	long long v;
	int c;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case 'h':
			help();
			return 0;
		case ARG_VERSION:
			printf("connectionsd %s\n", PACKAGE_VERSION);
			return 0;
		case ARG_PAGE_SIZE:
			if ((v = parse_number("page-size", optarg, 1, PAGE_SIZE_MAX)) < 0)
				return -EINVAL;
			ctx->page_size = (uint32_t)v;
			break;
		case ARG_INTERVAL:
			if ((v = parse_number("signal-interval", optarg, 10, 60000)) < 0)
				return -EINVAL;
			ecfg->interval_ms = (uint32_t)v;
			break;
		case ARG_EVENT_BUFFER:
			if ((v = parse_number("event-buffer", optarg, 4096, 1 << 30)) < 0)
				return -EINVAL;
			ecfg->rcvbuf = (uint32_t)v;
			break;
		case ARG_STATE_DIR:
			state_dir = optarg;
			break;
		case ARG_MAX_SUBSCRIBERS:
			if ((v = parse_number("max-subscribers", optarg, 1, 65536)) < 0)
				return -EINVAL;
			ecfg->max_subscribers = (uint32_t)v;
			break;
		case ARG_ADDRESS_AGE:
			if ((v = parse_number("address-max-age", optarg, 0, 10LL * 365 * 24 * 3600)) < 0)
				return -EINVAL;
			addr_cfg.max_age_sec = (uint64_t)v;
			break;
		case ARG_ADDRESS_MAX:
			if ((v = parse_number("address-history-max", optarg, 0, 1000000)) < 0)
				return -EINVAL;
			addr_cfg.max_lost = (unsigned)v;
			break;
		case ARG_LISTING_BUDGET:
			if ((v = parse_number("listing-budget", optarg, 0, 1LL << 40)) < 0)
				return -EINVAL;
			listing_budget = (uint64_t)v;
			break;
		case ARG_SUMMARY_GROUPS:
			if ((v = parse_number("summary-groups", optarg, 1, 1000000)) < 0)
				return -EINVAL;
			ctx->summary_groups = (uint32_t)v;
			break;
		case ARG_EXPORT_BUDGET:
			if ((v = parse_number("export-budget", optarg, 0, 1LL << 40)) < 0)
				return -EINVAL;
			export_budget = (uint64_t)v;
			break;
		case ARG_EXIT_IDLE:
			if ((v = parse_number("exit-idle", optarg, 0, 86400)) < 0)
				return -EINVAL;
			exit_idle_sec = (unsigned)v;
			break;
		case ARG_LOG_LEVEL: {
			int l = log_level_from_string(optarg);
			if (l < 0) {
				fprintf(stderr, "Invalid --log-level '%s'\n", optarg);
				return -EINVAL;
			}
			log_set_level(l);
			break;
		}
		default:
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "Unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	return 1;
}

/* --- main ----------------------------------------------------------------- */

/* The state file: in --state-dir, else systemd's RuntimeDirectory= (the
 * first of $RUNTIME_DIRECTORY), else /run/connectionsd. */
static char *state_file(void)
{
	g_autofree char *dir = NULL;
	const char *env = getenv("RUNTIME_DIRECTORY");

	if (state_dir)
		dir = g_strdup(state_dir);
	else if (env && *env)
		dir = g_strndup(env, strcspn(env, ":"));
	else
		dir = g_strdup("/run/connectionsd");
	if (g_mkdir_with_parents(dir, 0755) < 0) {
		log_warn("Cannot create %s: %m; the address history will not survive a restart", dir);
		return NULL;
	}
	return g_build_filename(dir, "addresses", NULL);
}

/* --- leaving ----------------------------------------------------------------
 * As systemd's bus services leave (bus_event_loop_with_idle): give the name
 * back, then go on serving until the bus says the name is gone. Every call
 * sent to the name before the release reaches us before that
 * NameOwnerChanged, so none is dropped; later ones wait for the next
 * instance (D-Bus activation). Calls in progress finish first: a
 * DeleteMatching or Flush is answered and audited, never cut off half done.
 * A bound keeps a stuck polkit check from holding the exit for ever. */
#define LEAVE_TIMEOUT_USEC (20 * 1000000ULL)
#define LEAVE_POLL_USEC (20 * 1000ULL)

struct leaving {
	struct context *ctx;
	GMainLoop *loop;
	bool started;
	bool name_gone;
	uint64_t deadline;
};

static bool leave_done(struct leaving *l)
{
	uint64_t now = 0;

	(void)sd_event_now(l->ctx->event, CLOCK_MONOTONIC, &now);
	if (l->name_gone && l->ctx->busy == 0 && auth_pending(l->ctx->auth) == 0)
		return true;
	if (now < l->deadline)
		return false;
	log_warn("Leaving with %u calls in progress and %u authorizations pending after %llu s",
		 l->ctx->busy, auth_pending(l->ctx->auth), LEAVE_TIMEOUT_USEC / 1000000);
	return true;
}

static int leave_tick(sd_event_source *s, uint64_t now, void *userdata)
{
	struct leaving *l = userdata;

	if (leave_done(l)) {
		g_main_loop_quit(l->loop);
		return 0;
	}
	int r = sd_event_source_set_time(s, now + LEAVE_POLL_USEC);
	return r < 0 ? r : sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static int on_name_gone(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct leaving *l = userdata;

	log_debug("The bus has released %s", BUS_NAME);
	l->name_gone = true;
	return 0;
}

static int on_release_reply(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct leaving *l = userdata;
	const sd_bus_error *e = sd_bus_message_get_error(m);

	/* Without the name there is no NameOwnerChanged to wait for. */
	if (e) {
		log_warn("Releasing %s failed: %s", BUS_NAME, e->message ? e->message : e->name);
		l->name_gone = true;
	}
	return 0;
}

static void leave(struct leaving *l, const char *why)
{
	g_autofree char *match = NULL;
	const char *unique = NULL;
	uint64_t now = 0;
	int r;

	if (l->started)
		return;
	l->started = true;
	log_info("Leaving (%s): %u calls in progress", why, l->ctx->busy);
	(void)sd_event_now(l->ctx->event, CLOCK_MONOTONIC, &now);
	l->deadline = now + LEAVE_TIMEOUT_USEC;

	if ((r = sd_bus_get_unique_name(l->ctx->bus, &unique)) >= 0)
		match = g_strdup_printf("type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
					"interface='org.freedesktop.DBus',member='NameOwnerChanged',"
					"arg0='%s',arg1='%s',arg2=''", BUS_NAME, unique);
	if (r < 0 ||
	    (r = sd_bus_add_match_async(l->ctx->bus, NULL, match, on_name_gone, NULL, l)) < 0 ||
	    (r = sd_bus_release_name_async(l->ctx->bus, NULL, BUS_NAME, on_release_reply, l)) < 0) {
		log_warn("Cannot release %s: %s", BUS_NAME, strerror(-r));
		l->name_gone = true;
	}
	if ((r = sd_event_add_time_relative(l->ctx->event, NULL, CLOCK_MONOTONIC, 0, 0, leave_tick, l)) < 0) {
		log_err("Cannot wait for calls in progress: %s", strerror(-r));
		g_main_loop_quit(l->loop);
	}
}

static gboolean on_signal(gpointer userdata)
{
	struct leaving *l = userdata;

	if (l->started) {   /* a second one: leave at once */
		log_info("Exiting at once on a second signal");
		g_main_loop_quit(l->loop);
		return G_SOURCE_CONTINUE;
	}
	leave(l, "signal");
	return G_SOURCE_CONTINUE;
}

/* Leave when idle long enough; D-Bus activation starts us again on demand. */
static int idle_check(sd_event_source *s, uint64_t now, void *userdata)
{
	struct leaving *l = userdata;
	uint64_t period = (uint64_t)exit_idle_sec * 1000000;
	uint64_t since = l->ctx->last_call_usec;

	if (l->started)
		return 0;
	if (bus_idle(l->ctx) && now >= since + period) {
		log_info("No calls for %u s", exit_idle_sec);
		leave(l, "idle");
		return 0;
	}
	/* Not yet: look again when the quiet period could be over. */
	int r = sd_event_source_set_time(s, (bus_idle(l->ctx) ? since : now) + period);
	return r < 0 ? r : sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static bool bus_lost;

static int on_disconnected(sd_bus_message *m, void *loop, sd_bus_error *error)
{
	/* The bus went away: exit, as a failure, so that the unit's
	 * Restart=on-failure brings us back once the bus is. */
	log_warn("Disconnected from the bus, exiting");
	bus_lost = true;
	g_main_loop_quit(loop);
	return 0;
}

/* The bus connection, on the loop; its loss ends the loop. */
static int connect_bus(struct context *ctx, GMainLoop *loop)
{
	int r;

	if ((r = sd_bus_open_system(&ctx->bus)) < 0)
		return log_err_errno(r, "Cannot connect to the system bus");
	if ((r = sd_bus_attach_event(ctx->bus, ctx->event, SD_EVENT_PRIORITY_NORMAL)) < 0 ||
	    (r = sd_bus_match_signal(ctx->bus, NULL, "org.freedesktop.DBus.Local",
				     "/org/freedesktop/DBus/Local", "org.freedesktop.DBus.Local",
				     "Disconnected", on_disconnected, loop)) < 0)
		return log_err_errno(r, "Cannot set up the bus connection");
	return 0;
}

/* The bus is read first, so a call (root's among a storm of others) is
 * taken in at once. Root's dumps share the loop with the bus, slice by
 * slice: no storm of calls delays them much. Users' dumps yield to both,
 * and pause while root's work runs. Either kind reads a buffer every
 * DUMP_GUARD_USEC all the same (users' dumps, and any dump's first read,
 * wait for a quiet loop otherwise): a storm slows them, never starves them. */
#define ROOT_DUMP_PRIORITY SD_EVENT_PRIORITY_NORMAL
#define USER_DUMP_PRIORITY SD_EVENT_PRIORITY_IDLE
#define DUMP_GUARD_USEC (20 * 1000)

/* The scheduler's word: while root's work runs, users' dumps wait. */
static void pause_user_dumps(bool busy, void *userdata)
{
	struct context *ctx = userdata;
	ct_dump_group_pause(ctx->user_dumps, busy);
}

/* Everything the object's methods use, then the object. addrwatch is
 * optional: without it 'interface' and 'stale' are unavailable. */
static int set_up(struct context *ctx, const struct events_config *ecfg, const char *addr_file,
		  struct addrwatch **addrwatch)
{
	int r;

	/* Events before the name: entries created from now on carry event data. */
	if ((r = events_new(ctx->event, ctx->bus, ecfg, &ctx->events)) < 0)
		return log_err_errno(r, "Cannot listen to conntrack events");
	if ((r = export_budget_new(ctx->event, export_budget, geteuid(), &ctx->exports)) < 0)
		return log_err_errno(r, "Cannot follow exports");
	if (listing_budget && (r = listings_new(ctx->event, listing_budget, LISTING_IDLE_USEC, &ctx->listings)) < 0)
		return log_err_errno(r, "Cannot set up kept listings");
	if ((r = addrwatch_new(ctx->event, addr_file, &addr_cfg, addrwatch)) < 0)
		log_warn_errno(r, "Cannot follow interface addresses ('interface' and 'stale' are unavailable)");
	else
		ctx->filter_env = (struct filter_env){ *addrwatch, addrwatch_interface, addrwatch_stale,
						     addrwatch_owners };
	if ((r = limits_new(geteuid(), &ctx->limits)) < 0 || (r = auth_new(ctx->limits, &ctx->auth)) < 0 ||
	    (r = ct_dump_group_new(ctx->event, ROOT_DUMP_PRIORITY, DUMP_GUARD_USEC, &ctx->root_dumps)) < 0 ||
	    (r = ct_dump_group_new(ctx->event, USER_DUMP_PRIORITY, DUMP_GUARD_USEC, &ctx->user_dumps)) < 0 ||
	    (r = scheduler_new(ctx->event, geteuid(), pause_user_dumps, ctx, &ctx->scheduler)) < 0 ||
	    (r = bus_add_object(ctx)) < 0)
		return log_err_errno(r, "Cannot set up the bus object");
	return 0;
}

/* With --exit-idle: the timer that ends an idle service. */
static int arm_idle_timer(struct context *ctx, struct leaving *leaving)
{
	int r;

	if (!exit_idle_sec)
		return 0;
	(void)sd_event_now(ctx->event, CLOCK_MONOTONIC, &ctx->last_call_usec);
	r = sd_event_add_time(ctx->event, NULL, CLOCK_MONOTONIC,
			      ctx->last_call_usec + (uint64_t)exit_idle_sec * 1000000, 0, idle_check, leaving);
	return r < 0 ? log_err_errno(r, "Cannot set up the idle timer") : 0;
}

int main(int argc, char **argv)
{
	struct context ctx = { .page_size = PAGE_SIZE_DEFAULT, .summary_groups = SUMMARY_GROUPS_DEFAULT,
			       .version = PACKAGE_VERSION };
	struct events_config ecfg = { .interval_ms = INTERVAL_DEFAULT, .rcvbuf = EVENT_BUFFER_DEFAULT,
				      .max_subscribers = LIMIT_SUBSCRIBERS };
	struct addrwatch *addrwatch = NULL;
	g_autofree char *addr_file = NULL;
	struct leaving leaving = { .ctx = &ctx };
	GMainLoop *loop = NULL;
	GSource *source = NULL;
	int r;

	r = parse_argv(argc, argv, &ctx, &ecfg);
	if (r <= 0)
		return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

	/* A client that goes away must not kill us while we write to it. */
	signal(SIGPIPE, SIG_IGN);
	/* Big blocks (listings, pages, replies) straight from mmap, always: freed,
	 * they go back to the system. glibc's threshold otherwise grows with the
	 * biggest block freed, and the heap then keeps what a big call used. */
	(void)mallopt(M_MMAP_THRESHOLD, 128 * 1024);

	if ((r = ct_probe(&ctx.caps)) < 0) {
		log_err_errno(r, "Cannot read the conntrack table");
		return EXIT_FAILURE;
	}

	loop = g_main_loop_new(NULL, FALSE);
	leaving.loop = loop;
	if ((r = sd_event_new(&ctx.event)) < 0) {
		log_err_errno(r, "Cannot create the event loop");
		goto out;
	}
	source = event_gsource_new(ctx.event);
	g_source_attach(source, NULL);
	g_unix_signal_add(SIGTERM, on_signal, &leaving);
	g_unix_signal_add(SIGINT, on_signal, &leaving);

	addr_file = state_file();
	if ((r = connect_bus(&ctx, loop)) < 0 || (r = set_up(&ctx, &ecfg, addr_file, &addrwatch)) < 0)
		goto out;
	/* The name comes last: callers only see us once everything is ready. */
	if ((r = sd_bus_request_name(ctx.bus, BUS_NAME, 0)) < 0) {
		log_err_errno(r, "Cannot acquire the name %s", BUS_NAME);
		goto out;
	}
	if ((r = arm_idle_timer(&ctx, &leaving)) < 0)
		goto out;
	log_info("Serving %s (page size %u)", BUS_NAME, ctx.page_size);
	g_main_loop_run(loop);
	r = 0;
out:
	events_free(ctx.events);
	listings_free(ctx.listings);
	export_budget_free(ctx.exports);
	addrwatch_free(addrwatch);
	if (ctx.bus)
		sd_bus_flush_close_unref(ctx.bus);
	auth_free(ctx.auth);
	scheduler_free(ctx.scheduler);
	ct_dump_group_free(ctx.root_dumps);
	ct_dump_group_free(ctx.user_dumps);
	limits_free(ctx.limits);
	if (source) {
		g_source_destroy(source);
		g_source_unref(source);
	}
	sd_event_unref(ctx.event);
	if (loop)
		g_main_loop_unref(loop);
	return r < 0 || bus_lost ? EXIT_FAILURE : EXIT_SUCCESS;
}
