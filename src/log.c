/*
 * log.c: one line per event.  In the foreground (-d) on stderr,
 * "chatd: message", with the pid for children; as a daemon through
 * syslog(3), ident "chatd" with each process's pid.  While a daemon is
 * starting, its warnings and errors also go to the stderr of whoever
 * started it, until log_detach().
 *
 * stderr stays unbuffered: one write a line, and no stdio buffer on the
 * heap for every child to copy on its first log line.  The syslog socket
 * is opened at once (LOG_NDELAY), before any fork, so children share it
 * instead of each connecting on its first line.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"

static int		 log_foreground = 1;
static int		 log_attached = 1;	/* stderr still someone's */
static int		 log_level = LEVEL_INFO;
static _Atomic int	*log_shared_level;
static char		 log_name[32] = "chatd";

static const char *const level_names[] = {
	"error", "warning", "info", "debug"
};

static const struct {
	const char	*name;
	int		 value;
} facilities[] = {
	{ "daemon", LOG_DAEMON }, { "user", LOG_USER },
	{ "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 },
	{ "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 },
	{ "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
	{ "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
};

int
log_level_value(const char *name)
{
	size_t	 i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcasecmp(name, level_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *
log_level_name(int level)
{
	if (level < LEVEL_ERROR || level > LEVEL_DEBUG)
		return "?";
	return level_names[level];
}

int
log_facility_value(const char *name)
{
	size_t	 i;

	for (i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
		if (strcasecmp(name, facilities[i].name) == 0)
			return facilities[i].value;
	return -1;
}

void
log_init(int foreground, int facility, int level)
{
	log_foreground = foreground;
	log_attached = 1;
	log_set_level(level);
	if (!foreground)
		openlog("chatd", LOG_PID | LOG_NDELAY, facility);
}

void
log_detach(void)
{
	log_attached = 0;
}

void
log_setname(const char *name)
{
	snprintf(log_name, sizeof(log_name), "%s", name);
}

void
log_share_level(_Atomic int *level)
{
	atomic_store(level, log_level);
	log_shared_level = level;
}

void
log_set_level(int level)
{
	log_level = level;
	if (log_shared_level != NULL)
		atomic_store(log_shared_level, level);
}

int
log_get_level(void)
{
	if (log_shared_level != NULL)
		return atomic_load_explicit(log_shared_level,
		    memory_order_relaxed);
	return log_level;
}

static int
level_of(int priority)
{
	switch (priority) {
	case LOG_DEBUG:
		return LEVEL_DEBUG;
	case LOG_INFO:
		return LEVEL_INFO;
	case LOG_WARNING:
		return LEVEL_WARNING;
	default:		/* notices too: starting, stopping */
		return LEVEL_ERROR;
	}
}

/*
 * with_errno appends the error text.  In the foreground the master's
 * news (bare) has no prefix ("listening on 127.0.0.1:42069", the first
 * line, as scripts expect); children keep "chatd[PID]:" so a session
 * can be followed, and every warning says it comes from chatd.  A plain
 * line is printed as is: it says where it comes from itself.
 */
enum style { PREFIXED, BARE, PLAIN };

/*
 * "name: line error\n" in one write(2).  Not fprintf: on an unbuffered
 * stream glibc formats through an 8 KiB buffer on the stack, which made
 * every child's first log line dirty two more pages of stack for good
 * (measured: a busy child's stack went from 16 to 8 KiB private).
 */
static void
stderr_line(const char *name, const char *line, const char *error)
{
	char		 buf[1024 + 128 + 48];
	const char	*part[4] = { name, ": ", line, error };
	size_t		 len = 0, n;
	int		 i;

	for (i = name == NULL ? 2 : 0; i < 4; i++) {
		n = strlen(part[i]);
		if (n > sizeof(buf) - 1 - len)
			n = sizeof(buf) - 1 - len;
		memcpy(buf + len, part[i], n);
		len += n;
	}
	buf[len++] = '\n';
	while (write(STDERR_FILENO, buf, len) == -1 && errno == EINTR)
		;
}

static void
vlog(int priority, int with_errno, enum style style, const char *fmt,
    va_list ap)
{
	char	 line[1024], error[128] = "";
	int	 saved = errno;

	if (level_of(priority) > log_get_level())
		return;
	if (with_errno)
		snprintf(error, sizeof(error), ": %s", strerror(saved));
	vsnprintf(line, sizeof(line), fmt, ap);
	if (!log_foreground) {
		syslog(priority, "%s%s", line, error);
		if (!log_attached || priority > LOG_WARNING)
			goto out;
	}
	if (style == PLAIN ||
	    (style == BARE && strcmp(log_name, "chatd") == 0))
		stderr_line(NULL, line, error);
	else
		stderr_line(log_name, line, error);
out:
	errno = saved;
}

#define LOG(priority, with_errno, style) do {		\
	va_list	 ap;					\
	va_start(ap, fmt);				\
	vlog(priority, with_errno, style, fmt, ap);	\
	va_end(ap);					\
} while (0)

void
log_warn(const char *fmt, ...)
{
	LOG(LOG_WARNING, 1, PREFIXED);
}

void
log_warnx(const char *fmt, ...)
{
	LOG(LOG_WARNING, 0, PREFIXED);
}

void
log_info(const char *fmt, ...)
{
	LOG(LOG_INFO, 0, BARE);
}

/* Starting, stopping, reloading: shown at every LogLevel. */
void
log_notice(const char *fmt, ...)
{
	LOG(LOG_NOTICE, 0, BARE);
}

void
log_debug(const char *fmt, ...)
{
	LOG(LOG_DEBUG, 0, BARE);
}

void
log_plain(const char *fmt, ...)
{
	LOG(LOG_ERR, 0, PLAIN);
}

void
fatal(const char *fmt, ...)
{
	LOG(LOG_ERR, 1, PREFIXED);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	LOG(LOG_ERR, 0, PREFIXED);
	exit(1);
}
