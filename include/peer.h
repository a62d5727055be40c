/* peer.h: what chatd needs to know about a client's address. */
#ifndef CHATD_PEER_H
#define CHATD_PEER_H

#include <sys/socket.h>

/* 127.0.0.0/8, ::1, or ::ffff:127.0.0.0/104. */
int	peer_is_loopback(const struct sockaddr_storage *);

#endif
