/*
 * master.c: the preforking master.
 *
 * The contract between the master and its children (PostgreSQL's
 * postmaster and Apache's prefork, in small):
 *
 * - The master accepts, and hands each connection to an idle child over
 *   ONE socketpair shared by the whole pool (SOCK_SEQPACKET: each message
 *   with its descriptor goes to exactly one child; idle children wait on
 *   it with EPOLLEXCLUSIVE so one is woken).  DESIGN.md sketches a
 *   socketpair per child; with one per child the master holds thousands
 *   of descriptors and every child forked later inherits an fd table that
 *   large, tens of KiB of kernel memory each.  Children report READY
 *   (started) and DONE (a session ended) on the same socketpair.  DONE
 *   comes as soon as the session's slot is free, before its room hears
 *   "NAME left" and before its last lines are flushed: a client that
 *   reconnects on either finds the place free (read before a refusal,
 *   see accept_connections).  The
 *   master counts a session from the hand-off, not from the child's
 *   word that it took one: that word was a message and a wake-up of the
 *   master for every connection (measured: churn 8% faster without).
 *   What the master cannot then tell, which child serves which session,
 *   it needs only when a child dies, and the child's seat in the segment
 *   says it (see child_died).
 * - The master keeps between MinSpare and MaxSpare idle children, never
 *   more than MaxClients busy ones; one connection more is told "Server
 *   is full, try again later" and closed here.
 * - The master never takes a shared lock and never reads a client.  When
 *   a child dies it marks that child's client slot dead with one atomic
 *   compare-and-swap and rings the janitor eventfd; an idle child frees
 *   the slot under the lock (or the next child that takes the lock).
 *   It also rings every room doorbell once, for lines the dead child
 *   published but did not live to ring (wake_readers).
 * - Children hold the read end of a pipe whose write end only the master
 *   has: when the master dies they finish their sessions and exit.
 * - A child that dies before it was ever ready makes the master wait
 *   before forking again, longer each time (Postfix's throttle), instead
 *   of forking in a loop.
 * - Signals come through a signalfd: no work in a signal handler.
 *   SIGTERM and SIGINT stop (every client is told), SIGUSR1 logs the
 *   state, SIGHUP reads the configuration file again.
 * - Reloading: the master applies what it alone uses (MaxClients up to
 *   the segment's slots, MinSpare, MaxSpare) at once.  A child's copy of
 *   the configuration was fixed when it was forked, so when something a
 *   child uses changed (Motd, MaxConnectionsPerChild) the master sends
 *   the children SIGHUP: an idle one exits, a busy one exits when its
 *   session ends, and the pool is refilled with children forked from the
 *   new configuration.  No session is cut short.  LogLevel lives in the
 *   segment header, so every process follows it at once.  Settings that
 *   sized the segment or the socket need a restart: the master keeps
 *   their old values and logs that.
 */
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#if defined(__has_include)
#if __has_include(<sys/rseq.h>)
#include <sys/rseq.h>
#endif
#endif

#include <netinet/in.h>
#include <arpa/inet.h>
#include <linux/sockios.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "child.h"
#include "daemon.h"
#include "log.h"
#include "master.h"
#include "notify.h"
#include "pace.h"
#include "peer.h"
#include "room.h"
#include "shm.h"

enum tag { TAG_LISTEN, TAG_CHILDREN, TAG_SIGNAL, TAG_TIMER, TAG_PACE };
enum child_state {
	CHILD_NONE, CHILD_STARTING,
	CHILD_READY,		/* in the pool: idle, or serving a session */
	CHILD_RETIRING
};

#define STOP_GRACE	5	/* seconds children get to say goodbye */
#define BACKOFF_MAX	60	/* seconds between forks after failures */
#define ACCEPT_BATCH	64
#define PACE_PERIOD_MS	250	/* between looks at the CPUs, while paced */

struct child {
	pid_t	 pid;
	int	 state;
};

/*
 * MaxClientsPerIP.  The master counts the connections it handed to the
 * pool by source address.  Each one gets a ticket (an index into
 * tickets[]) that travels with the descriptor; the child that takes it
 * writes it in its seat, and the ticket is returned when that child says
 * DONE or dies.  Counts live in a small open-addressing
 * table keyed by the address (IPv4 as IPv4-mapped IPv6), so a check is
 * O(1) however many connections one address has.
 */
struct peer {
	unsigned char	 addr[16];
	unsigned	 count;		/* 0: an empty entry */
};
struct ticket {
	unsigned char	 addr[16];
	int		 next_free;
};

static struct config	*conf;
static int		(*load_config)(struct config *);
static struct child	*children;
static int		*free_index;
static int		 table_size;
static int		 listen_fd, epfd, sigfd, timerfd, pacefd, statfd;
static int		 handoff[2], alive[2], janitor;
static struct peer	*peers;
static unsigned		 peers_mask;
static struct ticket	*tickets;
static int		 ntickets;	/* MaxClients at start, and 64 */

/*
 * What the master changes as it runs, in a page of its own that children
 * do not inherit (see master_table): in the program's data it would leave
 * each child a private copy of the page it shares with their data.
 */
static struct pool {
	int	 nfree;
	int	 starting;
	int	 ready;		/* READY children, idle or serving */
	int	 busy;		/* sessions: handed off, not yet DONE */
	int	 retiring;	/* RETIREs sent, not yet taken */
	int	 accepting, stopping, stop_ticks;
	int	 startup_failures, demand;
	unsigned fork_failures;	/* fork(2) failing in a row */
	unsigned fork_refused;	/* connections turned away meanwhile */
	time_t	 fork_after;
	int	 free_ticket;
	int	 pacing;	/* the pace timer runs */
	int	 recount;	/* a READY child died: see recount */
	struct pace_sample pace; /* at its last look */
}			*pool;

/* Children free for a connection: each session and each RETIRE in
 * the pool's socket, taken or not, has one of the READY ones. */
static int
available(void)
{
	return pool->ready - pool->busy - pool->retiring;
}

static int
full(void)
{
	return pool->busy >= (int)conf->max_clients;
}

/*
 * The pool's socket holds only a few hand-offs (net.unix.max_dgram_qlen,
 * 10 by default).  When the children are slow to take them, the one that
 * did not fit waits here, and the rest wait in the listen queue, instead
 * of being turned away as if the server were full.
 */
static struct {
	int	 fd, ticket;
}			 waiting = { -1, -1 };

/* A child is free and nothing waits for the pool's socket. */
static int
can_hand_off(void)
{
	return available() > 0 && waiting.fd == -1;
}

/*
 * No child is free and none can be made (fork fails): a client is told
 * so at once rather than left in the listen queue until it gives up.
 */
static int
cannot_grow(void)
{
	return pool->fork_failures > 0 && available() <= 0 &&
	    pool->starting == 0;
}

static void
watch(int fd, uint32_t events, enum tag tag, int op)
{
	struct epoll_event	 ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.u32 = tag;
	if (epoll_ctl(epfd, op, fd, &ev) == -1)
		fatal("epoll_ctl");
}

/* Listen only while someone can take a connection (or be told no). */
static void
update_accepting(void)
{
	int	 want = !pool->stopping && (can_hand_off() || full() ||
	    cannot_grow());

	if (want == pool->accepting)
		return;
	watch(listen_fd, want ? EPOLLIN : 0, TAG_LISTEN, EPOLL_CTL_MOD);
	pool->accepting = want;
}

/*
 * 0: forked; -1: fork(2) failed, and the pool tries again in a second.
 * A machine out of processes (kernel.pid_max, RLIMIT_NPROC, memory) says
 * so once, not once per attempt: a pool that wants hundreds more would
 * otherwise write a log line for each of them, every second.
 *
 * _Fork(), not fork(): fork() also resets libc's and ld.so's locks and
 * thread lists in the child and runs pthread_atfork handlers, for a
 * parent with threads.  The master has none, never takes a lock at the
 * fork and registers no handler, so those writes did nothing but give
 * every child two more private pages (measured: 36 -> 28 KiB).  A master
 * that ever starts a thread must go back to fork().
 */
static int
fork_child(void)
{
	struct child_fds	 f;
	pid_t			 pid;
	int			 index;

	if (pool->nfree == 0)
		return -1;
	index = free_index[--pool->nfree];
	atomic_store(shm_seat(index), 0);	/* a dead master's, adopted */
#ifdef CHATD_TORTURE
	if (torture_flag("fork-fails", 0)) {	/* as at kernel.pid_max */
		pid = -1;
		errno = EAGAIN;
	} else
#endif
	pid = _Fork();
	if (pid == -1) {
		if (pool->fork_failures++ == 0)
			log_warnx("cannot fork a child: %s (%d busy, %d "
			    "idle); trying again every second",
			    strerror(errno), pool->busy, available());
		free_index[pool->nfree++] = index;
		pool->fork_after = time(NULL) + 1;
		return -1;
	}
	if (pid > 0 && pool->fork_failures > 0) {
		log_notice("forking works again, after %u failures; %u "
		    "connections were turned away meanwhile",
		    pool->fork_failures, pool->fork_refused);
		pool->fork_failures = pool->fork_refused = 0;
	}
	if (pid == 0) {
		if (waiting.fd != -1)	/* the client's, not this child's */
			close(waiting.fd);
		close(listen_fd);
		close(epfd);
		close(sigfd);
		close(timerfd);
		close(pacefd);
		if (statfd != -1)
			close(statfd);
		close(handoff[0]);
		close(alive[1]);
		pidfile_forget();
		f.handoff = handoff[1];
		f.master_alive = alive[0];
		f.janitor = janitor;
		f.index = index;
		child_main(conf, &f);
	}
	children[index].pid = pid;
	children[index].state = CHILD_STARTING;
	pool->starting++;
	return 0;
}

/*
 * Apache's rule: keep MinSpare children idle, forking more in growing
 * batches while connections wait for them; retire the idle ones beyond
 * MaxSpare a few at a time on the timer, so a burst does not make the
 * pool flap.
 */
static void
maintain_pool(int tick)
{
	int	 want, n;

	if (pool->stopping)
		return;
	want = (int)conf->min_spare - (available() + pool->starting);
	if (pool->demand > 0 && pool->starting == 0 && available() <= 0) {
		n = (int)conf->min_spare <<
		    (pool->demand < 4 ? pool->demand : 4);
		if (n > want)
			want = n;
	}
	if (want > 0 && time(NULL) >= pool->fork_after)
		while (want-- > 0 && fork_child() == 0)
			;
	if (tick && available() > (int)conf->max_spare) {
		struct handoff_msg msg = { HANDOFF_RETIRE, -1, 0, -1, 0 };
		/* a quarter of the excess a second: a burst's leftovers are
		 * gone in seconds, a dip in traffic does not empty the pool */
		int retire = (available() - (int)conf->max_spare + 3) / 4;

		for (n = 0; n < retire; n++) {
			if (send(handoff[0], &msg, sizeof(msg),
			    MSG_DONTWAIT | MSG_NOSIGNAL) == -1)
				break;
			pool->retiring++;
		}
	}
	update_accepting();
}

/* A line, then goodbye; what the client sent is read first, since
 * closing over unread bytes sends a reset that can destroy the line. */
static void
say_and_close(int fd, const char *line)
{
	char	 sink[512];

	(void)send(fd, line, strlen(line), MSG_DONTWAIT | MSG_NOSIGNAL);
	(void)shutdown(fd, SHUT_WR);
	while (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0)
		;
	close(fd);
}

static void
reject(int fd)
{
	say_and_close(fd, "Server is full, try again later\n");
}

/* Per-address counts: see struct peer. */

static unsigned
peer_hash(const unsigned char *addr)
{
	uint32_t	 h = 2166136261u;	/* FNV-1a */
	int		 i;

	for (i = 0; i < 16; i++)
		h = (h ^ addr[i]) * 16777619u;
	return h & peers_mask;
}

/* The entry for addr, or the empty one where it would go. */
static unsigned
peer_find(const unsigned char *addr)
{
	unsigned	 i = peer_hash(addr);

	while (peers[i].count > 0 && memcmp(peers[i].addr, addr, 16) != 0)
		i = (i + 1) & peers_mask;
	return i;
}

/* Empties entry i, moving later ones of its run back (no tombstones). */
static void
peer_remove(unsigned i)
{
	unsigned	 j = i, home;

	for (;;) {
		j = (j + 1) & peers_mask;
		if (peers[j].count == 0)
			break;
		home = peer_hash(peers[j].addr);
		/* j stays if its home is cyclically within (i, j] */
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue;
		peers[i] = peers[j];
		i = j;
	}
	peers[i].count = 0;
}

static int
peer_key(const struct sockaddr_storage *ss, unsigned char *addr)
{
	if (ss->ss_family == AF_INET) {
		memset(addr, 0, 10);
		addr[10] = addr[11] = 0xff;
		memcpy(addr + 12, &((const struct sockaddr_in *)(const void *)
		    ss)->sin_addr, 4);
		return 0;
	}
	if (ss->ss_family == AF_INET6) {
		memcpy(addr, &((const struct sockaddr_in6 *)(const void *)
		    ss)->sin6_addr, 16);
		return 0;
	}
	return -1;
}

/* A ticket for a connection from addr, or -1: over the limit. */
static int
ticket_take(const unsigned char *addr, int *ticket)
{
	unsigned	 i = peer_find(addr);

	*ticket = -1;
	if (peers[i].count >= conf->max_clients_per_ip)
		return -1;
	if (pool->free_ticket == -1)
		return 0;	/* lost in children that died: count none */
	*ticket = pool->free_ticket;
	pool->free_ticket = tickets[*ticket].next_free;
	memcpy(tickets[*ticket].addr, addr, 16);
	if (peers[i].count == 0)
		memcpy(peers[i].addr, addr, 16);
	peers[i].count++;
	return 0;
}

static void
ticket_return(int ticket)
{
	unsigned	 i;

	/* the table's size, not MaxClients: a SIGHUP may have lowered that
	 * with tickets above it out, and they come back all the same */
	if (ticket < 0 || ticket >= ntickets)
		return;
	i = peer_find(tickets[ticket].addr);
	if (peers[i].count > 0 && --peers[i].count == 0)
		peer_remove(i);
	tickets[ticket].next_free = pool->free_ticket;
	pool->free_ticket = ticket;
}

static void
format_peer(const unsigned char *addr, char *buf, size_t size)
{
	static const unsigned char	 v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0,
					     0, 0, 0, 0xff, 0xff };

	if (memcmp(addr, v4mapped, 12) == 0)
		inet_ntop(AF_INET, addr + 12, buf, (socklen_t)size);
	else
		inet_ntop(AF_INET6, addr, buf, (socklen_t)size);
}

static int
hand_off(int fd, int ticket)
{
	struct handoff_msg	 msg = { HANDOFF_CONNECTION, -1, 0, ticket, 0 };
	struct msghdr		 mh;
	struct iovec		 iov;
	struct cmsghdr		*cm;
	union {
		char		 buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr	 align;
	}			 control;

	memset(&mh, 0, sizeof(mh));
	memset(&control, 0, sizeof(control));
	iov.iov_base = &msg;
	iov.iov_len = sizeof(msg);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = control.buf;
	mh.msg_controllen = sizeof(control.buf);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	if (sendmsg(handoff[0], &mh, MSG_DONTWAIT | MSG_NOSIGNAL) == -1) {
		if (errno == EAGAIN)
			return 1;	/* the socket's queue is full */
		log_warn("cannot hand a connection to the pool");
		return -1;
	}
	pool->busy++;
	return 0;
}

/* Hands fd on, parks it (1) or turns it away; the master's copy goes. */
static int
pass_on(int fd, int ticket)
{
	int	 r = hand_off(fd, ticket);

	if (r == 1) {
		waiting.fd = fd;
		waiting.ticket = ticket;
		return 1;
	}
	if (r == -1) {
		ticket_return(ticket);
		reject(fd);
	} else
		close(fd);
	return r;
}

/* The parked connection, once the children have made room. */
static void
retry_waiting(void)
{
	int	 fd = waiting.fd;

	if (fd == -1)
		return;
	waiting.fd = -1;
	if (pool->stopping) {
		ticket_return(waiting.ticket);
		say_and_close(fd, "Server is shutting down\n");
	} else
		(void)pass_on(fd, waiting.ticket);
}

static void
session_done(int ticket)
{
	if (pool->busy > 0)
		pool->busy--;
	ticket_return(ticket);
}

static void
child_message(void)
{
	struct handoff_msg	 msg;
	struct child		*c;
	uint64_t		 expect;
	ssize_t			 n;

	while ((n = recv(handoff[0], &msg, sizeof(msg), MSG_DONTWAIT)) ==
	    (ssize_t)sizeof(msg)) {
		if (msg.index < 0 || msg.index >= table_size ||
		    children[msg.index].pid != msg.pid)
			continue;
		c = &children[msg.index];
		if (msg.type == HANDOFF_READY && c->state == CHILD_STARTING) {
			pool->starting--;
			pool->startup_failures = 0;
			c->state = CHILD_READY;
			pool->ready++;
		} else if (msg.type == HANDOFF_DONE &&
		    c->state == CHILD_READY) {
			session_done(msg.conn);
			/* unless the child has taken its next one meanwhile */
			expect = SEAT(msg.session, msg.conn);
			atomic_compare_exchange_strong(shm_seat(msg.index),
			    &expect, 0);
		} else if (msg.type == HANDOFF_RETIRING &&
		    c->state == CHILD_READY) {
			c->state = CHILD_RETIRING;
			pool->ready--;
			if (pool->retiring > 0)
				pool->retiring--;
		}
	}
	if (n == -1 && errno != EAGAIN && errno != EINTR)
		fatal("cannot read from the pool");
}

static void
accept_connections(void)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	unsigned char		 addr[16];
	char			 who[INET6_ADDRSTRLEN];
	int			 fd, n, ticket;

	if (full())
		child_message();	/* a DONE may be waiting: no refusal then */
	for (n = 0; n < ACCEPT_BATCH && (can_hand_off() || full() ||
	    cannot_grow()); n++) {
		len = sizeof(ss);
		fd = accept4(listen_fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EAGAIN || errno == EINTR ||
			    errno == ECONNABORTED)
				return;
			log_warn("accept");
			return;
		}
		if (full()) {
			log_warnx("MaxClients (%u) reached: connection refused",
			    conf->max_clients);
			reject(fd);
			continue;
		}
		if (!can_hand_off()) {	/* fork fails: said once, counted */
			pool->fork_refused++;
			reject(fd);
			continue;
		}
		ticket = -1;
		if (peers != NULL && !(conf->trust_loopback &&
		    peer_is_loopback(&ss)) && peer_key(&ss, addr) == 0 &&
		    ticket_take(addr, &ticket) == -1) {
			format_peer(addr, who, sizeof(who));
			log_warnx("MaxClientsPerIP (%u) reached for %s: "
			    "connection refused", conf->max_clients_per_ip,
			    who);
			say_and_close(fd, "Too many connections from your "
			    "address\n");
			continue;
		}
		if (pass_on(fd, ticket) == 1)
			break;
	}
	/* connections still wait and no child is free: grow faster */
	if (available() <= 0 && !full())
		pool->demand++;
}

/* One idle child, woken to take the lock and do what it does then. */
static void
call_janitor(void)
{
	uint64_t	 one = 1;

	if (write(janitor, &one, sizeof(one)) == -1 && errno != EAGAIN)
		log_warn("cannot ring the janitor");
}

/*
 * chatd -i sessions (inetd, systemd Accept=yes) are nobody's children:
 * whoever takes the lock looks whether they still live (child.c,
 * check_unwatched).  In a room of idle pool sessions nobody might, and
 * one killed would stay listed with its name held; so while there are
 * such sessions an idle child is sent to look, once a second.  The
 * count is read without the lock: a stale one costs a look or a second.
 */
static void
watch_unwatched(void)
{
	if (__atomic_load_n(&shm->unwatched, __ATOMIC_RELAXED) > 0)
		call_janitor();
}

/* The dead child's client slot: marked, and the janitor called. */
static void
mark_dead(pid_t pid)
{
	uint32_t		 i, marked = 0;
	struct client_slot	*s;
	uint32_t		 expect;

	for (i = 0; i < shm->max_clients; i++) {
		s = shm_slot(i);
		expect = SLOT_ACTIVE;
		if (atomic_load(&s->pid) == pid &&
		    atomic_compare_exchange_strong(&s->state, &expect,
		    SLOT_DEAD))
			marked++;
	}
	if (marked == 0)
		return;
	atomic_fetch_add(&shm->dead_pending, marked);
	call_janitor();
}

/*
 * A child killed after publishing lines but before ringing their
 * doorbells (rung after the unlock) would leave their readers asleep
 * over them: every doorbell once, on each death of a child that was past
 * start-up.  A needless wake-up costs a reader one look at its room's
 * head, and the master touches no shared state doing it.
 */
static void
wake_readers(void)
{
	doorbells_ring_all();
}

static void
child_died(struct child *c, int status)
{
	uint64_t seat;
	int	 backoff, retired;

	retired = WIFEXITED(status) &&
	    WEXITSTATUS(status) == CHILD_EXIT_RETIRED;
	if (WIFSIGNALED(status))
		log_warnx("child %d killed by signal %d", (int)c->pid,
		    WTERMSIG(status));
	else if (WEXITSTATUS(status) != 0 && !retired)
		log_warnx("child %d exited with status %d", (int)c->pid,
		    WEXITSTATUS(status));
	switch (c->state) {
	case CHILD_STARTING:
		pool->starting--;
		/* exit 0: told to go (SIGHUP, SIGTERM) before it said READY */
		if (pool->stopping ||
		    (WIFEXITED(status) && WEXITSTATUS(status) == 0))
			break;
		pool->startup_failures++;
		backoff = pool->startup_failures < 6 ?
		    1 << pool->startup_failures : BACKOFF_MAX;
		if (backoff > BACKOFF_MAX)
			backoff = BACKOFF_MAX;
		pool->fork_after = time(NULL) + backoff;
		log_warnx("child %d died before it was ready; "
		    "forking again in %d s", (int)c->pid, backoff);
		break;
	case CHILD_READY:
		pool->ready--;
		/* reaped before its RETIRING was read: that RETIRE is taken */
		if (retired && pool->retiring > 0)
			pool->retiring--;
		/* died in a session: no DONE came, its seat says which */
		seat = atomic_exchange(shm_seat((int)(c - children)), 0);
		if (seat != 0)
			session_done(SEAT_TICKET(seat));
		pool->recount = 1;
		break;
	}
	mark_dead(c->pid);
	if (c->state != CHILD_STARTING && !retired)
		wake_readers();
	c->state = CHILD_NONE;
	c->pid = 0;
	free_index[pool->nfree++] = (int)(c - children);
}

/*
 * A child killed between taking a message and writing its seat took the
 * message with it, and nothing tells the master: its count of sessions
 * (or RETIREs) stays one too high.  The READY children bound it, one
 * session or RETIRE each at most, but only while the pool's socket holds
 * nothing untaken: a hand-off queued there is a session whose child is
 * yet to come.  Bounding it at each death, as at first, forgot the
 * connections queued when the children left at a SIGHUP, and MaxClients
 * went over by as many (tests/crash.bats).  So after a death the bound
 * waits for an empty queue (SIOCOUTQ: what this end sent and nobody
 * took), looked at after the deaths are read and at each tick.  Then
 * the children's messages are read, in that order: a child says READY,
 * and the DONE of its last session, before it takes a hand-off, so
 * every child with a session is counted READY, every session counted
 * has a child or is over, and nothing is handed off meanwhile.
 */
static void
recount(void)
{
	int	 queued;

	if (!pool->recount)
		return;
	if (ioctl(handoff[0], SIOCOUTQ, &queued) == -1)
		log_warn("cannot read the pool's queue; bounding anyway");
	else if (queued > 0)
		return;
	/* what a child said before taking its last hand-off (READY, the
	 * DONE of its session before) is here now */
	child_message();
	pool->recount = 0;
	if (pool->retiring > pool->ready)
		pool->retiring = pool->ready;
	if (pool->busy > pool->ready - pool->retiring)
		pool->busy = pool->ready - pool->retiring;
}

static void
reap(void)
{
	pid_t	 pid;
	int	 status, i;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		/* what it said before it died is read before its death: a
		 * DONE left unread is dropped once its child is gone, and
		 * the session it ended lost if the seat names the next */
		child_message();
		for (i = 0; i < table_size; i++)
			if (children[i].pid == pid) {
				child_died(&children[i], status);
				break;
			}
	}
	recount();
}

static int
children_alive(void)
{
	return table_size - pool->nfree;
}

static void
signal_children(int sig)
{
	int	 i;

	for (i = 0; i < table_size; i++)
		if (children[i].pid > 0 && kill(children[i].pid, sig) == -1 &&
		    errno != ESRCH)
			log_warn("cannot signal child %d", (int)children[i].pid);
}

static void
begin_stop(const char *why)
{
	int	 fd;

	if (pool->stopping)
		return;
	log_notice("%s: shutting down", why);
	notify_systemd("STOPPING=1");
	pool->stopping = 1;
	update_accepting();
	/* the backlog too is told, not just dropped */
	while ((fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC)) != -1)
		say_and_close(fd, "Server is shutting down\n");
	close(listen_fd);
	signal_children(SIGTERM);
}

/* Only what the master alone uses, or what new children get by fork. */
static const char *const runtime_settings[] = {
	"MaxClients", "MinSpare", "MaxSpare", "MaxConnectionsPerChild",
	"Motd", "LogLevel", "SendTimeout", "IdleTimeout", "MaxLinesPerSecond",
	"LineBurst", "TrustLoopback"
};

static int
changes_at_run_time(const char *name)
{
	size_t	 i;

	for (i = 0; i < sizeof(runtime_settings) / sizeof(runtime_settings[0]);
	    i++)
		if (strcmp(name, runtime_settings[i]) == 0)
			return 1;
	return 0;
}

static void
log_change(const char *name, const char *was, const char *now, void *arg)
{
	(void)arg;
	if (changes_at_run_time(name))
		log_notice("SIGHUP: %s changed from \"%s\" to \"%s\"", name,
		    was, now);
	else
		log_warnx("SIGHUP: %s changed from \"%s\" to \"%s\": that "
		    "needs a restart, keeping \"%s\"", name, was, now, was);
}

static void
reload(void)
{
	struct config	 next;
	int		 refork;

	log_notice("SIGHUP: reading the configuration again");
	if (load_config(&next) == -1) {
		log_warnx("SIGHUP: the configuration has errors (above); "
		    "keeping the current settings");
		return;
	}
	config_changes(conf, &next, log_change, NULL);
	if (strcmp(conf->motd, next.motd) == 0 &&
	    strcmp(conf->motd_text, next.motd_text) != 0)
		log_notice("SIGHUP: the Motd file %s changed", next.motd + 1);
	if (next.max_clients > shm->max_clients) {
		log_warnx("SIGHUP: MaxClients %u is more than the %u slots "
		    "of the segment: %u until a restart", next.max_clients,
		    shm->max_clients, shm->max_clients);
		next.max_clients = shm->max_clients;
	}
	refork = strcmp(conf->motd_text, next.motd_text) != 0 ||
	    conf->max_connections_per_child != next.max_connections_per_child ||
	    conf->send_timeout != next.send_timeout ||
	    conf->idle_timeout != next.idle_timeout ||
	    conf->max_lines_per_second != next.max_lines_per_second ||
	    conf->line_burst != next.line_burst ||
	    conf->trust_loopback != next.trust_loopback;
	conf->max_clients = next.max_clients;
	conf->min_spare = next.min_spare;
	conf->max_spare = next.max_spare;
	conf->max_connections_per_child = next.max_connections_per_child;
	conf->send_timeout = next.send_timeout;
	conf->idle_timeout = next.idle_timeout;
	conf->max_lines_per_second = next.max_lines_per_second;
	conf->line_burst = next.line_burst;
	conf->trust_loopback = next.trust_loopback;
	strcpy(conf->motd, next.motd);
	strcpy(conf->motd_text, next.motd_text);
	strcpy(conf->log_level, next.log_level);
	log_set_level(log_level_value(next.log_level));
	if (refork) {
		log_notice("SIGHUP: replacing the children, each when its "
		    "session ends");
		signal_children(SIGHUP);
	}
	update_accepting();
}

/* SIGUSR1: a picture of the server, read without taking a lock. */
static void
report(void)
{
	uint32_t	 i, sessions = 0, dead = 0, rooms = 0;
	uint32_t	 state;

	for (i = 0; i < shm->max_clients; i++) {
		state = atomic_load(&shm_slot((int)i)->state);
		if (state == SLOT_ACTIVE)
			sessions++;
		else if (state == SLOT_DEAD)
			dead++;
	}
	for (i = 0; i < shm->max_rooms; i++)
		if (atomic_load(&shm_room((int)i)->members) > 0)
			rooms++;
	log_notice("SIGUSR1: %u sessions (MaxClients %u, %u slots), %u "
	    "slots awaiting the janitor, %u rooms in use (of %u)", sessions,
	    conf->max_clients, shm->max_clients, dead, rooms, shm->max_rooms);
	log_notice("SIGUSR1: children: %d idle, %d busy, %d starting, "
	    "%d retiring (MinSpare %u, MaxSpare %u); busy: sessions, and "
	    "connections handed over that no child has taken yet", available(),
	    pool->busy, pool->starting, pool->retiring, conf->min_spare,
	    conf->max_spare);
	log_notice("SIGUSR1: since start: %llu connections, %llu lines, "
	    "%llu repairs, %llu janitor frees",
	    (unsigned long long)atomic_load(&shm->connections),
	    (unsigned long long)atomic_load(&shm->lines),
	    (unsigned long long)atomic_load(&shm->repairs),
	    (unsigned long long)atomic_load(&shm->janitor_frees));
}

static void
handle_signals(void)
{
	struct signalfd_siginfo	 si;

	while (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			reap();
			break;
		case SIGTERM:
			begin_stop("SIGTERM");
			break;
		case SIGINT:
			begin_stop("SIGINT");
			break;
		case SIGHUP:
			if (!pool->stopping)
				reload();
			break;
		case SIGUSR1:
			report();
			break;
		}
	}
}

static void
pace_timer(int on)
{
	struct itimerspec	 its;

	memset(&its, 0, sizeof(its));
	if (on)
		its.it_interval.tv_nsec = its.it_value.tv_nsec =
		    PACE_PERIOD_MS * 1000000L;
	if (timerfd_settime(pacefd, 0, &its, NULL) == -1)
		fatal("timerfd_settime");
	pool->pacing = on;
}

/*
 * Every second: if readers pull on a timer, look at the CPUs four times
 * a second and move their budget (pace.c).  An idle server does not.
 */
static void
pace_check(void)
{
	if (pool->pacing || statfd == -1 ||
	    atomic_load(&shm->paced_pulls) == pool->pace.pulls)
		return;
	if (pace_sample(statfd, &pool->pace) == -1) {
		statfd = pace_close(statfd);
		return;
	}
	pace_timer(1);
}

static void
pace_step(void)
{
	struct pace_sample	 now;
	uint64_t		 ticks = 1, pulls, per_pull, ms;
	uint32_t		 was, budget;
	int			 busy;

	/* more than one tick: the master itself waited for a CPU */
	if (read(pacefd, &ticks, sizeof(ticks)) == -1 && errno != EAGAIN)
		fatal("timerfd");
	if (pace_sample(statfd, &now) == -1 || now.pulls == pool->pace.pulls) {
		pace_timer(0);		/* nobody paced: nothing to move */
		pool->pace.pulls = now.pulls;
		return;
	}
	was = atomic_load(&shm->pace_budget);
	budget = pace_next_budget(was, &pool->pace, &now, &busy, &per_pull);
	if (budget != was) {
		atomic_store(&shm->pace_budget, budget);
		pulls = now.pulls - pool->pace.pulls;	/* > 0: see above */
		ms = PACE_PERIOD_MS * ticks;	/* a read gives 1 or more */
		log_debug("paced readers: %u wake-ups a second (CPUs %d%% "
		    "busy; %llu timed pulls a second, %llu of them in rooms "
		    "of over %d, the others %llu lines each)", budget, busy,
		    (unsigned long long)(pulls * 1000 / ms),
		    (unsigned long long)((now.big - pool->pace.big) * 1000 /
		    ms), PACE_BIG_ROOM, (unsigned long long)per_pull);
	}
	pool->pace = now;
}

static void
tick(void)
{
	uint64_t	 ticks;

	if (read(timerfd, &ticks, sizeof(ticks)) == -1 && errno != EAGAIN)
		fatal("timerfd");
	log_clock_tick();	/* a change to or from summer time */
	if (pool->stopping && ++pool->stop_ticks > STOP_GRACE) {
		log_warnx("children still running after %d s: killing them",
		    STOP_GRACE);
		signal_children(SIGKILL);
	}
	if (available() > 0)
		pool->demand = 0;
	watch_unwatched();
	recount();
	pace_check();
}

/*
 * Zeroed memory for the master's own tables, never inherited: a page the
 * master writes after a fork stays behind as a private copy in every
 * child forked before the write (copy-on-write keeps the old page with
 * them), so a child would pay a page for each table the master touched.
 * MADV_DONTFORK keeps them out of the children altogether.  They live as
 * long as the master.
 */
static void *
master_table(size_t nmemb, size_t size, const char *what)
{
	void	*p;

	if (nmemb > SIZE_MAX / size)
		fatalx("the %s is too large", what);
	p = mmap(NULL, nmemb * size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		fatal("cannot allocate the %s", what);
	if (madvise(p, nmemb * size, MADV_DONTFORK) == -1)
		fatal("cannot keep the %s from the children", what);
	return p;
}

/* Tickets for every connection there can be, a table twice as big. */
static void
peers_setup(void)
{
	size_t	 n = (size_t)conf->max_clients + 64, size = 64;
	int	 i;

	while (size < 2 * n)
		size *= 2;
	peers = master_table(size, sizeof(*peers), "MaxClientsPerIP table");
	tickets = master_table(n, sizeof(*tickets), "MaxClientsPerIP table");
	ntickets = (int)n;
	peers_mask = (unsigned)size - 1;
	for (i = (int)n; i-- > 0; ) {
		tickets[i].next_free = pool->free_ticket;
		pool->free_ticket = i;
	}
}

/*
 * The signals the master takes through its signalfd, blocked.  main()
 * blocks them before it forks or binds, so one that comes early waits
 * instead of killing the master before it can remove its segment.
 */
void
master_block_signals(sigset_t *mask)
{
	sigemptyset(mask);
	sigaddset(mask, SIGCHLD);
	sigaddset(mask, SIGTERM);
	sigaddset(mask, SIGINT);
	sigaddset(mask, SIGHUP);
	sigaddset(mask, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, mask, NULL) == -1)
		fatal("sigprocmask");
}

static void
setup(void)
{
	struct itimerspec	 its;
	sigset_t		 mask;
	int			 i;

	/* room for the most a SIGHUP can ask for: the segment's slots and
	 * the largest pools */
	pool = master_table(1, sizeof(*pool), "pool state");
	pool->free_ticket = -1;
	table_size = (int)shm->seats;
	children = master_table((size_t)table_size, sizeof(*children),
	    "child table");
	free_index = master_table((size_t)table_size, sizeof(int),
	    "child table");
	for (i = table_size; i-- > 0; )
		free_index[pool->nfree++] = i;
	if (conf->max_clients_per_ip > 0)
		peers_setup();

	master_block_signals(&mask);
	if ((sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		fatal("signalfd");
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, handoff) == -1)
		fatal("cannot create the hand-off socketpair");
	if (fcntl(handoff[0], F_SETFL, O_NONBLOCK) == -1)
		fatal("fcntl");
	if (pipe2(alive, O_CLOEXEC) == -1)
		fatal("pipe2");
	if ((janitor = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		fatal("eventfd");
	if ((timerfd = timerfd_create(CLOCK_MONOTONIC,
	    TFD_NONBLOCK | TFD_CLOEXEC)) == -1)
		fatal("timerfd_create");
	memset(&its, 0, sizeof(its));
	its.it_interval.tv_sec = its.it_value.tv_sec = 1;
	if (timerfd_settime(timerfd, 0, &its, NULL) == -1)
		fatal("timerfd_settime");
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		fatal("epoll_create1");
	watch(listen_fd, 0, TAG_LISTEN, EPOLL_CTL_ADD);
	watch(handoff[0], EPOLLIN, TAG_CHILDREN, EPOLL_CTL_ADD);
	watch(sigfd, EPOLLIN, TAG_SIGNAL, EPOLL_CTL_ADD);
	watch(timerfd, EPOLLIN, TAG_TIMER, EPOLL_CTL_ADD);
	if ((pacefd = timerfd_create(CLOCK_MONOTONIC,
	    TFD_NONBLOCK | TFD_CLOEXEC)) == -1)
		fatal("timerfd_create");
	watch(pacefd, EPOLLIN, TAG_PACE, EPOLL_CTL_ADD);
	statfd = pace_open();
}

static int
master_loop(struct config *c, int fd, int (*load)(struct config *))
{
	struct epoll_event	 events[8];
	int			 n, i, ticked, ready = 0;

	conf = c;
	load_config = load;
	listen_fd = fd;
	setup();
	maintain_pool(0);
	while (!pool->stopping || children_alive() > 0) {
		/* the pool is up: tell systemd, if it asked (Type=notify) */
		if (!ready && available() >= (int)conf->min_spare) {
			notify_systemd("READY=1");
			ready = 1;
		}
		n = epoll_wait(epfd, events, 8, -1);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			fatal("epoll_wait");
		}
		ticked = 0;
		for (i = 0; i < n; i++) {
			switch (events[i].data.u32) {
			case TAG_LISTEN:
				if (!pool->stopping)
					accept_connections();
				break;
			case TAG_CHILDREN:
				child_message();
				break;
			case TAG_SIGNAL:
				handle_signals();
				break;
			case TAG_TIMER:
				tick();
				ticked = 1;
				break;
			case TAG_PACE:
				pace_step();
				break;
			}
		}
		retry_waiting();
		maintain_pool(ticked);
	}
	log_notice("all children have exited");
	return 0;
}

/*
 * The loop's own stack.  A child inherits every mapping the master has
 * touched, and with it the page-table pages that map it: one per 2 MiB
 * region, one per 1 GiB, one per 512 GiB.  The process's first stack
 * sits alone at the top of the address space, so it cost each child
 * three page-table pages (12 KiB) for one page of stack.  The loop runs
 * instead on a stack mapped just below the program, under the program's
 * own page-table pages, and children are forked without the first
 * stack (MADV_DONTFORK): nothing a child uses is there once the
 * environment is copied out of it and the configuration is static
 * (main()).  A child's /proc/PID/cmdline is empty with it (the kernel
 * reads the arguments from that stack): ps shows it by its title,
 * "[chatd: idle]".
 *
 * The loop begins at the top of a page, and a child's deepest calls
 * (its log lines, its first reply) stay within 3 KiB below it, so a
 * child writes one page of this stack (measured with pagemap).  Keep
 * deep buffers and printf out of the child's paths (log.c, cmd_help,
 * process_stat).  The master gets 256 KiB: libc allocates up to 64 KiB
 * on the stack (alloca) in name lookups, and it reloads its
 * configuration on SIGHUP here.  A page below it is PROT_NONE, so an
 * overflow faults instead of writing over something else.
 *
 * Under AddressSanitizer, whose runtime keeps track of the thread's
 * stack, and wherever the new stack cannot be had, the loop simply runs
 * where main() left it; that costs memory only.
 */
#define LOOP_STACK	((size_t)256 << 10)

#if defined(__SANITIZE_ADDRESS__)
#define MOVE_STACK	0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MOVE_STACK	0
#endif
#endif
#ifndef MOVE_STACK
#define MOVE_STACK	1
#endif

static struct {
	struct config	*conf;
	int		 fd;
	int		(*load)(struct config *);
	int		 status;
} loop_args;

static void
loop_entry(void)
{
	loop_args.status = master_loop(loop_args.conf, loop_args.fd,
	    loop_args.load);
}

/* The loop's stack, with its guard page, right below the program. */
static void *
loop_stack_map(void)
{
	extern char	 __executable_start;	/* the linker's */
	uintptr_t	 page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t	 start = (uintptr_t)&__executable_start & ~(page - 1);
	size_t		 size = LOOP_STACK + page;
	void		*p;

	if (start < size)
		return NULL;
	p = mmap((void *)(start - size), size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (p == MAP_FAILED) {
		log_warn("cannot map a stack for the master's loop");
		return NULL;
	}
	if (mprotect(p, page, PROT_NONE) == -1) {
		log_warn("cannot make the master's stack guard page");
		(void)munmap(p, size);
		return NULL;
	}
	return p;
}

/*
 * getenv(3) in a child (libc's messages, the torture hooks) reads
 * environ, whose strings are on the first stack: one block of copies
 * instead, kept for the process's life.
 */
static int
environ_copy(void)
{
	extern char	**environ;
	size_t		  n, i, bytes = 0;
	char		**vec, *s;

	for (n = 0; environ[n] != NULL; n++)
		bytes += strlen(environ[n]) + 1;
	if ((vec = malloc((n + 1) * sizeof(*vec) + bytes)) == NULL)
		return -1;
	s = (char *)(vec + n + 1);
	for (i = 0; i < n; i++) {
		vec[i] = s;
		s = stpcpy(s, environ[i]) + 1;
	}
	vec[n] = NULL;
	environ = vec;
	return 0;
}

/* Children are forked without the mapping that holds addr. */
static int
dontfork_mapping_of(uintptr_t addr)
{
	FILE		*f;
	char		 line[512];
	unsigned long	 lo, hi;
	int		 found = 0;

	if ((f = fopen("/proc/self/maps", "re")) == NULL)
		return -1;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = sscanf(line, "%lx-%lx", &lo, &hi) == 2 &&
		    lo <= addr && addr < hi;
	(void)fclose(f);
	if (!found) {
		errno = ENOENT;
		return -1;
	}
	return madvise((void *)lo, hi - lo, MADV_DONTFORK);
}

/*
 * glibc (2.35 on) registers each thread's rseq area with the kernel,
 * which then writes the number of the CPU into it whenever the thread
 * comes back from being preempted or moved: in every child, once it ran.
 * The area is at the end of the thread's control block, on a page of
 * its own, so each child wrote a private copy of that page, 4 KiB, for
 * a number chatd never reads (sched_getcpu(3) does, and falls back to a
 * system call once the area says it is not registered).  Children
 * inherit the registration, so the master drops it before it forks.
 * The kernel takes back exactly what was registered: the size glibc
 * gave, at least the 32 bytes of the first struct rseq.  Where glibc
 * did not register (GLIBC_TUNABLES=glibc.pthread.rseq=0, an old kernel)
 * there is nothing to do, and if the kernel refuses, a child costs the
 * page.  __rseq_size still says registered afterwards, which would
 * mislead a library that used rseq; chatd links none.  x86-64 and arm64
 * only: there gcc and clang both give the thread pointer.
 */
static void
rseq_drop(void)
{
#if defined(RSEQ_SIG) && (defined(__x86_64__) || defined(__aarch64__))
	struct rseq	*area;
	unsigned	 len = __rseq_size > 32 ? __rseq_size : 32;

	if (__rseq_size == 0)
		return;
	area = (struct rseq *)((char *)__builtin_thread_pointer() +
	    __rseq_offset);
	if (syscall(SYS_rseq, area, len, RSEQ_FLAG_UNREGISTER, RSEQ_SIG) ==
	    -1) {
		log_debug("cannot unregister rseq: %s (4 KiB more a child)",
		    strerror(errno));
		return;
	}
	area->cpu_id = RSEQ_CPU_ID_REGISTRATION_FAILED;
#endif
}

int
master_run(struct config *c, int fd, int (*load)(struct config *))
{
	/* on the first stack, which the master keeps: not in .bss, whose
	 * last page every child writes */
	ucontext_t	 run_context, loop_context;
	void		*stack;

	rseq_drop();
	if (!MOVE_STACK || (stack = loop_stack_map()) == NULL)
		return master_loop(c, fd, load);
	if (environ_copy() == -1 ||
	    dontfork_mapping_of((uintptr_t)&run_context) == -1)
		log_warn("cannot leave the first stack out of children "
		    "(12 KiB more each)");
	loop_args.conf = c;
	loop_args.fd = fd;
	loop_args.load = load;
	if (getcontext(&loop_context) == -1)
		fatal("getcontext");
	loop_context.uc_stack.ss_sp = (char *)stack +
	    (size_t)sysconf(_SC_PAGESIZE);
	loop_context.uc_stack.ss_size = LOOP_STACK;
	loop_context.uc_link = &run_context;
	makecontext(&loop_context, loop_entry, 0);
	if (swapcontext(&run_context, &loop_context) == -1)
		fatal("swapcontext");
	return loop_args.status;
}
