#!/usr/bin/env bash
# make bench: build/chatd (release) on a port the kernel picks, driven by
# build/chatbench through a fixed matrix.  Every figure is the median of
# RUNS runs (default 3), shown with [min-max].  Timing is measured here,
# never asserted by a test.
#
#   tests/bench.sh            the whole matrix
#   tests/bench.sh smoke      a seconds-long run so the instrument cannot rot
#                             (make check runs it); fails on any loss
#   ROWS=idle tests/bench.sh  only the rows whose name holds the word "idle"
#                             (whole words: "idle C=1000" is not "idle
#                             C=10000"); a comma separates alternatives:
#                             ROWS="churn,idle C=1000"
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
chatd=${CHATD:-$top/build/chatd}
bench=${CHATBENCH:-$top/build/chatbench}
runs=${RUNS:-3}
mode=${1:-full}
work=$(mktemp -d)
master=

# any_alive PID...: whether one of them still runs
any_alive() {
	local p
	for p; do
		kill -0 "$p" 2>/dev/null && return 0
	done
	return 1
}

# and its children: thousands of them exiting while the next row measures
# would give memory back in the middle of it
stop_server() {
	local kids
	[ -n "$master" ] || return 0
	kids=$(pgrep -P "$master")
	kill -TERM "$master" 2>/dev/null
	for _ in $(seq 100); do
		kill -0 "$master" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$master" 2>/dev/null
	wait "$master" 2>/dev/null
	for _ in $(seq 300); do		# 30 s at most, for all of them
		any_alive $kids || break
		sleep 0.1
	done
	master=
}
trap 'stop_server; rm -rf "$work"' EXIT

# start_server [setting lines...]: a fresh server, so one row's leftovers
# (children, memory) do not weigh on the next
start_server() {
	stop_server
	{
		echo "SegmentName /chatd-bench-$$"
		echo "MaxClients 12000"
		echo "MinSpare 32"
		echo "MaxSpare 1000"
		# load from one address as fast as it goes: not a flood
		echo "MaxLinesPerSecond 0"
		echo "MaxClientsPerIP 0"
		printf '%s\n' "$@"
	} > "$work/chatd.conf"
	"$chatd" -d -f "$work/chatd.conf" -p 0 2>"$work/chatd.log" &
	master=$!
	for _ in $(seq 100); do
		port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' \
		    "$work/chatd.log")
		[ -n "$port" ] && return 0
		sleep 0.1
	done
	echo "bench: chatd did not start:" >&2
	cat "$work/chatd.log" >&2
	exit 1
}

# field KEY < RESULT line
field() {
	tr ' ' '\n' | sed -n "s/^$1=//p"
}

# summary VALUES...: "median [min-max]"
summary() {
	printf '%s\n' "$@" | sort -g | awk '
	    { v[NR] = $1 }
	    END {
		if (NR == 0) { print "-"; exit }
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%s [%s-%s]", m, v[1], v[NR]
	    }'
}

# settle: until the last rows' closed connections are gone.  A socket in
# TIME-WAIT holds kernel memory for 60 s; a churn run leaves tens of
# thousands, and their expiry during an idle run gave MemAvailable back
# and made a connection look cheaper (C=1000 read 57-113 KiB, measured)
settle() {
	command -v ss >/dev/null || return 0
	for _ in $(seq 180); do
		[ "$(ss -Htan state time-wait | wc -l)" -lt 64 ] && return 0
		sleep 1
	done
}

# row_selected NAME: whether ROWS (unset: every row) picks it.  Words,
# not bytes: as a substring, "idle C=1000" also picked "idle C=10000", an
# hour-long row nobody asked for.
row_selected() {
	local want w
	[ -z "${ROWS:-}" ] && return 0
	IFS=, read -r -a want <<<"$ROWS"
	for w in "${want[@]}"; do
		w=$(printf '%s' "$w" | tr -s ' ')
		w=${w# }
		w=${w% }
		[ -n "$w" ] || continue
		case " $1 " in *" $w "*) return 0 ;; esac
	done
	return 1
}

# row NAME KEYS -- chatbench arguments: RUNS runs, one table row
row() {
	local name=$1 keys=$2 k a out line results=() args
	shift 3
	row_selected "$name" || return 0
	for _ in $(seq "$runs"); do
		case " $* " in *" idle "*) settle ;; esac
		start_server
		args=()
		for a in "$@"; do	# MASTER: this run's master pid
			[ "$a" = MASTER ] && a=$master
			args+=("$a")
		done
		out=$("$bench" -p "$port" "${args[@]}" 2>"$work/bench.err")
		line=$(printf '%s\n' "$out" | grep '^RESULT' | tail -n 1)
		if [ -z "$line" ]; then
			echo "bench: no RESULT from chatbench $*:" >&2
			cat "$work/bench.err" >&2
			line="RESULT"
		fi
		results+=("$line")
		[ "$mode" = smoke ] && printf '%s\n' "$line"
	done
	printf '%-34s' "$name"
	for k in $keys; do
		vals=()
		for line in "${results[@]}"; do
			v=$(printf '%s\n' "$line" | field "$k")
			[ -n "$v" ] && vals+=("$v")
		done
		printf '  %s=%s' "$k" "$(summary "${vals[@]}")"
	done
	echo
}

if [ "$mode" = smoke ]; then
	runs=1
	start_server
	"$bench" -p "$port" -T 30 fanout -c 20 -s 4 -m 200 -w 8 || exit 1
	"$bench" -p "$port" -T 30 churn -d 4 -t 1 || exit 1
	"$bench" -p "$port" -T 30 idle -c 50 -k 5 -t 1 -P "$master" || exit 1
	exit 0
fi

lat="rate p50_ms p99_ms lost dropped_msgs"
echo "chatd bench: $(nproc) cores, median [min-max] of $runs runs, $(date -u +%FT%TZ)"
row "fanout C=10 S=10 W=8"     "$lat" -- -T 60 fanout -c 10 -s 10 -m 3000 -w 8
row "fanout C=100 S=10 W=8"    "$lat" -- -T 60 fanout -c 100 -s 10 -m 1000 -w 8
row "fanout C=1000 S=10 W=8"   "$lat" -- -T 90 fanout -c 1000 -s 10 -m 300 -w 8
row "fanout C=1000 200 lines/s" "$lat send_lag_p99_ms" -- -T 90 fanout -c 1000 -s 10 -f 200 -m 100
row "fanout C=10 10 lines/s"   "$lat send_lag_p99_ms" -- -T 60 fanout -c 10 -s 10 -f 10 -m 10
row "churn D=8"                "conns_per_s failures" -- -T 60 churn -d 8 -t 5
mem="mem_avail_per_conn_kib server_uss_per_conn_kib pagetables_per_conn_kib kernelstack_per_conn_kib slab_per_conn_kib anonpages_per_conn_kib connect_failures"
row "idle C=1000" "$mem" -- -T 120 idle -c 1000 -t 2 -x -P MASTER
# everyone lands in main and everyone there hears "NAME joined": joining
# is quadratic in the room's size, so the 10,000 come at a gentler pace
# (at 10,000 that is a fan-out of 2.5 million lines/s, and the machine's
# kdamond walks every page's 10,000 mappings: connecting can take minutes)
row "idle C=10000" "connected connect_s $mem" -- -T 600 -r 250 idle -c 10000 -t 2 -x -P MASTER
