#include "addrwatch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "filter.h"
#include "log.h"
#include "nlrequest.h"

struct held {
	char ifname[IFNAMSIZ];
	uint8_t family;
	uint8_t addr[16];
	bool current;
	uint64_t lost_at;   /* CLOCK_REALTIME seconds it stopped being held; 0 while held */
};

struct link {
	int index;
	char name[IFNAMSIZ];
};

struct addrwatch {
	struct addrwatch_config cfg;
	struct mnl_socket *nl;
	sd_event_source *io;
	sd_event_source *save_later;   /* a defer source: one save per loop iteration */
	char *state_file;
	GArray *held;    /* struct held */
	GArray *links;   /* struct link */
	bool starting;   /* the initial dumps: save once at the end */
	char buf[65536] __attribute__((aligned(NLMSG_ALIGNTO)));
};

static const char *link_name(struct addrwatch *w, int index)
{
	for (guint i = 0; i < w->links->len; i++) {
		struct link *l = &g_array_index(w->links, struct link, i);
		if (l->index == index)
			return l->name;
	}
	return NULL;
}

static void set_link(struct addrwatch *w, int index, const char *name)
{
	struct link n = { .index = index };
	for (guint i = 0; i < w->links->len; i++) {
		struct link *l = &g_array_index(w->links, struct link, i);
		if (l->index == index) {
			g_strlcpy(l->name, name, sizeof(l->name));
			return;
		}
	}
	g_strlcpy(n.name, name, sizeof(n.name));
	g_array_append_val(w->links, n);
}

static struct held *find(struct addrwatch *w, const char *ifname, uint8_t family, const uint8_t *addr)
{
	for (guint i = 0; i < w->held->len; i++) {
		struct held *h = &g_array_index(w->held, struct held, i);
		if (h->family == family && memcmp(h->addr, addr, 16) == 0 && strcmp(h->ifname, ifname) == 0)
			return h;
	}
	return NULL;
}

static uint64_t now_sec(void)
{
	return (uint64_t)time(NULL);
}

/* Forgets addresses nobody has held for longer than the configured age,
 * then the longest-lost ones beyond the cap; held ones are always kept.
 * Returns whether anything went. */
static bool prune(struct addrwatch *w)
{
	uint64_t now = now_sec();
	unsigned lost = 0;
	bool changed = false;

	for (guint i = w->held->len; i-- > 0;) {
		struct held *h = &g_array_index(w->held, struct held, i);
		if (h->current)
			continue;
		if (w->cfg.max_age_sec && h->lost_at + w->cfg.max_age_sec <= now) {
			g_array_remove_index(w->held, i);
			changed = true;
		} else
			lost++;
	}
	while (w->cfg.max_lost && lost > w->cfg.max_lost) {
		guint oldest = G_MAXUINT;
		for (guint i = 0; i < w->held->len; i++) {
			struct held *h = &g_array_index(w->held, struct held, i);
			if (!h->current && (oldest == G_MAXUINT ||
					    h->lost_at < g_array_index(w->held, struct held, oldest).lost_at))
				oldest = i;
		}
		g_array_remove_index(w->held, oldest);
		lost--;
		changed = true;
	}
	return changed;
}

/* Writes the history atomically: a crash never leaves half a file, and a
 * failed write leaves neither a temporary file nor an open FILE behind. */
static void save(struct addrwatch *w)
{
	g_autofree char *tmp = NULL;
	FILE *f = NULL;
	int fd;
	bool ok;

	if (!w->state_file)
		return;
	tmp = g_strdup_printf("%s.tmp", w->state_file);
	/* A fresh file: whatever was left at that name, a link included, is
	 * removed and never followed. */
	(void)unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		log_warn("Cannot write %s: %m", tmp);
		if (fd >= 0) {
			close(fd);
			(void)unlink(tmp);
		}
		return;
	}
	fprintf(f, "# interface family address [when it was lost, seconds since the epoch]\n");
	for (guint i = 0; i < w->held->len; i++) {
		struct held *h = &g_array_index(w->held, struct held, i);
		char a[INET6_ADDRSTRLEN];
		inet_ntop(h->family, h->addr, a, sizeof(a));
		fprintf(f, "%s %s %s", h->ifname, h->family == AF_INET ? "ipv4" : "ipv6", a);
		if (!h->current)
			fprintf(f, " %llu", (unsigned long long)h->lost_at);
		fputc('\n', f);
	}
	ok = fflush(f) == 0 && !ferror(f) && fsync(fileno(f)) == 0;
	if (fclose(f) != 0)
		ok = false;
	if (ok && rename(tmp, w->state_file) == 0)
		return;
	log_warn("Cannot write %s: %m", w->state_file);
	(void)unlink(tmp);
}

static int save_cb(sd_event_source *s, void *userdata)
{
	save(userdata);
	return 0;
}

static void load(struct addrwatch *w)
{
	char line[256];
	FILE *f = w->state_file ? fopen(w->state_file, "re") : NULL;

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char ifname[IFNAMSIZ + 1], fam[8], addr[INET6_ADDRSTRLEN + 1];
		unsigned long long lost = 0;
		struct held h = { 0 };
		if (line[0] == '#' || sscanf(line, "%16s %7s %46s %llu", ifname, fam, addr, &lost) < 3)
			continue;
		/* Not held until seen again; a line without the time starts its clock now. */
		h.lost_at = lost ? lost : now_sec();
		h.family = strcmp(fam, "ipv6") == 0 ? AF_INET6 : AF_INET;
		if (strlen(ifname) >= IFNAMSIZ || inet_pton(h.family, addr, h.addr) != 1)
			continue;
		strcpy(h.ifname, ifname);
		if (!find(w, h.ifname, h.family, h.addr))
			g_array_append_val(w->held, h);
	}
	fclose(f);
}

struct addr_attrs { const struct nlattr *addr, *local, *label; };

static int addr_attr_cb(const struct nlattr *a, void *data)
{
	struct addr_attrs *t = data;
	switch (mnl_attr_get_type(a)) {
	case IFA_ADDRESS: t->addr = a; break;
	case IFA_LOCAL: t->local = a; break;
	}
	return MNL_CB_OK;
}

static int link_attr_cb(const struct nlattr *a, void *data)
{
	if (mnl_attr_get_type(a) == IFLA_IFNAME && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) >= 0)
		*(const char **)data = mnl_attr_get_str(a);
	return MNL_CB_OK;
}

/* One rtnetlink message; returns true when the history changed. */
static bool handle(struct addrwatch *w, const struct nlmsghdr *nlh)
{
	if (nlh->nlmsg_type == RTM_NEWLINK) {
		const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
		const char *name = NULL;
		if (mnl_attr_parse(nlh, sizeof(*ifi), link_attr_cb, &name) >= 0 && name)
			set_link(w, ifi->ifi_index, name);
		return false;
	}
	if (nlh->nlmsg_type != RTM_NEWADDR && nlh->nlmsg_type != RTM_DELADDR)
		return false;

	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	struct addr_attrs t = { 0 };
	const char *name = link_name(w, (int)ifa->ifa_index);
	char fallback[IF_NAMESIZE];
	const struct nlattr *a;
	size_t len = ifa->ifa_family == AF_INET ? 4 : 16;
	uint8_t addr[16] = { 0 };

	if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6)
		return false;
	if (mnl_attr_parse(nlh, sizeof(*ifa), addr_attr_cb, &t) < 0)
		return false;
	/* IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer on
	 * point-to-point links); IPv6 only sends IFA_ADDRESS. */
	a = t.local ? t.local : t.addr;
	if (!a || mnl_attr_get_payload_len(a) != len)
		return false;
	memcpy(addr, mnl_attr_get_payload(a), len);
	if (!name)
		name = if_indextoname(ifa->ifa_index, fallback);
	if (!name)
		return false;

	struct held *h = find(w, name, ifa->ifa_family, addr);
	if (nlh->nlmsg_type == RTM_DELADDR) {
		if (h && h->current) {
			h->current = false;
			h->lost_at = now_sec();
		}
		return h != NULL;
	}
	if (h) {
		bool was = h->current;
		h->current = true;
		h->lost_at = 0;
		return !was;
	}
	struct held n = { .family = ifa->ifa_family, .current = true };
	g_strlcpy(n.ifname, name, sizeof(n.ifname));
	memcpy(n.addr, addr, 16);
	g_array_append_val(w->held, n);
	return true;
}

/* A change is saved once the loop comes round, not inside whatever applied
 * it: a caller's filter (catch_up) never writes the file itself. */
static int msg_cb(const struct nlmsghdr *nlh, void *data)
{
	struct addrwatch *w = data;
	if (!handle(w, nlh) || w->starting)
		return MNL_CB_OK;
	(void)prune(w);   /* the cap holds under churn (container veths, temporary IPv6 addresses) */
	if (w->save_later && sd_event_source_set_enabled(w->save_later, SD_EVENT_ONESHOT) < 0)
		save(w);
	return MNL_CB_OK;
}

static int io_cb(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct addrwatch *w = userdata;

	for (;;) {
		ssize_t n = recv(fd, w->buf, sizeof(w->buf), MSG_DONTWAIT);
		if (n < 0) {
			if (errno == ENOBUFS)
				log_warn("Address events were lost; the history may miss a change");
			else if (errno != EAGAIN && errno != EINTR)
				log_warn("Reading address events failed: %m");
			if (errno == ENOBUFS || errno == EINTR)
				continue;
			return 0;
		}
		mnl_cb_run(w->buf, (size_t)n, 0, 0, msg_cb, w);
	}
}

/* A synchronous dump (links, then addresses) at start: small and quick. */
static int dump(struct addrwatch *w, int type)
{
	char buf[MNL_SOCKET_BUFFER_SIZE] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct rtgenmsg *g;

	nlh->nlmsg_type = (uint16_t)type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = (uint32_t)time(NULL);
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->rtgen_family = AF_UNSPEC;
	return nl_request(NETLINK_ROUTE, nlh, msg_cb, w);
}

int addrwatch_new(sd_event *e, const char *state_file, const struct addrwatch_config *cfg,
		  struct addrwatch **ret)
{
	struct addrwatch *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return -ENOMEM;
	w->cfg = *cfg;
	w->held = g_array_new(FALSE, TRUE, sizeof(struct held));
	w->links = g_array_new(FALSE, TRUE, sizeof(struct link));
	w->state_file = state_file ? strdup(state_file) : NULL;
	load(w);   /* the history from before a restart: not current until seen */

	/* Subscribe first, then dump: no change falls between the two. */
	w->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!w->nl || mnl_socket_bind(w->nl, RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR,
				      MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		goto fail;
	}
	w->starting = true;
	if ((r = dump(w, RTM_GETLINK)) < 0 || (r = dump(w, RTM_GETADDR)) < 0)
		goto fail;
	w->starting = false;
	(void)prune(w);
	save(w);
	if ((r = sd_event_add_defer(e, &w->save_later, save_cb, w)) < 0 ||
	    (r = sd_event_source_set_enabled(w->save_later, SD_EVENT_OFF)) < 0 ||
	    (r = sd_event_add_io(e, &w->io, mnl_socket_get_fd(w->nl), EPOLLIN, io_cb, w)) < 0)
		goto fail;
	*ret = w;
	return 0;
fail:
	addrwatch_free(w);
	return r;
}

void addrwatch_free(struct addrwatch *w)
{
	if (!w)
		return;
	/* A change not saved yet is saved now: the next instance reads it. */
	int pending = 0;
	if (w->save_later && sd_event_source_get_enabled(w->save_later, &pending) >= 0 && pending)
		save(w);
	sd_event_source_disable_unref(w->save_later);
	sd_event_source_disable_unref(w->io);
	if (w->nl)
		mnl_socket_close(w->nl);
	g_array_unref(w->held);
	g_array_unref(w->links);
	free(w->state_file);
	free(w);
}

static void append(GArray *out, const struct held *h)
{
	struct addr_prefix p = { .family = h->family, .len = h->family == AF_INET ? 32 : 128 };
	memcpy(p.addr, h->addr, 16);
	g_array_append_val(out, p);
}

/* Applies every address event the kernel has already sent: a caller who
 * just changed an address (a dispatcher script) must see the change, even
 * when its call and the event are handled in the same loop iteration. */
static void catch_up(struct addrwatch *w)
{
	io_cb(w->io, mnl_socket_get_fd(w->nl), EPOLLIN, w);
	if (prune(w) && sd_event_source_set_enabled(w->save_later, SD_EVENT_ONESHOT) < 0)
		save(w);
}

/* Whether an interface other than ifname holds the address now. */
static bool held_elsewhere(struct addrwatch *w, const struct held *h, const char *ifname)
{
	for (guint j = 0; j < w->held->len; j++) {
		struct held *o = &g_array_index(w->held, struct held, j);
		if (o->current && o->family == h->family && memcmp(o->addr, h->addr, 16) == 0 &&
		    strcmp(o->ifname, ifname) != 0)
			return true;
	}
	return false;
}

int addrwatch_interface(void *userdata, const char *ifname, GArray *out)
{
	struct addrwatch *w = userdata;
	bool known = false;

	catch_up(w);
	for (guint i = 0; i < w->links->len; i++)
		if (strcmp(g_array_index(w->links, struct link, i).name, ifname) == 0)
			known = true;
	for (guint i = 0; i < w->held->len; i++) {
		struct held *h = &g_array_index(w->held, struct held, i);
		if (strcmp(h->ifname, ifname) != 0)
			continue;
		known = true;
		/* A lost address another interface holds now is that one's. */
		if (h->current || !held_elsewhere(w, h, ifname))
			append(out, h);
	}
	return known ? 0 : -ENOENT;
}

int addrwatch_stale(void *userdata, GArray *out)
{
	struct addrwatch *w = userdata;

	catch_up(w);
	for (guint i = 0; i < w->held->len; i++) {
		struct held *h = &g_array_index(w->held, struct held, i);
		/* An address that moved to another interface is not stale. */
		if (!h->current && !held_elsewhere(w, h, h->ifname))
			append(out, h);
	}
	return 0;
}

static void append_owner(GArray *out, const struct held *h)
{
	struct addr_owner o = { .family = h->family };
	memcpy(o.addr, h->addr, 16);
	g_strlcpy(o.ifname, h->ifname, sizeof(o.ifname));
	g_array_append_val(out, o);
}

static gint lost_later_first(gconstpointer a, gconstpointer b)
{
	const struct held *x = *(struct held *const *)a, *y = *(struct held *const *)b;
	return x->lost_at > y->lost_at ? -1 : x->lost_at < y->lost_at;
}

int addrwatch_owners(void *userdata, GArray *out)
{
	struct addrwatch *w = userdata;
	g_autoptr(GPtrArray) lost = g_ptr_array_new();

	catch_up(w);
	for (guint i = 0; i < w->held->len; i++) {
		struct held *h = &g_array_index(w->held, struct held, i);
		if (h->current)
			append_owner(out, h);
		else
			g_ptr_array_add(lost, h);
	}
	/* An address lost by several interfaces belongs to the one that held it last. */
	g_ptr_array_sort(lost, lost_later_first);
	for (guint i = 0; i < lost->len; i++)
		append_owner(out, lost->pdata[i]);
	return 0;
}
