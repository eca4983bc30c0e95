#!/usr/bin/env bash
# User-space instructions per proxied request, counted by valgrind (callgrind) for the same
# five proxies and upstreams as compare.sh. Instruction counts do not move with the VM's
# noise, so this shows what a code change did (a difference of 1% is real here, where
# compare.sh needs many rounds to see 5%). Kernel work (~60% of a proxy's CPU time here, the
# same syscalls for every proxy) is not counted: this compares the part each proxy owns.
#
#   tests/bench/instructions.sh                 # 10 s of load per proxy
#   DURATION=20s PROXIES="nginx switchyard" tests/bench/instructions.sh
#   PROXIES="sy-hosts-first sy-hosts-last" tests/bench/instructions.sh   # 2,000 host routes
#
# Needs: valgrind, plus what compare.sh needs. Writes the profiles (callgrind_annotate
# them) to target/bench-instructions/.
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
read -r -a proxies <<<"${PROXIES:-nginx haproxy switchyard sy-native sy-wasm}"
source "$(dirname "$0")/setup.sh" valgrind callgrind_control callgrind_annotate
out=target/bench-instructions
mkdir -p "$out"

declare -A IR
for name in "${proxies[@]}"; do
  rm -f "$out/$name.callgrind"*
  # shellcheck disable=SC2046
  setsid taskset -c 0 valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$out/$name.callgrind" $(proxy_command "$name") >"$work/$name.log" 2>&1 &
  pid=$!; pids+=($pid)
  wait_for "$name" 600 || { cat "$work/$name.log" >&2; exit 1; }
  mapfile -t host < <(host_args "$name")
  taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d3s "${host[@]}" "http://127.0.0.1:${PORT[$name]}/" >/dev/null   # warm-up
  callgrind_control -i on "$pid" >/dev/null 2>&1
  requests=$(taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$DURATION" "${host[@]}" "http://127.0.0.1:${PORT[$name]}/" | awk '/requests in/ {print $1}')
  callgrind_control -d "$pid" >/dev/null 2>&1
  kill -- "-$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
  total=$(callgrind_annotate "$out/$name.callgrind.1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  IR[$name]=$((total / requests))
  echo "$name: $requests requests, ${IR[$name]} instructions each" >&2
done

echo "user-space instructions per request (callgrind; $DURATION of load at $CONNECTIONS connections each)"
printf "%-11s %14s %10s\n" proxy "instr/request" "vs nginx"
for name in "${proxies[@]}"; do
  printf "%-11s %14d %10s\n" "$name" "${IR[$name]}" \
    "$([[ -n ${IR[nginx]:-} ]] && awk -v a="${IR[$name]}" -v b="${IR[nginx]}" 'BEGIN {printf "%.2f", a/b}' || echo -)"
done
if [[ -n ${IR[sy-hosts-first]:-} && -n ${IR[sy-hosts-last]:-} ]]; then
  echo "2,000 host routes, last host vs first: $(awk -v a="${IR[sy-hosts-last]}" -v b="${IR[sy-hosts-first]}" 'BEGIN {printf "%.3f", a/b}')x"
fi
if [[ -n ${IR[sy-native]:-} && -n ${IR[sy-wasm]:-} ]]; then
  echo "Wasm balancer per request: +$((IR[sy-wasm] - IR[sy-native])) instructions over native least_conn"
fi
