#include "ctl-agent.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PKTTYAGENT
#define PKTTYAGENT "/usr/bin/pkttyagent"
#endif

static pid_t agent_pid;

void ctl_agent_open(void)
{
	char fd_arg[16];
	int pipe_fd[2];
	struct pollfd p;

	if (agent_pid > 0 || geteuid() == 0 || !isatty(STDIN_FILENO) || access(PKTTYAGENT, X_OK) < 0)
		return;
	if (pipe(pipe_fd) < 0)
		return;
	snprintf(fd_arg, sizeof(fd_arg), "%d", pipe_fd[1]);
	agent_pid = fork();
	if (agent_pid < 0) {
		agent_pid = 0;
		close(pipe_fd[0]);
		close(pipe_fd[1]);
		return;
	}
	if (agent_pid == 0) {
		close(pipe_fd[0]);
		/* Without --process it registers for its parent: us. */
		execl(PKTTYAGENT, PKTTYAGENT, "--notify-fd", fd_arg, "--fallback", (char *)NULL);
		_exit(EXIT_FAILURE);
	}
	close(pipe_fd[1]);
	/* The agent closes its end once it has registered (or exits on failure). */
	p = (struct pollfd){ .fd = pipe_fd[0], .events = POLLIN };
	while (poll(&p, 1, 10000) < 0 && errno == EINTR)
		;
	close(pipe_fd[0]);
}

void ctl_agent_close(void)
{
	if (agent_pid <= 0)
		return;
	kill(agent_pid, SIGTERM);
	while (waitpid(agent_pid, NULL, 0) < 0 && errno == EINTR)
		;
	agent_pid = 0;
}
