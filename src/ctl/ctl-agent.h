/* A polkit text agent for the length of one command, as systemctl runs one:
 * pkttyagent on the controlling terminal, started before the first call
 * that may need authorization and stopped at exit. */
#pragma once

/* Starts pkttyagent when stdin is a terminal and we are not root (root is
 * never asked); waits until it has registered. Failures only mean no prompt. */
void ctl_agent_open(void);
void ctl_agent_close(void);
