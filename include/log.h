/*
 * log.h: one line per event, to stderr in the foreground (-d) and to
 * syslog(3) once chatd runs as a daemon.
 */
#ifndef CHATD_LOG_H
#define CHATD_LOG_H

#include <stdatomic.h>
#include <stddef.h>

#define PRINTF_LIKE(f, a)	__attribute__((format(printf, f, a)))

/* LogLevel, lowest to highest: each shows what the ones before it do. */
enum log_level { LEVEL_ERROR, LEVEL_WARNING, LEVEL_INFO, LEVEL_DEBUG };

/*
 * foreground: stderr only.  Else syslog(3) with the given facility
 * (LOG_DAEMON...), and warnings and errors on stderr too until
 * log_detach(), so whoever started chatd sees why it did not start.
 */
void	log_init(int foreground, int facility, int level);
void	log_detach(void);
void	log_setname(const char *name);
/* The level lives in the shared segment once there is one, so a
 * SIGHUP that changes LogLevel reaches every child at once. */
void	log_share_level(_Atomic int *);
/* So is the UTC offset of syslog's time stamps: the master keeps it
 * (log_clock_tick(), every second) and its children only read it. */
void	log_share_clock(_Atomic int *gmtoff);
void	log_clock_tick(void);
void	log_set_level(int);
int	log_get_level(void);
/* -1 for a name that is not a LogLevel / SyslogFacility. */
int	log_level_value(const char *name);
int	log_facility_value(const char *name);
const char *log_level_name(int);

void	log_warn(const char *, ...) PRINTF_LIKE(1, 2);
void	log_warnx(const char *, ...) PRINTF_LIKE(1, 2);
void	log_info(const char *, ...) PRINTF_LIKE(1, 2);
void	log_notice(const char *, ...) PRINTF_LIKE(1, 2);
void	log_debug(const char *, ...) PRINTF_LIKE(1, 2);
/* An error that carries its own context ("file:line: what"): printed as
 * is on stderr, at LOG_ERR in syslog. */
void	log_plain(const char *, ...) PRINTF_LIKE(1, 2);
__attribute__((noreturn))
void	fatal(const char *, ...) PRINTF_LIKE(1, 2);
__attribute__((noreturn))
void	fatalx(const char *, ...) PRINTF_LIKE(1, 2);

/*
 * v in decimal at buf + *n, at least width digits padded with pad; *n
 * moves past it.  Not printf, whose 2 KiB of stack would take a child's
 * deepest calls into one more private page (its log lines, its start).
 */
void	put_decimal(char *buf, size_t *n, unsigned v, int width, char pad);

#endif
