/*
 * room.c: rooms, their members, their rings and doorbells.
 *
 * Posting: take the room lock, mark the entry busy, copy the line in,
 * stamp it with its sequence number, publish head = seq + 1, unlock, and
 * ring the doorbell only if a reader armed the latch before it slept.
 * Reading takes no lock: an entry is good if its stamp is the sequence
 * the reader wants both before and after the copy (a seqlock).
 *
 * Doorbells are named FIFOs beside the segment (see room.h), so that
 * processes that share no parent, inetd's chatd -i among them, ring and
 * hear the same ones.  Watchers use edge-triggered epoll, and every write
 * to a pipe is an edge for every watcher.  Nobody reads a doorbell while
 * it has room (a read by one process would hide the wake-up from the
 * others); a poster that finds one full empties it and writes again, and
 * that write is the edge.  The head is the truth, the doorbell only a hint.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "names.h"
#include "room.h"

/*
 * The doorbells this process has open, room r's in entry r % BELL_CACHE:
 * a poster keeps the ones it rang, so ringing costs one write.  The one
 * its child watches is pinned (room_doorbell): a ring for a room of the
 * same entry opens and closes a descriptor of its own rather than take
 * it.  With at most BELL_CACHE of them a process holds fewer than 64
 * descriptors, and needs no fd table of its own (below).
 */
#define BELL_CACHE	16

static struct bell {
	int	 fd;
	int	 room;		/* -1: empty */
}		 bells[BELL_CACHE];
static int	 bell_pinned = -1;
/* SegmentName is at most 200 chars (config.c).  Not PATH_MAX: 4 KiB in
 * .bss would spread the variables a child writes over one more page. */
static char	 bell_dir[sizeof(SHM_DIR) + 256 + sizeof(".doorbells")];

static void
bell_path(int room, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%d", bell_dir, room);
}

/*
 * -1 and errno set, having said nothing: the caller knows the context.
 * create: make the FIFO if it is not there; without, ENOENT says that
 * nobody ever watched this room's doorbell.
 */
static int
bell_open(int room, int create)
{
	/* not PATH_MAX: children open doorbells, and 4 KiB on the stack
	 * is one more private page each (measured) */
	char		 path[sizeof(bell_dir) + 16];
	struct stat	 st;
	int		 fd;

	bell_path(room, path, sizeof(path));
	if (create && mkfifo(path, 0600) == -1 && errno != EEXIST)
		return -1;
	if ((fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC)) == -1)
		return -1;
	if (fstat(fd, &st) == -1 || !S_ISFIFO(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	/*
	 * One page is plenty for a hint, and bounds what a full one holds.
	 * Set by the first to open it only: a resize wakes every watcher,
	 * and with each new child resizing main's, 10,000 joining at 250 a
	 * second took four times as long (measured).
	 */
	if (fcntl(fd, F_GETPIPE_SZ) > 4096)
		(void)fcntl(fd, F_SETPIPE_SZ, 4096);
	return fd;
}

/* room's cached doorbell, opened if need be; -1 (EBUSY: pinned by another) */
static int
bell_cached(int room, int create)
{
	struct bell	*b = &bells[room % BELL_CACHE];
	int		 fd;

	if (b->room == room)
		return b->fd;
	if (b->room != -1 && b->room == bell_pinned) {
		errno = EBUSY;
		return -1;
	}
	if ((fd = bell_open(room, create)) == -1)
		return -1;
	if (b->room != -1)
		close(b->fd);
	b->fd = fd;
	b->room = room;
	return fd;
}

int
doorbells_init(const char *segment, uid_t owner)
{
	struct stat	 st;
	int		 i;

	for (i = 0; i < BELL_CACHE; i++)
		bells[i].room = -1;
	if ((size_t)snprintf(bell_dir, sizeof(bell_dir), "%s%s.doorbells",
	    SHM_DIR, segment) >= sizeof(bell_dir)) {
		fprintf(stderr, "chatd: segment name too long: %s\n", segment);
		return -1;
	}
	if (mkdir(bell_dir, 0700) == -1 && errno != EEXIST) {
		fprintf(stderr, "chatd: cannot create %s: %s\n", bell_dir,
		    strerror(errno));
		return -1;
	}
	/* the sticky /dev/shm lets anyone make a name first: ours only */
	if (lstat(bell_dir, &st) == -1 || !S_ISDIR(st.st_mode) ||
	    (st.st_uid != geteuid() && st.st_uid != owner) ||
	    (st.st_mode & 077) != 0) {
		fprintf(stderr, "chatd: %s is not a directory private to "
		    "uid %d\n", bell_dir, (int)owner);
		return -1;
	}
	return 0;
}

/* fn on the path of each doorbell there is (a name of digits) */
static void
bells_each(void (*fn)(const char *, void *), void *arg)
{
	char		 path[sizeof(bell_dir) + 16];
	DIR		*dir;
	struct dirent	*e;
	size_t		 n;

	if ((dir = opendir(bell_dir)) == NULL) {
		if (errno != ENOENT)
			log_warn("cannot read %s", bell_dir);
		return;
	}
	while ((e = readdir(dir)) != NULL) {
		n = strlen(e->d_name);
		if (n == 0 || n > 10 || strspn(e->d_name, "0123456789") != n)
			continue;
		snprintf(path, sizeof(path), "%s/%.10s", bell_dir, e->d_name);
		fn(path, arg);
	}
	(void)closedir(dir);
}

struct owner {
	uid_t	 uid;
	gid_t	 gid;
};

static void
bell_give(const char *path, void *arg)
{
	struct owner	*o = arg;

	/* a FIFO left by a run that died; new ones are made by the user */
	if (lchown(path, o->uid, o->gid) == -1)
		fatal("cannot give doorbell %s to uid %d", path, (int)o->uid);
}

/* Started as root: the doorbells become the user's, like the segment. */
void
doorbells_give(uid_t uid, gid_t gid)
{
	struct owner	 o = { uid, gid };

	if (chown(bell_dir, uid, gid) == -1)
		fatal("cannot give %s to uid %d", bell_dir, (int)uid);
	bells_each(bell_give, &o);
}

static void
bell_remove(const char *path, void *arg)
{
	(void)arg;
	if (unlink(path) == -1 && errno != ENOENT)
		log_warn("cannot remove %s", path);
}

/* Only the segment's remover calls this. */
void
doorbells_remove(void)
{
	if (bell_dir[0] == '\0')
		return;
	bells_each(bell_remove, NULL);
	if (rmdir(bell_dir) == -1 && errno != ENOENT)
		log_warn("cannot remove %s", bell_dir);
}

int
room_doorbell(int room)
{
	int	 fd;

	bell_pinned = -1;	/* the caller no longer watches the last one */
	if ((fd = bell_cached(room, 1)) == -1)
		fatal("cannot open doorbell %s/%d", bell_dir, room);
	bell_pinned = room;
	return fd;
}

int
room_valid(const char *s, size_t len)
{
	return name_valid(s, len);	/* the same rule: 2-20 of [A-Za-z0-9_-] */
}

/*
 * Global lock.  The scan ends at the last room in use: rooms are taken
 * lowest slot first, so a miss (every /join of a new room) reads a few
 * names, not MaxRooms of them.
 */
int
room_find(const char *name)
{
	uint32_t	 i, seen;
	const char	*n;

	for (i = 0, seen = 0; i < shm->max_rooms && seen < shm->rooms_used;
	    i++) {
		n = shm_room(i)->name;
		if (n[0] == '\0')
			continue;
		seen++;
		if (strcmp(n, name) == 0)
			return (int)i;
	}
	return -1;
}

int
room_create(const char *name)
{
	uint32_t	 i;
	struct room	*r;

	for (i = 0; i < shm->max_rooms; i++) {
		r = shm_room(i);
		if (r->name[0] == '\0') {
			snprintf(r->name, sizeof(r->name), "%s", name);
			r->members = 0;
			r->first = -1;
			shm->rooms_used++;
			return (int)i;
		}
	}
	return -1;
}

void
room_add_member(int room, int slot)
{
	struct room		*r = shm_room(room);
	struct client_slot	*s = shm_slot(slot);

	s->room = room;
	s->prev = -1;
	s->next = r->first;
	if (r->first != -1)
		shm_slot(r->first)->prev = slot;
	r->first = slot;
	r->members++;
}

/* Unlinks slot; a room left empty disappears (main only hides). */
void
room_remove_member(int room, int slot)
{
	struct room		*r = shm_room(room);
	struct client_slot	*s = shm_slot(slot);

	if (s->prev != -1)
		shm_slot(s->prev)->next = s->next;
	else
		r->first = s->next;
	if (s->next != -1)
		shm_slot(s->next)->prev = s->prev;
	s->room = -1;
	s->next = s->prev = -1;
	if (--r->members == 0 && room != ROOM_MAIN) {
		r->name[0] = '\0';
		shm->rooms_used--;
	}
}

/* After a crash inside the global lock: member lists from the slots. */
void
rooms_rebuild(void)
{
	uint32_t		 i;
	struct client_slot	*s;
	struct room		*r;

	shm->rooms_used = 0;
	for (i = 0; i < shm->max_rooms; i++) {
		shm_room(i)->members = 0;
		shm_room(i)->first = -1;
	}
	for (i = 0; i < shm->max_clients; i++) {
		s = shm_slot(i);
		if (atomic_load(&s->state) == SLOT_FREE || s->room < 0 ||
		    (uint32_t)s->room >= shm->max_rooms ||
		    shm_room(s->room)->name[0] == '\0')
			continue;
		room_add_member(s->room, (int)i);
	}
	for (i = 0; i < shm->max_rooms; i++) {
		r = shm_room(i);
		if (r->members == 0 && i != ROOM_MAIN)
			r->name[0] = '\0';
		if (r->name[0] != '\0')
			shm->rooms_used++;
	}
}

/* One byte; a full doorbell is emptied first (see the top of this file). */
static int
bell_write(int bell)
{
	char	 sink[256];		/* a full bell takes 16 reads: rare */

	if (write(bell, "", 1) == 1)
		return 0;
	if (errno == EAGAIN) {
		while (read(bell, sink, sizeof(sink)) > 0)
			;
		if (write(bell, "", 1) == 1)
			return 0;
	}
	return -1;
}

/* create: 0 when nobody need have watched it (doorbells_ring_all) */
static void
bell_ring(int room, int create)
{
	int	 bell, own = 0;

	if ((bell = bell_cached(room, create)) == -1 && errno == EBUSY) {
		bell = bell_open(room, create);
		own = 1;
	}
	if (bell == -1) {
		if (errno != ENOENT || create)
			log_warn("cannot open doorbell %s/%d", bell_dir, room);
		return;
	}
	if (bell_write(bell) == -1)
		log_warn("cannot ring doorbell %s/%d", bell_dir, room);
	if (own)
		close(bell);
}

void
room_ring(int room)
{
	struct room	*r = shm_room(room);

	if (atomic_load(&r->armed) == 0 || atomic_exchange(&r->armed, 0) == 0)
		return;
	bell_ring(room, 1);
}

/*
 * Every room with members once, armed or not: a process that died
 * between publishing lines and ringing for them left readers asleep over
 * them.  Reads the member counts without the lock (the master takes
 * none): a room that gains its first member meanwhile gets it from a
 * process alive.
 */
void
doorbells_ring_all(void)
{
	unsigned	 i;

	for (i = 0; i < shm->max_rooms; i++)
		if (atomic_load(&shm_room(i)->members) > 0)
			bell_ring((int)i, 0);
}

uint64_t
room_post(int room, const struct iovec *iov, int n)
{
	struct room		*r = shm_room(room);
	struct ring_entry	*e;
	uint64_t		 seq;
	size_t			 len = 0, part;
	int			 i;

	room_lock(r);
	seq = atomic_load_explicit(&r->head, memory_order_relaxed);
	e = shm_entry(room, seq);
	atomic_store_explicit(&e->seq, ENTRY_BUSY, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	for (i = 0; i < n; i++) {
		part = iov[i].iov_len;
		if (part > shm->entry_text_max - 1 - len)
			part = shm->entry_text_max - 1 - len;
		memcpy(e->text + len, iov[i].iov_base, part);
		len += part;
	}
	e->text[len++] = '\n';
	e->len = (uint32_t)len;
	atomic_store_explicit(&e->seq, seq, memory_order_release);
	atomic_store(&r->head, seq + 1);	/* seq_cst: pairs with room_arm */
	room_unlock(r);
	return seq;
}

/*
 * A busy room's readers read its whole ring, a page of it at a time, and
 * while the ring fills for the first time each new page is a fault in
 * each reader (the kernel maps the pages around a fault only if they
 * exist).  In a saturated room of 100, on a slow host, those faults
 * (some 50 a reader) made most of the first 200 ms, in which the room
 * ran at a third of its rate with its lines 10-40 ms late.  So a reader
 * that starts pacing in a room of more than 32 maps the ring in one
 * call (child.c), and the room's fan-out went from p99 22-40 ms to 7-15,
 * and 1.4-2.1 to 2.1-2.8 million lines a second (six alternating runs
 * each).  The pages are the room's, shared, and a ring of the default
 * size (488 KiB) costs a page-table page more at most, none for main's,
 * which lies in the segment's first 2 MiB.  Not a ring of more than
 * PREFAULT_MAX (a bigger RingSize or MaxLineLength, up to some 260
 * MiB): that would be page-table pages of its own in every such reader,
 * and every page of it made at once.  Kernels before 5.14 say EINVAL:
 * faults as before.
 */
#define PREFAULT_MAX	((uintptr_t)2 << 20)

void
room_prefault(int room)
{
	uintptr_t	 lo, hi, page = (uintptr_t)sysconf(_SC_PAGESIZE);

	lo = (uintptr_t)shm_entry(room, 0);
	hi = lo + (uintptr_t)shm->entry_size * shm->ring_size;
	lo &= ~(page - 1);
	hi = (hi + page - 1) & ~(page - 1);
	if (hi - lo > PREFAULT_MAX)
		return;
	if (madvise((void *)lo, hi - lo, MADV_POPULATE_READ) == -1 &&
	    errno != EINVAL)
		log_debug("cannot map the ring of room %d: %s", room,
		    strerror(errno));
}

uint64_t
room_head(int room)
{
	return atomic_load(&shm_room(room)->head);
}

/*
 * Armed, then the head checked again by the caller: a poster publishes
 * the head, then looks at the latch, so one of the two sees the other.
 */
void
room_arm(int room)
{
	atomic_store(&shm_room(room)->armed, 1);
}

/*
 * The writers lapped this reader at seq: skip to half a ring behind the
 * head, so it does not lose one line at a time along the ring's edge;
 * never past end, which is all the caller asked for.
 */
static size_t
lapped(int room, uint64_t *cursor, uint64_t end, uint64_t seq,
    uint64_t *dropped, size_t used)
{
	uint64_t	 to = room_head(room) - shm->ring_size / 2;

	if ((int64_t)(to - end) > 0)
		to = end;
	if ((int64_t)(to - seq) < 1)
		to = seq + 1;
	*dropped += to - seq;
	*cursor = to;
	return used;
}

size_t
room_pull(int room, uint64_t *cursor, uint64_t end, char *buf, size_t space,
    uint64_t *dropped)
{
	uint64_t		 seq;
	struct ring_entry	*e;
	size_t			 used = 0;
	uint32_t		 len;

	if (end - *cursor > shm->ring_size) {
		/* half a ring behind the head, so the next posts do not lap
		 * this reader again at once */
		*dropped += end - shm->ring_size / 2 - *cursor;
		*cursor = end - shm->ring_size / 2;
		return 0;		/* the caller tells, then pulls on */
	}
	for (seq = *cursor; seq < end; seq++) {
		e = shm_entry(room, seq);
		if (atomic_load_explicit(&e->seq, memory_order_acquire) != seq)
			return lapped(room, cursor, end, seq, dropped, used);
		len = e->len;
		if (len > shm->entry_text_max)
			len = shm->entry_text_max;
		if (len > space - used)
			break;
		memcpy(buf + used, e->text, len);
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&e->seq, memory_order_relaxed) != seq)
			return lapped(room, cursor, end, seq, dropped, used);
		used += len;
	}
	*cursor = seq;
	return used;
}
