# tests/robust/robust.mk: the robust-mutex stress test (tests/robust/robust.c),
# included by the GNUmakefile.  It links the very objects chatd is made
# of (all but main.o), so it tests the code that ships.
#
#   make check-robust                  a few seconds (part of make check)
#   make robust ROBUST_SECONDS=60      as long as you like

ROBUST_SECONDS	?= 30
ROBUST_CHECK_SECONDS = 3
ROBUST_LIB_OBJS	 = $(filter-out build/obj/main.o,$(OBJS))

.PHONY: robust check-robust

build/robust/robust: tests/robust/robust.c $(ROBUST_LIB_OBJS) $(HDRS)
	@mkdir -p build/robust
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(LDFLAGS) -o $@ tests/robust/robust.c \
	    $(ROBUST_LIB_OBJS) $(LDLIBS)

check-robust: build/robust/robust
	build/robust/robust -t $(ROBUST_CHECK_SECONDS) -l build/robust/chatd.log

robust: build/robust/robust
	build/robust/robust -t $(ROBUST_SECONDS) -l build/robust/chatd.log
