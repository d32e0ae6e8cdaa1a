#include "audit.h"

#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "argtext.h"


/* Lets `journalctl MESSAGE_ID=...` find every audit record. */
#define AUDIT_MESSAGE_ID "MESSAGE_ID=7d1f6ad2c4b84f5e9a0e3c5d2b7f1e40"

void audit_caller_get(sd_bus_message *m, struct audit_caller *who)
{
	sd_bus_creds *creds = NULL;

	who->uid = (uid_t)-1;
	who->pid = 0;
	who->login_uid = (uid_t)-1;
	who->session = (uint32_t)-1;
	/* dbus-daemon does not report the login uid and session: sd-bus reads
	 * them from the caller's /proc entry (AUGMENT), now, at arrival. */
	if (sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID | SD_BUS_CREDS_PID | SD_BUS_CREDS_AUDIT_LOGIN_UID |
					      SD_BUS_CREDS_AUDIT_SESSION_ID | SD_BUS_CREDS_AUGMENT, &creds) >= 0) {
		(void)sd_bus_creds_get_euid(creds, &who->uid);
		(void)sd_bus_creds_get_pid(creds, &who->pid);
		(void)sd_bus_creds_get_audit_login_uid(creds, &who->login_uid);
		(void)sd_bus_creds_get_audit_session_id(creds, &who->session);
		sd_bus_creds_unref(creds);
	}
}

void audit_record(sd_bus_message *m, const struct audit_caller *who, const char *method,
		  const char *error, unsigned count)
{
	int uid = (int)who->uid, pid = (int)who->pid, login_uid = (int)who->login_uid, session = (int)who->session;
	const char *sender = sd_bus_message_get_sender(m);
	const char *signature = sd_bus_message_get_signature(m, 1);
	/* The call's argument as text; none for a call without one (Flush). */
	g_autofree char *args = signature && *signature ? argtext_join(m) : g_strdup("");
	char result[128];

	snprintf(result, sizeof(result), "%s", error ? error : "ok");

	if (access("/run/systemd/journal/socket", F_OK) == 0) {
		int r = sd_journal_send("MESSAGE=%s by uid %d (login uid %d, session %d, pid %d, %s) [%s]: %s, %u deleted",
					method, uid, login_uid, session, pid, sender, args, result, count,
					AUDIT_MESSAGE_ID, "PRIORITY=%d", LOG_NOTICE,
					"CONNECTIONSD_METHOD=%s", method,
					"CONNECTIONSD_CALLER_UID=%d", uid,
					"CONNECTIONSD_CALLER_LOGIN_UID=%d", login_uid,
					"CONNECTIONSD_CALLER_SESSION=%d", session,
					"CONNECTIONSD_CALLER_PID=%d", pid,
					"CONNECTIONSD_CALLER_NAME=%s", sender,
					"CONNECTIONSD_FILTER=%s", args,
					"CONNECTIONSD_RESULT=%s", result,
					"CONNECTIONSD_COUNT=%u", count, NULL);
		if (r >= 0)
			return;
	}
	/* Whatever the log level: audit records are not debug output. */
	fprintf(stderr, "AUDIT method=%s uid=%d pid=%d name=%s loginuid=%d session=%d filter='%s' result=%s count=%u\n",
		method, uid, pid, sender, login_uid, session, args, result, count);
}
