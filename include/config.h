/* config.h: chatd.conf, its defaults and its limits. */
#ifndef CHATD_CONFIG_H
#define CHATD_CONFIG_H

#define CONFIG_DEFAULT_PATH	SYSCONFDIR "/chatd.conf"
#define CONFIG_MOTD_MAX		4096	/* bytes of Motd text, line ends included */
#define CONFIG_SPARE_MAX	1000	/* the most MinSpare and MaxSpare can be */

struct config {
	char		listen_address[256];
	unsigned	port;
	unsigned	max_clients;
	unsigned	min_spare;
	unsigned	max_spare;
	unsigned	max_connections_per_child;	/* 0: no limit */
	unsigned	max_rooms;
	unsigned	ring_size;
	unsigned	max_line_length;
	char		segment_name[256];
	char		pid_file[256];		/* "": none */
	char		syslog_facility[16];
	char		log_level[16];
	char		motd[256];		/* a line, or @file */
	char		motd_text[CONFIG_MOTD_MAX];	/* what clients get */
	unsigned	send_timeout;		/* s; 0: none */
	unsigned	idle_timeout;		/* s; 0: none */
	unsigned	max_lines_per_second;	/* 0: no limit */
	unsigned	line_burst;
	unsigned	max_clients_per_ip;	/* 0: no limit */
	unsigned	trust_loopback;		/* loopback: no such limits */
	char		user[64];		/* started as root: become */
	char		group[64];
};

void	config_defaults(struct config *);
/*
 * Reads path over the defaults.  A missing file is an error only when
 * must_exist is set.  On error prints "path:line: what" on stderr and
 * returns -1.
 */
int	config_load(struct config *, const char *path, int must_exist);
int	config_parse_port(const char *, unsigned *);
/* Calls fn for each setting whose value differs between a and b. */
void	config_changes(const struct config *a, const struct config *b,
	    void (*fn)(const char *name, const char *was, const char *now,
	    void *), void *arg);

#endif
