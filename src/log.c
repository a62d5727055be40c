/*
 * log.c: one line per event on stderr, "chatd: message", with the pid
 * for children.  (syslog comes with daemonizing, in a later step.)
 * stderr stays unbuffered: one write a line, and no stdio buffer on the
 * heap for every child to copy on its first log line.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static int	 log_verbose;
static char	 log_name[32] = "chatd";

void
log_init(int verbose)
{
	log_verbose = verbose;
}

void
log_setname(const char *name)
{
	snprintf(log_name, sizeof(log_name), "%s", name);
}

/*
 * with_errno appends the error text.  In the foreground the master's
 * news (bare) has no prefix ("listening on 127.0.0.1:42069", the first
 * line, as scripts expect); children keep "chatd[PID]:" so a session
 * can be followed, and every warning says it comes from chatd.
 */
static void
vlog(int with_errno, int bare, const char *fmt, va_list ap)
{
	char	 line[1024], error[128] = "";

	if (with_errno)
		snprintf(error, sizeof(error), ": %s", strerror(errno));
	vsnprintf(line, sizeof(line), fmt, ap);
	if (bare && strcmp(log_name, "chatd") == 0)
		fprintf(stderr, "%s%s\n", line, error);
	else
		fprintf(stderr, "%s: %s%s\n", log_name, line, error);
}

#define LOG(with_errno, bare) do {		\
	va_list	 ap;				\
	va_start(ap, fmt);			\
	vlog(with_errno, bare, fmt, ap);	\
	va_end(ap);				\
} while (0)

void
log_warn(const char *fmt, ...)
{
	LOG(1, 0);
}

void
log_warnx(const char *fmt, ...)
{
	LOG(0, 0);
}

void
log_info(const char *fmt, ...)
{
	LOG(0, 1);
}

void
log_debug(const char *fmt, ...)
{
	if (log_verbose)
		LOG(0, 1);
}

void
fatal(const char *fmt, ...)
{
	LOG(1, 0);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	LOG(0, 0);
	exit(1);
}
