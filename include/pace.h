/* pace.h: the wake-ups a second paced readers may spend (child.c). */
#ifndef CHATD_PACE_H
#define CHATD_PACE_H

#include <stdint.h>

/*
 * The budget lives in the segment (shm_header.pace_budget): every reader
 * of a busy room divides it by the room's members to get its interval.
 * The master moves it between these bounds by how busy the CPUs are.
 */
#define PACE_BUDGET_START	40000
/*
 * The floor is for slow hosts.  On one where a wake-up of a child among
 * a thousand cost some 90 us (a VM with no PCID, whose context switches
 * among 1000 processes cost 50 us each, measured), 20,000 wake-ups a
 * second already kept both CPUs 98% busy, and a room of 1000 at 200
 * lines/s had p99 400-570 ms (5 runs); with the floor at 5,000 the
 * budget settled near 8,000-11,000 and p99 was 127-185 ms.  A room of
 * 100 at the floor pulls every 20 ms, a room of 10 every 2 ms.
 */
#define PACE_BUDGET_MIN		5000
#define PACE_BUDGET_MAX		80000

struct pace_sample {
	uint64_t	 busy;		/* clock ticks, all CPUs */
	uint64_t	 total;
	uint64_t	 pulls;		/* shm->paced_pulls */
	uint64_t	 lines;		/* shm->paced_lines */
};

/* /proc/stat, kept open; -1 (said once) if it cannot be read. */
int	 pace_open(void);
/* After pace_sample failed: say so, close it; returns -1, the new fd. */
int	 pace_close(int fd);
/* The CPUs' times and the segment's pace counters; -1: unreadable. */
int	 pace_sample(int fd, struct pace_sample *);
/* The next budget, from the last one and what passed between samples. */
uint32_t pace_next_budget(uint32_t budget, const struct pace_sample *was,
	    const struct pace_sample *now, int *busy_percent);

#endif
