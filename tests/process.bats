#!/usr/bin/env bats
# The processes behind the protocol: the pool, deaths, limits, slow readers
# and shutdown.

load lib/chat

teardown() {
	stop_hogs
	chat_teardown
}

# start_hogs: a spinning process on every CPU; stop_hogs: gone again
HOGS=()
start_hogs() {
	local _
	for _ in $(seq "$(nproc)"); do
		_spawn /dev/null /dev/null /dev/null sh -c 'while :; do :; done'
		HOGS+=("$_SPAWNED")
	done
}
stop_hogs() {
	(( ${#HOGS[@]} == 0 )) && return 0
	kill "${HOGS[@]}" 2>/dev/null || true
	wait "${HOGS[@]}" 2>/dev/null || true
	HOGS=()
}

# pace_budget: the wake-ups a second chatd -s says paced readers may spend
pace_budget() {
	"$CHATD" -s -f "$SERVER_CONF" | awk '$1 == "pace_budget" { print $2 }'
}

# talk_until_budget OP VALUE [PAUSE]: alice talks to bob, a line at a
# time (PAUSE seconds apart), which keeps bob's reader pulling on a timer
# now and then, until chatd -s shows a budget OP VALUE (OP: '<' or '>',
# as in bash arithmetic); prints that budget.  chatd -s is asked at most
# every 250 ms, as often as the master moves the budget.  The talk itself
# is load: asked after every line, with no pause, it kept a slow
# machine's CPUs 55-70% busy, around the 65% under which the budget rises.
talk_until_budget() {
	local op=$1 value=$2 pause=${3:-0} end budget i=0 asked=0
	_deadline end $(( 3 * $(_timeout_seconds) ))
	while _before "$end"; do
		i=$(( i + 1 ))
		client_send alice "line $i"
		client_expect_exact bob "$(client_name alice): line $i" || return
		[[ $pause == 0 ]] || _nap "$pause"
		_before "$asked" && continue
		_deadline asked 0
		asked=$(( asked + 250000 ))
		budget=$(pace_budget)
		if [[ -n $budget ]] && (( budget $op value )); then
			printf '%s\n' "$budget"
			return 0
		fi
	done
	_fail "pace_budget stayed at ${budget:-nothing}, not $op $value, after $i lines"
}

# flood_room SENDER: SENDER pushes some 8 MB through its room, far more than
# the kernel buffers of a connection that does not read, then says
# "flood done".
flood_room() {
	client_send_lines "$1" 20000 "flood $(repeat x 380)"
	client_send "$1" "flood done"
}

@test "each connected client is served by one busy child of the master" {
	server_start
	for i in 1 2 3 4 5; do
		client_open "c$i"
		wait_busy_children "$i"
	done
	for i in 5 4 3 2 1; do
		client_close "c$i"
		wait_busy_children $(( i - 1 ))
	done
}

@test "a busy child killed with SIGKILL frees its name and its room is told the user left" {
	server_start
	client_open bob
	client_open_child alice
	client_kill_child alice bob
	client_send bob "/name $(client_name alice)"
	client_expect_next_exact bob "$(client_name bob) is now $(client_name alice)"
}

@test "the client of a child killed with SIGKILL is disconnected" {
	server_start
	client_open alice
	child=$(new_busy_child "")
	kill -s KILL "$child"
	client_expect_closed alice
}

@test "the server keeps serving new clients after a child is killed" {
	server_start
	client_open alice
	child=$(new_busy_child "")
	kill -s KILL "$child"
	client_open bob
	client_open carol
	client_send bob "still alive?"
	client_expect_exact carol "$(client_name bob): still alive?"
}

@test "a connection over MaxClients is told the server is full and closed" {
	server_start "MaxClients 3"
	clients_open a b c
	client_connect d
	client_expect_next_exact d "Server is full, try again later"
	client_expect_closed d
	client_send a "the three of us"
	client_expect_exact c "$(client_name a): the three of us"
}

@test "a full server serves a new client once one leaves" {
	server_start "MaxClients 3"
	clients_open a b c
	client_connect d
	client_expect_next_exact d "Server is full, try again later"
	client_close a
	client_expect_exact b "$(client_name a) left"
	# at once, no second try: the master knew the slot was free before
	# the room heard that it was
	client_open e
	client_send e "made it"
	client_expect_exact b "$(client_name e): made it"
}

@test "a full server serves a new client as soon as one's /quit has closed it" {
	server_start "MaxClients 2"
	clients_open a b
	client_connect c
	client_expect_next_exact c "Server is full, try again later"
	client_send a "/quit"
	client_expect_closed a
	client_open d
	client_send d "made it"
	client_expect_exact b "$(client_name d): made it"
}

# The master counts a session from the hand-off to the child's word that
# it ended, or to the child's death, which the child's seat in the
# segment tells it about (master.c).

@test "a full server serves a new client once a busy child is killed, and is full again after" {
	server_start "MaxClients 3"
	clients_open a b
	client_open_child c
	client_connect d
	client_expect_next_exact d "Server is full, try again later"
	client_kill_child c a
	client_open_when_served e
	client_connect f
	client_expect_next_exact f "Server is full, try again later"
}

@test "MaxClients holds after many sessions, in children that stay" {
	server_start "MaxClients 2"
	sessions_then_refused "Server is full, try again later"
}

@test "MaxClients holds after many sessions, in children that exit after one (MaxConnectionsPerChild 1)" {
	server_start "MaxClients 2" "MaxConnectionsPerChild 1"
	sessions_then_refused "Server is full, try again later"
}

# flooded_room: alice floods a RingSize 16 room that bob reads and a
# raw socket, the sleeper, never does
flooded_room() {
	server_start "RingSize 16"
	client_open alice
	client_open bob
	raw_open sleeper
	flood_room alice
}

@test "a client that never reads does not hold up the rest of the room" {
	flooded_room
	CHAT_TIMEOUT=$(( 3 * CHATD_TEST_TIMEOUT )) \
		client_expect_exact bob "$(client_name alice): flood done"
}

@test "a client that fell behind is told how many lines it missed and can still chat" {
	flooded_room
	# The sleeper wakes up and reads all it has, up to the last line.
	CHAT_TIMEOUT=$(( 3 * CHATD_TEST_TIMEOUT )) \
		raw_read_until sleeper "^$(client_name alice): flood done\$"
	notices=0
	for line in "${RAW_LINES[@]}"; do
		[[ $line == "Server is very busy"* ]] || continue
		[[ $line =~ ^Server\ is\ very\ busy\ and\ dropped\ ([0-9]+)\ messages,\ sorry!$ ]] ||
			_fail "malformed notice: $line"
		(( BASH_REMATCH[1] > 0 )) || _fail "a notice of no dropped messages: $line"
		notices=$(( notices + 1 ))
	done
	(( notices > 0 )) || _fail "no 'dropped N messages' notice in the ${#RAW_LINES[@]} lines the sleeper read"
	client_send sleeper "back again"
	client_expect_exact bob "$(client_name sleeper): back again"
	raw_read_until sleeper "^$(client_name sleeper): back again\$"
}

@test "on SIGTERM every client is told the server is shutting down, then disconnected" {
	server_start
	clients_open alice bob carol
	client_send carol "/join pizza"
	client_expect_exact carol "You joined pizza"
	server_signal TERM
	for c in alice bob carol; do
		client_expect_exact "$c" "Server is shutting down"
		client_expect_closed "$c"
	done
}

@test "on SIGTERM the master exits 0 and removes its segment" {
	server_start
	clients_open alice bob
	[[ -e /dev/shm$SERVER_SEGMENT ]] || _fail "no segment /dev/shm$SERVER_SEGMENT while running"
	server_signal TERM
	server_expect_exit 0
	server_expect_segment_removed
}

@test "on SIGTERM no chatd process outlives the master" {
	server_start
	clients_open alice bob
	server_signal TERM
	server_expect_exit 0
	server_expect_no_processes
}

@test "SIGINT shuts the server down like SIGTERM" {
	server_start
	client_open alice
	server_signal INT
	client_expect_exact alice "Server is shutting down"
	client_expect_closed alice
	server_expect_exit 0
	server_expect_segment_removed
}

# idle_children: the master's children that wait for a connection
idle_children() {
	local pid
	for pid in $(server_children); do
		[[ $(cat "/proc/$pid/comm" 2>/dev/null) == "chatd: idle" ]] &&
			echo "$pid"
	done
	return 0
}

# wait_idle_between LOW HIGH: poll until the idle children number LOW..HIGH
wait_idle_between() {
	local end=$((SECONDS + ${CHATD_TEST_TIMEOUT:-10})) n
	while :; do
		n=$(idle_children | wc -l)
		(( n >= $1 && n <= $2 )) && return 0
		if (( SECONDS > end )); then
			echo "expected $1 to $2 idle children, saw $n" >&2
			return 1
		fi
		sleep 0.1
	done
}

# The master's loop runs on a stack of its own and children are forked
# without the process's first one (master.c, master_run): 12 KiB of page
# tables a connection.  Not under AddressSanitizer, which keeps the first.
@test "a child serves without the first stack, which it is forked without" {
	grep -q __asan_init "$CHATD" && skip "the sanitized build keeps it"
	server_start
	client_open bob
	before=$(busy_children)
	client_open alice
	child=$(new_busy_child "$before")
	grep -q '\[stack\]' "/proc/$child/maps" &&
		_fail "child $child has the first stack: $(grep stack "/proc/$child/maps")"
	client_send alice "/name Alicia"
	client_expect_exact bob "$(client_name alice) is now Alicia"
	client_send alice "/users"
	client_expect alice "Users - *Alicia*"
}

# Each room has a doorbell of its own (room.c): a line in main must not
# wake a reader asleep in another room.  Each line below is sent once the
# last one has arrived, so every one of them rings main's bell; a reader
# woken by them would go to sleep again some 40 times (the process's
# voluntary context switches).
@test "a line in one room does not wake a reader asleep in another" {
	server_start
	before=$(busy_children)
	client_open carol
	child=$(new_busy_child "$before")
	client_send carol "/join quiet"
	client_expect_exact carol "You joined quiet"
	client_open bob
	client_open alice
	client_expect_exact bob "$(client_name alice) joined"
	# carol's child is asleep now, and stays so while nothing comes for it
	switches=$(proc_status "$child" voluntary_ctxt_switches)
	for i in $(seq 40); do
		client_send bob "line $i"
		client_expect_exact alice "$(client_name bob): line $i"
	done
	after=$(proc_status "$child" voluntary_ctxt_switches)
	(( after - switches < 10 )) ||
		_fail "carol's child in room quiet went to sleep $(( after - switches )) times while main had 40 lines"
	client_send carol "still here"
	client_expect_exact carol "$(client_name carol): still here"
}

# pace.c: wake-ups that carry a line or two are overhead, and while the
# CPUs are full the master spends fewer of them; once the CPUs are free it
# spends more again.
@test "paced readers get fewer wake-ups while the CPUs are full, more after" {
	server_start
	clients_open alice bob
	start=$(pace_budget)
	[[ $start == 40000 ]] || _fail "a new server's budget is '$start', not 40000"
	start_hogs
	lowered=$(talk_until_budget '<' "$start")
	stop_hogs
	talk_until_budget '>' "$lowered" 0.01 >/dev/null
}

@test "the pool keeps between MinSpare and MaxSpare idle children" {
	server_start "MinSpare 2" "MaxSpare 4"
	wait_idle_between 2 4
	clients_open a b c d e f g h
	wait_busy_children 8
	wait_idle_between 2 100
	for c in a b c d e f g h; do client_close "$c"; done
	wait_busy_children 0
	# the eight children that served are idle now: the excess is retired
	wait_idle_between 2 4
}

@test "MaxSpare 2 alone: MinSpare follows it down, and 2 idle children wait" {
	server_start "MaxSpare 2"
	wait_idle_between 2 2
	client_open alice
	client_send alice "hello"
	client_expect_exact alice "$(client_name alice): hello"
	wait_idle_between 2 2
}

@test "when the master dies, sessions go on and each child exits after its own" {
	server_start
	clients_open alice bob
	kill -s KILL "$SERVER_PID"
	wait "$SERVER_PID" 2>/dev/null || true
	client_send alice "still here"
	client_expect_exact bob "$(client_name alice): still here"
	client_send alice "/quit"
	client_expect_closed alice
	client_expect_exact bob "$(client_name alice) left"
	client_send bob "/quit"
	client_expect_closed bob
	server_expect_no_processes
	# the master cannot remove its segment any more: the test does
	rm -rf "/dev/shm$SERVER_SEGMENT" "/dev/shm$SERVER_SEGMENT.doorbells"
	SERVER_PID=
}
