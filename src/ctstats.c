#include "ctstats.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nlrequest.h"

const char *const ct_cpu_stat_names[CT_CPU_STATS] = {
	"found", "invalid", "insert", "insert-failed", "drop", "early-drop",
	"error", "search-restart", "clash-resolve", "chain-toolong",
};
/* CTA_STATS_* attribute of each name above. */
static const int cpu_stat_attrs[CT_CPU_STATS] = {
	CTA_STATS_FOUND, CTA_STATS_INVALID, CTA_STATS_INSERT, CTA_STATS_INSERT_FAILED,
	CTA_STATS_DROP, CTA_STATS_EARLY_DROP, CTA_STATS_ERROR, CTA_STATS_SEARCH_RESTART,
	CTA_STATS_CLASH_RESOLVE, CTA_STATS_CHAIN_TOOLONG,
};

typedef int (*attr_fn)(const struct nlattr *a, void *data);

struct walk { attr_fn fn; void *data; };

static int msg_cb(const struct nlmsghdr *nlh, void *data)
{
	struct walk *w = data;
	return mnl_attr_parse(nlh, sizeof(struct nfgenmsg), w->fn, w->data) < 0 ? MNL_CB_ERROR : MNL_CB_OK;
}

/* One request (dump or not), each attribute of each answer to fn. */
static int request(uint8_t msg, bool dump, attr_fn fn, void *data)
{
	char buf[MNL_SOCKET_BUFFER_SIZE] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct walk w = { fn, data };
	struct nlmsghdr *nlh = ct_msg_header(buf, msg, NLM_F_REQUEST | (dump ? NLM_F_DUMP : NLM_F_ACK), AF_UNSPEC, 1);

	return nl_request(NETLINK_NETFILTER, nlh, msg_cb, &w);
}

struct count_data { uint32_t count, max; };

static int count_attr(const struct nlattr *a, void *data)
{
	struct count_data *c = data;
	if (mnl_attr_validate(a, MNL_TYPE_U32) < 0)
		return MNL_CB_OK;
	if (mnl_attr_get_type(a) == CTA_STATS_GLOBAL_ENTRIES)
		c->count = ntohl(mnl_attr_get_u32(a));
	else if (mnl_attr_get_type(a) == CTA_STATS_GLOBAL_MAX_ENTRIES)
		c->max = ntohl(mnl_attr_get_u32(a));
	return MNL_CB_OK;
}

int ct_count(uint32_t *count, uint32_t *max)
{
	struct count_data c = { 0, 0 };
	int r = request(IPCTNL_MSG_CT_GET_STATS, false, count_attr, &c);
	if (r < 0)
		return r;
	if (count)
		*count = c.count;
	if (max)
		*max = c.max;
	return 0;
}

static int cpu_attr(const struct nlattr *a, void *data)
{
	uint64_t *sums = data;
	if (mnl_attr_validate(a, MNL_TYPE_U32) < 0)
		return MNL_CB_OK;
	for (int i = 0; i < CT_CPU_STATS; i++)
		if (mnl_attr_get_type(a) == cpu_stat_attrs[i])
			sums[i] += ntohl(mnl_attr_get_u32(a));
	return MNL_CB_OK;
}

int ct_cpu_stats(uint64_t sums[CT_CPU_STATS])
{
	memset(sums, 0, sizeof(uint64_t) * CT_CPU_STATS);
	return request(IPCTNL_MSG_CT_GET_STATS_CPU, true, cpu_attr, sums);
}

int ct_sysctl(const char *name, uint64_t *value)
{
	char path[128];
	FILE *f;
	unsigned long long v;
	int r;

	snprintf(path, sizeof(path), "/proc/sys/net/netfilter/%s", name);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	r = fscanf(f, "%llu", &v) == 1 ? 0 : -EIO;
	fclose(f);
	if (r == 0)
		*value = v;
	return r;
}
