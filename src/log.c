/*
 * log.c: one line per event.  In the foreground (-d) on stderr,
 * "chatd: message", with the pid for children; as a daemon through
 * syslog(3), ident "chatd" with each process's pid.  While a daemon is
 * starting, its warnings and errors also go to the stderr of whoever
 * started it, until log_detach().
 *
 * stderr stays unbuffered: one write a line, and no stdio buffer on the
 * heap for every child to copy on its first log line.  The syslog socket
 * is opened at once, before any fork, so children share it instead of
 * each connecting on its first line.
 *
 * syslog(3) is not used: glibc's formats each message through
 * open_memstream, and a child's first line left four of libc's pages
 * private to it for good (16 KiB a connection, measured).  The message
 * is the one syslog(3) sends: "<PRI>Mmm dd hh:mm:ss chatd[PID]: text" to
 * /dev/log, a datagram socket (or a stream one, each message ended by a
 * NUL), connected again once if the syslog daemon went away.  Nor is
 * localtime(3) in a child, which writes libc's tzname and timezone on
 * every call: the master puts the UTC offset in the segment every second
 * and its children add it to the time themselves.
 */
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <errno.h>
#include <paths.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int		 log_foreground = 1;
static int		 log_attached = 1;	/* stderr still someone's */
static int		 log_level = LEVEL_INFO;
static _Atomic int	*log_shared_level;
static _Atomic int	*log_shared_gmtoff;
static char		 log_name[32] = "chatd";
static int		 syslog_fd = -1;
static int		 syslog_stream;		/* SOCK_STREAM: NUL-ended */
static int		 syslog_facility = LOG_DAEMON;

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

/* No syslog daemon: lines go nowhere, as with syslog(3), until one comes. */
static void
syslog_connect(void)
{
	struct sockaddr_un	 sun;
	int			 fd, e, type = SOCK_DGRAM;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, _PATH_LOG, sizeof(_PATH_LOG));	/* it fits */
	for (;;) {
		if ((fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0)) == -1)
			return;
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
			syslog_fd = fd;
			syslog_stream = type == SOCK_STREAM;
			return;
		}
		e = errno;
		close(fd);
		if (e != EPROTOTYPE || type == SOCK_STREAM)
			return;
		type = SOCK_STREAM;
	}
}

/* All of the parts, in order, however the stream splits them. */
static int
send_all(int fd, struct iovec *iov, int n)
{
	struct msghdr	 msg;
	ssize_t		 sent;

	while (n > 0) {
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = iov;
		msg.msg_iovlen = (size_t)n;
		if ((sent = sendmsg(fd, &msg, MSG_NOSIGNAL)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		for (; n > 0 && (size_t)sent >= iov->iov_len; iov++, n--)
			sent -= (ssize_t)iov->iov_len;
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + sent;
			iov->iov_len -= (size_t)sent;
		}
	}
	return 0;
}

void
put_decimal(char *buf, size_t *n, unsigned v, int width, char pad)
{
	char	 digits[12];
	int	 k = 0;

	do
		digits[k++] = (char)('0' + v % 10);
	while ((v /= 10) > 0);
	for (; width > k; width--)
		buf[(*n)++] = pad;
	while (k > 0)
		buf[(*n)++] = digits[--k];
}

/*
 * The master's offset, added by hand: month, day and time of day, the
 * fields a syslog stamp has.  Days to a civil date is the usual
 * arithmetic on 400-year eras of 146,097 days, counted from March so the
 * leap day falls last.
 */
static void
local_time(time_t now, struct tm *tm)
{
	int64_t	 t, days, secs, era, doe, yoe, doy, mp;

	memset(tm, 0, sizeof(*tm));
	if (log_shared_gmtoff == NULL) {
		(void)localtime_r(&now, tm);
		return;
	}
	t = (int64_t)now + atomic_load(log_shared_gmtoff);
	days = t / 86400;
	secs = t % 86400;
	if (secs < 0) {
		secs += 86400;
		days--;
	}
	tm->tm_hour = (int)(secs / 3600);
	tm->tm_min = (int)(secs / 60 % 60);
	tm->tm_sec = (int)(secs % 60);
	days += 719468;		/* from 1970-01-01 to 0000-03-01 */
	era = (days >= 0 ? days : days - 146096) / 146097;
	doe = days - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	tm->tm_mday = (int)(doy - (153 * mp + 2) / 5 + 1);
	tm->tm_mon = (int)(mp < 10 ? mp + 2 : mp - 10);
}

/*
 * The header is put together by hand, not with snprintf(3): a child's
 * log line is its deepest call, and printf's 2 KiB of stack there took
 * it into one more private page (measured).
 */
static void
syslog_line(int priority, const char *line, const char *error)
{
	static const char	 months[12][4] = { "Jan", "Feb", "Mar", "Apr",
	    "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	char			 head[64];
	struct iovec		 iov[4];
	struct tm		 tm;
	time_t			 now = time(NULL);
	size_t			 n = 0;
	int			 tries;

	local_time(now, &tm);
	head[n++] = '<';
	put_decimal(head, &n, (unsigned)(syslog_facility | priority), 1, ' ');
	head[n++] = '>';
	memcpy(head + n, months[tm.tm_mon % 12], 3);
	n += 3;
	head[n++] = ' ';
	put_decimal(head, &n, (unsigned)tm.tm_mday, 2, ' ');
	head[n++] = ' ';
	put_decimal(head, &n, (unsigned)tm.tm_hour, 2, '0');
	head[n++] = ':';
	put_decimal(head, &n, (unsigned)tm.tm_min, 2, '0');
	head[n++] = ':';
	put_decimal(head, &n, (unsigned)tm.tm_sec, 2, '0');
	memcpy(head + n, " chatd[", 7);
	n += 7;
	put_decimal(head, &n, (unsigned)getpid(), 1, ' ');
	memcpy(head + n, "]: ", 3);
	n += 3;
	for (tries = 0; tries < 2; tries++) {
		if (syslog_fd == -1)
			syslog_connect();
		if (syslog_fd == -1)
			return;
		iov[0].iov_base = head;
		iov[0].iov_len = n;
		iov[1].iov_base = (void *)(uintptr_t)line;
		iov[1].iov_len = strlen(line);
		iov[2].iov_base = (void *)(uintptr_t)error;
		iov[2].iov_len = strlen(error);
		iov[3].iov_base = (void *)(uintptr_t)"";
		iov[3].iov_len = 1;	/* a stream's messages end in a NUL */
		if (send_all(syslog_fd, iov, 3 + syslog_stream) == 0)
			return;
		/* the daemon restarted: once more, on a new socket */
		close(syslog_fd);
		syslog_fd = -1;
	}
}

void
log_init(int foreground, int facility, int level)
{
	log_foreground = foreground;
	log_attached = 1;
	log_set_level(level);
	if (!foreground) {
		syslog_facility = facility;
		tzset();	/* read once here, not in every child */
		syslog_connect();
	}
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
log_share_clock(_Atomic int *gmtoff)
{
	log_shared_gmtoff = gmtoff;
	log_clock_tick();
}

void
log_clock_tick(void)
{
	struct tm	 tm;
	time_t		 now = time(NULL);

	if (log_shared_gmtoff != NULL && localtime_r(&now, &tm) != NULL)
		atomic_store(log_shared_gmtoff, (int)tm.tm_gmtoff);
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
	struct iovec	 iov[5];
	const char	*part[5] = { name, ": ", line, error, "\n" };
	int		 i, n = 0;

	for (i = name == NULL ? 2 : 0; i < 5; i++) {
		iov[n].iov_base = (void *)(uintptr_t)part[i];
		iov[n++].iov_len = strlen(part[i]);
	}
	while (writev(STDERR_FILENO, iov, n) == -1 && errno == EINTR)
		;
}

/*
 * The line is formatted here, not on the stack: a child's deepest calls
 * are its log lines, and 1 KiB more of stack there cost it a page.
 * This .bss page is the one every child writes anyway.
 */
static char	 vlog_line[1024], vlog_error[128];

static void
vlog(int priority, int with_errno, enum style style, const char *fmt,
    va_list ap)
{
	int	 saved = errno;

	if (level_of(priority) > log_get_level())
		return;
	vlog_error[0] = '\0';
	if (with_errno)
		snprintf(vlog_error, sizeof(vlog_error), ": %s",
		    strerror(saved));
	vsnprintf(vlog_line, sizeof(vlog_line), fmt, ap);
	if (!log_foreground) {
		syslog_line(priority, vlog_line, vlog_error);
		if (!log_attached || priority > LOG_WARNING)
			goto out;
	}
	if (style == PLAIN ||
	    (style == BARE && strcmp(log_name, "chatd") == 0))
		stderr_line(NULL, vlog_line, vlog_error);
	else
		stderr_line(log_name, vlog_line, vlog_error);
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
