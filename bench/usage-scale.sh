#!/usr/bin/env bash
# One-off: GET /api/v1/usage as an organisation's month grows to 10^3, 10^6 (and, with
# "full", 10^7) usage events, on Postgres. Events are inserted with SQL and the rollups rebuilt
# by `tollgate reconcile-usage` (the per-row trigger is switched off for the bulk insert: one
# statement updating the same rollup row a million times is quadratic in Postgres), then the
# read is measured with wrk from outside.
#   bash bench/usage-scale.sh [full]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/tollgate-target}"
cargo build --release --quiet --bin tollgate -p tollgate-server
bin="$CARGO_TARGET_DIR/release/tollgate"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS tollgate_scale WITH (FORCE)" \
  -c "CREATE DATABASE tollgate_scale"
db="postgres://postgres@127.0.0.1:5432/tollgate_scale"
cat > "$work/tollgate.toml" <<TOML
[server]
listen = "127.0.0.1:9182"
[database]
url = "$db"
[auth]
jwt_secret = "bench-secret-0123456789abcdef0123456789abcdef"
admin_email = "bench@example.com"
admin_password = "bench password 1"
TOML
RUST_LOG=warn "$bin" --config "$work/tollgate.toml" 2>"$work/server.log" &
for _ in $(seq 1 100); do curl -fs http://127.0.0.1:9182/healthz >/dev/null && break; sleep 0.1; done
base=http://127.0.0.1:9182
token=$(curl -fs $base/auth/login -H 'content-type: application/json' \
  -d '{"email":"bench@example.com","password":"bench password 1"}' | jq -r .access_token)
me=$(curl -fs $base/api/v1/me -H "authorization: Bearer $token")
org=$(jq -r .organization.id <<<"$me")
user=$(jq -r .user.id <<<"$me")
KEY=$(curl -fs $base/api/v1/keys -H "authorization: Bearer $token" -H 'content-type: application/json' \
  -d '{"name":"bench","environment":"production"}' | jq -r .key)
export KEY
key_id=$(curl -fs $base/api/v1/keys -H "authorization: Bearer $token" | jq -r '.keys[0].id')

sizes=(1000 1000000)
[ "${1:-}" = "full" ] && sizes+=(10000000)
have=0
for size in "${sizes[@]}"; do
  add=$((size - have))
  started=$(date +%s.%N)
  # Spread over this month so far, half with the key; the trigger keeps the rollups.
  psql -h 127.0.0.1 -U postgres -d tollgate_scale -qc "
    ALTER TABLE usage_events DISABLE TRIGGER tollgate_roll_up_usage;
    INSERT INTO usage_events (id, organization_id, user_id, key_id, action, model, input_tokens,
        cached_input_tokens, output_tokens, cost_micros, price_micros, request_id, created_at)
    SELECT gen_random_uuid(), '$org', '$user', CASE WHEN g % 2 = 0 THEN '$key_id'::uuid END,
           'chat', 'gpt-4o-mini', 10, 0, 5, 4, 7, 'scale',
           (extract(epoch FROM date_trunc('month', now() AT TIME ZONE 'UTC')) * 1000)::bigint
             + g % ((extract(epoch FROM now()) * 1000)::bigint
                    - (extract(epoch FROM date_trunc('month', now() AT TIME ZONE 'UTC')) * 1000)::bigint)
    FROM generate_series(1, $add) g;
    ALTER TABLE usage_events ENABLE TRIGGER tollgate_roll_up_usage;"
  "$bin" --config "$work/tollgate.toml" reconcile-usage >/dev/null
  inserted=$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN {printf "%.1f", e - s}')
  have=$size
  requests=$(curl -fs $base/api/v1/usage -H "authorization: Bearer $KEY" | jq .requests)
  out=$(wrk -t 1 -c 1 -d 5s --latency -s bench/me.lua $base/api/v1/usage)
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  scan=$(psql -h 127.0.0.1 -U postgres -d tollgate_scale -qtA -c "EXPLAIN (ANALYZE, FORMAT JSON)
    SELECT key_id, count(*), sum(cost_micros), sum(price_micros) FROM usage_events
    WHERE organization_id = '$org' GROUP BY key_id" | jq '.[0]["Execution Time"]')
  printf '%9s events (usage says %s; inserted and rolled up in %ss): usage read %8s req/s, p50 %s, p99 %s; summing the events instead: %s ms\n' \
    "$size" "$requests" "$inserted" "$rps" "$p50" "$p99" "$scan"
done
