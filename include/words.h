/* words.h: the word lists generated names are made of. */
#ifndef CHATD_WORDS_H
#define CHATD_WORDS_H

#include <stddef.h>

extern const char *const	adjectives[];
extern const size_t		nadjectives;
extern const char *const	animals[];
extern const size_t		nanimals;

#endif
