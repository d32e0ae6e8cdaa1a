#include "bus-subscribe.h"

#include <errno.h>

#include "bus-call.h"
#include "bus.h"
#include "events.h"
#include "log.h"

static int subscribe_reply(struct context *ctx, sd_bus_message *m)
{
	sd_bus_error error = SD_BUS_ERROR_NULL;
	int r = events_subscribe(ctx->events, m, &error);
	if (r < 0)
		r = sd_bus_error_is_set(&error) ? sd_bus_reply_method_error(m, &error)
						: sd_bus_reply_method_errnof(m, r, "Subscribing failed: %m");
	else
		r = sd_bus_reply_method_return(m, NULL);
	sd_bus_error_free(&error);
	return r;
}

static void subscribe_run(struct call *c)
{
	int r = subscribe_reply(c->ctx, c->m);
	if (r < 0 && (r = sd_bus_reply_method_errnof(c->m, r, "Subscribe failed: %m")) < 0)
		log_warn("Could not answer Subscribe: %s", strerror(-r));
	call_free(c);
}

static const struct call_ops subscribe_ops = { .run = subscribe_run, .free = call_free };

int method_subscribe(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct call *c = call_new(userdata, m, &subscribe_ops, sizeof(*c));

	if (!c)
		return -ENOMEM;
	return call_authorize(c, ACTION_LIST, NULL, error);
}

/* Unsubscribing only ever concerns the caller's own subscription: no polkit. */
int method_unsubscribe(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct context *ctx = userdata;
	int r = events_unsubscribe(ctx->events, m, error);
	if (r < 0)
		return r;
	return sd_bus_reply_method_return(m, NULL);
}

