# tests/torture.mk: the crash-test build, included by the GNUmakefile.
#
# build/torture/chatd is chatd compiled with -DCHATD_TORTURE: flag files
# in $CHATD_TORTURE_DIR make a lock holder park, or children die at
# start-up (src/shm.c says how).  It lives in its own object directory
# and is never built by `make` alone nor installed.
#
#   make torture      tests/torture.sh: 1000 SIGKILLs while clients chat
#   make torture-asan the same against build/torture-asan/chatd
#   make check        runs tests/crash.bats against it, and against its
#                     sanitized twin build/torture-asan/chatd (CHATD_TORTURE)

TORTURE_OBJS = $(SRCS:src/%.c=build/torture/obj/%.o)

.PHONY: torture torture-asan

build/torture/obj/%.o: src/%.c $(HDRS) | build/torture/obj
	$(CC) $(CPPFLAGS) -DCHATD_TORTURE $(ALL_CFLAGS) -c $< -o $@

build/torture/chatd: $(TORTURE_OBJS)
	$(CC) $(ALL_CFLAGS) $(BIND_NOW) $(LDFLAGS) -o $@ $(TORTURE_OBJS) $(LDLIBS)

build/torture/obj:
	mkdir -p $@

build/torture/torture-client: tests/torture-client.c $(HDRS) | build/torture/obj
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(LDFLAGS) -o $@ tests/torture-client.c

torture: build/torture/chatd build/torture/torture-client
	CHATD_TORTURE=$(abspath build/torture/chatd) \
	    TORTURE_CLIENT=$(abspath build/torture/torture-client) \
	    tests/torture.sh

# the same rounds against the sanitized build; any report fails it
torture-asan: build/torture-asan/chatd build/torture/torture-client
	rm -rf build/torture-asan/logs && mkdir -p build/torture-asan/logs
	CHATD_TORTURE=$(abspath build/torture-asan/chatd) \
	    TORTURE_CLIENT=$(abspath build/torture/torture-client) \
	    ASAN_OPTIONS=log_path=$(abspath build/torture-asan/logs)/asan:detect_leaks=1 \
	    UBSAN_OPTIONS=log_path=$(abspath build/torture-asan/logs)/ubsan:print_stacktrace=1 \
	    tests/torture.sh
	@if [ -n "$$(ls build/torture-asan/logs)" ]; then \
	    echo "sanitizer reports:"; cat build/torture-asan/logs/*; exit 1; fi

# and its sanitized twin, for make check's ASan+UBSan pass: the repair
# paths (shm_repair, the janitor) run under the sanitizers too
TORTURE_ASAN_OBJS = $(SRCS:src/%.c=build/torture-asan/obj/%.o)

build/torture-asan/obj/%.o: src/%.c $(HDRS) | build/torture-asan/obj
	$(CC) $(CPPFLAGS) -DCHATD_TORTURE -std=c11 $(WARN) -pthread -O1 -g \
	    $(SANITIZE) -c $< -o $@

build/torture-asan/chatd: $(TORTURE_ASAN_OBJS)
	$(CC) -pthread $(SANITIZE) $(BIND_NOW) -o $@ $(TORTURE_ASAN_OBJS) $(LDLIBS)

build/torture-asan/obj:
	mkdir -p $@

# tests/crash.bats runs the torture build in both passes of make check
check-release: build/torture/chatd
check-release: export CHATD_TORTURE = $(abspath build/torture/chatd)
check-asan: build/torture-asan/chatd
check-asan: export CHATD_TORTURE = $(abspath build/torture-asan/chatd)
