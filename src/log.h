/* Leveled logging to stderr (the journal captures it under systemd). */
#pragma once
#include <stdarg.h>

enum log_level { LOG_LVL_ERR = 3, LOG_LVL_WARN = 4, LOG_LVL_INFO = 6, LOG_LVL_DEBUG = 7 };

void log_set_level(int level);
/* Parses "err", "warning", "info", "debug" or a syslog number; returns -1 if unknown. */
int log_level_from_string(const char *s);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* As systemd's log_*_errno: logs fmt followed by ": " and the text of
 * error (a negative errno), and returns error, so that a failure is logged
 * and passed on in one statement. */
int log_msg_errno(int level, int error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_err_errno(error, ...)  log_msg_errno(LOG_LVL_ERR, error, __VA_ARGS__)
#define log_warn_errno(error, ...) log_msg_errno(LOG_LVL_WARN, error, __VA_ARGS__)

#define log_err(...)   log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
