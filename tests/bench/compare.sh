#!/usr/bin/env bash
# Switchyard vs NGINX vs HAProxy as round-robin HTTP/1.1 keep-alive proxies over 3 local
# upstreams, in one run. Each proxy gets core 0 and one worker; the upstreams (one nginx
# process) and wrk share core 1. Reports requests/s, p99 and proxy CPU-µs per request
# (utime+stime of the proxy's processes over the run / requests), each as a ratio to NGINX.
#
#   tests/bench/compare.sh              # 10 s per proxy, 32 connections
#   DURATION=30s CONNECTIONS=64 tests/bench/compare.sh
#
# Needs: nginx, haproxy, wrk, taskset (Debian: nginx-light haproxy wrk util-linux).
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
for tool in nginx haproxy wrk taskset; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y nginx-light haproxy wrk" >&2; exit 1; }
done
cargo build --release -p switchyard --quiet
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -- "-$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
clk=$(getconf CLK_TCK)

# Upstreams: one nginx worker answering "ok" on three ports, on core 1.
cat > "$work/upstreams.conf" <<CONF
worker_processes 1; daemon off; pid $work/up.pid; error_log stderr error;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 10000000; keepalive_timeout 300s;
  server { listen 127.0.0.1:19001; location / { return 200 "ok\n"; } }
  server { listen 127.0.0.1:19002; location / { return 200 "ok\n"; } }
  server { listen 127.0.0.1:19003; location / { return 200 "ok\n"; } } }
CONF
setsid taskset -c 1 nginx -c "$work/upstreams.conf" -e stderr & pids+=($!)

cat > "$work/nginx.conf" <<CONF
worker_processes 1; daemon off; pid $work/nginx.pid; error_log stderr error;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 10000000; keepalive_timeout 300s;
  upstream up { server 127.0.0.1:19001; server 127.0.0.1:19002; server 127.0.0.1:19003;
                keepalive 128; keepalive_requests 10000000; }
  server { listen 127.0.0.1:18081;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection "";
                 proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
                 proxy_set_header X-Forwarded-Proto \$scheme;
                 proxy_set_header X-Forwarded-Host \$host; } } }
CONF
cat > "$work/haproxy.cfg" <<CONF
global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
  option forwardfor
frontend fe
  bind 127.0.0.1:18082
  default_backend be
backend be
  balance roundrobin
  http-reuse always
  server s1 127.0.0.1:19001
  server s2 127.0.0.1:19002
  server s3 127.0.0.1:19003
CONF
cat > "$work/switchyard.toml" <<CONF
listen = ["127.0.0.1:18083"]
admin = "off"
workers = 1
[[route]]
service = "up"
[service.up]
balancer = "round_robin"
upstreams = [{ addr = "127.0.0.1:19001" }, { addr = "127.0.0.1:19002" }, { addr = "127.0.0.1:19003" }]
CONF

# CPU ticks (user+system) of every process in session $1.
ticks() { ps -o pid= -s "$1" | while read -r p; do awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null; done | awk '{s+=$1} END {print s+0}'; }

declare -A RPS P99 CPU
run() { # name port command...
  local name=$1 port=$2; shift 2
  setsid taskset -c 0 "$@" >"$work/$name.log" 2>&1 & local sid=$!; pids+=($sid)
  for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
  taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d2s "http://127.0.0.1:$port/" >/dev/null   # warm-up
  local before; before=$(ticks "$sid")
  taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:$port/" > "$work/$name.wrk"
  local after; after=$(ticks "$sid")
  local requests; requests=$(awk '/requests in/ {print $1}' "$work/$name.wrk")
  if grep -q "Non-2xx" "$work/$name.wrk"; then echo "$name answered non-2xx:" >&2; cat "$work/$name.wrk" >&2; exit 1; fi
  RPS[$name]=$(awk '/Requests\/sec/ {print $2}' "$work/$name.wrk")
  P99[$name]=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub("us","",v); v/=1000} else if (v ~ /ms$/) sub("ms","",v); else if (v ~ /s$/) {sub("s","",v); v*=1000}; print v}' "$work/$name.wrk")
  CPU[$name]=$(awk -v d=$((after - before)) -v r="$requests" -v c="$clk" 'BEGIN {printf "%.2f", d * 1e6 / c / r}')
  kill -- "-$sid" 2>/dev/null || true; wait "$sid" 2>/dev/null || true
}

run nginx 18081 nginx -c "$work/nginx.conf" -e stderr
run haproxy 18082 haproxy -f "$work/haproxy.cfg"
run switchyard 18083 ./target/release/switchyard run --config "$work/switchyard.toml"

echo "duration $DURATION, $CONNECTIONS keep-alive connections, proxy on core 0, wrk + upstreams on core 1"
printf "%-11s %10s %8s %9s %14s %10s %10s\n" proxy "req/s" "p99 ms" "CPU µs/req" "req/s vs nginx" "p99 vs" "CPU vs"
for name in nginx haproxy switchyard; do
  awk -v n="$name" -v r="${RPS[$name]}" -v p="${P99[$name]}" -v c="${CPU[$name]}" \
      -v r0="${RPS[nginx]}" -v p0="${P99[nginx]}" -v c0="${CPU[nginx]}" \
      'BEGIN {printf "%-11s %10.0f %8.2f %9.2f %14.2f %10.2f %10.2f\n", n, r, p, c, r/r0, p/p0, c/c0}'
done
