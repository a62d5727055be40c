/*
 * peer.c: a client's address.  With TrustLoopback (the default) the
 * flood limits that count per address or per line (MaxClientsPerIP,
 * MaxLinesPerSecond) spare clients on this machine: local bots, tests and
 * load clients connect from loopback by the thousand and send as fast as
 * they can, and a local user can do worse than flood anyway.
 */
#include <netinet/in.h>

#include <string.h>

#include "peer.h"

int
peer_is_loopback(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;
	static const unsigned char	 mapped[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
	};

	if (ss->ss_family == AF_INET) {
		sin = (const void *)ss;
		return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss->ss_family != AF_INET6)
		return 0;
	sin6 = (const void *)ss;
	if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
		return 1;
	return memcmp(sin6->sin6_addr.s6_addr, mapped, 12) == 0 &&
	    sin6->sin6_addr.s6_addr[12] == 127;
}
