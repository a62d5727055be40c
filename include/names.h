/* names.h: the name index (unique names) and the name generator. */
#ifndef CHATD_NAMES_H
#define CHATD_NAMES_H

#include <stddef.h>

#include "shm.h"

int	name_valid(const char *, size_t);

/* The global lock is held for all of these. */
int	name_lookup(const char *);		/* slot or -1 */
void	name_insert(int slot);
void	name_remove(int slot);
void	name_generate(char [NAME_SIZE]);
void	names_rebuild(void);

/* At segment creation: the shuffled walk over adjective x animal. */
void	names_init(struct shm_header *);

#endif
