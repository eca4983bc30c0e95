# Sourced by compare.sh and instructions.sh: builds Switchyard and the `least-loaded` plugin,
# writes every proxy's config into $work, starts the upstreams (one nginx worker answering
# "ok" on three ports, pinned to core 1) and cleans up on exit.
#
# Proxies, each listening on its own port, all round robin over the same 3 upstreams unless
# named otherwise: nginx 18081, haproxy 18082, switchyard 18083, sy-native (least_conn)
# 18084, sy-wasm (the least-loaded Wasm plugin) 18085; sy-hosts-first 18086 and
# sy-hosts-last 18087: 2,000 host routes (a tenant each), asked for the first or last host.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
for tool in nginx haproxy wrk taskset "$@"; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y nginx-light haproxy wrk valgrind" >&2; exit 1; }
done
cargo build --release -p switchyard --quiet
CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=true cargo build --release --quiet \
  --target wasm32-wasip2 --target-dir target/wasm-plugins -p least-loaded
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -- "-$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
declare -A PORT=([nginx]=18081 [haproxy]=18082 [switchyard]=18083 [sy-native]=18084 [sy-wasm]=18085
                 [sy-hosts-first]=18086 [sy-hosts-last]=18087)
declare -A HOST=([sy-hosts-first]=tenant1.example.com [sy-hosts-last]=tenant2000.example.com)
# The wrk/curl arguments that name the Host proxy $1 is asked for, one per line (none: the URL's).
host_args() { if [[ -n ${HOST[$1]:-} ]]; then printf -- '-H\nHost: %s\n' "${HOST[$1]}"; fi; }

cat > "$work/upstreams.conf" <<CONF
worker_processes 1; daemon off; pid $work/up.pid; error_log stderr error;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 10000000; keepalive_timeout 300s;
  server { listen 127.0.0.1:19001; location / { return 200 "ok\n"; } }
  server { listen 127.0.0.1:19002; location / { return 200 "ok\n"; } }
  server { listen 127.0.0.1:19003; location / { return 200 "ok\n"; } } }
CONF
setsid taskset -c 1 nginx -c "$work/upstreams.conf" -e stderr & pids+=($!)

# master_process off: the one process serving is the one measured (and valgrind follows it).
cat > "$work/nginx.conf" <<CONF
worker_processes 1; master_process off; daemon off; pid $work/nginx.pid; error_log stderr error;
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
for which in first last; do
  { printf 'listen = ["127.0.0.1:%s"]\nadmin = "off"\nworkers = 1\n' "${PORT[sy-hosts-$which]}"
    for i in $(seq 2000); do printf '[[route]]\nhost = "tenant%d.example.com"\nservice = "up"\n' "$i"; done
    sed -n '/^\[service.up\]/,$p' "$work/switchyard.toml"; } > "$work/sy-hosts-$which.toml"
done

# The command line that runs proxy $1 in the foreground.
proxy_command() {
  case $1 in
    nginx) echo "nginx -c $work/nginx.conf -e stderr" ;;
    haproxy) echo "haproxy -f $work/haproxy.cfg" ;;
    switchyard) echo "./target/release/switchyard run --config $work/switchyard.toml" ;;
    *) echo "./target/release/switchyard run --config $work/$1.toml" ;;
  esac
}

# Waits (bounded) until proxy $1 answers; $2 is the number of 0.2 s tries.
wait_for() {
  local host; mapfile -t host < <(host_args "$1")
  for _ in $(seq "${2:-100}"); do curl -sf -o /dev/null "${host[@]}" "http://127.0.0.1:${PORT[$1]}/" && return 0; sleep 0.2; done
  echo "$1 did not start answering on port ${PORT[$1]}" >&2; return 1
}
