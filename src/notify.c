/*
 * notify.c: the two things systemd asks of a daemon it starts, done with
 * plain system calls (sd_listen_fds(3) and sd_notify(3) describe them):
 * listening sockets arrive from fd 3 on, counted by LISTEN_FDS and meant
 * for the process LISTEN_PID names; readiness goes as a datagram to the
 * Unix socket NOTIFY_SOCKET names ('@' first: an abstract one).
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "notify.h"

static long
env_number(const char *name)
{
	const char	*s = getenv(name);
	char		*end;
	long		 n;

	if (s == NULL || *s == '\0')
		return -1;
	errno = 0;
	n = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || n < 0)
		return -1;
	return n;
}

int
listen_fds(void)
{
	long	 pid = env_number("LISTEN_PID");
	long	 n = env_number("LISTEN_FDS");

	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (pid != (long)getpid() || n <= 0 || n > INT_MAX - 3)
		return 0;
	return (int)n;
}

void
notify_systemd(const char *state)
{
	const char		*path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un	 sun;
	socklen_t		 len;
	size_t			 plen;
	int			 fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return;
	plen = strlen(path);
	if (plen >= sizeof(sun.sun_path)) {
		log_warnx("NOTIFY_SOCKET %s: path too long", path);
		return;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, plen);
	if (path[0] == '@')
		sun.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen +
	    (path[0] == '/'));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("cannot tell systemd %s", state);
		return;
	}
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL,
	    (struct sockaddr *)&sun, len) == -1)
		log_warn("cannot tell systemd %s at %s", state, path);
	close(fd);
}
