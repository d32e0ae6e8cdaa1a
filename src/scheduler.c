#include "scheduler.h"

#include <assert.h>
#include <errno.h>
#include <glib.h>
#include <stdlib.h>

#include "log.h"

struct queue {
	struct sched_job *head, *tail;
};

/* A user with jobs running or waiting; gone when it has neither. */
struct user {
	uid_t uid;
	unsigned running;
	struct queue waiting;
	bool in_turn;          /* in s->turns */
};

struct scheduler {
	uid_t self;
	void (*root_busy)(bool busy, void *userdata);
	void *userdata;
	sd_event_source *kick;
	unsigned root_running, root_waiting, user_running, user_waiting;
	struct queue root;
	GHashTable *users;     /* uid -> struct user */
	GQueue turns;          /* users with waiting jobs, in the order they get slots */
};

static void queue_push(struct queue *q, struct sched_job *j)
{
	j->next = NULL;
	if (q->tail)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
}

static struct sched_job *queue_pop(struct queue *q)
{
	struct sched_job *j = q->head;

	if (j) {
		q->head = j->next;
		if (!q->head)
			q->tail = NULL;
		j->next = NULL;
	}
	return j;
}

/* Removes j from q: true if it was there. */
static bool queue_remove(struct queue *q, struct sched_job *j)
{
	struct sched_job *prev = NULL;

	for (struct sched_job *i = q->head; i; prev = i, i = i->next) {
		if (i != j)
			continue;
		if (prev)
			prev->next = j->next;
		else
			q->head = j->next;
		if (q->tail == j)
			q->tail = prev;
		j->next = NULL;
		return true;
	}
	return false;
}

static void run_job(struct sched_job *j)
{
	j->running = true;
	j->start(j);   /* may end j, and with it call scheduler_done() */
}

/* Hands out free slots: root's lane first, then users in turn. */
static int dispatch(sd_event_source *source, void *userdata)
{
	struct scheduler *s = userdata;
	struct sched_job *j;

	while (s->root_running < SCHED_ROOT_SLOTS && (j = queue_pop(&s->root))) {
		s->root_waiting--;
		if (s->root_running++ == 0 && s->root_busy)
			s->root_busy(true, s->userdata);
		run_job(j);
	}
	/* Passes over the users waiting, one slot each per pass, while slots
	 * are free: a user's burst does not take every slot just freed while
	 * another waits. A user at its own cap keeps its place. */
	for (bool started = true; started && s->user_running < SCHED_USER_SLOTS;) {
		started = false;
		for (unsigned n = g_queue_get_length(&s->turns); n > 0 && s->user_running < SCHED_USER_SLOTS; n--) {
			struct user *u = g_queue_pop_head(&s->turns);

			if (u->running >= SCHED_USER_RUNNING) {
				g_queue_push_tail(&s->turns, u);
				continue;
			}
			j = queue_pop(&u->waiting);
			assert(j);
			s->user_waiting--;
			s->user_running++;
			u->running++;
			/* Placed before the job starts: a job that ends at once frees
			 * only a user with nothing waiting, which is never in turns. */
			if (u->waiting.head)
				g_queue_push_tail(&s->turns, u);
			else
				u->in_turn = false;
			started = true;
			run_job(j);
		}
	}
	return 0;
}

static void kick(struct scheduler *s)
{
	int r = sd_event_source_set_enabled(s->kick, SD_EVENT_ONESHOT);
	if (r < 0)
		log_warn_errno(r, "Cannot schedule queued work");
}

int scheduler_new(sd_event *e, uid_t self, void (*root_busy)(bool busy, void *userdata), void *userdata,
		  struct scheduler **ret)
{
	struct scheduler *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	s->self = self;
	s->root_busy = root_busy;
	s->userdata = userdata;
	s->users = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
	g_queue_init(&s->turns);
	if ((r = sd_event_add_defer(e, &s->kick, dispatch, s)) < 0 ||
	    (r = sd_event_source_set_enabled(s->kick, SD_EVENT_OFF)) < 0) {
		scheduler_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

void scheduler_free(struct scheduler *s)
{
	if (!s)
		return;
	sd_event_source_disable_unref(s->kick);
	g_queue_clear(&s->turns);
	g_hash_table_unref(s->users);
	free(s);
}

bool scheduler_is_root(const struct scheduler *s, uid_t uid)
{
	return uid == 0 || uid == s->self;
}

void scheduler_submit(struct scheduler *s, struct sched_job *j)
{
	struct user *u;

	assert(s && j && j->start);
	j->running = false;
	j->root = scheduler_is_root(s, j->uid);
	if (j->root) {
		queue_push(&s->root, j);
		s->root_waiting++;
		kick(s);
		return;
	}
	u = g_hash_table_lookup(s->users, GUINT_TO_POINTER(j->uid));
	if (!u) {
		u = g_new0(struct user, 1);
		u->uid = j->uid;
		g_hash_table_insert(s->users, GUINT_TO_POINTER(j->uid), u);
	}
	queue_push(&u->waiting, j);
	s->user_waiting++;
	if (!u->in_turn) {
		g_queue_push_tail(&s->turns, u);
		u->in_turn = true;
	}
	kick(s);
}

void scheduler_done(struct scheduler *s, struct sched_job *j)
{
	struct user *u;

	assert(s && j);
	if (j->root) {
		if (j->running) {
			j->running = false;
			if (--s->root_running == 0 && s->root_busy)
				s->root_busy(false, s->userdata);
		} else if (queue_remove(&s->root, j))
			s->root_waiting--;
		kick(s);
		return;
	}
	u = g_hash_table_lookup(s->users, GUINT_TO_POINTER(j->uid));
	if (!u)
		return;
	if (j->running) {
		u->running--;
		s->user_running--;
	} else if (queue_remove(&u->waiting, j)) {
		s->user_waiting--;
		if (!u->waiting.head && u->in_turn) {
			g_queue_remove(&s->turns, u);
			u->in_turn = false;
		}
	}
	j->running = false;
	if (u->running == 0 && !u->waiting.head)
		g_hash_table_remove(s->users, GUINT_TO_POINTER(j->uid));
	kick(s);
}

void scheduler_counts(const struct scheduler *s, unsigned *root_running, unsigned *root_waiting,
		      unsigned *user_running, unsigned *user_waiting)
{
	*root_running = s->root_running;
	*root_waiting = s->root_waiting;
	*user_running = s->user_running;
	*user_waiting = s->user_waiting;
}
