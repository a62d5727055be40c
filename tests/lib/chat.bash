# tests/lib/chat.bash: talk to chatd from bats tests.
#
# A test starts a server, opens clients by alias and then talks and listens
# through them, the way people in a chat room would:
#
#	server_start "MaxLineLength 50"
#	client_open alice
#	client_open bob
#	client_send alice "hello"
#	client_expect bob "*: hello"
#
# Nothing here sleeps to synchronise: every wait polls for an expected
# condition until a deadline, CHATD_TEST_TIMEOUT seconds (default 10, whole
# seconds).  Prefix a call with CHAT_TIMEOUT=N to give that one call longer.
#
# A client is an OpenBSD `nc` whose stdin is a FIFO that this shell keeps open
# (so nc never sees EOF on stdin and never quits early) and whose stdout goes
# to a file.  Each client has a read cursor in that file, so expectations
# consume lines in order:
#
#	client_expect ALIAS GLOB		skip to the next line matching GLOB
#	client_expect_exact ALIAS TEXT		skip to the next line equal to TEXT
#	client_expect_next ALIAS GLOB		the very next line must match GLOB
#	client_expect_next_exact ALIAS TEXT	the very next line must be TEXT
#	client_expect_help ALIAS		the next 7 lines are the help text
#	client_expect_closed ALIAS		the server closed the connection
#	client_refute_line ALIAS GLOB [SENDER]	no such line arrived (see there)
#
# The last line an expectation matched is in CLIENT_LINE.
#
# A "raw" client (raw_open) is a bash /dev/tcp socket that the test reads
# only when it says so (raw_read_until): the client that never reads.
# client_send and client_name work for it too.
#
# Every process started here is killed by chat_teardown, which each .bats
# file calls from teardown(), whether the test passed or not.

export LC_ALL=C		# globs, ${#s} and sorting work on bytes

CHATD=${CHATD:-$BATS_TEST_DIRNAME/../build/chatd}
[[ $CHATD == /* ]] || CHATD=$PWD/$CHATD
CHATD_TEST_TIMEOUT=${CHATD_TEST_TIMEOUT:-10}

# The help text, sent on connect and for /help (PROTOCOL.md, exactly).
HELP_LINES=(
	"Server commands"
	"  /help - print this message"
	"  /name {name} - change name"
	"  /rooms - list rooms"
	"  /join {room} - joins room"
	"  /users - list users in room"
	"  /quit - quit server"
)

# Per client, by alias.
declare -gA CLIENT_PID=()	# nc's pid (empty for raw clients)
declare -gA CLIENT_FD=()	# what the test writes to: FIFO or socket
declare -gA CLIENT_RFD=()	# read cursor into CLIENT_OUT
declare -gA CLIENT_OUT=()	# everything the server sent, as received
declare -gA CLIENT_PARTIAL=()	# a line not yet complete at the cursor
declare -gA CLIENT_NAME=()	# the name from "You are NAME"
declare -gA CLIENT_INODE=()	# nc's socket, to see it closed
declare -ga CLIENT_ALIASES=()
declare -g CLIENT_LINE=
declare -ga RAW_LINES=()

# The server under test.
declare -g SERVER_PID='' PORT='' SERVER_SEGMENT='' SERVER_CONF='' SERVER_LOG=''
declare -ga SERVER_WRAP=()
declare -g SERVER_STOPPING=0 _CHAT_SERVERS=0 _CHAT_NAP_FD='' _CHAT_MARKERS=0

# --- deadlines -------------------------------------------------------------

# _deadline VAR [SECONDS]: set VAR to the deadline, in microseconds.
_deadline() {
	local seconds=${2:-${CHAT_TIMEOUT:-$CHATD_TEST_TIMEOUT}}
	printf -v "$1" '%s' $(( ${EPOCHREALTIME/./} + seconds * 1000000 ))
}

# _before DEADLINE: true while the deadline has not passed.
_before() {
	(( ${EPOCHREALTIME/./} < $1 ))
}

_timeout_seconds() {
	printf '%s' "${CHAT_TIMEOUT:-$CHATD_TEST_TIMEOUT}"
}

# _nap: wait a moment between two polls (a read that times out on a FIFO
# nobody writes to: no process is forked).
_nap() {
	if [[ -z $_CHAT_NAP_FD ]]; then
		local fifo=$BATS_TEST_TMPDIR/.nap
		[[ -p $fifo ]] || mkfifo "$fifo"
		exec {_CHAT_NAP_FD}<>"$fifo"
	fi
	read -r -t "${1:-0.02}" -u "$_CHAT_NAP_FD" _ || true
}

# _show TEXT: TEXT as is, or quoted $'...' if it holds control bytes.
_show() {
	if [[ $1 == *[[:cntrl:]]* ]]; then
		printf '%q' "$1"
	else
		printf '%s' "$1"
	fi
}

_fail() {
	printf '%s\n' "$@" >&2
	return 1
}

# --- processes -------------------------------------------------------------

# _spawn STDIN STDOUT STDERR COMMAND...: start COMMAND in the background with
# only fds 0-2; its pid is in _SPAWNED.  Bats waits for every holder of its
# output pipe (fd 3 and copies of it), and a client must not hold another
# client's FIFO, so everything else is closed first.
_spawn() {
	local in=$1 out=$2 err=$3
	shift 3
	(
		local fd
		for fd in /proc/$BASHPID/fd/*; do
			fd=${fd##*/}
			if (( fd > 2 )); then
				eval "exec $fd>&-" 2>/dev/null || true
			fi
		done
		exec "$@" <"$in" >"$out" 2>"$err"
	) &
	_SPAWNED=$!
}

# _alive PID: the process exists and is not a zombie.
_alive() {
	local stat
	[[ -n $1 ]] || return 1
	read -r stat 2>/dev/null </proc/"$1"/stat || return 1
	stat=${stat##*) }
	[[ ${stat:0:1} != Z ]]
}

_comm() {
	local comm=
	read -r comm 2>/dev/null </proc/"$1"/comm || true
	printf '%s' "$comm"
}

# _wait_gone PID [SECONDS]: poll until PID has exited.
_wait_gone() {
	local end
	_deadline end "${2:-}"
	while _alive "$1"; do
		_before "$end" || return 1
		_nap
	done
}

# --- the server ------------------------------------------------------------

# server_start [CONFIG-LINE...]: start chatd in the foreground (-d) on a port
# the kernel picks, with a config file of a fresh SegmentName (or
# $CHAT_SEGMENT) and the given lines ("MaxClients 3"), and wait until it says
# where it listens.  Sets PORT, SERVER_PID, SERVER_CONF, SERVER_LOG and
# SERVER_SEGMENT.  A command in the array SERVER_WRAP runs chatd (it must
# exec it: systemd-socket-activate, env).
__server_start() {
	local dir
	# one server at a time: a second start would orphan the first
	if [[ -n ${SERVER_PID-} ]]; then
		server_stop || return
	fi
	_CHAT_SERVERS=$(( _CHAT_SERVERS + 1 ))
	dir=$BATS_TEST_TMPDIR/server.$_CHAT_SERVERS
	mkdir -p "$dir"
	SERVER_SEGMENT=${CHAT_SEGMENT:-/chatd-test-$$-${BATS_TEST_NUMBER:-0}-$_CHAT_SERVERS-$RANDOM}
	SERVER_CONF=$dir/chatd.conf
	SERVER_LOG=$dir/stderr
	{
		printf '# written by tests/lib/chat.bash\n'
		printf 'SegmentName %s\n' "$SERVER_SEGMENT"
		(( $# == 0 )) || printf '%s\n' "$@"
		# every test client comes from 127.0.0.1 and some send
		# thousands of lines: flood control is off unless a test
		# sets it (tests/flood.bats)
		_server_setting_given MaxLinesPerSecond "$@" ||
			printf 'MaxLinesPerSecond 0\n'
		_server_setting_given MaxClientsPerIP "$@" ||
			printf 'MaxClientsPerIP 0\n'
		# the tests connect from loopback and test the limits there
		_server_setting_given TrustLoopback "$@" ||
			printf 'TrustLoopback 0\n'
	} >"$SERVER_CONF"
	[[ -x $CHATD ]] || _fail "chatd binary not found: CHATD=$CHATD" || return
	# A background job of a non-interactive shell starts with SIGINT
	# ignored; perl resets it so the daemon sees what a terminal gives it.
	_spawn /dev/null "$dir/stdout" "$SERVER_LOG" \
		perl -e '$SIG{INT} = "DEFAULT"; exec { $ARGV[0] } @ARGV or die "exec $ARGV[0]: $!\n"' \
		"${SERVER_WRAP[@]}" "$CHATD" -d -f "$SERVER_CONF" -p 0
	SERVER_PID=$_SPAWNED
	SERVER_STOPPING=0
	PORT=$(server_wait_listening) || return
}

# _server_setting_given KEYWORD LINE...: one of the lines sets KEYWORD.
_server_setting_given() {
	local keyword=$1 line
	shift
	for line in "$@"; do
		[[ ${line,,} == "${keyword,,}"[[:space:]]* ]] && return 0
	done
	return 1
}

# server_wait_listening: print the port from the "listening on" log line.
server_wait_listening() {
	local end found
	_deadline end
	while :; do
		found=$(grep -a -o -m1 'listening on 127\.0\.0\.1:[0-9][0-9]*' "$SERVER_LOG" 2>/dev/null) || true
		if [[ -n $found ]]; then
			printf '%s\n' "${found##*:}"
			return 0
		fi
		if ! _alive "$SERVER_PID"; then
			_fail "chatd exited before listening; its stderr:" \
				"$(sed 's/^/  | /' "$SERVER_LOG")"
			return 1
		fi
		if ! _before "$end"; then
			_fail "chatd did not log 'listening on 127.0.0.1:PORT' within $(_timeout_seconds) s; its stderr:" \
				"$(sed 's/^/  | /' "$SERVER_LOG")"
			return 1
		fi
		_nap
	done
}

# server_processes: the pids of every process that maps this server's
# segment (the master and its children, even once orphaned).
__server_processes() {
	local maps pid
	[[ -n $SERVER_SEGMENT ]] || return 0
	for maps in $(grep -l -F -- "/dev/shm$SERVER_SEGMENT" /proc/[0-9]*/maps 2>/dev/null); do
		pid=${maps#/proc/}
		pid=${pid%/maps}
		if _alive "$pid"; then
			printf '%s\n' "$pid"
		fi
	done
	return 0
}

# server_children: the master's children, one pid a line.
__server_children() {
	pgrep -P "$SERVER_PID" || true
}

# busy_children: the master's children whose comm is "chatd: busy".
__busy_children() {
	local pid
	for pid in $(server_children); do
		if [[ $(_comm "$pid") == "chatd: busy" ]]; then
			printf '%s\n' "$pid"
		fi
	done
	return 0
}

_describe_children() {
	local pid
	for pid in $(server_children); do
		printf '  %s %s\n' "$pid" "$(_comm "$pid")"
	done
}

# wait_busy_children N: poll until exactly N children of the master are busy.
__wait_busy_children() {
	local want=$1 end busy
	_deadline end
	while :; do
		busy=$(busy_children | wc -l)
		(( busy == want )) && return 0
		if ! _before "$end"; then
			_fail "expected $want busy children of the master ($SERVER_PID), saw $busy after $(_timeout_seconds) s:" \
				"$(_describe_children)"
			return 1
		fi
		_nap
	done
}

# new_busy_child "BEFORE": print the one busy child that is not in the
# list BEFORE (the output of busy_children before a client connected).
__new_busy_child() {
	local before
	before=" $(printf "%s " $1)"
	local end pid new
	_deadline end
	while :; do
		new=()
		for pid in $(busy_children); do
			[[ $before == *" $pid "* ]] || new+=("$pid")
		done
		if (( ${#new[@]} == 1 )); then
			printf '%s\n' "${new[0]}"
			return 0
		fi
		if ! _before "$end"; then
			_fail "expected exactly one new busy child, found ${#new[@]} (${new[*]}); children:" \
				"$(_describe_children)"
			return 1
		fi
		_nap
	done
}

# client_open_child ALIAS: client_open, and set CHILD to the busy child
# that serves it.
__client_open_child() {
	local before
	before=$(busy_children)
	client_open "$1" || return
	CHILD=$(new_busy_child "$before")
}

# client_kill_child ALIAS WATCHER: SIGKILL the child in CHILD, which
# serves ALIAS, and wait for WATCHER, in its room, to be told ALIAS left.
__client_kill_child() {
	kill -s KILL "$CHILD" || return
	client_expect_exact "$2" "$(client_name "$1") left"
}

# server_signal SIGNAL: send SIGNAL to the master.  (server_stop then
# only waits for it to exit.)
__server_signal() {
	kill -s "$1" "$SERVER_PID" || return
	case $1 in
	TERM|INT|KILL|QUIT|SIGTERM|SIGINT|SIGKILL|SIGQUIT)
		SERVER_STOPPING=1 ;;
	esac
}

# server_expect_exit STATUS: the master exits with STATUS before the
# deadline (it is killed with SIGKILL if it does not).
__server_expect_exit() {
	local want=$1 pid=$SERVER_PID status=0
	if ! _wait_gone "$pid"; then
		kill -s KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		SERVER_PID=
		_fail "the chatd master ($pid) did not exit within $(_timeout_seconds) s; killed it with SIGKILL"
		return 1
	fi
	wait "$pid" 2>/dev/null || status=$?
	SERVER_PID=
	if (( status != want )); then
		_fail "the chatd master exited with status $status, expected $want; its stderr:" \
			"$(tail -n 20 "$SERVER_LOG" | sed 's/^/  | /')"
		return 1
	fi
}

# server_expect_segment_removed: /dev/shm/SEGMENT and its doorbells are gone.
__server_expect_segment_removed() {
	local end
	_deadline end
	while [[ -e /dev/shm$SERVER_SEGMENT || -e /dev/shm$SERVER_SEGMENT.doorbells ]]; do
		if ! _before "$end"; then
			_fail "the segment /dev/shm$SERVER_SEGMENT or its doorbells are still there after the master exited"
			return 1
		fi
		_nap
	done
}

# server_expect_no_processes: nothing that mapped the segment is left.
__server_expect_no_processes() {
	local end left
	_deadline end
	while :; do
		left=$(server_processes)
		[[ -z $left ]] && return 0
		if ! _before "$end"; then
			_fail "chatd processes still alive after $(_timeout_seconds) s:" \
				"$(for pid in $left; do printf '  %s %s\n' "$pid" "$(_comm "$pid")"; done)"
			return 1
		fi
		_nap
	done
}

# server_stop: stop the server as an operator would (SIGTERM); the master
# must exit 0 and remove its segment.
__server_stop() {
	local rc=0
	[[ -n $SERVER_PID ]] || return 0
	if (( ! SERVER_STOPPING )) && ! kill -s TERM "$SERVER_PID" 2>/dev/null; then
		_fail "the chatd master ($SERVER_PID) was already gone"
		rc=1
	fi
	SERVER_STOPPING=1
	server_expect_exit 0 || rc=1
	server_expect_segment_removed || rc=1
	return $rc
}

# server_restart [CONFIG-LINE...]: stop the server, start a new one.
__server_restart() {
	server_stop || return
	server_start "$@"
}

# _server_kill_leftovers: SIGKILL whatever still maps the segment.
_server_kill_leftovers() {
	local pid
	for pid in $(server_processes); do
		kill -s KILL "$pid" 2>/dev/null || true
	done
	if [[ -n $SERVER_PID ]]; then
		kill -s KILL "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
		SERVER_PID=
	fi
}

# _server_check_sanitizers: the server's stderr has no ASan/UBSan report.
_server_check_sanitizers() {
	local dir log
	for dir in "$BATS_TEST_TMPDIR"/server.*; do
		log=$dir/stderr
		[[ -f $log ]] || continue
		if grep -a -q -E 'ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:|SUMMARY: [A-Za-z]+Sanitizer' "$log"; then
			_fail "sanitizer report in $log:" "$(head -n 60 "$log" | sed 's/^/  | /')"
			return 1
		fi
	done
	return 0
}

# chat_teardown: stop the server, kill every client and leftover, and
# complain about anything that went wrong doing so.  Call from teardown().
__chat_teardown() {
	local rc=0
	server_stop || rc=1
	_server_kill_leftovers
	# a server killed (or a test that failed) leaves its segment and
	# doorbells: /dev/shm is the machine's, not the test's
	if [[ -n $SERVER_SEGMENT && -z $(server_processes) ]]; then
		rm -rf "/dev/shm$SERVER_SEGMENT" "/dev/shm$SERVER_SEGMENT.doorbells"
	fi
	_clients_kill_all
	_server_check_sanitizers || rc=1
	return $rc
}

# run_chatd ARGS...: `run` chatd with a deadline (status 124 if it hangs).
run_chatd() {
	run timeout -k 2 "$(_timeout_seconds)" "$CHATD" "$@"
}

# --- nc clients ------------------------------------------------------------

# client_connect ALIAS: connect a new client; read nothing yet.
__client_connect() {
	local alias=$1 dir=$BATS_TEST_TMPDIR/clients
	local fifo=$dir/$alias.in out=$dir/$alias.out fd rfd
	[[ -z ${CLIENT_FD[$alias]-} ]] || _fail "client $alias is already open" || return
	[[ -n $PORT ]] || _fail "client_connect: no server is running" || return
	mkdir -p "$dir"
	rm -f "$fifo"
	mkfifo "$fifo"
	: >"$out"
	exec {fd}<>"$fifo"	# read-write: opening does not block
	exec {rfd}<"$out"
	_spawn "$fifo" "$out" "$dir/$alias.err" nc -n 127.0.0.1 "$PORT"
	CLIENT_PID[$alias]=$_SPAWNED
	CLIENT_FD[$alias]=$fd
	CLIENT_RFD[$alias]=$rfd
	CLIENT_OUT[$alias]=$out
	CLIENT_PARTIAL[$alias]=
	CLIENT_NAME[$alias]=
	CLIENT_INODE[$alias]=
	CLIENT_ALIASES+=("$alias")
}

# client_open ALIAS: connect, and read the greeting up to "You are NAME"
# and "You joined main": the client is then in main, and its name is
# `client_name ALIAS`.
__client_open() {
	client_connect "$1" || return
	_client_greeted "$1"
}

# client_open_when_served ALIAS [REFUSAL]: like client_open, but a
# connection whose first line is REFUSAL (default "Server is full, try again
# later") is closed and tried again, until the deadline.  For when a slot has
# just been freed: the protocol does not say how soon the server notices.
__client_open_when_served() {
	local alias=$1 refusal=${2:-"Server is full, try again later"} end
	_deadline end
	while :; do
		client_connect "$alias" || return
		client_expect_next "$alias" "*" || return
		[[ $CLIENT_LINE != "$refusal" ]] && break
		client_close "$alias"
		if ! _before "$end"; then
			_fail "still refused (\"$refusal\") after $(_timeout_seconds) s"
			return 1
		fi
		_nap 0.05
	done
	_client_greeted "$alias"
}

# sessions_then_refused REFUSAL: six sessions one after another, then two
# held at once, then a third that must get REFUSAL as its only line: a limit
# of two still holds after the slots or tickets were freed and taken again.
__sessions_then_refused() {
	local refusal=$1 i
	for i in 1 2 3 4 5 6; do
		client_open_when_served "s$i" "$refusal" || return
		client_close "s$i"
	done
	client_open_when_served a "$refusal" || return
	client_open_when_served b "$refusal" || return
	client_connect c || return
	client_expect_next_exact c "$refusal"
}

# clients_open ALIAS...: connect them all at once, then wait for each to be
# in main.
__clients_open() {
	local alias
	for alias in "$@"; do
		client_connect "$alias" || return
	done
	for alias in "$@"; do
		_client_greeted "$alias" || return
	done
}

_client_greeted() {
	client_expect "$1" "You are *" || return
	CLIENT_NAME[$1]=${CLIENT_LINE#You are }
	client_expect_next_exact "$1" "You joined main"
}

# client_name ALIAS: the name the server gave the client on connect.
client_name() {
	printf '%s\n' "${CLIENT_NAME[$1]}"
}

_client_who() {
	if [[ -n ${CLIENT_NAME[$1]-} ]]; then
		printf '%s (%s)' "$1" "${CLIENT_NAME[$1]}"
	else
		printf '%s' "$1"
	fi
}

_client_check() {
	[[ -n ${CLIENT_FD[$1]-} ]] || _fail "no client called $1 is open"
}

# client_send ALIAS LINE: send LINE and a "\n".
__client_send() {
	client_send_raw "$1" '%s\n' "$2"
}

# client_send_raw ALIAS FORMAT [ARGS...]: send printf FORMAT ARGS as is
# ("\r\n", "\xff\xf4", no line end at all...).
__client_send_raw() {
	local alias=$1
	shift
	_client_check "$alias" || return
	if [[ -n ${CLIENT_PID[$alias]} ]]; then
		# Writes to the FIFO cannot fail or block (it is ours and small).
		# shellcheck disable=SC2059
		printf "$@" >&"${CLIENT_FD[$alias]}"
	else
		# A socket: a closed peer must not kill the test with SIGPIPE.
		# shellcheck disable=SC2059
		( trap '' PIPE; printf "$@" >&"${CLIENT_FD[$alias]}" ) ||
			_fail "sending to $(_client_who "$alias") failed: is it connected?"
	fi
}

# client_send_lines ALIAS COUNT TEXT [SECONDS]: send COUNT lines "TEXT N"
# (N counts from 1) as fast as the server takes them.  Fails if the server
# has not taken them all by the deadline (default 3x the usual one).
__client_send_lines() {
	local alias=$1 count=$2 text=$3 seconds=${4:-$(( 3 * $(_timeout_seconds) ))}
	local chunk i writer end
	_client_check "$alias" || return
	(
		trap '' PIPE
		for (( i = 1; i <= count; i += 1000 )); do
			chunk=
			for (( j = i; j < i + 1000 && j <= count; j++ )); do
				chunk+="$text $j"$'\n'
			done
			printf '%s' "$chunk" >&"${CLIENT_FD[$alias]}" || exit 1
		done
	) &
	writer=$!
	_deadline end "$seconds"
	while _alive "$writer"; do
		if ! _before "$end"; then
			kill -s KILL "$writer" 2>/dev/null || true
			wait "$writer" 2>/dev/null || true
			_fail "the server did not take $count lines from $(_client_who "$alias") within $seconds s"
			return 1
		fi
		_nap 0.05
	done
	wait "$writer" || _fail "sending $count lines as $(_client_who "$alias") failed"
}

# _client_read_line ALIAS: the next complete line into CLIENT_LINE, or
# status 1 if none is complete yet.
_client_read_line() {
	local alias=$1 chunk=
	if IFS= read -r -u "${CLIENT_RFD[$alias]}" chunk; then
		CLIENT_LINE=${CLIENT_PARTIAL[$alias]}$chunk
		CLIENT_PARTIAL[$alias]=
		return 0
	fi
	CLIENT_PARTIAL[$alias]+=$chunk	# at the end of the file for now
	return 1
}

# _client_closed ALIAS: the server closed the connection: nc exited, or
# its socket has received FIN (state CLOSE-WAIT, 08 in /proc/net/tcp; nc
# lingers there while its stdin is open).
_client_closed() {
	local alias=$1 pid=${CLIENT_PID[$1]} inode
	_alive "$pid" || return 0
	inode=${CLIENT_INODE[$alias]-}
	if [[ -z $inode ]]; then
		inode=$(find /proc/"$pid"/fd -lname 'socket:*' -printf '%l\n' 2>/dev/null) || true
		inode=${inode%%$'\n'*}
		inode=${inode#socket:[}
		inode=${inode%]}
		[[ -n $inode ]] || return 1	# not connected yet
		CLIENT_INODE[$alias]=$inode
	fi
	# awk, not a bash loop: after a benchmark the table holds thousands
	# of TIME-WAIT lines, and bash took seconds to read them at each poll.
	# Closed only once nc has also read what came before the FIN (the
	# rx_queue half of field 5 is empty): a slow nc may not have yet.
	awk -v inode="$inode" '$4 == "08" && $10 == inode &&
	    $5 ~ /:0+$/ { found = 1; exit }
	    END { exit !found }' /proc/net/tcp
}

# _client_next ALIAS DEADLINE: wait for the next complete line (status 1 at
# the deadline, 2 if the connection closed with no more lines).
_client_next() {
	local alias=$1 end=$2
	while ! _client_read_line "$alias"; do
		if _client_closed "$alias"; then
			# nc may have written its last lines just before that
			_client_read_line "$alias" && return 0
			return 2
		fi
		_before "$end" || return 1
		_nap
	done
}

# _client_expect ALIAS glob|exact WANT skip|next
_client_expect() {
	local alias=$1 how=$2 want=$3 mode=$4 end rc matched
	local -a seen=()
	_client_check "$alias" || return
	[[ -n ${CLIENT_PID[$alias]} ]] || _fail "$alias is a raw client: use raw_read_until" || return
	_deadline end
	while :; do
		rc=0
		_client_next "$alias" "$end" || rc=$?
		if (( rc != 0 )); then
			_client_expect_failed "$alias" "$how" "$want" "$mode" "$rc" "${seen[@]}"
			return 1
		fi
		matched=0
		if [[ $how == exact ]]; then
			[[ $CLIENT_LINE == "$want" ]] && matched=1
		else
			# shellcheck disable=SC2053
			[[ $CLIENT_LINE == $want ]] && matched=1
		fi
		(( matched )) && return 0
		seen+=("$CLIENT_LINE")
		if [[ $mode == next ]]; then
			_client_expect_failed "$alias" "$how" "$want" "$mode" 0 "${seen[@]}"
			return 1
		fi
	done
}

_client_expect_failed() {
	local alias=$1 how=$2 want=$3 mode=$4 rc=$5 line
	shift 5
	local what="a line matching '$want'"
	[[ $how == exact ]] && what="the line '$want'"
	{
		if [[ $mode == next && $rc == 0 ]]; then
			printf '%s expected %s next, but received:\n' "$(_client_who "$alias")" "$what"
		elif (( rc == 2 )); then
			printf '%s never received %s: the connection closed\n' "$(_client_who "$alias")" "$what"
		else
			printf '%s did not receive %s within %s s\n' "$(_client_who "$alias")" "$what" "$(_timeout_seconds)"
		fi
		if (( $# == 0 )); then
			printf '  (no new line arrived)\n'
		elif [[ $mode == skip ]]; then
			printf '  lines received since the previous expectation:\n'
		fi
		if (( $# > 30 )); then
			printf '  | ... %d lines, then the last 30:\n' $(( $# - 30 ))
			shift $(( $# - 30 ))
		fi
		for line in "$@"; do
			printf '  | %s\n' "$(_show "$line")"
		done
		if [[ -n ${CLIENT_PARTIAL[$alias]} ]]; then
			printf '  and an unterminated line: %s\n' "$(_show "${CLIENT_PARTIAL[$alias]}")"
		fi
		_server_diagnosis
	} >&2
}

# _process_state LABEL PID: a line with its title, state and kernel wait.
_process_state() {
	local title stat wchan
	read -r title 2>/dev/null </proc/"$2"/comm || return 0
	read -r stat 2>/dev/null </proc/"$2"/stat || return 0
	stat=${stat##*) }
	wchan=$(cat /proc/"$2"/wchan 2>/dev/null) || wchan=?
	printf '  %s %s: %s [%s, in %s]\n' "$1" "$2" "$title" "${stat:0:1}" "${wchan:-?}"
}

# _server_diagnosis: for a failure's message, the server's last log lines,
# what each of its processes and each client's nc is doing, and the bytes
# queued on the port's connections: whether a line that never arrived is
# unwritten, in flight, or unread.
_server_diagnosis() {
	local pid alias
	if [[ -s $SERVER_LOG ]]; then
		printf '  server stderr (last lines):\n'
		tail -n 8 "$SERVER_LOG" | sed 's/^/  # /'
	fi
	for pid in $(server_processes); do
		_process_state "server process" "$pid"
	done
	for alias in "${CLIENT_ALIASES[@]}"; do
		[[ -n ${CLIENT_PID[$alias]-} ]] &&
		    _process_state "client $alias: nc" "${CLIENT_PID[$alias]}"
	done
	if [[ -n ${PORT-} ]] && command -v ss >/dev/null; then
		printf '  connections of port %s (state, Recv-Q, Send-Q, local, peer):\n' "$PORT"
		ss -Htn "( sport = :$PORT or dport = :$PORT )" 2>/dev/null |
		    awk '{ printf "  # %s %s %s %s %s\n", $1, $2, $3, $4, $5 }'
	fi
}

__client_expect() {
	_client_expect "$1" glob "$2" skip
}

__client_expect_exact() {
	_client_expect "$1" exact "$2" skip
}

__client_expect_next() {
	_client_expect "$1" glob "$2" next
}

__client_expect_next_exact() {
	_client_expect "$1" exact "$2" next
}

# client_expect_help ALIAS: the next lines are the help text, exactly.
__client_expect_help() {
	local line
	for line in "${HELP_LINES[@]}"; do
		client_expect_next_exact "$1" "$line" || return
	done
}

# client_expect_closed ALIAS: the server closes the connection before the
# deadline.  Unread lines stay unread.
__client_expect_closed() {
	local alias=$1 end
	_client_check "$alias" || return
	[[ -n ${CLIENT_PID[$alias]} ]] || _fail "$alias is a raw client" || return
	_deadline end
	until _client_closed "$alias"; do
		if ! _before "$end"; then
			_fail "the server did not close the connection of $(_client_who "$alias") within $(_timeout_seconds) s;" \
				"it received:" "$(tail -n 10 "${CLIENT_OUT[$alias]}" | sed 's/^/  | /')" \
				"$(_server_diagnosis)"
			return 1
		fi
		_nap
	done
}

# client_refute_line ALIAS GLOB [SENDER]: no line matching GLOB reaches
# ALIAS.  Proven without waiting for "long enough": SENDER (default ALIAS)
# sends a unique marker text, and every line ALIAS receives before the
# marker is checked.  Whatever SENDER did before the marker reaches ALIAS
# before it, so pick as SENDER the client whose action is in question.
# (The marker is a chat line: the rest of SENDER's room sees it too.)
__client_refute_line() {
	local alias=$1 glob=$2 sender=${3:-$1} marker end rc line
	local -a bad=()
	_CHAT_MARKERS=$(( _CHAT_MARKERS + 1 ))
	marker="--marker-$_CHAT_MARKERS-$RANDOM--"
	client_send "$sender" "$marker" || return
	_deadline end
	while :; do
		rc=0
		_client_next "$alias" "$end" || rc=$?
		if (( rc != 0 )); then
			_client_expect_failed "$alias" exact "<any>: $marker" skip "$rc" "${bad[@]}"
			return 1
		fi
		[[ $CLIENT_LINE == *": $marker" ]] && break
		[[ $CLIENT_LINE == *": --marker-"*"--" ]] && continue	# an older one
		# shellcheck disable=SC2053
		[[ $CLIENT_LINE == $glob ]] && bad+=("$CLIENT_LINE")
	done
	if (( ${#bad[@]} )); then
		_fail "$(_client_who "$alias") received a line matching '$glob' it should not have:" \
			"$(for line in "${bad[@]}"; do printf '  | %s\n' "$(_show "$line")"; done)"
		return 1
	fi
}

# client_eventually ALIAS COMMAND REPLY-GLOB TEXT: send COMMAND until the
# reply (the next line matching REPLY-GLOB) is TEXT.  For what another
# connection's end sets in motion, which the protocol does not order.
__client_eventually() {
	local alias=$1 command=$2 glob=$3 want=$4 end
	_deadline end
	while :; do
		client_send "$alias" "$command" || return
		client_expect "$alias" "$glob" || return
		[[ $CLIENT_LINE == "$want" ]] && return 0
		if ! _before "$end"; then
			_fail "$(_client_who "$alias") still gets '$CLIENT_LINE' for $command after $(_timeout_seconds) s, expected '$want'"
			return 1
		fi
		_nap 0.05
	done
}

# client_close ALIAS: hang up (nc is killed; the kernel closes the socket).
__client_close() {
	local alias=$1 fd pid
	_client_check "$alias" || return
	pid=${CLIENT_PID[$alias]}
	if [[ -n $pid ]]; then
		kill -s TERM "$pid" 2>/dev/null || true
		_wait_gone "$pid" || _fail "nc for $alias did not exit" || return
		wait "$pid" 2>/dev/null || true
	fi
	fd=${CLIENT_FD[$alias]}
	exec {fd}>&-
	if [[ -n ${CLIENT_RFD[$alias]-} ]]; then
		fd=${CLIENT_RFD[$alias]}
		exec {fd}<&-
	fi
	unset 'CLIENT_FD[$alias]' 'CLIENT_RFD[$alias]' 'CLIENT_PID[$alias]'
}

_clients_kill_all() {
	local alias pid
	for alias in "${CLIENT_ALIASES[@]}"; do
		pid=${CLIENT_PID[$alias]-}
		[[ -n $pid ]] && kill -s KILL "$pid" 2>/dev/null
	done
	for alias in "${CLIENT_ALIASES[@]}"; do
		pid=${CLIENT_PID[$alias]-}
		[[ -n $pid ]] && wait "$pid" 2>/dev/null
	done
	return 0
}

# --- raw clients: a socket the test reads only when it says so ------------

# raw_open ALIAS: connect with bash's /dev/tcp and read the greeting up to
# "You joined main" (`client_name ALIAS` works); then read nothing more.
__raw_open() {
	local alias=$1 fd end line
	[[ -z ${CLIENT_FD[$alias]-} ]] || _fail "client $alias is already open" || return
	exec {fd}<>/dev/tcp/127.0.0.1/"$PORT" ||
		_fail "cannot connect to 127.0.0.1:$PORT" || return
	CLIENT_FD[$alias]=$fd
	CLIENT_PID[$alias]=
	CLIENT_NAME[$alias]=
	CLIENT_ALIASES+=("$alias")
	_deadline end
	while _before "$end"; do
		if IFS= read -r -t 1 -u "$fd" line; then
			if [[ $line == "You are "* ]]; then
				CLIENT_NAME[$alias]=${line#You are }
			elif [[ $line == "You joined main" ]]; then
				[[ -n ${CLIENT_NAME[$alias]} ]] && return 0
			fi
		elif (( $? <= 128 )); then
			break	# EOF
		fi
	done
	_fail "raw client $alias did not get 'You are NAME' and 'You joined main'"
}

# raw_read_until ALIAS REGEX: read from the socket up to the first line
# that matches REGEX (a perl regex); the lines read, that one included, are
# then in RAW_LINES.  It may read (and lose) bytes past that line.
__raw_read_until() {
	local alias=$1 regex=$2 file=$BATS_TEST_TMPDIR/raw.$1.lines rc=0
	# perl, not awk: mawk waits to fill its input buffer from a socket.
	timeout -k 1 "$(_timeout_seconds)" \
		perl -e '$| = 1; my $re = shift; while (<STDIN>) { print; exit 0 if /$re/ } exit 1' \
		-- "$regex" <&"${CLIENT_FD[$alias]}" >"$file" || rc=$?
	mapfile -t RAW_LINES <"$file"
	(( rc == 0 )) && return 0
	_fail "raw client $(_client_who "$alias") did not receive a line matching /$regex/ within $(_timeout_seconds) s;" \
		"it read ${#RAW_LINES[@]} lines, the last ones:" \
		"$(tail -n 10 "$file" | sed 's/^/  | /')"
}

# raw_close ALIAS: hang up.
__raw_close() {
	local fd=${CLIENT_FD[$1]}
	exec {fd}>&-
	unset 'CLIENT_FD[$1]'
}

# --- small assertions ------------------------------------------------------

# proc_status PID KEY: the value of KEY in /proc/PID/status, without its
# unit ("VmHWM" -> "1234"); status 1 if the process has no such line.
proc_status() {
	local key value unit
	while read -r key value unit; do
		if [[ $key == "$2:" ]]; then
			printf '%s\n' "$value"
			return 0
		fi
	done </proc/"$1"/status
	return 1
}

# repeat TEXT COUNT: print TEXT COUNT times, no line end.
__repeat() {
	local out=
	local i
	for (( i = 0; i < $2; i++ )); do
		out+=$1
	done
	printf '%s' "$out"
}

# assert_status N: the last `run` exited with N.
assert_status() {
	(( status == $1 )) && return 0
	_fail "expected exit status $1, got $status; output:" "$(printf '  | %s\n' "${lines[@]}")"
}

# assert_output_contains TEXT: the last `run` printed TEXT somewhere.
assert_output_contains() {
	[[ $output == *"$1"* ]] && return 0
	_fail "expected the output to contain '$1'; it was:" "$(printf '  | %s\n' "${lines[@]}")"
}

# assert_line_starting TEXT: some line of the last `run` starts with TEXT.
assert_line_starting() {
	local line
	for line in "${lines[@]}"; do
		[[ $line == "$1"* ]] && return 0
	done
	_fail "expected a line starting with '$1'; the output was:" "$(printf '  | %s\n' "${lines[@]}")"
}

# --- what the tests call -----------------------------------------------------

# Bats runs a DEBUG trap before every command of a test and, through set -T,
# of every function the test calls: some 0.5 ms a command, which would make
# the helpers above crawl as they poll and scan lines.  So each public helper
# turns that inheritance off for its body (local - restores it on return):
# NAME runs __NAME untraced.
_untraced() {
	local -
	set +T
	"$@"
}

server_start() { _untraced __server_start "$@"; }
server_processes() { _untraced __server_processes "$@"; }
server_children() { _untraced __server_children "$@"; }
busy_children() { _untraced __busy_children "$@"; }
wait_busy_children() { _untraced __wait_busy_children "$@"; }
new_busy_child() { _untraced __new_busy_child "$@"; }
client_open_child() { _untraced __client_open_child "$@"; }
client_kill_child() { _untraced __client_kill_child "$@"; }
server_signal() { _untraced __server_signal "$@"; }
server_expect_exit() { _untraced __server_expect_exit "$@"; }
server_expect_segment_removed() { _untraced __server_expect_segment_removed "$@"; }
server_expect_no_processes() { _untraced __server_expect_no_processes "$@"; }
server_stop() { _untraced __server_stop "$@"; }
server_restart() { _untraced __server_restart "$@"; }
chat_teardown() { _untraced __chat_teardown "$@"; }
client_connect() { _untraced __client_connect "$@"; }
client_open() { _untraced __client_open "$@"; }
client_open_when_served() { _untraced __client_open_when_served "$@"; }
sessions_then_refused() { _untraced __sessions_then_refused "$@"; }
clients_open() { _untraced __clients_open "$@"; }
client_send() { _untraced __client_send "$@"; }
client_send_raw() { _untraced __client_send_raw "$@"; }
client_send_lines() { _untraced __client_send_lines "$@"; }
client_expect() { _untraced __client_expect "$@"; }
client_expect_exact() { _untraced __client_expect_exact "$@"; }
client_expect_next() { _untraced __client_expect_next "$@"; }
client_expect_next_exact() { _untraced __client_expect_next_exact "$@"; }
client_expect_help() { _untraced __client_expect_help "$@"; }
client_expect_closed() { _untraced __client_expect_closed "$@"; }
client_refute_line() { _untraced __client_refute_line "$@"; }
client_eventually() { _untraced __client_eventually "$@"; }
client_close() { _untraced __client_close "$@"; }
raw_open() { _untraced __raw_open "$@"; }
raw_read_until() { _untraced __raw_read_until "$@"; }
raw_close() { _untraced __raw_close "$@"; }
repeat() { _untraced __repeat "$@"; }
