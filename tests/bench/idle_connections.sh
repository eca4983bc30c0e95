#!/usr/bin/env bash
# Memory per idle keep-alive client connection: NGINX and Switchyard side by side, same
# upstreams. Each proxy gets CONNECTIONS connections that each carried one proxied request
# (so every buffer a real connection grows has grown) and then sit idle; the proxy's RSS
# before and after, divided by the connections, is what one idle client costs it.
#
#   tests/bench/idle_connections.sh                     # 10,000 connections
#   CONNECTIONS=20000 PROXIES="switchyard" tests/bench/idle_connections.sh
#
# Needs what compare.sh needs, and python3 for the client.
CONNECTIONS=${CONNECTIONS:-10000}
read -r -a proxies <<<"${PROXIES:-nginx switchyard}"
source "$(dirname "$0")/setup.sh"
# The client and the proxy each hold a socket per connection (each in its own process).
ulimit -n "$(ulimit -Hn)"
if [[ $(ulimit -n) != unlimited && $(ulimit -n) -lt $((CONNECTIONS + 1024)) ]]; then
  echo "open-file limit $(ulimit -n) is too low for $CONNECTIONS connections" >&2; exit 1
fi
sed -i "s/worker_connections 4096/worker_connections $((CONNECTIONS * 2 + 1024))/" "$work/nginx.conf"
# Idle connections must outlive the measurement: no keep-alive timeout for 5 minutes.
printf 'client_timeout = "5m"\n' | cat - "$work/switchyard.toml" > "$work/idle.toml" && mv "$work/idle.toml" "$work/switchyard.toml"

cat > "$work/hold.py" <<'PY'
import socket, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
held = []
for _ in range(count):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
    answer = b""
    while not answer.endswith(b"ok\n"):
        chunk = s.recv(4096)
        if not chunk:
            sys.exit("the proxy closed a connection")
        answer += chunk
    held.append(s)
print("holding", flush=True)
sys.stdin.read()
PY

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

echo "RSS per idle keep-alive client connection ($CONNECTIONS connections, each after one request)"
for name in "${proxies[@]}"; do
  # shellcheck disable=SC2046
  setsid taskset -c 0 $(proxy_command "$name") >"$work/$name.log" 2>&1 &
  pid=$!; pids+=($pid)
  wait_for "$name"
  # Warm: the first requests size the pools and buffers every connection then reuses.
  taskset -c 1 wrk -t1 -c32 -d1s "http://127.0.0.1:${PORT[$name]}/" >/dev/null
  before=$(rss_kib "$pid")
  coproc HOLD { taskset -c 1 python3 "$work/hold.py" "${PORT[$name]}" "$CONNECTIONS"; }
  read -r -t 300 ready <&"${HOLD[0]}" || { echo "$name: the client did not get its connections up" >&2; exit 1; }
  sleep 1
  after=$(rss_kib "$pid")
  eval "exec ${HOLD[1]}>&-"; wait "$HOLD_PID" 2>/dev/null || true
  kill -- "-$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
  printf "%-11s %8d KiB before, %8d KiB after: %6.2f KiB per connection\n" "$name" "$before" "$after" \
    "$(awk -v a="$after" -v b="$before" -v n="$CONNECTIONS" 'BEGIN {print (a - b) / n}')"
done
