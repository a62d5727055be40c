/* proto.h: the wire: framing client lines and checking their bytes. */
#ifndef CHATD_PROTO_H
#define CHATD_PROTO_H

#include <stddef.h>

/* A client's input: a fixed buffer, one line at a time out of it. */
struct input {
	char	*buf;
	size_t	 cap;		/* max_line + 2 at least, + reading ahead */
	size_t	 len;		/* bytes held */
	size_t	 taken;		/* of them, handed out as lines */
	size_t	 max_line;	/* longest line accepted, without its end */
	int	 discarding;	/* inside an overlong line: drop to '\n' */
};

enum input_event {
	INPUT_NONE,		/* no complete line: read more */
	INPUT_LINE,		/* *line, *len: one line, its end removed */
	INPUT_TOO_LONG,		/* a line over max_line: tell the client */
	INPUT_QUIT		/* telnet IP, ^C or ^D alone, bad UTF-8 */
};

void	input_init(struct input *, char *buf, size_t cap, size_t max_line);
/* Space to read into: input_space() bytes at input_tail(). */
char	*input_tail(struct input *);
size_t	 input_space(struct input *);
void	 input_added(struct input *, size_t);
/* Takes the next line; at_eof makes a last unterminated line count. */
enum input_event input_next(struct input *, int at_eof, char **line,
	    size_t *len);
/* Drops the lines taken so far (call before reading more). */
void	 input_compact(struct input *);

int	 utf8_valid(const unsigned char *, size_t);
size_t	 strip_controls(char *, size_t);

#endif
