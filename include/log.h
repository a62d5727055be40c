/* log.h: messages to stderr now, to syslog once chatd daemonizes. */
#ifndef CHATD_LOG_H
#define CHATD_LOG_H

#define PRINTF_LIKE(f, a)	__attribute__((format(printf, f, a)))

void	log_init(int verbose);
void	log_setname(const char *name);
void	log_warn(const char *, ...) PRINTF_LIKE(1, 2);
void	log_warnx(const char *, ...) PRINTF_LIKE(1, 2);
void	log_info(const char *, ...) PRINTF_LIKE(1, 2);
void	log_debug(const char *, ...) PRINTF_LIKE(1, 2);
__attribute__((noreturn))
void	fatal(const char *, ...) PRINTF_LIKE(1, 2);
__attribute__((noreturn))
void	fatalx(const char *, ...) PRINTF_LIKE(1, 2);

#endif
