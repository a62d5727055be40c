#!/usr/bin/env bats
# The command line and the configuration file.

load lib/chat

teardown() {
	chat_teardown
}

# config LINE...: write a config file of these lines; its path is in $conf.
config() {
	conf=$BATS_TEST_TMPDIR/test.conf
	printf '%s\n' "$@" >"$conf"
}

@test "-n accepts the repository's etc/chatd.conf" {
	run_chatd -n -f "$BATS_TEST_DIRNAME/../etc/chatd.conf"
	assert_status 0
	assert_output_contains "configuration OK"
}

@test "-n accepts comments, blank lines and every setting" {
	config "# a comment" "" \
		"ListenAddress 127.0.0.1" "Port 4242" "MaxClients 100" \
		"   # an indented comment" \
		"MinSpare 2" "MaxSpare 4" "MaxConnectionsPerChild 50" \
		"MaxRooms 10" "RingSize 16" "MaxLineLength 4096" \
		"SegmentName /chatd-test-config-$$"
	run_chatd -n -f "$conf"
	assert_status 0
	assert_output_contains "configuration OK"
}

@test "MaxSpare or MinSpare set alone takes the other along; both at odds is an error" {
	config "MaxSpare 4"
	run_chatd -n -f "$conf"
	assert_status 0
	assert_output_contains "configuration OK"
	config "MinSpare 50"
	run_chatd -n -f "$conf"
	assert_status 0
	assert_output_contains "configuration OK"
	config "# both" "MaxSpare 4" "MinSpare 5"
	run_chatd -n -f "$conf"
	assert_status 1
	assert_output_contains "$conf:3: MinSpare (5) is larger than MaxSpare (4)"
}

@test "an unknown keyword is reported with its file and line" {
	config "# settings" "MaxClients 10" "Colour blue"
	run_chatd -n -f "$conf"
	assert_status 1
	assert_output_contains "$conf:3:"
}

@test "a value that is not a number is reported with its file and line" {
	config "MaxClients ten"
	run_chatd -n -f "$conf"
	assert_status 1
	assert_output_contains "$conf:1:"
}

@test "a number with trailing garbage is reported with its file and line" {
	config "" "RingSize 32k"
	run_chatd -n -f "$conf"
	assert_status 1
	assert_output_contains "$conf:2:"
}

@test "a value out of range is reported with its file and line" {
	config "# ring" "RingSize 15"
	run_chatd -n -f "$conf"
	assert_status 1
	assert_output_contains "$conf:2:"
	config "MaxLineLength 4097"
	run_chatd -n -f "$conf"
	assert_status 1
	assert_output_contains "$conf:1:"
	config "MaxLineLength 15"
	run_chatd -n -f "$conf"
	assert_status 1
	assert_output_contains "$conf:1:"
}

@test "the ends of the ranges are accepted" {
	config "RingSize 16" "MaxLineLength 16"
	run_chatd -n -f "$conf"
	assert_status 0
	config "MaxLineLength 4096"
	run_chatd -n -f "$conf"
	assert_status 0
}

@test "a keyword without a value is reported with its file and line" {
	config "MaxClients 10" "" "# next" "MaxRooms"
	run_chatd -n -f "$conf"
	assert_status 1
	assert_output_contains "$conf:4:"
}

@test "a setting given twice is reported at its second line" {
	config "MaxClients 10" "MaxRooms 5" "MaxClients 20"
	run_chatd -n -f "$conf"
	assert_status 1
	assert_output_contains "$conf:3:"
}

@test "chatd refuses to start with a bad configuration" {
	config "SegmentName /chatd-test-bad-$$" "Colour blue"
	run_chatd -d -f "$conf" -p 0
	assert_status 1
	assert_output_contains "$conf:2:"
}

@test "-h prints the usage and exits 2" {
	run_chatd -h
	assert_status 2
	assert_line_starting "usage: chatd"
}

@test "an unknown flag prints the usage and exits 2" {
	run_chatd -Z
	assert_status 2
	assert_line_starting "usage: chatd"
}

@test "-p 0 listens on a port the kernel picks and logs it" {
	server_start
	(( PORT > 0 && PORT < 65536 )) || _fail "bad port '$PORT'"
	[[ $PORT != 42069 ]] || _fail "-p 0 listened on the default port"
	client_open alice
}

@test "a second server on the same segment refuses to start and names the first" {
	server_start
	run_chatd -d -f "$SERVER_CONF" -p 0
	assert_status 1
	assert_output_contains "segment $SERVER_SEGMENT is in use by pid $SERVER_PID"
	# a harness waiting for "listening on" must not take it for a start
	[[ $output != *"listening on"* ]] ||
		_fail "the refused server said it was listening:" "$output"
	client_open alice
}

@test "a port already in use is reported" {
	server_start
	segment=/chatd-test-port-$$-$RANDOM
	config "SegmentName $segment"
	run_chatd -d -f "$conf" -p "$PORT"
	assert_status 1
	assert_output_contains "Address already in use"
	[[ ! -e /dev/shm$segment ]] || _fail "the failed server left /dev/shm$segment behind"
	[[ ! -e /dev/shm$segment.doorbells ]] ||
		_fail "the failed server left /dev/shm$segment.doorbells behind"
}
