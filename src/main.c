/*
 * chatd: a chat server, a classic preforking Unix daemon.
 *
 * main() reads the way the man page does: options, configuration, the
 * listening socket, the shared segment and its doorbells, then the
 * master's loop (master.c), which forks the children (child.c).
 */
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "config.h"
#include "daemon.h"
#include "identity.h"
#include "log.h"
#include "master.h"
#include "notify.h"
#include "room.h"
#include "shm.h"
#include "stat.h"

/* The command line, which wins over the file, also at each SIGHUP. */
static const char	*conffile = CONFIG_DEFAULT_PATH;
static const char	*address, *port;
static int		 explicit_file, verbose;

__attribute__((noreturn))
static void
usage(void)
{
	fprintf(stderr, "usage: chatd [-dhinv] [-f file] [-l address] "
	    "[-p port]\n"
	    "       chatd -s [-j] [-f file]\n");
	exit(2);
}

static void
format_address(const struct sockaddr *sa, char *buf, size_t size)
{
	char	 host[INET6_ADDRSTRLEN] = "?";
	int	 port = 0;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		port = ntohs(sin->sin_port);
		snprintf(buf, size, "%s:%d", host, port);
	} else if (sa->sa_family == AF_UNIX) {
		const struct sockaddr_un *sun = (const void *)sa;
		snprintf(buf, size, "%.*s", (int)sizeof(sun->sun_path),
		    sun->sun_path);
	} else {
		const struct sockaddr_in6 *sin6 = (const void *)sa;
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		port = ntohs(sin6->sin6_port);
		snprintf(buf, size, "[%s]:%d", host, port);
	}
}

static int
resolve(const struct config *conf, struct addrinfo **res)
{
	struct addrinfo		 hints;
	char			 port[8];
	int			 e;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", conf->port);
	if ((e = getaddrinfo(conf->listen_address, port, &hints, res)) != 0) {
		fprintf(stderr, "chatd: cannot resolve %s %s: %s\n",
		    address != NULL ? "-l" : "ListenAddress",
		    conf->listen_address, gai_strerror(e));
		return -1;
	}
	return 0;
}

/* The first log line: where we listen, whoever made the socket. */
static void
log_listening(int fd)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);
	char			 where[128];

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		fatal("getsockname");
	format_address((struct sockaddr *)&ss, where, sizeof(where));
	log_notice("listening on %s", where);
}

/* Binds ListenAddress:Port; the first log line says where. */
static int
listen_on(const struct config *conf)
{
	struct addrinfo		*res, *ai;
	int			 fd = -1, one = 1, saved = 0;

	if (resolve(conf, &res) == -1)
		return -1;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1) {
			saved = errno;
			continue;
		}
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof(one));
		/* accepted sockets inherit it: every line goes out at once */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, SOMAXCONN) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1) {
		fprintf(stderr, "chatd: cannot bind %s:%u: %s\n",
		    conf->listen_address, conf->port, strerror(saved));
		return -1;
	}
	log_listening(fd);
	return fd;
}

/* A child needs few descriptors, but the master may accept bursts. */
static int
raise_fd_limit(void)
{
	struct rlimit	 rl;
	rlim_t		 need = 256;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		fatal("getrlimit");
	if (rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_max < need) {
		fprintf(stderr, "chatd: needs %llu open files, but the limit "
		    "is %llu (ulimit -n)\n", (unsigned long long)need,
		    (unsigned long long)rl.rlim_max);
		return -1;
	}
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		fatal("setrlimit");
	return 0;
}

/*
 * systemd's socket (Accept=no): listen on it instead of binding.  The
 * first log line names it, as for a socket of our own.
 */
static int
inherited_listener(int n)
{
	socklen_t		 len;
	int			 fd = 3, type = 0, listening = 0, one = 1, fl;

	if (n > 1) {
		log_warnx("systemd passed %d sockets; chatd listens on the "
		    "first only", n);
		if (close_range(4, (unsigned)(3 + n - 1), 0) == -1)
			fatal("close_range");
	}
	len = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1 ||
	    type != SOCK_STREAM || (len = sizeof(listening),
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len)) ==
	    -1 || !listening) {
		fprintf(stderr, "chatd: fd 3 from systemd is not a listening "
		    "stream socket (Accept=yes runs chatd -i instead)\n");
		return -1;
	}
	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1)
		fatal("cannot set up the socket from systemd");
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	log_listening(fd);
	return fd;
}

/* Standard output or error that is the client's socket: out of the way. */
static void
detach_stdio(int conn)
{
	struct stat	 c, st;
	int		 fd, null;

	if (fstat(conn, &c) == -1)
		fatal("fstat");
	for (fd = 0; fd <= 2; fd++) {
		if (fd == conn || fstat(fd, &st) == -1 ||
		    st.st_dev != c.st_dev || st.st_ino != c.st_ino)
			continue;
		if ((null = open("/dev/null", O_RDWR)) == -1)
			fatal("/dev/null");
		if (dup2(null, fd) == -1)
			fatal("dup2");
		if (null != fd)
			close(null);
	}
}

/*
 * chatd -i: the connection is standard input (inetd, systemd's
 * StandardInput=socket) or fd 3 (systemd-socket-activate --accept).
 */
__attribute__((noreturn))
static void
inetd_main(const struct config *conf, int nlisten)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);
	int			 fd = nlisten > 0 ? 3 : 0, type = 0;

	if (nlisten > 1 && close_range(4, (unsigned)(3 + nlisten - 1), 0) ==
	    -1)
		fatal("close_range");
	len = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1 ||
	    type != SOCK_STREAM || (len = sizeof(ss),
	    getpeername(fd, (struct sockaddr *)&ss, &len)) == -1) {
		fprintf(stderr, "chatd: -i wants a connected stream socket on "
		    "%s (run it from inetd or systemd)\n",
		    fd == 0 ? "standard input" : "fd 3");
		exit(1);
	}
	detach_stdio(fd);
	shm_self_set();
	child_buffers_init(conf);	/* before the segment: map_placed */
	if (doorbells_init(conf->segment_name, geteuid()) == -1 ||
	    shm_attach(conf, SHM_INETD) == -1)
		exit(1);
	shm_attach_news();
	log_share_level(&shm->log_level);
	child_inetd(conf, fd);
}

/* Reads the file over the defaults, then the command line over it. */
static int
load_config(struct config *conf)
{
	config_defaults(conf);
	if (config_load(conf, conffile, explicit_file) == -1)
		return -1;	/* config_load said what and where */
	if (address != NULL) {
		if (strlen(address) >= sizeof(conf->listen_address)) {
			log_plain("chatd: -l %s: address too long", address);
			return -1;
		}
		strcpy(conf->listen_address, address);
	}
	if (port != NULL && config_parse_port(port, &conf->port) == -1) {
		log_plain("chatd: -p %s: not a port number (0-65535)", port);
		return -1;
	}
	if (verbose)
		strcpy(conf->log_level, "debug");
	return 0;
}

/* Daemons chdir to /: a relative -f would not be found at SIGHUP. */
static void
absolute_conffile(void)
{
	char	*path;

	if (conffile[0] == '/')
		return;
	/* allocated, not a static PATH_MAX: see bell_dir in room.c */
	if ((path = realpath(conffile, NULL)) == NULL) {
		fprintf(stderr, "chatd: cannot find %s: %s\n", conffile,
		    strerror(errno));
		exit(1);
	}
	conffile = path;
}

int
main(int argc, char *argv[])
{
	struct config	*conf;
	int		 ch, debug = 0, noaction = 0, inetd = 0;
	int		 status = 0, json = 0, fd, nlisten;
	sigset_t	 mask;

	/*
	 * No brk heap: every allocation gets pages of its own from mmap(2),
	 * next to the libraries.  The master allocates little (the
	 * configuration, name lookups), but a heap it had touched was copied
	 * into every child's page tables, with one more page-table page for
	 * its 1 GiB region, 7 KiB a connection (measured), and the space
	 * after the program's data is where map_placed() puts the segment.
	 * Another allocator (AddressSanitizer's) may refuse: it only costs
	 * memory, so chatd goes on.
	 */
	(void)mallopt(M_MMAP_THRESHOLD, 0);
	/* not on main()'s stack, which children do without (master_run()),
	 * nor in .bss, whose last page every child writes */
	if ((conf = calloc(1, sizeof(*conf))) == NULL)
		fatal("cannot allocate the configuration");
	/* whatever the caller left open but systemd's sockets is not ours
	 * to pass to children */
	nlisten = listen_fds();
	if (close_range(3 + (unsigned)nlisten, ~0U, 0) == -1)
		fatal("close_range");
	config_defaults(conf);
	while ((ch = getopt(argc, argv, "df:hijl:np:sv")) != -1) {
		switch (ch) {
		case 'd':
			debug = 1;
			break;
		case 'f':
			conffile = optarg;
			explicit_file = 1;
			break;
		case 'i':
			inetd = 1;
			break;
		case 'j':
			json = 1;
			break;
		case 'l':
			address = optarg;
			break;
		case 'n':
			noaction = 1;
			break;
		case 'p':
			port = optarg;
			break;
		case 's':
			status = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || (json && !status))
		usage();
	if (address != NULL && strlen(address) >= sizeof(conf->listen_address)) {
		fprintf(stderr, "chatd: -l %s: address too long\n", address);
		exit(2);
	}
	if (port != NULL && config_parse_port(port, &conf->port) == -1) {
		fprintf(stderr, "chatd: -p %s: not a port number (0-65535)\n",
		    port);
		exit(2);
	}
	if (load_config(conf) == -1)
		exit(1);
	if (status)
		exit(stat_print(conf, json));
	/* From here a write fails, it does not kill: a log on a pipe nobody
	 * reads (chatd -d 2>&1 | head), a client gone under chatd -i; every
	 * process chatd makes inherits it.  Not for -s, above: its report
	 * piped into head ends quietly, as ls's does. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		fatal("signal");
	if (identity_resolve(conf) == -1)
		exit(1);
	if (noaction) {
		struct addrinfo *res;

		if (resolve(conf, &res) == -1)
			exit(1);
		freeaddrinfo(res);
		fprintf(stderr, "configuration OK\n");
		exit(0);
	}
	log_init(debug, log_facility_value(conf->syslog_facility),
	    log_level_value(conf->log_level));
	if (inetd) {
		identity_assume();
		inetd_main(conf, nlisten);
	}
	if (!debug)
		absolute_conffile();
	master_block_signals(&mask);

	if (raise_fd_limit() == -1)
		exit(1);
	if (!debug)
		daemon_start();
	if (conf->pid_file[0] != '\0' && pidfile_create(conf->pid_file) == -1)
		exit(1);
	if (atexit(pidfile_remove) != 0)
		fatalx("atexit");
	/* the segment first: a master that cannot have it (another runs)
	 * must not say it listens */
	shm_self_set();
	child_buffers_init(conf);	/* before the segment: map_placed */
	if (doorbells_init(conf->segment_name, identity_owner()) == -1 ||
	    shm_attach(conf, SHM_MASTER) == -1)
		exit(1);
	if (atexit(shm_remove) != 0)
		fatalx("atexit");
	fd = nlisten > 0 ? inherited_listener(nlisten) : listen_on(conf);
	if (fd == -1)
		exit(1);
	shm_attach_news();
	log_share_level(&shm->log_level);
	log_share_clock(&shm->log_gmtoff);
	identity_give(conf);
	daemon_ready();
	exit(master_run(conf, fd, load_config));
}
