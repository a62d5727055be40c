# tests/fuzz/fuzz.mk: the fuzz harness for the line and command layer
# (tests/fuzz/harness.c says what it checks).  Included by GNUmakefile.
#
#   make fuzz         libFuzzer (clang) for FUZZ_SECONDS on the seed corpus;
#                     findings land in build/fuzz/ as crash-* files: copy
#                     them to tests/fuzz/regressions/ once fixed
#   make check-fuzz   every file of tests/fuzz/corpus and regressions
#                     through the same harness, built with $(CC), ASan and
#                     UBSan, no libFuzzer (part of make check)
#
# Only proto.c and cmd.c are under test; names.c and room.c give the
# validity checks cmd.c calls.  Their other functions need the shared
# segment and are dropped by --gc-sections, so they are compiled without
# coverage, whose tables would keep them.

FUZZ_SECONDS ?= 60
FUZZ_CC	?= clang
FUZZ_UNITS = src/proto.c src/cmd.c
FUZZ_DEPS = src/names.c src/room.c
FUZZ_FLAGS = $(CPPFLAGS) -std=c11 $(WARN) -g -O1 -ffunction-sections \
	-fdata-sections -fno-omit-frame-pointer \
	-fsanitize=address,undefined -fno-sanitize-recover=undefined

.PHONY: fuzz check-fuzz

FUZZ_UNIT_OBJS = $(FUZZ_UNITS:src/%.c=build/fuzz/obj/%.o)
FUZZ_COVERED = build/fuzz/obj/harness.o $(FUZZ_UNIT_OBJS)
FUZZ_PLAIN = $(FUZZ_DEPS:src/%.c=build/fuzz/obj/%.o)

build/fuzz/obj/harness.o: tests/fuzz/harness.c $(HDRS) | build/fuzz/obj
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_UNIT_OBJS): build/fuzz/obj/%.o: src/%.c $(HDRS) | build/fuzz/obj
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_PLAIN): build/fuzz/obj/%.o: src/%.c $(HDRS) | build/fuzz/obj
	$(FUZZ_CC) $(FUZZ_FLAGS) -c $< -o $@

build/fuzz/chatd-fuzz: $(FUZZ_COVERED) $(FUZZ_PLAIN)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -Wl,--gc-sections -o $@ \
	    $(FUZZ_COVERED) $(FUZZ_PLAIN)

build/fuzz/replay: tests/fuzz/replay.c tests/fuzz/harness.c $(FUZZ_UNITS) \
    $(FUZZ_DEPS) $(HDRS) | build/fuzz/obj
	$(CC) $(FUZZ_FLAGS) -Wl,--gc-sections -o $@ tests/fuzz/replay.c \
	    tests/fuzz/harness.c $(FUZZ_UNITS) $(FUZZ_DEPS)

build/fuzz/obj build/fuzz/corpus:
	mkdir -p $@

# new inputs go to build/fuzz/corpus, the seeds stay as they are; one
# process, niced, and a small ASan quarantine: the machine is shared
fuzz: build/fuzz/chatd-fuzz | build/fuzz/corpus
	ASAN_OPTIONS=quarantine_size_mb=16 \
	nice build/fuzz/chatd-fuzz -max_total_time=$(FUZZ_SECONDS) \
	    -dict=tests/fuzz/chatd.dict -artifact_prefix=build/fuzz/ \
	    -print_final_stats=1 build/fuzz/corpus tests/fuzz/corpus

check-fuzz: build/fuzz/replay
	@build/fuzz/replay tests/fuzz/corpus tests/fuzz/regressions \
	    2>build/fuzz/replay.log || { tail -n 60 build/fuzz/replay.log; \
	    exit 1; }
