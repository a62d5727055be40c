#!/usr/bin/env bash
# tests/torture.sh: `make torture`.  Starts the test build of chatd
# (build/torture/chatd), and while clients chat in several rooms kills its
# children with SIGKILL at least TORTURE_KILLS (1000) times: parked holding
# the global lock, parked holding a room lock, serving a client at a
# random moment, idle.  After every round the client side
# (build/torture/torture-client) checks that nothing hangs, that /users
# and /rooms show exactly the live sessions, that every dead session's
# name is free again and that the segment leaks no slot or room.  Then
# the server must still stop cleanly on SIGTERM.  Bounded: under two
# minutes, or it fails.
set -euo pipefail
cd "$(dirname "$0")/.."

CHATD=${CHATD_TORTURE:-$PWD/build/torture/chatd}
CLIENT=${TORTURE_CLIENT:-$PWD/build/torture/torture-client}
KILLS=${TORTURE_KILLS:-1000}
BUDGET=${TORTURE_SECONDS:-100}

for f in "$CHATD" "$CLIENT"; do
	[[ -x $f ]] || { echo "torture: $f is missing (make torture builds it)" >&2; exit 1; }
done

dir=$(mktemp -d "${TMPDIR:-/tmp}/chatd-torture.XXXXXX")
segment=/chatd-torture-$$
master=
cleanup() {
	local pid
	if [[ -n $master ]] && kill -0 "$master" 2>/dev/null; then
		kill -s KILL "$master" 2>/dev/null || true
	fi
	# whatever still maps the segment (orphaned children)
	for pid in $(grep -l -F -- "/dev/shm$segment" /proc/[0-9]*/maps 2>/dev/null |
	    sed 's|/proc/||; s|/maps||'); do
		kill -s KILL "$pid" 2>/dev/null || true
	done
	rm -rf "/dev/shm$segment" "/dev/shm$segment.doorbells"
	rm -rf "$dir"
}
trap cleanup EXIT

mkdir "$dir/flags"
# started as root, chatd's children run as User (nobody): they must reach
# and remove the flag files
chmod 0755 "$dir"
chmod 0777 "$dir/flags"
cat >"$dir/chatd.conf" <<EOF
SegmentName $segment
MinSpare 4
MaxSpare 8
MaxClients 64
RingSize 64
EOF

CHATD_TORTURE_DIR=$dir/flags "$CHATD" -d -f "$dir/chatd.conf" -p 0 \
	</dev/null 2>"$dir/stderr" &
master=$!

port=
for _ in $(seq 100); do
	port=$(grep -a -o -m1 'listening on 127\.0\.0\.1:[0-9]*' "$dir/stderr" || true)
	[[ -n $port ]] && break
	kill -0 "$master" 2>/dev/null || break
	sleep 0.1
done
if [[ -z $port ]]; then
	echo "torture: chatd did not start; its stderr:" >&2
	sed 's/^/  | /' "$dir/stderr" >&2
	exit 1
fi
port=${port##*:}

status=0
timeout -k 5 $(( BUDGET + 15 )) "$CLIENT" -p "$port" -m "$master" \
	-d "$dir/flags" -l "$dir/stderr" -s "$segment" -k "$KILLS" \
	-T "$BUDGET" || status=$?
if (( status != 0 )); then
	(( status == 124 )) && echo "torture: FAIL: the client side hung"
	echo "torture: the server's last lines:"
	tail -n 30 "$dir/stderr" | sed 's/^/  | /'
	exit 1
fi

# and after all that, a clean stop
kill -s TERM "$master"
for _ in $(seq 200); do
	kill -0 "$master" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$master" 2>/dev/null; then
	echo "torture: FAIL: the master did not stop within 20 s of SIGTERM"
	exit 1
fi
rc=0
wait "$master" || rc=$?
master=
if (( rc != 0 )); then
	echo "torture: FAIL: the master exited with status $rc"
	tail -n 30 "$dir/stderr" | sed 's/^/  | /'
	exit 1
fi
if [[ -e /dev/shm$segment ]]; then
	echo "torture: FAIL: the master left its segment behind"
	exit 1
fi
if grep -a -q -E 'cannot (take|release|mark)' "$dir/stderr"; then
	echo "torture: FAIL: a lock call failed:"
	grep -a -E 'cannot (take|release|mark)' "$dir/stderr" | head -n 5 | sed 's/^/  | /'
	exit 1
fi
echo "torture: the server stopped cleanly on SIGTERM; passed"
