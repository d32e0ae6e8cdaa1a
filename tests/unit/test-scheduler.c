/* The scheduler on a real sd-event loop: which jobs start when, in which
 * order; root's lane first and never refused, users in turn within their
 * caps. Jobs here end when the test says so, as calls end when their dumps
 * do. */
#include <glib.h>
#include <systemd/sd-event.h>

#include "scheduler.h"

#define SELF 0
#define MAX_JOBS 64

struct job {
	struct sched_job j;
	int id;
};

static struct job jobs[MAX_JOBS];
static int started[MAX_JOBS], nstarted;
static struct scheduler *sched;
static bool root_busy;
static int busy_calls;

static void on_root_busy(bool busy, void *userdata)
{
	root_busy = busy;
	busy_calls++;
}
static sd_event *loop;

static void on_start(struct sched_job *j)
{
	struct job *job = (struct job *)j;
	started[nstarted++] = job->id;
}

static void submit(int id, uid_t uid)
{
	jobs[id] = (struct job){ .j = { .start = on_start, .uid = uid }, .id = id };
	scheduler_submit(sched, &jobs[id].j);
}

/* Runs the loop until nothing is pending. */
static void settle(void)
{
	while (sd_event_run(loop, 0) > 0)
		;
}

static void setup(void)
{
	nstarted = busy_calls = 0;
	root_busy = false;
	g_assert_cmpint(sd_event_new(&loop), >=, 0);
	g_assert_cmpint(scheduler_new(loop, SELF, on_root_busy, NULL, &sched), >=, 0);
}

static void teardown(void)
{
	scheduler_free(sched);
	sd_event_unref(loop);
}

static void test_starts_from_the_loop(void)
{
	setup();
	submit(0, 1000);
	g_assert_cmpint(nstarted, ==, 0);   /* never inside submit() */
	settle();
	g_assert_cmpint(nstarted, ==, 1);
	scheduler_done(sched, &jobs[0].j);
	teardown();
}

static void test_root_lane_queues(void)
{
	unsigned rr, rw, ur, uw;

	setup();
	for (int i = 0; i < SCHED_ROOT_SLOTS + 5; i++)
		submit(i, 0);
	settle();
	g_assert_cmpint(nstarted, ==, SCHED_ROOT_SLOTS);
	scheduler_counts(sched, &rr, &rw, &ur, &uw);
	g_assert_cmpuint(rr, ==, SCHED_ROOT_SLOTS);
	g_assert_cmpuint(rw, ==, 5);
	/* Each end lets the next start, in order of arrival. */
	for (int i = 0; i < 5; i++) {
		scheduler_done(sched, &jobs[i].j);
		settle();
		g_assert_cmpint(nstarted, ==, SCHED_ROOT_SLOTS + i + 1);
		g_assert_cmpint(started[nstarted - 1], ==, SCHED_ROOT_SLOTS + i);
	}
	for (int i = 5; i < SCHED_ROOT_SLOTS + 5; i++)
		scheduler_done(sched, &jobs[i].j);
	scheduler_counts(sched, &rr, &rw, &ur, &uw);
	g_assert_cmpuint(rr + rw + ur + uw, ==, 0);
	teardown();
}

static void test_root_before_users(void)
{
	setup();
	/* Users fill their lane; root's jobs do not wait for it. */
	for (int i = 0; i < 8; i++)
		submit(i, 1000 + i);
	submit(8, 2000);   /* waits: the users' lane is full */
	submit(9, 0);
	settle();
	g_assert_cmpint(nstarted, ==, 9);
	g_assert_cmpint(started[0], ==, 9);   /* root's, though it came last */
	for (int i = 0; i < nstarted; i++)
		g_assert_cmpint(started[i], !=, 8);
	g_assert_true(jobs[9].j.root && !jobs[0].j.root);
	/* Root's lane says when it is busy: once, at its first job, and when
	 * its last ends. */
	g_assert_cmpint(busy_calls, ==, 1);
	g_assert_true(root_busy);
	for (int i = 0; i < 9; i++)
		scheduler_done(sched, &jobs[i].j);
	g_assert_true(root_busy);
	scheduler_done(sched, &jobs[9].j);
	g_assert_false(root_busy);
	g_assert_cmpint(busy_calls, ==, 2);
	teardown();
}

static void test_users_in_turn(void)
{
	setup();
	/* User A asks for 8 at once, then B for 2: A runs its cap, B both. */
	for (int i = 0; i < 8; i++)
		submit(i, 1001);
	submit(8, 1002);
	submit(9, 1002);
	settle();
	g_assert_cmpint(nstarted, ==, SCHED_USER_RUNNING + 2);
	int a = 0, b = 0;
	for (int i = 0; i < nstarted; i++)
		started[i] < 8 ? a++ : b++;
	g_assert_cmpint(a, ==, SCHED_USER_RUNNING);
	g_assert_cmpint(b, ==, 2);
	/* A's next job starts only when one of its own ends. */
	scheduler_done(sched, &jobs[8].j);
	settle();
	g_assert_cmpint(nstarted, ==, SCHED_USER_RUNNING + 2);
	scheduler_done(sched, &jobs[0].j);
	settle();
	g_assert_cmpint(nstarted, ==, SCHED_USER_RUNNING + 3);
	g_assert_cmpint(started[nstarted - 1], ==, SCHED_USER_RUNNING);
	/* A waiting job that is ended never starts. */
	scheduler_done(sched, &jobs[7].j);
	for (int i = 1; i <= SCHED_USER_RUNNING; i++)
		scheduler_done(sched, &jobs[i].j);
	settle();
	for (int i = 0; i < nstarted; i++)
		g_assert_cmpint(started[i], !=, 7);
	for (int i = 5; i < 7; i++)
		scheduler_done(sched, &jobs[i].j);
	scheduler_done(sched, &jobs[9].j);
	teardown();
}

static void test_round_robin(void)
{
	setup();
	/* Three users with 4 waiting each while the lane is full: freed slots
	 * go to them in turn, one each, not all to the first. */
	for (int i = 0; i < SCHED_USER_SLOTS; i++)
		submit(i, 500 + i % 2);
	for (int u = 0; u < 3; u++)
		for (int k = 0; k < 4; k++)
			submit(10 + u * 4 + k, 3000 + u);
	settle();
	g_assert_cmpint(nstarted, ==, SCHED_USER_SLOTS);
	for (int i = 0; i < 3; i++)
		scheduler_done(sched, &jobs[i].j);
	settle();
	g_assert_cmpint(nstarted, ==, SCHED_USER_SLOTS + 3);
	uid_t seen[3];
	for (int i = 0; i < 3; i++)
		seen[i] = jobs[started[SCHED_USER_SLOTS + i]].j.uid;
	g_assert_true(seen[0] != seen[1] && seen[1] != seen[2] && seen[0] != seen[2]);
	for (int i = 3; i < SCHED_USER_SLOTS; i++)
		scheduler_done(sched, &jobs[i].j);
	for (int i = 10; i < 22; i++)
		scheduler_done(sched, &jobs[i].j);
	teardown();
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/scheduler/starts-from-the-loop", test_starts_from_the_loop);
	g_test_add_func("/scheduler/root-lane-queues", test_root_lane_queues);
	g_test_add_func("/scheduler/root-before-users", test_root_before_users);
	g_test_add_func("/scheduler/users-in-turn", test_users_in_turn);
	g_test_add_func("/scheduler/round-robin", test_round_robin);
	return g_test_run();
}
