/*
 * proto.c: bytes in, lines out.  A line ends in '\n' (a '\r' before it is
 * dropped).  A line longer than the limit is discarded up to its '\n';
 * the caller tells the client once.  The input buffer never holds more
 * than its fixed size, whatever a client sends.
 *
 * What means "I want to quit": a telnet interrupt (IAC IP) anywhere,
 * even before any '\n' (telnet sends it alone when ^C is pressed), a
 * line of nothing but ^C and ^D, or a line that is not UTF-8.
 */
#include <string.h>

#include "proto.h"

#define IAC	0xff
#define IP	0xf4

void
input_init(struct input *in, char *buf, size_t cap, size_t max_line)
{
	in->buf = buf;
	in->cap = cap;
	in->len = 0;
	in->max_line = max_line;
	in->discarding = 0;
	in->taken = 0;
}

char *
input_tail(struct input *in)
{
	return in->buf + in->len;
}

size_t
input_space(struct input *in)
{
	return in->cap - in->len;
}

void
input_added(struct input *in, size_t n)
{
	in->len += n;
}

void
input_compact(struct input *in)
{
	if (in->taken == 0)
		return;
	memmove(in->buf, in->buf + in->taken, in->len - in->taken);
	in->len -= in->taken;
	in->taken = 0;
}

/*
 * A telnet command is IAC and one more byte (IAC IAC is a literal 0xff).
 * 1 if s holds IAC IP.  *open: s ends in an IAC whose second byte has
 * not come yet; it must stay in the buffer, or IAC IP cut between two
 * reads would be missed and IAC IAC IP taken for an interrupt.
 */
static int
telnet_interrupt(const char *s, size_t n, int *open)
{
	const char	*end = s + n, *p;

	*open = 0;
	while ((p = memchr(s, IAC, (size_t)(end - s))) != NULL) {
		if (p + 1 == end) {
			*open = 1;
			return 0;
		}
		if ((unsigned char)p[1] == IP)
			return 1;
		s = p + 2;
	}
	return 0;
}

static int
only_interrupts(const char *s, size_t n)
{
	size_t	 i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] != 0x03 && s[i] != 0x04)
			return 0;
	return 1;
}

/*
 * The events do not depend on how TCP cut the bytes into reads: what
 * decides is what a reader taking one byte at a time would have seen.
 * So a line is too long once it holds max_line + 2 bytes (max_line and a
 * '\r' may still end well), and an interrupt counts if it came before
 * that; after it, in the part discarded, it still ends the session.
 * (The one exception is the ^C of a raw terminal, a guess by nature.)
 */
enum input_event
input_next(struct input *in, int at_eof, char **line, size_t *len)
{
	char	*start, *nl;
	size_t	 avail, raw, seen, n;
	int	 open;

	for (;;) {
		start = in->buf + in->taken;
		avail = in->len - in->taken;
		nl = memchr(start, '\n', avail);
		raw = nl != NULL ? (size_t)(nl - start) : avail;
		if (!in->discarding)
			break;
		if (telnet_interrupt(start, raw, &open))
			return INPUT_QUIT;
		if (nl == NULL) {
			in->taken += raw - (size_t)open;
			return INPUT_NONE;
		}
		in->taken += raw + 1;
		in->discarding = 0;
	}
	seen = raw < in->max_line + 2 ? raw : in->max_line + 2;
	/* only this line's bytes: the lines before an interrupt still count */
	if (telnet_interrupt(start, seen, &open))
		return INPUT_QUIT;
	if (raw >= in->max_line + 2) {
		in->discarding = 1;
		in->taken += seen - (size_t)open;
		return INPUT_TOO_LONG;
	}
	if (nl == NULL) {
		if (only_interrupts(start, avail))
			return INPUT_QUIT;	/* ^C in a raw terminal */
		if (!at_eof || avail == 0)
			return INPUT_NONE;
		in->taken += avail;		/* a last line without '\n' */
	} else
		in->taken += raw + 1;
	n = raw;
	if (n > 0 && start[n - 1] == '\r')
		n--;
	if (n > in->max_line)
		return INPUT_TOO_LONG;
	if (only_interrupts(start, n) ||
	    !utf8_valid((unsigned char *)start, n))
		return INPUT_QUIT;
	*line = start;
	*len = n;
	return INPUT_LINE;
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF. */
int
utf8_valid(const unsigned char *s, size_t n)
{
	size_t	 i = 0, follow, k;
	unsigned min, cp;

	while (i < n) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if (s[i] >= 0xc2 && s[i] <= 0xdf) {
			follow = 1; cp = s[i] & 0x1f; min = 0x80;
		} else if (s[i] >= 0xe0 && s[i] <= 0xef) {
			follow = 2; cp = s[i] & 0x0f; min = 0x800;
		} else if (s[i] >= 0xf0 && s[i] <= 0xf4) {
			follow = 3; cp = s[i] & 0x07; min = 0x10000;
		} else
			return 0;
		if (n - i <= follow)
			return 0;
		for (k = 1; k <= follow; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += follow + 1;
	}
	return 1;
}

/*
 * Removes bytes below 0x20 but TAB, and DEL; and the C1 controls U+0080
 * to U+009F (0xc2 0x80..0x9f in UTF-8), which terminals such as xterm
 * obey as ESC is obeyed: U+009B is CSI.  Returns the new length.
 */
size_t
strip_controls(char *s, size_t n)
{
	size_t	 i, j = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			continue;
		if (c == 0xc2 && i + 1 < n &&
		    (unsigned char)s[i + 1] >= 0x80 &&
		    (unsigned char)s[i + 1] <= 0x9f) {
			i++;
			continue;
		}
		s[j++] = s[i];
	}
	return j;
}
