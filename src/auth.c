#include "auth.h"

#include <errno.h>
#include <stdbool.h>
#include <polkit/polkit.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

struct auth {
	struct limits *limits;
	PolkitAuthority *authority;
	uid_t self;
	unsigned pending;
	GHashTable *uids;   /* unique name -> uid */
};

/* A check that nobody answers must not hold its slot for ever: it ends when
 * the caller leaves the bus, and after the bus's default method timeout (the
 * caller has given up by then), or a few minutes when a person may be typing
 * a password. Ending it cancels it at polkitd too. */
#define CHECK_TIMEOUT_SEC 25
#define CHECK_TIMEOUT_INTERACTIVE_SEC 300

struct check {
	struct auth *auth;
	sd_bus_message *m;
	char *action;
	bool interactive;   /* the caller allowed interactive authorization */
	uid_t uid;
	auth_done_fn done;
	void *userdata;
	GCancellable *cancel;
	sd_bus_track *caller;   /* ends the check when the caller leaves */
	sd_bus_slot *present;   /* is it still there at all? */
	guint timeout;
	const char *ended;      /* why it was cancelled */
};

int auth_new(struct limits *limits, struct auth **ret)
{
	struct auth *a = calloc(1, sizeof(*a));
	g_autoptr(GError) err = NULL;

	if (!a)
		return -ENOMEM;
	a->limits = limits;
	a->self = geteuid();
	a->uids = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	/* polkit talks over GLib's shared system bus connection, which by default
	 * raises SIGTERM when the bus goes away: that would race sd-bus's own
	 * handling and turn a bus loss into a clean exit systemd does not restart. */
	g_autoptr(GDBusConnection) bus = g_bus_get_sync(G_BUS_TYPE_SYSTEM, NULL, NULL);
	if (bus)
		g_dbus_connection_set_exit_on_close(bus, FALSE);
	/* The proxy follows polkitd coming and going on the bus; if even the
	 * proxy cannot be had, every non-root caller is denied. */
	a->authority = polkit_authority_get_sync(NULL, &err);
	if (!a->authority)
		log_warn("polkit is not available (%s): only uid %u will be served",
			 err ? err->message : "unknown error", (unsigned)a->self);
	*ret = a;
	return 0;
}

void auth_free(struct auth *a)
{
	if (!a)
		return;
	g_clear_object(&a->authority);
	g_hash_table_unref(a->uids);
	free(a);
}

unsigned auth_pending(const struct auth *a)
{
	return a->pending;
}

static void check_free(struct check *c)
{
	if (c->timeout)
		g_source_remove(c->timeout);
	sd_bus_track_unref(c->caller);
	sd_bus_slot_unref(c->present);
	g_clear_object(&c->cancel);
	c->auth->pending--;
	limits_release(c->auth->limits, c->uid, LIMIT_AUTH);
	sd_bus_message_unref(c->m);
	free(c->action);
	free(c);
}

static void check_cb(GObject *source, GAsyncResult *res, gpointer userdata)
{
	struct check *c = userdata;
	g_autoptr(GError) err = NULL;
	g_autoptr(PolkitAuthorizationResult) result = NULL;
	sd_bus_error error = SD_BUS_ERROR_NULL;
	int authorized = 0;

	result = polkit_authority_check_authorization_finish(POLKIT_AUTHORITY(source), res, &err);
	if (!result && c->ended) {
		log_info("polkit check of %s for %s ended: %s", c->action, sd_bus_message_get_sender(c->m), c->ended);
		sd_bus_error_setf(&error, SD_BUS_ERROR_ACCESS_DENIED, "Authorization of %s ended: %s",
				  c->action, c->ended);
	} else if (!result) {
		log_warn("polkit check of %s for %s failed: %s", c->action,
			 sd_bus_message_get_sender(c->m), err->message);
		sd_bus_error_setf(&error, SD_BUS_ERROR_ACCESS_DENIED,
				  "Authorization of %s could not be checked", c->action);
	} else if (polkit_authorization_result_get_is_authorized(result)) {
		authorized = 1;
	} else if (polkit_authorization_result_get_is_challenge(result) && !c->interactive) {
		/* polkit would ask, but the caller did not allow us to make it ask. With
		 * interaction allowed, a challenge means nobody answered: a denial. */
		sd_bus_error_setf(&error, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED,
				  "Interactive authentication is required for %s", c->action);
	} else {
		sd_bus_error_setf(&error, SD_BUS_ERROR_ACCESS_DENIED, "Not authorized to perform %s",
				  c->action);
	}
	log_debug("%s %s %s", sd_bus_message_get_sender(c->m), authorized ? "may" : "may not", c->action);
	c->done(c->m, authorized, &error, c->userdata);
	sd_bus_error_free(&error);
	check_free(c);
}

static void check_end(struct check *c, const char *why)
{
	if (c->ended)
		return;
	c->ended = why;
	g_cancellable_cancel(c->cancel);
}

static int caller_left(sd_bus_track *t, void *userdata)
{
	check_end(userdata, "the caller left the bus");
	return 0;
}

/* The track sees the caller leave from now on; this sees one that left
 * before (its calls were still queued for us): the bus handles our match
 * and this question in order. */
static int caller_present(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct check *c = userdata;
	c->present = sd_bus_slot_unref(c->present);
	if (sd_bus_message_is_method_error(m, NULL))
		check_end(c, "the caller left the bus");
	return 0;
}

static gboolean check_timed_out(gpointer userdata)
{
	struct check *c = userdata;
	c->timeout = 0;
	check_end(c, "no answer in time");
	return G_SOURCE_REMOVE;
}

int auth_caller_uid(struct auth *a, sd_bus_message *m, uid_t *ret)
{
	const char *sender = sd_bus_message_get_sender(m);
	sd_bus_creds *creds = NULL;
	gpointer known;
	int r;

	if (sender && g_hash_table_lookup_extended(a->uids, sender, NULL, &known)) {
		*ret = (uid_t)GPOINTER_TO_UINT(known);
		return 0;
	}
	/* Without SD_BUS_CREDS_AUGMENT, sd-bus asks the bus daemon (never
	 * /proc): a round trip each, which a storm of calls would pay in full. */
	r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID, &creds);
	if (r >= 0) {
		r = sd_bus_creds_get_euid(creds, ret);
		sd_bus_creds_unref(creds);
	}
	if (r >= 0 && sender && sender[0] == ':') {
		if (g_hash_table_size(a->uids) >= AUTH_UID_CACHE)
			g_hash_table_remove_all(a->uids);
		g_hash_table_insert(a->uids, g_strdup(sender), GUINT_TO_POINTER((unsigned)*ret));
	}
	return r;
}

int auth_check(struct auth *a, sd_bus_message *m, uid_t uid, const char *action, GHashTable *details,
	       auth_done_fn done, void *userdata, sd_bus_error *error)
{
	int r;

	if (uid == (uid_t)-1)
		return sd_bus_error_setf(error, SD_BUS_ERROR_FAILED, "Could not determine the caller's identity");
	if (uid == a->self)
		return 1;

	if (!a->authority)
		return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
					 "Authorization of %s is not possible: polkit is unavailable", action);

	if ((r = limits_acquire(a->limits, uid, LIMIT_AUTH, error)) < 0)
		return r;
	struct check *c = calloc(1, sizeof(*c));
	if (!c || !(c->action = strdup(action))) {
		free(c);
		limits_release(a->limits, uid, LIMIT_AUTH);
		return -ENOMEM;
	}
	c->auth = a;
	c->uid = uid;
	c->m = sd_bus_message_ref(m);
	c->done = done;
	c->userdata = userdata;
	c->cancel = g_cancellable_new();
	a->pending++;
	if ((r = sd_bus_track_new(sd_bus_message_get_bus(m), &c->caller, caller_left, c)) < 0 ||
	    (r = sd_bus_track_add_name(c->caller, sd_bus_message_get_sender(m))) < 0 ||
	    (r = sd_bus_call_method_async(sd_bus_message_get_bus(m), &c->present, "org.freedesktop.DBus",
					  "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetNameOwner",
					  caller_present, c, "s", sd_bus_message_get_sender(m))) < 0)
		log_warn("Cannot follow %s on the bus (%s): its check ends by its timeout only",
			 sd_bus_message_get_sender(m), strerror(-r));

	log_debug("Asking polkit whether %s may %s", sd_bus_message_get_sender(m), action);
	g_autoptr(PolkitSubject) subject = polkit_system_bus_name_new(sd_bus_message_get_sender(m));
	c->interactive = sd_bus_message_get_allow_interactive_authorization(m) > 0;
	PolkitCheckAuthorizationFlags flags = c->interactive
		? POLKIT_CHECK_AUTHORIZATION_FLAGS_ALLOW_USER_INTERACTION
		: POLKIT_CHECK_AUTHORIZATION_FLAGS_NONE;
	c->timeout = g_timeout_add_seconds(c->interactive ? CHECK_TIMEOUT_INTERACTIVE_SEC : CHECK_TIMEOUT_SEC,
					   check_timed_out, c);
	g_autoptr(PolkitDetails) pdetails = polkit_details_new();
	if (details) {
		GHashTableIter it;
		gpointer k, v;
		g_hash_table_iter_init(&it, details);
		while (g_hash_table_iter_next(&it, &k, &v))
			polkit_details_insert(pdetails, k, v);
	}
	polkit_authority_check_authorization(a->authority, subject, action, pdetails, flags, c->cancel,
					     check_cb, c);
	return 0;
}
