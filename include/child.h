/* child.h: one pool child, and the session it serves. */
#ifndef CHATD_CHILD_H
#define CHATD_CHILD_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "shm.h"

struct child_fds {
	int	handoff;	/* the shared socketpair end */
	int	master_alive;	/* read end of a pipe only the master writes */
	int	janitor;	/* eventfd the master rings for dead slots */
	int	index;		/* our place in the master's table */
};

struct session {
	int		 fd;
	int		 slot;
	int		 room;
	uint64_t	 cursor;	/* next ring sequence to deliver */
	uint64_t	 dropped;	/* lines lost, not yet told */
	char		 name[NAME_SIZE];
	int		 quit;		/* the session is over */
};

__attribute__((noreturn))
void	child_main(const struct config *, const struct child_fds *);
/* chatd -i: serves the connection on fd, then exits. */
__attribute__((noreturn))
void	child_inetd(const struct config *, int fd);
/* The per-child buffers, mapped by the master before it forks. */
void	child_buffers_init(const struct config *);

/* What commands do to the session (cmd.c calls these). */
void	session_reply(struct session *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	session_say(struct session *, const char *, size_t);
void	session_rename(struct session *, const char *);
void	session_join(struct session *, const char *);
void	session_list_rooms(struct session *);
void	session_list_users(struct session *);

/* Global lock plus the janitor's work for slots of dead children. */
void	state_lock(void);
void	state_unlock(void);

#endif
