#include "ctwrite.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "nlrequest.h"

/* Deletes per sendmsg. Batched deletes carry no NLM_F_ACK: the kernel
 * answers only failures, and handles the whole batch inside sendmsg, so all
 * answers are queued when it returns. Each answer is its own skb (~768 bytes
 * of receive buffer accounting): the 4 MiB buffer holds 20 batches of them. */
#define BATCH_MAX 256
#define MSG_MAX 160
#define RCVBUF (4 << 20)

struct ct_batch {
	struct mnl_socket *nl;
	uint32_t portid, seq;
	unsigned queued, deleted, vanished;
	int error;
	char buf[BATCH_MAX * MSG_MAX] __attribute__((aligned(NLMSG_ALIGNTO)));
	size_t len;
};

static int open_socket(struct mnl_socket **ret)
{
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	int one = 1, size = RCVBUF, r;

	if (!nl)
		return -errno;
	if (setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		(void)setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof(one)) < 0) {
		r = -errno;
		mnl_socket_close(nl);
		return r;
	}
	*ret = nl;
	return 0;
}

int ct_batch_new(struct ct_batch **ret)
{
	struct ct_batch *b = calloc(1, sizeof(*b));
	int r;

	if (!b)
		return -ENOMEM;
	if ((r = open_socket(&b->nl)) < 0) {
		free(b);
		return r;
	}
	b->portid = mnl_socket_get_portid(b->nl);
	b->seq = 1;
	*ret = b;
	return 0;
}

void ct_batch_free(struct ct_batch *b)
{
	if (!b)
		return;
	if (b->nl)
		mnl_socket_close(b->nl);
	free(b);
}

unsigned ct_batch_deleted(const struct ct_batch *b) { return b->deleted; }
unsigned ct_batch_vanished(const struct ct_batch *b) { return b->vanished; }

/* IPCTNL_MSG_CT_DELETE for r's original tuple, zone and optionally id. */
static struct nlmsghdr *put_delete(char *buf, const struct ct_record *r, bool with_id, uint32_t seq)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;
	struct nlattr *tuple, *nest;
	const struct ct_tuple *t = &r->t[CT_ORIG];
	bool icmp = r->proto == IPPROTO_ICMP || r->proto == IPPROTO_ICMPV6;

	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE;
	nlh->nlmsg_flags = NLM_F_REQUEST;   /* failures are answered anyway */
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = r->family;
	nfg->version = NFNETLINK_V0;

	tuple = mnl_attr_nest_start(nlh, CTA_TUPLE_ORIG);
	nest = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
	if (r->family == AF_INET) {
		mnl_attr_put(nlh, CTA_IP_V4_SRC, 4, t->src);
		mnl_attr_put(nlh, CTA_IP_V4_DST, 4, t->dst);
	} else {
		mnl_attr_put(nlh, CTA_IP_V6_SRC, 16, t->src);
		mnl_attr_put(nlh, CTA_IP_V6_DST, 16, t->dst);
	}
	mnl_attr_nest_end(nlh, nest);
	nest = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
	mnl_attr_put_u8(nlh, CTA_PROTO_NUM, r->proto);
	if (icmp) {
		bool v6 = r->proto == IPPROTO_ICMPV6;
		mnl_attr_put_u16(nlh, v6 ? CTA_PROTO_ICMPV6_ID : CTA_PROTO_ICMP_ID, htons(r->icmp_id));
		mnl_attr_put_u8(nlh, v6 ? CTA_PROTO_ICMPV6_TYPE : CTA_PROTO_ICMP_TYPE, r->icmp_type);
		mnl_attr_put_u8(nlh, v6 ? CTA_PROTO_ICMPV6_CODE : CTA_PROTO_ICMP_CODE, r->icmp_code);
	} else {
		mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(t->sport));
		mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(t->dport));
	}
	mnl_attr_nest_end(nlh, nest);
	mnl_attr_nest_end(nlh, tuple);
	if (r->zone)
		mnl_attr_put_u16(nlh, CTA_ZONE, htons(r->zone));
	if (with_id)
		mnl_attr_put_u32(nlh, CTA_ID, htonl(r->id));
	return nlh;
}


/* Reads the failures of the batch just sent (all queued by now); every
 * delete not answered with a failure succeeded. */
static int read_failures(struct ct_batch *b)
{
	char buf[MNL_SOCKET_BUFFER_SIZE] __attribute__((aligned(NLMSG_ALIGNTO)));
	unsigned failed = 0;

	for (;;) {
		ssize_t n = recv(mnl_socket_get_fd(b->nl), buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			/* ENOBUFS: answers were lost, so the count would be a guess. */
			log_warn("conntrack delete: reading the answers failed: %m");
			return -errno;
		}
		int len = (int)n;
		for (const struct nlmsghdr *h = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(h, len);
		     h = mnl_nlmsg_next(h, &len)) {
			if (h->nlmsg_type != NLMSG_ERROR)
				continue;
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);
			if (e->error == 0)
				continue;
			failed++;
			if (e->error == -ENOENT)
				b->vanished++;   /* gone meanwhile (or the id changed): not ours to count */
			else if (!b->error)
				b->error = e->error;
		}
	}
	b->deleted += b->queued - (failed < b->queued ? failed : b->queued);
	return 0;
}

int ct_batch_flush(struct ct_batch *b)
{
	int r = 0;

	if (b->queued == 0)
		return b->error;
	if (mnl_socket_sendto(b->nl, b->buf, b->len) < 0)
		r = -errno;
	else
		r = read_failures(b);
	b->queued = 0;
	b->len = 0;
	return r < 0 ? r : b->error;
}

int ct_batch_add(struct ct_batch *b, const struct ct_record *r, bool with_id)
{
	struct nlmsghdr *nlh = put_delete(b->buf + b->len, r, with_id, b->seq++);

	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
	b->queued++;
	if (b->queued == BATCH_MAX || b->len + MSG_MAX > sizeof(b->buf))
		return ct_batch_flush(b);
	return 0;
}

int ct_delete_one(const struct ct_record *r, bool with_id)
{
	struct ct_batch *b;
	int k = ct_batch_new(&b);

	if (k < 0)
		return k;
	if ((k = ct_batch_add(b, r, with_id)) >= 0)
		k = ct_batch_flush(b);
	if (k >= 0 && ct_batch_deleted(b) != 1)
		k = -ENOENT;
	ct_batch_free(b);
	return k;
}

int ct_flush_all(void)
{
	char buf[MNL_SOCKET_BUFFER_SIZE] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;

	/* A delete without tuple is a flush; AF_UNSPEC flushes both families. */
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = 1;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = AF_UNSPEC;
	nfg->version = NFNETLINK_V0;
	return nl_request(NETLINK_NETFILTER, nlh, NULL, NULL);
}
