#!/usr/bin/env bats
# The other ways in: systemd socket activation (Accept=no and Accept=yes),
# inetd (chatd -i), readiness for Type=notify, and all of them sharing one
# segment with a standalone master.

load lib/chat

declare -ga LAUNCHERS=()	# systemd-socket-activate and inetd, to stop

teardown() {
	local pid ppid
	# clients first, so every chatd -i ends its session and exits by
	# itself (a sanitized one checks for leaks on the way out, and must
	# not be killed while it does)
	_clients_kill_all
	for pid in $(server_processes); do
		read -r ppid 2>/dev/null < <(ps -o ppid= -p "$pid") || continue
		[[ $pid == "${SERVER_PID:-}" || $ppid == "${SERVER_PID:-}" ]] && continue
		_wait_gone "$pid" || true
	done
	for pid in "${LAUNCHERS[@]}"; do
		kill -s TERM "$pid" 2>/dev/null || true
		_wait_gone "$pid" || kill -s KILL "$pid" 2>/dev/null || true
	done
	chat_teardown
	# nobody removes a segment chatd -i sessions made: the test does
	if [[ -n $SERVER_SEGMENT ]]; then
		rm -rf "/dev/shm$SERVER_SEGMENT" "/dev/shm$SERVER_SEGMENT.doorbells"
	fi
}

# free_port: a loopback port no TCP socket uses now, in any state.  It
# is taken below the kernel's ephemeral range when there is room there:
# a port some client's connect() was given (the suite makes thousands)
# cannot be bound, and could be given out between this check and the
# bind.
free_port() {
	local port i low base=20000 span=30000
	read -r low _ </proc/sys/net/ipv4/ip_local_port_range
	if (( low - 10000 >= 1024 )); then
		base=$(( low - 10000 )) span=10000
	fi
	for i in {1..100}; do
		port=$(( base + RANDOM % span ))
		if [[ -z $(ss -Htan "sport = :$port") ]]; then
			printf '%s\n' "$port"
			return 0
		fi
	done
	_fail "no free port found"
}

# wait_listen PORT PID: until something listens on 127.0.0.1:PORT.
wait_listen() {
	local end
	_deadline end
	while [[ -z $(ss -Htln "sport = :$1") ]]; do
		_alive "$2" || _fail "the launcher on port $1 exited:" \
			"$(cat "$BATS_TEST_TMPDIR"/launcher.* 2>/dev/null)" || return
		_before "$end" || _fail "nothing listens on port $1" || return
		_nap
	done
}

# segment_only: a config and a fresh segment name, with no master.
segment_only() {
	SERVER_SEGMENT=/chatd-test-$$-${BATS_TEST_NUMBER}-inetd-$RANDOM
	SERVER_CONF=$BATS_TEST_TMPDIR/chatd.conf
	printf 'SegmentName %s\n' "$SERVER_SEGMENT" >"$SERVER_CONF"
}

# accept_yes [--inetd]: systemd-socket-activate --accept running chatd -i
# for each connection (the connection as fd 3, or with --inetd as standard
# input and output), on a free port it sets in ACCEPT_PORT.
accept_yes() {
	local log=$BATS_TEST_TMPDIR/launcher.$RANDOM
	ACCEPT_PORT=$(free_port) || return
	_spawn /dev/null /dev/null "$log" systemd-socket-activate --accept \
		"$@" -l "127.0.0.1:$ACCEPT_PORT" "$CHATD" -i -d -f "$SERVER_CONF"
	LAUNCHERS+=("$_SPAWNED")
	wait_listen "$ACCEPT_PORT" "$_SPAWNED"
}

# real_inetd: Debian's openbsd-inetd running chatd -i, port in INETD_PORT.
real_inetd() {
	local conf=$BATS_TEST_TMPDIR/inetd.conf log=$BATS_TEST_TMPDIR/launcher.inetd
	INETD_PORT=$(free_port) || return
	printf '127.0.0.1:%s stream tcp nowait %s %s chatd -i -f %s\n' \
		"$INETD_PORT" "$(id -un)" "$CHATD" "$SERVER_CONF" >"$conf"
	_spawn /dev/null /dev/null "$log" /usr/sbin/inetd -d -i -E "$conf"
	LAUNCHERS+=("$_SPAWNED")
	wait_listen "$INETD_PORT" "$_SPAWNED"
}

# inetd_pid ALIAS: the chatd -i process serving that client: the one whose
# socket's peer is the client's nc.
inetd_pid() {
	local pid
	pid=$(ss -Htnp state established "dport = :${CLIENT_PORT[$1]}" 2>/dev/null |
		grep -v "pid=${CLIENT_PID[$1]}," | grep -o 'pid=[0-9]*' | head -n1)
	printf '%s\n' "${pid#pid=}"
}

# open_on PORT ALIAS: client_open through that port; CLIENT_PORT[ALIAS] is
# the client's own port.
declare -gA CLIENT_PORT=()
open_on() {
	local port
	PORT=$1
	client_open "$2" || return
	port=$(ss -Htnp state established "dport = :$1" |
		grep "pid=${CLIENT_PID[$2]}," | awk '{print $3}')
	CLIENT_PORT[$2]=${port##*:}
}

# accept_no NAME [COMMAND...]: systemd-socket-activate listening on a free
# port, which it sets in PORT, to run chatd -d (through COMMAND, which must
# exec it) as a socket-activated service; the launcher's and chatd's
# stderr in launcher.NAME, which is SERVER_LOG.
accept_no() {
	local name=$1 port
	shift
	port=$(free_port) || return
	# systemd-socket-activate listens, and execs chatd (same pid) when the
	# first connection comes, as systemd starts a socket-activated service
	SERVER_LOG=$BATS_TEST_TMPDIR/launcher.$name
	_spawn /dev/null /dev/null "$SERVER_LOG" \
		systemd-socket-activate -l "127.0.0.1:$port" \
		"$@" "$CHATD" -d -f "$SERVER_CONF"
	SERVER_PID=$_SPAWNED
	SERVER_STOPPING=0
	wait_listen "$port" "$SERVER_PID"
	PORT=$port
}

@test "Accept=no: chatd listens on the socket systemd passes as fd 3" {
	local port
	segment_only
	accept_no noaccept
	port=$PORT
	client_open alice
	PORT=$(server_wait_listening)
	[[ $PORT == "$port" ]] || _fail "chatd listens on $PORT, not on systemd's $port"
	client_open bob
	client_send alice "through systemd"
	client_expect_exact bob "$(client_name alice): through systemd"
	server_stop
}

@test "a log on a pipe nobody reads does not stop chatd: a write fails, it does not kill" {
	segment_only
	# stderr is a pipe whose reader is gone before chatd starts (chatd -d
	# 2>&1 | head, once head has its line), so its very first log line
	# meets EPIPE; systemd's socket says the port instead of the log
	accept_no deadpipe perl -e 'pipe(my $r, my $w) or die; close $r;
		open(STDERR, ">&", $w) or die; exec { $ARGV[0] } @ARGV or die'
	client_open alice
	client_open bob
	client_send alice "still here"
	client_expect_exact bob "$(client_name alice): still here"
	_alive "$SERVER_PID" || _fail "the master died"
}

@test "LISTEN_FDS meant for another process is ignored" {
	SERVER_WRAP=(env LISTEN_PID=1 LISTEN_FDS=1)
	server_start
	client_open alice
}

@test "fd 3 that is not a listening socket is refused with a reason" {
	segment_only
	run bash -c 'exec 3</dev/null; LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" -d -f "$1"' \
		"$CHATD" "$SERVER_CONF"
	assert_status 1
	assert_output_contains "fd 3 from systemd is not a listening stream socket"
}

@test "Type=notify: READY=1 once the pool is up, STOPPING=1 on the way out" {
	# an abstract socket: the master, no longer root by then, may write
	# to it whatever the test directory's permissions
	local sock=@chatd-test-notify-$$-$RANDOM out=$BATS_TEST_TMPDIR/notify.out end
	_spawn /dev/null "$out" /dev/null perl -MSocket -e '
		socket(my $s, PF_UNIX, SOCK_DGRAM, 0) or die "socket: $!";
		(my $name = $ARGV[0]) =~ s/^@/\0/;
		bind($s, pack_sockaddr_un($name)) or die "bind: $!";
		$| = 1;
		print "listening\n";
		while (defined(recv($s, my $m, 4096, 0))) { print "$m\n" }' "$sock"
	LAUNCHERS+=("$_SPAWNED")
	_deadline end
	until grep -qx listening "$out"; do _before "$end" || _fail "no notify socket"; _nap; done
	SERVER_WRAP=(env NOTIFY_SOCKET="$sock")
	server_start "MinSpare 3"
	_deadline end
	until grep -qx 'READY=1' "$out"; do
		_before "$end" || _fail "no READY=1 on NOTIFY_SOCKET: $(cat "$out")"
		_nap
	done
	# ready means served: the pool's first children said READY
	(( $(server_children | wc -l) >= 3 )) || _fail "READY=1 before the pool was up"
	client_open alice
	server_stop
	grep -qx 'STOPPING=1' "$out" || _fail "no STOPPING=1: $(cat "$out")"
}

@test "Accept=yes: each connection is a chatd -i on fd 3, and they share rooms" {
	segment_only
	accept_yes
	open_on "$ACCEPT_PORT" alice
	open_on "$ACCEPT_PORT" bob
	[[ $(inetd_pid alice) != "$(inetd_pid bob)" ]] || _fail "one process serves both"
	client_send alice "hello bob"
	client_expect_exact bob "$(client_name alice): hello bob"
	client_send bob "/users"
	client_expect_exact bob "Users - $(printf '%s\n' "$(client_name alice)" "$(client_name bob)" | LC_ALL=C sort | paste -sd, | sed 's/,/, /g')"
	client_send alice "/join den"
	client_expect_exact alice "You joined den"
	client_send bob "/rooms"
	client_expect bob "Rooms - *den (1)*"
	client_send bob "/join den"
	client_expect_exact alice "$(client_name bob) joined"
	client_send bob "/quit"
	client_expect_closed bob
	client_expect_exact alice "$(client_name bob) left"
}

@test "inetd protocol (standard input) through systemd-socket-activate --inetd" {
	segment_only
	accept_yes --inetd
	open_on "$ACCEPT_PORT" alice
	open_on "$ACCEPT_PORT" bob
	client_send bob "on stdin"
	client_expect_exact alice "$(client_name bob): on stdin"
	client_send alice "/quit"
	client_expect_closed alice
	client_expect_exact bob "$(client_name alice) left"
}

@test "a real inetd (openbsd-inetd) runs chatd -i" {
	[[ -x /usr/sbin/inetd ]] || skip "openbsd-inetd is not installed (.ci/run installs it)"
	segment_only
	real_inetd
	open_on "$INETD_PORT" alice
	open_on "$INETD_PORT" bob
	client_send alice "via inetd"
	client_expect_exact bob "$(client_name alice): via inetd"
	client_send bob "/name alicefan"
	client_expect_exact alice "$(client_name bob) is now alicefan"
}

@test "standalone, Accept=yes, --inetd and inetd users all meet in one room" {
	server_start
	accept_yes
	local yes_port=$ACCEPT_PORT
	accept_yes --inetd
	open_on "$PORT" master_user
	open_on "$yes_port" yes_user
	open_on "$ACCEPT_PORT" stdin_user
	local all=(master_user yes_user stdin_user)
	if [[ -x /usr/sbin/inetd ]]; then
		real_inetd
		open_on "$INETD_PORT" inetd_user
		all+=(inetd_user)
	fi
	local from to
	for from in "${all[@]}"; do
		client_send "$from" "hi from $from"
		for to in "${all[@]}"; do
			[[ $to == "$from" ]] && continue
			client_expect_exact "$to" "$(client_name "$from"): hi from $from"
		done
	done
	client_send master_user "/users"
	client_expect master_user "Users - *$(client_name stdin_user)*"
}

@test "a chatd -i killed by SIGKILL: the others see it leave, its name is free" {
	segment_only
	accept_yes
	open_on "$ACCEPT_PORT" alice
	open_on "$ACCEPT_PORT" bob
	local pid name
	pid=$(inetd_pid alice)
	name=$(client_name alice)
	[[ -n $pid ]] || _fail "cannot find alice's chatd -i"
	kill -s KILL "$pid"
	client_expect_exact bob "$name left"
	client_send bob "/name $name"
	client_expect_exact bob "$(client_name bob) is now $name"
}

@test "a chatd -i killed by SIGKILL: a pool session that says nothing still sees it leave" {
	server_start
	local master_port=$PORT pid name
	accept_yes
	open_on "$master_port" bob
	open_on "$ACCEPT_PORT" alice
	pid=$(inetd_pid alice)
	name=$(client_name alice)
	[[ -n $pid ]] || _fail "cannot find alice's chatd -i"
	client_expect_exact bob "$name joined"
	kill -s KILL "$pid"
	# nobody takes the lock here but the janitor the master sends
	client_expect_exact bob "$name left"
}

@test "a master adopts a segment chatd -i sessions use, and leaves it to them" {
	segment_only
	accept_yes
	open_on "$ACCEPT_PORT" alice
	CHAT_SEGMENT=$SERVER_SEGMENT server_start
	grep -q "adopting segment $SERVER_SEGMENT: 1 sessions" "$SERVER_LOG" ||
		_fail "no adoption logged: $(cat "$SERVER_LOG")"
	open_on "$PORT" bob
	client_send bob "hi alice"
	client_expect_exact alice "$(client_name bob): hi alice"
	client_send bob "/quit"
	client_expect_closed bob
	server_signal TERM
	server_expect_exit 0
	[[ -e /dev/shm$SERVER_SEGMENT ]] || _fail "the master removed a segment alice still uses"
	grep -q "leaving segment $SERVER_SEGMENT to 1 sessions" "$SERVER_LOG" ||
		_fail "no hand-over logged: $(cat "$SERVER_LOG")"
	client_send alice "/users"
	client_expect_exact alice "Users - $(client_name alice)"
}

@test "a master refuses a segment of other sizes that chatd -i sessions use" {
	segment_only
	accept_yes
	open_on "$ACCEPT_PORT" alice
	printf 'MaxRooms 7\n' >>"$SERVER_CONF"
	run "$CHATD" -d -f "$SERVER_CONF" -p 0
	assert_status 1
	assert_output_contains "is in use by 1 sessions but was made with other sizes"
}

@test "chatd -i without a socket says what it needs" {
	segment_only
	run "$CHATD" -i -f "$SERVER_CONF" </dev/null
	assert_status 1
	assert_output_contains "-i wants a connected stream socket on standard input"
}

@test "the systemd units in contrib/ pass systemd-analyze verify" {
	command -v systemd-analyze >/dev/null || skip "no systemd-analyze"
	local d=$BATS_TEST_TMPDIR/units
	mkdir -p "$d"
	cp contrib/chatd.socket contrib/chatd.service contrib/chatd-inetd.socket \
		contrib/chatd@.service "$d"/
	ln -s chatd@.service "$d"/chatd-inetd@.service
	run systemd-analyze verify "$d"/chatd.socket "$d"/chatd.service \
		"$d"/chatd-inetd.socket "$d"/chatd@.service
	# not installed here: the binary and the man pages are missing
	local problems
	problems=$(printf '%s\n' "$output" | grep -v -e 'is not executable' \
		-e "Command 'man " -e '^$' || true)
	[[ -z $problems ]] || _fail "systemd-analyze verify says:" "$problems"
}

@test "chatd -s reports chatd -i sessions when no master runs" {
	segment_only
	accept_yes
	open_on "$ACCEPT_PORT" alice
	run "$CHATD" -s -f "$SERVER_CONF"
	assert_status 0
	assert_output_contains "no chatd master, segment $SERVER_SEGMENT: chatd -i sessions only"
	assert_output_contains "$(client_name alice)"
	run "$CHATD" -s -j -f "$SERVER_CONF"
	assert_status 0
	assert_output_contains "\"pid\":0,"
	assert_output_contains "{\"name\":\"$(client_name alice)\",\"room\":\"main\""
}
