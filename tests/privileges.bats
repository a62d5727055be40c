#!/usr/bin/env bats
# Who chatd runs as: started as root every child becomes User and Group
# before it serves a client, its segment belongs to that user with mode 0600,
# and nobody else can open it.  Started as anyone else it stays who it is.

load lib/chat

teardown() {
	chat_teardown
}

need_root() {
	(( EUID == 0 )) || skip "needs root: chatd only changes user when started as root"
}

# proc_ids PID: "uid=R E S F gid=R E S F groups=G..." from /proc/PID/status.
proc_ids() {
	awk '/^Uid:/ { u = $2 " " $3 " " $4 " " $5 }
	     /^Gid:/ { g = $2 " " $3 " " $4 " " $5 }
	     /^Groups:/ { $1 = ""; sub(/^ */, ""); gr = $0 }
	     END { printf "uid=%s gid=%s groups=%s\n", u, g, gr }' "/proc/$1/status"
}

@test "started as root, every child runs as User and Group only; the master serves no one" {
	need_root
	uid=$(id -u nobody)
	gid=$(getent group nogroup | cut -d: -f3)
	want="uid=$uid $uid $uid $uid gid=$gid $gid $gid $gid groups=$gid"
	server_start
	clients_open alice bob
	client_send alice "hello"
	client_expect_exact bob "$(client_name alice): hello"
	pids=($(server_children))
	(( ${#pids[@]} >= 2 )) || _fail "expected children, found ${pids[*]}"
	for pid in "${pids[@]}"; do
		got=$(proc_ids "$pid")
		[[ $got == "$want" ]] || _fail "child $pid ($(_comm "$pid")) runs as '$got', expected '$want'"
	done
	# the master stays root (it reads no client's byte): it re-reads a
	# root-only configuration at SIGHUP and removes its pid file from /run
	got=$(proc_ids "$SERVER_PID")
	[[ $got == "uid=0 0 0 0 "* ]] || _fail "the master runs as '$got'"
	grep -q "children serve as user nobody, group nogroup" "$SERVER_LOG"
}

@test "the segment belongs to User and Group and has mode 0600" {
	need_root
	server_start
	run stat -c '%U %G %a' "/dev/shm$SERVER_SEGMENT"
	[[ $output == "nobody nogroup 600" ]] || _fail "the segment is '$output'"
}

@test "another local user cannot open the segment" {
	need_root
	command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
	server_start
	# a user and group with no account: nobody else at all
	run setpriv --reuid=54321 --regid=54321 --clear-groups \
		cat "/dev/shm$SERVER_SEGMENT"
	assert_status 1
	assert_output_contains "Permission denied"
}

@test "User root is refused: chatd does not serve clients as root" {
	need_root
	printf 'User root\n' >"$BATS_TEST_TMPDIR/root.conf"
	run_chatd -n -f "$BATS_TEST_TMPDIR/root.conf"
	assert_status 1
	assert_output_contains "User root has uid 0: chatd does not serve clients as root"
}

@test "a User or Group that does not exist is refused by name" {
	need_root
	printf 'User nosuchchatuser\n' >"$BATS_TEST_TMPDIR/user.conf"
	run_chatd -n -f "$BATS_TEST_TMPDIR/user.conf"
	assert_status 1
	assert_output_contains "User nosuchchatuser: no such user"
	printf 'Group nosuchchatgroup\n' >"$BATS_TEST_TMPDIR/group.conf"
	run_chatd -n -f "$BATS_TEST_TMPDIR/group.conf"
	assert_status 1
	assert_output_contains "Group nosuchchatgroup: no such group"
}

@test "started as another user, chatd stays that user and User is not used" {
	need_root
	command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
	uid=$(id -u nobody)
	# chatd, started by nobody, reads its configuration from here
	chmod o+x "$BATS_RUN_TMPDIR" "$BATS_RUN_TMPDIR/test" "$BATS_TEST_TMPDIR"
	wrapper=$BATS_TEST_TMPDIR/as-nobody
	printf '#!/bin/sh\nexec setpriv --reuid=nobody --regid=nogroup --clear-groups %q "$@"\n' \
		"$CHATD" >"$wrapper"
	chmod 755 "$wrapper"
	CHATD=$wrapper server_start "User daemon"
	clients_open alice bob
	client_send alice "hello"
	client_expect_exact bob "$(client_name alice): hello"
	for pid in "$SERVER_PID" $(server_children); do
		got=$(proc_ids "$pid")
		[[ $got == "uid=$uid $uid $uid $uid "* ]] || _fail "process $pid runs as '$got'"
	done
	run stat -c '%U %a' "/dev/shm$SERVER_SEGMENT"
	[[ $output == "nobody 600" ]] || _fail "the segment is '$output'"
	# and it removes its segment when it stops (teardown checks)
}
