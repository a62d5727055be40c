/* cmd.h: what a client's line does: chat text or a command. */
#ifndef CHATD_CMD_H
#define CHATD_CMD_H

#include <stddef.h>

struct session;

void	cmd_line(struct session *, char *line, size_t len);
void	cmd_help(struct session *, const char *);

#endif
