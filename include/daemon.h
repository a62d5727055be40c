/* daemon.h: detaching from the terminal, and the pid file. */
#ifndef CHATD_DAEMON_H
#define CHATD_DAEMON_H

/*
 * Forks twice and starts a new session; returns in the daemon, whose
 * stdin and stdout are /dev/null.  The process that called it waits until
 * the daemon calls daemon_ready() and exits 0, or exits 1 if the daemon
 * exits first (having said why on the stderr they still share).
 */
void	daemon_start(void);
/* Startup went well: release the waiting parent, stderr to /dev/null. */
void	daemon_ready(void);

/*
 * Creates and locks path, and writes our pid in it; -1 (with a message on
 * stderr) if a live chatd holds it.  The lock lasts as long as the master.
 */
int	pidfile_create(const char *path);
void	pidfile_remove(void);		/* the creator, at exit */
void	pidfile_forget(void);		/* a child: not ours to hold */

#endif
