# tests/torture.mk: the crash-test build, included by the GNUmakefile.
#
# build/torture/chatd is chatd compiled with -DCHATD_TORTURE: flag files
# in $CHATD_TORTURE_DIR make a lock holder park, or children die at
# start-up (src/shm.c says how).  It lives in its own object directory
# and is never built by `make` alone nor installed.
#
#   make torture      tests/torture.sh: 500+ SIGKILLs while clients chat
#   make check        runs tests/crash.bats against it (CHATD_TORTURE)

TORTURE_OBJS = $(SRCS:src/%.c=build/torture/obj/%.o)

.PHONY: torture

build/torture/obj/%.o: src/%.c $(HDRS) | build/torture/obj
	$(CC) $(CPPFLAGS) -DCHATD_TORTURE $(ALL_CFLAGS) -c $< -o $@

build/torture/chatd: $(TORTURE_OBJS)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(TORTURE_OBJS) $(LDLIBS)

build/torture/obj:
	mkdir -p $@

build/torture/torture-client: tests/torture-client.c $(HDRS) | build/torture/obj
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(LDFLAGS) -o $@ tests/torture-client.c

torture: build/torture/chatd build/torture/torture-client
	CHATD_TORTURE=$(abspath build/torture/chatd) \
	    TORTURE_CLIENT=$(abspath build/torture/torture-client) \
	    tests/torture.sh

# tests/crash.bats needs the torture build in both passes of make check
check-release check-asan: build/torture/chatd
check-release check-asan: export CHATD_TORTURE = $(abspath build/torture/chatd)
