#!/usr/bin/env bats
# People chatting: who hears what.

load lib/chat

teardown() {
	chat_teardown
}

@test "two clients chat with each other" {
	server_start
	client_open alice
	client_open bob
	client_send alice "hi bob"
	client_expect_exact bob "$(client_name alice): hi bob"
	client_send bob "hi alice"
	client_expect_exact alice "$(client_name alice): hi bob"
	client_expect_exact alice "$(client_name bob): hi alice"
}

@test "three clients in two rooms: each line stays in its room" {
	server_start
	client_open alice
	client_open bob
	client_open carol
	client_send carol "/join pizza"
	client_expect_exact carol "You joined pizza"
	client_send alice "in main"
	client_expect_exact bob "$(client_name alice): in main"
	client_send carol "in pizza"
	client_expect_exact carol "$(client_name carol): in pizza"
	client_refute_line carol "*: in main"
	client_refute_line alice "*: in pizza" bob
	client_refute_line bob "*: in pizza"
}

@test "a lurker who never sends hears everything, in order" {
	server_start
	client_open lurker
	client_open alice
	client_open bob
	client_send alice "one"
	client_expect_exact bob "$(client_name alice): one"
	client_send bob "two"
	client_expect_exact alice "$(client_name bob): two"
	client_send alice "three"
	client_expect_exact lurker "$(client_name alice): one"
	client_expect_next_exact lurker "$(client_name bob): two"
	client_expect_next_exact lurker "$(client_name alice): three"
}

@test "a line reaches every one of 100 clients in the room" {
	server_start "MinSpare 32" "MaxSpare 64"
	clients=()
	for i in {1..100}; do
		clients+=("c$i")
	done
	clients_open "${clients[@]}"
	client_send c1 "hello, all 100 of you"
	for c in "${clients[@]}"; do
		client_expect_exact "$c" "$(client_name c1): hello, all 100 of you"
	done
}

@test "after a burst in a room of 40, a lone line still reaches everyone" {
	# A burst paces the readers of a room of more than 32, and an empty
	# timed pull keeps them paced while the room's last lines are recent
	# (src/child.c, paced_pull).  After it, each must still hear a lone
	# line: from its timer, or from the doorbell once it went back to it.
	server_start "MinSpare 32" "MaxSpare 64" "MaxLinesPerSecond 0"
	clients=()
	for i in {1..40}; do
		clients+=("c$i")
	done
	clients_open "${clients[@]}"
	client_send_lines c1 300 "burst"
	for c in "${clients[@]}"; do
		client_expect_exact "$c" "$(client_name c1): burst 300"
	done
	client_send c2 "and now a lone line"
	for c in "${clients[@]}"; do
		client_expect_exact "$c" "$(client_name c2): and now a lone line"
	done
}

@test "a user leaving a flooded room gets every line the room got before its 'left', no more, no fewer" {
	# A floods main unthrottled (MaxLinesPerSecond 0: no limit, whatever
	# TrustLoopback says) while B goes to r1 and back 300 times; per stay
	# of B in main, the flood lines B got must be exactly those the
	# observer C saw between "B joined" and "B left"
	# (tests/lib/joinwindow.pl).  The ring is big and A stays within a
	# quarter of it of C, so C is never lapped; a round in which B was
	# told of dropped lines is skipped, not checked.
	server_start "MaxLinesPerSecond 0" "RingSize 65536" "MaxLineLength 16" \
		"MaxRooms 4"
	run perl "$BATS_TEST_DIRNAME/lib/joinwindow.pl" -p "$PORT" -r 300 -t 60
	[[ $output =~ rounds=([0-9]+)\ checked=([0-9]+)\ skipped_dropped=([0-9]+)\ mismatches=([0-9]+) ]] ||
		_fail "joinwindow.pl (exit $status) gave no summary:" "$output" || return
	rounds=${BASH_REMATCH[1]} checked=${BASH_REMATCH[2]} mismatches=${BASH_REMATCH[4]}
	(( status == 0 && rounds == 300 && mismatches == 0 )) ||
		_fail "joinwindow.pl exited $status:" "$output" || return
	(( checked * 2 >= rounds )) ||
		_fail "only $checked of $rounds rounds were checked, the others had drops:" "$output"
}
