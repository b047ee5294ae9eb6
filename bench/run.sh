#!/usr/bin/env bash
# The metered hot path measured from outside (docs/performance.md, "Metered path under wrk"):
# release server + zero-latency fake upstream on loopback, load from wrk (2 threads).
#   bash bench/run.sh [sqlite|postgres] [seconds]
# LEASES=false measures admission by per-call reservations (the protocol before leases); ORGS
# sets how many organisations the many-organisations row spreads its calls over (default 32).
# CEILING=<micros> sets quotas.operator_monthly_ceiling_micros (docs/adr/0014-abuse-limits.md).
# Postgres: uses $BENCH_DATABASE_URL (default: a fresh database tollgate_bench on the local
# server). Needs wrk (Debian package), curl and jq.
set -euo pipefail
cd "$(dirname "$0")/.."
backend="${1:-sqlite}"
seconds="${2:-10}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/tollgate-target}"
cargo build --release --quiet --bin tollgate --example fake_upstream -p tollgate-server
bin="$CARGO_TARGET_DIR/release"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

case "$backend" in
  sqlite) url="sqlite://$work/bench.db" ;;
  postgres)
    url="${BENCH_DATABASE_URL:-}"
    if [ -z "$url" ]; then
      psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS tollgate_bench WITH (FORCE)" \
        -c "CREATE DATABASE tollgate_bench"
      url="postgres://postgres@127.0.0.1:5432/tollgate_bench"
    fi ;;
  *) echo "usage: bench/run.sh [sqlite|postgres] [seconds]" >&2; exit 2 ;;
esac

cat > "$work/tollgate.toml" <<TOML
[server]
listen = "127.0.0.1:9180"
[database]
url = "$url"
[auth]
jwt_secret = "bench-secret-0123456789abcdef0123456789abcdef"
admin_email = "bench@example.com"
admin_password = "bench password 1"
[openai]
base_url = "http://127.0.0.1:9100/v1"
api_key = "sk-bench"
[quotas]
leases = ${LEASES:-true}
${CEILING:+operator_monthly_ceiling_micros = $CEILING}
[rate_limit.per_source]
signup = { per_minute = 0, burst = 0 }
redemption = { per_minute = 0, burst = 0 }
login = { per_minute = 0, burst = 0 }
[plans.free]
requests_per_minute = 1000000000
monthly_budget_micros = 1000000000000000
[plans.free.daily_quota]
chat = 1000000000
analysis = 1000000000
comparison = 1000000000
[plans.tiny]
name = "Tiny"
price_cents = 0
requests_per_minute = 1
monthly_budget_micros = 1000000
[plans.tiny.daily_quota]
chat = 1000000
TOML

"$bin/examples/fake_upstream" 127.0.0.1:9100 2>/dev/null &
RUST_LOG=warn "$bin/tollgate" --config "$work/tollgate.toml" 2>"$work/server.log" &
server=$!
for _ in $(seq 1 100); do curl -fs http://127.0.0.1:9180/healthz >/dev/null && break; sleep 0.1; done

base=http://127.0.0.1:9180
admin=$(curl -fs $base/auth/login -H 'content-type: application/json' \
  -d '{"email":"bench@example.com","password":"bench password 1"}' | jq -r .access_token)
KEY=$(curl -fs $base/api/v1/keys -H "authorization: Bearer $admin" -H 'content-type: application/json' \
  -d '{"name":"bench","environment":"production"}' | jq -r .key)
export KEY
# An API key of a new organisation (a user invited by the admin): its e-mail, its plan.
org_key() {
  local email=$1 plan=$2 invite token
  invite=$(curl -fs $base/admin/invites -H "authorization: Bearer $admin" -H 'content-type: application/json' \
    -d "{\"email\":\"$email\"}" | jq -r .invite_token)
  curl -fs $base/auth/signup -H 'content-type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"bench password 1\",\"invite_token\":\"$invite\"}" >/dev/null
  [ "$plan" = free ] || "$bin/tollgate" --config "$work/tollgate.toml" set-plan --email "$email" --plan "$plan" >/dev/null
  token=$(curl -fs $base/auth/login -H 'content-type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"bench password 1\"}" | jq -r .access_token)
  curl -fs $base/api/v1/keys -H "authorization: Bearer $token" -H 'content-type: application/json' \
    -d '{"name":"bench","environment":"production"}' | jq -r .key
}
# A second organisation on the 1-per-minute plan, for the 429 path.
LIMITED_KEY=$(org_key tiny@example.com tiny)
export LIMITED_KEY
# ORGS organisations (default 32) for the many-organisations row.
export KEYS_FILE="$work/keys.txt"
for i in $(seq 1 "${ORGS:-32}"); do org_key "org$i@example.com" free >>"$KEYS_FILE"; done
sleep 1.5   # the plan cache (1 s) picks up the new plan
# One metered call before measuring: the first call of an organisation takes its first lease.
curl -fs $base/v1/chat/completions -H "authorization: Bearer $KEY" -H 'content-type: application/json' \
  -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello."}],"max_tokens":64}' >/dev/null

healthz_rps=""
run() { # name, connections, url, [script]
  local name=$1 connections=$2 target=$3 script=${4:-}
  local args=(-t 2 -c "$connections" -d "${seconds}s" --latency)
  [ -n "$script" ] && args+=(-s "$script")
  local ticks_before ticks_after
  ticks_before=$(awk '{print $14+$15}' /proc/$server/stat)
  local out; out=$(wrk "${args[@]}" "$target")
  ticks_after=$(awk '{print $14+$15}' /proc/$server/stat)
  local rps p50 p99 non2xx ratio="" requests cpu
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  # Server CPU (user + system, from /proc) per request; 0 for the upstream-alone rows.
  cpu=$(awk -v t=$((ticks_after - ticks_before)) -v r="$requests" -v hz="$(getconf CLK_TCK)" \
    'BEGIN {printf "%4.0f us/req", t * 1e6 / hz / r}')
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  [ -n "$healthz_rps" ] && ratio=$(awk -v a="$rps" -v b="$healthz_rps" 'BEGIN {printf "%5.1f %% of /healthz", 100*a/b}')
  local resident; resident=$(awk '/VmRSS/ {printf "%d MB", $2 / 1024}' /proc/$server/status)
  printf '%-34s c=%-3s %10s req/s  p50 %-9s p99 %-9s server CPU %s, %s  %s%s\n' "$name" "$connections" \
    "$rps" "$p50" "$p99" "$cpu" "$resident" "$ratio" "${non2xx:+  ($non2xx non-2xx)}"
  [ "$name" = "GET /healthz" ] && healthz_rps=$rps
  return 0
}

echo "backend: $backend, ${seconds}s per target"
# The bare upstream at both connection counts: the metered rows' added latency is theirs minus
# these, at the same percentile.
for c in 16 64; do
  run "upstream alone" $c http://127.0.0.1:9100/v1/chat/completions bench/chat.lua
done
run "GET /healthz" 64 $base/healthz
run "GET /api/v1/me (API key)" 64 $base/api/v1/me bench/me.lua
for c in 16 64; do
  run "POST /v1/chat/completions" $c $base/v1/chat/completions bench/chat.lua
done
run "POST /v1/chat/completions, ${ORGS:-32} orgs" 64 $base/v1/chat/completions bench/chat-many.lua
run "POST /v1/chat/completions (stream)" 64 $base/v1/chat/completions bench/chat-stream.lua
run "POST /v1/chat/completions (429)" 64 $base/v1/chat/completions bench/limited.lua
run "GET /api/v1/usage" 64 $base/api/v1/usage bench/me.lua
rss=$(awk '/VmRSS/ {print $2, $3}' /proc/$server/status)
peak=$(awk '/VmHWM/ {print $2, $3}' /proc/$server/status)
cpu=$(awk '{print ($14+$15)/100}' /proc/$server/stat)
echo "server: resident $rss at the end, $peak at the peak; CPU time ${cpu}s over the whole run"
