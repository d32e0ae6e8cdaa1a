#include "ctwrite.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
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

/* r as libnetfilter_conntrack knows an entry: what identifies it (the
 * original tuple and the zone). */
static void set_identity(struct nf_conntrack *ct, const struct ct_record *r)
{
	const struct ct_tuple *t = &r->t[CT_ORIG];
	uint32_t v4;

	nfct_set_attr_u8(ct, ATTR_ORIG_L3PROTO, r->family);
	if (r->family == AF_INET) {
		memcpy(&v4, t->src, sizeof(v4));
		nfct_set_attr_u32(ct, ATTR_ORIG_IPV4_SRC, v4);
		memcpy(&v4, t->dst, sizeof(v4));
		nfct_set_attr_u32(ct, ATTR_ORIG_IPV4_DST, v4);
	} else {
		nfct_set_attr(ct, ATTR_ORIG_IPV6_SRC, t->src);
		nfct_set_attr(ct, ATTR_ORIG_IPV6_DST, t->dst);
	}
	nfct_set_attr_u8(ct, ATTR_ORIG_L4PROTO, r->proto);
	if (r->proto == IPPROTO_ICMP || r->proto == IPPROTO_ICMPV6) {
		nfct_set_attr_u8(ct, ATTR_ICMP_TYPE, r->icmp_type);
		nfct_set_attr_u8(ct, ATTR_ICMP_CODE, r->icmp_code);
		nfct_set_attr_u16(ct, ATTR_ICMP_ID, htons(r->icmp_id));
	} else {
		nfct_set_attr_u16(ct, ATTR_ORIG_PORT_SRC, htons(t->sport));
		nfct_set_attr_u16(ct, ATTR_ORIG_PORT_DST, htons(t->dport));
	}
	if (r->zone)
		nfct_set_attr_u16(ct, ATTR_ZONE, r->zone);
}

struct nlmsghdr *ct_delete_request(char *buf, const struct ct_record *r, bool with_id, uint32_t seq)
{
	/* Failures are answered anyway: no NLM_F_ACK. */
	struct nlmsghdr *nlh = ct_msg_header(buf, IPCTNL_MSG_CT_DELETE, NLM_F_REQUEST, r->family, seq);
	struct nf_conntrack *ct = nfct_new();
	int k;

	if (!ct)
		return NULL;
	set_identity(ct, r);
	k = nfct_nlmsg_build(nlh, ct);
	nfct_destroy(ct);
	if (k < 0)
		return NULL;
	/* libnetfilter_conntrack (1.0.9) builds no CTA_ID, even with ATTR_ID set. */
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
	struct nlmsghdr *nlh = ct_delete_request(b->buf + b->len, r, with_id, b->seq++);

	if (!nlh)
		return -ENOMEM;
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
	/* A delete without tuple is a flush; AF_UNSPEC flushes both families. */
	struct nlmsghdr *nlh = ct_msg_header(buf, IPCTNL_MSG_CT_DELETE, NLM_F_REQUEST | NLM_F_ACK, AF_UNSPEC, 1);

	return nl_request(NETLINK_NETFILTER, nlh, NULL, NULL);
}
