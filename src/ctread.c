#include "ctread.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctparse.h"
#include "log.h"
#include "nlrequest.h"

/* Kernel buffers read per wakeup: ~32 KiB (~150 entries) each. */
#define BUFFERS_PER_WAKEUP 32
#define RECV_SIZE 32768

struct ct_dump_group {
	int64_t priority;
	bool paused;
	struct ct_dump *dumps;  /* running, linked by next/prev */
	uint64_t guard_usec;
	sd_event_source *guard; /* with guard_usec: armed while dumps run */
};

struct ct_dump {
	struct ct_dump_group *group;
	struct ct_dump *next, *prev;
	struct ct_kfilter kf;   /* what is asked for now */
	bool then_ipv6;         /* a tuple filter without a family: IPv6 after IPv4 */
	struct mnl_socket *nl;
	sd_event_source *io;
	uint32_t seq, portid;
	ct_dump_record_fn on_record;
	ct_dump_done_fn on_done;
	void *userdata;
	int abort_error;
	bool stopped;           /* on_record had enough */
	bool warming;           /* not read yet: at idle priority */
	char buf[RECV_SIZE] __attribute__((aligned(NLMSG_ALIGNTO)));
};

static void put_tuple(struct nlmsghdr *nlh, int type, uint8_t family, uint32_t flags,
		      uint8_t proto, const struct ct_tuple *t)
{
	struct nlattr *tuple = mnl_attr_nest_start(nlh, type);

	if (flags & (CTA_FILTER_F_IP_SRC | CTA_FILTER_F_IP_DST)) {
		struct nlattr *ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
		if (family == AF_INET) {
			if (flags & CTA_FILTER_F_IP_SRC)
				mnl_attr_put(nlh, CTA_IP_V4_SRC, 4, t->src);
			if (flags & CTA_FILTER_F_IP_DST)
				mnl_attr_put(nlh, CTA_IP_V4_DST, 4, t->dst);
		} else {
			if (flags & CTA_FILTER_F_IP_SRC)
				mnl_attr_put(nlh, CTA_IP_V6_SRC, 16, t->src);
			if (flags & CTA_FILTER_F_IP_DST)
				mnl_attr_put(nlh, CTA_IP_V6_DST, 16, t->dst);
		}
		mnl_attr_nest_end(nlh, ip);
	}
	if (flags & CTA_FILTER_F_PROTO_NUM) {
		struct nlattr *pr = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
		mnl_attr_put_u8(nlh, CTA_PROTO_NUM, proto);
		if (flags & CTA_FILTER_F_SRC_PORT)
			mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(t->sport));
		if (flags & CTA_FILTER_F_DST_PORT)
			mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(t->dport));
		mnl_attr_nest_end(nlh, pr);
	}
	mnl_attr_nest_end(nlh, tuple);
}

/* The family, mark and status part of a dump filter, as libnetfilter_conntrack builds it. */
static int put_filter_dump(struct nlmsghdr *nlh, const struct ct_kfilter *kf)
{
	struct nfct_filter_dump *fd = nfct_filter_dump_create();
	int r = 0;

	if (!fd)
		return -ENOMEM;
	if (kf->family)
		nfct_filter_dump_set_attr_u8(fd, NFCT_FILTER_DUMP_L3NUM, kf->family);
	if (kf->mark)
		nfct_filter_dump_set_attr(fd, NFCT_FILTER_DUMP_MARK,
					  &(struct nfct_filter_dump_mark){ .val = kf->mark_val, .mask = kf->mark_mask });
	if (kf->status)
		nfct_filter_dump_set_attr(fd, NFCT_FILTER_DUMP_STATUS,
					  &(struct nfct_filter_dump_mark){ .val = kf->status_val, .mask = kf->status_mask });
	if (nfct_nlmsg_build_filter(nlh, fd) < 0)
		r = -errno;
	nfct_filter_dump_destroy(fd);
	return r;
}

struct nlmsghdr *ct_dump_request(char *buf, const struct ct_kfilter *kf, uint32_t seq)
{
	struct nlmsghdr *nlh = ct_msg_header(buf, IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP, kf->family, seq);

	if (put_filter_dump(nlh, kf) < 0)
		return NULL;
	/* libnetfilter_conntrack 1.0.9 has no CTA_FILTER (the kernel's tuple
	 * filter, Linux 5.8): that part is put_tuple()'s. */
	if (kf->orig_flags || kf->reply_flags) {
		struct nlattr *f = mnl_attr_nest_start(nlh, CTA_FILTER);
		/* The kernel reads these two in host byte order. */
		mnl_attr_put_u32(nlh, CTA_FILTER_ORIG_FLAGS, kf->orig_flags);
		mnl_attr_put_u32(nlh, CTA_FILTER_REPLY_FLAGS, kf->reply_flags);
		mnl_attr_nest_end(nlh, f);
		if (kf->orig_flags)
			put_tuple(nlh, CTA_TUPLE_ORIG, kf->family, kf->orig_flags, kf->proto, &kf->orig);
		if (kf->reply_flags)
			put_tuple(nlh, CTA_TUPLE_REPLY, kf->family, kf->reply_flags, kf->proto, &kf->reply);
	}
	return nlh;
}

static int data_cb(const struct nlmsghdr *nlh, void *data)
{
	struct ct_dump *d = data;
	struct ct_record r;

	if (ct_parse_nlmsg(nlh, &r) < 0) {
		log_debug("skipping a malformed conntrack message");
		return MNL_CB_OK;
	}
	int k = d->on_record(&r, d->userdata);
	if (k < 0) {
		d->abort_error = k;
		return MNL_CB_ERROR;
	}
	if (k > 0) {
		d->stopped = true;
		return MNL_CB_STOP;
	}
	return MNL_CB_OK;
}

static int send_request(struct ct_dump *d)
{
	struct nlmsghdr *nlh = ct_dump_request(d->buf, &d->kf, ++d->seq);

	if (!nlh)
		return -ENOMEM;
	return mnl_socket_sendto(d->nl, nlh, nlh->nlmsg_len) < 0 ? -errno : 0;
}

static void group_leave(struct ct_dump *d);

static void finish(struct ct_dump *d, int error)
{
	group_leave(d);
	d->io = sd_event_source_disable_unref(d->io);
	if (d->nl) {
		mnl_socket_close(d->nl);
		d->nl = NULL;
	}
	d->on_done(d, error, d->userdata);   /* may free d */
}

/* Reads up to n kernel buffers of d (fewer when none is ready); d may be
 * finished, and freed by its done callback, on return. */
static void read_buffers(struct ct_dump *d, int n_buffers)
{
	if (d->warming && d->group) {
		int r = sd_event_source_set_priority(d->io, d->group->priority);
		if (r < 0)
			log_warn_errno(r, "Cannot set a dump's priority");
		d->warming = false;
	}
	for (int i = 0; i < n_buffers; i++) {
		ssize_t n = mnl_socket_recvfrom(d->nl, d->buf, sizeof(d->buf));
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			finish(d, -errno);
			return;
		}
		int k = mnl_cb_run(d->buf, (size_t)n, d->seq, d->portid, data_cb, d);
		if (k == MNL_CB_STOP && d->then_ipv6 && !d->stopped) {
			int r;
			d->then_ipv6 = false;
			d->kf.family = AF_INET6;
			if ((r = send_request(d)) < 0) {
				finish(d, r);
				return;
			}
			continue;
		}
		if (k == MNL_CB_STOP) {
			finish(d, 0);
			return;
		}
		if (k < 0) {
			finish(d, d->abort_error ? d->abort_error : -errno);
			return;
		}
	}
}

static int io_cb(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	read_buffers(userdata, BUFFERS_PER_WAKEUP);
	return 0;
}

/* Arms the guard for the next slice, while the group has dumps to read. */
static void guard_arm(struct ct_dump_group *g)
{
	uint64_t now;
	int r;

	if (!g->guard || !g->dumps || g->paused)
		return;
	if ((r = sd_event_now(sd_event_source_get_event(g->guard), CLOCK_MONOTONIC, &now)) < 0 ||
	    (r = sd_event_source_set_time(g->guard, now + g->guard_usec)) < 0 ||
	    (r = sd_event_source_set_enabled(g->guard, SD_EVENT_ONESHOT)) < 0)
		log_warn_errno(r, "Cannot arm the dumps' guard");
}

static int guard_cb(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct ct_dump_group *g = userdata;

	/* One buffer of each: a small share, but a share. One that ends leaves
	 * the list (a dump started meanwhile goes to its head, read from the
	 * next round on). */
	for (struct ct_dump *d = g->dumps, *next; d; d = next) {
		next = d->next;
		read_buffers(d, 1);
	}
	guard_arm(g);
	return 0;
}

int ct_dump_group_new(sd_event *e, int64_t priority, uint64_t guard_usec, struct ct_dump_group **ret)
{
	struct ct_dump_group *g = calloc(1, sizeof(*g));
	int r;

	if (!g)
		return -ENOMEM;
	g->priority = priority;
	g->guard_usec = guard_usec;
	if (guard_usec &&
	    ((r = sd_event_add_time(e, &g->guard, CLOCK_MONOTONIC, 0, guard_usec / 4, guard_cb, g)) < 0 ||
	     (r = sd_event_source_set_enabled(g->guard, SD_EVENT_OFF)) < 0)) {
		ct_dump_group_free(g);
		return r;
	}
	*ret = g;
	return 0;
}

void ct_dump_group_free(struct ct_dump_group *g)
{
	if (!g)
		return;
	for (struct ct_dump *d = g->dumps; d; d = d->next)
		d->group = NULL;
	sd_event_source_disable_unref(g->guard);
	free(g);
}

void ct_dump_group_pause(struct ct_dump_group *g, bool paused)
{
	g->paused = paused;
	for (struct ct_dump *d = g->dumps; d; d = d->next) {
		int r = sd_event_source_set_enabled(d->io, paused ? SD_EVENT_OFF : SD_EVENT_ON);
		if (r < 0)
			log_warn_errno(r, "Cannot %s a dump", paused ? "pause" : "resume");
	}
	if (paused && g->guard)
		(void)sd_event_source_set_enabled(g->guard, SD_EVENT_OFF);
	else
		guard_arm(g);
}

static void group_leave(struct ct_dump *d)
{
	if (!d->group)
		return;
	if (d->prev)
		d->prev->next = d->next;
	else
		d->group->dumps = d->next;
	if (d->next)
		d->next->prev = d->prev;
	d->next = d->prev = NULL;
	d->group = NULL;
}

int ct_dump_start(sd_event *e, struct ct_dump_group *g, const struct ct_kfilter *kf, ct_dump_record_fn on_record,
		  ct_dump_done_fn on_done, void *userdata, struct ct_dump **ret)
{
	struct ct_dump *d = calloc(1, sizeof(*d));
	int r;

	if (!d)
		return -ENOMEM;
	d->on_record = on_record;
	d->on_done = on_done;
	d->userdata = userdata;
	d->seq = (uint32_t)time(NULL);

	d->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!d->nl || mnl_socket_bind(d->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		goto fail;
	}
	d->portid = mnl_socket_get_portid(d->nl);
	/* The kernel's tuple filter holds for one family: ask for each in turn
	 * rather than for the whole table unfiltered. */
	d->kf = *kf;
	if (!kf->family && (kf->orig_flags || kf->reply_flags)) {
		d->kf.family = AF_INET;
		d->then_ipv6 = true;
	}
	if ((r = send_request(d)) < 0)
		goto fail;
	r = sd_event_add_io(e, &d->io, mnl_socket_get_fd(d->nl), EPOLLIN, io_cb, d);
	if (r < 0)
		goto fail;
	d->warming = true;
	r = sd_event_source_set_priority(d->io, SD_EVENT_PRIORITY_IDLE);
	if (r >= 0 && g->paused)
		r = sd_event_source_set_enabled(d->io, SD_EVENT_OFF);
	if (r < 0)
		goto fail;
	d->group = g;
	d->next = g->dumps;
	if (g->dumps)
		g->dumps->prev = d;
	g->dumps = d;
	if (!d->next)
		guard_arm(g);   /* the group's first running dump */
	*ret = d;
	return 0;
fail:
	ct_dump_free(d);
	return r;
}

void ct_dump_free(struct ct_dump *d)
{
	if (!d)
		return;
	group_leave(d);
	sd_event_source_disable_unref(d->io);
	if (d->nl)
		mnl_socket_close(d->nl);
	free(d);
}

enum probe { PROBE_PLAIN, PROBE_FILTER_FLAGS, PROBE_STATUS_MASK };

/* Sends one dump request and returns the kernel's verdict: 0 when it dumped
 * (however filtered), else the negative errno it answered with.
 * PROBE_FILTER_FLAGS adds CTA_FILTER flags without the tuple they refer to:
 * a kernel that knows the flags says EINVAL, one that does not know them
 * EOPNOTSUPP, one without CTA_FILTER ignores it and dumps.
 * PROBE_STATUS_MASK adds CTA_STATUS_MASK without CTA_STATUS: EINVAL where
 * status filters exist, ignored elsewhere. */
static int probe_one(enum probe what)
{
	/* A mark filter nothing passes ((mark & 0) != 1) keeps the dumps empty. */
	const struct ct_kfilter kf = { .family = AF_INET, .mark = true, .mark_val = 1, .mark_mask = 0 };
	char buf[MNL_SOCKET_BUFFER_SIZE] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct nlmsghdr *nlh = ct_dump_request(buf, &kf, 1);

	if (!nlh)
		return -ENOMEM;
	if (what == PROBE_FILTER_FLAGS) {
		struct nlattr *f = mnl_attr_nest_start(nlh, CTA_FILTER);
		mnl_attr_put_u32(nlh, CTA_FILTER_ORIG_FLAGS, CTA_FILTER_F_USED);
		mnl_attr_nest_end(nlh, f);
	} else if (what == PROBE_STATUS_MASK)
		mnl_attr_put_u32(nlh, CTA_STATUS_MASK, htonl(1));
	return nl_request(NETLINK_NETFILTER, nlh, NULL, NULL);
}

int ct_probe(struct ct_kcaps *caps)
{
	int r;

	memset(caps, 0, sizeof(*caps));
	r = probe_one(PROBE_PLAIN);
	if (r < 0)
		return r;   /* no conntrack access at all (EPERM without CAP_NET_ADMIN...) */
	caps->tuple_filter = probe_one(PROBE_FILTER_FLAGS) == -EINVAL;
	caps->status_filter = probe_one(PROBE_STATUS_MASK) == -EINVAL;
	log_info("kernel dump filters: tuple %s, status %s",
		 caps->tuple_filter ? "yes" : "no", caps->status_filter ? "yes" : "no");
	return 0;
}
