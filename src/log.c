#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int max_level = LOG_LVL_INFO;

void log_set_level(int level) { max_level = level; }

int log_level_from_string(const char *s)
{
	static const struct { const char *name; int level; } names[] = {
		{ "err", LOG_LVL_ERR }, { "error", LOG_LVL_ERR },
		{ "warning", LOG_LVL_WARN }, { "warn", LOG_LVL_WARN },
		{ "info", LOG_LVL_INFO }, { "debug", LOG_LVL_DEBUG },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(s, names[i].name) == 0)
			return names[i].level;
	if (s[0] >= '0' && s[0] <= '7' && s[1] == '\0')
		return s[0] - '0';
	return -1;
}

static void log_va(int level, int error, const char *fmt, va_list ap)
{
	static int journal = -1;

	if (journal < 0)
		journal = getenv("JOURNAL_STREAM") != NULL;
	/* "<N>" prefixes let journald assign the priority to each stderr line. */
	if (journal)
		fprintf(stderr, "<%d>", level);
	vfprintf(stderr, fmt, ap);
	if (error < 0)
		fprintf(stderr, ": %s", strerror(-error));
	fputc('\n', stderr);
}

void log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	if (level > max_level)
		return;
	va_start(ap, fmt);
	log_va(level, 0, fmt, ap);
	va_end(ap);
}

int log_msg_errno(int level, int error, const char *fmt, ...)
{
	va_list ap;

	if (level > max_level)
		return error;
	va_start(ap, fmt);
	log_va(level, error, fmt, ap);
	va_end(ap);
	return error;
}
