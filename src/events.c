#include "events.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_compat.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "busnames.h"
#include "errors.h"
#include "log.h"
#include "util.h"

/* Reads per wakeup: a flood is drained in slices so that calls still run. */
#define RECVS_PER_WAKEUP 64

struct events {
	sd_event *event;
	sd_bus *bus;
	struct events_config cfg;
	struct mnl_socket *nl;
	sd_event_source *io, *timer;
	sd_bus_track *subscribers;
	uint64_t generation, last_emit_usec;
	uint32_t new, updated, destroyed;
	bool lost;
	/* From an overflow until the queue is empty again the kernel drops
	 * events without a further ENOBUFS: any subscriber then misses some. */
	bool overflowing;
	bool changed;           /* any event since the last signal: Count changed */
	uint64_t total_lost;    /* overflows since start, for the log */
	char buf[65536] __attribute__((aligned(NLMSG_ALIGNTO)));
};


static uint64_t now_usec(sd_event *e)
{
	uint64_t t = 0;
	(void)sd_event_now(e, CLOCK_MONOTONIC, &t);
	return t;
}

static void reset_counts(struct events *ev)
{
	ev->new = ev->updated = ev->destroyed = 0;
	ev->lost = false;
	ev->changed = false;
}

static int append_changed(sd_bus_message *m, void *userdata)
{
	struct events *ev = userdata;
	return sd_bus_message_append(m, "tuuub", ev->generation, ev->new, ev->updated, ev->destroyed,
				     (int)ev->lost);
}

/* ConnectionsChanged for subscribers; Count's PropertiesChanged whenever the
 * table changed, subscribed or not (the property says it emits changes; the
 * count is readable by anyone). */
static int emit(struct events *ev)
{
	int r = 0;

	if (events_subscribers(ev) > 0 && (ev->new || ev->updated || ev->destroyed || ev->lost)) {
		ev->generation++;
		r = events_signal_subscribers(ev, "ConnectionsChanged", append_changed, ev);
	}
	if (r >= 0)
		r = sd_bus_emit_properties_changed(ev->bus, BUS_PATH, BUS_INTERFACE, "Count", NULL);
	reset_counts(ev);
	return r;
}

static int timer_cb(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct events *ev = userdata;
	int r;

	ev->timer = sd_event_source_disable_unref(ev->timer);
	if (!ev->changed)
		return 0;
	ev->last_emit_usec = usec;
	if ((r = emit(ev)) < 0)
		log_warn("Could not emit ConnectionsChanged: %s", strerror(-r));
	return 0;
}

/* Something changed: make sure a signal goes out, no sooner than one
 * interval after the previous one. */
static void schedule(struct events *ev)
{
	uint64_t now, at;
	int r;

	if (ev->timer)
		return;
	now = now_usec(ev->event);
	at = ev->last_emit_usec + (uint64_t)ev->cfg.interval_ms * 1000;
	if (at < now)
		at = now;
	r = sd_event_add_time(ev->event, &ev->timer, CLOCK_MONOTONIC, at, 0, timer_cb, ev);
	if (r < 0)
		log_warn("Could not arm the signal timer: %s", strerror(-r));
}

static void count(struct events *ev, const char *buf, size_t len)
{
	int rest = (int)len;
	for (const struct nlmsghdr *h = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(h, rest);
	     h = mnl_nlmsg_next(h, &rest)) {
		if ((h->nlmsg_type >> 8) != NFNL_SUBSYS_CTNETLINK)
			continue;
		switch (h->nlmsg_type & 0xff) {
		case IPCTNL_MSG_CT_NEW:
			/* The kernel marks creations with CREATE|EXCL, updates without. */
			if (h->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL))
				ev->new++;
			else
				ev->updated++;
			break;
		case IPCTNL_MSG_CT_DELETE:
			ev->destroyed++;
			break;
		}
	}
}

static int io_cb(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct events *ev = userdata;
	bool active = events_subscribers(ev) > 0;

	for (int i = 0; i < RECVS_PER_WAKEUP; i++) {
		ssize_t n = recv(fd, ev->buf, sizeof(ev->buf), MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN)
				ev->overflowing = false;
			if (errno == EAGAIN || errno == EINTR)
				break;
			if (errno == ENOBUFS) {
				/* The kernel dropped events: say so; Count is read from the
				 * kernel, so it is right again with the next signal. */
				ev->overflowing = true;
				ev->lost |= active;
				ev->changed = true;
				ev->total_lost++;
				log_debug("conntrack events lost (receive buffer overflow)");
				continue;
			}
			log_warn("Reading conntrack events failed: %m");
			break;
		}
		ev->changed = true;
		if (active)
			count(ev, ev->buf, (size_t)n);
	}
	/* Checked on every wakeup, not only at the ENOBUFS: the overflow may
	 * have begun before this subscriber came. */
	if (active && ev->overflowing)
		ev->lost = true;
	if (ev->changed)
		schedule(ev);
	return 0;
}

int events_new(sd_event *e, sd_bus *bus, const struct events_config *cfg, struct events **ret)
{
	struct events *ev = calloc(1, sizeof(*ev));
	int r, size;

	if (!ev)
		return -ENOMEM;
	ev->event = e;
	ev->bus = bus;
	ev->cfg = *cfg;
	ev->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!ev->nl) {
		r = -errno;
		goto fail;
	}
	/* Ask for the buffer whatever rmem_max says (we hold CAP_NET_ADMIN);
	 * fall back to what an unprivileged socket may have. Never set
	 * NETLINK_NO_ENOBUFS: an overflow must be seen. */
	size = (int)cfg->rcvbuf;
	if (setsockopt(mnl_socket_get_fd(ev->nl), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0 &&
	    setsockopt(mnl_socket_get_fd(ev->nl), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) < 0)
		log_warn("Could not size the event buffer: %m");
	if (mnl_socket_bind(ev->nl, NF_NETLINK_CONNTRACK_NEW | NF_NETLINK_CONNTRACK_UPDATE |
			    NF_NETLINK_CONNTRACK_DESTROY, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		goto fail;
	}
	if ((r = sd_event_add_io(e, &ev->io, mnl_socket_get_fd(ev->nl), EPOLLIN, io_cb, ev)) < 0 ||
	    (r = sd_bus_track_new(bus, &ev->subscribers, NULL, NULL)) < 0)
		goto fail;
	*ret = ev;
	return 0;
fail:
	events_free(ev);
	return r;
}

void events_free(struct events *ev)
{
	if (!ev)
		return;
	sd_event_source_disable_unref(ev->io);
	sd_event_source_disable_unref(ev->timer);
	sd_bus_track_unref(ev->subscribers);
	if (ev->nl)
		mnl_socket_close(ev->nl);
	free(ev);
}

unsigned events_subscribers(const struct events *ev)
{
	return ev->subscribers ? sd_bus_track_count(ev->subscribers) : 0;
}

int events_signal_subscribers(struct events *ev, const char *member,
			      int (*append)(sd_bus_message *m, void *userdata), void *userdata)
{
	int r = 0;

	for (const char *name = sd_bus_track_first(ev->subscribers); name;
	     name = sd_bus_track_next(ev->subscribers)) {
		_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
		int k = sd_bus_message_new_signal(ev->bus, &m, BUS_PATH, BUS_INTERFACE, member);
		if (k >= 0)
			k = sd_bus_message_set_destination(m, name);
		if (k >= 0)
			k = append(m, userdata);
		if (k >= 0)
			k = sd_bus_send(ev->bus, m, NULL);
		if (k < 0 && r >= 0)
			r = k;   /* one subscriber's failure does not stop the others' */
	}
	return r;
}

int events_subscribe(struct events *ev, sd_bus_message *m, sd_bus_error *error)
{
	const char *sender = sd_bus_message_get_sender(m);

	if (sd_bus_track_contains(ev->subscribers, sender))
		return sd_bus_error_setf(error, ERROR_ALREADY, "%s is already subscribed", sender);
	if (events_subscribers(ev) >= ev->cfg.max_subscribers)
		return sd_bus_error_setf(error, SD_BUS_ERROR_LIMITS_EXCEEDED,
					 "Too many subscribers (%u)", ev->cfg.max_subscribers);
	if (events_subscribers(ev) == 0)
		reset_counts(ev);   /* a first subscriber starts from now */
	/* sd_bus_track drops the name when its owner leaves the bus. */
	return sd_bus_track_add_name(ev->subscribers, sender);
}

int events_unsubscribe(struct events *ev, sd_bus_message *m, sd_bus_error *error)
{
	const char *sender = sd_bus_message_get_sender(m);

	if (!sd_bus_track_contains(ev->subscribers, sender))
		return sd_bus_error_setf(error, ERROR_NOT_SUBSCRIBED, "%s is not subscribed", sender);
	return sd_bus_track_remove_name(ev->subscribers, sender);
}
