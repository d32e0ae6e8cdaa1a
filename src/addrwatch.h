/* Which addresses each interface holds now and has held since the service
 * started, followed through rtnetlink and kept in a state file (in the
 * runtime directory) so that a restart of the service keeps the history.
 * This is what the 'interface' and 'stale' filter keys match against. */
#pragma once
#include <glib.h>
#include <systemd/sd-event.h>

struct addrwatch;

/* How long the history keeps an address nobody holds any more, and how many
 * such addresses it keeps at most (the longest-lost go first); 0: no bound. */
struct addrwatch_config {
	uint64_t max_age_sec;
	unsigned max_lost;
};

int addrwatch_new(sd_event *e, const char *state_file, const struct addrwatch_config *cfg,
		  struct addrwatch **ret);
void addrwatch_free(struct addrwatch *w);

/* Appends (as struct addr_prefix) every address the interface holds or has
 * held, but for those it lost that another interface holds now (a floating
 * address that moved); -ENOENT when the interface was never seen. */
int addrwatch_interface(void *w, const char *ifname, GArray *out);
/* Appends (as struct addr_owner) every address held now with its interface,
 * then those no longer held, the one that held an address last first. */
int addrwatch_owners(void *w, GArray *out);
/* Appends every address held since start that no interface holds now. */
int addrwatch_stale(void *w, GArray *out);
