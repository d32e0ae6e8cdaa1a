#include "summary.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const by_names[] = {
	[BY_SRC] = "src", [BY_DST] = "dst", [BY_REPLY_SRC] = "reply-src",
	[BY_REPLY_DST] = "reply-dst", [BY_SPORT] = "sport", [BY_DPORT] = "dport",
	[BY_PROTOCOL] = "protocol", [BY_STATE] = "state", [BY_FAMILY] = "family",
	[BY_MARK] = "mark", [BY_ZONE] = "zone", [BY_NAT_ADDRESS] = "nat-address",
	[BY_INTERFACE] = "interface",
};

static const char *const sort_names[] = {
	[SUMMARY_CONNECTIONS] = "connections", [SUMMARY_BYTES] = "bytes",
	[SUMMARY_PACKETS] = "packets",
};

static int name_index(const char *const *names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return (int)i;
	return -1;
}

int summary_by_from_name(const char *name)
{
	return name_index(by_names, G_N_ELEMENTS(by_names), name);
}

int summary_sort_from_name(const char *name)
{
	return name_index(sort_names, G_N_ELEMENTS(sort_names), name);
}

/* FNV-1a over the whole key: keys are zero-padded, so equal keys hash alike. */
static guint key_hash(gconstpointer p)
{
	const uint8_t *b = p;
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < sizeof(struct summary_key); i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

static gboolean key_equal(gconstpointer a, gconstpointer b)
{
	return memcmp(a, b, sizeof(struct summary_key)) == 0;
}

static void key_addr(struct summary_key *k, uint8_t family, const uint8_t *addr)
{
	k->family = family;
	memcpy(k->b, addr, family == AF_INET ? 4 : 16);
}

/* Big-endian, so that comparing keys bytewise orders numbers. */
static void key_number(struct summary_key *k, uint32_t v)
{
	k->b[0] = (uint8_t)(v >> 24);
	k->b[1] = (uint8_t)(v >> 16);
	k->b[2] = (uint8_t)(v >> 8);
	k->b[3] = (uint8_t)v;
}

static void key_name(struct summary_key *k, const char *s)
{
	size_t n = strlen(s);   /* state and interface names: at most 17 bytes */
	memcpy(k->b, s, n < sizeof(k->b) ? n : sizeof(k->b) - 1);
}

static const struct addr_owner *owner_of(const struct summary *s, uint8_t family, const uint8_t *addr)
{
	struct summary_key k = { 0 };
	key_addr(&k, family, addr);
	return g_hash_table_lookup(s->owners, &k);
}

/* The interface of the first of the four addresses that one holds or held. */
static const char *interface_of(const struct summary *s, const struct ct_record *r)
{
	const uint8_t *addrs[] = { r->t[CT_ORIG].src, r->t[CT_ORIG].dst,
				   r->t[CT_REPLY].src, r->t[CT_REPLY].dst };
	if (!s->owners)
		return "";
	for (size_t i = 0; i < G_N_ELEMENTS(addrs); i++) {
		const struct addr_owner *o = owner_of(s, r->family, addrs[i]);
		if (o)
			return o->ifname;
	}
	return "";
}

static void make_key(const struct summary *s, const struct ct_record *r, struct summary_key *k)
{
	const char *name;

	memset(k, 0, sizeof(*k));
	switch (s->by) {
	case BY_SRC:       key_addr(k, r->family, r->t[CT_ORIG].src); break;
	case BY_DST:       key_addr(k, r->family, r->t[CT_ORIG].dst); break;
	case BY_REPLY_SRC: key_addr(k, r->family, r->t[CT_REPLY].src); break;
	case BY_REPLY_DST: key_addr(k, r->family, r->t[CT_REPLY].dst); break;
	case BY_SPORT:     key_number(k, r->t[CT_ORIG].sport); break;
	case BY_DPORT:     key_number(k, r->t[CT_ORIG].dport); break;
	case BY_PROTOCOL:  key_number(k, r->proto); break;
	case BY_FAMILY:    key_number(k, r->family); break;
	case BY_MARK:      key_number(k, r->mark); break;
	case BY_ZONE:      key_number(k, r->zone); break;
	case BY_STATE:
		/* By name: TCP's and SCTP's ESTABLISHED are one group, as their text is one. */
		name = (r->flags & CT_HAS_STATE) ? ct_state_name(r->proto, r->state) : NULL;
		key_name(k, name ? name : "");
		break;
	case BY_NAT_ADDRESS:
		/* The translated address; a record with both kinds counts under its SNAT one. */
		if (r->status & IPS_SRC_NAT)
			key_addr(k, r->family, r->t[CT_REPLY].dst);
		else if (r->status & IPS_DST_NAT)
			key_addr(k, r->family, r->t[CT_REPLY].src);
		break;
	case BY_INTERFACE:
		key_name(k, interface_of(s, r));
		break;
	}
}

void summary_init(struct summary *s, enum summary_by by, size_t max_groups, GArray *owners)
{
	*s = (struct summary){ .by = by, .max_groups = max_groups, .owner_list = owners };
	s->other.other = true;
	s->groups = g_hash_table_new_full(key_hash, key_equal, NULL, g_free);
	if (by != BY_INTERFACE || !owners)
		return;
	s->owners = g_hash_table_new_full(key_hash, key_equal, g_free, NULL);
	for (guint i = 0; i < owners->len; i++) {
		struct addr_owner *o = &g_array_index(owners, struct addr_owner, i);
		struct summary_key *k = g_new0(struct summary_key, 1);
		key_addr(k, o->family, o->addr);
		if (g_hash_table_contains(s->owners, k))
			g_free(k);   /* listed before: that holder wins */
		else
			g_hash_table_insert(s->owners, k, o);
	}
}

int summary_add(struct summary *s, const struct ct_record *r)
{
	struct summary_group *g;
	struct summary_key k;

	make_key(s, r, &k);
	g = g_hash_table_lookup(s->groups, &k);
	if (!g) {
		if (g_hash_table_size(s->groups) >= s->max_groups)
			g = &s->other;
		else {
			g = g_try_new0(struct summary_group, 1);
			if (!g)
				return -ENOMEM;
			g->key = k;
			g_hash_table_insert(s->groups, &g->key, g);
		}
	}
	s->total++;
	g->connections++;
	g->packets += r->packets[CT_ORIG] + r->packets[CT_REPLY];
	g->bytes += r->bytes[CT_ORIG] + r->bytes[CT_REPLY];
	return 0;
}

static uint64_t metric(const struct summary_group *g, enum summary_sort sort)
{
	switch (sort) {
	case SUMMARY_BYTES:   return g->bytes;
	case SUMMARY_PACKETS: return g->packets;
	default:              return g->connections;
	}
}

static int cmp_u64_desc(uint64_t a, uint64_t b)
{
	return a > b ? -1 : a < b;
}

static int group_cmp(const void *pa, const void *pb, void *userdata)
{
	const struct summary_group *a = *(struct summary_group *const *)pa;
	const struct summary_group *b = *(struct summary_group *const *)pb;
	enum summary_sort sort = *(const enum summary_sort *)userdata;
	int c;

	if ((c = cmp_u64_desc(metric(a, sort), metric(b, sort))) != 0 ||
	    (c = cmp_u64_desc(a->connections, b->connections)) != 0)
		return c;
	if (a->other != b->other)
		return a->other ? 1 : -1;
	return memcmp(&a->key, &b->key, sizeof(a->key));
}

struct summary_group **summary_sorted(const struct summary *s, enum summary_sort sort, size_t *n)
{
	struct summary_group **out = g_new(struct summary_group *, g_hash_table_size(s->groups) + 1);
	GHashTableIter it;
	gpointer value;
	size_t i = 0;

	g_hash_table_iter_init(&it, s->groups);
	while (g_hash_table_iter_next(&it, NULL, &value))
		out[i++] = value;
	if (s->other.connections > 0)
		out[i++] = (struct summary_group *)&s->other;
	g_qsort_with_data(out, (gint)i, sizeof(*out), group_cmp, &sort);
	*n = i;
	return out;
}

static uint32_t key_u32(const struct summary_key *k)
{
	return (uint32_t)k->b[0] << 24 | (uint32_t)k->b[1] << 16 | (uint32_t)k->b[2] << 8 | k->b[3];
}

const char *summary_key_text(const struct summary *s, const struct summary_group *g,
			     char buf[SUMMARY_KEY_MAX])
{
	char proto[4];

	if (g->other)
		return SUMMARY_OTHER_KEY;
	switch (s->by) {
	case BY_SRC: case BY_DST: case BY_REPLY_SRC: case BY_REPLY_DST: case BY_NAT_ADDRESS:
		if (g->key.family == 0)
			return "";   /* nat-address of an entry without NAT */
		return ct_addr_str(g->key.family, g->key.b, buf);
	case BY_PROTOCOL:
		snprintf(buf, SUMMARY_KEY_MAX, "%s", ct_proto_name((uint8_t)key_u32(&g->key), proto));
		return buf;
	case BY_FAMILY:
		return ct_family_name((uint8_t)key_u32(&g->key));
	case BY_STATE: case BY_INTERFACE:
		snprintf(buf, SUMMARY_KEY_MAX, "%s", (const char *)g->key.b);
		return buf;
	default:
		snprintf(buf, SUMMARY_KEY_MAX, "%" PRIu32, key_u32(&g->key));
		return buf;
	}
}

void summary_free(struct summary *s)
{
	if (s->groups)
		g_hash_table_destroy(s->groups);
	if (s->owners)
		g_hash_table_destroy(s->owners);
	if (s->owner_list)
		g_array_unref(s->owner_list);
	s->groups = s->owners = NULL;
	s->owner_list = NULL;
}
