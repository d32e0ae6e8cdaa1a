#include "exportbudget.h"

#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "log.h"

struct held_export {
	uid_t uid;
	uint64_t bytes;
};

struct export_budget {
	uint64_t per_user;
	uid_t self;
	uint64_t others;        /* held by all users but self */
	int inotify;
	sd_event_source *io;
	GHashTable *by_watch;   /* inotify wd -> struct held_export */
	GHashTable *by_user;    /* uid -> uint64_t bytes held */
};

static uint64_t *user_bytes(struct export_budget *b, uid_t uid)
{
	uint64_t *v = g_hash_table_lookup(b->by_user, GUINT_TO_POINTER(uid));
	if (!v) {
		v = g_new0(uint64_t, 1);
		g_hash_table_insert(b->by_user, GUINT_TO_POINTER(uid), v);
	}
	return v;
}

static void release(struct export_budget *b, int wd)
{
	struct held_export *h = g_hash_table_lookup(b->by_watch, GINT_TO_POINTER(wd));
	if (!h)
		return;
	uint64_t *v = user_bytes(b, h->uid);
	*v -= h->bytes <= *v ? h->bytes : *v;
	if (h->uid != b->self)
		b->others -= h->bytes <= b->others ? h->bytes : b->others;
	log_debug("An export of uid %u (%llu bytes) was closed by its last holder", (unsigned)h->uid,
		  (unsigned long long)h->bytes);
	if (*v == 0)
		g_hash_table_remove(b->by_user, GUINT_TO_POINTER(h->uid));
	g_hash_table_remove(b->by_watch, GINT_TO_POINTER(wd));
}

static int on_inotify(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct export_budget *b = userdata;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			return 0;   /* EAGAIN: all read */
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *e = (const struct inotify_event *)p;
			if (e->mask & IN_IGNORED)   /* the memfd's inode is gone */
				release(b, e->wd);
			p += sizeof(*e) + e->len;
		}
	}
}

int export_budget_new(sd_event *e, uint64_t per_user, uid_t self, struct export_budget **ret)
{
	struct export_budget *b = calloc(1, sizeof(*b));
	int r;

	if (!b)
		return -ENOMEM;
	b->per_user = per_user;
	b->self = self;
	b->by_watch = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
	b->by_user = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
	b->inotify = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (b->inotify < 0) {
		r = -errno;
		goto fail;
	}
	if ((r = sd_event_add_io(e, &b->io, b->inotify, EPOLLIN, on_inotify, b)) < 0)
		goto fail;
	*ret = b;
	return 0;
fail:
	export_budget_free(b);
	return r;
}

void export_budget_free(struct export_budget *b)
{
	if (!b)
		return;
	sd_event_source_disable_unref(b->io);
	if (b->inotify >= 0)
		close(b->inotify);
	g_hash_table_unref(b->by_watch);
	g_hash_table_unref(b->by_user);
	free(b);
}

int export_budget_check(struct export_budget *b, uid_t uid, uint64_t more, sd_bus_error *error)
{
	uint64_t *v = g_hash_table_lookup(b->by_user, GUINT_TO_POINTER(uid));
	uint64_t held = v ? *v : 0;

	if (b->per_user && uid != b->self && b->others + more > 2 * b->per_user)
		return sd_bus_error_setf(error, SD_BUS_ERROR_LIMITS_EXCEEDED,
					 "Exports of all users would hold more than %llu MiB; try again later",
					 (unsigned long long)(2 * b->per_user >> 20));
	if (!b->per_user || held + more <= b->per_user)
		return 0;
	sd_bus_error_setf(error, SD_BUS_ERROR_LIMITS_EXCEEDED,
			  "Exports of uid %u would hold more than %llu MiB (%llu MiB held by descriptors still "
			  "open): close them, or narrow the filter", (unsigned)uid,
			  (unsigned long long)(b->per_user >> 20), (unsigned long long)(held >> 20));
	return -ENOBUFS;
}

int export_budget_hold(struct export_budget *b, uid_t uid, int fd, uint64_t bytes)
{
	char path[64];
	int wd;

	/* The watch is on the memfd's inode: IN_IGNORED comes when its last
	 * holder, whoever that is by then, has closed it. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	wd = inotify_add_watch(b->inotify, path, IN_CLOSE_WRITE | IN_CLOSE_NOWRITE);
	if (wd < 0)
		return -errno;
	struct held_export *h = g_new(struct held_export, 1);
	*h = (struct held_export){ uid, bytes };
	g_hash_table_replace(b->by_watch, GINT_TO_POINTER(wd), h);
	*user_bytes(b, uid) += bytes;
	if (uid != b->self)
		b->others += bytes;
	return 0;
}
