/*
 * log.c: one line per event on stderr, "chatd: message", with the pid
 * for children.  (syslog comes with daemonizing, in a later step.)
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
	/* stderr stays unbuffered: one write a line, and no stdio buffer on
	 * the heap for every child to copy on its first log line */
	log_verbose = verbose;
}

void
log_setname(const char *name)
{
	snprintf(log_name, sizeof(log_name), "%s", name);
}

static void
vlog(const char *fmt, va_list ap, const char *error)
{
	char	 line[1024];

	vsnprintf(line, sizeof(line), fmt, ap);
	if (error != NULL)
		fprintf(stderr, "%s: %s: %s\n", log_name, line, error);
	else
		fprintf(stderr, "%s: %s\n", log_name, line);
}

void
log_warn(const char *fmt, ...)
{
	va_list	 ap;
	char	 error[128];

	snprintf(error, sizeof(error), "%s", strerror(errno));
	va_start(ap, fmt);
	vlog(fmt, ap, error);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(fmt, ap, NULL);
	va_end(ap);
}

/* In the foreground the master's news has no prefix ("listening on
 * 127.0.0.1:42069", the first line, as scripts expect); children's lines
 * keep "chatd[PID]:" so a session can be followed. */
void
log_info(const char *fmt, ...)
{
	va_list	 ap;
	char	 line[1024];

	va_start(ap, fmt);
	if (strcmp(log_name, "chatd") == 0) {
		vsnprintf(line, sizeof(line), fmt, ap);
		fprintf(stderr, "%s\n", line);
	} else
		vlog(fmt, ap, NULL);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	 ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	vlog(fmt, ap, NULL);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	 ap;
	char	 error[128];

	snprintf(error, sizeof(error), "%s", strerror(errno));
	va_start(ap, fmt);
	vlog(fmt, ap, error);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(fmt, ap, NULL);
	va_end(ap);
	exit(1);
}
