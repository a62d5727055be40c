/* master.h: the preforking master: pool, accept, hand-off, reaping. */
#ifndef CHATD_MASTER_H
#define CHATD_MASTER_H

#include <signal.h>

#include "config.h"

/* Messages on the hand-off socketpair. */
enum handoff_type {
	HANDOFF_CONNECTION = 1,	/* master -> child, with the client fd */
	HANDOFF_RETIRE,		/* master -> child: too many idle, exit */
	HANDOFF_READY,		/* child -> master: started, waiting */
	HANDOFF_DONE,		/* child -> master: a session's slot is free */
	HANDOFF_RETIRING	/* child -> master: took a RETIRE, exiting */
};

struct handoff_msg {
	int	type;
	int	index;		/* the child's place in the master's table */
	int	pid;
	int	conn;		/* CONNECTION, DONE: its MaxClientsPerIP
				   ticket, -1 if none */
	unsigned session;	/* DONE: the child's count of them, from 1 */
};

/* load reads the configuration again at SIGHUP (-1: it said why). */
int	master_run(struct config *, int listen_fd,
	    int (*load)(struct config *));

/*
 * A child that took a RETIRE exits with this status, so the master can
 * count the RETIRE as taken even when it reaps the child before it reads
 * its RETIRING.
 */
#define CHILD_EXIT_RETIRED	3

void	master_block_signals(sigset_t *);

#endif
