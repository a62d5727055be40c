/*
 * cmd.c: a line from a client: chat text, or a command from the table.
 * The table drives parsing, /help and "Unrecognized command"; a command
 * is a row and a function.
 */
#include <stdio.h>
#include <string.h>

#include "child.h"
#include "cmd.h"
#include "names.h"
#include "proto.h"
#include "room.h"

static void	cmd_name(struct session *, const char *);
static void	cmd_rooms(struct session *, const char *);
static void	cmd_join(struct session *, const char *);
static void	cmd_users(struct session *, const char *);
static void	cmd_quit(struct session *, const char *);

static const struct command {
	const char	*name;
	const char	*args;		/* for /help; NULL: takes none */
	void		(*handler)(struct session *, const char *);
	const char	*help;
} commands[] = {
	{ "/help",	NULL,		cmd_help,	"print this message" },
	{ "/name",	"{name}",	cmd_name,	"change name" },
	{ "/rooms",	NULL,		cmd_rooms,	"list rooms" },
	{ "/join",	"{room}",	cmd_join,	"joins room" },
	{ "/users",	NULL,		cmd_users,	"list users in room" },
	{ "/quit",	NULL,		cmd_quit,	"quit server" },
};
#define NCOMMANDS	(sizeof(commands) / sizeof(commands[0]))

/*
 * One reply, so no line of the room can land inside the help text.  It
 * is made once, in .bss rather than on the stack: every session starts
 * with it, and a child's stack is a page of its own for each 4 KiB its
 * calls reach down.
 */
void
cmd_help(struct session *s, const char *args)
{
	static char		 text[384];
	const struct command	*c;
	size_t			 n;

	(void)args;
	if (text[0] == '\0') {
		n = (size_t)snprintf(text, sizeof(text), "Server commands");
		for (c = commands; c < commands + NCOMMANDS; c++)
			n += (size_t)snprintf(text + n, sizeof(text) - n,
			    "\n  %s%s%s - %s", c->name,
			    c->args != NULL ? " " : "",
			    c->args != NULL ? c->args : "", c->help);
	}
	session_reply(s, "%s", text);
}

static void
cmd_name(struct session *s, const char *name)
{
	if (!name_valid(name, strlen(name))) {
		session_reply(s, "Name must be 2 - 20 alphanumeric chars");
		return;
	}
	session_rename(s, name);
}

static void
cmd_rooms(struct session *s, const char *args)
{
	(void)args;
	session_list_rooms(s);
}

static void
cmd_join(struct session *s, const char *room)
{
	if (!room_valid(room, strlen(room))) {
		session_reply(s, "Room must be 2 - 20 alphanumeric chars");
		return;
	}
	session_join(s, room);
}

static void
cmd_users(struct session *s, const char *args)
{
	(void)args;
	session_list_users(s);
}

static void
cmd_quit(struct session *s, const char *args)
{
	(void)args;
	s->quit = 1;
}

static int
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * The first word, up to a space (PROTOCOL.md: "/name must be followed by
 * a space or the line end"), names the command; the rest, without the
 * blanks around it, is its argument ("/name  Bob " names Bob, "/name Bob
 * Smith" is an invalid name).  Commands that take no argument ignore
 * what follows.
 */
void
cmd_line(struct session *s, char *line, size_t len)
{
	const struct command	*c;
	char			*args, *end;
	size_t			 word;

	len = strip_controls(line, len);
	if (len == 0)
		return;
	if (line[0] != '/') {
		session_say(s, line, len);
		return;
	}
	line[len] = '\0';
	for (word = 0; word < len && line[word] != ' '; word++)
		;
	for (args = line + word; is_blank(*args); args++)
		;
	for (end = line + len; end > args && is_blank(end[-1]); end--)
		;
	*end = '\0';
	for (c = commands; c < commands + NCOMMANDS; c++)
		if (strlen(c->name) == word &&
		    memcmp(c->name, line, word) == 0) {
			c->handler(s, args);
			return;
		}
	session_reply(s, "Unrecognized command %.*s, try /help", (int)word,
	    line);
}
