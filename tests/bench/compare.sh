#!/usr/bin/env bash
# Switchyard vs NGINX vs HAProxy as round-robin HTTP/1.1 keep-alive proxies over 3 local
# upstreams; then Switchyard with a native least_conn balancer and with the `least-loaded`
# Wasm balancer plugin (examples/rust/least-loaded: the same algorithm), same upstreams.
# Each proxy gets core 0 and one worker; the upstreams (one nginx process) and wrk share
# core 1. Reports requests/s, p99 and proxy CPU-µs per request (utime+stime of the proxy's
# processes over the run / requests).
#
# A small VM moves the same binary ±10-15% between runs, so every proxy runs once per round,
# ROUNDS rounds in turn, and the ratios are medians of the per-round ratios (each proxy
# against NGINX, the Wasm balancer against native least_conn, from the same round).
#
#   tests/bench/compare.sh                         # 5 rounds of 6 s per proxy, 32 connections
#   ROUNDS=9 DURATION=10s CONNECTIONS=64 tests/bench/compare.sh
#
# Needs: nginx, haproxy, wrk, taskset (Debian: nginx-light haproxy wrk util-linux).
# For a measure immune to that noise (user-space instructions per request), see
# tests/bench/instructions.sh.
DURATION=${DURATION:-6s}
CONNECTIONS=${CONNECTIONS:-32}
ROUNDS=${ROUNDS:-5}
source "$(dirname "$0")/setup.sh"
clk=$(getconf CLK_TCK)
proxies=(nginx haproxy switchyard sy-native sy-wasm)

# CPU ticks (user+system) of every process in session $1.
ticks() { ps -o pid= -s "$1" | while read -r p; do awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null; done | awk '{s+=$1} END {print s+0}'; }

declare -A RPS P99 CPU
run() { # proxy name; appends "req/s p99-ms cpu-µs" to RPS/P99/CPU[name]
  local name=$1 port=${PORT[$1]}
  # shellcheck disable=SC2046
  setsid taskset -c 0 $(proxy_command "$name") >"$work/$name.log" 2>&1 & local sid=$!; pids+=($sid)
  wait_for "$name"
  taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d2s "http://127.0.0.1:$port/" >/dev/null   # warm-up
  local before; before=$(ticks "$sid")
  taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:$port/" > "$work/$name.wrk"
  local after; after=$(ticks "$sid")
  kill -- "-$sid" 2>/dev/null || true; wait "$sid" 2>/dev/null || true
  if grep -q "Non-2xx" "$work/$name.wrk"; then echo "$name answered non-2xx:" >&2; cat "$work/$name.wrk" >&2; exit 1; fi
  local requests; requests=$(awk '/requests in/ {print $1}' "$work/$name.wrk")
  RPS[$name]+="$(awk '/Requests\/sec/ {print $2}' "$work/$name.wrk") "
  P99[$name]+="$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub("us","",v); v/=1000} else if (v ~ /ms$/) sub("ms","",v); else if (v ~ /s$/) {sub("s","",v); v*=1000}; print v}' "$work/$name.wrk") "
  CPU[$name]+="$(awk -v d=$((after - before)) -v r="$requests" -v c="$clk" 'BEGIN {printf "%.2f", d * 1e6 / c / r}') "
}

for round in $(seq "$ROUNDS"); do
  for name in "${proxies[@]}"; do run "$name"; done
  echo "round $round/$ROUNDS: CPU µs/req $(for n in "${proxies[@]}"; do printf '%s=%s ' "$n" "$(awk '{print $NF}' <<<"${CPU[$n]}")"; done)" >&2
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
# Median over rounds of $1's values divided by $2's from the same round.
ratio() { paste <(tr ' ' '\n' <<<"$1" | grep .) <(tr ' ' '\n' <<<"$2" | grep .) | awk '{print $1/$2}' | median; }

echo "$ROUNDS rounds × $DURATION per proxy, $CONNECTIONS keep-alive connections, proxy on core 0, wrk + upstreams on core 1"
printf "%-11s %10s %8s %10s %14s %10s %10s\n" proxy "req/s" "p99 ms" "CPU µs/req" "req/s vs nginx" "p99 vs" "CPU vs"
for name in "${proxies[@]}"; do
  printf "%-11s %10.0f %8.2f %10.2f %14.2f %10.2f %10.2f\n" "$name" \
    "$(median <<<"${RPS[$name]}")" "$(median <<<"${P99[$name]}")" "$(median <<<"${CPU[$name]}")" \
    "$(ratio "${RPS[$name]}" "${RPS[nginx]}")" "$(ratio "${P99[$name]}" "${P99[nginx]}")" \
    "$(ratio "${CPU[$name]}" "${CPU[nginx]}")"
done
echo "(medians over rounds; ratios are medians of same-round ratios. switchyard: round_robin;"
echo " sy-native: least_conn; sy-wasm: the least-loaded Wasm plugin)"
for name in "${proxies[@]}"; do echo "$name CPU µs/req per round: ${CPU[$name]}"; done
printf 'Wasm balancer vs native least_conn: req/s %.3f, CPU per request %.3f\n' \
  "$(ratio "${RPS[sy-wasm]}" "${RPS[sy-native]}")" "$(ratio "${CPU[sy-wasm]}" "${CPU[sy-native]}")"
