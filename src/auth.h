/* Authorization of method calls: callers with the service's own uid (as the
 * bus reports it) pass; everyone else is checked by polkit, asynchronously,
 * with the caller's unique bus name as the subject. Any polkit failure,
 * including an absent polkitd, is a denial. */
#pragma once
#include <glib.h>
#include <systemd/sd-bus.h>
#include "reslimits.h"

struct auth;

/* The polkit actions (policy/org.example.Connections.policy), in one place. */
#define ACTION_LIST            "org.example.connections.list"
#define ACTION_DELETE          "org.example.connections.delete"
#define ACTION_DELETE_MATCHING "org.example.connections.delete-matching"
#define ACTION_FLUSH           "org.example.connections.flush"

/* Called once the answer is known. authorized = 1, or 0 with error set to
 * AccessDenied / InteractiveAuthorizationRequired. */
typedef void (*auth_done_fn)(sd_bus_message *m, int authorized, const sd_bus_error *error,
			     void *userdata);

/* The caller's uid as the bus reports it: asked of the bus once per unique
 * name (never reused, so a remembered answer cannot go stale), then
 * remembered, for at most AUTH_UID_CACHE names at a time. */
#define AUTH_UID_CACHE 4096
int auth_caller_uid(struct auth *a, sd_bus_message *m, uid_t *ret);

/* limits bounds the polkit checks pending per user and in total. */
int auth_new(struct limits *limits, struct auth **ret);
void auth_free(struct auth *a);

/* Whether the caller of m, uid as the bus reports it ((uid_t)-1 if it could
 * not say), may do action. Returns 1 when it is authorized right away (done
 * is not called), 0 when polkit was asked (done will be called from the
 * loop), or a negative errno with error set. details are for polkit rules
 * (action.lookup(key)) and its dialogs (polkit.message): a GHashTable of
 * strings, or NULL. */
int auth_check(struct auth *a, sd_bus_message *m, uid_t uid, const char *action, GHashTable *details,
	       auth_done_fn done, void *userdata, sd_bus_error *error);

/* Number of polkit checks waiting for an answer. */
unsigned auth_pending(const struct auth *a);
