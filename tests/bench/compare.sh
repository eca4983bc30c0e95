#!/usr/bin/env bash
# Switchyard vs NGINX vs HAProxy as round-robin HTTP/1.1 keep-alive proxies over 3 local
# upstreams, in one run; then Switchyard with a native least_conn balancer and with the
# `least-loaded` Wasm balancer plugin (examples/rust/least-loaded), same upstreams. Each proxy gets core 0 and one worker; the upstreams (one nginx
# process) and wrk share core 1. Reports requests/s, p99 and proxy CPU-µs per request
# (utime+stime of the proxy's processes over the run / requests), each as a ratio to NGINX.
#
#   tests/bench/compare.sh              # 10 s per proxy, 32 connections
#   DURATION=30s CONNECTIONS=64 tests/bench/compare.sh
#   ROUNDS=5 tests/bench/compare.sh     # native vs Wasm balancer: 5 alternating runs each, medians
#
# Run-to-run noise on a small VM is several percent, more than the Wasm call costs, so the
# native/Wasm pair is run ROUNDS times (default 3), alternating, and the medians compared.
#
# Needs: nginx, haproxy, wrk, taskset (Debian: nginx-light haproxy wrk util-linux).
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
ROUNDS=${ROUNDS:-3}
for tool in nginx haproxy wrk taskset; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y nginx-light haproxy wrk" >&2; exit 1; }
done
cargo build --release -p switchyard --quiet
CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=true cargo build --release --quiet \
  --target wasm32-wasip2 --target-dir target/wasm-plugins -p least-loaded
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
sed -e 's/18083/18084/' -e 's/"round_robin"/"least_conn"/' "$work/switchyard.toml" > "$work/sy-native.toml"
cp target/wasm-plugins/wasm32-wasip2/release/least_loaded.wasm "$work/least_loaded.wasm"
sed -e 's/18083/18085/' -e 's/"round_robin"/{ plugin = "lb" }/' "$work/switchyard.toml" > "$work/sy-wasm.toml"
printf '[plugin.lb]\npath = "least_loaded.wasm"\n' >> "$work/sy-wasm.toml"

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
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
declare -a NR NC NP WR WC WP
for _ in $(seq "$ROUNDS"); do
  run sy-native 18084 ./target/release/switchyard run --config "$work/sy-native.toml"
  NR+=("${RPS[sy-native]}"); NC+=("${CPU[sy-native]}"); NP+=("${P99[sy-native]}")
  run sy-wasm 18085 ./target/release/switchyard run --config "$work/sy-wasm.toml"
  WR+=("${RPS[sy-wasm]}"); WC+=("${CPU[sy-wasm]}"); WP+=("${P99[sy-wasm]}")
done
RPS[sy-native]=$(median "${NR[@]}"); CPU[sy-native]=$(median "${NC[@]}"); P99[sy-native]=$(median "${NP[@]}")
RPS[sy-wasm]=$(median "${WR[@]}"); CPU[sy-wasm]=$(median "${WC[@]}"); P99[sy-wasm]=$(median "${WP[@]}")

echo "duration $DURATION, $CONNECTIONS keep-alive connections, proxy on core 0, wrk + upstreams on core 1"
printf "%-11s %10s %8s %9s %14s %10s %10s\n" proxy "req/s" "p99 ms" "CPU µs/req" "req/s vs nginx" "p99 vs" "CPU vs"
for name in nginx haproxy switchyard sy-native sy-wasm; do
  awk -v n="$name" -v r="${RPS[$name]}" -v p="${P99[$name]}" -v c="${CPU[$name]}" \
      -v r0="${RPS[nginx]}" -v p0="${P99[nginx]}" -v c0="${CPU[nginx]}" \
      'BEGIN {printf "%-11s %10.0f %8.2f %9.2f %14.2f %10.2f %10.2f\n", n, r, p, c, r/r0, p/p0, c/c0}'
done
echo "(switchyard: round_robin; sy-native: least_conn; sy-wasm: the least-loaded Wasm plugin; the last two: medians of $ROUNDS alternating runs)"
echo "sy-native CPU µs/req per run: ${NC[*]}; sy-wasm: ${WC[*]}"
awk -v r="${RPS[sy-wasm]}" -v r0="${RPS[sy-native]}" -v c="${CPU[sy-wasm]}" -v c0="${CPU[sy-native]}" \
    'BEGIN {printf "Wasm balancer vs native least_conn: req/s %.3f, CPU per request %.3f\n", r/r0, c/c0}'
