#!/usr/bin/env bats
# Generated names: well formed and never handed out twice.

load lib/chat

setup() {
	server_start
}

teardown() {
	chat_teardown
}

# name_is_valid NAME: an adjective and an animal in CamelCase, 8-12 letters.
name_is_valid() {
	[[ $1 =~ ^[A-Z][a-z]+[A-Z][a-z]+$ ]] && (( ${#1} >= 8 && ${#1} <= 12 ))
}

@test "generated names are an adjective and an animal in CamelCase, 8 to 12 letters" {
	bad=()
	for i in {1..100}; do
		raw_open "n$i"
		name_is_valid "$(client_name "n$i")" || bad+=("$(client_name "n$i")")
		raw_close "n$i"
	done
	(( ${#bad[@]} == 0 )) || _fail "invalid generated names: ${bad[*]}"
}

@test "no generated name repeats over 300 connections, whether held or closed" {
	declare -A seen=()
	dups=()
	note() {
		local name=$1
		[[ -z ${seen[$name]-} ]] || dups+=("$name")
		seen[$name]=1
	}
	# 250 connections one after the other, each closed before the next...
	for i in {1..250}; do
		raw_open "s$i"
		note "$(client_name "s$i")"
		raw_close "s$i"
	done
	# ...and 50 held open at the same time.
	for i in {1..50}; do
		raw_open "h$i"
		note "$(client_name "h$i")"
	done
	(( ${#seen[@]} + ${#dups[@]} == 300 )) || _fail "counted ${#seen[@]} names and ${#dups[@]} repeats, not 300"
	(( ${#dups[@]} == 0 )) || _fail "names handed out twice: ${dups[*]}"
}
