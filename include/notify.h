/* notify.h: systemd's side doors: socket activation and readiness. */
#ifndef CHATD_NOTIFY_H
#define CHATD_NOTIFY_H

/*
 * How many sockets systemd (or systemd-socket-activate) passed from fd 3
 * on, 0 if none were passed to this process.  Clears LISTEN_* so children
 * and anything they run do not take them for their own.
 */
int	listen_fds(void);

/* Sends a state ("READY=1", "STOPPING=1") to NOTIFY_SOCKET, if set. */
void	notify_systemd(const char *state);

#endif
