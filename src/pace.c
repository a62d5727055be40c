/*
 * pace.c: how many wake-ups a second the machine affords paced readers.
 *
 * A busy room's readers pull on a timer, not on every line (child.c,
 * DESIGN.md Fan-out), and what that costs is wake-ups: some 25 us of CPU
 * each on this machine kind, on a good day, and twice that when the host
 * is busy (measured: the same 40,000 a second took 50% of both CPUs one
 * day and 90% on another).  A fixed budget is then either slow on the
 * good day or, on the bad one, a machine so busy that every delivery is
 * late (a room of 1000 at 200 lines/s: p99 25 ms, then 200 to 600 ms;
 * with 30,000 on the bad day, 34 to 45 ms).
 *
 * So the master watches how busy the CPUs are, while anyone is paced,
 * and moves the budget: down quickly when they are nearly full, since
 * there everyone waits (the readers, their clients, the rest of the
 * machine), up slowly while there is room, and not at all in between.
 * Everything on the machine counts, not only chatd: a machine busy with
 * something else affords fewer wake-ups too.  A room nobody paces (a
 * quiet one) is woken by its doorbell and does not care.
 *
 * Down only while a wake-up carries few lines, though.  Then it is
 * nearly all overhead, and fewer of them free the CPUs.  A wake-up that
 * carries dozens (a room of senders that go as fast as their echoes
 * come back) is mostly work: fewer of them would not make the CPUs less
 * busy, only each round trip longer and the room slower (measured: a
 * room of 1000 from 3.0 to 2.0 million lines/s at 25,000).  Such a room
 * brings the budget back up to where it started.
 *
 * Not in a room of more than PACE_BIG_ROOM, though: its pulls and lines
 * are left out of the lines a wake-up carries (child.c, timed_pull).
 * There those grow with the interval, which is long because the room
 * is, not because its senders are clocked by it, and a wake-up of one of
 * thousands of processes costs far more than its lines (200-300 us on a
 * slow host, measured).  Such a room is paced by how busy the
 * CPUs are alone.  10,000 clients joining main at 250 a second (each
 * arrival a line to everyone) carried 30-200 lines a pull on that host
 * while thousands of readers waited for a CPU; counted, they held the
 * budget at 4,000-20,000, and 8,500 got in within 600 s.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "pace.h"
#include "shm.h"

#define BUSY_LOW	65	/* percent of the CPUs: under, spend more */
#define BUSY_HIGH	75	/* at or over, spend less */
#define BUSY_FULL	85	/* and much less */
#define LINES_FEW	16	/* a timed pull: no more is overhead */
#define LINES_MANY	32	/* at least this many is work */

static void
unpaced(const char *failed)
{
	log_warnx("%s; paced readers keep a budget of %u wake-ups a second",
	    failed, (unsigned)atomic_load(&shm->pace_budget));
}

int
pace_open(void)
{
	char	 failed[128];
	int	 fd;

	if ((fd = open("/proc/stat", O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(failed, sizeof(failed), "cannot open /proc/stat: %s",
		    strerror(errno));
		unpaced(failed);
	}
	return fd;
}

int
pace_close(int fd)
{
	unpaced("cannot read /proc/stat");
	if (close(fd) == -1)
		log_warn("close /proc/stat");
	return -1;
}

/* The first line: "cpu  user nice system idle iowait irq softirq steal" */
int
pace_sample(int fd, struct pace_sample *s)
{
	char		 buf[256], *p, *end;
	uint64_t	 v[8];
	ssize_t		 n;
	int		 i;

	s->pulls = atomic_load(&shm->paced_pulls);
	s->big = atomic_load(&shm->paced_big);
	s->lines = atomic_load(&shm->paced_lines);
	if ((n = pread(fd, buf, sizeof(buf) - 1, 0)) <= 0)
		return -1;
	buf[n] = '\0';
	if (strncmp(buf, "cpu ", 4) != 0)
		return -1;
	p = buf + 4;
	for (i = 0; i < 8; i++) {
		errno = 0;
		v[i] = strtoull(p, &end, 10);
		if (end == p || errno != 0)
			return -1;
		p = end;
	}
	s->total = 0;
	for (i = 0; i < 8; i++)
		s->total += v[i];
	s->busy = s->total - v[3] - v[4];	/* less idle and iowait */
	return 0;
}

uint32_t
pace_next_budget(uint32_t budget, const struct pace_sample *was,
    const struct pace_sample *now, int *busy_percent,
    uint64_t *lines_per_pull)
{
	uint64_t	 b = budget, busy, total, pulls, big, per_pull = 0;
	uint64_t	 floor;

	*busy_percent = -1;
	*lines_per_pull = 0;
	if (now->total <= was->total || now->busy < was->busy ||
	    now->pulls <= was->pulls)
		return budget;
	busy = now->busy - was->busy;
	total = now->total - was->total;
	busy = (busy > total ? total : busy) * 100 / total;
	*busy_percent = (int)busy;
	/* the lines a wake-up carries, big rooms' left out (see above) */
	big = now->big - was->big;
	pulls = now->pulls - was->pulls - big;
	if (pulls > 0)
		per_pull = (now->lines - was->lines) / pulls;
	*lines_per_pull = per_pull;

	if (busy < BUSY_LOW)
		b = b * 17 / 16;
	else if (per_pull >= LINES_MANY && b < PACE_BUDGET_START)
		b = b * 9 / 8 > PACE_BUDGET_START ? PACE_BUDGET_START :
		    b * 9 / 8;
	else if (per_pull < LINES_FEW && busy >= BUSY_FULL)
		b = b * 3 / 4;
	else if (per_pull < LINES_FEW && busy >= BUSY_HIGH)
		b = b * 7 / 8;
	/* the lowest floor only while a room that may go there is paced */
	floor = big > 0 ? PACE_BUDGET_HUGE : PACE_BUDGET_MIN;
	if (b < floor)
		b = floor;
	if (b > PACE_BUDGET_MAX)
		b = PACE_BUDGET_MAX;
	return (uint32_t)b;
}
