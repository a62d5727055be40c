/*
 * stat.c: chatd -s.  Maps the running server's segment read-only
 * (O_RDONLY, PROT_READ) and takes no lock: a stuck or crashed server can
 * always be looked at, and looking never slows it down.  The price is
 * that the picture is a racy snapshot: a user who joins or leaves while
 * it is taken may be missing or counted in the wrong room.  Every value
 * copied out is checked (names NUL-terminated and of valid characters,
 * room indices in range), so a half-written slot is skipped, never
 * printed as garbage.  Rooms are derived from the users' slots, so the
 * member counts always match the user lists printed.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shm.h"
#include "stat.h"

struct user {
	char	 name[NAME_SIZE];
	int32_t	 room;
	int64_t	 since;
};

struct room_view {
	char	 name[NAME_SIZE];
	int32_t	 index;
	uint32_t members;
};

struct snapshot {
	const char		*segment;
	const struct shm_header	*h;
	int			 pid;
	int64_t			 started;	/* epoch s, 0 if unknown */
	struct user		*users;
	uint32_t		 nusers;
	struct room_view	*rooms;
	uint32_t		 nrooms;
	struct room_view	*room_of;	/* by room index */
};

/* A name from the segment: NUL within NAME_SIZE, valid characters. */
static int
copy_name(char *dst, const char *src)
{
	size_t	 i;

	for (i = 0; i < NAME_SIZE && src[i] != '\0'; i++) {
		char c = src[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return -1;
		dst[i] = c;
	}
	if (i < NAME_MIN_LEN || i > NAME_MAX_LEN)
		return -1;
	dst[i] = '\0';
	return 0;
}

/* The master's start, from its start time in ticks since boot. */
static int64_t
start_time(uint64_t ticks)
{
	FILE		*fp;
	char		 line[256];
	long long	 btime = 0;
	long		 hz = sysconf(_SC_CLK_TCK);

	if (ticks == 0 || hz <= 0 || (fp = fopen("/proc/stat", "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (sscanf(line, "btime %lld", &btime) == 1)
			break;
	fclose(fp);
	if (btime == 0)
		return 0;
	return (int64_t)btime + (int64_t)(ticks / (uint64_t)hz);
}

/* Maps the segment; NULL after saying why (no server, or no access). */
static const struct shm_header *
attach(const char *name, size_t *size)
{
	const struct shm_header	*h;
	struct stat		 st;
	void			*p;
	int			 fd;

	if ((fd = shm_open(name, O_RDONLY, 0)) == -1) {
		if (errno == ENOENT)
			fprintf(stderr, "chatd: no server is running: there "
			    "is no segment %s\n", name);
		else
			fprintf(stderr, "chatd: cannot open segment %s: %s\n",
			    name, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1 || st.st_size < (off_t)sizeof(*h)) {
		fprintf(stderr, "chatd: segment %s is not ready or not a chatd "
		    "segment\n", name);
		close(fd);
		return NULL;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		fprintf(stderr, "chatd: cannot map segment %s: %s\n", name,
		    strerror(errno));
		return NULL;
	}
	h = p;
	*size = (size_t)st.st_size;
	if (h->magic != SHM_MAGIC || h->version != SHM_LAYOUT_VERSION ||
	    h->header_size != sizeof(*h) || h->total_size > *size) {
		fprintf(stderr, "chatd: segment %s was not made by this "
		    "version of chatd, or is still being set up\n", name);
		munmap(p, *size);
		return NULL;
	}
	return h;
}

static int
by_members_then_name(const void *a, const void *b)
{
	const struct room_view *x = a, *y = b;

	if (x->members != y->members)
		return x->members > y->members ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int
by_name(const void *a, const void *b)
{
	const struct user *x = a, *y = b;

	return strcmp(x->name, y->name);
}

static int
take(struct snapshot *s)
{
	const struct shm_header	*h = s->h;
	const struct client_slot *slots;
	const struct room	*rooms;
	struct user		*u;
	uint32_t		 i;
	int32_t			 r;

	slots = (const void *)((const char *)h + h->off_slots);
	rooms = (const void *)((const char *)h + h->off_rooms);
	s->users = calloc(h->max_clients, sizeof(*s->users));
	s->rooms = calloc(h->max_rooms, sizeof(*s->rooms));
	s->room_of = calloc(h->max_rooms, sizeof(*s->room_of));
	if (s->users == NULL || s->rooms == NULL || s->room_of == NULL) {
		fprintf(stderr, "chatd: out of memory\n");
		return -1;
	}
	for (i = 0; i < h->max_clients; i++) {
		if (atomic_load(&slots[i].state) != SLOT_ACTIVE)
			continue;
		u = &s->users[s->nusers];
		r = slots[i].room;
		if (copy_name(u->name, slots[i].name) == -1 || r < 0 ||
		    (uint32_t)r >= h->max_rooms)
			continue;	/* being set up or torn down */
		if (s->room_of[r].members == 0 &&
		    copy_name(s->room_of[r].name, rooms[r].name) == -1)
			continue;
		u->room = r;
		u->since = slots[i].since;
		s->room_of[r].index = r;
		s->room_of[r].members++;
		s->nusers++;
	}
	for (i = 0; i < h->max_rooms; i++)
		if (s->room_of[i].members > 0)
			s->rooms[s->nrooms++] = s->room_of[i];
	qsort(s->rooms, s->nrooms, sizeof(*s->rooms), by_members_then_name);
	qsort(s->users, s->nusers, sizeof(*s->users), by_name);
	return 0;
}

static void
format_time(int64_t t, char *buf, size_t size)
{
	time_t		 tt = (time_t)t;
	struct tm	 tm;

	if (t <= 0 || localtime_r(&tt, &tm) == NULL ||
	    strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, size, "?");
}

static void
print_table(const struct snapshot *s)
{
	const struct shm_header	*h = s->h;
	char			 when[32];
	uint32_t		 i, j;
	const char		*sep;

	format_time(s->started, when, sizeof(when));
	if (s->pid > 0)
		printf("chatd pid %d, segment %s, running since %s\n",
		    s->pid, s->segment, when);
	else
		printf("no chatd master, segment %s: chatd -i sessions only\n",
		    s->segment);
	printf("%u users (of %u slots), %u rooms (of %u)\n\n", s->nusers,
	    h->max_clients, s->nrooms, h->max_rooms);

	printf("%-20s %7s  %s\n", "ROOM", "MEMBERS", "USERS");
	for (i = 0; i < s->nrooms; i++) {
		printf("%-20s %7u  ", s->rooms[i].name, s->rooms[i].members);
		sep = "";
		for (j = 0; j < s->nusers; j++)
			if (s->users[j].room == s->rooms[i].index) {
				printf("%s%s", sep, s->users[j].name);
				sep = ", ";
			}
		printf("\n");
	}

	printf("\n%-20s %-20s %s\n", "USER", "ROOM", "CONNECTED SINCE");
	for (i = 0; i < s->nusers; i++) {
		format_time(s->users[i].since, when, sizeof(when));
		printf("%-20s %-20s %s\n", s->users[i].name,
		    s->room_of[s->users[i].room].name, when);
	}

	printf("\n%-20s %s\n", "COUNTER", "VALUE");
	printf("%-20s %llu\n", "connections",
	    (unsigned long long)atomic_load(&h->connections));
	printf("%-20s %llu\n", "lines",
	    (unsigned long long)atomic_load(&h->lines));
	printf("%-20s %llu\n", "repairs",
	    (unsigned long long)atomic_load(&h->repairs));
	printf("%-20s %llu\n", "janitor_frees",
	    (unsigned long long)atomic_load(&h->janitor_frees));
	printf("%-20s %u\n", "dead_pending",
	    (unsigned)atomic_load(&h->dead_pending));
	printf("%-20s %u\n", "pace_budget",
	    (unsigned)atomic_load(&h->pace_budget));
}

/* A JSON string: quotes, backslashes and control bytes escaped. */
static void
json_string(const char *p)
{
	putchar('"');
	for (; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void
print_json(const struct snapshot *s)
{
	const struct shm_header	*h = s->h;
	uint32_t		 i, j;
	const char		*sep;

	printf("{\"pid\":%d,\"segment\":", s->pid);
	json_string(s->segment);
	printf(",\"started\":%lld", (long long)s->started);
	printf(",\"limits\":{\"max_clients\":%u,\"max_rooms\":%u,"
	    "\"ring_size\":%u}", h->max_clients, h->max_rooms, h->ring_size);
	printf(",\"counters\":{\"connections\":%llu,\"lines\":%llu,"
	    "\"repairs\":%llu,\"janitor_frees\":%llu,\"dead_pending\":%u,"
	    "\"pace_budget\":%u,\"users\":%u,\"rooms\":%u}",
	    (unsigned long long)atomic_load(&h->connections),
	    (unsigned long long)atomic_load(&h->lines),
	    (unsigned long long)atomic_load(&h->repairs),
	    (unsigned long long)atomic_load(&h->janitor_frees),
	    (unsigned)atomic_load(&h->dead_pending),
	    (unsigned)atomic_load(&h->pace_budget), s->nusers, s->nrooms);
	printf(",\"rooms\":[");
	for (i = 0; i < s->nrooms; i++) {
		printf("%s{\"name\":", i > 0 ? "," : "");
		json_string(s->rooms[i].name);
		printf(",\"members\":%u,\"users\":[", s->rooms[i].members);
		sep = "";
		for (j = 0; j < s->nusers; j++)
			if (s->users[j].room == s->rooms[i].index) {
				printf("%s", sep);
				json_string(s->users[j].name);
				sep = ",";
			}
		printf("]}");
	}
	printf("],\"users\":[");
	for (i = 0; i < s->nusers; i++) {
		printf("%s{\"name\":", i > 0 ? "," : "");
		json_string(s->users[i].name);
		printf(",\"room\":");
		json_string(s->room_of[s->users[i].room].name);
		printf(",\"since\":%lld}", (long long)s->users[i].since);
	}
	printf("]}\n");
}

/* Live sessions of chatd -i, which no master owns. */
static unsigned
inetd_sessions(const struct shm_header *h)
{
	const struct client_slot	*slots;
	uint32_t			 i;
	unsigned			 n = 0;

	slots = (const void *)((const char *)h + h->off_slots);
	for (i = 0; i < h->max_clients; i++)
		if (atomic_load(&slots[i].state) == SLOT_ACTIVE &&
		    (slots[i].flags & SLOT_UNWATCHED) &&
		    shm_slot_alive(&slots[i]))
			n++;
	return n;
}

int
stat_print(const struct config *conf, int json)
{
	struct snapshot	 s;
	size_t		 size;
	int		 rc = 1;

	memset(&s, 0, sizeof(s));
	s.segment = conf->segment_name;
	if ((s.h = attach(conf->segment_name, &size)) == NULL)
		return 1;
	s.pid = atomic_load(&s.h->owner_pid);
	if (shm_owner_alive(s.pid, s.h->owner_start))
		s.started = start_time(s.h->owner_start);
	else if (inetd_sessions(s.h) > 0)
		s.pid = 0;	/* no master, but chatd -i sessions: report */
	else {
		fprintf(stderr, "chatd: no server is running: segment %s was "
		    "left by pid %d, which is gone\n", s.segment, s.pid);
		goto out;
	}
	if (take(&s) == -1)
		goto out;
	if (json)
		print_json(&s);
	else
		print_table(&s);
	rc = 0;
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "chatd: cannot write the report: %s\n",
		    strerror(errno));
		rc = 1;
	}
out:
	free(s.users);
	free(s.rooms);
	free(s.room_of);
	munmap((void *)(uintptr_t)s.h, size);
	return rc;
}
