/* room.h: rooms, their members, and their rings of recent lines. */
#ifndef CHATD_ROOM_H
#define CHATD_ROOM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "shm.h"

#define ROOM_MAIN	0	/* slot 0 is always "main", hidden when empty */

/*
 * Doorbells: named FIFOs in a directory beside the segment, one a room,
 * /dev/shm/SEGMENT.doorbells/ROOM, mode 0600.  A name is what lets
 * processes that share no parent (chatd -i under inetd or systemd's
 * Accept=yes, next to a standalone master) wake each other: each opens
 * the FIFOs read-write by name, a poster writes one byte, and every
 * process watching that FIFO with edge-triggered epoll wakes.  A process
 * opens a room's doorbell when it first watches or rings it, and makes
 * it if it is not there, so they belong to whoever the children run as.
 *
 * One a room, not shared: with 32 shared by room number, every ring woke
 * the members of every room on that doorbell, three or four rooms' worth
 * with 100 rooms, and 29,000 connections spread over 100 rooms had
 * slowed to a few new ones a second, the machine busy with wake-ups that
 * found nothing (measured).  Each process keeps a few open (room.c), so
 * it still holds fewer than 64 descriptors and needs no fd table of its
 * own (one descriptor a room made every child some 125 KiB dearer at
 * 1024 rooms, measured).
 */
#define SHM_DIR		"/dev/shm"	/* where glibc's shm_open puts names */

/*
 * Makes the directory if need be.  A directory of ours or of owner (the
 * user a root chatd becomes) is used.
 */
int	doorbells_init(const char *segment, uid_t owner);
void	doorbells_give(uid_t, gid_t);
void	doorbells_remove(void);
/* room's doorbell, to watch: kept open until another one is asked for */
int	room_doorbell(int room);

int	room_valid(const char *, size_t);

/* The global lock is held for these. */
int	room_find(const char *);		/* room index or -1 */
int	room_create(const char *);		/* room index or -1: full */
void	room_add_member(int room, int slot);
void	room_remove_member(int room, int slot);
void	rooms_rebuild(void);

/*
 * Appends a line made of the pieces to the room's ring.  The pieces need
 * no '\n': it is added.  Takes the room lock (so the global lock may be
 * held, never the reverse).  Then room_ring() wakes the room's sleepers:
 * after the global lock is released, since one doorbell write wakes every
 * armed reader of a big room, which is no work to do inside a lock.
 */
uint64_t room_post(int room, const struct iovec *, int); /* the line's seq */
void	room_ring(int room);
void	doorbells_ring_all(void);	/* after a death: wake everyone */

/*
 * Copies whole lines from the room's ring, from *cursor up to end (the
 * head, read by the caller, or a line's seq), into buf while they fit,
 * without taking any lock (each entry's stamp tells whether it was
 * overwritten meanwhile).  Lines lost to a full ring are added to
 * *dropped and the pull stops right after them, so the caller can tell
 * the client in the right place.  Returns the bytes copied.
 */
size_t	room_pull(int room, uint64_t *cursor, uint64_t end, char *buf,
	    size_t space, uint64_t *dropped);
uint64_t room_head(int room);
/* Maps the room's ring into this process at once (a busy room's reader). */
void	room_prefault(int room);

/* The doorbell latch: a reader about to sleep arms it. */
void	room_arm(int room);

#endif
