/*
 * shm.c: the segment: creating it, telling a stale one from a live one,
 * the robust locks and their repair.
 *
 * The master maps the segment once, before it forks, and nobody unmaps
 * or remaps it while chatd runs: a robust mutex in memory unmapped while
 * held is never recovered (and glibc bug 14485 bites a mapping reused at
 * the same address).
 */
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "names.h"
#include "pace.h"
#include "room.h"
#include "shm.h"

struct shm_header	*shm;
int			 shm_self;	/* getpid() is a system call */
uint64_t		 shm_self_start;
static char		 shm_name[256];
static int		 shm_created_by;	/* pid that may unlink it */

static size_t
align64(size_t n)
{
	return (n + 63) & ~(size_t)63;
}

static uint32_t
power_of_two_above(uint32_t n)
{
	uint32_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

_Atomic uint64_t *
shm_seat(int i)
{
	return (_Atomic uint64_t *)(void *)((char *)shm + shm->off_seats) + i;
}

struct client_slot *
shm_slot(int i)
{
	return (struct client_slot *)((char *)shm + shm->off_slots) + i;
}

int32_t *
shm_names(void)
{
	return (int32_t *)(void *)((char *)shm + shm->off_names);
}

struct room *
shm_room(int i)
{
	return (struct room *)((char *)shm + shm->off_rooms) + i;
}

struct ring_entry *
shm_entry(int room, uint64_t seq)
{
	size_t	 i = (size_t)room * shm->ring_size + seq % shm->ring_size;

	return (struct ring_entry *)(void *)((char *)shm + shm->off_rings +
	    i * shm->entry_size);
}

/* "/proc/PID/stat", without printf (see put_decimal). */
static void
proc_stat_path(char buf[static 32], int pid)
{
	size_t	 n = strlen("/proc/");

	memcpy(buf, "/proc/", n);
	put_decimal(buf, &n, (unsigned)pid, 1, ' ');
	memcpy(buf + n, "/stat", sizeof("/stat"));
}

/*
 * Fields 3 (state) and 22 (start time in clock ticks since boot) of
 * /proc/PID/stat; 0 if it cannot be read.  read(2) into the stack, not
 * fopen(3): every child reads its own at start-up, and a FILE on the heap
 * cost each of them three private pages (its heap's and libc's stream
 * list), measured.
 */
static uint64_t
process_stat(int pid, char *state)
{
	char			 path[64], buf[1024], *p, *end;
	unsigned long long	 start = 0;
	ssize_t			 n;
	int			 fd, field;

	*state = '?';
	proc_stat_path(path, pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	while ((n = read(fd, buf, sizeof(buf) - 1)) == -1 && errno == EINTR)
		;
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* the command name may hold spaces: count from its closing ')' */
	if ((p = strrchr(buf, ')')) == NULL || p[1] != ' ')
		return 0;
	*state = p[2];
	for (field = 2; field < 22 && p != NULL; field++)
		p = strchr(p + 1, ' ');
	if (p == NULL)
		return 0;
	errno = 0;
	start = strtoull(p + 1, &end, 10);
	if (end == p + 1 || errno != 0)
		return 0;
	return start;
}

uint64_t
process_start_time(int pid)
{
	char	 state;

	return process_stat(pid, &state);
}

/*
 * A zombie is dead, even if its parent (a daemon's: init, or a
 * container's first process) has not reaped it yet.  A start time we
 * cannot read (hidepid, a race with its death) is taken as alive.
 */
int
shm_owner_alive(int32_t pid, uint64_t start)
{
	uint64_t	 now;
	char		 state;

	if (pid <= 0)
		return 0;
	if (kill(pid, 0) == -1 && errno == ESRCH)
		return 0;
	now = process_stat(pid, &state);
	if (state == 'Z')
		return 0;
	return now == 0 || now == start;
}

int
shm_slot_alive(const struct client_slot *s)
{
	return shm_owner_alive(atomic_load(&s->pid), s->pid_start);
}

void
shm_self_set(void)
{
	shm_self = getpid();
	shm_self_start = process_start_time(shm_self);
}

static void
init_mutex(pthread_mutex_t *m)
{
	pthread_mutexattr_t	 attr;
	int			 e;

	if ((e = pthread_mutexattr_init(&attr)) != 0 ||
	    (e = pthread_mutexattr_setpshared(&attr,
	    PTHREAD_PROCESS_SHARED)) != 0 ||
	    (e = pthread_mutexattr_setrobust(&attr,
	    PTHREAD_MUTEX_ROBUST)) != 0 ||
	    (e = pthread_mutex_init(m, &attr)) != 0) {
		errno = e;
		fatal("cannot set up a shared robust mutex");
	}
	pthread_mutexattr_destroy(&attr);
}

static void
layout(struct shm_header *h, const struct config *conf)
{
	size_t	 off;

	h->max_clients = conf->max_clients;
	h->max_rooms = conf->max_rooms;
	h->ring_size = conf->ring_size;
	/* "NAME: " + a line + "\n"; every other line the server makes is
	 * shorter than 3 names and a few words */
	h->entry_text_max = conf->max_line_length + 3 * NAME_SIZE;
	h->entry_size = (uint32_t)((sizeof(struct ring_entry) +
	    h->entry_text_max + 7) & ~7u);
	h->name_index_size = power_of_two_above(2 * conf->max_clients);
	h->seats = SHM_SEATS(conf->max_clients);

	off = align64(sizeof(struct shm_header));
	h->off_seats = off;
	off = align64(off + sizeof(uint64_t) * h->seats);
	h->off_slots = off;
	off = align64(off + sizeof(struct client_slot) * h->max_clients);
	h->off_names = off;
	off = align64(off + sizeof(int32_t) * h->name_index_size);
	h->off_rooms = off;
	off = align64(off + sizeof(struct room) * h->max_rooms);
	h->off_rings = off;
	off += (size_t)h->entry_size * h->ring_size * h->max_rooms;
	h->total_size = align64(off);
	h->header_size = sizeof(struct shm_header);
}

static void
initialise(const struct config *conf)
{
	uint32_t	 i;
	int32_t		*names;

	layout(shm, conf);
	shm->version = SHM_LAYOUT_VERSION;
	init_mutex(&shm->lock);
	atomic_store(&shm->pace_budget, PACE_BUDGET_START);
	for (i = 0; i < shm->max_clients; i++) {
		shm_slot(i)->next = i + 1 < shm->max_clients ? (int)i + 1 : -1;
		shm_slot(i)->room = -1;
	}
	shm->free_slot = 0;
	names = shm_names();
	for (i = 0; i < shm->name_index_size; i++)
		names[i] = -1;
	for (i = 0; i < shm->max_rooms; i++) {
		init_mutex(&shm_room(i)->lock);
		shm_room(i)->first = -1;
	}
	strcpy(shm_room(ROOM_MAIN)->name, "main");
	shm->rooms_used = 1;
	names_init(shm);
	/* last: whoever checks the magic sees a finished segment */
	atomic_thread_fence(memory_order_release);
	shm->magic = SHM_MAGIC;
}

/* Sessions whose processes still live. */
static unsigned
live_sessions(void)
{
	unsigned	 i, n = 0;

	for (i = 0; i < shm->max_clients; i++)
		if (atomic_load(&shm_slot(i)->state) == SLOT_ACTIVE &&
		    shm_slot_alive(shm_slot(i)))
			n++;
	return n;
}

static int
same_layout(const struct shm_header *a, const struct shm_header *b)
{
	return a->max_clients == b->max_clients &&
	    a->max_rooms == b->max_rooms && a->ring_size == b->ring_size &&
	    a->entry_size == b->entry_size &&
	    a->entry_text_max == b->entry_text_max &&
	    a->total_size == b->total_size;
}

/* shm_name is set: shm_attach records it first */
static void
become_owner(void)
{
	shm->owner_start = shm_self_start;
	atomic_store(&shm->owner_pid, shm_self);
	shm_created_by = shm_self;
}

/*
 * Where chatd's own big mappings go: the session buffers, then the
 * segment.  Every process builds page tables for the memory it touches,
 * one page of them per 2 MiB region touched, one more per 1 GiB, one
 * more per 512 GiB.  Left to the kernel, both land below the shared
 * libraries, each in regions of its own, and every child paid for them.
 * So they go right after the program's own data (end(3)): the buffers'
 * first pages share the 2 MiB page-table page of its .bss, and the
 * segment's first 2 MiB (header, slots, names, rooms, main's ring: what
 * an idle child touches) is aligned to 2 MiB, under the program's 1 GiB
 * page-table page.  That space is free because chatd never grows a brk
 * heap (main()).  If it is not, any address does.
 */
#define SEGMENT_ALIGN	((size_t)2 << 20)

static uintptr_t	 placed_end;	/* where the next one would go */

void *
map_placed(size_t size, size_t align, int prot, int flags, int fd)
{
	extern char	 end;		/* end(3): past the program's .bss */
	uintptr_t	 page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t	 hint, area, at, stop;
	size_t		 span;
	void		*p;

	if (align < page)
		align = page;
	span = size + align - page;
	if (placed_end == 0)
		placed_end = ((uintptr_t)&end + page - 1) & ~(page - 1);
	hint = (placed_end + align - 1) & ~(align - 1);
	/* a reservation to align inside; address space only */
	p = mmap((void *)hint, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
	    MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return mmap(NULL, size, prot, flags, fd, 0);
	area = (uintptr_t)p;
	at = (area + align - 1) & ~(align - 1);
	if (mmap((void *)at, size, prot, flags | MAP_FIXED, fd, 0) ==
	    MAP_FAILED) {
		(void)munmap(p, span);
		return MAP_FAILED;
	}
	stop = (at + size + page - 1) & ~(page - 1);
	if (at > area)
		(void)munmap(p, at - area);
	if (area + span > stop)
		(void)munmap((void *)stop, area + span - stop);
	if (area == hint)
		placed_end = stop;
	return (void *)at;
}

static void *
segment_map(int fd, size_t size)
{
	return map_placed(size, SEGMENT_ALIGN, PROT_READ | PROT_WRITE,
	    MAP_SHARED, fd);
}

/* A stale segment looked at and let go: its successor takes its place. */
static void
segment_unmap(void *p, size_t size)
{
	uintptr_t	 page = (uintptr_t)sysconf(_SC_PAGESIZE);

	(void)munmap(p, size);
	if (((uintptr_t)p + size + page - 1) / page * page == placed_end)
		placed_end = (uintptr_t)p;
}

/*
 * What attaching found that a sysadmin wants to know, said only once
 * the first log line (where chatd listens) is out: shm_attach_news().
 */
static unsigned	 news_adopted;	/* sessions in a segment adopted */
static int	 news_stale;	/* a stale segment was replaced */

/*
 * A segment is there.  0: attached to it; 1: it was stale and is gone,
 * make a new one; -1: it cannot be used, and we said why.
 *
 * A master refuses a segment whose master lives.  It adopts one that
 * sessions still use, chatd -i's or a killed master's children's
 * (marking the slots of dead processes for the janitor), and replaces
 * one nobody uses (a master killed before it could remove it).  chatd
 * -i uses any segment of the same layout.
 */
static int
attach_existing(const struct config *conf, const struct shm_header *want,
    enum shm_role role)
{
	const char		*name = conf->segment_name;
	struct client_slot	*slot;
	struct stat		 st;
	void			*p;
	uint32_t		 expect, i;
	unsigned		 live = 0;
	int			 fd, owner, readable, same;

	if ((fd = shm_open(name, O_RDWR, 0)) == -1) {
		if (errno == ENOENT)
			return 1;
		fprintf(stderr, "chatd: cannot open segment %s: %s\n", name,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1)
		fatal("fstat %s", name);
	if ((size_t)st.st_size < sizeof(struct shm_header)) {
		close(fd);
		goto stale;
	}
	p = segment_map(fd, (size_t)st.st_size);
	close(fd);
	if (p == MAP_FAILED) {
		fprintf(stderr, "chatd: cannot map segment %s: %s\n", name,
		    strerror(errno));
		return -1;
	}
	shm = p;
	readable = shm->magic == SHM_MAGIC &&
	    shm->version == SHM_LAYOUT_VERSION &&
	    shm->header_size == sizeof(struct shm_header) &&
	    shm->total_size <= (uint64_t)st.st_size;
	owner = shm->magic == SHM_MAGIC &&
	    shm_owner_alive(shm->owner_pid, shm->owner_start);
	same = readable && same_layout(shm, want);
	if (readable)
		live = live_sessions();
	if (same && role == SHM_INETD)
		return 0;
	if (same && !owner && live > 0) {
		for (i = 0; i < shm->max_clients; i++) {
			slot = shm_slot(i);
			expect = SLOT_ACTIVE;
			if (!shm_slot_alive(slot) && atomic_compare_exchange_strong(
			    &slot->state, &expect, SLOT_DEAD))
				atomic_fetch_add(&shm->dead_pending, 1);
		}
		become_owner();
		news_adopted = live;
		return 0;
	}
	if (owner)
		fprintf(stderr, "chatd: segment %s is in use by pid %d\n",
		    name, (int)shm->owner_pid);
	else if (live > 0)
		fprintf(stderr, "chatd: segment %s is in use by %u sessions "
		    "but was made with other sizes (MaxClients %u, MaxRooms %u, "
		    "RingSize %u, MaxLineLength %u); use the same settings or "
		    "another SegmentName\n", name, live, shm->max_clients,
		    shm->max_rooms, shm->ring_size,
		    shm->entry_text_max - 3 * NAME_SIZE);
	segment_unmap(p, (size_t)st.st_size);
	shm = NULL;
	if (owner || live > 0)
		return -1;
stale:
	news_stale = 1;
	if (shm_unlink(name) == -1 && errno != ENOENT) {
		fprintf(stderr, "chatd: cannot remove stale segment %s: %s\n",
		    name, strerror(errno));
		return -1;
	}
	return 1;
}

/*
 * The segment is sparse, but every page of it may be touched one day, and
 * a page tmpfs cannot supply is a SIGBUS inside a lock: refuse now.
 */
static int
check_space(const char *name, uint64_t size)
{
	struct statvfs	 fs;
	uint64_t	 avail;

	if (statvfs("/dev/shm", &fs) == -1)
		return 0;		/* not there: shm_open will say */
	avail = (uint64_t)fs.f_bavail * fs.f_frsize;
	if (size <= avail)
		return 0;
	fprintf(stderr, "chatd: segment %s needs %llu MiB but /dev/shm has "
	    "%llu MiB free; lower MaxRooms, RingSize or MaxClients\n", name,
	    (unsigned long long)(size >> 20), (unsigned long long)(avail >> 20));
	return -1;
}

static int
make_segment(const struct config *conf, const struct shm_header *h,
    enum shm_role role)
{
	const char	*name = conf->segment_name;
	void		*p;
	int		 fd;

	fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd == -1) {
		fprintf(stderr, "chatd: cannot create segment %s: %s\n", name,
		    strerror(errno));
		return -1;
	}
	if (ftruncate(fd, (off_t)h->total_size) == -1) {
		fprintf(stderr, "chatd: cannot size segment %s to %llu bytes: "
		    "%s\n", name, (unsigned long long)h->total_size,
		    strerror(errno));
		goto fail;
	}
	p = segment_map(fd, h->total_size);
	if (p == MAP_FAILED) {
		fprintf(stderr, "chatd: cannot map segment %s: %s\n", name,
		    strerror(errno));
		goto fail;
	}
	close(fd);
	shm = p;
	initialise(conf);
	if (role == SHM_MASTER)
		become_owner();
	return 0;
fail:
	close(fd);
	(void)shm_unlink(name);
	return -1;
}

/*
 * Everyone who makes, adopts, replaces or attaches to a segment does it
 * holding an flock on its doorbell directory, so nobody sees a half-made
 * segment or replaces one that another just made; the kernel drops the
 * lock of a process that dies.
 */
int
shm_attach(const struct config *conf, enum shm_role role)
{
	struct shm_header	 h;
	char			 dir[PATH_MAX];
	int			 dfd, r;

	memset(&h, 0, sizeof(h));
	layout(&h, conf);
	/* for the news, and for shm_remove once we own it */
	snprintf(shm_name, sizeof(shm_name), "%s", conf->segment_name);
	if (check_space(conf->segment_name, h.total_size) == -1)
		return -1;
	snprintf(dir, sizeof(dir), "%s%s.doorbells", SHM_DIR,
	    conf->segment_name);
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		fprintf(stderr, "chatd: cannot open %s: %s\n", dir,
		    strerror(errno));
		return -1;
	}
	while (flock(dfd, LOCK_EX) == -1) {
		if (errno != EINTR) {
			fprintf(stderr, "chatd: cannot lock %s: %s\n", dir,
			    strerror(errno));
			close(dfd);
			return -1;
		}
	}
	if ((r = attach_existing(conf, &h, role)) == 1)
		r = make_segment(conf, &h, role);
	close(dfd);		/* and with it the lock */
	return r;
}

/* What shm_attach found, once the first log line is out. */
void
shm_attach_news(void)
{
	if (news_stale)
		log_warnx("replaced stale segment %s", shm_name);
	if (news_adopted > 0)
		log_info("adopting segment %s: %u sessions still use it "
		    "(chatd -i, or children of a master that died)", shm_name,
		    news_adopted);
	news_stale = 0;
	news_adopted = 0;
}

/*
 * The master that made or adopted the segment removes it when it exits,
 * unless sessions still use it (chatd -i's, or those of the children of
 * a master that died); nobody else removes it.
 */
void
shm_remove(void)
{
	unsigned	 live;

	if (shm_created_by == 0 || shm_created_by != getpid())
		return;
	shm_created_by = 0;
	atomic_store(&shm->owner_pid, 0);
	if ((live = live_sessions()) > 0) {
		log_info("leaving segment %s to %u sessions still in it",
		    shm_name, live);
		return;
	}
	if (shm_unlink(shm_name) == -1 && errno != ENOENT)
		log_warn("cannot remove segment %s", shm_name);
	doorbells_remove();
}

/*
 * The holder of the global lock died: the free list, the name index and
 * the member lists may be half-updated.  The slots are the truth: rebuild
 * the rest from them.  A slot the dead holder was setting up is marked
 * dead so the janitor frees it (the master does the same when it reaps).
 */
static void
shm_repair(int32_t dead)
{
	uint32_t		 i;
	struct client_slot	*slot;
	uint32_t		 expect;

	log_warnx("repairing shared state after pid %d died holding the lock",
	    (int)dead);
	shm->free_slot = -1;
	shm->unwatched = 0;
	for (i = shm->max_clients; i-- > 0; ) {
		slot = shm_slot(i);
		expect = SLOT_ACTIVE;
		/* pid 0: its owner died setting it up */
		if ((atomic_load(&slot->pid) == dead ||
		    atomic_load(&slot->pid) == 0) &&
		    atomic_compare_exchange_strong(&slot->state, &expect,
		    SLOT_DEAD))
			log_warnx("slot %u was half made by pid %d", i,
			    (int)dead);
		/* a janitor that died mid-sweep left these: sweep again */
		if (atomic_load(&slot->state) == SLOT_DEAD)
			atomic_fetch_add(&shm->dead_pending, 1);
		if (atomic_load(&slot->state) != SLOT_FREE &&
		    (slot->flags & SLOT_UNWATCHED))
			shm->unwatched++;
		if (atomic_load(&slot->state) == SLOT_FREE) {
			slot->next = shm->free_slot;
			slot->room = -1;
			shm->free_slot = (int32_t)i;
		}
	}
	names_rebuild();
	rooms_rebuild();
	atomic_fetch_add(&shm->repairs, 1);
}

static int
lock_robust(pthread_mutex_t *m)
{
	int	 e;

	e = pthread_mutex_lock(m);
	if (e == 0 || e == EOWNERDEAD)
		return e;
	errno = e;
	fatal("cannot take a shared lock");
}

static void
make_consistent(pthread_mutex_t *m)
{
	int	 e;

	if ((e = pthread_mutex_consistent(m)) != 0) {
		errno = e;
		fatal("cannot mark a repaired shared lock consistent");
	}
}

#ifdef CHATD_TORTURE
/*
 * Test builds only (build/torture/chatd, for tests/torture.sh and
 * tests/crash.bats; never the installed binary).  $CHATD_TORTURE_DIR
 * holds flag files a test creates:
 *
 *	park-global, park-room	the next process to take that lock
 *				removes the file and sleeps holding the
 *				lock until killed, after logging
 *				"torture: pid N parked holding the ... lock"
 *	die-at-start		every child exits at start-up
 *	fork-fails		the master's fork(2) fails, EAGAIN (master.c)
 *
 * so a test knows exactly which process holds a lock when it kills it.
 */
int
torture_flag(const char *flag, int consume)
{
	const char	*dir = getenv("CHATD_TORTURE_DIR");
	char		 path[512];

	if (dir == NULL)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", dir, flag);
	if (consume)
		return unlink(path) == 0;	/* one process wins it */
	return access(path, F_OK) == 0;
}

static void
torture_park(const char *flag, const char *which)
{
	if (!torture_flag(flag, 1))
		return;
	log_warnx("torture: pid %d parked holding the %s lock", shm_self,
	    which);
	for (;;)
		pause();	/* a handler's signal returns here: stay */
}
#else
#define torture_park(flag, which)	do { } while (0)
#endif

void
shm_lock(void)
{
	int32_t	 dead;

	if (lock_robust(&shm->lock) == EOWNERDEAD) {
		dead = atomic_load(&shm->lock_holder);
		shm_repair(dead);
		make_consistent(&shm->lock);
	}
	atomic_store(&shm->lock_holder, shm_self);
	torture_park("park-global", "global");
}

static void
unlock_checked(pthread_mutex_t *m)
{
	int	 e;

	if ((e = pthread_mutex_unlock(m)) != 0) {
		errno = e;
		fatal("cannot release a shared lock");
	}
}

void
shm_unlock(void)
{
	atomic_store(&shm->lock_holder, 0);
	unlock_checked(&shm->lock);
}

/*
 * A poster died inside the room lock: its entry was never published (the
 * head moves only after the entry is whole), so the next post simply
 * overwrites it.  Nothing to rebuild.
 */
void
room_lock(struct room *r)
{
	if (lock_robust(&r->lock) == EOWNERDEAD) {
		/* the index, not the name: that is the global lock's */
		log_warnx("repairing room %d after a process died holding "
		    "its lock", (int)(r - shm_room(0)));
		atomic_fetch_add(&shm->repairs, 1);
		make_consistent(&r->lock);
	}
	torture_park("park-room", "room");
}

void
room_unlock(struct room *r)
{
	unlock_checked(&r->lock);
}
