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
