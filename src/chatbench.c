/*
 * chatbench: a load generator and benchmark client for chatd, or for any
 * other server that speaks the chat protocol of PROTOCOL.md.  It includes
 * nothing of chatd: it only knows the wire.
 *
 * One process, one thread, one epoll loop over non-blocking sockets.  The
 * workloads:
 *
 *   fanout  C clients in one room; S of them send M numbered, timestamped
 *	     lines each, either keeping a window of W unechoed lines or at a
 *	     fixed total rate.  Every client checks every such line it gets:
 *	     latency, order and gaps per (receiver, sender).
 *   churn   D clients each in a loop: connect, /join a random room, send a
 *	     line, wait for its echo, /quit, wait for the close.
 *   idle    C clients connect and hold; with the server's pid, what the
 *	     server and the kernel spend on them.
 *
 * Every run that starts ends with exactly one "RESULT workload=... key=value"
 * line on stdout; progress and diagnostics go to stderr.  Exit status: 0 all
 * went well, 1 something was lost, failed or timed out, 2 usage.
 *
 * It connects to 127.0.0.0/8 only: it exists to load a server on this machine
 * and must never be pointed at someone else's.
 *
 * Memory per connection is small and fixed, so that tens of thousands of
 * connections cost a few tens of MB: bytes are read into one shared buffer
 * and parsed in place; only a line split across two reads is copied, into the
 * connection's own carry buffer (a little longer than the longest line
 * expected).  What a write leaves unsent waits in a small per-connection
 * buffer for EPOLLOUT; nothing is queued beyond it.  Latencies go into a
 * log-linear histogram (under 0.4% error) rather than a list.
 *
 * Nothing blocks but the short /proc reads of the idle workload, and every
 * wait in the loop is bounded by the -T deadline, so a run cannot outlive it.
 */
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT	24	/* Linux 4.2, <linux/in.h> */
#endif

#define NS_PER_MS	1000000LL
#define NS_PER_S	1000000000LL

#define READ_SIZE	(64 * 1024)	/* the one read buffer, shared */
#define MAX_EVENTS	1024
#define SMALL_OUT	64		/* "/join ROOM", "/quit", churn line */
#define MIN_CARRY	256		/* any notice or help line fits */
#define NAME_ROOM	64		/* "NAME: " before a line: NAME <= 20 */
#define ROOM_MAX	20
#define MAX_TRIES	5		/* connection attempts per client */
#define BACKOFF_NS	(100 * NS_PER_MS)	/* first retry wait, doubling */
#define BURST_NS	(10 * NS_PER_MS)	/* catch-up after a slow loop */
#define SWEEP_NS	(100 * NS_PER_MS)	/* timeout and retry checks */
#define CHURN_PAUSE_NS	(10 * NS_PER_MS)	/* after a failed cycle */
#define PROGRESS_NS	NS_PER_S
#define RATE_LINES	16		/* lines a paced sender can queue */
#define MAX_NOTES	10		/* connection errors shown without -v */
#define MIN_LENGTH	48		/* "b SENDER SEQ NS " always fits */
#define MAX_PAIRS	(256UL * 1024 * 1024)	/* receiver x sender counters */

#define FULL_LINE	"Server is full, try again later"
#define BUSY_PREFIX	"Server is very busy and dropped "
#define JOINED_PREFIX	"You joined "

/*
 * Latency histogram: values below HIST_SUB ns have a bucket each; above,
 * each power of two is cut in HIST_HALF buckets, so a bucket's midpoint is
 * within 1/HIST_SUB (0.4%) of any value in it.  60 KB covers any int64.
 */
#define HIST_SUB_BITS	8
#define HIST_SUB	(1 << HIST_SUB_BITS)
#define HIST_HALF	(HIST_SUB / 2)
#define HIST_BUCKETS	(HIST_SUB + (64 - HIST_SUB_BITS) * HIST_HALF)

struct histogram {
	uint64_t	 count;
	uint64_t	 max;
	double		 sum;
	uint64_t	 buckets[HIST_BUCKETS];
};

struct options {
	const struct workload	*workload;
	struct sockaddr_in	*servers;	/* -a, round robin */
	int			 nservers;
	struct sockaddr_in	*sources;	/* -S, round robin */
	int			 nsources;
	int			 port;
	int			 clients;	/* -c */
	int			 senders;	/* -s */
	uint32_t		 lines;		/* -m, per sender */
	int			 window;	/* -w */
	double			 rate;		/* -f, lines/s in all; 0: -w */
	int			 length;	/* -l, without the '\n' */
	const char		*room;		/* -R */
	int64_t			 drain;		/* -D */
	int64_t			 limit;		/* -T */
	int64_t			 timeout;	/* -W */
	int64_t			 duration;	/* -t */
	int			 parallel;	/* -d */
	int			 rooms;		/* -k */
	int			 rooms_spread;	/* idle: -k given */
	double			 connect_rate;	/* -r; 0: unlimited */
	pid_t			 server_pid;	/* -P, --pid */
	int			 drop_caches;	/* -x */
	int			 verbose;	/* -v */
};

enum conn_state {
	CONN_NEW,		/* not started yet */
	CONN_BACKOFF,		/* waiting to try again at deadline */
	CONN_CONNECTING,	/* connect(2) in progress */
	CONN_GREETING,		/* connected, until "You joined main" */
	CONN_JOINING,		/* sent /join, until "You joined ROOM" */
	CONN_READY,		/* in its room */
	CONN_ECHO,		/* churn: sent its line, until the echo */
	CONN_QUITTING,		/* churn: sent /quit, until the close */
	CONN_CLOSED		/* for good: failed or disconnected */
};

enum end_reason {
	END_DONE,		/* churn: closed after /quit, as it should */
	END_REFUSED,		/* ECONNREFUSED */
	END_FULL,		/* "Server is full", then closed */
	END_TIMEOUT,		/* -W passed */
	END_CLOSED,		/* the server closed unasked */
	END_ERROR,		/* any other error */
	END_REASONS
};

static const char *const end_names[END_REASONS] = {
	"done", "refused", "full", "timeout", "closed", "error"
};

struct conn {
	int		 fd;		/* -1 when closed */
	uint32_t	 index;
	uint32_t	 generation;	/* bumped on close: callers can tell */
	uint8_t		 state;		/* enum conn_state */
	uint8_t		 tries;		/* connection attempts so far */
	uint8_t		 full;		/* got FULL_LINE */
	uint8_t		 overlong;	/* dropping a line longer than carry */
	uint8_t		 want_out;	/* EPOLLOUT is registered */
	uint32_t	 room;		/* index in bench.rooms */
	uint32_t	 server;	/* index in options.servers */
	int32_t		 sender;	/* fanout: index in senders, or -1 */
	uint32_t	 cycle;		/* churn: cycles begun */
	int64_t		 deadline;	/* give up, or BACKOFF: try again */
	int64_t		 started;	/* churn: when this cycle began */
	char		*carry;		/* a line begun in an earlier read */
	uint32_t	 carry_len;
	uint32_t	 out_len;	/* bytes waiting in out */
	uint32_t	 out_cap;
	char		*out;		/* small, or a sender's own buffer */
	char		 small[SMALL_OUT];
};

struct sender {
	struct conn	*conn;
	uint32_t	 next;		/* sequence number of the next line */
	uint32_t	 echoed;	/* lines before this came back to it */
	uint32_t	 due;		/* rate mode: lines due by now */
	int		 finished;	/* sent all, or its connection died */
};

struct fanout {
	struct sender	*senders;
	uint32_t	*next_seq;	/* [receiver * senders + sender] */
	uint64_t	 expected;
	uint64_t	 received;
	uint64_t	 reordered;	/* came after a later line, same pair */
	uint64_t	 gaps;		/* times a pair skipped lines */
	uint64_t	 malformed;
	uint64_t	 sent;
	uint64_t	 scheduled;	/* rate mode: lines due, all senders */
	uint32_t	 finished;	/* senders done */
	uint64_t	 notices;	/* busy notices once sending began */
	uint64_t	 notice_msgs;	/* the sum of their N */
	uint64_t	 setup_notices;	/* busy notices while connecting */
	uint64_t	 setup_notice_msgs;
	int64_t		 first_send;
	int64_t		 last_send;
	int64_t		 last_delivery;
};

struct churn {
	uint64_t	 cycles;
	uint64_t	 failures;
	uint64_t	 by_reason[END_REASONS];
	int64_t		 began;
	int64_t		 end;
	uint64_t	 random;	/* xorshift64 state */
};

struct meminfo {
	long long	 avail;		/* all KiB, as /proc/meminfo says */
	long long	 pagetables;
	long long	 kernelstack;
	long long	 slab;
	long long	 sunreclaim;
	long long	 anon;
};

struct procmem {
	int		 procs;
	long long	 pss;		/* KiB */
	long long	 uss;		/* Private_Clean + Private_Dirty, KiB */
};

struct snapshot {
	int		 mem_ok;
	int		 server_ok;
	int		 dropped;	/* drop_caches: 1 done, 0 off, -1 no */
	struct meminfo	 mem;
	struct procmem	 server;
};

struct idle {
	int64_t		 hold_end;
	struct snapshot	 before;
	struct snapshot	 after;
	int		 measured;	/* after is filled in */
};

enum phase {
	PHASE_CONNECT,		/* connecting every client */
	PHASE_RUN		/* fanout: sending; idle: holding */
};

struct bench {
	const struct options	*opt;
	const struct workload	*workload;
	int			 epfd;
	struct conn		*conns;
	uint32_t		 nconns;
	char			*carry;		/* every conn's carry buffer */
	uint32_t		 carry_cap;
	char			(*rooms)[ROOM_MAX + 1];
	uint32_t		 nrooms;
	int64_t			 now;		/* refreshed by the loop */
	int64_t			 start;
	int64_t			 deadline;	/* -T */
	int64_t			 connect_interval; /* 0: unlimited */
	int64_t			 next_connect;
	int64_t			 next_sweep;
	int64_t			 next_progress;
	int64_t			 connected_at;	/* all clients settled */
	uint32_t		 ramp;		/* next CONN_NEW to start */
	uint32_t		 ready;		/* got into their room */
	uint32_t		 failed;	/* gave up connecting */
	uint32_t		 disconnects;	/* lost once ready */
	uint64_t		 attempts;
	uint64_t		 retries;
	uint64_t		 overlong;
	unsigned		 notes;
	enum phase		 phase;
	int			 finished;
	int			 timed_out;
	int			 interrupted;
	struct histogram	 hist;
	struct histogram	 lag;		/* rate mode: sent after due */
	struct fanout		 f;
	struct churn		 ch;
	struct idle		 id;
};

/* One workload is a row of callbacks; the loop and connections are shared. */
struct workload {
	const char	*name;
	const char	*options;	/* letters of its own options */
	int		(*setup)(struct bench *);
	int64_t		(*tick)(struct bench *);	/* next wakeup */
	void		(*ready)(struct bench *, struct conn *);
	void		(*line)(struct bench *, struct conn *, const char *,
			    size_t);
	void		(*ended)(struct bench *, struct conn *,
			    enum conn_state, enum end_reason);
	void		(*writable)(struct bench *, struct conn *);
	void		(*progress)(struct bench *);
	int		(*report)(struct bench *);	/* exit status */
};

static volatile sig_atomic_t	 stop_signal;
static char			 readbuf[READ_SIZE];

static void	conn_end(struct bench *, struct conn *, enum end_reason, int,
		    const char *);

/*
 * Small helpers.
 */

static int64_t
now_ns(void)
{
	struct timespec	 ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		err(1, "clock_gettime");
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static double
seconds(int64_t ns)
{
	return (double)ns / NS_PER_S;
}

static int64_t
min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

__attribute__((format(printf, 2, 3)))
static void
note(struct bench *b, const char *fmt, ...)
{
	va_list	 ap;

	if (!b->opt->verbose && b->notes >= MAX_NOTES) {
		if (b->notes++ == MAX_NOTES)
			warnx("further connection errors not shown "
			    "(-v shows them)");
		return;
	}
	b->notes++;
	va_start(ap, fmt);
	vwarnx(fmt, ap);
	va_end(ap);
}

static int
line_is(const char *line, size_t len, const char *s)
{
	return len == strlen(s) && memcmp(line, s, len) == 0;
}

static int
line_starts(const char *line, size_t len, const char *prefix)
{
	size_t	 n = strlen(prefix);

	return len >= n && memcmp(line, prefix, n) == 0;
}

/* A decimal number and the one space or line end after it. */
static int
parse_u64(const char **pp, const char *end, uint64_t *v)
{
	const char	*p = *pp;
	uint64_t	 n = 0;

	if (p == end || *p < '0' || *p > '9')
		return 0;
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		if (n > (UINT64_MAX - 9) / 10)
			return 0;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	if (p < end) {
		if (*p != ' ')
			return 0;
		p++;
	}
	*pp = p;
	*v = n;
	return 1;
}

static uint64_t
random_next(uint64_t *state)
{
	uint64_t	 x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *state = x;
}

/*
 * Latency histogram.
 */

static size_t
hist_bucket(uint64_t v)
{
	int	 shift;

	if (v < HIST_SUB)
		return v;
	/* v >> shift falls in [HIST_HALF, HIST_SUB) */
	shift = 63 - __builtin_clzll(v) - (HIST_SUB_BITS - 1);
	return HIST_SUB + (size_t)(shift - 1) * HIST_HALF +
	    ((v >> shift) - HIST_HALF);
}

/* The midpoint of a bucket. */
static uint64_t
hist_value(size_t bucket)
{
	size_t	 i, shift;

	if (bucket < HIST_SUB)
		return bucket;
	i = bucket - HIST_SUB;
	shift = i / HIST_HALF + 1;
	return ((uint64_t)(i % HIST_HALF + HIST_HALF) << shift) +
	    ((uint64_t)1 << (shift - 1));
}

static void
hist_add(struct histogram *h, int64_t ns)
{
	uint64_t	 v = ns > 0 ? (uint64_t)ns : 0;

	h->buckets[hist_bucket(v)]++;
	h->count++;
	h->sum += (double)v;
	if (v > h->max)
		h->max = v;
}

/* The q quantile, in ms. */
static double
hist_ms(const struct histogram *h, double q)
{
	uint64_t	 rank, seen = 0, v;
	size_t		 i;

	if (h->count == 0)
		return 0;
	rank = (uint64_t)ceil(q * (double)h->count);
	if (rank < 1)
		rank = 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank)
			break;
	}
	v = i < HIST_BUCKETS ? hist_value(i) : h->max;
	if (v > h->max)
		v = h->max;
	return (double)v / NS_PER_MS;
}

static void
hist_print(const struct histogram *h, const char *prefix)
{
	printf(" %sp50_ms=%.3f %sp90_ms=%.3f %sp99_ms=%.3f %sp999_ms=%.3f"
	    " %smax_ms=%.3f %smean_ms=%.3f",
	    prefix, hist_ms(h, 0.50), prefix, hist_ms(h, 0.90),
	    prefix, hist_ms(h, 0.99), prefix, hist_ms(h, 0.999),
	    prefix, (double)h->max / NS_PER_MS,
	    prefix, h->count ? h->sum / (double)h->count / NS_PER_MS : 0.0);
}

/*
 * Connections: connect, read lines, write what fits and keep the rest.
 */

/* A token bucket of sorts: one connect per interval, little catching up. */
static int
rate_take(struct bench *b)
{
	if (b->connect_interval == 0)
		return 1;
	if (b->now < b->next_connect)
		return 0;
	if (b->next_connect < b->now - BURST_NS)
		b->next_connect = b->now - BURST_NS;
	b->next_connect += b->connect_interval;
	return 1;
}

static void
conn_want_out(struct bench *b, struct conn *c, int on)
{
	struct epoll_event	 ev;

	if (c->want_out == on)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | (on ? EPOLLOUT : 0);
	ev.data.ptr = c;
	if (epoll_ctl(b->epfd, EPOLL_CTL_MOD, c->fd, &ev) == -1) {
		conn_end(b, c, END_ERROR, errno, "epoll_ctl");
		return;
	}
	c->want_out = on != 0;
}

/*
 * Binding a source address with the port left to connect(2) lets the kernel
 * pick ports per destination, so each source adds a whole port range.
 */
static int
bind_source(int fd, const struct sockaddr_in *src)
{
	int	 one = 1;

	if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
	    sizeof(one)) == -1)
		return -1;
	return bind(fd, (const struct sockaddr *)src, sizeof(*src));
}

/* "connect 127.0.0.1:PORT: Connection refused" says which server. */
static void
conn_failed(struct bench *b, struct conn *c, int error)
{
	const struct sockaddr_in *dst = &b->opt->servers[c->server];
	char			 what[64], host[INET_ADDRSTRLEN] = "?";

	inet_ntop(AF_INET, &dst->sin_addr, host, sizeof(host));
	snprintf(what, sizeof(what), "connect %s:%d", host,
	    ntohs(dst->sin_port));
	conn_end(b, c, END_ERROR, error, what);
}

static void
conn_start(struct bench *b, struct conn *c)
{
	const struct options	*o = b->opt;
	const struct sockaddr_in *dst;
	struct epoll_event	 ev;
	uint64_t		 pick = b->attempts++;
	int			 one = 1;

	c->tries++;
	c->state = CONN_CONNECTING;
	c->deadline = b->now + o->timeout;
	if ((c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1) {
		conn_end(b, c, END_ERROR, errno, "socket");
		return;
	}
	if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof(one)) == -1) {
		conn_end(b, c, END_ERROR, errno, "setsockopt TCP_NODELAY");
		return;
	}
	if (o->nsources > 0 && bind_source(c->fd,
	    &o->sources[pick % (uint64_t)o->nsources]) == -1) {
		conn_end(b, c, END_ERROR, errno, "bind source address");
		return;
	}
	/* Completion, immediate or not, shows up as EPOLLOUT. */
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLOUT;
	ev.data.ptr = c;
	if (epoll_ctl(b->epfd, EPOLL_CTL_ADD, c->fd, &ev) == -1) {
		conn_end(b, c, END_ERROR, errno, "epoll_ctl");
		return;
	}
	c->want_out = 1;
	c->server = (uint32_t)(pick % (uint64_t)o->nservers);
	dst = &o->servers[c->server];
	if (connect(c->fd, (const struct sockaddr *)dst, sizeof(*dst)) == -1 &&
	    errno != EINPROGRESS)
		conn_failed(b, c, errno);
}

static void
conn_connected(struct bench *b, struct conn *c)
{
	socklen_t	 len = sizeof(int);
	int		 error = 0;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &error, &len) == -1) {
		conn_end(b, c, END_ERROR, errno, "getsockopt SO_ERROR");
		return;
	}
	if (error != 0) {
		conn_failed(b, c, error);
		return;
	}
	c->state = CONN_GREETING;
	conn_want_out(b, c, 0);
}

/* Closes, forgets what was buffered, and lets the workload decide what next. */
static void
conn_end(struct bench *b, struct conn *c, enum end_reason why, int error,
    const char *what)
{
	enum conn_state	 was = c->state;

	if (why == END_CLOSED && c->full)
		why = END_FULL;
	if (why == END_ERROR && error == ECONNREFUSED)
		why = END_REFUSED;
	if (why == END_FULL)
		note(b, "client %u: server is full", c->index);
	else if (why != END_DONE && error != 0)
		note(b, "client %u: %s: %s", c->index, what, strerror(error));
	else if (why != END_DONE)
		note(b, "client %u: %s", c->index, what);
	if (c->fd != -1 && close(c->fd) == -1)
		note(b, "client %u: close: %s", c->index, strerror(errno));
	c->fd = -1;
	c->generation++;
	c->carry_len = 0;
	c->out_len = 0;
	c->want_out = 0;
	c->overlong = 0;
	c->full = 0;
	c->state = CONN_CLOSED;
	b->workload->ended(b, c, was, why);
}

static int
conn_queue(struct conn *c, const char *data, size_t len)
{
	if (c->out_cap - c->out_len < len)
		return -1;
	memcpy(c->out + c->out_len, data, len);
	c->out_len += (uint32_t)len;
	return 0;
}

/* Writes what the socket takes; the rest waits for EPOLLOUT. */
static void
conn_flush(struct bench *b, struct conn *c)
{
	size_t	 done = 0;
	ssize_t	 n;

	while (done < c->out_len) {
		n = send(c->fd, c->out + done, c->out_len - done,
		    MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			conn_end(b, c, END_ERROR, errno, "write");
			return;
		}
		done += (size_t)n;
	}
	memmove(c->out, c->out + done, c->out_len - done);
	c->out_len -= (uint32_t)done;
	conn_want_out(b, c, c->out_len > 0);
}

static void
conn_send(struct bench *b, struct conn *c, const char *line)
{
	if (conn_queue(c, line, strlen(line)) == -1) {
		conn_end(b, c, END_ERROR, ENOBUFS, "queue a command");
		return;
	}
	conn_flush(b, c);
}

static void
conn_ready(struct bench *b, struct conn *c)
{
	c->state = CONN_READY;
	b->workload->ready(b, c);
}

static int
line_joined(const char *line, size_t len, const char *room)
{
	size_t	 n = strlen(JOINED_PREFIX);

	return line_starts(line, len, JOINED_PREFIX) &&
	    line_is(line + n, len - n, room);
}

/* The handshake is the same everywhere; the rest is the workload's. */
static void
conn_line(struct bench *b, struct conn *c, const char *line, size_t len)
{
	const char	*room = b->rooms[c->room];
	char		 join[SMALL_OUT];

	switch (c->state) {
	case CONN_GREETING:
		if (line_is(line, len, FULL_LINE))
			c->full = 1;
		else if (line_joined(line, len, "main")) {
			if (strcmp(room, "main") == 0) {
				conn_ready(b, c);
				break;
			}
			c->state = CONN_JOINING;
			snprintf(join, sizeof(join), "/join %s\n", room);
			conn_send(b, c, join);
		}
		break;
	case CONN_JOINING:
		if (line_joined(line, len, room))
			conn_ready(b, c);
		break;
	default:
		b->workload->line(b, c, line, len);
	}
}

/* Keeps the start of a line that the next read will finish. */
static void
conn_carry(struct bench *b, struct conn *c, const char *p, size_t len)
{
	if (c->overlong)
		return;
	if (b->carry_cap - c->carry_len < len) {
		c->overlong = 1;
		c->carry_len = 0;
		return;
	}
	memcpy(c->carry + c->carry_len, p, len);
	c->carry_len += (uint32_t)len;
}

static void
conn_read(struct bench *b, struct conn *c)
{
	uint32_t	 generation = c->generation;
	const char	*p, *end, *nl;
	ssize_t		 n;

	if ((n = read(c->fd, readbuf, sizeof(readbuf))) == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		if (c->state == CONN_QUITTING && errno == ECONNRESET)
			conn_end(b, c, END_DONE, 0, "closed");
		else
			conn_end(b, c, END_ERROR, errno, "read");
		return;
	}
	if (n == 0) {
		conn_end(b, c, c->state == CONN_QUITTING ? END_DONE :
		    END_CLOSED, 0, "closed by the server");
		return;
	}
	b->now = now_ns();	/* every line in here arrived by now */
	for (p = readbuf, end = readbuf + n; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL) {
			conn_carry(b, c, p, (size_t)(end - p));
			return;
		}
		if (c->carry_len == 0 && !c->overlong)
			conn_line(b, c, p, (size_t)(nl - p));
		else {
			conn_carry(b, c, p, (size_t)(nl - p));
			if (c->overlong)
				b->overlong++;
			else
				conn_line(b, c, c->carry, c->carry_len);
			c->carry_len = 0;
			c->overlong = 0;
		}
		if (c->generation != generation)
			return;
	}
}

static void
conn_event(struct bench *b, struct conn *c, uint32_t events)
{
	uint32_t	 generation = c->generation;

	if (c->fd == -1)
		return;
	if (c->state == CONN_CONNECTING) {
		if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0)
			return;
		conn_connected(b, c);
		if (c->generation != generation)
			return;
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
		conn_read(b, c);
		if (c->generation != generation)
			return;
	}
	if ((events & EPOLLOUT) && c->out_len > 0) {
		conn_flush(b, c);
		if (c->generation != generation)
			return;
	}
	if ((events & EPOLLOUT) && c->out_len == 0 &&
	    b->workload->writable != NULL)
		b->workload->writable(b, c);
}

/*
 * Connecting a fixed population (fanout, idle): start clients at the
 * connect rate, retry the ones that fail, time out the ones that hang.
 */

static int
handshaking(const struct conn *c)
{
	return c->state >= CONN_CONNECTING && c->state <= CONN_QUITTING &&
	    c->state != CONN_READY;
}

static void
sweep(struct bench *b)
{
	struct conn	*c;
	uint32_t	 i;

	for (i = 0; i < b->nconns; i++) {
		c = &b->conns[i];
		if (handshaking(c) && b->now >= c->deadline)
			conn_end(b, c, END_TIMEOUT, 0, "timed out");
		else if (c->state == CONN_BACKOFF && b->now >= c->deadline &&
		    rate_take(b))
			conn_start(b, c);
	}
}

/* Returns when it wants to be called again. */
static int64_t
connect_all(struct bench *b)
{
	int64_t	 next;

	while (b->ramp < b->nconns && rate_take(b))
		conn_start(b, &b->conns[b->ramp++]);
	if (b->now >= b->next_sweep) {
		sweep(b);
		b->next_sweep = b->now + SWEEP_NS;
	}
	next = b->next_sweep;
	if (b->ramp < b->nconns)
		next = min64(next, b->next_connect);
	return next;
}

/* A client that never got into its room tries again, a few times. */
static void
population_ended(struct bench *b, struct conn *c, enum conn_state was)
{
	if (was == CONN_READY) {
		b->disconnects++;
		return;
	}
	if (c->tries < MAX_TRIES) {
		c->state = CONN_BACKOFF;
		c->deadline = b->now + (BACKOFF_NS << (c->tries - 1));
		b->retries++;
		return;
	}
	b->failed++;
	note(b, "client %u: giving up after %d attempts", c->index, c->tries);
}

static int
all_settled(const struct bench *b)
{
	return b->ready + b->failed == b->nconns;
}

static void
print_connects(const struct bench *b)
{
	printf(" connect_failures=%u connect_retries=%" PRIu64
	    " disconnects=%u", b->failed, b->retries, b->disconnects);
	if (b->overlong > 0)
		printf(" overlong_lines=%" PRIu64, b->overlong);
}

static void
print_end(const struct bench *b)
{
	printf(" elapsed_s=%.3f timeout=%d interrupted=%d\n",
	    seconds(b->now - b->start), b->timed_out, b->interrupted);
	if (fflush(stdout) == EOF)
		warn("stdout");
}

/*
 * fanout: every sender's line reaches every client in the room.
 */

static int64_t
due_time(const struct bench *b, uint32_t sender, uint32_t seq)
{
	double	 g = (double)seq * b->opt->senders + sender;

	return b->f.first_send + (int64_t)(g * NS_PER_S / b->opt->rate);
}

/* "b SENDER SEQ SENT_NS " padded with 'x' to -l bytes, then '\n'. */
static void
fanout_format(struct bench *b, struct conn *c, uint32_t sender, uint32_t seq,
    int64_t sent)
{
	char	*buf = c->out + c->out_len;
	size_t	 length = (size_t)b->opt->length;
	int	 n;

	n = snprintf(buf, length + 1, "b %" PRIu32 " %" PRIu32 " %" PRId64
	    " ", sender, seq, sent);
	memset(buf + n, 'x', length - (size_t)n);
	buf[length] = '\n';
	c->out_len += (uint32_t)length + 1;
}

static void
sender_finished(struct bench *b, struct sender *s)
{
	if (!s->finished) {
		s->finished = 1;
		b->f.finished++;
	}
}

/* Sends what the window or the schedule allows and the buffer holds. */
static void
sender_pump(struct bench *b, struct sender *s)
{
	const struct options	*o = b->opt;
	struct conn		*c = s->conn;
	uint32_t		 limit, id = (uint32_t)c->sender, queued = 0;

	if (s->finished || c->state != CONN_READY || b->phase != PHASE_RUN)
		return;
	if (o->rate > 0)
		limit = s->due;
	else
		limit = s->echoed + (uint32_t)o->window < o->lines ?
		    s->echoed + (uint32_t)o->window : o->lines;
	/*
	 * A line carries the time it went out, so its latency is the
	 * server's and the wire's, not this machine's timer lateness (a
	 * timer here fires 0.2-0.4 ms late even when all is idle, measured).
	 * How late a paced line went out is its own figure, send_lag_*: a
	 * sender held up by the server (coordinated omission) shows there.
	 */
	while (s->next < limit &&
	    c->out_cap - c->out_len >= (uint32_t)o->length + 1) {
		if (o->rate > 0)
			hist_add(&b->lag, b->now - due_time(b, id, s->next));
		fanout_format(b, c, id, s->next, b->now);
		s->next++;
		queued++;
	}
	if (queued == 0)
		return;
	b->f.sent += queued;
	b->f.last_send = b->now;
	if (s->next == o->lines)
		sender_finished(b, s);
	conn_flush(b, c);
}

static void
fanout_delivery(struct bench *b, struct conn *c, uint32_t sender,
    uint32_t seq, int64_t sent)
{
	uint32_t	*expect;
	struct sender	*s;

	expect = &b->f.next_seq[(size_t)c->index * (size_t)b->opt->senders +
	    sender];
	b->f.received++;
	if (seq == *expect)
		(*expect)++;
	else if (seq > *expect) {
		b->f.gaps++;
		*expect = seq + 1;
	} else
		b->f.reordered++;
	hist_add(&b->hist, b->now - sent);
	b->f.last_delivery = b->now;
	if (c->sender != (int32_t)sender)
		return;
	s = &b->f.senders[sender];
	if (seq + 1 > s->echoed)
		s->echoed = seq + 1;
	if (b->opt->rate == 0)
		sender_pump(b, s);
}

static void
fanout_busy(struct bench *b, struct conn *c, const char *line, size_t len)
{
	const char	*p = line + strlen(BUSY_PREFIX);
	uint64_t	 n = 0;

	if (!parse_u64(&p, line + len, &n))
		b->f.malformed++;
	if (b->phase == PHASE_RUN) {
		b->f.notices++;
		b->f.notice_msgs += n;
	} else {
		b->f.setup_notices++;
		b->f.setup_notice_msgs += n;
	}
	/* Its own lines may be among those skipped: stop waiting for them. */
	if (c->sender >= 0 && b->opt->rate == 0) {
		b->f.senders[c->sender].echoed = b->f.senders[c->sender].next;
		sender_pump(b, &b->f.senders[c->sender]);
	}
}

/* "NAME: b SENDER SEQ SENT_NS xxx", or a notice; the rest is ignored. */
static void
fanout_line(struct bench *b, struct conn *c, const char *line, size_t len)
{
	const char	*p, *end = line + len;
	uint64_t	 sender, seq, sent;

	if (line_starts(line, len, BUSY_PREFIX)) {
		fanout_busy(b, c, line, len);
		return;
	}
	if ((p = memchr(line, ':', len)) == NULL || end - p < 4 ||
	    memcmp(p, ": b ", 4) != 0)
		return;
	p += 4;
	if (!parse_u64(&p, end, &sender) || !parse_u64(&p, end, &seq) ||
	    !parse_u64(&p, end, &sent) ||
	    sender >= (uint64_t)b->opt->senders || seq >= b->opt->lines ||
	    sent > INT64_MAX) {
		b->f.malformed++;
		return;
	}
	fanout_delivery(b, c, (uint32_t)sender, (uint32_t)seq, (int64_t)sent);
}

static int
fanout_setup(struct bench *b)
{
	const struct options	*o = b->opt;
	size_t			 pairs, cap;
	struct sender		*s;
	int			 i;

	pairs = (size_t)o->clients * (size_t)o->senders;
	if (pairs > MAX_PAIRS) {
		warnx("-c %d with -s %d: too many (receiver, sender) pairs",
		    o->clients, o->senders);
		return -1;
	}
	if ((b->f.next_seq = calloc(pairs, sizeof(uint32_t))) == NULL ||
	    (b->f.senders = calloc((size_t)o->senders,
	    sizeof(struct sender))) == NULL) {
		warn("fanout tables");
		return -1;
	}
	cap = (size_t)(o->rate > 0 ? RATE_LINES : o->window) *
	    ((size_t)o->length + 1);
	for (i = 0; i < o->senders; i++) {
		s = &b->f.senders[i];
		s->conn = &b->conns[i];
		s->conn->sender = i;
		if ((s->conn->out = malloc(cap)) == NULL) {
			warn("sender buffer");
			return -1;
		}
		s->conn->out_cap = (uint32_t)cap;
	}
	b->f.expected = (uint64_t)o->clients * (uint64_t)o->senders *
	    o->lines;
	return 0;
}

static void
fanout_ready(struct bench *b, struct conn *c)
{
	(void)c;
	b->ready++;
}

static void
fanout_ended(struct bench *b, struct conn *c, enum conn_state was,
    enum end_reason why)
{
	(void)why;
	population_ended(b, c, was);
	if (was == CONN_READY && c->sender >= 0)
		sender_finished(b, &b->f.senders[c->sender]);
}

static void
fanout_writable(struct bench *b, struct conn *c)
{
	if (c->sender >= 0)
		sender_pump(b, &b->f.senders[c->sender]);
}

static void
fanout_begin(struct bench *b)
{
	int	 i;

	b->connected_at = b->now;
	b->phase = PHASE_RUN;
	b->f.first_send = b->f.last_send = b->now;
	fprintf(stderr, "chatbench: %u clients in %s after %.3fs, sending\n",
	    b->ready, b->rooms[0], seconds(b->now - b->start));
	if (b->opt->rate == 0)
		for (i = 0; i < b->opt->senders; i++)
			sender_pump(b, &b->f.senders[i]);
}

/* Rate mode: line g (all senders) is due at g / rate; sender g % S sends. */
static int64_t
fanout_schedule(struct bench *b)
{
	const struct options	*o = b->opt;
	uint64_t		 total, due, g;
	uint32_t		 i, n = (uint32_t)o->senders;

	total = (uint64_t)n * o->lines;
	due = (uint64_t)(seconds(b->now - b->f.first_send) * o->rate) + 1;
	if (due > total)
		due = total;
	if (due - b->f.scheduled >= n) {
		for (i = 0; i < n; i++) {
			b->f.senders[i].due = (uint32_t)(due / n +
			    (i < due % n ? 1 : 0));
			sender_pump(b, &b->f.senders[i]);
		}
	} else {
		for (g = b->f.scheduled; g < due; g++) {
			b->f.senders[g % n].due = (uint32_t)(g / n + 1);
			sender_pump(b, &b->f.senders[g % n]);
		}
	}
	b->f.scheduled = due;
	if (due == total)
		return INT64_MAX;
	return b->f.first_send + (int64_t)((double)due * NS_PER_S / o->rate);
}

static int64_t
fanout_tick(struct bench *b)
{
	const struct options	*o = b->opt;
	int64_t			 next = INT64_MAX, drain_end;

	if (b->phase == PHASE_CONNECT) {
		next = connect_all(b);
		if (b->ready == b->nconns)
			fanout_begin(b);
		else if (all_settled(b)) {
			warnx("%u of %u clients could not connect: "
			    "not sending", b->failed, b->nconns);
			b->finished = 1;
		}
		if (b->phase == PHASE_CONNECT)
			return next;
	}
	if (o->rate > 0)
		next = fanout_schedule(b);
	if (b->f.received >= b->f.expected) {
		b->finished = 1;
		return b->now;
	}
	/* A window that never reopens also ends the run, after the drain. */
	drain_end = b->f.last_send + o->drain;
	if (b->f.finished == (uint32_t)o->senders || o->rate == 0) {
		if (b->now >= drain_end) {
			b->finished = 1;
			return b->now;
		}
		next = min64(next, drain_end);
	}
	return next;
}

static void
fanout_progress(struct bench *b)
{
	if (b->phase == PHASE_CONNECT)
		fprintf(stderr, "chatbench: %.0fs: %u/%u clients in %s\n",
		    seconds(b->now - b->start), b->ready, b->nconns,
		    b->rooms[0]);
	else
		fprintf(stderr, "chatbench: %.0fs: sent %" PRIu64 "/%" PRIu64
		    ", received %" PRIu64 "/%" PRIu64 "\n",
		    seconds(b->now - b->start), b->f.sent,
		    (uint64_t)b->opt->senders * b->opt->lines,
		    b->f.received, b->f.expected);
}

static int
fanout_report(struct bench *b)
{
	const struct options	*o = b->opt;
	const struct fanout	*f = &b->f;
	uint64_t		 planned, reached, lost;
	double			 span = 0, send_span = 0;

	/* Lost: deliveries of lines that were sent, not of lines never sent. */
	planned = (uint64_t)o->senders * o->lines;
	reached = f->sent * (uint64_t)o->clients;
	lost = reached > f->received ? reached - f->received : 0;

	if (f->received > 0 && f->last_delivery > f->first_send)
		span = seconds(f->last_delivery - f->first_send);
	if (f->last_send > f->first_send)
		send_span = seconds(f->last_send - f->first_send);
	printf("RESULT workload=fanout clients=%d senders=%d lines=%" PRIu32
	    " length=%d room=%s", o->clients, o->senders, o->lines, o->length,
	    o->room);
	if (o->rate > 0)
		printf(" mode=rate target_rate=%.0f", o->rate);
	else
		printf(" mode=window window=%d", o->window);
	printf(" expected=%" PRIu64 " received=%" PRIu64 " lost=%" PRIu64
	    " reordered=%" PRIu64 " gaps=%" PRIu64 " malformed=%" PRIu64
	    " dropped_notices=%" PRIu64 " dropped_msgs=%" PRIu64
	    " setup_dropped_notices=%" PRIu64 " setup_dropped_msgs=%" PRIu64,
	    f->expected, f->received, lost, f->reordered, f->gaps,
	    f->malformed, f->notices, f->notice_msgs, f->setup_notices,
	    f->setup_notice_msgs);
	printf(" sent=%" PRIu64 " unsent=%" PRIu64 " connect_s=%.3f"
	    " duration_s=%.3f rate=%.0f send_rate=%.0f", f->sent,
	    planned - f->sent,
	    b->connected_at ? seconds(b->connected_at - b->start) : 0.0,
	    span, span > 0 ? (double)f->received / span : 0.0,
	    send_span > 0 ? (double)f->sent / send_span : 0.0);
	hist_print(&b->hist, "");
	if (o->rate > 0)
		hist_print(&b->lag, "send_lag_");
	print_connects(b);
	print_end(b);
	return lost > 0 || f->sent < planned || f->reordered > 0 ||
	    f->malformed > 0 ||
	    b->failed > 0 || b->disconnects > 0 || b->timed_out ||
	    b->interrupted;
}

/*
 * churn: connect, /join, a line and its echo, /quit, the close; again.
 */

static int
churn_setup(struct bench *b)
{
	b->ch.random = (uint64_t)now_ns() ^ ((uint64_t)getpid() << 32);
	if (b->ch.random == 0)
		b->ch.random = 1;
	b->ch.began = b->now;
	b->ch.end = b->now + b->opt->duration;
	return 0;
}

static void
churn_begin(struct bench *b, struct conn *c)
{
	c->cycle++;
	c->tries = 0;
	c->started = b->now;
	c->room = (uint32_t)(random_next(&b->ch.random) % b->nrooms);
	conn_start(b, c);
}

static int64_t
churn_tick(struct bench *b)
{
	struct conn	*c;
	int64_t		 next;
	uint32_t	 i;

	if (b->now >= b->ch.end) {
		b->finished = 1;
		return b->now;
	}
	next = b->ch.end;
	for (i = 0; i < b->nconns; i++) {
		c = &b->conns[i];
		if (c->state == CONN_NEW ||
		    (c->state == CONN_BACKOFF && b->now >= c->deadline)) {
			if (rate_take(b))
				churn_begin(b, c);
			else
				next = min64(next, b->next_connect);
		} else if (handshaking(c) && b->now >= c->deadline)
			conn_end(b, c, END_TIMEOUT, 0, "cycle timed out");
		if (c->state == CONN_BACKOFF || handshaking(c))
			next = min64(next, c->deadline);
	}
	return next;
}

static void
churn_token(const struct conn *c, char *buf, size_t size)
{
	snprintf(buf, size, "c %" PRIu32 " %" PRIu32, c->index, c->cycle);
}

static void
churn_ready(struct bench *b, struct conn *c)
{
	char	 token[SMALL_OUT - 1], line[SMALL_OUT];

	churn_token(c, token, sizeof(token));
	snprintf(line, sizeof(line), "%s\n", token);
	c->state = CONN_ECHO;
	conn_send(b, c, line);
}

/* Waits for "NAME: c INDEX CYCLE"; others in the room may talk too. */
static void
churn_line(struct bench *b, struct conn *c, const char *line, size_t len)
{
	char	 token[SMALL_OUT];
	size_t	 n;

	if (c->state != CONN_ECHO)
		return;
	churn_token(c, token, sizeof(token));
	n = strlen(token);
	if (len < n + 2 || memcmp(line + len - n - 2, ": ", 2) != 0 ||
	    memcmp(line + len - n, token, n) != 0)
		return;
	c->state = CONN_QUITTING;
	conn_send(b, c, "/quit\n");
}

static void
churn_ended(struct bench *b, struct conn *c, enum conn_state was,
    enum end_reason why)
{
	(void)was;
	if (why == END_DONE) {
		b->ch.cycles++;
		hist_add(&b->hist, b->now - c->started);
		c->state = CONN_NEW;
		return;
	}
	b->ch.failures++;
	b->ch.by_reason[why]++;
	/* Not at once: a refusing server would make this a busy loop. */
	c->state = CONN_BACKOFF;
	c->deadline = b->now + CHURN_PAUSE_NS;
}

static void
churn_progress(struct bench *b)
{
	fprintf(stderr, "chatbench: %.0fs: %" PRIu64 " cycles, %" PRIu64
	    " failures\n", seconds(b->now - b->start), b->ch.cycles,
	    b->ch.failures);
}

static int
churn_report(struct bench *b)
{
	const struct churn	*ch = &b->ch;
	double			 span = seconds(b->now - ch->began);
	uint32_t		 i, inflight = 0;
	int			 r;

	for (i = 0; i < b->nconns; i++)
		if (b->conns[i].fd != -1)
			inflight++;
	printf("RESULT workload=churn clients=%u rooms=%u duration_s=%.3f"
	    " cycles=%" PRIu64 " conns_per_s=%.0f failures=%" PRIu64,
	    b->nconns, b->nrooms, span, ch->cycles,
	    span > 0 ? (double)ch->cycles / span : 0.0, ch->failures);
	for (r = END_REFUSED; r < END_REASONS; r++)
		printf(" fail_%s=%" PRIu64, end_names[r], ch->by_reason[r]);
	printf(" unfinished=%u", inflight);
	hist_print(&b->hist, "cycle_");
	print_end(b);
	return ch->failures > 0 || b->timed_out || b->interrupted;
}

/*
 * idle: connect, hold, and see what it cost.
 */

#define MEMINFO_FIELD(key, field) { key, offsetof(struct meminfo, field) }

static const struct {
	const char	*key;
	size_t		 offset;
} meminfo_fields[] = {
	MEMINFO_FIELD("MemAvailable", avail),
	MEMINFO_FIELD("PageTables", pagetables),
	MEMINFO_FIELD("KernelStack", kernelstack),
	MEMINFO_FIELD("Slab", slab),
	MEMINFO_FIELD("SUnreclaim", sunreclaim),
	MEMINFO_FIELD("AnonPages", anon),
};

static int
meminfo_read(struct meminfo *m)
{
	char		 line[256], key[64];
	long long	 v;
	FILE		*fp;
	size_t		 i;

	memset(m, 0, sizeof(*m));
	if ((fp = fopen("/proc/meminfo", "re")) == NULL) {
		warn("/proc/meminfo");
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (sscanf(line, "%63[^:]: %lld", key, &v) != 2)
			continue;
		for (i = 0; i < sizeof(meminfo_fields) /
		    sizeof(meminfo_fields[0]); i++)
			if (strcmp(key, meminfo_fields[i].key) == 0)
				*(long long *)(void *)((char *)m +
				    meminfo_fields[i].offset) = v;
	}
	if (ferror(fp)) {
		warn("/proc/meminfo");
		fclose(fp);
		return -1;
	}
	fclose(fp);
	return 0;
}

/* Adds one process's Pss and USS; one that just exited adds nothing. */
static int
smaps_add(pid_t pid, struct procmem *pm)
{
	char		 path[64], line[256];
	long long	 v;
	FILE		*fp;

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	if ((fp = fopen(path, "re")) == NULL) {
		if (errno == ENOENT || errno == ESRCH)
			return 0;
		warn("%s", path);
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (sscanf(line, "Pss: %lld", &v) == 1)
			pm->pss += v;
		else if (sscanf(line, "Private_Clean: %lld", &v) == 1 ||
		    sscanf(line, "Private_Dirty: %lld", &v) == 1)
			pm->uss += v;
	}
	fclose(fp);
	pm->procs++;
	return 0;
}

struct proc {
	pid_t	 pid;
	pid_t	 ppid;
	int	 in_tree;
};

static int
proc_compare(const void *a, const void *b)
{
	const struct proc	*x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

/* The parent from /proc/PID/stat: after the last ')', state, then ppid. */
static int
proc_parent(pid_t pid, pid_t *ppid)
{
	char	 path[64], buf[512], *p;
	char	 state;
	int	 parent;
	ssize_t	 n;
	int	 fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1, " %c %d", &state, &parent) != 2)
		return -1;
	*ppid = parent;
	return 0;
}

static int
proc_list(struct proc **list, size_t *count)
{
	struct proc	*procs = NULL, *grown;
	struct dirent	*de;
	size_t		 n = 0, cap = 0;
	DIR		*dir;
	char		*end;
	long		 pid;

	if ((dir = opendir("/proc")) == NULL) {
		warn("/proc");
		return -1;
	}
	while ((de = readdir(dir)) != NULL) {
		pid = strtol(de->d_name, &end, 10);
		if (*end != '\0' || pid <= 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			if ((grown = realloc(procs, cap * sizeof(*procs))) ==
			    NULL) {
				warn("process list");
				free(procs);
				closedir(dir);
				return -1;
			}
			procs = grown;
		}
		procs[n].pid = (pid_t)pid;
		procs[n].in_tree = 0;
		if (proc_parent((pid_t)pid, &procs[n].ppid) == 0)
			n++;
	}
	closedir(dir);
	qsort(procs, n, sizeof(*procs), proc_compare);
	*list = procs;
	*count = n;
	return 0;
}

/* The server is the master and every process below it. */
static int
procmem_read(pid_t root, struct procmem *pm)
{
	struct proc	*procs, key, *parent;
	size_t		 n, i;
	int		 changed = 1, rc = 0;

	memset(pm, 0, sizeof(*pm));
	if (proc_list(&procs, &n) == -1)
		return -1;
	while (changed) {
		changed = 0;
		for (i = 0; i < n; i++) {
			if (procs[i].in_tree)
				continue;
			key.pid = procs[i].ppid;
			parent = bsearch(&key, procs, n, sizeof(*procs),
			    proc_compare);
			if (procs[i].pid == root ||
			    (parent != NULL && parent->in_tree))
				changed = procs[i].in_tree = 1;
		}
	}
	for (i = 0; i < n && rc == 0; i++)
		if (procs[i].in_tree)
			rc = smaps_add(procs[i].pid, pm);
	free(procs);
	if (rc == 0 && pm->procs == 0) {
		warnx("pid %d: no such process", (int)root);
		return -1;
	}
	return rc;
}

static int
drop_caches(void)
{
	int	 fd;

	sync();
	if ((fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC)) ==
	    -1) {
		warn("cannot drop caches: /proc/sys/vm/drop_caches");
		return -1;
	}
	if (write(fd, "3\n", 2) != 2) {
		warn("cannot drop caches: write /proc/sys/vm/drop_caches");
		close(fd);
		return -1;
	}
	if (close(fd) == -1) {
		warn("cannot drop caches: close /proc/sys/vm/drop_caches");
		return -1;
	}
	return 0;
}

static void
snapshot_take(struct bench *b, struct snapshot *s)
{
	s->dropped = 0;
	if (b->opt->drop_caches)
		s->dropped = drop_caches() == 0 ? 1 : -1;
	s->mem_ok = meminfo_read(&s->mem) == 0;
	if (b->opt->server_pid > 0)
		s->server_ok = procmem_read(b->opt->server_pid,
		    &s->server) == 0;
}

static int
idle_setup(struct bench *b)
{
	uint32_t	 i;

	for (i = 0; i < b->nconns; i++)
		b->conns[i].room = i % b->nrooms;
	snapshot_take(b, &b->id.before);
	if (b->opt->server_pid > 0 && !b->id.before.server_ok) {
		warnx("--pid %d: cannot read the server's memory",
		    (int)b->opt->server_pid);
		return -1;
	}
	return 0;
}

static int64_t
idle_tick(struct bench *b)
{
	int64_t	 next;

	if (b->phase == PHASE_CONNECT) {
		next = connect_all(b);
		if (!all_settled(b))
			return next;
		b->connected_at = b->now;
		if (b->ready == 0) {
			warnx("no client could connect: nothing to hold");
			b->finished = 1;
			return b->now;
		}
		b->phase = PHASE_RUN;
		b->id.hold_end = b->now + b->opt->duration;
		fprintf(stderr, "chatbench: %u clients in after %.3fs, "
		    "holding for %.0fs\n", b->ready,
		    seconds(b->now - b->start), seconds(b->opt->duration));
	}
	if (b->now < b->id.hold_end)
		return b->id.hold_end;
	/* Measured while every connection is still open. */
	snapshot_take(b, &b->id.after);
	b->id.measured = 1;
	b->now = now_ns();
	b->finished = 1;
	return b->now;
}

static void
idle_ready(struct bench *b, struct conn *c)
{
	(void)c;
	b->ready++;
}

/* Others' "joined" lines: read, so the server never has to drop them. */
static void
idle_line(struct bench *b, struct conn *c, const char *line, size_t len)
{
	(void)b;
	(void)c;
	(void)line;
	(void)len;
}

static void
idle_ended(struct bench *b, struct conn *c, enum conn_state was,
    enum end_reason why)
{
	(void)why;
	population_ended(b, c, was);
}

static void
idle_progress(struct bench *b)
{
	fprintf(stderr, "chatbench: %.0fs: %u/%u clients in\n",
	    seconds(b->now - b->start), b->ready, b->nconns);
}

static double
per_conn(long long kib, uint32_t n)
{
	return n > 0 ? (double)kib / n : 0.0;
}

static const char *
dropped_name(int dropped)
{
	return dropped > 0 ? "done" : dropped < 0 ? "failed" : "off";
}

static void
idle_report_meminfo(const struct snapshot *before,
    const struct snapshot *after, uint32_t n)
{
	const struct meminfo	*x = &before->mem, *y = &after->mem;

	printf(" mem_avail_drop_kib=%lld mem_avail_per_conn_kib=%.2f"
	    " pagetables_per_conn_kib=%.2f kernelstack_per_conn_kib=%.2f"
	    " slab_per_conn_kib=%.2f sunreclaim_per_conn_kib=%.2f"
	    " anonpages_per_conn_kib=%.2f",
	    x->avail - y->avail, per_conn(x->avail - y->avail, n),
	    per_conn(y->pagetables - x->pagetables, n),
	    per_conn(y->kernelstack - x->kernelstack, n),
	    per_conn(y->slab - x->slab, n),
	    per_conn(y->sunreclaim - x->sunreclaim, n),
	    per_conn(y->anon - x->anon, n));
}

static void
idle_report_server(const struct snapshot *before,
    const struct snapshot *after, uint32_t n, pid_t pid)
{
	const struct procmem	*x = &before->server, *y = &after->server;

	printf(" server_pid=%d server_procs_before=%d server_procs=%d"
	    " server_pss_kib=%lld server_uss_kib=%lld"
	    " server_pss_per_conn_kib=%.2f server_uss_per_conn_kib=%.2f"
	    " server_pss_delta_per_conn_kib=%.2f"
	    " server_uss_delta_per_conn_kib=%.2f",
	    (int)pid, x->procs, y->procs, y->pss, y->uss,
	    per_conn(y->pss, n), per_conn(y->uss, n),
	    per_conn(y->pss - x->pss, n), per_conn(y->uss - x->uss, n));
}

static int
idle_report(struct bench *b)
{
	const struct idle	*id = &b->id;
	uint32_t		 held = b->ready - b->disconnects;
	struct procmem		 self = { 0, 0, 0 };

	printf("RESULT workload=idle clients=%u rooms=%u connected=%u"
	    " connect_s=%.3f hold_s=%.3f", b->nconns, b->nrooms, held,
	    b->connected_at ? seconds(b->connected_at - b->start) : 0.0,
	    b->connected_at ? seconds(b->now - b->connected_at) : 0.0);
	print_connects(b);
	if (id->measured && held > 0) {
		printf(" drop_caches=%s", dropped_name(b->opt->drop_caches ?
		    (id->before.dropped < 0 || id->after.dropped < 0 ? -1 : 1)
		    : 0));
		if (id->before.mem_ok && id->after.mem_ok)
			idle_report_meminfo(&id->before, &id->after, held);
		if (id->before.server_ok && id->after.server_ok)
			idle_report_server(&id->before, &id->after, held,
			    b->opt->server_pid);
	}
	if (smaps_add(getpid(), &self) == 0)
		printf(" self_pss_kib=%lld self_uss_kib=%lld", self.pss,
		    self.uss);
	print_end(b);
	return b->failed > 0 || b->disconnects > 0 || b->timed_out ||
	    b->interrupted || (b->opt->server_pid > 0 && !(id->measured &&
	    id->after.server_ok));
}

/*
 * The loop, the workload table, options and main.
 */

static const struct workload workloads[] = {
	{ "fanout", "cDflmRsw", fanout_setup, fanout_tick, fanout_ready,
	    fanout_line, fanout_ended, fanout_writable, fanout_progress,
	    fanout_report },
	{ "churn", "dkt", churn_setup, churn_tick, churn_ready,
	    churn_line, churn_ended, NULL, churn_progress, churn_report },
	{ "idle", "cPRtxk", idle_setup, idle_tick, idle_ready,
	    idle_line, idle_ended, NULL, idle_progress, idle_report },
};

#define COMMON_OPTIONS	"aprSTvW"

static void
on_signal(int sig)
{
	(void)sig;
	stop_signal = 1;
}

static void
signals_init(void)
{
	struct sigaction	 sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART: epoll_wait returns */
	if (sigemptyset(&sa.sa_mask) == -1 ||
	    sigaction(SIGINT, &sa, NULL) == -1 ||
	    sigaction(SIGTERM, &sa, NULL) == -1)
		err(1, "sigaction");
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) == -1)
		err(1, "sigaction SIGPIPE");
}

/* Nanosecond timeouts: a paced line sent a millisecond late would count
 * that millisecond against the server. */
static struct timespec *
wait_until(int64_t now, int64_t until, struct timespec *ts)
{
	int64_t	 ns = until > now ? until - now : 0;

	ts->tv_sec = ns / NS_PER_S;
	ts->tv_nsec = ns % NS_PER_S;
	return ts;
}

static void
run(struct bench *b)
{
	struct epoll_event	 events[MAX_EVENTS];
	struct timespec		 ts;
	int64_t			 next;
	int			 i, n;

	while (!b->finished) {
		b->now = now_ns();
		if (stop_signal) {
			b->interrupted = 1;
			break;
		}
		if (b->now >= b->deadline) {
			warnx("-T %.0fs reached, stopping",
			    seconds(b->opt->limit));
			b->timed_out = 1;
			break;
		}
		if (b->now >= b->next_progress) {
			b->workload->progress(b);
			b->next_progress += PROGRESS_NS;
		}
		next = b->workload->tick(b);
		if (b->finished)
			break;
		next = min64(min64(next, b->deadline), b->next_progress);
		n = epoll_pwait2(b->epfd, events, MAX_EVENTS,
		    wait_until(b->now, next, &ts), NULL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			warn("epoll_wait");
			b->interrupted = 1;
			break;
		}
		b->now = now_ns();
		for (i = 0; i < n && !b->finished; i++)
			conn_event(b, events[i].data.ptr, events[i].events);
	}
	b->now = now_ns();
}

static int
rooms_init(struct bench *b)
{
	const struct options	*o = b->opt;
	uint32_t		 i;

	/* churn always spreads; idle only when -k asks (else -R's room) */
	b->nrooms = o->workload == &workloads[1] || o->rooms_spread ?
	    (uint32_t)o->rooms : 1;
	if ((b->rooms = calloc(b->nrooms, sizeof(*b->rooms))) == NULL) {
		warn("rooms");
		return -1;
	}
	if (b->nrooms == 1 && o->workload != &workloads[1] &&
	    !o->rooms_spread)
		snprintf(b->rooms[0], sizeof(b->rooms[0]), "%s", o->room);
	else
		for (i = 0; i < b->nrooms; i++)
			snprintf(b->rooms[i], sizeof(b->rooms[i]), "room%u",
			    i);
	return 0;
}

/* Connections and their carry buffers, in two allocations. */
static int
conns_init(struct bench *b)
{
	const struct options	*o = b->opt;
	struct conn		*c;
	uint32_t		 i;

	b->nconns = (uint32_t)(o->workload == &workloads[1] ? o->parallel :
	    o->clients);
	b->carry_cap = (uint32_t)o->length + NAME_ROOM;
	if (b->carry_cap < MIN_CARRY)
		b->carry_cap = MIN_CARRY;
	if ((b->conns = calloc(b->nconns, sizeof(*b->conns))) == NULL ||
	    (b->carry = calloc(b->nconns, b->carry_cap)) == NULL) {
		warn("%u connections", b->nconns);
		return -1;
	}
	for (i = 0; i < b->nconns; i++) {
		c = &b->conns[i];
		c->fd = -1;
		c->index = i;
		c->sender = -1;
		c->carry = b->carry + (size_t)i * b->carry_cap;
		c->out = c->small;
		c->out_cap = SMALL_OUT;
	}
	return 0;
}

static struct bench *
bench_new(const struct options *o)
{
	struct bench	*b;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		err(1, "calloc");
	b->opt = o;
	b->workload = o->workload;
	b->now = b->start = now_ns();
	b->deadline = b->start + o->limit;
	b->next_connect = b->next_sweep = b->start;
	b->next_progress = b->start + PROGRESS_NS;
	if (o->connect_rate > 0)
		b->connect_interval = (int64_t)(NS_PER_S / o->connect_rate);
	if ((b->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		err(1, "epoll_create1");
	if (rooms_init(b) == -1 || conns_init(b) == -1)
		exit(1);
	return b;
}

/* All of it lives as long as the process; freed for leak checkers. */
static void
bench_free(struct bench *b)
{
	struct conn	*c;
	uint32_t	 i;

	for (i = 0; i < b->nconns; i++) {
		c = &b->conns[i];
		if (c->fd != -1)
			(void)close(c->fd);	/* exiting: nothing to do */
		if (c->out != c->small)
			free(c->out);
	}
	(void)close(b->epfd);
	free(b->conns);
	free(b->carry);
	free(b->rooms);
	free(b->f.senders);
	free(b->f.next_seq);
	free(b);
}

__attribute__((noreturn))
static void
usage(void)
{
	fprintf(stderr,
"usage: chatbench [-hv] [-a addr[,addr...]] -p port [-S addr[,addr...]]\n"
"                 [-r rate] [-T seconds] [-W seconds] workload [options]\n"
"  fanout [-c clients] [-s senders] [-m lines] [-w window | -f rate]\n"
"         [-l length] [-R room] [-D seconds]\n"
"  churn  [-d parallel] [-k rooms] [-t seconds]\n"
"  idle   [-c clients] [-R room | -k rooms] [-t seconds] [-P pid] [-x]\n"
"\n"
"  -a addr,...  server address(es), IPv4 in 127.0.0.0/8 only (127.0.0.1)\n"
"  -p port      server port (required)\n"
"  -S addr,...  local addresses to bind, 127.0.0.0/8, round robin: each\n"
"               adds an ephemeral port range's worth of connections\n"
"  -r rate      connection attempts per second (2000; churn: no limit\n"
"               unless given)\n"
"  -T seconds   hard limit on the whole run (60)\n"
"  -W seconds   limit on one handshake, or one churn cycle (5)\n"
"  -v           show every connection error, not only the first %d\n"
"  -h           this help\n"
"  -c clients   connections (10)\n"
"  -s senders   fanout: clients that send (1)\n"
"  -m lines     fanout: lines per sender (1000)\n"
"  -w window    fanout: unechoed lines a sender keeps in flight (8)\n"
"  -f rate      fanout: send this many lines/s in all, paced, instead\n"
"  -l length    fanout: line length without the newline (64, %d-4096)\n"
"  -R room      fanout, idle: the room (main)\n"
"  -D seconds   fanout: wait for deliveries after the last send (5)\n"
"  -d parallel  churn: clients cycling at once (8)\n"
"  -k rooms     churn: rooms room0..roomK-1 to pick from (10); idle:\n"
"               client i holds in room(i mod K), so main stays small\n"
"  -t seconds   churn: run time (5); idle: hold time (10)\n"
"  -P, --pid pid  idle: server master's pid, to report server memory\n"
"  -x           idle: drop the page cache before each reading (root)\n"
"\n"
"The last line on stdout is \"RESULT workload=... key=value ...\".\n"
"Exit status: 0 success, 1 lost, failed or timed out, 2 usage.\n",
	    MAX_NOTES, MIN_LENGTH);
	exit(2);
}

static long long
number(const char *arg, int opt, long long min, long long max)
{
	long long	 v;
	char		*end;

	errno = 0;
	v = strtoll(arg, &end, 10);
	if (end == arg || *end != '\0' || errno == ERANGE || v < min ||
	    v > max)
		errx(2, "-%c %s: not a number from %lld to %lld", opt, arg,
		    min, max);
	return v;
}

static double
real(const char *arg, int opt, double min, double max)
{
	double	 v;
	char	*end;

	errno = 0;
	v = strtod(arg, &end);
	if (end == arg || *end != '\0' || errno == ERANGE || !isfinite(v) ||
	    v < min || v > max)
		errx(2, "-%c %s: not a number from %g to %g", opt, arg, min,
		    max);
	return v;
}

static int64_t
duration(const char *arg, int opt, double min, double max)
{
	return (int64_t)(real(arg, opt, min, max) * NS_PER_S);
}

/* A list of IPv4 addresses, each in 127.0.0.0/8: never another machine. */
static int
addresses(const char *list, int opt, int port, struct sockaddr_in **out)
{
	struct sockaddr_in	*sin = NULL, *grown;
	char			*copy, *word, *save = NULL;
	int			 n = 0;

	if ((copy = strdup(list)) == NULL)
		err(1, "strdup");
	for (word = strtok_r(copy, ",", &save); word != NULL;
	    word = strtok_r(NULL, ",", &save)) {
		if ((grown = realloc(sin, (size_t)(n + 1) * sizeof(*sin))) ==
		    NULL)
			err(1, "realloc");
		sin = grown;
		memset(&sin[n], 0, sizeof(sin[n]));
		sin[n].sin_family = AF_INET;
		sin[n].sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, word, &sin[n].sin_addr) != 1)
			errx(2, "-%c %s: not an IPv4 address", opt, word);
		if ((ntohl(sin[n].sin_addr.s_addr) >> 24) != 127)
			errx(2, "-%c %s: not a loopback address "
			    "(127.0.0.0/8): chatbench only loads a server on "
			    "this machine", opt, word);
		n++;
	}
	free(copy);
	if (n == 0)
		errx(2, "-%c: no address given", opt);
	*out = sin;
	return n;
}

static const char *
room_name(const char *arg)
{
	size_t	 len = strlen(arg), i;

	if (len < 2 || len > ROOM_MAX)
		errx(2, "-R %s: a room is 2 to %d characters", arg, ROOM_MAX);
	for (i = 0; i < len; i++)
		if (strchr("abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", arg[i]) == NULL)
			errx(2, "-R %s: a room is made of A-Z a-z 0-9 _ -",
			    arg);
	return arg;
}

static const struct workload *
workload_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < sizeof(workloads) / sizeof(workloads[0]); i++)
		if (strcmp(name, workloads[i].name) == 0)
			return &workloads[i];
	errx(2, "%s: no such workload (fanout, churn or idle)", name);
}

static void
options_defaults(struct options *o)
{
	memset(o, 0, sizeof(*o));
	o->port = -1;
	o->clients = 10;
	o->senders = 1;
	o->lines = 1000;
	o->window = 8;
	o->length = 64;
	o->room = "main";
	o->drain = 5 * NS_PER_S;
	o->limit = 60 * NS_PER_S;
	o->timeout = 5 * NS_PER_S;
	o->duration = -1;
	o->parallel = 8;
	o->rooms = 10;
	o->connect_rate = 2000;
}

/* What no single option can check: combinations, and the workload's. */
static void
options_check(struct options *o, const char *seen, const char *addr,
    const char *source)
{
	int	 ch;

	for (ch = 0; ch < 128; ch++)
		if (seen[ch] && strchr(COMMON_OPTIONS, ch) == NULL &&
		    strchr(o->workload->options, ch) == NULL)
			errx(2, "-%c does not apply to the %s workload", ch,
			    o->workload->name);
	if (o->port == -1)
		errx(2, "-p port is required");
	o->nservers = addresses(addr, 'a', o->port, &o->servers);
	if (source != NULL)
		o->nsources = addresses(source, 'S', 0, &o->sources);
	if (seen['w'] && seen['f'])
		errx(2, "-w and -f exclude each other: a window, or a rate");
	if (seen['R'] && seen['k'])
		errx(2, "-R and -k exclude each other: one room, or K rooms");
	o->rooms_spread = o->workload == &workloads[2] && seen['k'];
	if (o->senders > o->clients)
		errx(2, "-s %d: more senders than clients (-c %d)",
		    o->senders, o->clients);
	if (o->duration == -1)
		o->duration = (o->workload == &workloads[1] ? 5 : 10) *
		    NS_PER_S;
	if (o->workload == &workloads[1] && !seen['r'])
		o->connect_rate = 0;
	if (o->workload != &workloads[0] && o->duration >= o->limit)
		errx(2, "-t %.0f must be shorter than -T %.0f",
		    seconds(o->duration), seconds(o->limit));
}

static void
options_parse(struct options *o, int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help",	no_argument,		NULL,	'h' },
		{ "pid",	required_argument,	NULL,	'P' },
		{ NULL,		0,			NULL,	0 }
	};
	const char	*addr = "127.0.0.1", *source = NULL;
	char		 seen[128] = { 0 };
	int		 ch;

	options_defaults(o);
	while ((ch = getopt_long(argc, argv,
	    "a:c:D:d:f:hk:l:m:P:p:R:r:S:s:T:t:vW:w:x", longopts, NULL)) != -1) {
		if (ch > 0 && ch < 128)
			seen[ch] = 1;
		switch (ch) {
		case 'a':
			addr = optarg;
			break;
		case 'c':
			o->clients = (int)number(optarg, ch, 1, 1000000);
			break;
		case 'D':
			o->drain = duration(optarg, ch, 0.001, 86400);
			break;
		case 'd':
			o->parallel = (int)number(optarg, ch, 1, 1000000);
			break;
		case 'f':
			o->rate = real(optarg, ch, 0.001, 1e8);
			break;
		case 'k':
			o->rooms = (int)number(optarg, ch, 1, 65536);
			break;
		case 'l':
			o->length = (int)number(optarg, ch, MIN_LENGTH, 4096);
			break;
		case 'm':
			o->lines = (uint32_t)number(optarg, ch, 1, 1000000000);
			break;
		case 'P':
			o->server_pid = (pid_t)number(optarg, ch, 1, INT32_MAX);
			break;
		case 'p':
			o->port = (int)number(optarg, ch, 1, 65535);
			break;
		case 'R':
			o->room = room_name(optarg);
			break;
		case 'r':
			o->connect_rate = real(optarg, ch, 0.001, 1e7);
			break;
		case 'S':
			source = optarg;
			break;
		case 's':
			o->senders = (int)number(optarg, ch, 1, 1000000);
			break;
		case 'T':
			o->limit = duration(optarg, ch, 0.001, 86400);
			break;
		case 't':
			o->duration = duration(optarg, ch, 0, 86400);
			break;
		case 'v':
			o->verbose = 1;
			break;
		case 'W':
			o->timeout = duration(optarg, ch, 0.001, 86400);
			break;
		case 'w':
			o->window = (int)number(optarg, ch, 1, 4096);
			break;
		case 'x':
			o->drop_caches = 1;
			break;
		default:
			usage();
		}
	}
	if (optind == argc) {
		warnx("no workload given: fanout, churn or idle");
		usage();
	}
	if (optind < argc - 1) {
		warnx("%s: one workload at a time", argv[optind + 1]);
		usage();
	}
	o->workload = workload_find(argv[optind]);
	options_check(o, seen, addr, source);
}

/* Every connection is a descriptor; the soft limit goes as high as allowed. */
static void
fd_limit(const struct options *o)
{
	struct rlimit	 rl;
	rlim_t		 need;

	need = (rlim_t)(o->workload == &workloads[1] ? o->parallel :
	    o->clients) + 32;
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		err(1, "getrlimit RLIMIT_NOFILE");
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		err(1, "setrlimit RLIMIT_NOFILE %llu",
		    (unsigned long long)rl.rlim_cur);
	if (need > rl.rlim_cur)
		errx(1, "%llu connections need %llu descriptors, the limit "
		    "is %llu: raise the hard limit (ulimit -Hn) or connect "
		    "fewer", (unsigned long long)need - 32,
		    (unsigned long long)need, (unsigned long long)rl.rlim_cur);
}

int
main(int argc, char *argv[])
{
	struct options	 opt;
	struct bench	*b;
	int		 status;

	options_parse(&opt, argc, argv);
	fd_limit(&opt);
	signals_init();
	b = bench_new(&opt);
	if (opt.workload->setup(b) == -1)
		exit(1);
	run(b);
	status = b->workload->report(b);
	bench_free(b);
	free(opt.servers);
	free(opt.sources);
	return status;
}
