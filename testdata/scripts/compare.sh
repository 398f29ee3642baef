#!/usr/bin/env bash
# compare.sh — the speed comparison docs/performance.md quotes: pcapaudit against the
# decode-and-flow-map floor (cmd/pcapfloor), nDPI and tshark on the same synthetic captures.
#
# Usage (from anywhere inside the repository):
#
#   testdata/scripts/compare.sh
#   RUNS=3 MIX_PACKETS=200000 MIX_FLOWS=20000 testdata/scripts/compare.sh
#
# Environment:
#   RUNS           runs of each command on the mix, median reported (default 5)
#   MIX_PACKETS    packets in the SPAN-like mix (default 1000000)
#   MIX_FLOWS      flows in the mix (default 100000)
#   FLOOD_PACKETS  packets in the SYN flood (default 2000000)
#   SEED           pcapgen seed (default 1)
#   NDPI_TIMEOUT   seconds ndpiReader may run on the flood (default 300)
#
# Needs Go, GNU time (/usr/bin/time), ndpiReader (Debian package libndpi-bin, nDPI 4.2) and
# tshark; missing ones are installed with apt-get when running as root (or with sudo).
#
# What runs, each on the same file:
#   pcapaudit --format json FILE       the product, NDJSON output (default worker count)
#   pcapaudit FILE                     the product, text report
#   pcapaudit --workers 1 --format json FILE
#                                      the product on one flow worker, to set beside the floor
#   pcapfloor FILE                     pcapaudit's reader and decoder plus a Go map of flows:
#                                      the floor that "within 1.5x of the floor" refers to
#   ndpiReader -i FILE -q              nDPI's reader: reads the file, classifies every flow and
#                                      writes nothing to disk (no -w, -C, -J, -x); on a file it
#                                      runs one thread whatever -n says
#   tshark -n -r FILE -q -z conv,ip -z io,phs
#                                      full dissection as an analyst would run it: the protocol
#                                      hierarchy tap (io,phs) makes tshark build every packet's
#                                      whole protocol tree, conv,ip is its flow table; -n keeps
#                                      name resolution out of the timing
# The SYN flood is run by pcapaudit (RUNS times) and ndpiReader (once, under timeout, since it
# keeps every flow and may need gigabytes). The runs go round by round: every command once,
# then every command again, so that the noise of a shared machine falls on all of them alike.
#
# Wall time and peak RSS come from GNU time (%e, %M); CPU is user + system (%U + %S), which
# shows how much of a multi-core machine a tool used. Exit status 0 and 1 of pcapaudit are
# success (1 means findings at or above --fail-on); ndpiReader's exit status is recorded but not
# held against it. Results go to stdout as Markdown; nothing is written into the repository.
set -euo pipefail

RUNS=${RUNS:-5}
MIX_PACKETS=${MIX_PACKETS:-1000000}
MIX_FLOWS=${MIX_FLOWS:-100000}
FLOOD_PACKETS=${FLOOD_PACKETS:-2000000}
SEED=${SEED:-1}
NDPI_TIMEOUT=${NDPI_TIMEOUT:-300}

cd "$(dirname "$0")/../.."
root=$(pwd)

log() { printf '%s\n' "$*" >&2; }
die() { log "compare.sh: $*"; exit 2; }

# need CMD PACKAGE: install PACKAGE with apt-get when CMD is missing.
need() {
	local cmd=$1 pkg=$2
	if [[ -x $cmd ]] || command -v "$cmd" >/dev/null 2>&1; then
		return
	fi
	local sudo=
	if [[ $(id -u) -ne 0 ]]; then
		command -v sudo >/dev/null 2>&1 || die "$cmd is missing: install the Debian package '$pkg' (apt-get install $pkg)"
		sudo=sudo
	fi
	log "compare.sh: $cmd is missing; installing the Debian package '$pkg' with apt-get"
	$sudo apt-get update -qq >&2 || die "apt-get update failed; install '$pkg' by hand"
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$pkg" >&2 ||
		die "could not install '$pkg'; install it by hand"
	[[ -x $cmd ]] || command -v "$cmd" >/dev/null 2>&1 || die "'$pkg' is installed but $cmd is still missing"
}

command -v go >/dev/null 2>&1 || die "go is not on PATH"
need /usr/bin/time time
need ndpiReader libndpi-bin
need tshark tshark
/usr/bin/time -f %e true 2>/dev/null || die "/usr/bin/time is not GNU time (need -f)"

work=$(mktemp -d "${TMPDIR:-/tmp}/pcapaudit-compare.XXXXXX")
trap 'rm -rf "$work"' EXIT

log "building pcapaudit and pcapfloor"
CGO_ENABLED=0 go build -o "$work/pcapaudit" ./cmd/pcapaudit
CGO_ENABLED=0 go build -o "$work/pcapfloor" ./cmd/pcapfloor

mix=$work/mix.pcap
flood=$work/flood.pcap
log "generating the mix: $MIX_PACKETS packets, $MIX_FLOWS flows, seed $SEED"
go run ./cmd/pcapgen -scenario mix -packets "$MIX_PACKETS" -flows "$MIX_FLOWS" -seed "$SEED" -o "$mix"
log "generating the SYN flood: $FLOOD_PACKETS packets, seed $SEED"
go run ./cmd/pcapgen -scenario synflood -packets "$FLOOD_PACKETS" -seed "$SEED" -o "$flood"
# Written out and read once, so that neither the kernel's write-back nor a cold page cache
# lands in the first tool's timings.
sync
cat "$mix" "$flood" >/dev/null

# measure NAME OKCODES CMD...: run CMD once under GNU time, stdout and stderr to a log, and
# append "wall rss_kb cpu status" to $work/NAME.runs. OKCODES is a regex of accepted exit
# statuses ("any" accepts all). A rejected status stops the script with the log's tail.
measure() {
	local name=$1 ok=$2
	shift 2
	local tf=$work/$name.time lf=$work/$name.log status=0
	/usr/bin/time -o "$tf" -f '%e %M %U %S' "$@" >"$lf" 2>&1 || status=$?
	if [[ $ok != any && ! $status =~ ^($ok)$ ]]; then
		log "compare.sh: '$*' exited with status $status; its output ends:"
		tail -n 20 "$lf" >&2
		exit 1
	fi
	# GNU time writes "Command exited with non-zero status N" before the format line.
	local wall rss user sys
	read -r wall rss user sys < <(tail -n 1 "$tf")
	echo "$wall $rss $(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }') $status" >>"$work/$name.runs"
}

# median FILE COLUMN: the median of a numeric column (mean of the middle two for an even count).
median() {
	awk -v c="$2" '{ print $c }' "$1" | sort -g | awk '
		{ v[NR] = $1 }
		END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# statuses FILE: the distinct exit statuses seen.
statuses() { awk '{ print $4 }' "$1" | sort -un | paste -sd, -; }

rows=()
queued=()
# bench NAME RUNS OKCODES TOOL LABEL CMD...: queue a command to run RUNS times and remember its
# table row. rounds runs what is queued.
bench() {
	local name=$1 runs=$2 ok=$3 tool=$4 label=$5
	shift 5
	declare -ga "cmd_${name//-/_}"
	local -n cmd="cmd_${name//-/_}"
	cmd=("$@")
	: >"$work/$name.runs"
	queued+=("$name"$'\x1f'"$runs"$'\x1f'"$ok"$'\x1f'"$tool"$'\x1f'"$label") # OKCODES holds '|'

	rows+=("$name|$tool|$label|$runs")
}

# rounds: run the queued commands round by round, each once per round until it has had its
# runs, so that a slow spell of a shared machine falls on every tool alike instead of on all
# the runs of one.
rounds() {
	local most=0 q name runs ok tool label i
	for q in "${queued[@]}"; do
		IFS=$'\x1f' read -r name runs ok tool label <<<"$q"
		((runs > most)) && most=$runs
	done
	for ((i = 1; i <= most; i++)); do
		for q in "${queued[@]}"; do
			IFS=$'\x1f' read -r name runs ok tool label <<<"$q"
			((i > runs)) && continue
			local -n cmd="cmd_${name//-/_}"
			log "  $tool: $label (run $i of $runs)"
			measure "$name" "$ok" "${cmd[@]}"
			unset -n cmd
		done
	done
	queued=()
}

# table REFERENCE: print the remembered rows as Markdown, ratios against the REFERENCE row.
table() {
	local ref=$1 refwall
	refwall=$(median "$work/$ref.runs" 1)
	echo "| tool | command | runs | median wall s | median CPU s | median peak RSS MB | wall ratio to pcapaudit | exit |"
	echo "|---|---|---|---|---|---|---|---|"
	local row name tool label runs wall cpu rss
	for row in "${rows[@]}"; do
		IFS='|' read -r name tool label runs <<<"$row"
		wall=$(median "$work/$name.runs" 1)
		rss=$(median "$work/$name.runs" 2)
		cpu=$(median "$work/$name.runs" 3)
		awk -v t="$tool" -v l="$label" -v n="$runs" -v w="$wall" -v c="$cpu" -v r="$rss" -v ref="$refwall" -v x="$(statuses "$work/$name.runs")" 'BEGIN {
			printf "| %s | `%s` | %d | %.2f | %.2f | %.0f | %s | %s |\n", t, l, n, w, c, r / 1024, (ref > 0 ? sprintf("%.2f", w / ref) : "n/a"), x
		}'
	done
	rows=()
}

cpu_model=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
ndpi_version=$(ndpiReader -h 2>&1 | awk '/nDPI/ { print $NF; exit }' || true)
tshark_version=$(tshark --version 2>/dev/null | awk 'NR == 1 { print $3; exit }' || true)
mix_size=$(du -m "$mix" | cut -f1)
flood_size=$(du -m "$flood" | cut -f1)

pa=$work/pcapaudit
pf=$work/pcapfloor

log "mix: $RUNS runs of each command"
bench pa-json "$RUNS" '0|1' pcapaudit 'pcapaudit --format json FILE' "$pa" --format json "$mix"
bench pa-text "$RUNS" '0|1' pcapaudit 'pcapaudit FILE' "$pa" "$mix"
bench pa-json1 "$RUNS" '0|1' pcapaudit 'pcapaudit --workers 1 --format json FILE' "$pa" --workers 1 --format json "$mix"
bench floor "$RUNS" 0 pcapfloor 'pcapfloor FILE' "$pf" "$mix"
bench ndpi "$RUNS" any "nDPI $ndpi_version" 'ndpiReader -i FILE -q' ndpiReader -i "$mix" -q
bench tshark "$RUNS" 0 "tshark $tshark_version" 'tshark -n -r FILE -q -z conv,ip -z io,phs' tshark -n -r "$mix" -q -z conv,ip -z io,phs
rounds
floor_out=$(cat "$work/floor.log")

echo "Machine: $(nproc) cores, ${cpu_model:-unknown CPU}, $(go env GOVERSION), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "### SPAN-like mix: $MIX_PACKETS packets, $MIX_FLOWS flows, seed $SEED ($mix_size MB; pcapfloor: $floor_out)"
echo
table pa-json
echo

log "flood: pcapaudit $RUNS runs, ndpiReader once (timeout ${NDPI_TIMEOUT}s)"
bench flood-pa-json "$RUNS" '0|1' pcapaudit 'pcapaudit --format json FILE' "$pa" --format json "$flood"
bench flood-ndpi 1 any "nDPI $ndpi_version" "timeout $NDPI_TIMEOUT ndpiReader -i FILE -q" timeout "$NDPI_TIMEOUT" ndpiReader -i "$flood" -q
rounds

echo "### SYN flood: $FLOOD_PACKETS packets, seed $SEED ($flood_size MB)"
echo
table flood-pa-json
if grep -q ' 124$' "$work/flood-ndpi.runs"; then
	echo
	echo "ndpiReader was stopped by timeout after ${NDPI_TIMEOUT}s: its time is a lower bound."
fi
