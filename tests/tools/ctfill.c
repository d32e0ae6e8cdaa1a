/* ctfill: creates COUNT real conntrack entries in the current network
 * namespace, quickly (batched IPCTNL_MSG_CT_NEW, like many `conntrack -I`).
 * For tests and benchmarks only.
 *
 *   ctfill COUNT [--ipv6] [--proto tcp|udp] [--src ADDR] [--dst ADDR]
 *                [--dport N] [--mark N] [--zone N] [--timeout S] [--first N]
 *
 * Entry i has source address ADDR+i/50000, source port 10000+i%50000
 * (i counted from --first), so separate runs with different --first or
 * --src never collide. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tcp.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 256

struct opts {
	unsigned long count, first;
	int family, proto;
	uint8_t src[16], dst[16];
	unsigned dport, mark, zone, timeout;
};

static void add_to_addr(uint8_t *a, int family, unsigned long n)
{
	int last = family == AF_INET ? 3 : 15;
	for (int i = last; i >= 0 && n; i--) {
		unsigned long v = a[i] + (n & 0xff);
		a[i] = (uint8_t)v;
		n = (n >> 8) + (v >> 8);
	}
}

static void put_tuple(struct nlmsghdr *nlh, int type, const struct opts *o, const uint8_t *src,
		      const uint8_t *dst, uint16_t sport, uint16_t dport)
{
	struct nlattr *t = mnl_attr_nest_start(nlh, type), *n;
	n = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
	if (o->family == AF_INET) {
		mnl_attr_put(nlh, CTA_IP_V4_SRC, 4, src);
		mnl_attr_put(nlh, CTA_IP_V4_DST, 4, dst);
	} else {
		mnl_attr_put(nlh, CTA_IP_V6_SRC, 16, src);
		mnl_attr_put(nlh, CTA_IP_V6_DST, 16, dst);
	}
	mnl_attr_nest_end(nlh, n);
	n = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
	mnl_attr_put_u8(nlh, CTA_PROTO_NUM, (uint8_t)o->proto);
	mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(sport));
	mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(dport));
	mnl_attr_nest_end(nlh, n);
	mnl_attr_nest_end(nlh, t);
}

int main(int argc, char **argv)
{
	struct opts o = { .family = AF_INET, .proto = IPPROTO_TCP, .dport = 80, .timeout = 600 };
	static const struct option options[] = {
		{ "ipv6", no_argument, NULL, '6' }, { "proto", required_argument, NULL, 'p' },
		{ "src", required_argument, NULL, 's' }, { "dst", required_argument, NULL, 'd' },
		{ "dport", required_argument, NULL, 'D' }, { "mark", required_argument, NULL, 'm' },
		{ "zone", required_argument, NULL, 'z' }, { "timeout", required_argument, NULL, 't' },
		{ "first", required_argument, NULL, 'f' }, {}
	};
	const char *src = NULL, *dst = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
		switch (c) {
		case '6': o.family = AF_INET6; break;
		case 'p': o.proto = strcmp(optarg, "udp") == 0 ? IPPROTO_UDP : IPPROTO_TCP; break;
		case 's': src = optarg; break;
		case 'd': dst = optarg; break;
		case 'D': o.dport = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'm': o.mark = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'z': o.zone = (unsigned)strtoul(optarg, NULL, 0); break;
		case 't': o.timeout = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'f': o.first = strtoul(optarg, NULL, 0); break;
		default: return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: ctfill COUNT [options]\n");
		return 2;
	}
	o.count = strtoul(argv[optind], NULL, 0);
	if (!src)
		src = o.family == AF_INET ? "10.64.0.0" : "fd00:64::";
	if (!dst)
		dst = o.family == AF_INET ? "10.128.0.1" : "fd00:128::1";
	if (inet_pton(o.family, src, o.src) != 1 || inet_pton(o.family, dst, o.dst) != 1) {
		fprintf(stderr, "ctfill: bad address\n");
		return 2;
	}

	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		perror("ctfill: netlink");
		return 1;
	}
	uint32_t seq = 1;
	static char buf[BATCH * 512], rbuf[65536];
	unsigned long done = 0, errors = 0;

	while (done < o.count) {
		struct mnl_nlmsg_batch *b = mnl_nlmsg_batch_start(buf, sizeof(buf));
		unsigned n = 0;
		uint32_t first_seq = seq;
		for (; n < BATCH && done + n < o.count; n++) {
			unsigned long i = o.first + done + n;
			uint8_t s[16];
			uint16_t sport = (uint16_t)(10000 + i % 50000);
			memcpy(s, o.src, 16);
			add_to_addr(s, o.family, i / 50000);

			struct nlmsghdr *nlh = mnl_nlmsg_put_header(mnl_nlmsg_batch_current(b));
			nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
			nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
			nlh->nlmsg_seq = seq++;
			struct nfgenmsg *nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
			nfg->nfgen_family = (uint8_t)o.family;
			nfg->version = NFNETLINK_V0;
			put_tuple(nlh, CTA_TUPLE_ORIG, &o, s, o.dst, sport, (uint16_t)o.dport);
			put_tuple(nlh, CTA_TUPLE_REPLY, &o, o.dst, s, (uint16_t)o.dport, sport);
			mnl_attr_put_u32(nlh, CTA_TIMEOUT, htonl(o.timeout));
			mnl_attr_put_u32(nlh, CTA_STATUS, htonl(IPS_SEEN_REPLY | IPS_ASSURED | IPS_CONFIRMED));
			if (o.mark)
				mnl_attr_put_u32(nlh, CTA_MARK, htonl(o.mark));
			if (o.zone)
				mnl_attr_put_u16(nlh, CTA_ZONE, htons((uint16_t)o.zone));
			if (o.proto == IPPROTO_TCP) {
				struct nlattr *pi = mnl_attr_nest_start(nlh, CTA_PROTOINFO);
				struct nlattr *tcp = mnl_attr_nest_start(nlh, CTA_PROTOINFO_TCP);
				mnl_attr_put_u8(nlh, CTA_PROTOINFO_TCP_STATE, TCP_CONNTRACK_ESTABLISHED);
				mnl_attr_nest_end(nlh, tcp);
				mnl_attr_nest_end(nlh, pi);
			}
			if (!mnl_nlmsg_batch_next(b))
				break;
		}
		if (mnl_socket_sendto(nl, mnl_nlmsg_batch_head(b), mnl_nlmsg_batch_size(b)) < 0) {
			perror("ctfill: send");
			return 1;
		}
		mnl_nlmsg_batch_stop(b);
		/* One ack per message; count the errors (EEXIST, ENOMEM at the limit...). */
		unsigned acks = 0;
		while (acks < n) {
			ssize_t len = mnl_socket_recvfrom(nl, rbuf, sizeof(rbuf));
			if (len < 0) {
				perror("ctfill: recv");
				return 1;
			}
			for (struct nlmsghdr *h = (struct nlmsghdr *)rbuf; mnl_nlmsg_ok(h, (int)len);
			     h = mnl_nlmsg_next(h, (int *)&len)) {
				if (h->nlmsg_type == NLMSG_ERROR && h->nlmsg_seq >= first_seq) {
					struct nlmsgerr *e = mnl_nlmsg_get_payload(h);
					if (e->error && errors++ < 3)
						fprintf(stderr, "ctfill: entry %u: %s\n", h->nlmsg_seq - first_seq,
							strerror(-e->error));
					acks++;
				}
			}
		}
		done += n;
	}
	mnl_socket_close(nl);
	printf("%lu created, %lu failed\n", o.count - errors, errors);
	return errors ? 1 : 0;
}
