/*
 * names.c: which names are taken, and new names for new users.
 *
 * The index is open addressing with linear probing over the slots
 * (int32 slot numbers, -1 empty), at most half full, deleted entries
 * shifted back so no tombstones pile up.  The slots' names are the
 * truth; names_rebuild() makes the index again from them.
 *
 * Generated names walk every adjective x animal pair in a shuffled order:
 * pair number (start + counter * step) mod pairs, with step coprime to
 * the number of pairs, so the walk visits each pair once before it comes
 * round again.  A pair someone took with /name is passed over; at most
 * MaxClients of them can be, so this never hunts for long.
 */
#include <sys/random.h>

#include <ctype.h>
#include <string.h>

#include "log.h"
#include "names.h"
#include "words.h"

int
name_valid(const char *s, size_t len)
{
	size_t	 i;

	if (len < NAME_MIN_LEN || len > NAME_MAX_LEN)
		return 0;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
			return 0;
	return 1;
}

static uint32_t
name_hash(const char *s)
{
	uint32_t	 h = 2166136261u;	/* FNV-1a */

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

int
name_lookup(const char *name)
{
	int32_t		*index = shm_names();
	uint32_t	 mask = shm->name_index_size - 1;
	uint32_t	 i;

	for (i = name_hash(name) & mask; index[i] != -1; i = (i + 1) & mask)
		if (strcmp(shm_slot(index[i])->name, name) == 0)
			return index[i];
	return -1;
}

void
name_insert(int slot)
{
	int32_t		*index = shm_names();
	uint32_t	 mask = shm->name_index_size - 1;
	uint32_t	 i;

	i = name_hash(shm_slot(slot)->name) & mask;
	while (index[i] != -1)
		i = (i + 1) & mask;
	index[i] = slot;
}

/* Removes slot's entry and shifts later entries of its run back. */
void
name_remove(int slot)
{
	int32_t		*index = shm_names();
	uint32_t	 mask = shm->name_index_size - 1;
	uint32_t	 i, j, home;

	for (i = name_hash(shm_slot(slot)->name) & mask; index[i] != slot;
	    i = (i + 1) & mask)
		if (index[i] == -1)
			return;		/* never inserted: nothing to do */
	for (j = (i + 1) & mask; index[j] != -1; j = (j + 1) & mask) {
		home = name_hash(shm_slot(index[j])->name) & mask;
		/* move j back to i unless its home lies cyclically in (i, j] */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			index[i] = index[j];
			i = j;
		}
	}
	index[i] = -1;
}

/*
 * Live slots first, then dead ones.  A holder killed while copying a new
 * name into its slot can leave there, half new and half old, the name of
 * a live user; indexed first, the dead slot would take that name, and the
 * janitor freeing it would then free the live user's name too.
 */
void
names_rebuild(void)
{
	int32_t		*index = shm_names();
	uint32_t	 i, pass;

	for (i = 0; i < shm->name_index_size; i++)
		index[i] = -1;
	for (pass = SLOT_ACTIVE; pass <= SLOT_DEAD; pass++)
		for (i = 0; i < shm->max_clients; i++)
			if (atomic_load(&shm_slot(i)->state) == pass &&
			    shm_slot(i)->name[0] != '\0' &&
			    name_lookup(shm_slot(i)->name) == -1)
				name_insert((int)i);
}

static uint64_t
gcd(uint64_t a, uint64_t b)
{
	while (b != 0) {
		uint64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

void
names_init(struct shm_header *h)
{
	uint64_t	 pairs = (uint64_t)nadjectives * nanimals;
	uint64_t	 r[2];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		fatal("cannot get random bytes for the name generator");
	h->name_start = r[0] % pairs;
	h->name_step = r[1] % pairs;
	while (h->name_step < 2 || gcd(h->name_step, pairs) != 1)
		h->name_step = (h->name_step + 1) % pairs;
	h->name_counter = 0;
}

static void
pair_name(uint64_t pair, char out[NAME_SIZE])
{
	const char	*adjective = adjectives[pair / nanimals];
	const char	*animal = animals[pair % nanimals];
	size_t		 a = strlen(adjective);

	memcpy(out, adjective, a);
	strcpy(out + a, animal);
	out[0] = (char)toupper((unsigned char)out[0]);
	out[a] = (char)toupper((unsigned char)out[a]);
}

void
name_generate(char out[NAME_SIZE])
{
	uint64_t	 pairs = (uint64_t)nadjectives * nanimals;
	uint64_t	 pair;

	do {
		pair = (shm->name_start + shm->name_counter * shm->name_step) %
		    pairs;
		shm->name_counter = (shm->name_counter + 1) % pairs;
		pair_name(pair, out);
	} while (name_lookup(out) != -1);
}
