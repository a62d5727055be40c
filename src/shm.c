/*
 * shm.c: the segment: creating it, telling a stale one from a live one,
 * the robust locks and their repair.
 *
 * The master maps the segment once, before it forks, and nobody unmaps
 * or remaps it while chatd runs: a robust mutex in memory unmapped while
 * held is never recovered (and glibc bug 14485 bites a mapping reused at
 * the same address).
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "names.h"
#include "room.h"
#include "shm.h"

struct shm_header	*shm;
int			 shm_self;	/* getpid() is a system call */
static char		 shm_name[256];
static int		 shm_created_by;	/* pid that may unlink it */

#define INIT_GRACE	10	/* seconds a new segment may lack its magic */

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

/* Field 22 of /proc/PID/stat: start time in clock ticks since boot. */
uint64_t
process_start_time(int pid)
{
	char			 path[64], buf[1024], *p;
	FILE			*fp;
	unsigned long long	 start = 0;
	int			 field;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if ((fp = fopen(path, "r")) == NULL)
		return 0;
	if (fgets(buf, sizeof(buf), fp) == NULL) {
		fclose(fp);
		return 0;
	}
	fclose(fp);
	/* the command name may hold spaces: count from its closing ')' */
	if ((p = strrchr(buf, ')')) == NULL)
		return 0;
	for (field = 2; field < 22 && p != NULL; field++)
		p = strchr(p + 1, ' ');
	if (p == NULL || sscanf(p + 1, "%llu", &start) != 1)
		return 0;
	return start;
}

/* A zombie is dead, even if its parent (a daemon's: init, or a
 * container's first process) has not reaped it yet. */
static int
process_is_zombie(int pid)
{
	char	 path[64], buf[256], *p;
	FILE	*fp;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if ((fp = fopen(path, "r")) == NULL)
		return 0;
	p = fgets(buf, sizeof(buf), fp);
	fclose(fp);
	if (p == NULL || (p = strrchr(buf, ')')) == NULL)
		return 0;
	return p[1] == ' ' && p[2] == 'Z';
}

int
shm_owner_alive(int32_t pid, uint64_t start)
{
	if (pid <= 0)
		return 0;
	if (kill(pid, 0) == -1 && errno == ESRCH)
		return 0;
	return process_start_time(pid) == start && !process_is_zombie(pid);
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

	off = align64(sizeof(struct shm_header));
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
	shm->next_session = 1;
	names_init(shm);
	shm->owner_start = process_start_time(getpid());
	atomic_store(&shm->owner_pid, getpid());
	/* last: whoever checks the magic sees a finished segment */
	atomic_thread_fence(memory_order_release);
	shm->magic = SHM_MAGIC;
}

/*
 * An existing segment: refuse if its master lives, else it is stale
 * (a master killed before it could remove it) and is replaced.
 */
static int
check_existing(const char *name)
{
	struct shm_header	 h;
	struct stat		 st;
	int			 fd;
	ssize_t			 n;

	if ((fd = shm_open(name, O_RDONLY, 0)) == -1) {
		fprintf(stderr, "chatd: cannot open segment %s: %s\n", name,
		    strerror(errno));
		return -1;
	}
	n = pread(fd, &h, sizeof(h), 0);
	if (fstat(fd, &st) == -1)
		fatal("fstat %s", name);
	close(fd);
	if (n == (ssize_t)sizeof(h) && h.magic == SHM_MAGIC &&
	    shm_owner_alive(h.owner_pid, h.owner_start)) {
		fprintf(stderr, "chatd: segment %s is in use by pid %d\n",
		    name, (int)h.owner_pid);
		return -1;
	}
	/* no magic yet: another chatd may be setting it up right now */
	if ((n != (ssize_t)sizeof(h) || h.magic != SHM_MAGIC) &&
	    time(NULL) - st.st_ctime < INIT_GRACE) {
		fprintf(stderr, "chatd: segment %s is being set up by another "
		    "chatd\n", name);
		return -1;
	}
	log_warnx("replacing stale segment %s left by pid %d", name,
	    n == (ssize_t)sizeof(h) ? (int)h.owner_pid : 0);
	if (shm_unlink(name) == -1 && errno != ENOENT) {
		fprintf(stderr, "chatd: cannot remove stale segment %s: %s\n",
		    name, strerror(errno));
		return -1;
	}
	return 0;
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

int
shm_create(const struct config *conf)
{
	struct shm_header	 h;
	void			*p;
	int			 fd, tries;

	memset(&h, 0, sizeof(h));
	layout(&h, conf);
	if (check_space(conf->segment_name, h.total_size) == -1)
		return -1;
	for (tries = 0; ; tries++) {
		fd = shm_open(conf->segment_name, O_RDWR | O_CREAT | O_EXCL,
		    0600);
		if (fd != -1)
			break;
		if (errno != EEXIST || tries == 1) {
			fprintf(stderr, "chatd: cannot create segment %s: %s\n",
			    conf->segment_name, strerror(errno));
			return -1;
		}
		if (check_existing(conf->segment_name) == -1)
			return -1;
	}
	snprintf(shm_name, sizeof(shm_name), "%s", conf->segment_name);
	shm_self = shm_created_by = getpid();
	if (ftruncate(fd, (off_t)h.total_size) == -1) {
		fprintf(stderr, "chatd: cannot size segment %s to %llu bytes: "
		    "%s\n", shm_name, (unsigned long long)h.total_size,
		    strerror(errno));
		goto fail;
	}
	p = mmap(NULL, h.total_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "chatd: cannot map segment %s: %s\n", shm_name,
		    strerror(errno));
		goto fail;
	}
	close(fd);
	shm = p;
	initialise(conf);
	return 0;
fail:
	close(fd);
	shm_remove();
	return -1;
}

/* The creator removes the segment when it exits; nobody else does. */
void
shm_remove(void)
{
	if (shm_created_by == 0 || shm_created_by != getpid())
		return;
	if (shm_unlink(shm_name) == -1 && errno != ENOENT)
		log_warn("cannot remove segment %s", shm_name);
	shm_created_by = 0;
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
		atomic_fetch_add(&shm->repairs, 1);
		make_consistent(&r->lock);
	}
}

void
room_unlock(struct room *r)
{
	unlock_checked(&r->lock);
}
