/* identity.h: who chatd serves clients as (User, Group). */
#ifndef CHATD_IDENTITY_H
#define CHATD_IDENTITY_H

#include <sys/types.h>

#include "config.h"

/* Started as root: looks up User and Group, refusing uid or gid 0. */
int	identity_resolve(const struct config *);
/* The uid the segment and doorbells belong to once given. */
uid_t	identity_owner(void);
/* The segment and its doorbells become User's (mode 0600 kept). */
void	identity_give(const struct config *);
/* Becomes User and Group for good; a no-op unless started as root. */
void	identity_assume(void);

#endif
