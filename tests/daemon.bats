#!/usr/bin/env bats
# chatd as a Unix daemon: detaching, the pid file, syslog, signals, the
# message of the day, chatd -s, and make install.

load lib/chat

setup() {
	DAEMON_PID=
	SYSLOG_PID=
}

teardown() {
	if [[ -n $DAEMON_PID ]] && _alive "$DAEMON_PID"; then
		kill -s TERM "$DAEMON_PID" 2>/dev/null || true
		_wait_gone "$DAEMON_PID" || kill -s KILL "$DAEMON_PID" 2>/dev/null || true
	fi
	if [[ -n $SYSLOG_PID ]]; then
		kill -s KILL "$SYSLOG_PID" 2>/dev/null || true
		wait "$SYSLOG_PID" 2>/dev/null || true
	fi
	chat_teardown
	# what a killed master left
	if [[ -n ${SERVER_SEGMENT-} ]]; then
		rm -rf "/dev/shm$SERVER_SEGMENT" "/dev/shm$SERVER_SEGMENT.doorbells"
	fi
}

# --- a daemon ----------------------------------------------------------------

# daemon_conf [LINE...]: a configuration with a fresh segment, a pid file
# and port 0, in $CONF; the pid file is $PIDFILE.
daemon_conf() {
	DIR=$BATS_TEST_TMPDIR/daemon
	mkdir -p "$DIR"
	SERVER_SEGMENT=/chatd-test-$$-${BATS_TEST_NUMBER}-daemon-$RANDOM
	PIDFILE=$DIR/chatd.pid
	CONF=$DIR/chatd.conf
	printf '%s\n' "SegmentName $SERVER_SEGMENT" "PidFile $PIDFILE" \
		"Port 0" "$@" >"$CONF"
}

# daemon_port PID: the TCP port PID listens on.
daemon_port() {
	ss -Hltnp | awk -v p="pid=$1," 'index($0, p) {
	    sub(/.*:/, "", $4); print $4; exit }'
}

# daemon_found: chatd returned: read the pid file, find the port.
daemon_found() {
	[[ -s $PIDFILE ]] || _fail "chatd returned 0 but wrote no pid file $PIDFILE" || return
	DAEMON_PID=$(<"$PIDFILE")
	_alive "$DAEMON_PID" || _fail "the pid file names $DAEMON_PID, which is not running" || return
	PORT=$(daemon_port "$DAEMON_PID")
	[[ -n $PORT ]] || _fail "pid $DAEMON_PID listens on no TCP port" || return
}

# daemon_start [LINE...]: start chatd without -d; it returns once ready.
daemon_start() {
	daemon_conf "$@"
	run_chatd -f "$CONF"
	assert_status 0 || return
	daemon_found
}

# daemon_expect_gone: the daemon exited, removing its pid file and segment.
daemon_expect_gone() {
	_wait_gone "$DAEMON_PID" || _fail "the daemon ($DAEMON_PID) did not exit" || return
	[[ ! -e $PIDFILE ]] || _fail "the pid file $PIDFILE is still there" || return
	server_expect_segment_removed
}

# --- syslog ------------------------------------------------------------------

# syslog_listen: a Unix datagram socket that stands in for /dev/log; each
# message that arrives is a line of $SYSLOG.
syslog_listen() {
	local end
	mkdir -p "$BATS_TEST_TMPDIR/probe"
	unshare -m --propagation private sh -c 'mount -t tmpfs probe "$1"' \
		sh "$BATS_TEST_TMPDIR/probe" 2>/dev/null ||
		skip "needs unshare -m and mount (root) to give chatd its own /dev/log"
	SYSLOG_SOCK=$BATS_TEST_TMPDIR/log.sock
	SYSLOG=$BATS_TEST_TMPDIR/syslog
	: >"$SYSLOG"
	_spawn /dev/null "$SYSLOG" "$BATS_TEST_TMPDIR/syslog.err" perl -e '
		use IO::Socket::UNIX; use Socket;
		$| = 1;
		my $s = IO::Socket::UNIX->new(Type => SOCK_DGRAM,
		    Local => $ARGV[0]) or die "bind $ARGV[0]: $!\n";
		while (defined $s->recv(my $m, 65536)) {
			$m =~ s/\n+$//; print "$m\n";
		}' "$SYSLOG_SOCK"
	SYSLOG_PID=$_SPAWNED
	_deadline end
	until [[ -S $SYSLOG_SOCK ]]; do
		_before "$end" || _fail "the syslog stand-in did not start:" "$(cat "$BATS_TEST_TMPDIR/syslog.err")" || return
		_nap
	done
}

# daemon_start_logged [LINE...]: daemon_start, in a mount namespace whose
# /dev/log is the syslog_listen socket (a fresh /dev of the real null,
# zero, random, urandom and shm: nothing outside the test changes).
daemon_start_logged() {
	syslog_listen || return
	daemon_conf "$@"
	run timeout -k 2 "$(_timeout_seconds)" \
		unshare -m --propagation private sh -ec '
		dir=$1 sock=$2; shift 2
		mkdir -p "$dir/dev.real"
		mount --rbind /dev "$dir/dev.real"
		mount -t tmpfs -o mode=755 chatd-test-dev /dev
		for f in null zero random urandom; do
			: >"/dev/$f"; mount --bind "$dir/dev.real/$f" "/dev/$f"
		done
		mkdir /dev/shm; mount --bind "$dir/dev.real/shm" /dev/shm
		: >/dev/log; mount --bind "$sock" /dev/log
		exec "$@"' sh "$DIR" "$SYSLOG_SOCK" "$CHATD" -f "$CONF"
	assert_status 0 || return
	daemon_found
}

# syslog_expect REGEX: a message matching REGEX (grep -E) arrives.
syslog_expect() {
	local end
	_deadline end
	until grep -a -q -E -- "$1" "$SYSLOG"; do
		if ! _before "$end"; then
			_fail "no syslog message matched /$1/ within $(_timeout_seconds) s; got:" \
				"$(sed 's/^/  | /' "$SYSLOG")"
			return 1
		fi
		_nap
	done
}

# --- the foreground log (-d) -------------------------------------------------

# log_expect REGEX: the server's stderr gets a line matching REGEX.
log_expect() {
	local end
	_deadline end
	until grep -a -q -E -- "$1" "$SERVER_LOG"; do
		if ! _before "$end"; then
			_fail "chatd logged no line matching /$1/ within $(_timeout_seconds) s; its stderr:" \
				"$(tail -n 20 "$SERVER_LOG" | sed 's/^/  | /')"
			return 1
		fi
		_nap
	done
}

# conf_rewrite LINE...: the running server's file, with these lines now.
conf_rewrite() {
	printf '%s\n' "SegmentName $SERVER_SEGMENT" "$@" >"$SERVER_CONF"
}

# --- daemonizing and the pid file ----------------------------------------

@test "without -d chatd detaches: the pid file names the master, in a session of its own, stdio on /dev/null" {
	daemon_start
	[[ $(_comm "$DAEMON_PID") == chatd ]] || _fail "pid $DAEMON_PID is $(_comm "$DAEMON_PID"), not the chatd master"
	# the master: its children are the pool
	[[ -n $(pgrep -P "$DAEMON_PID") ]] || _fail "pid $DAEMON_PID has no children: not the master"
	local sid ppid
	read -r sid < <(ps -o sid= -p "$DAEMON_PID")
	read -r ppid < <(ps -o ppid= -p "$DAEMON_PID")
	[[ $sid != $(ps -o sid= -p $$ | tr -d ' ') ]] || _fail "the daemon is still in the test's session $sid"
	(( sid != DAEMON_PID )) || _fail "the daemon leads its session: it could get a controlling terminal"
	[[ $ppid != "$$" && $ppid != "$BASHPID" ]] || _fail "the daemon is still the test's child"
	for fd in 0 1 2; do
		[[ $(readlink "/proc/$DAEMON_PID/fd/$fd") == /dev/null ]] ||
			_fail "fd $fd of the daemon is $(readlink "/proc/$DAEMON_PID/fd/$fd"), not /dev/null"
	done
	[[ $(readlink "/proc/$DAEMON_PID/cwd") == / ]] || _fail "the daemon's working directory is not /"
	client_open alice
	client_send alice "hello"
	client_expect_exact alice "$(client_name alice): hello"
}

@test "on SIGTERM the daemon tells every client, exits and removes its pid file and segment" {
	daemon_start
	client_open alice
	kill -s TERM "$DAEMON_PID"
	client_expect_exact alice "Server is shutting down"
	client_expect_closed alice
	daemon_expect_gone
}

@test "on SIGINT the daemon shuts down like on SIGTERM" {
	daemon_start
	client_open alice
	kill -s INT "$DAEMON_PID"
	client_expect_exact alice "Server is shutting down"
	daemon_expect_gone
}

@test "a second chatd on the same pid file refuses to start, names the first and exits 1" {
	daemon_start
	local first=$DAEMON_PID
	# another segment: only the pid file stands in the way
	sed -i "s|^SegmentName .*|SegmentName ${SERVER_SEGMENT}-2|" "$CONF"
	run_chatd -f "$CONF"
	assert_status 1
	assert_output_contains "already running as pid $first"
	[[ $(<"$PIDFILE") == "$first" ]] || _fail "the pid file was changed to $(<"$PIDFILE")"
	client_open alice
}

@test "a pid file left by a killed master does not stop the next start" {
	daemon_start
	local old=$DAEMON_PID
	kill -s KILL $(pgrep -P "$old") "$old"
	_wait_gone "$old"
	[[ -e $PIDFILE ]]
	run_chatd -f "$CONF"
	assert_status 0
	daemon_found
	[[ $DAEMON_PID != "$old" ]] || _fail "the pid file still names $old"
}

@test "a daemon that cannot start says why where it was started and exits 1" {
	daemon_start
	printf '%s\n' "SegmentName ${SERVER_SEGMENT}-2" \
		"PidFile $DIR/second.pid" "Port $PORT" >"$DIR/second.conf"
	run_chatd -f "$DIR/second.conf"
	assert_status 1
	assert_output_contains "cannot bind 127.0.0.1:$PORT"
	[[ ! -e $DIR/second.pid ]] || _fail "the failed start left its pid file"
}

# --- syslog ------------------------------------------------------------------

@test "the daemon logs through syslog, facility daemon by default, with its pid" {
	daemon_start_logged
	# daemon is 3 << 3; the listening line is a notice (5), the rest info (6)
	syslog_expect "^<29>.* chatd\[$DAEMON_PID\]: listening on 127\.0\.0\.1:$PORT\$"
	client_open alice
	syslog_expect "^<30>.* chatd\[[0-9]+\]: $(client_name alice) connected from 127\.0\.0\.1:[0-9]+\$"
}

@test "syslog stamps are local time, in the children too" {
	export TZ=XYZ-14	# UTC+14: nobody's local time by chance
	before=$(date +%s)
	daemon_start_logged
	client_open alice
	syslog_expect "^<30>.* chatd\[[0-9]+\]: $(client_name alice) connected from"
	after=$(date +%s)
	line=$(grep -a -m1 "$(client_name alice) connected from" "$SYSLOG")
	[[ $line =~ ^\<30\>([A-Z][a-z][a-z]\ [\ 1-3][0-9]\ [0-2][0-9]:[0-5][0-9]:[0-5][0-9])\  ]] ||
		_fail "no syslog time stamp in: $line" || return
	stamp=$(date -d "${BASH_REMATCH[1]}" +%s) ||
		_fail "date cannot read the stamp ${BASH_REMATCH[1]}" || return
	(( stamp >= before - 1 && stamp <= after + 1 )) ||
		_fail "stamp ${BASH_REMATCH[1]} is not between $(date -d @$before) and $(date -d @$after) (TZ=$TZ): $line"
}

@test "SyslogFacility local3 and LogLevel debug: renames and joins are logged, chat text is not" {
	daemon_start_logged "SyslogFacility local3" "LogLevel debug"
	client_open alice
	client_send alice "/name Alice"
	client_expect_exact alice "$(client_name alice) is now Alice"
	client_send alice "a secret word"
	client_send alice "/join pizza"
	client_expect_exact alice "You joined pizza"
	client_send alice "/quit"
	# local3 is 19 << 3 = 152; debug 7, info 6
	syslog_expect "^<159>.* chatd\[[0-9]+\]: $(client_name alice) is now Alice\$"
	syslog_expect "^<159>.* chatd\[[0-9]+\]: Alice joined pizza\$"
	syslog_expect "^<158>.* chatd\[[0-9]+\]: Alice disconnected"
	! grep -a -q "secret" "$SYSLOG" || _fail "a chat line's text reached the log:" "$(cat "$SYSLOG")"
}

@test "at the default LogLevel a rename is not logged, a disconnection is" {
	daemon_start_logged
	client_open alice
	client_send alice "/name Alice"
	client_expect_exact alice "$(client_name alice) is now Alice"
	client_send alice "/quit"
	# one process logs both, in order: the second line proves the first
	syslog_expect "Alice disconnected"
	! grep -a -q "is now Alice" "$SYSLOG" || _fail "a rename was logged at LogLevel info"
}

# --- signals -----------------------------------------------------------------

@test "SIGHUP applies a new Motd to new connections and logs the change; open sessions go on" {
	server_start "Motd first words"
	client_open alice
	client_expect_next_exact alice "first words"
	conf_rewrite "Motd second words"
	server_signal HUP
	log_expect '^SIGHUP: Motd changed from "first words" to "second words"$'
	log_expect '^SIGHUP: replacing the children'
	client_open bob
	client_expect_next_exact bob "second words"
	client_send alice "still here"
	client_expect_exact bob "$(client_name alice): still here"
}

@test "a SIGHUP that changes Motd replaces idle children at once, a busy one after its session" {
	server_start "Motd before"
	client_open alice
	wait_busy_children 1
	local busy idle pid
	busy=$(busy_children)
	idle=$(server_children | grep -v -x -F "$busy")
	[[ -n $idle ]] || _fail "no idle children to replace"
	conf_rewrite "Motd after"
	server_signal HUP
	for pid in $idle; do
		_wait_gone "$pid" || _fail "idle child $pid outlived the SIGHUP"
	done
	_alive "$busy" || _fail "the busy child $busy did not wait for its session to end"
	client_send alice "still served"
	client_expect_exact alice "$(client_name alice): still served"
	client_send alice "/quit"
	_wait_gone "$busy" || _fail "busy child $busy did not exit after its session"
	client_open bob
	client_expect_next_exact bob "after"
}

@test "SIGHUP with a lower MaxClients turns the next connection away" {
	server_start "MaxClients 3"
	client_open alice
	client_open bob
	conf_rewrite "MaxClients 2"
	server_signal HUP
	log_expect '^SIGHUP: MaxClients changed from "3" to "2"$'
	client_connect carol
	client_expect_next_exact carol "Server is full, try again later"
	client_expect_closed carol
}

@test "SIGHUP cannot raise MaxClients above the slots the segment was made with" {
	server_start "MaxClients 2"
	conf_rewrite "MaxClients 10"
	server_signal HUP
	log_expect 'SIGHUP: MaxClients 10 is more than the 2 slots of the segment: 2 until a restart$'
	client_open alice
	client_open bob
	client_connect carol
	client_expect_next_exact carol "Server is full, try again later"
}

@test "SIGHUP logs settings that need a restart and keeps them" {
	server_start "RingSize 64"
	conf_rewrite "RingSize 128" "MinSpare 2" "MaxSpare 4"
	server_signal HUP
	log_expect 'SIGHUP: RingSize changed from "64" to "128": that needs a restart, keeping "64"$'
	log_expect '^SIGHUP: MinSpare changed from "8" to "2"$'
	log_expect '^SIGHUP: MaxSpare changed from "32" to "4"$'
	client_open alice
}

@test "SIGHUP with a broken file logs file:line and keeps the old settings" {
	server_start "Motd kept"
	conf_rewrite "Motd new" "MaxClientz 3"
	server_signal HUP
	log_expect "^$SERVER_CONF:3: unknown setting \"MaxClientz\"\$"
	log_expect 'keeping the current settings$'
	client_open alice
	client_expect_next_exact alice "kept"
}

@test "SIGUSR1 logs sessions, rooms, children and counters" {
	server_start
	client_open alice
	client_open bob
	client_send bob "/join pizza"
	client_expect_exact bob "You joined pizza"
	client_send bob "hi"
	client_expect_exact bob "$(client_name bob): hi"
	server_signal USR1
	log_expect '^SIGUSR1: 2 sessions \(MaxClients 10000, 10000 slots\), 0 slots awaiting the janitor, 2 rooms in use \(of 1024\)$'
	log_expect '^SIGUSR1: children: [0-9]+ idle, 2 busy'
	log_expect '^SIGUSR1: since start: 2 connections, 1 lines, 0 repairs, 0 janitor frees$'
	client_send alice "still served"
	client_expect_exact alice "$(client_name alice): still served"
}

# --- the message of the day -------------------------------------------------

@test "without Motd the greeting is exactly that of the protocol" {
	server_start
	client_connect alice
	client_expect_help alice
	client_expect_next alice "You are *"
	client_expect_next_exact alice "You joined main"
	client_send alice "/rooms"
	client_expect_next_exact alice "Rooms - main (1)"
}

@test "Motd @FILE sends the file's lines after the greeting, control bytes removed" {
	local motd=$BATS_TEST_TMPDIR/motd
	printf 'Welcome to the test chat.\r\n\nRules: be \033[31mnice\n' >"$motd"
	server_start "Motd @$motd"
	client_connect alice
	client_expect_help alice
	client_expect_next alice "You are *"
	client_expect_next_exact alice "You joined main"
	client_expect_next_exact alice "Welcome to the test chat."
	client_expect_next_exact alice ""
	client_expect_next_exact alice "Rules: be [31mnice"
	client_send alice "/rooms"
	client_expect_next_exact alice "Rooms - main (1)"
}

@test "a Motd file that cannot be read is a configuration error" {
	printf 'SegmentName /chatd-test-motd\nMotd @%s\n' "$BATS_TEST_TMPDIR/none" >"$BATS_TEST_TMPDIR/c.conf"
	run_chatd -n -f "$BATS_TEST_TMPDIR/c.conf"
	assert_status 1
	assert_output_contains "c.conf:2: cannot open Motd file $BATS_TEST_TMPDIR/none"
}

@test "a Motd file of 4094 bytes is accepted, one of 4095 is not" {
	local motd=$BATS_TEST_TMPDIR/motd
	printf 'SegmentName /chatd-test-motd\nMotd @%s\n' "$motd" >"$BATS_TEST_TMPDIR/c.conf"
	head -c 4094 /dev/zero | tr '\0' 'x' >"$motd"
	run_chatd -n -f "$BATS_TEST_TMPDIR/c.conf"
	assert_status 0
	head -c 4095 /dev/zero | tr '\0' 'x' >"$motd"
	run_chatd -n -f "$BATS_TEST_TMPDIR/c.conf"
	assert_status 1
	assert_output_contains "c.conf:2: Motd file $motd: larger than 4094 bytes"
}

# --- chatd -s ----------------------------------------------------------------

@test "chatd -s prints rooms with their members, users and counters" {
	server_start
	client_open alice
	client_send alice "/name Alice"
	client_expect_exact alice "$(client_name alice) is now Alice"
	client_open bob
	client_send bob "/name Bob"
	client_expect_exact bob "$(client_name bob) is now Bob"
	client_send bob "/join pizza"
	client_expect_exact bob "You joined pizza"
	run_chatd -s -f "$SERVER_CONF"
	assert_status 0
	assert_line_starting "chatd pid $SERVER_PID, segment $SERVER_SEGMENT"
	[[ $output =~ $'\n'"main "+"1  Alice"$'\n' ]] || _fail "no row 'main 1 Alice':" "$output"
	[[ $output =~ $'\n'"pizza "+"1  Bob"$'\n' ]] || _fail "no row 'pizza 1 Bob':" "$output"
	[[ $output =~ $'\n'"Alice "+"main "+[0-9]{4}-[0-9]{2}-[0-9]{2}" " ]] || _fail "no user row for Alice:" "$output"
	[[ $output =~ $'\n'"connections "+"2"$'\n' ]] || _fail "no 'connections 2':" "$output"
}

@test "chatd -s -j prints one JSON object with the same facts" {
	command -v jq >/dev/null || skip "needs jq"
	server_start
	client_open alice
	client_send alice "/name Alice"
	client_expect_exact alice "$(client_name alice) is now Alice"
	client_send alice "hello"
	client_expect_exact alice "Alice: hello"
	run_chatd -s -j -f "$SERVER_CONF"
	assert_status 0
	(( ${#lines[@]} == 1 )) || _fail "expected one line of JSON, got ${#lines[@]}"
	run jq -e --argjson pid "$SERVER_PID" --arg seg "$SERVER_SEGMENT" '
	    .pid == $pid and .segment == $seg and
	    .rooms == [{"name": "main", "members": 1, "users": ["Alice"]}] and
	    (.users | length) == 1 and .users[0].name == "Alice" and
	    .users[0].room == "main" and (.users[0].since | type) == "number" and
	    .counters.connections == 1 and .counters.lines == 1' <<<"$output"
	assert_status 0
}

@test "chatd -s -j escapes what JSON needs escaped" {
	command -v jq >/dev/null || skip "needs jq"
	# of what it prints, only a segment name can hold such characters
	daemon_conf
	SERVER_SEGMENT=$SERVER_SEGMENT'"q\b'$'\x01'
	printf '%s\n' "SegmentName $SERVER_SEGMENT" "PidFile $PIDFILE" \
		"Port 0" >"$CONF"
	run_chatd -f "$CONF"
	assert_status 0
	daemon_found
	run_chatd -s -j -f "$CONF"
	assert_status 0
	run jq -e --arg seg "$SERVER_SEGMENT" '.segment == $seg' <<<"$output"
	assert_status 0
}

@test "chatd -s exits 1 and says so when no server is running" {
	printf 'SegmentName /chatd-test-none-%s\n' "$$" >"$BATS_TEST_TMPDIR/c.conf"
	run_chatd -s -f "$BATS_TEST_TMPDIR/c.conf"
	assert_status 1
	assert_output_contains "no server is running"
	run_chatd -s -j -f "$BATS_TEST_TMPDIR/c.conf"
	assert_status 1
}

@test "chatd -s on the segment of a killed master exits 1" {
	server_start
	local master=$SERVER_PID
	kill -s KILL $(server_children) "$master"
	_wait_gone "$master"
	wait "$master" 2>/dev/null || true
	SERVER_PID=
	run_chatd -s -f "$SERVER_CONF"
	assert_status 1
	assert_output_contains "no server is running"
	rm -rf "/dev/shm$SERVER_SEGMENT" "/dev/shm$SERVER_SEGMENT.doorbells"
}

# --- make install --------------------------------------------------------------

@test "make install puts everything under DESTDIR, the installed chatd runs, uninstall removes it" {
	local root=$BATS_TEST_DIRNAME/.. dest=$BATS_TEST_TMPDIR/dest
	run make -s -C "$root" --no-print-directory install DESTDIR="$dest"
	assert_status 0
	local f
	for f in sbin/chatd etc/chatd.conf share/man/man8/chatd.8 \
	    share/man/man5/chatd.conf.5; do
		[[ -f $dest/usr/local/$f ]] || _fail "make install did not install $dest/usr/local/$f"
	done
	[[ -x $dest/usr/local/sbin/chatd ]]
	grep -q '^PidFile /run/chatd.pid$' "$dest/usr/local/etc/chatd.conf" ||
		_fail "the installed chatd.conf has no PidFile /run/chatd.pid"
	CHATD=$dest/usr/local/sbin/chatd run_chatd -n -f "$dest/usr/local/etc/chatd.conf"
	assert_status 0
	CHATD=$dest/usr/local/sbin/chatd server_start
	client_open alice
	client_send alice "installed"
	client_expect_exact alice "$(client_name alice): installed"
	server_stop

	# an admin's change survives both a new install and the uninstall
	echo "MaxClients 5" >>"$dest/usr/local/etc/chatd.conf"
	run make -s -C "$root" --no-print-directory install DESTDIR="$dest"
	assert_status 0
	grep -q '^MaxClients 5$' "$dest/usr/local/etc/chatd.conf" || _fail "make install replaced a changed chatd.conf"
	run make -s -C "$root" --no-print-directory uninstall DESTDIR="$dest"
	assert_status 0
	run find "$dest" -type f
	[[ $output == "$dest/usr/local/etc/chatd.conf" ]] || _fail "after uninstall, expected only the changed chatd.conf; found:" "$output"
}

@test "make uninstall removes a chatd.conf nobody changed" {
	local root=$BATS_TEST_DIRNAME/.. dest=$BATS_TEST_TMPDIR/dest
	run make -s -C "$root" --no-print-directory install DESTDIR="$dest"
	assert_status 0
	run make -s -C "$root" --no-print-directory uninstall DESTDIR="$dest"
	assert_status 0
	run find "$dest" -type f
	[[ -z $output ]] || _fail "make uninstall left:" "$output"
}
