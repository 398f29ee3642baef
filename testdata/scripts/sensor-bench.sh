#!/usr/bin/env bash
# Measures the sensor on this machine: a slice of the generated mix replayed at tcpreplay's
# top speed into a veth pair in a private network namespace (loopback addresses only), with
# the sensor on the other end; reports the packets sent, the packets the sensor read, the
# kernel's drops, the sensor's CPU time and peak RSS, and, for comparison, what ndpiReader
# (libpcap, one thread) saw of the same replay. With SOAK_SECONDS, the replay loops for that
# long and the sensor's RSS is sampled every 10 s (the soak run).
#
# Needs root, ip, tcpreplay, and ndpiReader for the comparison (Debian: libndpi-bin).
#   testdata/scripts/sensor-bench.sh                 # 200,000 packets, sensor then ndpiReader
#   SOAK_SECONDS=600 testdata/scripts/sensor-bench.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
PACKETS=${PACKETS:-200000}
FLOWS=${FLOWS:-20000}
WORKERS=${WORKERS:-$(nproc)}
SOAK_SECONDS=${SOAK_SECONDS:-0}
work=$(mktemp -d)
ns=pcapaudit-bench-$$
cleanup() { ip netns del "$ns" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

go build -o "$work/pcapaudit" ./cmd/pcapaudit
go run ./cmd/pcapgen -scenario mix -packets "$PACKETS" -flows "$FLOWS" -o "$work/mix.pcap"
ip netns add "$ns"
ip netns exec "$ns" sh -c 'echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6'
ip -n "$ns" link add veth-a mtu 9000 type veth peer name veth-b mtu 9000
ip -n "$ns" link set lo up
ip -n "$ns" link set veth-a up
ip -n "$ns" link set veth-b up

metric() { # sum of a metric's samples
  ip netns exec "$ns" bash -c "exec 3<>/dev/tcp/127.0.0.1/9187; printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3; cat <&3" |
    awk -v m="$1" '$1 ~ "^"m"({|$)" {s += $NF} END {printf "%d", s}'
}
replay() { ip netns exec "$ns" tcpreplay --intf1=veth-b --topspeed "$@" "$work/mix.pcap" 2>&1; }

echo "== sensor ($WORKERS workers) on veth-a"
ip netns exec "$ns" "$work/pcapaudit" sensor --interface veth-a --workers "$WORKERS" \
  --metrics-addr 127.0.0.1:9187 --output "$work/out.ndjson" 2>"$work/sensor.log" &
pid=$!
sleep 1
start=$(date +%s)
if [ "$SOAK_SECONDS" -gt 0 ]; then
  echo "soak: replaying for $SOAK_SECONDS s; RSS every 10 s (kB):"
  sent=0
  while [ $(( $(date +%s) - start )) -lt "$SOAK_SECONDS" ]; do
    out=$(replay)
    sent=$((sent + $(echo "$out" | awk '/Successful packets:/ {print $3}')))
    [ $(( ($(date +%s) - start) % 10 )) -lt 3 ] && printf '%s\t%s\n' "$(( $(date +%s) - start ))s" "$(awk '/VmRSS/ {print $2}' /proc/$pid/status)"
  done
else
  out=$(replay)
  echo "$out" | grep -E 'Rated|Successful|Failed'
  sent=$(echo "$out" | awk '/Successful packets:/ {print $3}')
fi
for _ in $(seq 1 60); do
  [ "$(metric pcapaudit_packets_total)" -ge "$sent" ] && break
  sleep 1
done
read_=$(metric pcapaudit_packets_total); drops=$(metric pcapaudit_kernel_drops_total)
hwm=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
cpu=$(awk '{printf "%.2f", ($14+$15)/100}' /proc/$pid/stat)
kill -TERM $pid; wait $pid
echo "sent $sent; sensor read $read_ ($(awk -v a="$read_" -v b="$sent" 'BEGIN {printf "%.2f", 100*a/b}') %); kernel drops $drops; CPU ${cpu} s; peak RSS $((hwm / 1024)) MB"
echo "flows $(grep -c '"dataset":"pcapaudit.flow"' "$work/out.ndjson"), findings $(grep -c '"dataset":"pcapaudit.finding"' "$work/out.ndjson")"

if command -v ndpiReader >/dev/null && [ "$SOAK_SECONDS" -eq 0 ]; then
  echo "== ndpiReader (libpcap, one thread) on veth-a, the same replay"
  ip netns exec "$ns" timeout 60 ndpiReader -i veth-a -s 15 >"$work/ndpi.txt" 2>&1 &
  npid=$!
  sleep 2
  replay | grep -E 'Rated' || true
  wait $npid || true
  seen=$(awk '/IP packets:/ {print $3; exit}' "$work/ndpi.txt")
  echo "ndpiReader saw ${seen:-?} IP packets of $sent ($(awk -v a="${seen:-0}" -v b="$sent" 'BEGIN {printf "%.1f", 100*a/b}') %)"
fi
