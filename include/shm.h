/*
 * shm.h: the shared-memory segment, the one place all chat state lives.
 *
 * Layout (offsets from the start of the mapping, never pointers, since
 * the segment may map at different addresses in different processes):
 *
 *	struct shm_header
 *	_Atomic uint64_t	seats[seats]	(see below)
 *	struct client_slot	slots[max_clients]
 *	int32_t			names[name_index_size]	(slot index or -1)
 *	struct room		rooms[max_rooms]
 *	ring entries		rings[max_rooms][ring_size], entry_size each
 *
 * Lock order: the global lock (shm_header.lock) first, then at most one
 * room lock (room.lock).  Never take the global lock while holding a
 * room lock, never hold two room locks.  The master takes no lock at all:
 * it only reads atomics and marks dead children's slots with an atomic
 * compare-and-swap (PostgreSQL's rule: a master that shares its children's
 * locks can hang with them).
 *
 * Every lock is a process-shared robust mutex.  Whoever gets EOWNERDEAD
 * repairs: for the global lock, shm_repair() rebuilds the free list, the
 * name index and the room member lists from the client slots, which are
 * the truth; for a room lock nothing is needed, since a post publishes
 * the room's head only after its entry is complete.
 */
#ifndef CHATD_SHM_H
#define CHATD_SHM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define SHM_MAGIC		0x63686174645f7631ULL	/* "chatd_v1" */
#define SHM_LAYOUT_VERSION	7

#define NAME_MIN_LEN		2
#define NAME_MAX_LEN		20
#define NAME_SIZE		24	/* NAME_MAX_LEN, a NUL, padding */

enum slot_state {
	SLOT_FREE = 0,		/* on the free list */
	SLOT_ACTIVE,		/* a live session owns it */
	SLOT_DEAD		/* its process died: the janitor frees it */
};

/*
 * No master reaps its owner (chatd -i): whoever takes the global lock
 * looks now and then whether such an owner still lives.
 */
#define SLOT_UNWATCHED	0x1

struct client_slot {
	_Atomic uint32_t state;		/* FREE->ACTIVE: owner, global lock;
					 * ACTIVE->DEAD: master, CAS, no lock;
					 * ->FREE: owner or janitor, global lock */
	_Atomic int32_t	pid;		/* owner, global lock; master reads */
	int32_t		room;		/* global lock; -1: in no room */
	int32_t		next;		/* global lock: room members or free list */
	int32_t		prev;		/* global lock: room members */
	uint32_t	flags;		/* global lock: SLOT_UNWATCHED */
	uint64_t	pid_start;	/* owner: its /proc start time */
	int64_t		since;		/* global lock: connect time (epoch s) */
	char		name[NAME_SIZE];/* global lock */
};

struct room {
	pthread_mutex_t	lock;		/* the ring: posters take it */
	char		name[NAME_SIZE];/* global lock; "" when the slot is free */
	_Atomic int32_t	members;	/* global lock; readers pace by it */
	int32_t		first;		/* global lock: first member's slot */
	/* its own cache line: readers poll it, posters write it */
	_Alignas(64) _Atomic uint64_t head; /* room lock: next sequence */
	_Atomic uint32_t armed;		/* doorbell latch: a reader sleeps */
	uint32_t	pad;
};

struct ring_entry {
	_Atomic uint64_t seq;		/* room lock; ENTRY_BUSY while written */
	uint32_t	len;		/* bytes of text, the '\n' included */
	uint32_t	pad;
	char		text[];
};
#define ENTRY_BUSY	UINT64_MAX

struct shm_header {
	uint64_t	magic;
	uint32_t	version;
	uint32_t	header_size;
	uint64_t	total_size;

	/* sizes, fixed at creation, checked by everyone who attaches */
	uint32_t	max_clients;
	uint32_t	max_rooms;
	uint32_t	ring_size;
	uint32_t	entry_size;
	uint32_t	entry_text_max;
	uint32_t	name_index_size;	/* a power of two */
	uint32_t	seats;		/* SHM_SEATS(max_clients) */
	uint32_t	pad_sizes;
	uint64_t	off_seats, off_slots, off_names, off_rooms, off_rings;

	/* the master that created it, so a stale segment can be told */
	_Atomic int32_t	owner_pid;
	uint32_t	pad0;
	uint64_t	owner_start;	/* /proc/PID/stat starttime */

	pthread_mutex_t	lock;		/* the global lock */
	_Atomic int32_t	lock_holder;	/* pid holding it, for repair */
	int32_t		free_slot;	/* global lock: free list head */
	uint64_t	name_counter;	/* global lock: the generator's walk */
	uint64_t	name_step;	/* fixed: coprime to the pair count */
	uint64_t	name_start;	/* fixed */

	_Atomic uint32_t dead_pending;	/* master: slots marked dead */
	uint32_t	rooms_used;	/* global lock */
	uint32_t	unwatched;	/* global lock: SLOT_UNWATCHED slots */
	uint32_t	pad1;
	int64_t		swept_at;	/* global lock: their last check, ms */

	/* counters, for the curious (chatd -s, later) */
	_Atomic uint64_t connections;
	_Atomic uint64_t lines;
	_Atomic uint64_t repairs;
	_Atomic uint64_t janitor_frees;

	/* the master (start, SIGHUP); every process's log.c reads it */
	_Atomic int	log_level;
	/* the master, every second: seconds east of UTC now, so its
	 * children stamp syslog lines without localtime(3) (log.c) */
	_Atomic int	log_gmtoff;

	/* pacing (pace.c): the wake-ups a second the machine affords paced
	 * readers, which the master moves; the timed pulls so far, those of
	 * them in rooms of more than PACE_BIG_ROOM, and the lines the others
	 * took, which tell it who is paced and how much a wake-up carries,
	 * on a line of their own since readers of busy rooms add to them
	 * thousands of times a second */
	_Atomic uint32_t pace_budget;
	_Alignas(64) _Atomic uint64_t paced_pulls;
	_Atomic uint64_t paced_big;
	_Atomic uint64_t paced_lines;
	char		 pad_paced[40];
};

/*
 * A pool child's seat: what the master must know if the child dies in a
 * session, which no message then tells it (master.c).  The child writes
 * it when it takes a connection; the master clears it.  0: no session.
 * A seat per child the master can have: every slot busy, twice the
 * largest spare pool a SIGHUP can ask for, and slack.
 */
#define SHM_SEATS(max_clients)	((max_clients) + 2 * CONFIG_SPARE_MAX + 16)
#define SEAT(session, ticket)	((uint64_t)(session) << 32 | \
				    (uint32_t)((ticket) + 1))
#define SEAT_TICKET(seat)	((int)(uint32_t)(seat) - 1)

_Static_assert(sizeof(struct ring_entry) == 16, "ring entry header");
_Static_assert(sizeof(struct client_slot) % 8 == 0, "slot alignment");

extern struct shm_header	*shm;
extern int			 shm_self;	/* this process's pid */
extern uint64_t			 shm_self_start; /* and its start time */

enum shm_role {
	SHM_MASTER,	/* owns the segment: makes it, or adopts one that
			 * chatd -i sessions still use; removes it at exit
			 * unless such sessions remain */
	SHM_INETD	/* chatd -i: uses whatever segment is there, or
			 * makes one; never removes it */
};
int	 shm_attach(const struct config *, enum shm_role);
void	 shm_attach_news(void);
/* mmap(2) just past the program's data, aligned to align (0: a page),
 * so a child's page tables stay few; anywhere if that space is taken.
 * The session buffers first, then the segment (shm.c says why). */
void	*map_placed(size_t size, size_t align, int prot, int flags, int fd);
void	 shm_remove(void);
int	 shm_slot_alive(const struct client_slot *);
void	 shm_self_set(void);
int	 shm_owner_alive(int32_t pid, uint64_t start);
uint64_t process_start_time(int pid);

_Atomic uint64_t	*shm_seat(int);
struct client_slot	*shm_slot(int);
int32_t			*shm_names(void);
struct room		*shm_room(int);
struct ring_entry	*shm_entry(int room, uint64_t seq);

void	 shm_lock(void);
void	 shm_unlock(void);
void	 room_lock(struct room *);
void	 room_unlock(struct room *);

#ifdef CHATD_TORTURE
int	 torture_flag(const char *flag, int consume);	/* test builds */
#endif

#endif
