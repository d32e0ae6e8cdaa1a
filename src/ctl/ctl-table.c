#include "ctl-table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <glib.h>

struct ctl_table {
	unsigned ncols;
	const char *names[CTL_TABLE_COLUMNS];
	unsigned priority[CTL_TABLE_COLUMNS];
	bool right[CTL_TABLE_COLUMNS];
	bool hidden[CTL_TABLE_COLUMNS];
	const char *hide_value[CTL_TABLE_COLUMNS]; /* hide the column if every cell is this */
	bool other_value[CTL_TABLE_COLUMNS];       /* a cell that is not */
	GPtrArray *cells;   /* row-major, ncols per row, strings in text */
	GStringChunk *text; /* one arena: a 200,000-row table is 2.4 million cells */
};

struct ctl_table *ctl_table_new(unsigned ncols, const char *const *names, const unsigned *priority,
				const bool *right)
{
	struct ctl_table *t = g_new0(struct ctl_table, 1);

	t->ncols = ncols < CTL_TABLE_COLUMNS ? ncols : CTL_TABLE_COLUMNS;
	for (unsigned c = 0; c < t->ncols; c++) {
		t->names[c] = names[c];
		t->priority[c] = priority ? priority[c] : 0;
		t->right[c] = right ? right[c] : false;
	}
	t->cells = g_ptr_array_new();
	t->text = g_string_chunk_new(1 << 20);
	return t;
}

void ctl_table_free(struct ctl_table *t)
{
	if (!t)
		return;
	g_ptr_array_unref(t->cells);
	g_string_chunk_free(t->text);
	g_free(t);
}

int ctl_table_add(struct ctl_table *t, const char *const *cells)
{
	for (unsigned c = 0; c < t->ncols; c++) {
		const char *s = cells[c] ? cells[c] : "";
		if (t->hide_value[c] && *s && strcmp(s, t->hide_value[c]) != 0)
			t->other_value[c] = true;
		g_ptr_array_add(t->cells, g_string_chunk_insert(t->text, s));
	}
	return 0;
}

size_t ctl_table_rows(const struct ctl_table *t)
{
	return t->cells->len / t->ncols;
}

static const char *cell(const struct ctl_table *t, size_t row, unsigned col)
{
	return t->cells->pdata[row * t->ncols + col];
}

void ctl_table_hide_if_all(struct ctl_table *t, unsigned col, const char *value)
{
	t->hide_value[col] = value;
}

/* Display width: the tables hold ASCII but for "→" and "…" (one column each). */
static size_t text_width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

static size_t total_width(const struct ctl_table *t, const size_t *w)
{
	size_t sum = 0, shown = 0;
	for (unsigned c = 0; c < t->ncols; c++)
		if (!t->hidden[c]) {
			sum += w[c];
			shown++;
		}
	return sum + (shown ? 2 * (shown - 1) : 0);
}

static void pad(FILE *f, size_t n)
{
	static const char spaces[] = "                                                                ";
	while (n > 0) {
		size_t k = n < sizeof(spaces) - 1 ? n : sizeof(spaces) - 1;
		fwrite(spaces, 1, k, f);
		n -= k;
	}
}

static void print_cell(FILE *f, const char *s, size_t width, bool right, bool last)
{
	size_t w = text_width(s);

	if (w > width) {
		/* Shortened: as much as fits, then "…". */
		size_t keep = width ? width - 1 : 0, n = 0;
		const char *p = s;
		while (*p && n < keep) {
			p++;
			while (((unsigned char)*p & 0xc0) == 0x80)
				p++;
			n++;
		}
		fwrite(s, 1, (size_t)(p - s), f);
		if (width)
			fputs("…", f);
		return;
	}
	if (right)
		pad(f, width - w);
	fputs(s, f);
	if (!right && !last)
		pad(f, width - w);
}

void ctl_table_print(struct ctl_table *t, FILE *f, size_t width, bool legend)
{
	size_t w[CTL_TABLE_COLUMNS] = { 0 };
	unsigned last = 0;

	for (unsigned c = 0; c < t->ncols; c++)
		if (t->hide_value[c] && !t->other_value[c])
			t->hidden[c] = true;
	for (unsigned c = 0; c < t->ncols; c++) {
		w[c] = legend ? text_width(t->names[c]) : 0;
		for (size_t r = 0; r < ctl_table_rows(t); r++) {
			size_t cw = text_width(cell(t, r, c));
			if (cw > w[c])
				w[c] = cw;
		}
	}
	/* Too wide: leave out columns, highest priority number first ... */
	while (width && total_width(t, w) > width) {
		unsigned drop = 0, best = 0;
		for (unsigned c = 0; c < t->ncols; c++)
			if (!t->hidden[c] && t->priority[c] > best) {
				best = t->priority[c];
				drop = c;
			}
		if (!best)
			break;
		t->hidden[drop] = true;
	}
	/* ... then shorten the widest column (never below 8). */
	while (width && total_width(t, w) > width) {
		unsigned widest = 0;
		for (unsigned c = 0; c < t->ncols; c++)
			if (!t->hidden[c] && w[c] > w[widest])
				widest = c;
		if (w[widest] <= 8)
			break;
		w[widest] -= 1;
	}
	for (unsigned c = 0; c < t->ncols; c++)
		if (!t->hidden[c])
			last = c;
	for (size_t r = legend ? 0 : 1; r <= ctl_table_rows(t); r++) {
		bool first = true;
		for (unsigned c = 0; c < t->ncols; c++) {
			if (t->hidden[c])
				continue;
			if (!first)
				fputs("  ", f);
			first = false;
			print_cell(f, r == 0 ? t->names[c] : cell(t, r - 1, c), w[c], t->right[c], c == last);
		}
		fputc('\n', f);
	}
}

size_t ctl_terminal_width(FILE *f)
{
	struct winsize ws;
	const char *cols = getenv("COLUMNS");

	/* $COLUMNS wins, as in systemd's tools, also off a terminal. */
	if (cols && atoi(cols) > 0)
		return (size_t)atoi(cols);
	if (!isatty(fileno(f)))
		return 0;
	if (ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return 80;
}
