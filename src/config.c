/*
 * config.c: chatd.conf.  One "Keyword value" a line, keywords in any
 * case, '#' starts a comment.  Every setting is a row of the table below
 * with its limits, so a bad value is reported the same way everywhere:
 * "FILE:LINE: what is wrong".
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "log.h"

enum kind { NUMBER, STRING, TEXT };	/* TEXT: the rest of the line */

struct setting {
	const char	*name;
	enum kind	 kind;
	size_t		 offset;
	unsigned	 min, max;	/* NUMBER: range; STRING: max length */
};

#define NUM(n, f, lo, hi)	{ n, NUMBER, offsetof(struct config, f), lo, hi }
#define STR(n, f)		{ n, STRING, offsetof(struct config, f), 0, \
				  sizeof(((struct config *)0)->f) - 1 }
#define TEXT(n, f)		{ n, TEXT, offsetof(struct config, f), 0, \
				  sizeof(((struct config *)0)->f) - 1 }

static const struct setting settings[] = {
	STR("ListenAddress", listen_address),
	NUM("Port", port, 0, 65535),
	/* below the 76,167 generated names (names.c), with room to spare */
	NUM("MaxClients", max_clients, 1, 50000),
	NUM("MinSpare", min_spare, 1, CONFIG_SPARE_MAX),
	NUM("MaxSpare", max_spare, 1, CONFIG_SPARE_MAX),
	NUM("MaxConnectionsPerChild", max_connections_per_child, 0, 10000000),
	NUM("MaxRooms", max_rooms, 1, 65536),
	NUM("RingSize", ring_size, 16, 65536),
	NUM("MaxLineLength", max_line_length, 16, 4096),
	STR("SegmentName", segment_name),
	STR("PidFile", pid_file),
	STR("SyslogFacility", syslog_facility),
	STR("LogLevel", log_level),
	TEXT("Motd", motd),
	NUM("SendTimeout", send_timeout, 0, 86400),
	NUM("IdleTimeout", idle_timeout, 0, 604800),
	NUM("MaxLinesPerSecond", max_lines_per_second, 0, 1000000),
	NUM("LineBurst", line_burst, 1, 1000000),
	NUM("MaxClientsPerIP", max_clients_per_ip, 0, 50000),
	NUM("TrustLoopback", trust_loopback, 0, 1),
	STR("User", user),
	STR("Group", group),
};
#define NSETTINGS	(sizeof(settings) / sizeof(settings[0]))

void
config_defaults(struct config *conf)
{
	memset(conf, 0, sizeof(*conf));
	strcpy(conf->listen_address, "127.0.0.1");
	conf->port = 42069;
	conf->max_clients = 10000;
	conf->min_spare = 8;
	conf->max_spare = 32;
	conf->max_connections_per_child = 10000;
	conf->max_rooms = 1024;
	conf->ring_size = 1024;
	conf->max_line_length = 400;
	strcpy(conf->segment_name, "/chatd");
	strcpy(conf->syslog_facility, "daemon");
	strcpy(conf->log_level, "info");
	conf->send_timeout = 30;
	conf->idle_timeout = 0;
	conf->max_lines_per_second = 10;
	conf->line_burst = 20;
	conf->max_clients_per_ip = 16;
	conf->trust_loopback = 1;
	strcpy(conf->user, "nobody");
	strcpy(conf->group, "nogroup");
}

static int
parse_number(const char *s, unsigned min, unsigned max, unsigned *out)
{
	char		*end;
	unsigned long	 v;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

int
config_parse_port(const char *s, unsigned *port)
{
	return parse_number(s, 0, 65535, port);
}

static int
check_segment_name(const char *name)
{
	return name[0] == '/' && name[1] != '\0' &&
	    strchr(name + 1, '/') == NULL && strlen(name) <= 200;
}

static int
set_value(struct config *conf, const struct setting *s, const char *value,
    const char *path, int line)
{
	char	*field = (char *)conf + s->offset;

	if (s->kind == NUMBER) {
		if (parse_number(value, s->min, s->max,
		    (unsigned *)(void *)field) == -1) {
			log_plain("%s:%d: %s must be a number from %u to "
			    "%u, not \"%s\"", path, line, s->name, s->min,
			    s->max, value);
			return -1;
		}
		return 0;
	}
	if (strlen(value) > s->max) {
		log_plain("%s:%d: %s is longer than %u characters",
		    path, line, s->name, s->max);
		return -1;
	}
	strcpy(field, value);
	return 0;
}

/* Splits "Keyword value # comment" in place; 0 words: blank. */
static int
split_line(char *buf, char **words, int max)
{
	char	*p = buf;
	int	 n = 0;

	if ((p = strchr(buf, '#')) != NULL)
		*p = '\0';
	for (p = strtok(buf, " \t\r\n"); p != NULL; p = strtok(NULL, " \t\r\n")) {
		if (n == max)
			return max + 1;
		words[n++] = p;
	}
	return n;
}

/* A TEXT value: the line after its keyword, without comment or ends. */
static char *
rest_of_line(char *raw)
{
	char	*p, *end;

	if ((p = strchr(raw, '#')) != NULL)
		*p = '\0';
	p = raw + strspn(raw, " \t");
	p += strcspn(p, " \t\r\n");
	p += strspn(p, " \t");
	end = p + strlen(p);
	while (end > p && strchr(" \t\r\n", end[-1]) != NULL)
		*--end = '\0';
	return p;
}

static int
parse_line(struct config *conf, char *buf, const char *path, int line,
    int seen[])
{
	char	*words[2] = { NULL, NULL }, raw[1024];
	size_t	 i;
	int	 n;

	snprintf(raw, sizeof(raw), "%s", buf);
	n = split_line(buf, words, 2);
	if (n == 0)
		return 0;
	for (i = 0; i < NSETTINGS; i++)
		if (strcasecmp(words[0], settings[i].name) == 0)
			break;
	if (i == NSETTINGS) {
		log_plain("%s:%d: unknown setting \"%s\"", path, line,
		    words[0]);
		return -1;
	}
	if (n == 1) {
		log_plain("%s:%d: %s needs a value", path, line,
		    settings[i].name);
		return -1;
	}
	if (settings[i].kind == TEXT)
		words[1] = rest_of_line(raw);
	else if (n > 2) {
		log_plain("%s:%d: %s takes one value", path, line,
		    settings[i].name);
		return -1;
	}
	if (seen[i] != 0) {
		log_plain("%s:%d: %s is already set on line %d", path,
		    line, settings[i].name, seen[i]);
		return -1;
	}
	seen[i] = line;
	return set_value(conf, &settings[i], words[1], path, line);
}

/* The line that set a setting, 0 if it kept its default. */
static int
line_of(const int seen[], const char *name)
{
	size_t	 i;

	for (i = 0; i < NSETTINGS; i++)
		if (strcmp(settings[i].name, name) == 0)
			return seen[i];
	return 0;
}

/* Keeps TAB and line ends; drops other control bytes and every CR. */
static void
add_motd_line(struct config *conf, const char *text, size_t *len)
{
	const unsigned char	*p;

	for (p = (const unsigned char *)text; *p != '\0'; p++) {
		if ((*p < 0x20 && *p != '\t' && *p != '\n') || *p == 0x7f)
			continue;
		conf->motd_text[(*len)++] = (char)*p;
	}
	if (*len > 0 && conf->motd_text[*len - 1] != '\n')
		conf->motd_text[(*len)++] = '\n';
	conf->motd_text[*len] = '\0';
}

/*
 * Motd: the text itself, or "@FILE" for the lines of FILE, read now
 * (and again at each SIGHUP), so an unreadable file is a config error.
 */
static int
load_motd(struct config *conf, const char *path, int line)
{
	FILE	*fp;
	char	 buf[CONFIG_MOTD_MAX];
	size_t	 len = 0, n;

	conf->motd_text[0] = '\0';
	if (conf->motd[0] == '\0')
		return 0;
	if (conf->motd[0] != '@') {
		add_motd_line(conf, conf->motd, &len);
		return 0;
	}
	/* a daemon runs in /: a relative path would change meaning */
	if (conf->motd[1] != '/') {
		log_plain("%s:%d: Motd @FILE needs an absolute path, not \"%s\"",
		    path, line, conf->motd + 1);
		return -1;
	}
	if ((fp = fopen(conf->motd + 1, "r")) == NULL) {
		log_plain("%s:%d: cannot open Motd file %s: %s", path, line,
		    conf->motd + 1, strerror(errno));
		return -1;
	}
	/* a byte more than fits tells a file that is too large */
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	if (ferror(fp) || n > sizeof(buf) - 2) {
		log_plain("%s:%d: Motd file %s: %s", path, line, conf->motd + 1,
		    ferror(fp) ? "cannot read it" : "larger than 4094 bytes");
		fclose(fp);
		return -1;
	}
	fclose(fp);
	if (memchr(buf, '\0', n) != NULL) {
		log_plain("%s:%d: Motd file %s holds a NUL byte: not text",
		    path, line, conf->motd + 1);
		return -1;
	}
	buf[n] = '\0';
	add_motd_line(conf, buf, &len);
	return 0;
}

static int
check_config(struct config *conf, const char *path, const int seen[])
{
	int	 a, b;

	if (conf->pid_file[0] != '\0' && conf->pid_file[0] != '/') {
		log_plain("%s:%d: PidFile must be an absolute path, not \"%s\"",
		    path, line_of(seen, "PidFile"), conf->pid_file);
		return -1;
	}
	if (log_facility_value(conf->syslog_facility) == -1) {
		log_plain("%s:%d: SyslogFacility must be daemon, user or "
		    "local0 to local7, not \"%s\"", path,
		    line_of(seen, "SyslogFacility"), conf->syslog_facility);
		return -1;
	}
	if (log_level_value(conf->log_level) == -1) {
		log_plain("%s:%d: LogLevel must be error, warning, info or "
		    "debug, not \"%s\"", path, line_of(seen, "LogLevel"),
		    conf->log_level);
		return -1;
	}
	if (load_motd(conf, path, line_of(seen, "Motd")) == -1)
		return -1;

	if (!check_segment_name(conf->segment_name)) {
		log_plain("%s:%d: SegmentName must start with / and "
		    "contain no other /, in at most 200 characters, not "
		    "\"%s\"", path, line_of(seen, "SegmentName"),
		    conf->segment_name);
		return -1;
	}
	/* one of them given, at odds with the other's default: the one
	 * given is what was meant (MaxSpare 4 alone: MinSpare 4 too) */
	a = line_of(seen, "MinSpare");
	b = line_of(seen, "MaxSpare");
	if (conf->min_spare > conf->max_spare && a == 0)
		conf->min_spare = conf->max_spare;
	if (conf->min_spare > conf->max_spare && b == 0)
		conf->max_spare = conf->min_spare;
	if (conf->min_spare > conf->max_spare) {
		log_plain("%s:%d: MinSpare (%u) is larger than MaxSpare "
		    "(%u)", path, a > b ? a : b, conf->min_spare,
		    conf->max_spare);
		return -1;
	}
	return 0;
}

int
config_load(struct config *conf, const char *path, int must_exist)
{
	FILE	*fp;
	char	 buf[1024];
	int	 line = 0, seen[NSETTINGS] = { 0 }, rc = 0;

	if ((fp = fopen(path, "r")) == NULL) {
		if (errno == ENOENT && !must_exist)
			return 0;
		log_plain("chatd: cannot open %s: %s", path,
		    strerror(errno));
		return -1;
	}
	while (rc == 0 && fgets(buf, sizeof(buf), fp) != NULL) {
		line++;
		if (strchr(buf, '\n') == NULL && !feof(fp)) {
			log_plain("%s:%d: line too long", path, line);
			rc = -1;
			break;
		}
		rc = parse_line(conf, buf, path, line, seen);
	}
	if (rc == 0 && ferror(fp)) {
		log_plain("chatd: cannot read %s: %s", path,
		    strerror(errno));
		rc = -1;
	}
	fclose(fp);
	if (rc == 0)
		rc = check_config(conf, path, seen);
	return rc;
}

/* For SIGHUP: what changed, setting by setting, in the file's words. */
void
config_changes(const struct config *a, const struct config *b,
    void (*fn)(const char *, const char *, const char *, void *), void *arg)
{
	const char	*fa, *fb;
	char		 was[32], now[32];
	size_t		 i;

	for (i = 0; i < NSETTINGS; i++) {
		fa = (const char *)a + settings[i].offset;
		fb = (const char *)b + settings[i].offset;
		if (settings[i].kind != NUMBER) {
			if (strcmp(fa, fb) != 0)
				fn(settings[i].name, fa, fb, arg);
			continue;
		}
		if (*(const unsigned *)(const void *)fa ==
		    *(const unsigned *)(const void *)fb)
			continue;
		snprintf(was, sizeof(was), "%u", *(const unsigned *)(const void *)fa);
		snprintf(now, sizeof(now), "%u", *(const unsigned *)(const void *)fb);
		fn(settings[i].name, was, now, arg);
	}
}
