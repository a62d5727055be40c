/*
 * harness.c: the line and command layer (src/proto.c, src/cmd.c) driven
 * without sockets or shared memory, for libFuzzer and for the replay
 * driver (replay.c) that `make check` runs over the kept inputs.
 *
 * An input is two header bytes, then the bytes a client sends:
 *   [0]  the line limit: bit 7 set, 400 (the default); else 2 + the low
 *        six bits.  Bit 6: the smallest input buffer the framing allows
 *        (limit + 2 bytes) instead of the server's (limit + 4096).
 *   [1]  a seed for how the bytes are cut into reads.
 *
 * The bytes go through the input layer three ways: reads as big as the
 * buffer takes, reads of sizes from the seed, and one byte at a time.
 * A client cannot choose how TCP cuts its bytes, so the three must give
 * the same events; the one exception is the documented guess that a
 * read holding nothing but ^C/^D is a raw terminal's ^C (proto.c).  The
 * byte-at-a-time run must also give exactly the events that a model of
 * PROTOCOL.md's framing, written byte by byte, works out.
 *
 * Every line goes to cmd_line() as in child.c, and the session_*
 * functions below stand in for the child's.  They check what comes out
 * against PROTOCOL.md: every reply valid UTF-8 without control bytes
 * (TAB aside), C1 controls or line ends of its own, of bounded length;
 * names and rooms valid; and a small model of the command table says
 * which one effect each line must have, with which text.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "child.h"
#include "cmd.h"
#include "proto.h"

#define LIMIT_DEFAULT	400
#define SERVER_SLACK	4096	/* child.c reads ahead this much */
#define MAX_EVENTS	4096
#define REPLY_MAX	4096

static const char help_text[] =
	"Server commands\n"
	"  /help - print this message\n"
	"  /name {name} - change name\n"
	"  /rooms - list rooms\n"
	"  /join {room} - joins room\n"
	"  /users - list users in room\n"
	"  /quit - quit server";

enum action {
	ACT_NONE, ACT_REPLY, ACT_SAY, ACT_RENAME, ACT_JOIN, ACT_ROOMS,
	ACT_USERS, ACT_QUIT
};

static const char *const action_names[] = {
	"nothing", "reply", "say", "rename", "join", "rooms", "users", "quit"
};

/* What the session_* stubs saw for one line. */
static struct {
	enum action	 what;
	int		 count;		/* effects for this line: 0 or 1 */
	char		 text[REPLY_MAX];
	size_t		 len;
	size_t		 max_line;
} seen;

/* One event of the input layer, and where in the stream its line began. */
struct event {
	enum input_event type;
	size_t		 at;		/* stream offset of the line's start */
	size_t		 len;		/* INPUT_LINE: the line */
	size_t		 off;		/* INPUT_LINE: its stream offset */
};

struct run {
	struct event	 events[MAX_EVENTS];
	size_t		 nevents;
	int		 quit_early;	/* QUIT on a read of only ^C/^D */
	int		 quit_command;	/* a line's command ended it */
};

__attribute__((noreturn, format(printf, 1, 2)))
static void
fail(const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "harness: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	abort();
}

static int
name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* PROTOCOL.md: 2 to 20 characters, each of A-Z a-z 0-9 _ - */
static int
model_name_valid(const char *s, size_t len)
{
	size_t	 i;

	if (len < 2 || len > 20)
		return 0;
	for (i = 0; i < len; i++)
		if (!name_char((unsigned char)s[i]))
			return 0;
	return 1;
}

/* What may go to a terminal: no control bytes but TAB (and '\n' where a
 * reply has several lines), UTF-8 only. */
static void
check_text(const char *what, const char *s, size_t len, int lines)
{
	size_t	 i;

	if (!utf8_valid((const unsigned char *)s, len))
		fail("%s is not valid UTF-8", what);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\n' && lines && i > 0 && i + 1 < len &&
		    s[i - 1] != '\n')
			continue;
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			fail("%s has control byte 0x%02x at %zu", what, c, i);
		if (c == 0xc2 && i + 1 < len &&
		    (unsigned char)s[i + 1] <= 0x9f)
			fail("%s has C1 control U+%04X at %zu", what,
			    (unsigned char)s[i + 1], i);
	}
}

static void
record(enum action what, const char *text, size_t len)
{
	if (seen.count++ > 0)
		fail("one line had two effects: %s, then %s",
		    action_names[seen.what], action_names[what]);
	seen.what = what;
	if (len >= sizeof(seen.text))
		fail("%s of %zu bytes", action_names[what], len);
	memcpy(seen.text, text, len);
	seen.text[len] = '\0';
	seen.len = len;
}

void
session_reply(struct session *s, const char *fmt, ...)
{
	char	 buf[REPLY_MAX];
	va_list	 ap;
	int	 n;

	(void)s;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		fail("a reply of %d bytes", n);
	/* child.c keeps max_line + 64 bytes for a reply; the help is fixed */
	if (strcmp(buf, help_text) != 0 && (size_t)n > seen.max_line + 64)
		fail("a reply of %d bytes, over the limit %zu + 64", n,
		    seen.max_line);
	check_text("a reply", buf, (size_t)n, strcmp(buf, help_text) == 0);
	record(ACT_REPLY, buf, (size_t)n);
}

void
session_say(struct session *s, const char *text, size_t len)
{
	(void)s;
	if (len == 0)
		fail("an empty line was said");
	if (len > seen.max_line)
		fail("a line of %zu bytes was said, limit %zu", len,
		    seen.max_line);
	if (text[0] == '/')
		fail("a command was said as text");
	check_text("a said line", text, len, 0);
	record(ACT_SAY, text, len);
}

void
session_rename(struct session *s, const char *name)
{
	(void)s;
	if (!model_name_valid(name, strlen(name)))
		fail("rename to an invalid name");
	record(ACT_RENAME, name, strlen(name));
}

void
session_join(struct session *s, const char *room)
{
	(void)s;
	if (!model_name_valid(room, strlen(room)))
		fail("join of an invalid room");
	record(ACT_JOIN, room, strlen(room));
}

void
session_list_rooms(struct session *s)
{
	(void)s;
	record(ACT_ROOMS, "", 0);
}

void
session_list_users(struct session *s)
{
	(void)s;
	record(ACT_USERS, "", 0);
}

/*
 * The command model: PROTOCOL.md's table, with cmd.c's documented reading of
 * it (a command is the word up to the first space; its argument is the
 * rest without the blanks around it; commands without one ignore it).
 */
static void
model_command(const char *raw, size_t rawlen, enum action *what, char *text,
    size_t *len)
{
	char	 line[REPLY_MAX];
	size_t	 n = 0, i, word, a, e;

	for (i = 0; i < rawlen; i++) {
		unsigned char c = (unsigned char)raw[i];

		if (c == 0xc2 && i + 1 < rawlen &&
		    (unsigned char)raw[i + 1] <= 0x9f)
			i++;			/* a C1 control */
		else if ((c >= 0x20 && c != 0x7f) || c == '\t')
			line[n++] = raw[i];
	}
	*len = 0;
	*what = ACT_NONE;
	if (n == 0)
		return;
	if (line[0] != '/') {
		*what = ACT_SAY;
		memcpy(text, line, n);
		*len = n;
		return;
	}
	for (word = 0; word < n && line[word] != ' '; word++)
		;
	for (a = word; a < n && (line[a] == ' ' || line[a] == '\t'); a++)
		;
	for (e = n; e > a && (line[e - 1] == ' ' || line[e - 1] == '\t'); e--)
		;
#define IS(w)	(word == strlen(w) && memcmp(line, w, word) == 0)
	if (IS("/help")) {
		*what = ACT_REPLY;
		*len = (size_t)sprintf(text, "%s", help_text);
	} else if (IS("/name") || IS("/join")) {
		if (model_name_valid(line + a, e - a)) {
			*what = IS("/name") ? ACT_RENAME : ACT_JOIN;
			memcpy(text, line + a, e - a);
			*len = e - a;
		} else {
			*what = ACT_REPLY;
			*len = (size_t)sprintf(text, "%s must be 2 - 20 "
			    "alphanumeric chars", IS("/name") ? "Name" : "Room");
		}
	} else if (IS("/rooms"))
		*what = ACT_ROOMS;
	else if (IS("/users"))
		*what = ACT_USERS;
	else if (IS("/quit"))
		*what = ACT_QUIT;
	else {
		*what = ACT_REPLY;
		*len = (size_t)sprintf(text, "Unrecognized command %.*s, "
		    "try /help", (int)word, line);
	}
#undef IS
}

/* One line into cmd_line(), as take_line() in child.c does it. */
static int
command(char *line, size_t len, size_t max_line)
{
	struct session	 sess;
	enum action	 want;
	char		 text[REPLY_MAX];
	size_t		 wantlen;

	model_command(line, len, &want, text, &wantlen);
	memset(&seen, 0, sizeof(seen));
	seen.max_line = max_line;
	memset(&sess, 0, sizeof(sess));
	snprintf(sess.name, sizeof(sess.name), "FuzzyOtter");
	cmd_line(&sess, line, len);
	if (sess.quit)
		record(ACT_QUIT, "", 0);
	if (seen.what != want)
		fail("the line did %s, the protocol says %s",
		    action_names[seen.what], action_names[want]);
	if (seen.len != wantlen || memcmp(seen.text, text, wantlen) != 0)
		fail("%s: got \"%s\", the protocol says \"%.*s\"",
		    action_names[want], seen.text, (int)wantlen, text);
	return sess.quit;
}

static int
only_ctrl_c_d(const uint8_t *s, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (s[i] != 0x03 && s[i] != 0x04)
			return 0;
	return n > 0;
}

static void
add_event(struct run *r, enum input_event type, size_t at, size_t len,
    size_t off)
{
	struct event	*e;

	if (r->nevents == MAX_EVENTS)
		fail("more than %d events", MAX_EVENTS);
	e = &r->events[r->nevents++];
	e->type = type;
	e->at = at;
	e->len = len;
	e->off = off;
}

/* A xorshift step: the read sizes of one run, from the seed. */
static uint32_t
next_random(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

enum cut { CUT_WHOLE, CUT_SEEDED, CUT_BYTES };

/*
 * The stream through an input buffer of cap bytes, as child.c's session
 * loop takes it: lines while there are any, compact, read; until a quit
 * (of either layer) or the end of the bytes.
 */
static void
feed(struct run *r, const uint8_t *data, size_t size, size_t max_line,
    size_t cap, enum cut cut, uint32_t seed)
{
	struct input		 in;
	enum input_event	 ev;
	char			*buf, *line;
	size_t			 fed = 0, want, len, at, held;
	int			 eof = 0;

	/* +1: cmd_line may end a line with a NUL, as in child.c */
	if ((buf = malloc(cap + 1)) == NULL)
		fail("out of memory");
	input_init(&in, buf, cap, max_line);
	r->nevents = 0;
	r->quit_early = 0;
	r->quit_command = 0;
	for (;;) {
		for (;;) {
			at = fed - in.len + in.taken;
			len = 0;
			ev = input_next(&in, eof, &line, &len);
			if (in.taken > in.len || in.len > in.cap)
				fail("input: taken %zu, len %zu, cap %zu",
				    in.taken, in.len, in.cap);
			if (ev == INPUT_NONE)
				break;
			if (ev == INPUT_LINE) {
				if (line < buf || line + len > buf + cap)
					fail("a line outside the buffer");
				if (len > max_line)
					fail("a line of %zu bytes, limit %zu",
					    len, max_line);
				if (memchr(line, '\n', len) != NULL)
					fail("a line with a line end inside");
				if (!utf8_valid((unsigned char *)line, len))
					fail("a line that is not UTF-8");
				add_event(r, ev, at, len,
				    fed - in.len + (size_t)(line - buf));
				if (command(line, len, max_line)) {
					r->quit_command = 1;
					goto out;
				}
				continue;
			}
			if (ev == INPUT_QUIT) {
				/* the bytes of the line it ended in */
				at = fed - in.len + in.taken;
				held = in.len - in.taken;
				if (!eof && !in.discarding &&
				    only_ctrl_c_d(data + at, held))
					r->quit_early = 1;
			}
			add_event(r, ev, at, 0, 0);
			if (ev == INPUT_QUIT)
				goto out;
		}
		if (eof)
			break;
		input_compact(&in);
		/* the buffer holds no more than a line that may still end */
		if (in.len > max_line + 1)
			fail("%zu bytes held after compacting, limit %zu",
			    in.len, max_line);
		if (fed == size) {
			eof = 1;
			continue;
		}
		want = input_space(&in);
		if (want == 0)
			fail("the input buffer is full and no line is taken");
		if (cut == CUT_BYTES)
			want = 1;
		else if (cut == CUT_SEEDED)
			want = 1 + next_random(&seed) % (want < 64 ? want : 64 +
			    (seed & 1) * (want - 64));
		if (want > size - fed)
			want = size - fed;
		memcpy(input_tail(&in), data + fed, want);
		input_added(&in, want);
		fed += want;
	}
out:
	free(buf);
}

/*
 * Well-formed UTF-8 by the Unicode standard's table of lead bytes and
 * the range each allows for the byte after it, not by decoding as
 * proto.c does: no overlong forms, no surrogates, nothing past U+10FFFF.
 */
static const struct utf8_lead {
	uint8_t	 first, last;	/* lead bytes */
	uint8_t	 follow;	/* bytes after it */
	uint8_t	 low, high;	/* the range of the second byte */
} utf8_leads[] = {
	{ 0xc2, 0xdf, 1, 0x80, 0xbf },
	{ 0xe0, 0xe0, 2, 0xa0, 0xbf },
	{ 0xe1, 0xec, 2, 0x80, 0xbf },
	{ 0xed, 0xed, 2, 0x80, 0x9f },
	{ 0xee, 0xef, 2, 0x80, 0xbf },
	{ 0xf0, 0xf0, 3, 0x90, 0xbf },
	{ 0xf1, 0xf3, 3, 0x80, 0xbf },
	{ 0xf4, 0xf4, 3, 0x80, 0x8f },
};

static int
model_utf8(const uint8_t *s, size_t n)
{
	const struct utf8_lead	*l;
	size_t			 i = 0, k;

	while (i < n) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		for (l = utf8_leads; l < utf8_leads + sizeof(utf8_leads) /
		    sizeof(utf8_leads[0]); l++)
			if (s[i] >= l->first && s[i] <= l->last)
				break;
		if (l == utf8_leads + sizeof(utf8_leads) / sizeof(utf8_leads[0]))
			return 0;
		if (n - i <= l->follow || s[i + 1] < l->low ||
		    s[i + 1] > l->high)
			return 0;
		for (k = 2; k <= l->follow; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xbf)
				return 0;
		i += 1 + l->follow;
	}
	return 1;
}

/* A line complete at its '\n' or the end of the bytes; 1 if it quits. */
static int
model_line(struct run *m, const uint8_t *data, size_t start, size_t end,
    size_t max_line)
{
	size_t	 n = end - start;

	if (n > 0 && data[end - 1] == '\r')
		n--;
	if (n > max_line) {
		add_event(m, INPUT_TOO_LONG, start, 0, 0);
		return 0;
	}
	if (only_ctrl_c_d(data + start, n) || !model_utf8(data + start, n)) {
		add_event(m, INPUT_QUIT, start, 0, 0);
		return 1;
	}
	add_event(m, INPUT_LINE, start, n, start);
	return 0;
}

/*
 * The events PROTOCOL.md asks for when the bytes come one at a time,
 * worked out a byte at a time: a '\n' ends a line (a '\r' before it is
 * not part of it); a line is refused once it holds max_line + 2 bytes and
 * then dropped up to its '\n'; IAC IP anywhere ends the session (IAC and
 * the byte after it go in pairs); so does ^C or ^D alone in a read.
 */
static void
model_framing(struct run *m, const uint8_t *data, size_t size,
    size_t max_line)
{
	size_t	 i, start = 0;
	int	 discarding = 0, iac = 0;

	m->nevents = 0;
	m->quit_early = m->quit_command = 0;
	for (i = 0; i < size; i++) {
		if (data[i] == '\n') {
			if (!discarding &&
			    model_line(m, data, start, i, max_line))
				return;
			discarding = iac = 0;
			start = i + 1;
			continue;
		}
		if (iac) {
			iac = 0;
			if (data[i] == 0xf4) {
				add_event(m, INPUT_QUIT, start, 0, 0);
				return;
			}
		} else if (data[i] == 0xff)
			iac = 1;
		if (discarding)
			continue;
		if (i + 1 - start == max_line + 2) {
			add_event(m, INPUT_TOO_LONG, start, 0, 0);
			discarding = 1;
		} else if (i == start && (data[i] == 0x03 || data[i] == 0x04)) {
			add_event(m, INPUT_QUIT, start, 0, 0);
			return;
		}
	}
	if (!discarding && start < size)
		model_line(m, data, start, size, max_line);
}

static const char *const event_names[] = {
	"none", "line", "too long", "quit"
};

static void
compare(const struct run *a, const struct run *b, const uint8_t *data,
    const char *how)
{
	const struct event	*x, *y;
	size_t			 i;

	for (i = 0; i < a->nevents && i < b->nevents; i++) {
		x = &a->events[i];
		y = &b->events[i];
		/* where a read began differs; what was taken must not */
		if (x->type != y->type || x->len != y->len || x->off != y->off)
			break;
	}
	if (i == a->nevents && i == b->nevents)
		return;
	/* /quit stops a run; the model reads on */
	if ((a->quit_command && i == a->nevents) ||
	    (b->quit_command && i == b->nevents))
		return;
	/* a read of only ^C/^D: the raw-terminal guess may quit sooner */
	if (b->quit_early && i + 1 == b->nevents &&
	    (data[b->events[i].at] == 0x03 || data[b->events[i].at] == 0x04))
		return;
	if (a->quit_early && i + 1 == a->nevents &&
	    (data[a->events[i].at] == 0x03 || data[a->events[i].at] == 0x04))
		return;
	fail("%s: event %zu is %s at %zu (%zu bytes), %s at %zu (%zu bytes)",
	    how, i,
	    i < b->nevents ? event_names[b->events[i].type] : "the end",
	    i < b->nevents ? b->events[i].at : 0,
	    i < b->nevents ? b->events[i].len : 0,
	    i < a->nevents ? event_names[a->events[i].type] : "the end",
	    i < a->nevents ? a->events[i].at : 0,
	    i < a->nevents ? a->events[i].len : 0);
}

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run	 whole, seeded, bytes, expected;
	size_t			 max_line, cap;
	uint32_t		 seed;

	if (size < 2)
		return 0;
	max_line = data[0] & 0x80 ? LIMIT_DEFAULT : 2 + (data[0] & 0x3f);
	cap = max_line + (data[0] & 0x40 ? 2 : SERVER_SLACK);
	seed = 0x9e3779b9u ^ ((uint32_t)data[1] << 8 | data[1]);
	data += 2;
	size -= 2;
	feed(&whole, data, size, max_line, cap, CUT_WHOLE, 0);
	feed(&seeded, data, size, max_line, cap, CUT_SEEDED, seed);
	compare(&whole, &seeded, data, "reads cut at random, then whole");
	if (size <= 65536) {
		feed(&bytes, data, size, max_line, cap, CUT_BYTES, 0);
		compare(&whole, &bytes, data, "a byte a read, then whole");
		model_framing(&expected, data, size, max_line);
		compare(&expected, &bytes, data, "a byte a read, then the model");
	}
	return 0;
}
