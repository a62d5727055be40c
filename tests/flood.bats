#!/usr/bin/env bats
# Load and abuse: connection storms, line floods, clients that do not read
# or say nothing, too many connections from one address.

load lib/chat

CONNECTIONS=$BATS_TEST_DIRNAME/lib/connections.pl

teardown() {
	if [[ -n ${FLOOD_PID-} ]]; then
		kill -s KILL "$FLOOD_PID" 2>/dev/null || true
		wait "$FLOOD_PID" 2>/dev/null || true
	fi
	chat_teardown
}

# server_log_expect TEXT: the server logs a line containing TEXT.
server_log_expect() {
	local end
	_deadline end
	until grep -q -F -- "$1" "$SERVER_LOG"; do
		if ! _before "$end"; then
			_fail "the server did not log '$1' within $(_timeout_seconds) s; its log ends:" \
				"$(tail -n 10 "$SERVER_LOG" | sed 's/^/  | /')"
			return 1
		fi
		_nap
	done
}

# server_log_count TEXT N: the server logs N lines containing TEXT.
server_log_count() {
	local end
	_deadline end
	until (( $(grep -c -F -- "$1" "$SERVER_LOG") >= $2 )); do
		_before "$end" || _fail "the server did not log '$1' $2 times within $(_timeout_seconds) s" || return
		_nap
	done
}

@test "2,000 connections at once beyond MaxClients are told the server is full, and nothing breaks" {
	ulimit -n 4096 || skip "cannot raise the open files limit to 4096"
	server_start "MaxClients 50" "MinSpare 2" "MaxSpare 4"
	run perl "$CONNECTIONS" -p "$PORT" -n 2000 -t 120
	[[ $output == "served=50 full=1950 per_ip=0 other=0 timeout=0" ]] ||
		_fail "expected 50 served and 1950 told the server is full, got:" "$output"
	# every slot and child came back: two clients are alone in main
	wait_busy_children 0
	client_open_when_served alice
	client_open_when_served bob
	wait_busy_children 2
	client_send alice "/rooms"
	client_expect_exact alice "Rooms - main (2)"
	client_send alice "hello after the storm"
	client_expect_exact bob "$(client_name alice): hello after the storm"
	# and the pool the storm grew shrinks back to MaxSpare idle children
	# beside the two busy ones (so the stop does not end dozens at once)
	end=$(( ${EPOCHREALTIME/./} + 60000000 ))
	until (( $(server_children | wc -l) <= 6 )); do
		_before "$end" || _fail "the pool did not shrink back to 2 busy + MaxSpare 4 children:" "$(_describe_children)"
		_nap 0.2
	done
}

@test "a client sending 100,000 lines as fast as it can is slowed down while two others chat" {
	server_start "MaxLinesPerSecond 5" "LineBurst 10"
	clients_open alice bob flooder
	start=${EPOCHREALTIME/./}
	_spawn /dev/null "$BATS_TEST_TMPDIR/clients/flooder.in" /dev/null \
		perl -e 'print "flood $_\n" for 1 .. 100000'
	FLOOD_PID=$_SPAWNED
	client_expect_exact flooder "You are sending too fast, slow down"
	# slowed down, not stopped: lines past the burst still come
	client_expect_exact bob "$(client_name flooder): flood 15"
	client_send alice "hello during the flood"
	client_expect_exact bob "$(client_name alice): hello during the flood"
	client_send bob "hello back"
	client_expect_exact alice "$(client_name bob): hello back"
	# no more than the burst and the rate since the flood began got through
	got=$(grep -c -F "$(client_name flooder): flood " "${CLIENT_OUT[bob]}")
	elapsed=$(( (${EPOCHREALTIME/./} - start) / 1000000 + 1 ))
	(( got <= 10 + 5 * elapsed )) ||
		_fail "$got flood lines got through in $elapsed s, more than 10 + 5/s"
	# and the flooder was told once, not once a line
	told=$(grep -c -x -F "You are sending too fast, slow down" "${CLIENT_OUT[flooder]}")
	(( told == 1 )) || _fail "the flooder was told $told times"
}

@test "a line over the rate is delayed, not lost, and the order is kept" {
	server_start "MaxLinesPerSecond 20" "LineBurst 2"
	clients_open alice bob
	client_send_raw alice 'one\ntwo\nthree\nfour\n'
	client_expect_exact alice "You are sending too fast, slow down"
	for word in one two three four; do
		client_expect_next_exact bob "$(client_name alice): $word"
	done
}

@test "a client that reads nothing for SendTimeout seconds is told so and disconnected" {
	server_start "SendTimeout 2"
	client_open alice
	raw_open sleeper
	sleeper=$(client_name sleeper)
	client_send_lines alice 20000 "flood $(repeat x 380)"
	server_log_expect "$sleeper disconnected (not reading)"
	raw_read_until sleeper '^You are not reading, disconnecting$'
	# then the connection is closed
	timeout -k 1 "$CHATD_TEST_TIMEOUT" perl -e '1 while <STDIN>' <&"${CLIENT_FD[sleeper]}"
	client_send alice "/users"
	client_expect_exact alice "Users - $(client_name alice)"
}

@test "a client that stops reading is disconnected though every write to it succeeds" {
	local rmem lines i=0 end
	server_start "SendTimeout 2"
	client_open alice
	raw_open sleeper
	sleeper=$(client_name sleeper)
	# three times what the sleeper's receive buffer starts at (it grows
	# only for a reader): its window shuts and the rest waits in the
	# server's socket, whose send buffer the kernel lets grow to 4 MiB,
	# so every write to the sleeper succeeds
	read -r _ rmem _ </proc/sys/net/ipv4/tcp_rmem
	lines=$(( 3 * rmem / 390 + 100 ))
	client_send_lines alice "$lines" "flood $(repeat x 380)"
	# then a line now and then, as in a chat, until the sleeper is found
	_deadline end
	until grep -q -F "$sleeper disconnected (not reading)" "$SERVER_LOG"; do
		_before "$end" ||
			_fail "$sleeper was not disconnected; the server's log:" \
				"$(sed 's/^/  | /' "$SERVER_LOG")" || return
		i=$(( i + 1 ))
		client_send alice "tick $i"
		client_expect_exact alice "$(client_name alice): tick $i"
		_nap
	done
	client_send alice "/users"
	client_expect_exact alice "Users - $(client_name alice)"
}

@test "a client that reads a byte at a time is disconnected after SendTimeout, others chat on" {
	server_start "SendTimeout 2"
	clients_open alice bob
	# reads one byte every 50 ms: TCP opens no window for that, the
	# server's writes stall
	_spawn /dev/null "$BATS_TEST_TMPDIR/trickle.out" /dev/null \
		perl -MIO::Socket::INET -MTime::HiRes=sleep -e '
			my $s = IO::Socket::INET->new("127.0.0.1:$ARGV[0]") or die;
			while (sysread($s, my $c, 1)) { print $c; sleep 0.05 }' "$PORT"
	FLOOD_PID=$_SPAWNED
	server_log_count "connected from" 3
	client_send_lines alice 20000 "flood $(repeat x 380)"
	server_log_expect "disconnected (not reading)"
	client_send bob "still here"
	client_expect_exact alice "$(client_name bob): still here"
}

@test "a client that sends no line for IdleTimeout seconds is told so and disconnected" {
	server_start "IdleTimeout 1"
	client_open alice
	client_expect_next_exact alice "Idle timeout, disconnecting"
	client_expect_closed alice
	server_log_expect "$(client_name alice) disconnected (idle timeout)"
}

@test "a client that stops mid-line is idle too" {
	server_start "IdleTimeout 1"
	client_open alice
	client_send_raw alice 'half a li'
	client_expect_next_exact alice "Idle timeout, disconnecting"
	client_expect_closed alice
}

@test "a connection over MaxClientsPerIP is told so and closed; other addresses are served" {
	server_start "MaxClientsPerIP 3"
	clients_open a b c
	client_connect d
	client_expect_next_exact d "Too many connections from your address"
	client_expect_closed d
	run perl "$CONNECTIONS" -p "$PORT" -n 5 -s 127.0.0.2
	[[ $output == "served=3 full=0 per_ip=2 other=0 timeout=0" ]] ||
		_fail "from 127.0.0.2, expected 3 served and 2 refused, got:" "$output"
	# a connection that ends gives its place back
	client_close a
	client_open_when_served e "Too many connections from your address"
	client_send e "hello"
	client_expect_exact b "$(client_name e): hello"
}

@test "a killed child gives its connection's place under MaxClientsPerIP back, once" {
	server_start "MaxClientsPerIP 2"
	client_open a
	client_open_child b
	client_kill_child b a
	client_open_when_served c "Too many connections from your address"
	client_connect d
	client_expect_next_exact d "Too many connections from your address"
}

@test "MaxClientsPerIP holds after many sessions in children that exit after one" {
	server_start "MaxClientsPerIP 2" "MaxConnectionsPerChild 1"
	sessions_then_refused "Too many connections from your address"
}

# conf_max_clients N: the running server's file, with MaxClients N.
conf_max_clients() {
	sed -i "s/^MaxClients .*/MaxClients $1/" "$SERVER_CONF"
}

@test "a SIGHUP that lowers MaxClients does not keep connections' places under MaxClientsPerIP" {
	server_start "MaxClients 100" "MaxClientsPerIP 70" "TrustLoopback 0"
	# 70 connections from 127.0.0.2 held open at once: on a fresh server
	# they take tickets 0 to 69
	local hold=$BATS_TEST_TMPDIR/hold holdfd end tally status=0
	mkfifo "$hold.in"
	: >"$hold.out"
	exec {holdfd}<>"$hold.in"
	_spawn "$hold.in" "$hold.out" "$hold.err" \
		perl "$CONNECTIONS" -p "$PORT" -n 70 -s 127.0.0.2 -H
	FLOOD_PID=$_SPAWNED
	_deadline end 60
	# the tally line, once complete (read fails on a partial one)
	until IFS= read -r tally <"$hold.out"; do
		_before "$end" || _fail "connections.pl did not report within 60 s:" "$(<"$hold.err")" || return
		_nap
	done
	[[ $tally == "served=70 full=0 per_ip=0 other=0 timeout=0" ]] ||
		_fail "from 127.0.0.2, expected 70 served, got:" "$tally" "$(<"$hold.err")"
	# MaxClients lowered under them: tickets 66 to 69 are now at or above
	# MaxClients + 64
	conf_max_clients 2
	server_signal HUP
	server_log_expect 'SIGHUP: MaxClients changed from "100" to "2"'
	# all 70 hang up
	exec {holdfd}>&-
	_wait_gone "$FLOOD_PID" || _fail "connections.pl did not exit at EOF on stdin" || return
	wait "$FLOOD_PID" || status=$?
	FLOOD_PID=
	(( status == 0 )) || _fail "connections.pl exited with status $status:" "$(<"$hold.err")"
	# two sessions at once under MaxClients 2: the master has read the
	# DONE of every one of the 70, so each ticket came back while
	# MaxClients was 2
	client_open_when_served x
	client_open_when_served y
	conf_max_clients 100
	server_signal HUP
	server_log_expect 'SIGHUP: MaxClients changed from "2" to "100"'
	# 127.0.0.2 has no connection: its 70 places are all free, and the
	# limit still holds
	run perl "$CONNECTIONS" -p "$PORT" -n 71 -s 127.0.0.2
	[[ $output == "served=70 full=0 per_ip=1 other=0 timeout=0" ]] ||
		_fail "from 127.0.0.2 with no connection open, expected 70 served and 1 refused, got:" "$output"
}

@test "TrustLoopback 1 (the default) spares loopback clients both limits; 0 does not" {
	server_start "MaxClientsPerIP 2" "MaxLinesPerSecond 1" "LineBurst 1" \
		"TrustLoopback 1"
	clients_open a b c
	client_send_lines a 200 "fast"
	client_expect_exact b "$(client_name a): fast 200"
	client_refute_line a "You are sending too fast, slow down"
	run perl "$CONNECTIONS" -p "$PORT" -n 3 -s 127.0.0.2
	[[ $output == "served=3 full=0 per_ip=0 other=0 timeout=0" ]] ||
		_fail "loopback 127.0.0.2 was limited:" "$output"
	server_restart "MaxClientsPerIP 2" "TrustLoopback 0"
	clients_open d e
	client_connect f
	client_expect_next_exact f "Too many connections from your address"
}
