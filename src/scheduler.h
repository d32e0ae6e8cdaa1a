/* The work of calls (kernel walks: dumps, deletes, exports, summaries),
 * handed out in one place, root's first.
 *
 * Two lanes:
 *   - root's (uid 0 and the service's own uid: the failover cleanup of a
 *     dispatcher script, an admin's shell): up to SCHED_ROOT_SLOTS jobs run
 *     at once, the others wait in order of arrival. Never refused.
 *   - users': up to SCHED_USER_SLOTS jobs run at once for all users, at most
 *     SCHED_USER_RUNNING of one user; the others wait, and a freed slot goes
 *     to the waiting users in turn (round-robin by uid). How many calls a
 *     user may have running or waiting is reslimits.h's to say: past it, a
 *     call is refused before it gets here.
 * While any of root's jobs runs, users' work pauses: the scheduler says so
 * through its busy callback, and the daemon pauses users' dumps (the kernel
 * walks a dump only as fast as it is read).
 *
 * Jobs start from the event loop, never from inside submit() or done(), so
 * a job that ends at once does not recurse into the next. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#define SCHED_ROOT_SLOTS   8
#define SCHED_USER_SLOTS   8
#define SCHED_USER_RUNNING 4

struct scheduler;

struct sched_job {
	void (*start)(struct sched_job *j);   /* the job has its slot */
	uid_t uid;
	bool root;                            /* in root's lane */
	bool running;
	struct sched_job *next;               /* in its queue while waiting */
};

/* root_busy(true, userdata) when root's lane starts running a job while it
 * ran none, root_busy(false, userdata) when its last one ends. */
int scheduler_new(sd_event *e, uid_t self, void (*root_busy)(bool busy, void *userdata), void *userdata,
		  struct scheduler **ret);
void scheduler_free(struct scheduler *s);

/* Whether uid works in root's lane. */
bool scheduler_is_root(const struct scheduler *s, uid_t uid);
/* Queues j (uid and start set by the caller); start(j) runs from the loop
 * once a slot of its lane is free. */
void scheduler_submit(struct scheduler *s, struct sched_job *j);
/* Ends j, running or still waiting, and frees its slot. */
void scheduler_done(struct scheduler *s, struct sched_job *j);

/* Jobs running and waiting in root's lane and in users' (for the log). */
void scheduler_counts(const struct scheduler *s, unsigned *root_running, unsigned *root_waiting,
		      unsigned *user_running, unsigned *user_waiting);
