/*
 * daemon.c: becoming a daemon the classic way, and the pid file.
 *
 * fork, setsid, fork again (the daemon is no session leader, so opening
 * a terminal can never make it its controlling one), chdir /, stdin and
 * stdout to /dev/null.  stderr stays until startup is over: the parent
 * waits on a pipe and exits 0 only once the daemon listens and its
 * segment is made, so "chatd && chatd -s" works and a failure to start
 * is reported (and exits 1) where the admin typed the command.
 *
 * The pid file is locked (flock) for as long as the master lives: a
 * second chatd finds it locked and refuses, whatever the file says; a
 * file left by a master that was killed is simply taken over.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

static int	 ready_fd = -1;
static int	 pid_fd = -1;
static pid_t	 pid_owner;
static char	 pid_path[256];

static void
null_fd(int fd)
{
	int	 null;

	if ((null = open("/dev/null", O_RDWR)) == -1)
		fatal("cannot open /dev/null");
	if (dup2(null, fd) == -1)
		fatal("cannot redirect descriptor %d to /dev/null", fd);
	if (null != fd)
		close(null);
}

/* The parent: exit 0 once the daemon is ready, 1 if it died before. */
__attribute__((noreturn))
static void
wait_for_daemon(int fd, pid_t first)
{
	sigset_t	 mask;
	char	 c;
	ssize_t	 n;

	/* main blocked them for the master; ^C must still stop the wait */
	sigemptyset(&mask);
	(void)sigprocmask(SIG_SETMASK, &mask, NULL);
	while ((n = read(fd, &c, 1)) == -1 && errno == EINTR)
		;
	/* the first child exits at once; do not leave it a zombie */
	(void)waitpid(first, NULL, 0);
	_exit(n == 1 ? 0 : 1);
}

void
daemon_start(void)
{
	int	 fds[2];
	pid_t	 pid;

	if (pipe2(fds, O_CLOEXEC) == -1)
		fatal("cannot create a pipe to daemonize");
	if ((pid = fork()) == -1)
		fatal("cannot fork to daemonize");
	if (pid > 0) {
		close(fds[1]);
		wait_for_daemon(fds[0], pid);
	}
	close(fds[0]);
	if (setsid() == -1)
		fatal("setsid");
	if ((pid = fork()) == -1)
		fatal("cannot fork to daemonize");
	if (pid > 0)
		_exit(0);
	if (chdir("/") == -1)
		fatal("chdir /");
	umask(022);
	null_fd(STDIN_FILENO);
	null_fd(STDOUT_FILENO);
	ready_fd = fds[1];
}

void
daemon_ready(void)
{
	char	 c = 'R';

	if (ready_fd == -1)
		return;
	if (write(ready_fd, &c, 1) != 1)
		log_warn("cannot tell the starting process we are ready");
	close(ready_fd);
	ready_fd = -1;
	null_fd(STDERR_FILENO);
	log_detach();
}

/*
 * A live chatd master: its comm is "chatd" (its children's "chatd: ..."),
 * and it is no zombie waiting for a parent that does not reap.
 */
static int
is_chatd(pid_t pid)
{
	char	 path[64], line[128] = "", *p;
	FILE	*fp;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return 0;
	if (fgets(line, sizeof(line), fp) == NULL)
		line[0] = '\0';
	fclose(fp);
	if ((p = strrchr(line, ')')) == NULL || p[1] != ' ' || p[2] == 'Z')
		return 0;
	return strstr(line, " (chatd) ") != NULL;
}

static pid_t
read_pid(int fd)
{
	char	 buf[32];
	ssize_t	 n;

	if ((n = pread(fd, buf, sizeof(buf) - 1, 0)) <= 0)
		return 0;
	buf[n] = '\0';
	return (pid_t)strtol(buf, NULL, 10);
}

int
pidfile_create(const char *path)
{
	char	 buf[32];
	pid_t	 other;
	int	 fd, len;

	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) == -1) {
		fprintf(stderr, "chatd: cannot open PidFile %s: %s\n", path,
		    strerror(errno));
		return -1;
	}
	other = read_pid(fd);
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EWOULDBLOCK)
			fprintf(stderr, "chatd: already running as pid %d "
			    "(PidFile %s is locked)\n", (int)other, path);
		else
			fprintf(stderr, "chatd: cannot lock PidFile %s: %s\n",
			    path, strerror(errno));
		close(fd);
		return -1;
	}
	if (other > 0 && other != getpid() && is_chatd(other)) {
		fprintf(stderr, "chatd: already running as pid %d (named by "
		    "PidFile %s)\n", (int)other, path);
		close(fd);
		return -1;
	}
	len = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) == -1 || pwrite(fd, buf, (size_t)len, 0) != len) {
		fprintf(stderr, "chatd: cannot write PidFile %s: %s\n", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	pid_fd = fd;
	pid_owner = getpid();
	snprintf(pid_path, sizeof(pid_path), "%s", path);
	return 0;
}

void
pidfile_remove(void)
{
	if (pid_fd == -1 || pid_owner != getpid())
		return;
	if (unlink(pid_path) == -1 && errno != ENOENT)
		log_warn("cannot remove PidFile %s", pid_path);
	close(pid_fd);
	pid_fd = -1;
}

void
pidfile_forget(void)
{
	if (pid_fd != -1)
		close(pid_fd);
	pid_fd = -1;
	pid_owner = 0;
}
