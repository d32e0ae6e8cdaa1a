/* What Export's memfds hold in memory, per user, until their readers close
 * them. A sealed memfd lives as long as any process holds it; the service
 * learns that the last holder closed it from inotify (IN_IGNORED: the inode
 * went) and only then stops charging its bytes to the user who asked. So no
 * user can make the service hold more than the budget by exporting again
 * and again and keeping the descriptors. */
#pragma once
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

struct export_budget;

/* per_user: what one user's open exports may hold; all users but self
 * together may hold twice that (self, the service's uid, has its own). */
int export_budget_new(sd_event *e, uint64_t per_user, uid_t self, struct export_budget **ret);
void export_budget_free(struct export_budget *b);
/* 0 when uid may hold `more` bytes on top of what its open exports hold;
 * else -ENOBUFS with error set to LimitsExceeded saying so. */
int export_budget_check(struct export_budget *b, uid_t uid, uint64_t more, sd_bus_error *error);
/* Charges the memfd's bytes to uid until every holder has closed it. */
int export_budget_hold(struct export_budget *b, uid_t uid, int fd, uint64_t bytes);
