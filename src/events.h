/* Live changes: the kernel's conntrack event groups, counted and coalesced
 * into ConnectionsChanged for the callers that subscribed, and sent to them
 * alone.
 *
 * The event socket is open from start-up, subscribers or not: the kernel
 * only attaches event data to entries created while a listener exists
 * (nf_conntrack_events=2), so listening late would never see the end of
 * entries that started before. Counting reads only message headers. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

struct events;

struct events_config {
	uint32_t interval_ms;   /* at most one signal per interval */
	uint32_t rcvbuf;        /* event socket receive buffer, bytes */
	uint32_t max_subscribers;
};

int events_new(sd_event *e, sd_bus *bus, const struct events_config *cfg, struct events **ret);
void events_free(struct events *ev);

int events_subscribe(struct events *ev, sd_bus_message *m, sd_bus_error *error);
int events_unsubscribe(struct events *ev, sd_bus_message *m, sd_bus_error *error);
unsigned events_subscribers(const struct events *ev);

/* Sends the signal `member` to each subscriber alone (callers that passed the
 * list check), never as a broadcast that any match rule could receive;
 * append() adds its arguments to each copy. */
int events_signal_subscribers(struct events *ev, const char *member,
			      int (*append)(sd_bus_message *m, void *userdata), void *userdata);
