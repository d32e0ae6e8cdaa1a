#include "audit.h"

#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <systemd/sd-journal.h>
#include <unistd.h>


/* Lets `journalctl MESSAGE_ID=...` find every audit record. */
#define AUDIT_MESSAGE_ID "MESSAGE_ID=7d1f6ad2c4b84f5e9a0e3c5d2b7f1e40"

/* Appends the current variant's value as text. */
static int format_value(sd_bus_message *m, const char *contents, GString *out)
{
	union { uint8_t y; int16_t n; uint16_t q; int32_t i; uint32_t u; int64_t x; uint64_t t;
		int b; const char *s; } v;
	int r;

	if (strcmp(contents, "as") == 0) {
		if ((r = sd_bus_message_enter_container(m, 'a', "s")) < 0)
			return r;
		for (int first = 1; (r = sd_bus_message_read_basic(m, 's', &v.s)) > 0; first = 0)
			g_string_append_printf(out, "%s%s", first ? "" : ",", v.s);
		if (r < 0)
			return r;
		return sd_bus_message_exit_container(m);
	}
	if (strlen(contents) != 1 || !strchr("ynqiuxtbs", contents[0]))
		return sd_bus_message_skip(m, contents);
	if ((r = sd_bus_message_read_basic(m, contents[0], &v)) < 0)
		return r;
	switch (contents[0]) {
	case 'y': g_string_append_printf(out, "%u", v.y); break;
	case 'n': g_string_append_printf(out, "%d", v.n); break;
	case 'q': g_string_append_printf(out, "%u", v.q); break;
	case 'i': g_string_append_printf(out, "%d", v.i); break;
	case 'u': g_string_append_printf(out, "%u", v.u); break;
	case 'x': g_string_append_printf(out, "%lld", (long long)v.x); break;
	case 't': g_string_append_printf(out, "%llu", (unsigned long long)v.t); break;
	case 'b': g_string_append(out, v.b ? "true" : "false"); break;
	case 's': g_string_append(out, v.s); break;
	}
	return 0;
}

/* The call's a{sv} as "key=value key=value" (already validated). */
static char *format_args(sd_bus_message *m)
{
	GString *out = g_string_new(NULL);
	const char *key, *contents;
	char type;
	int r;

	if (sd_bus_message_rewind(m, 1) < 0 || sd_bus_message_enter_container(m, 'a', "{sv}") <= 0)
		return g_string_free(out, FALSE);
	while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		if (sd_bus_message_read_basic(m, 's', &key) < 0 ||
		    sd_bus_message_peek_type(m, &type, &contents) < 0 ||
		    sd_bus_message_enter_container(m, 'v', contents) < 0)
			break;
		g_string_append_printf(out, "%s%s=", out->len ? " " : "", key);
		if (format_value(m, contents, out) < 0 ||
		    sd_bus_message_exit_container(m) < 0 || sd_bus_message_exit_container(m) < 0)
			break;
	}
	return g_string_free(out, FALSE);
}

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
	g_autofree char *args = strcmp(method, "Flush") == 0 ? g_strdup("") : format_args(m);
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
