/*
 * child.c: a pool child.  Idle, it waits on the shared hand-off socket
 * for a connection from the master; busy, it serves that one connection
 * in an epoll loop over two descriptors: the client's socket and its
 * room's doorbell.  Then it says READY and waits again, or exits after
 * MaxConnectionsPerChild connections, or when the master is gone.
 *
 * Output goes through one fixed buffer, written with one write() per
 * wake-up.  Its size bounds everything: a command is taken from the
 * input only when the buffer is empty, and a command adds at most the
 * lines of one ring (its own catch-up) and one reply, so it always fits;
 * /join adds the few its old room got while it took the lock, and should
 * they ever not fit, they are counted in a "dropped" line.
 * A client that does not read stops its own input and its ring pulls;
 * nothing is queued for it anywhere else, and others never wait for it.
 */
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "cmd.h"
#include "identity.h"
#include "log.h"
#include "master.h"
#include "names.h"
#include "pace.h"
#include "peer.h"
#include "proto.h"
#include "room.h"

enum tag { TAG_CLIENT, TAG_DOORBELL, TAG_MASTER, TAG_HANDOFF, TAG_JANITOR };

#define PULL_LOW	(16 * 1024)	/* pull the ring while less is pending */
#define PULL_CHUNK	(64 * 1024)	/* and this much at a time */
#define NOTICE_SPACE	128		/* kept free for a dropped/shutdown line */
#define LINGER_MS	2000		/* to flush the last lines on close */

/*
 * Pacing (DESIGN.md, Fan-out): wake-ups are what a busy room costs.  A
 * reader that just delivered lines does not arm the doorbell: it pulls
 * again only after a short while, and then whatever came meanwhile goes
 * out in one write.  The while is the room's share of the wake-ups the
 * machine can afford, shm->pace_budget a second shared by its members.  A
 * sender's own lines come back on the same schedule, so a busy room
 * clocks its senders to its readers instead of letting them run ahead
 * until the ring overflows.  A timed pull that finds nothing arms the
 * doorbell again (in a room of more than PACE_SMALL, once the last lines
 * are two intervals old), so a quiet room is woken at once by its next
 * line.
 *
 * The budget, measured on 2 vCPUs: one wake-up of each of 1000 processes
 * blocked on one FIFO costs some 16 us of CPU, 28 us with a small TCP
 * write each (8.5 and 14 us with 100 processes).  40,000 a second is then
 * about one CPU, the other left to the rest; 66,666 (15 us a member)
 * saturated both and let a room of 1000 fall behind.  With the herd in
 * phases (pace_next), 60,000 took a room of 1000 at 200 lines/s to p99
 * 18 ms, but host noise tipped it over in one run of two or three.  What
 * a wake-up costs changes with the host from day to day, so the master
 * moves the budget by how busy the CPUs are (pace.c).
 */
#define PACE_MIN_NS	20000L
#define PACE_SMALL	32		/* members: a lone line does not pace */
#define PACE_MAX_STRETCH 16
/*
 * Long enough that the budget decides, not this, up to MaxClients'
 * default: 10,000 in one room at the lowest floor of 2,000 a second
 * (beyond it, up to 50,000, this does).  Stretched, an interval goes to
 * twice this at most (pace_interval).  It was 250 ms, which let a room of
 * more than 1,250 spend more than the budget: 3,000 idle members of
 * main, paced by the joins, asked 12,000 wake-ups a second where one
 * cost over 100 us, and a thousand readers waited for the CPUs at once.
 * Joining 3,000 into main at 250 a second took 220 s and more than 300 s
 * then, 88-93 s with a cap of 2 s (a slow host, runs alternating).
 */
#define PACE_MAX_NS	5000000000L
#define PACE_HERD	64		/* members woken at one instant, at most */
#define PACE_PHASES	16		/* instants in an interval, at most */

static const struct config	*conf;
static const struct child_fds	*fds;
static struct session		 sess;
static struct input		 in;
static char			*inbuf, *out, *scratch;
static size_t			 in_cap, out_cap, scratch_cap;
static size_t			 out_off, out_len;	/* pending: [off, len) */
static size_t			 out_peak;		/* this session's most */
static int			 session_ep = -1, idle_ep = -1;
static int			 unwatched;	/* chatd -i: no master */
static int			 master_gone;
static sigset_t			 waitmask;	/* TERM, INT, HUP let through */
static volatile sig_atomic_t	 terminate;
static volatile sig_atomic_t	 reload;	/* SIGHUP: the config changed */
static int64_t			 handoff_leave_at; /* busy and still on the
						    hand-off queue: leave
						    then; see watch_handoff */
static void			 handoff_leave(void);
static void			 session_over(void);

/*
 * Limits on one session (chatd.conf: MaxLinesPerSecond, LineBurst,
 * IdleTimeout, SendTimeout), CLOCK_MONOTONIC ns.
 *
 * Lines are metered by a token bucket kept as the time it is full again
 * (GCRA: no refill arithmetic, no floating point).  A line over the
 * limit is not dropped and not queued anywhere new: it waits in the
 * fixed input buffer, which stops reading the socket once it is full, so
 * TCP makes the sender wait (ircd's "fake lag").  Nothing a client sends
 * is lost, a paste arrives at the limit's pace, and output goes on while
 * input waits.  The sender is told once, then again only after it let
 * the bucket fill up.
 */
static int64_t			 line_cost;	/* ns a line costs; 0: no limit */
static int64_t			 burst_span;	/* (LineBurst - 1) * line_cost */
static int64_t			 bucket_full_at; /* when it is full again */
static int			 told_too_fast;
static int64_t			 throttled_until; /* 0: not waiting */
static int64_t			 last_line;	/* for IdleTimeout */
static int64_t			 out_since;	/* nothing waited, or the
						   client took some */
static int			 out_moved;	/* a write took bytes */
static uint64_t			 sock_sent;	/* bytes the socket took */
static uint64_t			 sock_taken;	/* the client's, last look */
static int64_t			 sock_looked;	/* then */
static int			 sock_waiting;	/* some were still in it */
static int			 sock_blind;	/* SIOCOUTQ does not answer */

static void
on_terminate(int sig)
{
	(void)sig;
	terminate = 1;
}

/* Our copy of the configuration is old: go when no session is lost. */
static void
on_reload(int sig)
{
	(void)sig;
	reload = 1;
}

/*
 * Sized from the configuration and mapped once by the master, before it
 * forks and before the segment: a page costs a child only once it
 * touches it, and the first ones, which every session touches, share a
 * page-table page with the program's .bss (map_placed).
 */
void
child_buffers_init(const struct config *c)
{
	size_t	 reply, users, rooms, in_size;
	char	*p;

	users = 16 + (size_t)c->max_clients * (NAME_MAX_LEN + 2);
	rooms = 16 + (size_t)c->max_rooms * (NAME_MAX_LEN + 16);
	reply = c->max_line_length + 64;
	if (users > reply)
		reply = users;
	if (rooms > reply)
		reply = rooms;
	in_cap = c->max_line_length + 4096;
	out_cap = reply + (size_t)c->ring_size * (c->max_line_length +
	    3 * NAME_SIZE) + PULL_CHUNK + 4 * NOTICE_SPACE;
	scratch_cap = (size_t)c->max_clients * NAME_SIZE;
	if ((size_t)c->max_rooms * (NAME_SIZE + 8) > scratch_cap)
		scratch_cap = (size_t)c->max_rooms * (NAME_SIZE + 8);
	/* +1: cmd_line may end a line with a NUL; pages for madvise */
	in_size = (in_cap + 1 + 4095) & ~(size_t)4095;
	out_cap = (out_cap + 4095) & ~(size_t)4095;
	p = map_placed(in_size + out_cap + scratch_cap, 0,
	    PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
	    -1);
	if (p == MAP_FAILED)
		fatal("cannot map %zu bytes of session buffers",
		    in_size + out_cap + scratch_cap);
	inbuf = p;
	out = p + in_size;
	scratch = out + out_cap;
}

/* Output */

/*
 * A write(2) to a TCP socket copies into a page fragment the writing
 * process keeps for its next one: 32 KiB (one order-3 page) from the
 * first write to the process's exit, whether or not anything is in
 * flight.  With a process per connection that was a fifth of what an
 * idle connection cost (152 -> 123 KiB at 3,000, MemAvailable,
 * measured), and no socket option releases it.  splice(2) from a pipe
 * hands the pipe's own pages to the socket instead, and they are freed
 * once the client's kernel has them.  So output of a few pages or less,
 * a chat's usual, goes through the pipe, a page at a time.  That is two
 * more system calls a page (the check in out_pipe_use and the pipe),
 * which a busy connection feels (fan-out at C=10 lost a third of its
 * rate, measured), so bigger output, or the SPLICE_RATE'th page in a
 * second, is a plain write, and the process stays with plain writes for
 * good: it holds the fragment from then on anyway.  Not output of over
 * one page, as at first: a paced member of a big room pulls seconds of
 * lines at once, and joining 10,000 into main at 250 a second, whose
 * members pull every 2-5 s, sent nine in ten of them over to plain
 * writes (4,129 of 4,478 children at 4,000 held); held, they cost 146
 * KiB a connection, and 114 with these pulls piped (MemAvailable, one
 * run each, same host).
 *
 * A paced member of a big room goes over sooner, at SPLICE_RATE_PACED:
 * in a room of 1000 at 200 lines/s it writes 30-50 times a second, and
 * the pipe's two calls a write cost 12% of chatd's CPU (measured), which
 * the budget is better spent on.  Not at once: 10,000 idle members of
 * main, paced by the joins of the others, write a few times a second,
 * and their fragments cost 13 KiB a connection (MemAvailable, measured).
 * Such a process exits after its session, and its fragment goes with
 * it, so the idle connections after a busy room do not pay for it.
 * (Not one that went over by SPLICE_RATE: that is also a child serving
 * many short sessions a second, and a fork for each of them cost churn
 * a fifth of its rate, measured.)  Piped bytes go out before any later
 * write.
 */
#define SPLICE_MAX	4096	/* one pipe page: each write fills it at most */
#define SPLICE_RATE	100	/* pages a second that end the piping */
#define SPLICE_RATE_PACED 20	/* for a paced member of a big room */

static int	 out_pipe[2] = { -1, -1 };	/* -1: plain writes */
static size_t	 out_piped;	/* in the pipe, not yet in the socket */
static int	 piped_writes;	/* since piped_since */
static int64_t	 piped_since;
static int	 piped_unacked;	/* pages piped since SIOCOUTQ read 0 */
static int	 big_room_paced;	/* paced in a big room: SPLICE_RATE_PACED */
static int	 plain_paced;	/* and so this process holds the fragment */

static int64_t	 now_ns(void);

/*
 * Whether the next page of output (of len bytes in all) goes through
 * the pipe; past the rate, none again.
 *
 * A piped page stays with the data until the client's kernel has it:
 * many small writes to a client that stopped reading would hold a page
 * each, where plain writes share one fragment.  So output is piped only
 * while the socket holds at most SPLICE_UNACKED such pages, counted
 * from the last time nothing was in it (SIOCOUTQ: unsent or
 * unacknowledged): a remote client holds 16 KiB at most, less than the
 * fragment a plain write would keep.  Piping only into an empty socket
 * was not enough: a write that finds the last one not yet taken (the
 * client busy, loopback's softirq not yet run) is common under load, and
 * with 10,000 idle connections the fragments of the children that had
 * gone over to plain writes on the way cost 11 KiB a connection (MemFree
 * less what meminfo counts: 12.6 KiB, and 1.7 with 4 KiB fragments,
 * net.core.high_order_alloc_disable=1); 3.3 with this rule.  A client
 * on loopback acknowledges as its kernel queues, read or not, so a local
 * one that stops reading can hold up to its receive window's worth of
 * pages (some 4 MiB) until SendTimeout; local users can take memory more
 * simply than that.
 */
#define SPLICE_UNACKED	4

static int
out_pipe_use(size_t len)
{
	int64_t	 now;
	int	 queued;

	if (out_pipe[1] == -1)
		return 0;
	if (len <= SPLICE_MAX * SPLICE_UNACKED &&
	    ioctl(sess.fd, SIOCOUTQ, &queued) == 0 &&
	    (queued == 0 ? (piped_unacked = 0) : piped_unacked) <
	    SPLICE_UNACKED) {
		piped_unacked++;
		if (++piped_writes < (big_room_paced ? SPLICE_RATE_PACED :
		    SPLICE_RATE))
			return 1;
		now = now_ns();
		if (now - piped_since >= 1000000000L) {
			piped_since = now;
			piped_writes = 0;
			return 1;
		}
	}
	close(out_pipe[0]);
	close(out_pipe[1]);
	out_pipe[0] = out_pipe[1] = -1;
	plain_paced = big_room_paced;
	return 0;
}

static void
out_pipe_open(void)
{
	piped_since = now_ns();
	if (pipe2(out_pipe, O_CLOEXEC | O_NONBLOCK) == -1) {
		log_warn("cannot make the output pipe; writing directly");
		out_pipe[0] = out_pipe[1] = -1;
		return;
	}
	/* one page holds a piped write: 1 KiB less slab than 16 (measured) */
	(void)fcntl(out_pipe[1], F_SETPIPE_SZ, SPLICE_MAX);
}

/* What a closed connection left in the pipe is not the next one's. */
static void
out_pipe_empty(void)
{
	char	 sink[256];

	while (out_piped > 0 && out_pipe[0] != -1 &&
	    read(out_pipe[0], sink, sizeof(sink)) > 0)
		;
	out_piped = 0;
	piped_unacked = 0;	/* the next socket holds none */
}

static size_t
out_pending(void)
{
	return out_len - out_off + out_piped;
}

static size_t
out_free(void)
{
	if (out_off == out_len)
		out_off = out_len = 0;
	else if (out_off > 0 && out_cap - out_len < out_cap / 2) {
		memmove(out, out + out_off, out_len - out_off);
		out_len -= out_off;
		out_off = 0;
	}
	return out_cap - out_len;
}

/* Appends text, and a '\n' if newline; it always fits (see the top). */
static void
out_vprintf(int newline, const char *fmt, va_list ap)
{
	size_t	 space = out_free();
	int	 n;

	if (space < 2)
		return;
	n = vsnprintf(out + out_len, space - 1, fmt, ap);
	if (n < 0)
		return;
	if ((size_t)n > space - 2)
		n = (int)(space - 2);
	out_len += (size_t)n;
	if (newline)
		out[out_len++] = '\n';
}

static void
out_printf(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	out_vprintf(1, fmt, ap);
	va_end(ap);
}

static void
out_cat(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	out_vprintf(0, fmt, ap);
	va_end(ap);
}

/* -1: the connection is broken; 0: the socket is full; 1: all written */
static int
out_flush(void)
{
	size_t	 chunk;
	ssize_t	 n;

	if (out_len > out_peak)
		out_peak = out_len;
	while (out_pending() > 0) {
		if (out_piped == 0 && out_pipe_use(out_len - out_off)) {
			/* a page at most into an empty pipe: all of it */
			chunk = out_len - out_off;
			if (chunk > SPLICE_MAX)
				chunk = SPLICE_MAX;
			if ((n = write(out_pipe[1], out + out_off, chunk)) == -1)
				return -1;
			out_off += (size_t)n;
			out_piped = (size_t)n;
		}
		if (out_piped > 0)
			n = splice(out_pipe[0], NULL, sess.fd, NULL, out_piped,
			    SPLICE_F_NONBLOCK);
		else
			n = write(sess.fd, out + out_off, out_len - out_off);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -1;
		}
		if (out_piped > 0)
			out_piped -= (size_t)n;
		else
			out_off += (size_t)n;
		sock_sent += (uint64_t)n;
		out_moved = 1;
	}
	return 1;
}

/*
 * Ring lines below end into the buffer, and the "dropped" line where
 * they were lost.
 */
static size_t
pull_into(uint64_t end, size_t space)
{
	return space <= NOTICE_SPACE ? 0 : room_pull(sess.room, &sess.cursor,
	    end, out + out_len, space - NOTICE_SPACE, &sess.dropped);
}

/*
 * Piped output leaves a page at a time (out_pipe_use), so it is pulled a
 * page at a time too, each written before the next: the buffer's first
 * page is then the only one a quiet child touches.  Pulled whole, the
 * seconds of joins a paced member of main gets at once touched two or
 * three pages more in each of 10,000 children.  Not while the global
 * lock is held (writes: 0): the socket's work would be done under it.
 */
static int
pull_to(uint64_t end, size_t limit, int writes)
{
	size_t	 space, page, n;
	int	 got = 0;

	while ((int64_t)(end - sess.cursor) > 0) {
		space = out_free();
		if (space > limit)
			space = limit;
		if (space <= NOTICE_SPACE)
			break;
		page = space;
		if (writes && out_pipe[1] != -1 && out_len < SPLICE_MAX &&
		    page > SPLICE_MAX - out_len)
			page = SPLICE_MAX - out_len;
		n = pull_into(end, page);
		if (n == 0 && sess.dropped == 0 && page < space) {
			if (out_pending() > 0 && out_flush() == 1)
				continue;	/* the page went: fill it again */
			n = pull_into(end, space);	/* cannot wait */
		}
		out_len += n;
		if (sess.dropped > 0) {
			out_printf("Server is very busy and dropped %llu "
			    "messages, sorry!", (unsigned long long)sess.dropped);
			sess.dropped = 0;
		} else if (n == 0)
			break;
		got = 1;
		limit -= n < limit ? n : limit;
	}
	return got;
}

/* Up to the room's head. */
static int
pull(size_t limit)
{
	return sess.room >= 0 && pull_to(room_head(sess.room), limit, 1);
}

/*
 * Everything the room had for us before a direct reply, so the client
 * sees the results of its lines in order.  It fits: see the top.  If it
 * ever did not, the rest is skipped and counted, never left behind.
 */
static void
catch_up_to(uint64_t end, int writes)
{
	pull_to(end, SIZE_MAX, writes);
	if ((int64_t)(end - sess.cursor) > 0) {
		sess.dropped += end - sess.cursor;
		sess.cursor = end;
		out_printf("Server is very busy and dropped %llu messages, "
		    "sorry!", (unsigned long long)sess.dropped);
		sess.dropped = 0;
	}
}

static void
catch_up(void)
{
	/* what our lines caused is below the head */
	if (sess.room >= 0)
		catch_up_to(room_head(sess.room), 1);
}

void
session_reply(struct session *s, const char *fmt, ...)
{
	va_list	 ap;

	(void)s;
	catch_up();
	va_start(ap, fmt);
	out_vprintf(1, fmt, ap);
	va_end(ap);
}

/*
 * Posts made under the global lock ring their rooms' doorbells only once
 * it is released (room.h says why); a command posts to two rooms at most,
 * the janitor to a few more.
 */
static int	 rings[8], nrings;

/*
 * Whether a post to room can have anyone to wake.  Every post comes from
 * a member, or (the janitor's "left") for one still counted, so a room of
 * one has nobody else: a user alone in a room, the common case when
 * sessions are short, saves a doorbell write and a spurious wake-up of
 * its own.  Read after the post's head (both seq_cst): a member joining
 * meanwhile either is counted here or starts reading after the post.
 */
static int
others_listen(int room)
{
	return atomic_load(&shm_room(room)->members) > 1;
}

static void
ring_later(int room)
{
	int	 i;

	if (!others_listen(room))
		return;
	for (i = 0; i < nrings; i++)
		if (rings[i] == room)
			return;
	if (nrings == (int)(sizeof(rings) / sizeof(rings[0])))
		room_ring(room);	/* full: ring now rather than never */
	else
		rings[nrings++] = room;
}

static void
ring_pending(void)
{
	while (nrings > 0)
		room_ring(rings[--nrings]);
}

/* The janitor: slots of children that died, freed under the lock. */

/* Returns the line's seq. */
static uint64_t
post_line(int room, const char *a, const char *b)
{
	struct iovec	 iov[2];
	uint64_t	 seq;

	iov[0].iov_base = (void *)a;
	iov[0].iov_len = strlen(a);
	iov[1].iov_base = (void *)b;
	iov[1].iov_len = strlen(b);
	seq = room_post(room, iov, 2);
	ring_later(room);
	return seq;
}

/* Global lock held: leave the room (telling it), free the name, the slot. */
static void
slot_release(int slot)
{
	struct client_slot	*s = shm_slot(slot);
	int			 room = s->room;

	/* told first, then unlinked: a janitor killed in between leaves the
	 * slot in its room, and the next sweep tells again (twice rather
	 * than never) */
	if (room >= 0) {
		if (shm_room(room)->members > 1)
			post_line(room, s->name, " left");
		room_remove_member(room, slot);
	}
	name_remove(slot);
	s->name[0] = '\0';
	if (s->flags & SLOT_UNWATCHED)
		shm->unwatched--;
	s->flags = 0;
	/* FREE before the pid goes: a death in between leaves a FREE slot
	 * that repair puts back on the free list, never an orphan */
	atomic_store(&s->state, SLOT_FREE);
	atomic_store(&s->pid, 0);
	s->next = shm->free_slot;
	shm->free_slot = slot;
}

static void
janitor_sweep(void)
{
	uint32_t		 i;
	struct client_slot	*s;

	if (atomic_exchange(&shm->dead_pending, 0) == 0)
		return;
	for (i = 0; i < shm->max_clients; i++) {
		s = shm_slot(i);
		if (atomic_load(&s->state) != SLOT_DEAD)
			continue;
		log_info("%s: freed after its process died", s->name);
		slot_release((int)i);
		atomic_fetch_add(&shm->janitor_frees, 1);
	}
}

static int64_t
now_ns(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * Global lock held.  Slots whose owners no master reaps (chatd -i) are
 * looked at now and then: an owner that died marks its slot dead here.
 */
#define UNWATCHED_CHECK_MS	200
#define UNWATCHED_TICK		5	/* s: chatd -i looks even when idle */

static void
check_unwatched(void)
{
	struct client_slot	*s;
	uint32_t		 i, expect, dead = 0;
	int64_t			 now;

	if (shm->unwatched == 0)
		return;
	now = now_ns() / 1000000;
	if (now - shm->swept_at < UNWATCHED_CHECK_MS)
		return;
	shm->swept_at = now;
	for (i = 0; i < shm->max_clients; i++) {
		s = shm_slot(i);
		expect = SLOT_ACTIVE;
		if ((s->flags & SLOT_UNWATCHED) && atomic_load(&s->state) ==
		    SLOT_ACTIVE && !shm_slot_alive(s) &&
		    atomic_compare_exchange_strong(&s->state, &expect,
		    SLOT_DEAD)) {
			atomic_fetch_add(&shm->dead_pending, 1);
			dead++;
		}
	}
	/* as the master does for its children: it may have died between
	 * posting lines and ringing for them */
	if (dead > 0)
		doorbells_ring_all();
}

void
state_lock(void)
{
	shm_lock();
	check_unwatched();
	janitor_sweep();
}

void
state_unlock(void)
{
	shm_unlock();
	ring_pending();
}

/* Commands' effects */

/*
 * A paced reader must not hear the doorbell: every watcher of a FIFO
 * wakes at every write to it, so one armed reader in a room of a
 * thousand would make each post wake all thousand, the paced ones too.
 * So a paced reader that hears a ring turns its watch off (events 0:
 * epoll skips it), and turns it back on just before it sleeps armed.
 * The doorbell is never emptied, so turning the watch on reports it
 * readable at once: that costs the next epoll wait an immediate return
 * and a look at the head, not a sleep.  The watch outlives a session
 * (the session epoll is not waited on between sessions), so the next
 * session that sleeps in the same room costs no system call.
 */
static int	 bell_watched = -1;	/* the doorbell fd in session_ep */
static int	 bell_room = -1;	/* whose it is */
static int	 bell_on;		/* and whether its ring wakes us */

static void
bell_watch(int op, int bell, int on)
{
	struct epoll_event	 ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = on ? EPOLLIN | EPOLLET : EPOLLET;
	ev.data.u32 = TAG_DOORBELL;
	if (epoll_ctl(session_ep, op, bell, &ev) == -1)
		fatal("cannot watch a room's doorbell");
	bell_on = on;
}

/*
 * Watches room's doorbell, and no other.  The old one is let go first:
 * room_doorbell() may close it to make room for the new one.
 */
static void
watch_doorbell(int room)
{
	if (room == bell_room)
		return;
	if (bell_watched != -1 &&
	    epoll_ctl(session_ep, EPOLL_CTL_DEL, bell_watched, NULL) == -1)
		fatal("cannot stop watching a doorbell");
	bell_watched = room_doorbell(room);
	bell_room = room;
	bell_watch(EPOLL_CTL_ADD, bell_watched, 1);
}

/*
 * The room's doorbell matters only once we sleep armed, so the watch
 * follows the room here, just before: a session that goes straight from
 * main to another room, or a room a paced reader never sleeps armed in,
 * costs no DEL and ADD.  Until then a ring of the room left can only wake
 * us for a look at the head.
 */
static void
bell_listen(int on)
{
	if (on && bell_room != sess.room)
		watch_doorbell(sess.room);
	else if (bell_on != on)
		bell_watch(EPOLL_CTL_MOD, bell_watched, on);
}

/*
 * Global lock held: into the room, from just after our "joined".  Not
 * from the head before it: what others said between the two was said
 * before we came, and the room heard it before "NAME joined".
 */
static void
enter_room(int room)
{
	room_add_member(room, sess.slot);
	sess.room = room;
	sess.cursor = post_line(room, sess.name, " joined") + 1;
}

void
session_join(struct session *s, const char *name)
{
	int	 room, old = s->room;

	catch_up();
	state_lock();
	room = room_find(name);
	if (room == old) {
		state_unlock();
		out_printf("You are in %s", name);
		return;
	}
	/* a user alone in a room frees it by leaving: that slot will do */
	if (room == -1 && shm->rooms_used >= shm->max_rooms &&
	    (old == ROOM_MAIN || shm_room(old)->members > 1)) {
		state_unlock();
		out_printf("Too many rooms, try again later");
		return;
	}
	/*
	 * As in slot_release: a death between the two still tells.  What
	 * the room got after the catch_up above and before "left" is still
	 * ours, and goes out before "You joined": a line of someone who has
	 * left since, or the janitor's "left" for a dead member.  Alone in
	 * it, under the lock, nobody can add to it: its head is the end.
	 */
	catch_up_to(shm_room(old)->members > 1 ?
	    post_line(old, s->name, " left") : room_head(old), 0);
	room_remove_member(old, s->slot);
	if (room == -1)
		room = room_create(name);
	enter_room(room);
	state_unlock();
	out_printf("You joined %s", name);
	log_debug("%s joined %s", s->name, name);
}

void
session_rename(struct session *s, const char *name)
{
	char	 old[NAME_SIZE], line[3 * NAME_SIZE];

	state_lock();
	if (name_lookup(name) != -1) {
		state_unlock();
		session_reply(s, "%s is already taken", name);
		return;
	}
	snprintf(old, sizeof(old), "%s", s->name);
	name_remove(s->slot);
	snprintf(shm_slot(s->slot)->name, NAME_SIZE, "%s", name);
	name_insert(s->slot);
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(line, sizeof(line), "%s is now %s", old, name);
	post_line(s->room, line, "");
	state_unlock();
	log_debug("%s is now %s", old, name);
}

void
session_say(struct session *s, const char *text, size_t len)
{
	struct iovec	 iov[3];

	iov[0].iov_base = s->name;
	iov[0].iov_len = strlen(s->name);
	iov[1].iov_base = (void *)": ";
	iov[1].iov_len = 2;
	iov[2].iov_base = (void *)text;
	iov[2].iov_len = len;
	room_post(s->room, iov, 3);
	if (others_listen(s->room))
		room_ring(s->room);
	atomic_fetch_add_explicit(&shm->lines, 1, memory_order_relaxed);
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* "Users - a, b, c": the names copied under the lock, sorted outside. */
void
session_list_users(struct session *s)
{
	size_t	 n = 0, i;
	int	 slot;

	state_lock();
	for (slot = shm_room(s->room)->first; slot != -1 &&
	    (n + 1) * NAME_SIZE <= scratch_cap; slot = shm_slot(slot)->next)
		memcpy(scratch + n++ * NAME_SIZE, shm_slot(slot)->name,
		    NAME_SIZE);
	state_unlock();
	qsort(scratch, n, NAME_SIZE, by_name);
	catch_up();
	out_cat("Users - ");
	for (i = 0; i < n; i++)
		out_cat("%s%s", i > 0 ? ", " : "", scratch + i * NAME_SIZE);
	out_printf("%s", "");
}

struct room_count {
	char	 name[NAME_SIZE];
	int32_t	 members;
	int32_t	 pad;
};

static int
by_members_then_name(const void *a, const void *b)
{
	const struct room_count	*x = a, *y = b;

	if (x->members != y->members)
		return x->members > y->members ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* "Rooms - main (3), pizza (1)": by members, then by name. */
void
session_list_rooms(struct session *s)
{
	struct room_count	*rooms = (struct room_count *)(void *)scratch;
	struct room		*r;
	size_t			 n = 0, i;
	uint32_t		 k;

	(void)s;
	state_lock();
	for (k = 0; k < shm->max_rooms; k++) {
		r = shm_room(k);
		if (r->members == 0)
			continue;
		memcpy(rooms[n].name, r->name, NAME_SIZE);
		rooms[n++].members = r->members;
	}
	state_unlock();
	qsort(rooms, n, sizeof(*rooms), by_members_then_name);
	catch_up();
	out_cat("Rooms - ");
	for (i = 0; i < n; i++)
		out_cat("%s%s (%d)", i > 0 ? ", " : "", rooms[i].name,
		    (int)rooms[i].members);
	out_printf("%s", "");
}

/* A session */

static void
set_title(const char *title)
{
	prctl(PR_SET_NAME, title, 0, 0, 0);
}

/* The client's address, asked once a session; family 0 if unknown. */
static struct sockaddr_storage	 peer;

static void
peer_lookup(int fd)
{
	socklen_t	 len = sizeof(peer);

	if (getpeername(fd, (struct sockaddr *)&peer, &len) == -1)
		peer.ss_family = 0;
}

static void
peer_address(char *buf, size_t size)
{
	const struct sockaddr_storage	*ss = &peer;
	char				 host[INET6_ADDRSTRLEN];
	int				 port = 0;

	snprintf(buf, size, "unknown");
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)ss;
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		port = ntohs(sin->sin_port);
		snprintf(buf, size, "%s:%d", host, port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)ss;
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		port = ntohs(sin6->sin6_port);
		snprintf(buf, size, "[%s]:%d", host, port);
	}
}

static int
session_start(int fd)
{
	struct client_slot	*slot;
	struct epoll_event	 ev;
	char			 from[64];

	memset(&sess, 0, sizeof(sess));
	sess.fd = fd;
	sess.room = -1;
	peer_lookup(fd);
	out_off = out_len = 0;
	input_init(&in, inbuf, in_cap, conf->max_line_length);
	/* non-blocking and TCP_NODELAY already: the master's accept4 and
	 * the listening socket (whose options accepted sockets inherit) */

	state_lock();
	if ((sess.slot = shm->free_slot) == -1) {
		state_unlock();
		out_printf("Server is full, try again later");
		return -1;
	}
	slot = shm_slot(sess.slot);
	shm->free_slot = slot->next;
	name_generate(sess.name);
	slot->since = (int64_t)time(NULL);
	slot->room = -1;
	slot->next = slot->prev = -1;
	memcpy(slot->name, sess.name, NAME_SIZE);
	slot->pid_start = shm_self_start;
	slot->flags = unwatched ? SLOT_UNWATCHED : 0;
	shm->unwatched += unwatched;
	atomic_store(&slot->pid, shm_self);
	atomic_store(&slot->state, SLOT_ACTIVE);
	name_insert(sess.slot);
	state_unlock();
	atomic_fetch_add(&shm->connections, 1);

	cmd_help(&sess, "");
	out_printf("You are %s", sess.name);
	state_lock();
	enter_room(ROOM_MAIN);
	state_unlock();
	out_printf("You joined main");
	if (conf->motd_text[0] != '\0')
		out_cat("%s", conf->motd_text);

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	ev.data.u32 = TAG_CLIENT;
	if (epoll_ctl(session_ep, EPOLL_CTL_ADD, fd, &ev) == -1)
		fatal("cannot watch the client socket");
	peer_address(from, sizeof(from));
	log_info("%s connected from %s", sess.name, from);
	return 0;
}

static void
session_end(const char *why)
{
	state_lock();
	slot_release(sess.slot);
	shm_unlock();
	/* the master counts the slot free before the room hears "NAME
	 * left" (rung here): a client who connects on that line, or on
	 * the close that follows, is not told the server is full */
	session_over();
	ring_pending();
	log_info("%s disconnected (%s)", sess.name, why);
	sess.room = -1;
}

/* The last lines out, for a bounded time; then the socket is closed. */
static void
linger_and_close(int fd)
{
	struct timespec		 start, now;
	struct epoll_event	 ev;
	char			 sink[512];
	long			 waited;
	int			 ep;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		if (out_flush() != 0)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		waited = (now.tv_sec - start.tv_sec) * 1000 +
		    (now.tv_nsec - start.tv_nsec) / 1000000;
		if (waited >= LINGER_MS)
			break;
		if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
			break;
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLOUT;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0)
			(void)epoll_wait(ep, &ev, 1, (int)(LINGER_MS - waited));
		close(ep);
	}
	/* unread input would make close() send a reset, which can destroy
	 * the last lines in flight: say we are done, then drop what came */
	(void)shutdown(fd, SHUT_WR);
	while (read(fd, sink, sizeof(sink)) > 0)
		;
	close(fd);
	out_pipe_empty();
}

static void
limits_start(void)
{
	int64_t	 now = now_ns();
	int	 trusted;

	trusted = conf->trust_loopback && peer_is_loopback(&peer);
	line_cost = conf->max_lines_per_second == 0 || trusted ? 0 :
	    1000000000LL / conf->max_lines_per_second;
	burst_span = line_cost * ((int64_t)conf->line_burst - 1);
	bucket_full_at = now;
	told_too_fast = 0;
	throttled_until = 0;
	last_line = out_since = now;
	out_moved = 0;
	sock_sent = sock_taken = 0;
	sock_looked = now;
	sock_waiting = sock_blind = 0;
}

/* A line was taken: it costs a token, and the session is not idle. */
static void
line_spend(void)
{
	int64_t	 now = now_ns();

	last_line = now;
	if (line_cost == 0)
		return;
	if (bucket_full_at <= now) {
		bucket_full_at = now;
		told_too_fast = 0;	/* it slowed down: tell it again */
	}
	bucket_full_at += line_cost;
}

/*
 * 0: the next line may be taken (or there is none); 1: it must wait
 * until throttled_until; 2: and the client was just told so.
 */
static int
line_throttled(int64_t now, int eof)
{
	size_t	 avail = in.len - in.taken;
	int64_t	 full = bucket_full_at > now ? bucket_full_at : now;

	throttled_until = 0;
	if (line_cost == 0 || full - now <= burst_span || avail == 0)
		return 0;
	if (!eof && memchr(in.buf + in.taken, '\n', avail) == NULL)
		return 0;		/* no whole line yet */
	throttled_until = full - burst_span;
	if (told_too_fast)
		return 1;
	told_too_fast = 1;
	session_reply(&sess, "You are sending too fast, slow down");
	return 2;
}

/*
 * Output the client has taken none of for SendTimeout seconds: it is not
 * reading.  What it never read is dropped (the line being written is
 * finished, so the notice starts a line of its own); the notice goes out
 * if the client reads while the connection lingers.
 */
static void
trim_unread_output(void)
{
	char	*nl = memchr(out + out_off, '\n', out_len - out_off);

	if (nl != NULL)
		out_len = (size_t)(nl + 1 - out);
}

/*
 * Whether the client takes its output, for SendTimeout.  A write that
 * succeeds says little: the kernel grows a socket's send buffer toward
 * tcp_wmem's most (4 MiB here) even while the client's window is shut,
 * so a client that stopped reading in a room going at a chat's pace was
 * never disconnected, its writes all succeeding (an outside check found
 * it; SendTimeout fired only after 2.8 MB).  What counts is the bytes the
 * client's side took: those the socket took less those still in it
 * (SIOCOUTQ: unsent or unacknowledged).  A client's kernel acknowledges
 * what it queues, read or not, so this sees a client that stopped
 * reading once its receive buffer is full.  Looked at once a second at
 * most while some wait, and again before the timeout fires; a write
 * into a socket seen empty starts the wait.  Only at wake-ups that come
 * anyway (a line for the client): a timer for it cost every session a
 * wake-up SendTimeout after its last output, and a client that is sent
 * nothing more holds no more than it has.  (On a Unix socket, as chatd
 * -i may be given, SIOCOUTQ counts buffer memory rather than bytes; a
 * write then looks like progress, and our own buffer filling up is
 * what tells.)
 */
#define SOCK_LOOK_NS	1000000000

static void
sock_look(int64_t now)
{
	int		 queued;
	uint64_t	 taken;

	sock_looked = now;
	if (ioctl(sess.fd, SIOCOUTQ, &queued) == -1) {
		sock_blind = 1;		/* then writes are what moves */
		sock_waiting = 0;
		return;
	}
	taken = sock_sent - (uint64_t)queued;
	if (queued == 0 || taken != sock_taken)
		out_since = now;
	sock_taken = taken;
	sock_waiting = queued > 0;
}

/* Whether output waits: in our buffer, or, at the last look, the socket. */
static int
out_waiting(void)
{
	return out_pending() > 0 || sock_waiting;
}

/* Why the session must end now (IdleTimeout, SendTimeout), or NULL. */
static const char *
check_timeouts(int64_t now)
{
	int64_t	 limit = (int64_t)conf->send_timeout * 1000000000;

	if (limit == 0 || sock_blind) {
		if (out_moved || out_pending() == 0)
			out_since = now;
	} else if (out_moved && !sock_waiting) {
		out_since = now;	/* the socket was empty: a wait starts */
		sock_waiting = 1;
	} else if (!out_waiting())
		out_since = now;
	out_moved = 0;
	/* waiting in the socket is only ever set with a limit and a socket
	 * that answers */
	if (sock_waiting &&
	    (now - sock_looked >= SOCK_LOOK_NS || now - out_since >= limit))
		sock_look(now);
	if (limit > 0 && out_waiting() && now - out_since >= limit) {
		trim_unread_output();
		out_printf("You are not reading, disconnecting");
		return "not reading";
	}
	if (conf->idle_timeout > 0 &&
	    now - last_line >= (int64_t)conf->idle_timeout * 1000000000) {
		catch_up();
		out_printf("Idle timeout, disconnecting");
		return "idle timeout";
	}
	return NULL;
}

/* The earliest time a limit, or leaving the hand-off queue, needs the
 * loop awake; 0 if none. */
static int64_t
limits_wake(void)
{
	int64_t	 wake = throttled_until, t;

	if (handoff_leave_at != 0 && (wake == 0 || handoff_leave_at < wake))
		wake = handoff_leave_at;

	/* not for output waiting in the socket alone (sock_look) */
	if (conf->send_timeout > 0 && out_pending() > 0) {
		t = out_since + (int64_t)conf->send_timeout * 1000000000;
		if (wake == 0 || t < wake)
			wake = t;
	}
	if (conf->idle_timeout > 0) {
		t = last_line + (int64_t)conf->idle_timeout * 1000000000;
		if (wake == 0 || t < wake)
			wake = t;
	}
	return wake;
}

/* The pacer's sleep, cut short where a limit needs the loop awake. */
static struct timespec *
limit_sleep(struct timespec *timeout, struct timespec *ts, int64_t now)
{
	int64_t	 wake = limits_wake(), ns;

	if (wake == 0)
		return timeout;
	ns = wake > now ? wake - now : 0;
	if (timeout != NULL &&
	    (int64_t)timeout->tv_sec * 1000000000 + timeout->tv_nsec <= ns)
		return timeout;
	ts->tv_sec = ns / 1000000000;
	ts->tv_nsec = ns % 1000000000;
	return ts;
}

/* One line from the client, or the end of the session. */
static int
take_line(int eof)
{
	char	*line;
	size_t	 len;

	switch (input_next(&in, eof, &line, &len)) {
	case INPUT_NONE:
		return 0;
	case INPUT_TOO_LONG:
		line_spend();
		session_reply(&sess, "Messages can only be %u chars long",
		    conf->max_line_length);
		return 1;
	case INPUT_QUIT:
		sess.quit = 1;
		return 1;
	case INPUT_LINE:
		line_spend();
		cmd_line(&sess, line, len);
		return 1;
	}
	return 0;
}

/*
 * -1: the connection broke or closed; 0: nothing more for now; 1: read
 * as much as there was room for, and there may be more; 2: read less,
 * so the socket was empty.  After a 2 the caller reads on only if the
 * peer hung up (EPOLLRDHUP): a FIN that came with the data gave its edge
 * already, and a reader that stopped short would never hear of it.
 * Anything arriving later is an edge of its own.
 */
static int
read_input(void)
{
	size_t	 space = input_space(&in);
	ssize_t	 n;

	n = read(sess.fd, input_tail(&in), space);
	if (n > 0) {
		input_added(&in, (size_t)n);
		return (size_t)n < space ? 2 : 1;
	}
	if (n == 0)
		return -1;
	if (errno == EAGAIN || errno == EINTR)
		return 0;
	return -1;
}

struct pacer {
	int		 paced;		/* pulling on a timer, bell not armed */
	int64_t		 next;		/* CLOCK_MONOTONIC ns of the next pull */
	int64_t		 last;		/* and of the last pull that got lines */
	int		 got;		/* lines came since the last sleep */
	int		 got_before;	/* and in the waking before that */
	int		 stretch;	/* the interval's multiplier, 1.. */
	int64_t		 interval;	/* the last one, ns */
	int		 halved;	/* and halved this many times */
	int		 held;		/* a pull waited for the client */
	int		 room;		/* what all this is about */
};

/* The least budget a room of this size takes (pace.h). */
static int64_t
pace_floor(int64_t members)
{
	return members <= PACE_SMALL_ROOM ? PACE_BUDGET_SMALL :
	    members <= PACE_BIG_ROOM ? PACE_BUDGET_MIN : PACE_BUDGET_HUGE;
}

/* The members' share of budget wake-ups a second, as an interval. */
static int64_t
share_ns(int64_t members, int64_t budget)
{
	int64_t	 ns = members * (1000000000L / budget);

	return ns < PACE_MIN_NS ? PACE_MIN_NS : ns > PACE_MAX_NS ?
	    PACE_MAX_NS : ns;
}

/*
 * Rounded up to an eighth of its power of two (1, 1.125, ... 1.875 times
 * it), so that the members of a room, whose counts agree or nearly, and
 * who read the budget at nearly the same time, pick the same interval,
 * and a stretched one is a multiple (a halved one, pace_halve, a
 * fraction).  Eighths, not quarters: the step from 16.8 to 21 ms at 1000
 * members was what a room waited for a line.
 */
static int64_t
pace_interval(const struct pacer *p, int64_t members)
{
	int64_t	 ns, eighth, budget, floor = pace_floor(members);

	budget = atomic_load_explicit(&shm->pace_budget, memory_order_relaxed);
	budget = budget < floor ? floor :
	    budget > PACE_BUDGET_MAX ? PACE_BUDGET_MAX : budget;
	ns = share_ns(members, budget);
	for (eighth = 1; eighth * 16 <= ns; eighth <<= 1)
		;
	ns = (ns + eighth - 1) / eighth * eighth * p->stretch >> p->halved;
	/* stretched, a line waits 10 s at most */
	return ns < PACE_MIN_NS ? PACE_MIN_NS : ns > 2 * PACE_MAX_NS ?
	    2 * PACE_MAX_NS : ns;
}

/*
 * The next pull, on a grid of the interval in CLOCK_MONOTONIC time, which
 * every process shares: a room's paced readers wake together, on one
 * timer interrupt per CPU, and run back to back as one herd, instead of
 * each on a timer of its own that finds the CPU idle (a vCPU woken from
 * idle costs tens of microseconds here, measured) or preempts another.
 *
 * A herd takes some 16 us a member to get through two CPUs, and the last
 * of it delivers that much later: 8 ms in a room of 1000.  So a big room
 * is split by slot into phases of at most PACE_HERD members, spread over
 * the interval; the wake-ups a second are the same.  A room of 1000 at
 * 200 lines/s went from p99 34 to 27 ms (4 phases, measured), and to
 * 25.2 with 16 phases of 64 (26.5 with 4, five runs each alternating,
 * every one of them within 0.2 ms of its median); saturated rooms of
 * 100 and 1000 kept their rates.
 */
static int64_t
pace_next(int64_t now, int64_t interval, int64_t members)
{
	int64_t	 phases, offset, t;

	phases = (members + PACE_HERD - 1) / PACE_HERD;
	phases = phases < 1 ? 1 : phases > PACE_PHASES ? PACE_PHASES : phases;
	offset = sess.slot % phases * (interval / phases);
	t = now - offset;
	return t - t % interval + interval + offset;
}

/*
 * The budget is a guess at what the machine affords; lateness says what
 * it does.  The readers of a room wake as one herd, so a reader late by
 * most of an interval is only at the herd's tail (a room of 1000 takes
 * some 15-20 ms to get through one herd here, measured).  A pull later
 * than a whole interval means the herd did not get through before the
 * next one was due: the machine is behind, stretch the interval.  Back
 * within half of it, shrink it again.
 */
static void
pace_adjust(struct pacer *p, int64_t now)
{
	int64_t	 late = now - p->next;

	if (late > p->interval && p->stretch < PACE_MAX_STRETCH)
		p->stretch *= 2;
	else if (late < p->interval / 2 && p->stretch > 1)
		p->stretch /= 2;
}

/*
 * A big room may go down to the low floor (pace.h), where its interval is
 * long: 200 ms for 1000 members.  Should it then flood (its members
 * sending as fast as they may), a ring of 1024 would be lapped before the
 * master's budget climbs back, some 3 s.  So a reader whose timed pull
 * took a quarter of the ring or more halves its own interval, again at
 * each such pull, and lengthens it again, a step at a time, once a pull
 * takes a sixteenth or less.  Halving keeps it on its room's grid.  A
 * small room keeps the high floor and does without.
 */
#define PACE_MAX_HALVED	8

static void
pace_halve(struct pacer *p, uint64_t took)
{
	if (took >= shm->ring_size / 4 && p->halved < PACE_MAX_HALVED)
		p->halved++;
	else if (took <= shm->ring_size / 16 && p->halved > 0)
		p->halved--;
}

/*
 * For the master (pace.c): a timed pull, and the lines it took, which in
 * a room of more than PACE_BIG_ROOM are no sign that its wake-ups are
 * worth it.  A pull the doorbell asked for is not counted: it is a
 * line's own wake-up.
 */
static void
count_timed_pull(uint64_t took, int64_t members)
{
	atomic_fetch_add_explicit(&shm->paced_pulls, 1, memory_order_relaxed);
	if (members > PACE_BIG_ROOM)
		atomic_fetch_add_explicit(&shm->paced_big, 1,
		    memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&shm->paced_lines, took,
		    memory_order_relaxed);
}

static int	 prefaulted = -1;	/* the room whose ring is mapped */

/* Ring lines into the output when the pace allows; 1 if any came. */
static int
paced_pull(struct pacer *p, int64_t now)
{
	int64_t	 members, last;
	uint64_t took, from = sess.cursor;
	int	 got, timed;

	if (p->room != sess.room)	/* a /join: not the old room's pace */
		*p = (struct pacer){ .stretch = 1, .room = sess.room };
	last = p->last;
	timed = p->paced;
	if (out_pending() >= PULL_LOW) {
		p->held = 1;
		return 0;
	}
	if (p->paced && now < p->next)
		return 0;
	/* one reading: what is counted, the interval and its phases agree
	 * on the room */
	members = atomic_load_explicit(&shm_room(sess.room)->members,
	    memory_order_relaxed);
	/* late for a client that did not read: not the machine */
	if (p->paced && !p->held)
		pace_adjust(p, now);
	got = pull(PULL_CHUNK);
	took = sess.cursor - from;
	if (p->paced)
		count_timed_pull(took, members);
	p->held = 0;
	if (!got) {
		/*
		 * Quiet: back to the doorbell.  Not in a room of more than
		 * PACE_SMALL, though, while its last lines are less than two
		 * intervals old: senders waiting for their echoes, or starved
		 * of the CPU by the room's readers, leave such pauses, and
		 * every reader that went back to the bell then woke for the
		 * next line, and paced again after it.  A saturated room of
		 * 100 spent its first 200-300 ms that way (a third of its
		 * timed pulls found nothing, one doorbell wake-up for each),
		 * its senders starved, its lines 10-40 ms late.  The empty
		 * pulls count for the master (count_timed_pull): they are
		 * wake-ups the budget pays for.
		 */
		if (p->paced && members > PACE_SMALL &&
		    now - last < 2 * p->interval) {
			p->next = pace_next(now, p->interval, members);
			return 0;
		}
		p->paced = 0;
		return 0;
	}
	p->got = 1;
	p->last = now;
	/*
	 * A line the doorbell brought paces only if it looks like traffic.
	 * In a small room, a lone line (a quiet chat, a client's own echo)
	 * does not: pace when lines came in two wakings in a row.  In a big
	 * one, pace when these lines came within the interval the room
	 * would have at its floor, a line to each (the time since the last
	 * pull that brought any, none at the session's or the room's start,
	 * divided by the lines this one brought, a ring's worth at most): a
	 * herd a line then costs more than the most frugal timer.  Not the
	 * time alone, as at first: once a room's herd took longer to get
	 * through the CPUs than that interval (100 members, 5 ms, on a slow
	 * host), each reader saw one pull a herd however many lines came,
	 * and stayed on the doorbell.  Further apart, a herd a line is
	 * cheaper; pacing at once there made the timed pull find nothing
	 * and the room wake twice a line (300 members at 10 lines/s: 610-614
	 * wake-ups and 27-30 ms of CPU a line; 311 and 20-24 ms this way,
	 * alternating runs).  Against the interval of the moment's budget
	 * rather than the floor's, a room of 1000 at 10 lines/s woke 585
	 * times a line, against 243-530 pacing at once: the budget was far
	 * above what the machine afforded, since nobody was paced to move
	 * it, and a herd a line was the dearer.
	 */
	if (!p->paced && (members <= PACE_SMALL ? !p->got_before :
	    last == 0 || now - last >= (int64_t)(took < 1 ? 1 :
	    took > shm->ring_size ? shm->ring_size : took) *
	    share_ns(members, pace_floor(members))))
		return 1;
	/* a busy room's ring, mapped at once (room_prefault) */
	if (!p->paced && members > PACE_SMALL && prefaulted != sess.room) {
		room_prefault(sess.room);
		prefaulted = sess.room;
	}
	p->paced = 1;
	if (members > PACE_SMALL)
		big_room_paced = 1;		/* see out_pipe_use */
	if (members <= PACE_SMALL_ROOM)
		p->halved = 0;		/* the high floor does without */
	else if (timed)
		pace_halve(p, took);
	p->interval = pace_interval(p, members);
	/* stopped by the chunk size, not by the head: go on once written */
	p->next = sess.cursor == room_head(sess.room) ?
	    pace_next(now, p->interval, members) : now;
	return 1;
}

/* How long to sleep: NULL for "until an event"; 0 s: do not sleep. */
static struct timespec *
sleep_time(struct pacer *p, int64_t now, struct timespec *ts)
{
	int64_t	 ns;

	if (out_pending() >= PULL_LOW)
		return NULL;		/* the socket is full: wait for it */
	if (p->paced) {
		ns = p->next > now ? p->next - now : 0;
		ts->tv_sec = ns / 1000000000;
		ts->tv_nsec = ns % 1000000000;
		return ts;
	}
	bell_listen(1);
	room_arm(sess.room);
	if (room_head(sess.room) != sess.cursor) {
		ts->tv_sec = ts->tv_nsec = 0;	/* a line came as we armed */
		return ts;
	}
	return NULL;
}

static const char *
session_loop(void)
{
	struct epoll_event	 events[4];
	struct timespec		 ts, limit_ts, *timeout;
	struct pacer		 pacer = { .stretch = 1, .room = sess.room };
	const char		*why;
	int64_t			 now;
	int			 readable = 1, writable = 1, eof = 0, busy;
	int			 hangup = 0;
	int			 n, i, r, throttled;

	limits_start();
	for (;;) {
		if (sess.quit) {
			catch_up();	/* its own last lines, then goodbye */
			return eof ? "end of input" : "quit";
		}
		if (terminate) {
			catch_up();
			out_printf("Server is shutting down");
			return "server shutting down";
		}
		busy = 0;
		if (writable && out_pending() > 0) {
			if ((r = out_flush()) == -1)
				return "connection lost";
			writable = r;
		}
		now = now_ns();
		if (handoff_leave_at != 0 && now >= handoff_leave_at)
			handoff_leave();
		if ((why = check_timeouts(now)) != NULL)
			return why;
		if (paced_pull(&pacer, now))
			busy = 1;
		throttled = 0;
		throttled_until = 0;	/* a full socket wakes us instead */
		while (out_pending() == 0 &&
		    (throttled = line_throttled(now, eof)) == 0 &&
		    take_line(eof)) {
			busy = 1;
			if (sess.quit)
				break;
			if (!writable)
				continue;
			if ((r = out_flush()) == -1)
				return "connection lost";
			writable = r != 0;
		}
		if (throttled == 2)
			busy = 1;	/* the notice goes out before we sleep */
		input_compact(&in);
		if (readable && !eof && !sess.quit && out_pending() == 0 &&
		    input_space(&in) > 0) {
			r = read_input();
			if (r == -1)
				eof = 1;
			readable = r == 1 || (r == 2 && hangup);
			if (r != 0)
				busy = 1;
		}
		if (eof && out_pending() == 0 && !sess.quit && !throttled &&
		    !take_line(1)) {
			catch_up();
			return "end of input";
		}
		if (busy)
			continue;
		timeout = limit_sleep(sleep_time(&pacer, now, &ts), &limit_ts,
		    now);
		if (timeout != NULL && timeout->tv_sec == 0 &&
		    timeout->tv_nsec == 0)
			continue;
		/* not only when nothing else wakes us: a SendTimeout or
		 * IdleTimeout wait, or a long pace, is longer */
		if (unwatched && (timeout == NULL ||
		    timeout->tv_sec >= UNWATCHED_TICK)) {
			ts.tv_sec = UNWATCHED_TICK;
			ts.tv_nsec = 0;
			timeout = &ts;
		}
		pacer.got_before = pacer.got;
		pacer.got = 0;
		n = epoll_pwait2(session_ep, events, 4, timeout, &waitmask);
		if (n == -1 && errno != EINTR)
			fatal("epoll_wait");
		if (n == 0 && unwatched) {
			state_lock();	/* a look for dead chatd -i peers */
			state_unlock();
		}
		for (i = 0; i < n; i++) {
			switch (events[i].data.u32) {
			case TAG_CLIENT:
				if (events[i].events & (EPOLLIN | EPOLLRDHUP |
				    EPOLLHUP | EPOLLERR))
					readable = 1;
				if (events[i].events & (EPOLLRDHUP | EPOLLHUP |
				    EPOLLERR))
					hangup = 1;
				if (events[i].events & (EPOLLOUT | EPOLLHUP |
				    EPOLLERR))
					writable = 1;
				break;
			case TAG_DOORBELL:
				if (pacer.paced)
					bell_listen(0);	/* the timer will do */
				break;
			case TAG_MASTER:
				master_gone = 1;
				(void)epoll_ctl(session_ep, EPOLL_CTL_DEL,
				    fds->master_alive, NULL);
				break;
			}
		}
	}
}

static void
serve(int fd)
{
	const char	*why;

	set_title("chatd: busy");
	big_room_paced = 0;
	if (session_start(fd) == -1) {
		session_over();
		linger_and_close(fd);
		return;
	}
	why = session_loop();
	session_end(why);
	linger_and_close(fd);
	sess.fd = -1;
	/* a big reply or a backlog touched pages this child need not keep */
	if (out_peak > PULL_CHUNK) {
		if (madvise(out + PULL_CHUNK, out_cap - PULL_CHUNK,
		    MADV_DONTNEED) == -1)
			log_warn("madvise");
	}
	out_peak = 0;
}

/* The pool side */

static int	 current_conn = -1;	/* the master's ticket for it */
static unsigned	 sessions;		/* taken, this one included */

/* A word to the master; -1: it is gone. */
static int
report(int type)
{
	struct handoff_msg	 msg;

	memset(&msg, 0, sizeof(msg));
	msg.type = type;
	msg.index = fds->index;
	msg.pid = shm_self;
	msg.conn = type == HANDOFF_DONE ? current_conn : -1;
	msg.session = sessions;
	while (send(fds->handoff, &msg, sizeof(msg), MSG_NOSIGNAL) == -1) {
		if (errno == EINTR)
			continue;
		if (errno == EPIPE || errno == ECONNRESET)
			return -1;
		fatal("cannot report to the master");
	}
	return 0;
}

static void
tell_master(int type)
{
	if (report(type) == -1)
		exit(0);	/* the master is gone */
}

/* Whether this process exits once its session is over (child_main). */
static int
last_session(void)
{
	return terminate || master_gone || reload || plain_paced ||
	    (conf->max_connections_per_child > 0 &&
	    sessions >= conf->max_connections_per_child);
}

/*
 * The session is over for the master (HANDOFF_DONE), said as soon as its
 * slot is free, before the last lines go out (linger_and_close): what the
 * master counts against MaxClients is then what the segment holds.  A
 * master gone meanwhile is no reason to cut those lines short.  Not from
 * a process that exits after it: the master would count it idle and hand
 * it a connection it never takes; its death and its seat tell instead.
 */
static void
session_over(void)
{
	if (!unwatched && !last_session() && report(HANDOFF_DONE) == -1)
		master_gone = 1;
}

/* -1: nothing there; else the client's fd. Exits when told to. */
static int
take_connection(void)
{
	struct handoff_msg	 msg;
	struct msghdr		 mh;
	struct iovec		 iov;
	struct cmsghdr		*cm;
	union {
		char		 buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr	 align;
	}			 control;
	ssize_t			 n;
	int			 fd = -1;

	memset(&mh, 0, sizeof(mh));
	iov.iov_base = &msg;
	iov.iov_len = sizeof(msg);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = control.buf;
	mh.msg_controllen = sizeof(control.buf);
	n = recvmsg(fds->handoff, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return -1;
		fatal("cannot receive from the master");
	}
	if (n == 0)
		exit(0);		/* the master closed its end */
	if ((cm = CMSG_FIRSTHDR(&mh)) != NULL && cm->cmsg_level == SOL_SOCKET &&
	    cm->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(cm), sizeof(fd));
	if (msg.type == HANDOFF_RETIRE) {
		if (fd != -1)
			close(fd);
		tell_master(HANDOFF_RETIRING);
		exit(CHILD_EXIT_RETIRED);
	}
	if (msg.type != HANDOFF_CONNECTION) {
		log_warnx("unexpected message %d from the master", msg.type);
		if (fd != -1)
			close(fd);
		return -1;
	}
	current_conn = msg.conn;
	sessions++;
	if (fd == -1) {		/* the descriptor did not fit (EMFILE) */
		log_warnx("a connection came without its descriptor");
		tell_master(HANDOFF_DONE);	/* the master counted it */
		return -1;
	}
	/* what the master needs to know should we die in this session */
	atomic_store(shm_seat(fds->index), SEAT(sessions, current_conn));
	return fd;
}

static void
watch(int ep, int fd, uint32_t events, enum tag tag)
{
	struct epoll_event	 ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.u32 = tag;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == -1)
		fatal("cannot set up the child's epoll");
}

/*
 * Only an idle child, or one a few ms into a session, watches the
 * handoff socket.  Every watch is an entry on that one socket's wait
 * queue, and the kernel walks the whole queue on every hand-off (to find
 * an idle waiter; a busy child's entry is passed over, as its idle epoll
 * has no sleeper) and on every message the master reads (to tell writers
 * there is room): with busy children left on it, each hand-off cost
 * O(all children), 4-6 ms at 17,000, and the master could accept only
 * some 20 connections a second.  But leaving the queue at every hand-off
 * and joining it again after the session, two epoll_ctl calls on a queue
 * the master and every child contend for, cost short sessions a tenth of
 * the churn rate (10.5k/s against 9.6k/s, medians of 4, measured).  So a
 * busy child leaves HANDOFF_STAY_NS into its session, and one whose
 * session ended before that never left: the queue holds the idle
 * children and those that took a connection in the last HANDOFF_STAY_NS.
 */
#define HANDOFF_STAY_NS	10000000L

static void
watch_handoff(int on)
{
	if (on)
		watch(idle_ep, fds->handoff, EPOLLIN | EPOLLEXCLUSIVE,
		    TAG_HANDOFF);
	else if (epoll_ctl(idle_ep, EPOLL_CTL_DEL, fds->handoff, NULL) == -1)
		fatal("cannot set up the child's epoll");
}

static void
handoff_leave(void)
{
	watch_handoff(0);
	handoff_leave_at = 0;
}

static void
child_setup(void)
{
	struct sigaction	 sa;
	sigset_t		 block;
	char			 name[32];

	shm_self_set();
	snprintf(name, sizeof(name), "chatd[%d]", shm_self);
	log_setname(name);
	set_title("chatd: idle");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_terminate;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) == -1 ||
	    sigaction(SIGINT, &sa, NULL) == -1)
		fatal("sigaction");
	sa.sa_handler = on_reload;
	if (sigaction(SIGHUP, &sa, NULL) == -1)
		fatal("sigaction");
	sa.sa_handler = SIG_IGN;
	(void)sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = SIG_DFL;
	(void)sigaction(SIGCHLD, &sa, NULL);
	/* TERM, INT and HUP stay blocked except inside epoll_pwait, so a signal
	 * never slips in between checking the flag and going to sleep */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	if (sigprocmask(SIG_SETMASK, &block, NULL) == -1)
		fatal("sigprocmask");
	sigemptyset(&waitmask);

	if ((session_ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		fatal("epoll_create1");
	out_pipe_open();
}

static void
pool_setup(void)
{
	if ((idle_ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		fatal("epoll_create1");
	watch(session_ep, fds->master_alive, EPOLLIN, TAG_MASTER);
	watch(idle_ep, fds->master_alive, EPOLLIN, TAG_MASTER);
	watch_handoff(1);
	watch(idle_ep, fds->janitor, EPOLLIN | EPOLLET | EPOLLEXCLUSIVE,
	    TAG_JANITOR);
}

/* Shutting down: connections still queued for the pool are told so. */
static void
turn_away_queued(void)
{
	static const char	 line[] = "Server is shutting down\n";
	int			 fd;

	while ((fd = take_connection()) != -1) {
		(void)send(fd, line, sizeof(line) - 1,
		    MSG_DONTWAIT | MSG_NOSIGNAL);
		close(fd);
	}
}

void
child_main(const struct config *c, const struct child_fds *f)
{
	struct epoll_event	 events[4];
	int			 n, i, fd;

	conf = c;
	fds = f;
	child_setup();
	identity_assume();	/* started as root: never serve as root */
	pool_setup();
#ifdef CHATD_TORTURE
	if (torture_flag("die-at-start", 0))
		fatalx("torture: dying at start-up");
#endif
	tell_master(HANDOFF_READY);
	for (;;) {
		n = epoll_pwait(idle_ep, events, 4, -1, &waitmask);
		if (n == -1 && errno != EINTR)
			fatal("epoll_wait");
		if (terminate) {
			turn_away_queued();
			exit(0);
		}
		if (reload)
			exit(0);	/* queued connections wait for the new */
		for (i = 0; i < n; i++) {
			switch (events[i].data.u32) {
			case TAG_MASTER:
				exit(0);
			case TAG_JANITOR:
				state_lock();
				state_unlock();
				break;
			case TAG_HANDOFF:
				if ((fd = take_connection()) == -1)
					break;
				handoff_leave_at = now_ns() + HANDOFF_STAY_NS;
				serve(fd);
				/* the master had its DONE (session_over), or
				 * reads the seat of a child that exits here */
				if (last_session())
					exit(0);
				set_title("chatd: idle");
				if (handoff_leave_at == 0)
					watch_handoff(1);
				handoff_leave_at = 0;	/* still on the queue */
				break;
			}
		}
	}
}

/*
 * chatd -i: one connection, already accepted by inetd or systemd, in a
 * process no master watches.  Its slot says so, and the others look now
 * and then whether it still lives.
 */
void
child_inetd(const struct config *c, int fd)
{
	int	 one = 1, fl;

	conf = c;
	unwatched = 1;
	child_setup();
	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		fatal("cannot make the connection non-blocking");
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	serve(fd);
	exit(0);
}
