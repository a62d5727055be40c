/*
 * torture-client.c: the client side of tests/torture.sh.
 *
 * Keeps CLIENTS sessions chatting in main and a few rooms of a running
 * build/torture/chatd, and in rounds SIGKILLs its children: one parked
 * holding the global lock, one parked holding a room lock (the flag
 * files of src/shm.c's torture hooks, so the victim is known to hold the
 * lock), and others at random moments: children serving a client just
 * sent a line, and idle ones.  After every round:
 *
 *   - no deadlock: each killed session is replaced by a new connection,
 *     greeted within the deadline;
 *   - every dead session's name is free: the replacement takes it with
 *     /name (retried while the server has not yet noticed the death);
 *   - no one else was disconnected, and /users in every room and /rooms
 *     show exactly the live sessions;
 *   - the segment (mapped read-only) has exactly as many slots in use as
 *     there are live sessions, and as many rooms as have members.
 *
 * The pid serving each client comes from the server's log ("NAME
 * connected from 127.0.0.1:PORT" with our local port); so do the parked
 * pids and the repairs ("repairing ..." lines).  Prints its figures on
 * one line; exits 1 with the reason on the first failed check.
 *
 *	torture-client -p port -m master-pid -d flag-dir -l server-log
 *	    -s segment [-k kills] [-T seconds]
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shm.h"

#define CLIENTS		12
#define ROOMS		4		/* main, r1, r2, r3 */
#define DEADLINE	10.0		/* seconds for any one expectation */
#define BUF		(256 * 1024)

struct client {
	int	 fd;			/* -1: none */
	char	 name[NAME_SIZE];
	int	 room;			/* 0 main, else rK */
	int	 port;			/* our local port */
	pid_t	 pid;			/* the child serving it, from the log */
	int	 killed;		/* its child was killed: EOF expected */
	int	 in_place;		/* and it had not moved or renamed */
	char	*buf;
	size_t	 len;
};

static struct client	 clients[CLIENTS];
static int		 port, master_pid;
static const char	*flag_dir, *log_path;
static struct shm_header *seg;
static FILE		*logf;
static pid_t		 parked;
static unsigned long	 generation;
static struct {
	unsigned long	 kills, global, room, random_busy, idle, rounds;
	unsigned long	 checks, log_global, log_room, reconnects;
} n;
static double		 started;
static char		 awaited[128];	/* what an expect("") waits for */

static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noreturn, format(printf, 1, 2)))
static void
fail(const char *fmt, ...)
{
	va_list	 ap;

	printf("torture: FAIL after %lu kills, round %lu: ", n.kills,
	    n.rounds);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	exit(1);
}

static void
nap_us(long us)
{
	struct timespec	 ts = { us / 1000000, (us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

static const char *
room_name(int room)
{
	static const char	*names[ROOMS] = { "main", "r1", "r2", "r3" };

	return names[room];
}

/* --- the server's log ------------------------------------------------- */

static void
log_line(const char *line)
{
	const char	*p;
	int		 pid, lport, i;

	if ((p = strstr(line, " connected from 127.0.0.1:")) != NULL &&
	    sscanf(line, "chatd[%d]:", &pid) == 1 &&
	    sscanf(p, " connected from 127.0.0.1:%d", &lport) == 1) {
		for (i = 0; i < CLIENTS; i++)
			if (clients[i].fd != -1 && clients[i].port == lport)
				clients[i].pid = pid;
	} else if ((p = strstr(line, "torture: pid ")) != NULL &&
	    strstr(line, "parked holding") != NULL)
		parked = atoi(p + strlen("torture: pid "));
	else if (strstr(line, "repairing shared state") != NULL)
		n.log_global++;
	else if (strstr(line, "repairing room") != NULL)
		n.log_room++;
}

static void
log_poll(void)
{
	static char	 partial[1024];
	static size_t	 plen;
	int		 c;

	clearerr(logf);
	while ((c = getc(logf)) != EOF) {
		if (c != '\n') {
			if (plen < sizeof(partial) - 1)
				partial[plen++] = (char)c;
			continue;
		}
		partial[plen] = '\0';
		log_line(partial);
		plen = 0;
	}
}

/* --- clients ---------------------------------------------------------- */

/* Reads what is there; -1 at EOF or a reset. */
static int
fill(struct client *c, int timeout_ms)
{
	struct pollfd	 pfd = { c->fd, POLLIN, 0 };
	ssize_t		 r;

	if (poll(&pfd, 1, timeout_ms) <= 0)
		return 0;
	if (c->len == BUF)
		c->len = 0;		/* chatter nobody waits for */
	r = read(c->fd, c->buf + c->len, BUF - c->len);
	if (r > 0) {
		c->len += (size_t)r;
		return 1;
	}
	if (r == -1 && (errno == EAGAIN || errno == EINTR))
		return 0;
	return -1;
}

/* The next whole line into line; 0 if none yet. */
static int
take_line(struct client *c, char *line, size_t size)
{
	char	*nl = memchr(c->buf, '\n', c->len);
	size_t	 k;

	if (nl == NULL)
		return 0;
	k = (size_t)(nl - c->buf);
	snprintf(line, size, "%.*s", (int)k, c->buf);
	memmove(c->buf, nl + 1, c->len - k - 1);
	c->len -= k + 1;
	return 1;
}

/* Skips lines up to one starting with prefix (exactly it, if exact). */
static void
expect(struct client *c, const char *prefix, int exact, char *line,
    size_t size)
{
	double	 end = now() + DEADLINE;
	char	 own[1024], skipped[2048] = "";
	size_t	 k;

	if (line == NULL) {
		line = own;
		size = sizeof(own);
	}
	for (;;) {
		while (take_line(c, line, size)) {
			if (exact ? strcmp(line, prefix) == 0 :
			    strncmp(line, prefix, strlen(prefix)) == 0)
				return;
			k = strlen(skipped);	/* the last lines, to tell */
			if (k > sizeof(skipped) / 2)
				memmove(skipped, skipped + k / 2, k - k / 2 + 1);
			k = strlen(skipped);
			snprintf(skipped + k, sizeof(skipped) - k,
			    "\n  | %.200s", line);
		}
		if (now() > end)
			fail("%s (%s) did not get \"%s\" within %.0f s: a "
			    "deadlock?  It got meanwhile:%s", c->name,
			    room_name(c->room), prefix[0] != '\0' ? prefix :
			    awaited, DEADLINE, skipped);
		if (fill(c, 50) == -1)
			fail("%s (%s) was disconnected waiting for \"%s\", "
			    "though its child was not killed", c->name,
			    room_name(c->room), prefix);
	}
}

static void
say(struct client *c, const char *fmt, ...)
{
	char	 line[512];
	va_list	 ap;
	int	 k;

	va_start(ap, fmt);
	k = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	line[k++] = '\n';
	if (send(c->fd, line, (size_t)k, MSG_NOSIGNAL) != k)
		fail("cannot send to %s: %s", c->name, strerror(errno));
}

static void
wait_pid(struct client *c)
{
	double	 end = now() + DEADLINE;

	while (c->pid == 0) {
		log_poll();
		if (now() > end)
			fail("no \"connected from 127.0.0.1:%d\" line in the "
			    "server's log", c->port);
		nap_us(2000);
	}
}

/* A new session, greeted in time (no deadlock), then named and seated. */
static void
open_client(struct client *c, const char *name, int room)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	char			 line[256], old[NAME_SIZE];
	double			 end = now() + DEADLINE;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(c->fd, (struct sockaddr *)&sin, &len) == -1)
		fail("cannot connect to 127.0.0.1:%d: %s", port,
		    strerror(errno));
	fcntl(c->fd, F_SETFL, O_NONBLOCK);
	c->port = ntohs(sin.sin_port);
	c->pid = 0;
	c->killed = 0;
	c->in_place = 0;
	c->len = 0;
	c->room = 0;
	snprintf(c->name, sizeof(c->name), "(new)");
	expect(c, "You are ", 0, line, sizeof(line));
	snprintf(old, sizeof(old), "%.*s", NAME_MAX_LEN,
	    line + strlen("You are "));
	snprintf(c->name, sizeof(c->name), "%s", old);
	expect(c, "You joined main", 1, NULL, 0);
	/* the dead one's name: free once the server noticed the death */
	for (;;) {
		say(c, "/name %s", name);
		snprintf(line, sizeof(line), "%s is now %s", old, name);
		for (;;) {
			expect(c, "", 0, line + 128, 128);
			if (strcmp(line + 128, line) == 0)
				goto named;
			if (strstr(line + 128, " is already taken") != NULL)
				break;
		}
		if (now() > end)
			fail("the name %s is still taken %.0f s after its "
			    "session died", name, DEADLINE);
		nap_us(5000);
	}
named:
	snprintf(c->name, sizeof(c->name), "%s", name);
	if (room != 0) {
		say(c, "/join %s", room_name(room));
		snprintf(line, sizeof(line), "You joined %s", room_name(room));
		expect(c, line, 1, NULL, 0);
		c->room = room;
	}
	wait_pid(c);
	n.reconnects++;
}

/* --- checks ----------------------------------------------------------- */

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
check_users(int room)
{
	char		*names[CLIENTS], want[1024], line[1024];
	struct client	*asker = NULL;
	int		 i, k = 0;
	size_t		 len;

	for (i = 0; i < CLIENTS; i++)
		if (clients[i].room == room) {
			names[k++] = clients[i].name;
			asker = &clients[i];
		}
	if (asker == NULL)
		return;
	qsort(names, (size_t)k, sizeof(names[0]), by_name);
	len = (size_t)snprintf(want, sizeof(want), "Users - ");
	for (i = 0; i < k; i++)
		len += (size_t)snprintf(want + len, sizeof(want) - len, "%s%s",
		    i > 0 ? ", " : "", names[i]);
	say(asker, "/users");
	expect(asker, "Users - ", 0, line, sizeof(line));
	if (strcmp(line, want) != 0)
		fail("in %s, /users says \"%s\", expected \"%s\"",
		    room_name(room), line, want);
	n.checks++;
}

static void
check_rooms(void)
{
	int	 count[ROOMS] = { 0 }, order[ROOMS], i, j, t;
	char	 want[256], line[256];
	size_t	 len;

	for (i = 0; i < CLIENTS; i++)
		count[clients[i].room]++;
	for (i = 0; i < ROOMS; i++)
		order[i] = i;
	for (i = 0; i < ROOMS; i++)		/* by count, then by name */
		for (j = i + 1; j < ROOMS; j++)
			if (count[order[j]] > count[order[i]] ||
			    (count[order[j]] == count[order[i]] &&
			    strcmp(room_name(order[j]),
			    room_name(order[i])) < 0)) {
				t = order[i];
				order[i] = order[j];
				order[j] = t;
			}
	len = (size_t)snprintf(want, sizeof(want), "Rooms - ");
	for (i = 0, j = 0; i < ROOMS; i++) {
		if (count[order[i]] == 0)
			continue;
		len += (size_t)snprintf(want + len, sizeof(want) - len,
		    "%s%s (%d)", j++ > 0 ? ", " : "", room_name(order[i]),
		    count[order[i]]);
	}
	say(&clients[0], "/rooms");
	expect(&clients[0], "Rooms - ", 0, line, sizeof(line));
	if (strcmp(line, want) != 0)
		fail("/rooms says \"%s\", expected \"%s\"", line, want);
	n.checks++;
}

/* The segment, read without a lock: settled once the names were free. */
static void
check_segment(void)
{
	uint32_t	 i, used, rooms;
	int		 count[ROOMS] = { 0 }, want_rooms = 1;
	double		 end = now() + DEADLINE;
	struct room	*r;

	for (i = 0; i < CLIENTS; i++)
		count[clients[i].room]++;
	for (i = 1; i < ROOMS; i++)
		want_rooms += count[i] > 0;	/* main is always named */
	for (;;) {
		used = rooms = 0;
		for (i = 0; i < seg->max_clients; i++)
			if (atomic_load(&((struct client_slot *)(void *)
			    ((char *)seg + seg->off_slots))[i].state) !=
			    SLOT_FREE)
				used++;
		for (i = 0; i < seg->max_rooms; i++) {
			r = (struct room *)(void *)((char *)seg +
			    seg->off_rooms) + i;
			if (r->name[0] != '\0')
				rooms++;
		}
		if (used == CLIENTS && rooms == (uint32_t)want_rooms)
			break;
		if (now() > end)
			fail("the segment has %u slots in use for %d sessions "
			    "and %u rooms for %d: a leak", used, CLIENTS,
			    rooms, want_rooms);
		nap_us(5000);
	}
	n.checks++;
}

/* --- kills ------------------------------------------------------------ */

static void
wait_gone(pid_t pid)
{
	double	 end = now() + DEADLINE;
	char	 path[64], state[512], *p;
	FILE	*fp;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	for (;;) {
		if ((fp = fopen(path, "r")) == NULL)
			return;
		p = fgets(state, sizeof(state), fp);
		fclose(fp);
		if (p == NULL || ((p = strrchr(state, ')')) != NULL &&
		    p[2] == 'Z'))
			return;
		if (now() > end)
			fail("child %d outlived SIGKILL by %.0f s", (int)pid,
			    DEADLINE);
		nap_us(1000);
	}
}

static void
kill_child(pid_t pid)
{
	int	 i;

	if (pid <= 1 || pid == master_pid)
		fail("about to kill pid %d: the client's pid is wrong",
		    (int)pid);
	if (kill(pid, SIGKILL) == -1)
		fail("kill %d: %s", (int)pid, strerror(errno));
	n.kills++;
	for (i = 0; i < CLIENTS; i++)
		if (clients[i].fd != -1 && clients[i].pid == pid)
			clients[i].killed = 1;
	wait_gone(pid);
}

/* Touches the flag, makes a client take that lock, kills who parks. */
static void
kill_parked(const char *lock)
{
	struct client	*c = &clients[random() % CLIENTS];
	char		 path[512];
	double		 end = now() + DEADLINE;
	int		 fd, i;

	if (c->killed)
		return;
	parked = 0;
	snprintf(path, sizeof(path), "%s/park-%s", flag_dir, lock);
	if ((fd = open(path, O_WRONLY | O_CREAT, 0644)) == -1)
		fail("cannot create %s: %s", path, strerror(errno));
	close(fd);
	if (strcmp(lock, "global") == 0)	/* "You are in ROOM": no check
						 * mistakes it for its reply */
		say(c, "/join %s", room_name(c->room));
	else
		say(c, "a line to park on");
	while (parked == 0) {
		log_poll();
		if (now() > end)
			fail("nobody parked on the %s lock", lock);
		nap_us(1000);
	}
	kill_child(parked);
	for (i = 0; i < CLIENTS; i++)
		if (clients[i].pid == parked)
			clients[i].in_place = 1;
	if (strcmp(lock, "global") == 0)
		n.global++;
	else
		n.room++;
}

/* A client's child, just after the client sent a line: mid-work. */
static void
kill_busy(void)
{
	struct client	*c = &clients[random() % CLIENTS];

	if (c->killed)
		return;
	/* work under both kinds of lock; whatever it did dies with it */
	say(c, "round %lu from %s", n.rounds, c->name);
	say(c, "/rooms");
	say(c, "/join %s", room_name((int)(random() % ROOMS)));
	say(c, "/name x%lu-%d", n.rounds, (int)(c - clients));
	say(c, "/join %s", room_name((int)(random() % ROOMS)));
	nap_us(random() % 600);
	kill_child(c->pid);
	n.random_busy++;
}

/* An idle child, one seen idle a round ago (so surely past start-up:
 * a child killed starting would make the master back off, by design). */
static void
kill_idle(void)
{
	static pid_t	 seen[64];
	static int	 nseen;
	pid_t		 now_idle[64], victim = 0;
	int		 k = 0, i, j;
	char		 path[64], comm[64];
	FILE		*fp;
	int		 pid;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", master_pid,
	    master_pid);
	if ((fp = fopen(path, "r")) == NULL)
		return;
	while (k < 64 && fscanf(fp, "%d", &pid) == 1) {
		FILE	*cf;

		snprintf(path, sizeof(path), "/proc/%d/comm", pid);
		if ((cf = fopen(path, "r")) == NULL)
			continue;
		if (fgets(comm, sizeof(comm), cf) != NULL &&
		    strncmp(comm, "chatd: idle", 11) == 0)
			now_idle[k++] = pid;
		fclose(cf);
	}
	fclose(fp);
	for (i = 0; i < k && victim == 0; i++)
		for (j = 0; j < nseen; j++)
			if (seen[j] == now_idle[i])
				victim = now_idle[i];
	memcpy(seen, now_idle, sizeof(pid_t) * (size_t)k);
	nseen = k;
	if (victim == 0)
		return;
	kill_child(victim);
	n.idle++;
}

/*
 * The room of a session killed where it stood is told "NAME left" (a
 * session killed mid-burst may have moved or renamed first: not those),
 * in any order when several died there.
 */
static void
check_left(int room)
{
	struct client	*survivor = NULL;
	char		 line[256];
	int		 i, told[CLIENTS] = { 0 }, waiting = 0;

	for (i = 0; i < CLIENTS; i++)
		if (!clients[i].killed && clients[i].room == room)
			survivor = &clients[i];
	if (survivor == NULL)
		return;			/* nobody left to tell */
	for (i = 0; i < CLIENTS; i++)
		if (clients[i].killed && clients[i].in_place &&
		    clients[i].room == room)
			waiting++;
	while (waiting > 0) {
		snprintf(awaited, sizeof(awaited), "%d more NAME left lines",
		    waiting);
		expect(survivor, "", 0, line, sizeof(line));
		for (i = 0; i < CLIENTS; i++)
			if (clients[i].killed && clients[i].in_place &&
			    clients[i].room == room && !told[i] &&
			    strncmp(line, clients[i].name,
			    strlen(clients[i].name)) == 0 &&
			    strcmp(line + strlen(clients[i].name),
			    " left") == 0) {
				told[i] = 1;
				waiting--;
				n.checks++;
			}
	}
}

/* The killed sessions: their clients see EOF; new ones take their place. */
static void
replace_dead(void)
{
	struct client	*c;
	char		 name[NAME_SIZE];
	double		 end;
	int		 i, room;

	for (i = 0; i < CLIENTS; i++) {
		c = &clients[i];
		if (!c->killed)
			continue;
		end = now() + DEADLINE;
		while (fill(c, 50) != -1) {
			c->len = 0;
			if (now() > end)
				fail("%s's child was killed but its connection "
				    "stays open", c->name);
		}
		close(c->fd);
		c->fd = -1;
	}
	/* all told before anyone new comes in, who would not be told */
	for (i = 0; i < ROOMS; i++)
		check_left(i);
	for (i = 0; i < CLIENTS; i++) {
		c = &clients[i];
		if (!c->killed)
			continue;
		snprintf(name, sizeof(name), "%s", c->name);
		room = c->room;
		open_client(c, name, room);
	}
}

static void
round_of_kills(void)
{
	int	 i;

	for (i = 0; i < CLIENTS; i++)
		say(&clients[i], "chat %lu", n.rounds);
	kill_parked("global");
	kill_parked("room");
	kill_busy();
	if (random() % 2)
		kill_busy();
	else
		kill_idle();
	replace_dead();
	for (i = 0; i < ROOMS; i++)
		check_users(i);
	check_rooms();
	check_segment();
	n.rounds++;
}

static void
map_segment(const char *name)
{
	struct stat	 st;
	int		 fd;

	if ((fd = shm_open(name, O_RDONLY, 0)) == -1 || fstat(fd, &st) == -1)
		fail("cannot open the segment %s: %s", name, strerror(errno));
	seg = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (seg == MAP_FAILED)
		fail("cannot map the segment %s: %s", name, strerror(errno));
	close(fd);
	if (seg->magic != SHM_MAGIC)
		fail("%s is not a chatd segment", name);
}

int
main(int argc, char *argv[])
{
	const char	*segment = NULL;
	unsigned long	 target = 500;
	double		 budget = 100;
	char		 name[NAME_SIZE];
	int		 ch, i;

	while ((ch = getopt(argc, argv, "d:k:l:m:p:s:T:")) != -1) {
		switch (ch) {
		case 'd': flag_dir = optarg; break;
		case 'k': target = strtoul(optarg, NULL, 10); break;
		case 'l': log_path = optarg; break;
		case 'm': master_pid = atoi(optarg); break;
		case 'p': port = atoi(optarg); break;
		case 's': segment = optarg; break;
		case 'T': budget = atof(optarg); break;
		default:
			fprintf(stderr, "usage: torture-client -p port -m pid "
			    "-d dir -l log -s segment [-k kills] [-T s]\n");
			return 2;
		}
	}
	if (flag_dir == NULL || log_path == NULL || segment == NULL ||
	    port == 0 || master_pid == 0) {
		fprintf(stderr, "torture-client: -p, -m, -d, -l and -s are "
		    "needed\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	signal(SIGPIPE, SIG_IGN);
	srandom((unsigned)getpid());
	if ((logf = fopen(log_path, "r")) == NULL)
		fail("cannot read %s: %s", log_path, strerror(errno));
	map_segment(segment);
	started = now();
	for (i = 0; i < CLIENTS; i++) {
		clients[i].fd = -1;
		if ((clients[i].buf = malloc(BUF)) == NULL)
			fail("out of memory");
	}
	for (i = 0; i < CLIENTS; i++) {
		snprintf(name, sizeof(name), "t%02d-%lu", i, generation);
		open_client(&clients[i], name, i % ROOMS);
	}
	n.reconnects = 0;
	while (n.kills < target) {
		if (now() - started > budget)
			fail("only %lu kills in %.0f s, %lu wanted", n.kills,
			    budget, target);
		round_of_kills();
	}
	log_poll();
	printf("torture: %lu kills in %.1f s (%lu holding the global lock, "
	    "%lu holding a room lock, %lu serving a client at a random "
	    "moment, %lu idle), %lu rounds, %lu sessions replaced; "
	    "EOWNERDEAD repairs: %llu (segment counter; logged: %lu global, "
	    "%lu room); %lu checks passed\n", n.kills, now() - started,
	    n.global, n.room, n.random_busy, n.idle, n.rounds, n.reconnects,
	    (unsigned long long)atomic_load(&seg->repairs), n.log_global,
	    n.log_room, n.checks);
	if (atomic_load(&seg->repairs) < n.global + n.room)
		fail("%lu lock holders killed but only %llu repairs",
		    n.global + n.room,
		    (unsigned long long)atomic_load(&seg->repairs));
	return 0;
}
