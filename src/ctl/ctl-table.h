/* Aligned text tables, as systemd's *ctl tools print them: a header line,
 * columns as wide as their widest cell, fitted to the terminal by leaving
 * out the least important columns and then shortening the widest. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CTL_TABLE_COLUMNS 16

struct ctl_table;

/* names: column headers; priority: per column, which go first when the
 * table is too wide (0 never, higher first); right: right-aligned columns. */
struct ctl_table *ctl_table_new(unsigned ncols, const char *const *names, const unsigned *priority,
				const bool *right);
void ctl_table_free(struct ctl_table *t);
/* Adds a row of ncols cells (copied). -ENOMEM on failure. */
int ctl_table_add(struct ctl_table *t, const char *const *cells);
size_t ctl_table_rows(const struct ctl_table *t);
/* Hides a column whose cells all turn out empty or equal to value (e.g. a
 * mark column where every mark is 0); call before adding rows. */
void ctl_table_hide_if_all(struct ctl_table *t, unsigned col, const char *value);
/* Prints the table fitted to width (0: unlimited), with the header unless legend is false. */
void ctl_table_print(struct ctl_table *t, FILE *f, size_t width, bool legend);

/* $COLUMNS if set, else the terminal's width when f is one, else 0 (unlimited). */
size_t ctl_terminal_width(FILE *f);
