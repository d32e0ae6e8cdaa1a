#include "bus-export.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bus-call.h"
#include "bus.h"
#include "ctread.h"
#include "errors.h"
#include "exportbudget.h"
#include "log.h"
#include "record.h"

/* Records are formatted into this buffer and written out when it is full:
 * one write(2) per ~1,000 records. */
#define CHUNK (256u << 10)

struct export_call {
	struct call base;
	struct ct_filter filter;
	struct ct_kfilter kf;
	struct ct_dump *dump;
	bool csv;
	bool over_budget;
	int fd;
	uint64_t written;
	size_t len;
	char buf[CHUNK + CT_TEXT_MAX];
};

static void export_call_free(struct call *base)
{
	struct export_call *c = CALL_OF(base, struct export_call);

	if (!c)
		return;
	ct_dump_free(c->dump);
	filter_clear(&c->filter);
	if (c->fd >= 0)
		close(c->fd);
	call_done(&c->base);
	free(c);
}

static int flush_chunk(struct export_call *c)
{
	size_t done = 0;
	while (done < c->len) {
		ssize_t n = write(c->fd, c->buf + done, c->len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)n;
	}
	c->written += c->len;
	c->len = 0;
	return 0;
}

static int export_record(const struct ct_record *r, void *userdata)
{
	struct export_call *c = userdata;

	if (!filter_match(&c->filter, r))
		return 0;
	c->len += c->csv ? ct_record_csv(r, c->buf + c->len, CT_TEXT_MAX)
			 : ct_record_json(r, c->buf + c->len, CT_TEXT_MAX);
	if (c->len < CHUNK)
		return 0;
	if (c->base.ctx->exports &&
	    export_budget_check(c->base.ctx->exports, c->base.uid, c->written + c->len, NULL) < 0) {
		c->over_budget = true;   /* stops the dump; answered in export_done */
		return -ENOBUFS;
	}
	return flush_chunk(c);
}

static void export_done(struct ct_dump *d, int error, void *userdata)
{
	struct export_call *c = userdata;
	int r = error;

	ct_dump_free(c->dump);
	c->dump = NULL;
	if (c->over_budget) {
		sd_bus_error e = SD_BUS_ERROR_NULL;
		(void)export_budget_check(c->base.ctx->exports, c->base.uid, c->written + c->len, &e);
		call_reply_error(c->base.m, &e);
		sd_bus_error_free(&e);
		export_call_free(&c->base);
		return;
	}
	if (r >= 0)
		r = flush_chunk(c);
	/* The reader gets the same open file: start it at the beginning, and seal
	 * the contents so that nobody can change them under the reader. */
	if (r >= 0 && lseek(c->fd, 0, SEEK_SET) < 0)
		r = -errno;
	if (r >= 0 && fcntl(c->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
		r = -errno;
	/* Charged to the caller until every holder has closed it. */
	if (r >= 0 && c->base.ctx->exports &&
	    export_budget_hold(c->base.ctx->exports, c->base.uid, c->fd, c->written) < 0)
		log_warn("Cannot follow an export's descriptor: %m; it is not counted in the budget");
	if (r < 0)
		r = sd_bus_reply_method_errorf(c->base.m, SD_BUS_ERROR_FAILED, "Export failed: %s", strerror(-r));
	else
		r = sd_bus_reply_method_return(c->base.m, "h", c->fd);
	if (r < 0)
		log_warn("Could not answer Export: %s", strerror(-r));
	export_call_free(&c->base);
}

static void export_run(struct call *base)
{
	struct export_call *c = CALL_OF(base, struct export_call);
	int r;

	if (c->base.ctx->exports) {
		sd_bus_error e = SD_BUS_ERROR_NULL;
		if (export_budget_check(c->base.ctx->exports, c->base.uid, 0, &e) < 0) {
			call_reply_error(c->base.m, &e);
			sd_bus_error_free(&e);
			export_call_free(&c->base);
			return;
		}
	}
	c->fd = memfd_create("connectionsd-export", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (c->fd < 0) {
		r = -errno;
		goto fail;
	}
	if (c->csv)
		c->len = ct_record_csv_header(c->buf, CT_TEXT_MAX);
	if (c->kf.empty) {
		export_done(NULL, 0, c);
		return;
	}
	r = call_dump_start(&c->base, &c->kf, export_record, export_done, c, &c->dump);
	if (r >= 0)
		return;
fail:
	if (sd_bus_reply_method_errorf(c->base.m, SD_BUS_ERROR_FAILED, "Export failed: %s", strerror(-r)) < 0)
		log_warn("Could not answer Export");
	export_call_free(&c->base);
}

static const struct call_ops export_ops = { .run = export_run, .free = export_call_free, .work = true };

int method_export(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct context *ctx = userdata;
	struct export_call *c = call_new(ctx, m, &export_ops, sizeof(*c));
	const char *format;
	int r;

	if (!c)
		return -ENOMEM;
	c->fd = -1;
	if ((r = filter_parse(m, &c->filter, &ctx->filter_env, error)) < 0 ||
	    (r = sd_bus_message_read_basic(m, 's', &format)) < 0)
		return call_refuse(&c->base, r, error);
	if (strcmp(format, "csv") == 0)
		c->csv = true;
	else if (strcmp(format, "json") != 0)
		return call_refuse(&c->base, INVALID(error, "Format '%s' is neither 'json' nor 'csv'", format), error);
	filter_to_kernel(&c->filter, &ctx->caps, &c->kf);
	return call_authorize(&c->base, ACTION_LIST, NULL, error);
}
