/* config.h: chatd.conf, its defaults and its limits. */
#ifndef CHATD_CONFIG_H
#define CHATD_CONFIG_H

#define CONFIG_DEFAULT_PATH	SYSCONFDIR "/chatd.conf"

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
	unsigned	send_timeout;		/* s; 0: none */
	unsigned	idle_timeout;		/* s; 0: none */
	unsigned	max_lines_per_second;	/* 0: no limit */
	unsigned	line_burst;
	unsigned	max_clients_per_ip;	/* 0: no limit */
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

#endif
