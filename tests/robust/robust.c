/*
 * robust.c: chatd's robust-mutex layer alone, under fire, in the spirit
 * of glibc's tst-robust tests.
 *
 * One segment made by shm_create(), as the master makes it.  Worker
 * processes (forked, like pool children) loop over what a session does
 * to shared state, using chatd's own code: state_lock() (the global lock,
 * shm_repair() on EOWNERDEAD, then the janitor), room_lock() and
 * room_post() (a room lock and its ring), and the slot, name and room
 * functions child.c calls, in child.c's order.  Between the steps of
 * every update a worker may _exit() on purpose, holding the lock with the
 * update half done (a rename may even leave a name half copied, as a
 * SIGKILL in the middle of the copy would).  Meanwhile this process, like
 * the master, SIGKILLs workers at random moments, reaps them, marks their
 * slots dead with a compare-and-swap (never taking a lock), and forks
 * replacements.
 *
 * Every time a worker holds the global lock it checks all of chatd's
 * invariants (free list, name index, room member lists, room count) and a
 * ledger of its own: accounts whose sum never changes, moved in two
 * steps under a journal, so a holder that dies between the steps leaves
 * a visible half-done transfer that the next holder rolls back.  Half-done
 * data may only ever be found right after a repair (EOWNERDEAD), never
 * by a holder that took the lock normally; two holders at once, an
 * unrecoverable lock or a worker stuck for 10 s fail the test.  Each room
 * lock holder checks the room's ring: every entry below the head whole,
 * stamped with its sequence number, and a line of its own intact.
 *
 * At the end this process takes every lock once (collecting the last
 * repairs), and everything must be free again: no slot, name or room
 * leaked.  It prints its figures and exits 0, or says what broke and
 * exits 1.
 *
 *	robust [-t seconds] [-w workers] [-l logfile]
 */
#include <sys/mman.h>
#include <sys/wait.h>

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
#include "config.h"
#include "log.h"
#include "names.h"
#include "room.h"
#include "shm.h"

#define MAX_WORKERS	16
#define ACCOUNTS	8
#define TOTAL		(ACCOUNTS * 1000)
#define ROOMS		6
#define HANG_SECONDS	10	/* no lock waits this long unless hung */
#define DIE_ODDS	300	/* 1 in this, at each point a worker may die */
#define EXIT_DIED	77	/* a worker's deliberate death */
#define EXIT_VIOLATION	3	/* a worker saw an invariant broken */

/* What a worker was doing, for the killer to count deaths inside locks. */
struct worker {
	_Atomic int32_t	 pid;
	_Atomic int	 in_global;	/* set after the lock, cleared before */
	_Atomic int	 in_room;
};

/* Shared among the test's processes, beside chatd's segment. */
struct ledger {
	/* under chatd's global lock */
	int64_t		 account[ACCOUNTS];
	_Atomic int32_t	 journal;	/* a transfer may be half done */
	int32_t		 from, to;
	int64_t		 old_from, old_to;	/* what a rollback restores */
	uint64_t	 repairs_at_unlock;
	uint64_t	 rolled_back;
	_Atomic int32_t	 holder;	/* pid inside the global lock */
	_Atomic int32_t	 room_holder[ROOMS];

	_Atomic uint64_t global_cycles, room_cycles;
	_Atomic uint64_t torn_names;	/* renames killed mid-copy */
	_Atomic int	 violated;
	char		 violation[512];
	struct worker	 workers[MAX_WORKERS];
};

static struct ledger	*ledger;
static pid_t		 parent;
static struct worker	*me;
static uint64_t		 rng;
static const char	*pool = "abcd";	/* names: two of these letters */

/* --- small things -------------------------------------------------- */

static uint64_t
next_random(void)
{
	rng ^= rng << 13;		/* xorshift64 */
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static unsigned
below(unsigned n)
{
	return (unsigned)(next_random() % n);
}

__attribute__((noreturn, format(printf, 1, 2)))
static void	fail(const char *, ...);

__attribute__((noreturn, format(printf, 1, 2)))
static void
violation(const char *fmt, ...)
{
	va_list	 ap;
	int	 expect = 0;

	if (shm_self == parent) {
		va_start(ap, fmt);
		vsnprintf(ledger->violation, sizeof(ledger->violation), fmt,
		    ap);
		va_end(ap);
		fail("%s", ledger->violation);
	}
	if (atomic_compare_exchange_strong(&ledger->violated, &expect, 1)) {
		va_start(ap, fmt);
		vsnprintf(ledger->violation, sizeof(ledger->violation), fmt,
		    ap);
		va_end(ap);
	}
	_exit(EXIT_VIOLATION);
}

/* A deliberate death, holding whatever is held. */
static int	 immortal;	/* the scripted scenario dies only on cue */

static void
maybe_die(void)
{
	if (!immortal && below(DIE_ODDS) == 0)
		_exit(EXIT_DIED);
}

/* --- chatd's invariants, the global lock held ----------------------- */

static void
check_free_list(void)
{
	uint32_t	 i, free_slots = 0, walked = 0;
	int32_t		 s;

	for (i = 0; i < shm->max_clients; i++)
		if (atomic_load(&shm_slot((int)i)->state) == SLOT_FREE)
			free_slots++;
	for (s = shm->free_slot; s != -1; s = shm_slot(s)->next) {
		if (s < 0 || (uint32_t)s >= shm->max_clients)
			violation("free list holds slot %d, out of range", s);
		if (atomic_load(&shm_slot(s)->state) != SLOT_FREE)
			violation("free list holds slot %d, which is in use",
			    s);
		if (++walked > free_slots)
			violation("free list is longer than the %u free "
			    "slots (a cycle, or a slot twice)", free_slots);
	}
	if (walked != free_slots)
		violation("free list has %u slots but %u are free: a slot "
		    "leaked", walked, free_slots);
}

static void
check_names(void)
{
	int32_t			*index = shm_names();
	uint32_t		 i, j, state;
	struct client_slot	*s;
	int			 seen[64] = { 0 };

	for (i = 0; i < shm->name_index_size; i++) {
		if (index[i] == -1)
			continue;
		if (index[i] < 0 || (uint32_t)index[i] >= shm->max_clients)
			violation("name index entry %u is slot %d, out of "
			    "range", i, index[i]);
		if (seen[index[i]]++)
			violation("slot %d is in the name index twice",
			    index[i]);
		if (atomic_load(&shm_slot(index[i])->state) == SLOT_FREE)
			violation("name index holds free slot %d", index[i]);
	}
	for (i = 0; i < shm->max_clients; i++) {
		s = shm_slot((int)i);
		state = atomic_load(&s->state);
		if (state != SLOT_ACTIVE || s->name[0] == '\0')
			continue;
		if (name_lookup(s->name) != (int)i)
			violation("live slot %u's name \"%.*s\" finds slot %d "
			    "in the index", i, NAME_SIZE, s->name,
			    name_lookup(s->name));
		for (j = i + 1; j < shm->max_clients; j++)
			if (atomic_load(&shm_slot((int)j)->state) ==
			    SLOT_ACTIVE && strncmp(s->name,
			    shm_slot((int)j)->name, NAME_SIZE) == 0)
				violation("live slots %u and %u are both "
				    "\"%.*s\"", i, j, NAME_SIZE, s->name);
	}
}

static void
check_rooms(void)
{
	uint32_t		 r, i, listed = 0, in_rooms = 0, named = 0;
	int32_t			 s, prev;
	int32_t			 count;
	struct room		*room;
	struct client_slot	*slot;

	for (r = 0; r < shm->max_rooms; r++) {
		room = shm_room((int)r);
		count = 0;
		prev = -1;
		for (s = room->first; s != -1; s = slot->next) {
			if (s < 0 || (uint32_t)s >= shm->max_clients)
				violation("room %u lists slot %d, out of range",
				    r, s);
			slot = shm_slot(s);
			if (atomic_load(&slot->state) == SLOT_FREE)
				violation("room %u lists free slot %d", r, s);
			if (slot->room != (int32_t)r)
				violation("room %u lists slot %d, which says "
				    "it is in room %d", r, s, slot->room);
			if (slot->prev != prev)
				violation("room %u: slot %d's prev is %d, not "
				    "%d", r, s, slot->prev, prev);
			if (++count > (int32_t)shm->max_clients)
				violation("room %u's member list loops", r);
			prev = s;
		}
		if (count != atomic_load(&room->members))
			violation("room %u counts %d members but lists %d", r,
			    atomic_load(&room->members), count);
		if (r != ROOM_MAIN && (count == 0) != (room->name[0] == '\0'))
			violation("room %u has %d members and name \"%.*s\": "
			    "an empty room must go, a used one keep its name",
			    r, count, NAME_SIZE, room->name);
		if (room->name[0] != '\0')
			named++;
		listed += (uint32_t)count;
	}
	for (i = 0; i < shm->max_clients; i++) {
		slot = shm_slot((int)i);
		if (atomic_load(&slot->state) != SLOT_FREE && slot->room >= 0)
			in_rooms++;
	}
	if (listed != in_rooms)
		violation("%u slots say they are in a room but the rooms list "
		    "%u", in_rooms, listed);
	if (named != shm->rooms_used)
		violation("%u rooms have names but rooms_used is %u", named,
		    shm->rooms_used);
}

static void
check_ledger(void)
{
	int64_t	 sum = 0;
	int	 i;

	for (i = 0; i < ACCOUNTS; i++)
		sum += ledger->account[i];
	if (sum != TOTAL)
		violation("the ledger sums to %lld, not %d: an update was "
		    "lost or doubled", (long long)sum, TOTAL);
}

/* --- the global lock, as a child takes it ---------------------------- */

static void
global_enter(void)
{
	int32_t		 before;
	uint64_t	 repairs;

	state_lock();
	atomic_store(&me->in_global, 1);
	before = atomic_exchange(&ledger->holder, shm_self);
	repairs = atomic_load(&shm->repairs);
	/* only a holder that died leaves these behind, and its death must
	 * have been noticed (EOWNERDEAD, a repair) before we got in */
	if ((before != 0 || ledger->journal) &&
	    repairs <= ledger->repairs_at_unlock)
		violation("pid %d got the global lock normally, but %s "
		    "(repairs %llu, %llu at the last clean unlock)", shm_self,
		    before != 0 ? "another holder never left" :
		    "a transfer was half done",
		    (unsigned long long)repairs,
		    (unsigned long long)ledger->repairs_at_unlock);
	if (ledger->journal) {
		/* the repair: back to before the dead holder's transfer */
		ledger->account[ledger->from] = ledger->old_from;
		ledger->account[ledger->to] = ledger->old_to;
		atomic_store(&ledger->journal, 0);
		ledger->rolled_back++;
	}
	check_ledger();
	check_free_list();
	check_names();
	check_rooms();
	atomic_fetch_add(&ledger->global_cycles, 1);
}

static void
global_leave(void)
{
	if (atomic_load(&ledger->holder) != shm_self)
		violation("pid %d held the global lock, but pid %d got in "
		    "meanwhile", shm_self, atomic_load(&ledger->holder));
	check_ledger();
	check_free_list();
	ledger->repairs_at_unlock = atomic_load(&shm->repairs);
	atomic_store(&ledger->holder, 0);
	atomic_store(&me->in_global, 0);
	state_unlock();
}

/* --- what sessions do, step by step, dying between steps ------------- */

static int	 my_slot = -1, my_room = -1;

static void
post(int room, const char *a, const char *b)
{
	struct iovec	 iov[2];

	iov[0].iov_base = (void *)a;
	iov[0].iov_len = strlen(a);
	iov[1].iov_base = (void *)b;
	iov[1].iov_len = strlen(b);
	room_post(room, iov, 2);
}

/* A two-step transfer under the journal (chatd's data has no journal:
 * shm_repair rebuilds it; this is the application's own invariant). */
static void
transfer(void)
{
	int	 from = (int)below(ACCOUNTS), to = (int)below(ACCOUNTS);
	int64_t	 amount = 1 + below(50);

	if (from == to || ledger->account[from] < amount)
		return;
	ledger->from = from;
	ledger->to = to;
	ledger->old_from = ledger->account[from];
	ledger->old_to = ledger->account[to];
	atomic_store(&ledger->journal, 1);	/* after the above, always */
	maybe_die();
	ledger->account[from] -= amount;
	maybe_die();
	ledger->account[to] += amount;
	maybe_die();
	atomic_store(&ledger->journal, 0);
}

static void
connect_session(void)
{
	struct client_slot	*slot;
	char			 name[NAME_SIZE];

	if ((my_slot = shm->free_slot) == -1)
		return;			/* full */
	slot = shm_slot(my_slot);
	shm->free_slot = slot->next;
	maybe_die();
	name_generate(name);
	slot->room = -1;
	slot->next = slot->prev = -1;
	memcpy(slot->name, name, NAME_SIZE);
	atomic_store(&slot->pid, shm_self);
	maybe_die();
	atomic_store(&slot->state, SLOT_ACTIVE);
	maybe_die();
	name_insert(my_slot);
	maybe_die();
	room_add_member(ROOM_MAIN, my_slot);
	my_room = ROOM_MAIN;
	maybe_die();
	post(ROOM_MAIN, name, " joined");
}

/* torn: die after copying that many bytes of the name (0: never) */
static void
rename_to(const char *name, size_t torn)
{
	struct client_slot	*slot = shm_slot(my_slot);

	if (name_lookup(name) != -1)
		return;			/* taken */
	name_remove(my_slot);
	maybe_die();
	if (torn > 0) {
		/* killed in the middle of the copy: part new, part old */
		atomic_fetch_add(&ledger->torn_names, 1);
		memcpy(slot->name, name, torn);
		_exit(EXIT_DIED);
	}
	memcpy(slot->name, name, strlen(name) + 1);
	maybe_die();
	name_insert(my_slot);
	maybe_die();
	post(my_room, slot->name, " is the new name");
}

static void
rename_session(void)
{
	char	 name[3];

	name[0] = pool[below(4)];
	name[1] = pool[below(4)];
	name[2] = '\0';
	rename_to(name, below(DIE_ODDS / 4) == 0 ? 1 + below(2) : 0);
}

static void
join_room(void)
{
	char	 name[NAME_SIZE];
	int	 room, old = my_room;

	snprintf(name, sizeof(name), "room%u", below(ROOMS + 2));
	room = room_find(name);
	if (room == old)
		return;
	if (room == -1 && shm->rooms_used >= shm->max_rooms &&
	    (old == ROOM_MAIN || shm_room(old)->members > 1))
		return;			/* too many rooms */
	room_remove_member(old, my_slot);
	my_room = -1;
	maybe_die();
	if (shm_room(old)->members > 0)
		post(old, shm_slot(my_slot)->name, " left");
	maybe_die();
	if (room == -1 && (room = room_create(name)) == -1)
		violation("no room free for %s, though one was counted", name);
	maybe_die();
	room_add_member(room, my_slot);
	my_room = room;
	maybe_die();
	post(room, shm_slot(my_slot)->name, " joined");
}

/* child.c's slot_release, with deaths between its steps */
static void
quit_session(void)
{
	struct client_slot	*slot = shm_slot(my_slot);

	if (my_room >= 0) {
		room_remove_member(my_room, my_slot);
		maybe_die();
		if (shm_room(my_room)->members > 0)
			post(my_room, slot->name, " left");
		maybe_die();
	}
	name_remove(my_slot);
	maybe_die();
	slot->name[0] = '\0';
	atomic_store(&slot->state, SLOT_FREE);
	maybe_die();
	atomic_store(&slot->pid, 0);
	slot->next = shm->free_slot;
	shm->free_slot = my_slot;
	my_slot = my_room = -1;
}

static void
session_step(void)
{
	global_enter();
	if (below(3) == 0)
		transfer();
	else if (my_slot == -1)
		connect_session();
	else {
		switch (below(4)) {
		case 0:
			rename_session();
			break;
		case 1:
		case 2:
			join_room();
			break;
		default:
			quit_session();
			break;
		}
	}
	maybe_die();
	global_leave();
}

/* --- a room lock ----------------------------------------------------- */

static uint64_t
checksum(const char *s, size_t n)
{
	uint64_t	 h = 1469598103934665603ULL;

	while (n-- > 0)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h % 1000003;
}

/* Room lock held: every entry below the head is whole. */
static void
check_ring(int room)
{
	uint64_t		 head = room_head(room), seq, from;
	struct ring_entry	*e;
	unsigned long long	 sum;
	int			 body;
	char			 text[128];

	/* not head - ring_size: that cell is the next post's, which a
	 * poster that died in it left busy */
	from = head >= shm->ring_size ? head - shm->ring_size + 1 : 0;
	for (seq = from; seq < head; seq++) {
		e = shm_entry(room, seq);
		if (atomic_load(&e->seq) != seq)
			violation("room %d: entry %llu below the head %llu is "
			    "stamped %llu", room, (unsigned long long)seq,
			    (unsigned long long)head,
			    (unsigned long long)atomic_load(&e->seq));
		if (e->len == 0 || e->len > shm->entry_text_max ||
		    e->text[e->len - 1] != '\n')
			violation("room %d: entry %llu is not a whole line",
			    room, (unsigned long long)seq);
		/* ours: "#BODY sum" with the checksum of BODY */
		if (e->text[0] != '#')
			continue;
		snprintf(text, sizeof(text), "%.*s", (int)e->len, e->text);
		body = 0;
		if (sscanf(text, "#%*s%n %llu", &body, &sum) != 1 ||
		    checksum(text, (size_t)body) != sum)
			violation("room %d: entry %llu is torn: %.*s", room,
			    (unsigned long long)seq, (int)e->len, e->text);
	}
}

static void
room_step(void)
{
	int		 room = (int)below(ROOMS);
	struct room	*r = shm_room(room);
	char		 body[64], sum[32];
	int		 n;

	room_lock(r);
	atomic_store(&me->in_room, 1);
	if (atomic_exchange(&ledger->room_holder[room], shm_self) != 0 &&
	    atomic_load(&shm->repairs) == 0)
		violation("room %d: got its lock normally, but another holder "
		    "never left", room);
	check_ring(room);
	maybe_die();
	if (atomic_load(&ledger->room_holder[room]) != shm_self)
		violation("room %d: pid %d held its lock, but pid %d got in "
		    "meanwhile", room, shm_self,
		    atomic_load(&ledger->room_holder[room]));
	atomic_store(&ledger->room_holder[room], 0);
	atomic_store(&me->in_room, 0);
	room_unlock(r);
	atomic_fetch_add(&ledger->room_cycles, 1);

	/* then a line of ours through room_post, killed in it at times */
	n = snprintf(body, sizeof(body), "#%d-%llu", shm_self,
	    (unsigned long long)next_random() % 100000);
	snprintf(sum, sizeof(sum), " %llu",
	    (unsigned long long)checksum(body, (size_t)n));
	post(room, body, sum);
	atomic_fetch_add(&ledger->room_cycles, 1);
}

__attribute__((noreturn))
static void
worker_main(int index)
{
	shm_self = getpid();
	me = &ledger->workers[index];
	rng = ((uint64_t)shm_self << 32) ^ (uint64_t)time(NULL) ^ 0x9e3779b9;
	for (;;) {
		alarm(HANG_SECONDS);
		if (below(3) == 0)
			room_step();
		else
			session_step();
	}
}

/*
 * Scripted first: a rename killed halfway through copying the name,
 * leaving in its slot the name of another live user ("ab" becoming "ba"
 * dies as "bb" while someone is "bb").  The dead slot comes first in
 * the slots, so a repair that indexes slots in order gives it the name,
 * and the janitor then frees the name of the live one with it.
 */
static pid_t	 torn_victim, torn_owner;
static void	 mark_dead(pid_t);

static void
wait_for(int fd)
{
	char	 c;

	if (read(fd, &c, 1) != 1)
		_exit(1);
}

static void
torn_rename_scenario(void)
{
	int	 w_ready[2], w_go[2], a_ready[2];

	if (pipe(w_ready) == -1 || pipe(w_go) == -1 || pipe(a_ready) == -1)
		fail("pipe: %s", strerror(errno));
	immortal = 1;
	if ((torn_victim = fork()) == 0) {
		shm_self = getpid();
		me = &ledger->workers[0];
		global_enter();
		connect_session();	/* slot 0: the free list's first */
		rename_to("ab", 0);
		global_leave();
		(void)write(w_ready[1], "r", 1);
		wait_for(w_go[0]);
		global_enter();
		rename_to("ba", 1);	/* dies as "bb" */
		_exit(1);
	}
	wait_for(w_ready[0]);
	if ((torn_owner = fork()) == 0) {
		shm_self = getpid();
		me = &ledger->workers[1];
		global_enter();
		connect_session();	/* slot 1 */
		rename_to("bb", 0);
		global_leave();
		(void)write(a_ready[1], "r", 1);
		for (;;)
			pause();
	}
	wait_for(a_ready[0]);
	(void)write(w_go[1], "g", 1);
	immortal = 0;
	if (waitpid(torn_victim, NULL, 0) == -1)
		fail("waitpid: %s", strerror(errno));
	mark_dead(torn_victim);
	/* the next holder repairs, the janitor frees the dead slot, and
	 * "bb" must still find its live owner */
	shm_self = getpid();
	me = &ledger->workers[MAX_WORKERS - 1];
	global_enter();
	global_leave();
	kill(torn_owner, SIGKILL);
	if (waitpid(torn_owner, NULL, 0) == -1)
		fail("waitpid: %s", strerror(errno));
	mark_dead(torn_owner);
}

/* --- the killer, as the master ------------------------------------- */

static int	 nworkers = 4;
static FILE	*report;
static const char *log_path = "/dev/null";
static struct {
	unsigned long	 sigkills, exits, in_lock;
} deaths;

__attribute__((noreturn, format(printf, 1, 2)))
static void
fail(const char *fmt, ...)
{
	va_list	 ap;
	int	 i;

	for (i = 0; i < nworkers; i++)
		if (atomic_load(&ledger->workers[i].pid) > 0)
			kill(atomic_load(&ledger->workers[i].pid), SIGKILL);
	fprintf(report, "robust: FAIL: ");
	va_start(ap, fmt);
	vfprintf(report, fmt, ap);
	va_end(ap);
	fprintf(report, "\n(chatd's messages are in %s)\n", log_path);
	shm_remove();
	exit(1);
}

static void
on_alarm(int sig)
{
	static const char	 msg[] = "robust: FAIL: the test itself hung "
	    "(a lock that never came back?)\n";

	(void)sig;
	(void)write(STDOUT_FILENO, msg, sizeof(msg) - 1);
	_exit(1);
}

static void
spawn(int index)
{
	pid_t	 pid;

	atomic_store(&ledger->workers[index].in_global, 0);
	atomic_store(&ledger->workers[index].in_room, 0);
	if ((pid = fork()) == -1)
		fail("cannot fork a worker: %s", strerror(errno));
	if (pid == 0)
		worker_main(index);
	atomic_store(&ledger->workers[index].pid, pid);
}

/* master.c's mark_dead: a compare-and-swap, no lock */
static void
mark_dead(pid_t pid)
{
	uint32_t		 i, expect;
	struct client_slot	*s;

	for (i = 0; i < shm->max_clients; i++) {
		s = shm_slot((int)i);
		expect = SLOT_ACTIVE;
		if (atomic_load(&s->pid) == pid &&
		    atomic_compare_exchange_strong(&s->state, &expect,
		    SLOT_DEAD))
			atomic_fetch_add(&shm->dead_pending, 1);
	}
}

static void
died(int index, int status, int respawn)
{
	struct worker	*w = &ledger->workers[index];
	pid_t		 pid = atomic_load(&w->pid);

	if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_VIOLATION)
		fail("%s", ledger->violation);
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
		fail("worker %d waited %d s: a lock hung (never "
		    "ENOTRECOVERABLE, never a hang, is the promise)", (int)pid,
		    HANG_SECONDS);
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
		deaths.sigkills++;
	else if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_DIED)
		deaths.exits++;
	else if (WIFEXITED(status))
		fail("worker %d exited with status %d: a lock call failed "
		    "(ENOTRECOVERABLE?)", (int)pid, WEXITSTATUS(status));
	else
		fail("worker %d died of signal %d", (int)pid,
		    WTERMSIG(status));
	if (atomic_load(&w->in_global) || atomic_load(&w->in_room))
		deaths.in_lock++;
	atomic_store(&w->pid, 0);
	mark_dead(pid);
	if (respawn)
		spawn(index);
}

/* Reaps one worker (blocking) or every dead one (not). */
static int
reap(int block, int respawn)
{
	pid_t	 pid;
	int	 status, i, n = 0;

	while ((pid = waitpid(-1, &status, block ? 0 : WNOHANG)) > 0) {
		for (i = 0; i < nworkers; i++)
			if (atomic_load(&ledger->workers[i].pid) == pid)
				died(i, status, respawn);
		n++;
		if (block)
			break;
	}
	if (pid == -1 && errno != ECHILD)
		fail("waitpid: %s", strerror(errno));
	return n;
}

static void
nap(long max_us)
{
	struct timespec	 ts = { 0, (long)below((unsigned)max_us) * 1000 };

	nanosleep(&ts, NULL);
}

static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static unsigned long
count_lines(const char *needle)
{
	FILE		*fp;
	char		 line[1024];
	unsigned long	 n = 0;

	if ((fp = fopen(log_path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strstr(line, needle) != NULL)
			n++;
	fclose(fp);
	return n;
}

/* All workers gone: every lock once more, and nothing may be left. */
static void
final_check(void)
{
	uint32_t	 i;
	int		 r;

	shm_self = getpid();
	me = &ledger->workers[MAX_WORKERS - 1];
	ledger->workers[MAX_WORKERS - 1].pid = shm_self;
	global_enter();		/* the last repair, and the janitor */
	for (r = 0; r < ROOMS; r++) {
		room_lock(shm_room(r));
		check_ring(r);
		room_unlock(shm_room(r));
	}
	for (i = 0; i < shm->max_clients; i++)
		if (atomic_load(&shm_slot((int)i)->state) != SLOT_FREE)
			violation("slot %u is still in use (state %u, pid %d) "
			    "after every worker died: leaked", i,
			    atomic_load(&shm_slot((int)i)->state),
			    atomic_load(&shm_slot((int)i)->pid));
	if (shm->rooms_used != 1)
		violation("%u rooms remain after every worker died: leaked",
		    shm->rooms_used);
	global_leave();
}

static void
setup(const char *segment)
{
	struct config	 conf;
	int		 i, fd;

	config_defaults(&conf);
	conf.max_clients = 12;		/* fewer than the 16 pool names */
	conf.max_rooms = ROOMS;
	conf.ring_size = 16;
	conf.max_line_length = 64;
	snprintf(conf.segment_name, sizeof(conf.segment_name), "%s", segment);
	shm_self_set();
	if (doorbells_init(conf.segment_name, geteuid()) == -1 ||
	    shm_attach(&conf, SHM_MASTER) == -1)
		exit(1);		/* it said why */
	ledger = mmap(NULL, sizeof(*ledger), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ledger == MAP_FAILED) {
		fprintf(stderr, "robust: cannot map the ledger: %s\n",
		    strerror(errno));
		exit(1);
	}
	for (i = 0; i < ACCOUNTS; i++)
		ledger->account[i] = TOTAL / ACCOUNTS;
	/* chatd logs every repair and janitor pass: to the log, not here */
	if ((fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND,
	    0644)) == -1) {
		fprintf(stderr, "robust: cannot open %s: %s\n", log_path,
		    strerror(errno));
		exit(1);
	}
	if ((report = fdopen(dup(STDOUT_FILENO), "w")) == NULL ||
	    dup2(fd, STDERR_FILENO) == -1) {
		fprintf(stderr, "robust: cannot redirect stderr: %s\n",
		    strerror(errno));
		exit(1);
	}
	close(fd);
	setvbuf(report, NULL, _IONBF, 0);
}

int
main(int argc, char *argv[])
{
	char		 segment[64];
	double		 seconds = 3, start, end, last_progress;
	uint64_t	 cycles, last_cycles = 0;
	int		 ch, i;

	while ((ch = getopt(argc, argv, "l:t:w:")) != -1) {
		switch (ch) {
		case 'l':
			log_path = optarg;
			break;
		case 't':
			seconds = atof(optarg);
			break;
		case 'w':
			nworkers = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: robust [-t seconds] "
			    "[-w workers] [-l logfile]\n");
			return 2;
		}
	}
	if (seconds <= 0 || nworkers < 1 || nworkers > MAX_WORKERS - 1) {
		fprintf(stderr, "robust: -t must be positive, -w 1 to %d\n",
		    MAX_WORKERS - 1);
		return 2;
	}
	parent = getpid();
	snprintf(segment, sizeof(segment), "/chatd-robust-%d", (int)getpid());
	setup(segment);
	signal(SIGALRM, on_alarm);
	alarm((unsigned)seconds + 60);
	rng = (uint64_t)getpid() * 0x2545f4914f6cdd1dULL + 1;

	torn_rename_scenario();
	for (i = 0; i < nworkers; i++)
		spawn(i);
	start = last_progress = now();
	end = start + seconds;
	while (now() < end) {
		nap(2000);
		i = (int)below((unsigned)nworkers);
		if (atomic_load(&ledger->workers[i].pid) > 0 &&
		    kill(atomic_load(&ledger->workers[i].pid), SIGKILL) == -1 &&
		    errno != ESRCH)
			fail("kill: %s", strerror(errno));
		reap(1, 1);		/* that one, or one that died first */
		reap(0, 1);
		cycles = atomic_load(&ledger->global_cycles) +
		    atomic_load(&ledger->room_cycles);
		if (cycles != last_cycles) {
			last_cycles = cycles;
			last_progress = now();
		} else if (now() - last_progress > HANG_SECONDS)
			fail("no lock taken in %d s: a hang", HANG_SECONDS);
	}
	for (i = 0; i < nworkers; i++)
		if (atomic_load(&ledger->workers[i].pid) > 0)
			kill(atomic_load(&ledger->workers[i].pid), SIGKILL);
	while (reap(1, 0) > 0)
		;
	final_check();
	if (atomic_load(&ledger->violated))
		fail("%s", ledger->violation);
	shm_remove();

	fprintf(report, "robust: %.0f s, %d workers: %llu lock cycles "
	    "(%llu global, %llu room); %lu deaths (%lu SIGKILL, %lu _exit "
	    "holding a lock mid-update), %lu of them seen inside a lock; "
	    "%llu EOWNERDEAD repairs (%lu of the global state, %lu of a "
	    "room), %llu half-done transfers rolled back, %llu names torn, "
	    "%llu dead slots freed; every invariant held, nothing leaked\n", seconds,
	    nworkers,
	    (unsigned long long)(atomic_load(&ledger->global_cycles) +
	    atomic_load(&ledger->room_cycles)),
	    (unsigned long long)atomic_load(&ledger->global_cycles),
	    (unsigned long long)atomic_load(&ledger->room_cycles),
	    deaths.sigkills + deaths.exits, deaths.sigkills, deaths.exits,
	    deaths.in_lock, (unsigned long long)atomic_load(&shm->repairs),
	    count_lines("repairing shared state"),
	    count_lines("repairing room"),
	    (unsigned long long)ledger->rolled_back,
	    (unsigned long long)atomic_load(&ledger->torn_names),
	    (unsigned long long)atomic_load(&shm->janitor_frees));
	if (atomic_load(&shm->repairs) < deaths.in_lock)
		fail("%lu deaths inside a lock but only %llu repairs: a dead "
		    "holder's lock was taken without EOWNERDEAD",
		    deaths.in_lock,
		    (unsigned long long)atomic_load(&shm->repairs));
	if (deaths.in_lock == 0)
		fail("no worker died inside a lock: the test tested nothing");
	return 0;
}
