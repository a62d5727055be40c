/*
 * identity.c: who serves clients.
 *
 * Started as root, the master binds, creates the segment and its
 * doorbells and gives them to User and Group; then each process that
 * serves clients (every pool child as it starts, chatd -i before it opens
 * anything) becomes User and Group for good: supplementary groups, all
 * three gids and uids, and a check that root cannot be had back.  The
 * master itself, which never reads a client's byte, stays root, as
 * Apache's and Postfix's masters do: it must re-read a configuration
 * only root may read at SIGHUP, remove its PidFile from /run and its
 * segment, and fork children it can then drop.  Started as anyone else,
 * chatd stays who it is and User and Group are not used.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <unistd.h>

#include "identity.h"
#include "log.h"
#include "room.h"

static struct {
	int	 change;	/* started as root */
	uid_t	 uid;
	gid_t	 gid;
	char	 user[64], group[64];
} id;

int
identity_resolve(const struct config *conf)
{
	struct passwd	*pw;
	struct group	*gr;

	memset(&id, 0, sizeof(id));
	if (getuid() != 0 && geteuid() != 0)
		return 0;
	id.change = 1;
	errno = 0;
	if ((pw = getpwnam(conf->user)) == NULL) {
		fprintf(stderr, "chatd: User %s: %s\n", conf->user,
		    errno != 0 ? strerror(errno) : "no such user");
		return -1;
	}
	if (pw->pw_uid == 0) {
		fprintf(stderr, "chatd: User %s has uid 0: chatd does not "
		    "serve clients as root; set User to an unprivileged "
		    "user\n", conf->user);
		return -1;
	}
	errno = 0;
	if ((gr = getgrnam(conf->group)) == NULL) {
		fprintf(stderr, "chatd: Group %s: %s\n", conf->group,
		    errno != 0 ? strerror(errno) : "no such group");
		return -1;
	}
	if (gr->gr_gid == 0) {
		fprintf(stderr, "chatd: Group %s has gid 0: chatd does not "
		    "serve clients with root's group; set Group to an "
		    "unprivileged group\n", conf->group);
		return -1;
	}
	id.uid = pw->pw_uid;
	id.gid = gr->gr_gid;
	snprintf(id.user, sizeof(id.user), "%s", conf->user);
	snprintf(id.group, sizeof(id.group), "%s", conf->group);
	return 0;
}

uid_t
identity_owner(void)
{
	return id.change ? id.uid : geteuid();
}

void
identity_give(const struct config *conf)
{
	int	 fd;

	if (!id.change)
		return;
	if ((fd = shm_open(conf->segment_name, O_RDWR, 0)) == -1)
		fatal("cannot open segment %s to give it to user %s",
		    conf->segment_name, id.user);
	if (fchown(fd, id.uid, id.gid) == -1)
		fatal("cannot give segment %s to user %s",
		    conf->segment_name, id.user);
	close(fd);
	doorbells_give(id.uid, id.gid);
	log_info("children serve as user %s, group %s", id.user, id.group);
}

void
identity_assume(void)
{
	if (!id.change)
		return;
	if (setgroups(1, &id.gid) == -1)
		fatal("cannot set the supplementary groups to %s", id.group);
	if (setresgid(id.gid, id.gid, id.gid) == -1)
		fatal("cannot change group to %s", id.group);
	if (setresuid(id.uid, id.uid, id.uid) == -1)
		fatal("cannot change user to %s", id.user);
	if (setuid(0) != -1 || seteuid(0) != -1 || getuid() != id.uid ||
	    geteuid() != id.uid || getgid() != id.gid ||
	    getegid() != id.gid)
		fatalx("still able to become root after changing to user %s",
		    id.user);
}
