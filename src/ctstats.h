/* Table-wide figures: entry count and limit, per-CPU counters, sysctls.
 * Small synchronous netlink requests: no table walk, answered at once. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

/* Entries now and the table's limit (IPCTNL_MSG_CT_GET_STATS). */
int ct_count(uint32_t *count, uint32_t *max);

#define CT_CPU_STATS 10
extern const char *const ct_cpu_stat_names[CT_CPU_STATS];
/* The kernel's per-CPU counters summed over CPUs (IPCTNL_MSG_CT_GET_STATS_CPU). */
int ct_cpu_stats(uint64_t sums[CT_CPU_STATS]);

/* An nf_conntrack_* sysctl of this network namespace, e.g. "nf_conntrack_acct". */
int ct_sysctl(const char *name, uint64_t *value);
