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

void log_msg(int level, const char *fmt, ...)
{
	if (level > max_level)
		return;
	static int journal = -1;
	va_list ap;
	if (journal < 0)
		journal = getenv("JOURNAL_STREAM") != NULL;
	/* "<N>" prefixes let journald assign the priority to each stderr line. */
	if (journal)
		fprintf(stderr, "<%d>", level);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
