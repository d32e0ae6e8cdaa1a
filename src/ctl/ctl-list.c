/* The commands that read: list, summary, export, stats. */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl-table.h"
#include "ctl.h"
#include "record.h"
#include "util.h"

/* The service clamps each List to its page size; asking for more is fine. */
#define PAGE_ASK UINT32_MAX

enum {
	COL_PROTO, COL_STATE, COL_SRC, COL_DST, COL_NAT, COL_BYTES, COL_PACKETS, COL_AGE,
	COL_TIMEOUT, COL_MARK, COL_ZONE, COL_FLAGS, _COL_MAX
};

struct ctl_table *ctl_connections_table(void)
{
	static const char *const names[_COL_MAX] = {
		"PROTO", "STATE", "SOURCE", "DESTINATION", "NAT", "BYTES OUT/IN", "PACKETS OUT/IN",
		"AGE", "TIMEOUT", "MARK", "ZONE", "FLAGS",
	};
	/* What goes first on a narrow terminal: the highest number. */
	static const unsigned priority[_COL_MAX] = {
		[COL_NAT] = 2, [COL_BYTES] = 3, [COL_PACKETS] = 8, [COL_AGE] = 7, [COL_TIMEOUT] = 4,
		[COL_MARK] = 5, [COL_ZONE] = 6, [COL_FLAGS] = 9,
	};
	static const bool right[_COL_MAX] = {
		[COL_BYTES] = true, [COL_PACKETS] = true, [COL_AGE] = true, [COL_TIMEOUT] = true,
		[COL_ZONE] = true,
	};
	struct ctl_table *t = ctl_table_new(_COL_MAX, names, priority, right);
	ctl_table_hide_if_all(t, COL_MARK, "0x0");
	ctl_table_hide_if_all(t, COL_ZONE, "0");
	return t;
}

static void endpoint(const struct ct_record *r, int dir, bool src, char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN];
	const struct ct_tuple *t = &r->t[dir];
	uint16_t port = src ? t->sport : t->dport;

	ct_addr_str(r->family, src ? t->src : t->dst, a);
	if (r->flags & CT_HAS_ICMP || (!t->sport && !t->dport))
		snprintf(buf, size, "%s", a);
	else if (r->family == AF_INET6)
		snprintf(buf, size, "[%s]:%u", a, port);
	else
		snprintf(buf, size, "%s:%u", a, port);
}

/* The flags worth a column: what UNREPLIED, NAT, offload and the like say;
 * SEEN_REPLY is UNREPLIED's absence, CONFIRMED and *_DONE are bookkeeping. */
static void flags_text(const struct ct_record *r, char *buf, size_t size)
{
	static const uint32_t boring = IPS_SEEN_REPLY | IPS_CONFIRMED | IPS_SRC_NAT_DONE |
				       IPS_DST_NAT_DONE | IPS_SEQ_ADJUST;
	size_t len = 0;

	buf[0] = '\0';
	if (!(r->status & IPS_SEEN_REPLY))
		len += (size_t)snprintf(buf + len, size - len, "UNREPLIED");
	for (unsigned bit = 0; bit < CT_STATUS_BITS && len < size; bit++)
		if ((r->status & (1u << bit)) && !(boring & (1u << bit)))
			len += (size_t)snprintf(buf + len, size - len, "%s%s", len ? "," : "", ct_status_name(bit));
}

void ctl_connections_row(struct ctl_table *t, const struct ct_record *r, uint64_t now_usec)
{
	char src[64], dst[64], nat[80] = "-", b1[CTL_UNIT_LEN], b2[CTL_UNIT_LEN], bytes[72], packets[48],
	     age[CTL_UNIT_LEN] = "-",
	     timeout[CTL_UNIT_LEN], mark[16], zone[8], flags[160], proto[4];
	const char *state = (r->flags & CT_HAS_STATE) ? ct_state_name(r->proto, r->state) : NULL;

	endpoint(r, CT_ORIG, true, src, sizeof(src));
	endpoint(r, CT_ORIG, false, dst, sizeof(dst));
	/* Where a DNAT sent it, and what a SNAT made of its source (both, for a
	 * port forward that leaves through a masquerading uplink). */
	if (r->status & (IPS_SRC_NAT | IPS_DST_NAT)) {
		char a[INET6_ADDRSTRLEN], to[64];
		size_t len = 0;
		if (r->status & IPS_DST_NAT) {
			endpoint(r, CT_REPLY, true, to, sizeof(to));
			len = (size_t)snprintf(nat, sizeof(nat), "to %s", to);
		}
		if (r->status & IPS_SRC_NAT)
			snprintf(nat + len, sizeof(nat) - len, "%sas %s", len ? ", " : "",
				 ct_addr_str(r->family, r->t[CT_REPLY].dst, a));
	}
	ctl_format_bytes(r->bytes[CT_ORIG], b1);
	ctl_format_bytes(r->bytes[CT_REPLY], b2);
	snprintf(bytes, sizeof(bytes), "%s/%s", b1, b2);
	snprintf(packets, sizeof(packets), "%" PRIu64 "/%" PRIu64, r->packets[CT_ORIG], r->packets[CT_REPLY]);
	if (r->start_ns && now_usec * 1000 >= r->start_ns)
		ctl_format_seconds((now_usec - r->start_ns / 1000) / 1000000, age);
	ctl_format_seconds(r->timeout, timeout);
	snprintf(mark, sizeof(mark), "0x%" PRIx32, r->mark);
	snprintf(zone, sizeof(zone), "%u", r->zone);
	flags_text(r, flags, sizeof(flags));
	{
		const char *cells[_COL_MAX] = {
			ct_proto_name(r->proto, proto), state ? state : "-", src, dst, nat, bytes, packets,
			age, timeout, mark, zone, flags,
		};
		(void)ctl_table_add(t, cells);
	}
}

void ctl_connections_print(struct ctl_table *t, bool legend, size_t width)
{
	ctl_table_print(t, stdout, width, legend);
}

static uint64_t now_realtime_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int list_pages(struct ctl *c);
static int list_all_at_once(struct ctl *c);

static int list_page(struct ctl *c, uint64_t offset, uint64_t want, sd_bus_message **reply)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
	int r;

	if ((r = ctl_new_call(c, "List", &m)) < 0 ||
	    (r = ctl_filter_append(m, &c->filter)) < 0 ||
	    (r = sd_bus_message_open_container(m, 'a', "{sv}")) < 0 ||
	    (r = sd_bus_message_append(m, "{sv}{sv}", "offset", "u", (uint32_t)offset,
				       "limit", "u", (uint32_t)(want > PAGE_ASK ? PAGE_ASK : want))) < 0 ||
	    (c->sort && (r = sd_bus_message_append(m, "{sv}", "sort", "s", c->sort)) < 0) ||
	    (c->reverse && (r = sd_bus_message_append(m, "{sv}", "reverse", "b", 1)) < 0) ||
	    (r = sd_bus_message_close_container(m)) < 0)
		return ctl_report(c, "List", NULL, r);
	return ctl_send(c, m, reply);
}

int ctl_list(struct ctl *c)
{
	if (!c->sort && !c->reverse && !c->has_limit)
		return list_all_at_once(c);
	return list_pages(c);
}

/* Sorted or limited: page by page through List (the service sorts). */
static int list_pages(struct ctl *c)
{
	struct ctl_table *t = c->output == OUT_TABLE ? ctl_connections_table() : NULL;
	uint64_t offset = 0, shown = 0, total = 0, now = now_realtime_usec();
	char buf[CT_TEXT_MAX];
	int r = 0;

	size_t len;

	/* The formatters return a length; they write no NUL. */
	if (c->output == OUT_CSV && c->legend && (len = ct_record_csv_header(buf, sizeof(buf))))
		fwrite(buf, 1, len, stdout);
	/* Page by page to the end (or the limit): each page is one List call. */
	while (!c->has_limit || shown < c->limit) {
		_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
		struct ct_record rec;
		uint32_t tot;
		uint64_t got = 0;

		if ((r = list_page(c, offset, c->has_limit ? c->limit - shown : PAGE_ASK, &reply)) != 0)
			break;
		if ((r = sd_bus_message_read(reply, "u", &tot)) < 0 ||
		    (r = sd_bus_message_enter_container(reply, 'a', CT_RECORD_SIGNATURE)) < 0)
			break;
		total = tot;
		while ((r = ct_record_read(reply, &rec)) > 0) {
			got++;
			if (c->has_limit && shown >= c->limit)
				continue;
			shown++;
			if (t)
				ctl_connections_row(t, &rec, now);
			else if (c->output == OUT_JSON && (len = ct_record_json(&rec, buf, sizeof(buf))))
				fwrite(buf, 1, len, stdout);
			else if (c->output == OUT_CSV && (len = ct_record_csv(&rec, buf, sizeof(buf))))
				fwrite(buf, 1, len, stdout);
		}
		if (r < 0)
			break;
		offset += got;
		if (got == 0 || offset >= total)
			break;
	}
	if (r < 0)
		r = ctl_report(c, "List", NULL, r);
	if (t && r == 0) {
		ctl_connections_print(t, c->legend, ctl_terminal_width(stdout));
		if (c->legend && shown < total)
			printf("\n%" PRIu64 " of %" PRIu64 " connections listed.\n", shown, total);
		else if (c->legend)
			printf("\n%" PRIu64 " connections listed.\n", shown);
	}
	ctl_table_free(t);
	if (fflush(stdout) != 0 && r == 0)
		r = ctl_report(c, "writing", NULL, -errno);
	return r;
}

/* Export(filter, format): the sealed memfd holding every matching entry,
 * from one kernel dump. Returns 0 and the descriptor, or an exit code. */
static int export_open(struct ctl *c, const char *format, int *ret_fd)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
	int fd, r;

	if ((r = ctl_new_call(c, "Export", &m)) < 0 ||
	    (r = ctl_filter_append(m, &c->filter)) < 0 ||
	    (r = sd_bus_message_append(m, "s", format)) < 0)
		return ctl_report(c, "Export", NULL, r);
	if ((r = ctl_send(c, m, &reply)) != 0)
		return r;
	if ((r = sd_bus_message_read(reply, "h", &fd)) < 0)
		return ctl_report(c, "Export", NULL, r);
	/* The reply owns fd: keep our own. */
	if ((*ret_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0)
		return ctl_report(c, "Export", NULL, -errno);
	return 0;
}

/* Copies the export to stdout, leaving out its first line if skip_header. */
static int copy_out(struct ctl *c, int fd, bool skip_header)
{
	char buf[65536];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		char *p = buf;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return ctl_report(c, "reading the export", NULL, -errno);
		}
		if (skip_header) {
			char *nl = memchr(buf, '\n', (size_t)n);
			if (!nl)
				continue;
			p = nl + 1;
			skip_header = false;
		}
		if (fwrite(p, 1, (size_t)(buf + n - p), stdout) != (size_t)(buf + n - p))
			return ctl_report(c, "writing", NULL, -errno);
	}
	return fflush(stdout) == 0 ? 0 : ctl_report(c, "writing", NULL, -errno);
}

int ctl_export(struct ctl *c)
{
	int fd, r;

	if ((r = export_open(c, c->output == OUT_CSV ? "csv" : "json", &fd)) != 0)
		return r;
	r = copy_out(c, fd, false);
	close(fd);
	return r;
}

/* The whole listing in dump order: one Export (one kernel dump, no paging),
 * streamed as it is for JSON and CSV, read back into records for the table. */
static int list_all_at_once(struct ctl *c)
{
	struct ctl_table *t;
	uint64_t now = now_realtime_usec(), shown = 0;
	struct stat st;
	const char *data, *p, *end;
	int fd, r;

	if ((r = export_open(c, c->output == OUT_JSON ? "json" : "csv", &fd)) != 0)
		return r;
	if (c->output != OUT_TABLE) {
		r = copy_out(c, fd, c->output == OUT_CSV && !c->legend);
		close(fd);
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = ctl_report(c, "reading the export", NULL, -errno);
		close(fd);
		return r;
	}
	data = st.st_size ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0) : "";
	close(fd);
	if (data == MAP_FAILED)
		return ctl_report(c, "reading the export", NULL, -errno);
	t = ctl_connections_table();
	end = data + st.st_size;
	p = memchr(data, '\n', (size_t)st.st_size);   /* the header */
	for (p = p ? p + 1 : end; p < end && r == 0;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl ? nl : end) - p);
		char line[CT_TEXT_MAX];
		struct ct_record rec;

		if (len >= sizeof(line) || (memcpy(line, p, len), line[len] = '\0', ct_record_from_csv(line, &rec)) < 0)
			r = ctl_report(c, "reading the export", NULL, -EBADMSG);
		else {
			ctl_connections_row(t, &rec, now);
			shown++;
		}
		p = nl ? nl + 1 : end;
	}
	if (st.st_size)
		munmap((void *)data, (size_t)st.st_size);
	if (r == 0) {
		ctl_connections_print(t, c->legend, ctl_terminal_width(stdout));
		if (c->legend)
			printf("\n%" PRIu64 " connections listed.\n", shown);
		if (fflush(stdout) != 0)
			r = ctl_report(c, "writing", NULL, -errno);
	}
	ctl_table_free(t);
	return r;
}

/* Summarize with the command line's filter, key and options. */
static int summary_call(struct ctl *c, const char *by, sd_bus_message **reply)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
	int r;

	if ((r = ctl_new_call(c, "Summarize", &m)) < 0 ||
	    (r = ctl_filter_append(m, &c->filter)) < 0 ||
	    (r = sd_bus_message_append(m, "s", by)) < 0 ||
	    (r = sd_bus_message_open_container(m, 'a', "{sv}")) < 0 ||
	    (c->sort && (r = sd_bus_message_append(m, "{sv}", "sort", "s", c->sort)) < 0) ||
	    (c->has_limit && (r = sd_bus_message_append(m, "{sv}", "limit", "u", (uint32_t)c->limit)) < 0) ||
	    (c->offset && (r = sd_bus_message_append(m, "{sv}", "offset", "u", (uint32_t)c->offset)) < 0) ||
	    (r = sd_bus_message_close_container(m)) < 0)
		return ctl_report(c, "Summarize", NULL, r);
	return ctl_send(c, m, reply);
}

/* One group: a JSON or CSV line, or a row of table t. */
static void summary_group(const struct ctl *c, struct ctl_table *t, uint32_t total, const char *key,
			  uint32_t conns, uint64_t packets, uint64_t bytes)
{
	char share[16], cn[16], p[24], b[CTL_UNIT_LEN];

	if (c->output == OUT_JSON) {
		fputs("{\"key\":", stdout);
		ctl_json_string(stdout, key);
		printf(",\"connections\":%" PRIu32 ",\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64 "}\n",
		       conns, packets, bytes);
		return;
	}
	if (c->output == OUT_CSV) {
		/* Keys hold no commas or quotes (addresses, numbers, names). */
		printf("%s,%" PRIu32 ",%" PRIu64 ",%" PRIu64 "\n", key, conns, packets, bytes);
		return;
	}
	snprintf(share, sizeof(share), "%.1f%%", total ? 100.0 * conns / total : 0.0);
	snprintf(cn, sizeof(cn), "%" PRIu32, conns);
	snprintf(p, sizeof(p), "%" PRIu64, packets);
	const char *cells[5] = { *key ? key : "-", cn, share, p, ctl_format_bytes(bytes, b) };
	ctl_table_add(t, cells);
}

int ctl_summary(struct ctl *c)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	static const char *const names[] = { "", "CONNECTIONS", "SHARE", "PACKETS", "BYTES" };
	static const bool right[] = { false, true, true, true, true };
	const char *by = c->by ? c->by : "src", *key;
	char head[32];
	struct ctl_table *t = NULL;
	uint32_t total, conns;
	uint64_t packets, bytes, shown = 0;
	int r;

	if ((r = summary_call(c, by, &reply)) != 0)
		return r;
	if ((r = sd_bus_message_read(reply, "u", &total)) < 0 ||
	    (r = sd_bus_message_enter_container(reply, 'a', "(sutt)")) < 0)
		return ctl_report(c, "Summarize", NULL, r);
	if (c->output == OUT_TABLE) {
		const char *cols[5] = { head, names[1], names[2], names[3], names[4] };
		size_t i;
		for (i = 0; by[i] && i < sizeof(head) - 1; i++)
			head[i] = by[i] >= 'a' && by[i] <= 'z' ? (char)(by[i] - 'a' + 'A') : by[i];
		head[i] = '\0';
		t = ctl_table_new(5, cols, NULL, right);
	} else if (c->output == OUT_CSV && c->legend)
		printf("%s,connections,packets,bytes\n", by);
	while ((r = sd_bus_message_read(reply, "(sutt)", &key, &conns, &packets, &bytes)) > 0) {
		shown++;
		summary_group(c, t, total, key, conns, packets, bytes);
	}
	if (r < 0) {
		ctl_table_free(t);
		return ctl_report(c, "Summarize", NULL, r);
	}
	if (t) {
		ctl_table_print(t, stdout, ctl_terminal_width(stdout), c->legend);
		if (c->legend)
			printf("\n%" PRIu32 " connections match; %" PRIu64 " groups shown.\n", total, shown);
		ctl_table_free(t);
	}
	return fflush(stdout) == 0 ? 0 : ctl_report(c, "writing", NULL, -errno);
}

int ctl_stats(struct ctl *c)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
	const char *key, *sep = "";
	uint64_t value;
	int r;

	if ((r = ctl_new_call(c, "GetStatistics", &m)) < 0)
		return ctl_report(c, "GetStatistics", NULL, r);
	if ((r = ctl_send(c, m, &reply)) != 0)
		return r;
	if ((r = sd_bus_message_enter_container(reply, 'a', "{st}")) < 0)
		return ctl_report(c, "GetStatistics", NULL, r);
	if (c->output == OUT_JSON)
		fputc('{', stdout);
	while ((r = sd_bus_message_read(reply, "{st}", &key, &value)) > 0) {
		if (c->output == OUT_JSON) {
			fputs(sep, stdout);
			ctl_json_string(stdout, key);
			printf(":%" PRIu64, value);
			sep = ",";
		} else
			printf("%-15s %" PRIu64 "\n", key, value);
	}
	if (c->output == OUT_JSON)
		fputs("}\n", stdout);
	if (r < 0)
		return ctl_report(c, "GetStatistics", NULL, r);
	return fflush(stdout) == 0 ? 0 : ctl_report(c, "writing", NULL, -errno);
}
