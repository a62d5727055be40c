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
 * Three floors.  A big room's readers may go down to PACE_BUDGET_MIN: where
 * a paced reader's wake-up cost some 90 us, 20,000 a second kept both
 * CPUs 97-98% busy on the floor alone; a room of 1000 at 200 lines/s had
 * p99 480-590 ms (190-220 ms with a floor of 5,000, alternating runs),
 * and 6,000 clients joining main got in at 10 a second.  A room of at
 * most PACE_SMALL_ROOM keeps PACE_BUDGET_SMALL as its floor (child.c,
 * pace_interval): its interval is never longer than it was when that was
 * everyone's floor.  A flooded room of 10 (fan-out C=10, S=10, W=8) fills
 * its ring of 1024 in 10-15 ms, and with the single floor at 5,000 it lost
 * lines in some 5 runs of 20, against 1 of 31 at 20,000.
 *
 * A room of more than PACE_BIG_ROOM may go down to PACE_BUDGET_HUGE: a
 * wake-up's price grows with the number of processes, and on a slow host
 * one of 8,000 cost 200-300 us, while the host's page-access monitor
 * (kdamond) took a whole CPU walking the pages they all map.  There,
 * 5,000 wake-ups a second were more than the CPUs had, and 10,000
 * clients joining main at 250 a second did not all get in within 600 s
 * (8,443 and 8,528 did).
 */
#define PACE_BUDGET_MIN		5000	/* a room of 1000: 200 ms at most */
#define PACE_BUDGET_SMALL	20000	/* a room of 100: 5 ms at most */
#define PACE_BUDGET_HUGE	2000	/* a room of 10,000: 5 s at most */
#define PACE_SMALL_ROOM		100
#define PACE_BIG_ROOM		1000
#define PACE_BUDGET_MAX		80000

struct pace_sample {
	uint64_t	 busy;		/* clock ticks, all CPUs */
	uint64_t	 total;
	uint64_t	 pulls;		/* shm->paced_pulls */
	uint64_t	 big;		/* shm->paced_big */
	uint64_t	 lines;		/* shm->paced_lines */
};

/* /proc/stat, kept open; -1 (said once) if it cannot be read. */
int	 pace_open(void);
/* After pace_sample failed: say so, close it; returns -1, the new fd. */
int	 pace_close(int fd);
/* The CPUs' times and the segment's pace counters; -1: unreadable. */
int	 pace_sample(int fd, struct pace_sample *);
/*
 * The next budget, from the last one and what passed between samples;
 * how busy the CPUs were and the lines a pull carried, as it judged them.
 */
uint32_t pace_next_budget(uint32_t budget, const struct pace_sample *was,
	    const struct pace_sample *now, int *busy_percent,
	    uint64_t *lines_per_pull);

#endif
