/* stat.h: chatd -s, the running server's state, read from its segment. */
#ifndef CHATD_STAT_H
#define CHATD_STAT_H

#include "config.h"

/* Prints rooms, users and counters (JSON if json); the exit status:
 * 0, or 1 when no server runs on conf's SegmentName. */
int	stat_print(const struct config *, int json);

#endif
