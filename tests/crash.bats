#!/usr/bin/env bats
# Crashes and the promises of DESIGN.md's Processes section: the master
# stays out of the shared locks, a lock holder's death is repaired, the
# children outlive the master's death gracefully, and children that die
# at start-up do not make the master fork in a loop.
#
# These run the test build, build/torture/chatd (CHATD_TORTURE; make
# check builds it): flag files in CHATD_TORTURE_DIR make the next holder
# of a lock park there, or every child die at start-up, so a test knows
# exactly which process holds a lock.

load lib/chat

setup() {
	CHATD=${CHATD_TORTURE:-$BATS_TEST_DIRNAME/../build/torture/chatd}
	[[ -x $CHATD ]] || _fail "the torture build is missing: make build/torture/chatd (CHATD_TORTURE=$CHATD)"
	# children run as User (nobody) when the tests run as root: they must
	# reach and remove the flag files, so not under bats' private tmpdir
	export CHATD_TORTURE_DIR
	CHATD_TORTURE_DIR=$(mktemp -d /tmp/chatd-torture.XXXXXX)
	chmod 0777 "$CHATD_TORTURE_DIR"
}

teardown() {
	chat_teardown
	rm -rf "$CHATD_TORTURE_DIR"
}

# wait_log ERE: wait until the server's stderr has a line matching ERE;
# the line is in LOG_LINE.
wait_log() {
	local end
	_deadline end
	while :; do
		LOG_LINE=$(grep -a -E -m1 -- "$1" "$SERVER_LOG") && return 0
		if ! _before "$end"; then
			_fail "no line matching /$1/ in the server's stderr within $(_timeout_seconds) s:" \
				"$(tail -n 20 "$SERVER_LOG" | sed 's/^/  | /')"
			return 1
		fi
		_nap
	done
}

# park LOCK ALIAS LINE: ALIAS sends LINE and the child serving it parks
# holding LOCK (global or room); its pid is in PARKED.
park() {
	touch "$CHATD_TORTURE_DIR/park-$1"
	client_send "$2" "$3"
	wait_log "torture: pid [0-9]+ parked holding the $1 lock" || return
	PARKED=${LOG_LINE#*pid }
	PARKED=${PARKED%% *}
}

# idle_count: the master's children waiting for a connection
idle_count() {
	local pid n=0
	for pid in $(server_children); do
		[[ $(_comm "$pid") == "chatd: idle" ]] && n=$(( n + 1 ))
	done
	echo "$n"
}

@test "with the global lock held forever by a stopped child, the master still hands off, forks and stops on SIGTERM" {
	server_start "MinSpare 2" "MaxSpare 4"
	client_open alice
	park global alice "/users"
	kill -s STOP "$PARKED"
	# bob's child waits for the lock, but the master handed bob to it
	client_connect bob
	wait_busy_children 2
	# and forked spares to keep MinSpare idle
	end=$(( SECONDS + CHATD_TEST_TIMEOUT ))
	until (( $(idle_count) >= 2 )); do
		(( SECONDS < end )) || _fail "the master did not fork spares while a child held the lock"
		_nap 0.1
	done
	# the master answers SIGTERM, and kills what will not stop
	server_signal TERM
	CHAT_TIMEOUT=$(( CHATD_TEST_TIMEOUT + 10 )) server_expect_exit 0
	server_expect_segment_removed
	grep -q "killing them" "$SERVER_LOG" ||
		_fail "the master did not say it killed the stuck children"
	server_expect_no_processes
}

@test "a child killed holding the global lock: the next one repairs, and its user's name is free" {
	server_start
	client_open alice
	client_open bob
	park global alice "/rooms"
	# carol's child blocks on the lock until alice's dies
	client_connect carol
	kill -s KILL "$PARKED"
	_client_greeted carol
	wait_log "repairing shared state after pid $PARKED died holding the lock"
	client_expect_exact bob "$(client_name alice) left"
	client_send carol "/name $(client_name alice)"
	client_expect_exact carol "$(client_name carol) is now $(client_name alice)"
	client_send bob "/users"
	client_expect_exact bob "Users - $(printf '%s\n' "$(client_name alice)" "$(client_name bob)" | sort | paste -sd, | sed 's/,/, /g')"
}

@test "a child killed holding a room lock: the room is repaired and chat goes on" {
	server_start
	client_open alice
	client_open bob
	park room alice "hello"
	kill -s KILL "$PARKED"
	# the janitor, telling main that alice left, is the next poster
	wait_log "repairing room 0 after a process died holding its lock"
	client_expect_exact bob "$(client_name alice) left"
	client_send bob "still here"
	client_expect_exact bob "$(client_name bob): still here"
	client_open carol
	client_send carol "hi"
	client_expect_exact bob "$(client_name carol): hi"
}

@test "when the master dies, idle children exit, and sessions go on to their end" {
	server_start "MinSpare 3"
	clients_open alice bob
	end=$(( SECONDS + CHATD_TEST_TIMEOUT ))
	until (( $(idle_count) >= 3 )); do
		(( SECONDS < end )) || _fail "the pool never had 3 idle children"
		_nap 0.1
	done
	busy=$(busy_children)
	kill -s KILL "$SERVER_PID"
	wait "$SERVER_PID" 2>/dev/null || true
	# the idle ones notice at once; the two busy ones go on
	end=$(( SECONDS + CHATD_TEST_TIMEOUT ))
	while left=$(server_processes | wc -l); (( left != 2 )); do
		(( SECONDS < end )) || _fail "expected the 2 busy children alone, saw $left processes"
		_nap 0.1
	done
	for pid in $(server_processes); do
		[[ $busy == *"$pid"* ]] || _fail "process $pid is not one of the busy children: $busy"
	done
	client_send bob "/join pizza"
	client_expect_exact bob "You joined pizza"
	client_send alice "/join pizza"
	client_expect_exact bob "$(client_name alice) joined"
	client_send alice "the master is gone"
	client_expect_exact bob "$(client_name alice): the master is gone"
	client_send alice "/quit"
	client_expect_closed alice
	client_send bob "/quit"
	client_expect_closed bob
	server_expect_no_processes
	rm -rf "/dev/shm$SERVER_SEGMENT" "/dev/shm$SERVER_SEGMENT.doorbells"
	SERVER_PID=
}

@test "children that die at start-up make the master back off, not fork in a loop" {
	touch "$CHATD_TORTURE_DIR/die-at-start"
	server_start "MinSpare 2" "MaxSpare 4"
	wait_log "died before it was ready; forking again in 4 s"
	rm "$CHATD_TORTURE_DIR/die-at-start"
	# the backlog waits out the back-off, then is served
	CHAT_TIMEOUT=$(( CHATD_TEST_TIMEOUT + 30 )) client_open alice
	client_send alice "served"
	client_expect_exact alice "$(client_name alice): served"
	wait_log "forking again in 2 s"
	deaths=$(grep -c "dying at start-up" "$SERVER_LOG")
	(( deaths == 2 )) ||
		_fail "expected the first 2 children alone to die (MinSpare 2), $deaths did: the master forked during its back-off"
}

@test "when fork fails, the master says so once, turns clients away at once, and recovers" {
	touch "$CHATD_TORTURE_DIR/fork-fails"
	server_start "MinSpare 2" "MaxSpare 4"
	wait_log "cannot fork a child: Resource temporarily unavailable \\(0 busy, 0 idle\\); trying again every second"
	# no child, none to be had: told at once, not left in the queue
	client_connect dave
	client_expect_next_exact dave "Server is full, try again later"
	client_expect_closed dave
	rm "$CHATD_TORTURE_DIR/fork-fails"
	wait_log "forking works again, after [0-9]+ failures; [1-9][0-9]* connections were turned away meanwhile"
	client_open_when_served erin
	client_send erin "back"
	client_expect_exact erin "$(client_name erin): back"
	failures=$(grep -c "cannot fork a child" "$SERVER_LOG")
	(( failures == 1 )) ||
		_fail "expected the fork failure logged once, it was logged $failures times"
}

# usr1_until ERE: SIGUSR1 the master until it logs a line matching ERE,
# among the lines it logs from now on.
usr1_until() {
	local end seen
	seen=$(wc -l <"$SERVER_LOG")
	_deadline end
	while :; do
		server_signal USR1
		tail -n "+$(( seen + 1 ))" "$SERVER_LOG" | grep -a -q -E -- "$1" &&
			return 0
		if ! _before "$end"; then
			_fail "the master never logged /$1/ on SIGUSR1:" \
				"$(grep -a 'SIGUSR1: children' "$SERVER_LOG" | tail -n 3 | sed 's/^/  | /')"
			return 1
		fi
		_nap 0.1
	done
}

# sighup_pending PID: wait until the stopped process PID has a SIGHUP
# pending (bit 0 of ShdPnd in /proc/PID/status).
sighup_pending() {
	local end mask
	_deadline end
	while :; do
		mask=$(proc_status "$1" ShdPnd 2>/dev/null)
		[[ -n $mask ]] && (( 16#$mask & 1 )) && return 0
		if ! _before "$end"; then
			_fail "process $1 never got the master's SIGHUP (ShdPnd ${mask:-unreadable})"
			return 1
		fi
		_nap
	done
}

@test "connections queued for the pool when its children exit still count against MaxClients" {
	# three slots, and MaxClients lowered to 2 below: the master's count
	# of sessions, not the segment, turns the third client away
	server_start "MaxClients 3" "MinSpare 2" "MaxSpare 2"
	usr1_until '^SIGUSR1: children: 2 idle, 0 busy, 0 starting'
	# the idle children cannot take anything, and none can be forked
	local idle pid
	idle=$(server_children)
	for pid in $idle; do kill -s STOP "$pid"; done
	touch "$CHATD_TORTURE_DIR/fork-fails"
	client_connect alice
	client_connect bob
	usr1_until '^SIGUSR1: children: 0 idle, 2 busy'
	# both hand-offs wait in the pool's socket while every child leaves
	sed -i 's/^MaxClients 3$/MaxClients 2/' "$SERVER_CONF"
	printf 'Motd replaced\n' >>"$SERVER_CONF"
	server_signal HUP
	for pid in $idle; do sighup_pending "$pid"; done
	for pid in $idle; do kill -s CONT "$pid"; done
	for pid in $idle; do
		_wait_gone "$pid" || _fail "idle child $pid outlived the SIGHUP"
	done
	rm "$CHATD_TORTURE_DIR/fork-fails"
	# new children take the two, and the server is full
	_client_greeted alice
	_client_greeted bob
	client_connect carol
	client_expect_next_exact carol "Server is full, try again later"
	client_expect_closed carol
	usr1_until '^SIGUSR1: children: [0-9]+ idle, 2 busy'
	client_send alice "still served"
	client_expect_exact alice "$(client_name alice): still served"
}
