#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60) and fails if any of them crashes.
#
#   bash fuzz/run.sh [SECONDS]
#
# Installs cargo-fuzz when it is missing, builds all targets once, then runs each built binary.
# Uses nightly with AddressSanitizer when a nightly toolchain is installed, otherwise stable
# without a sanitizer (cargo-fuzz's coverage flags work on stable; only sanitizers need
# nightly); FUZZ_TOOLCHAIN=stable or nightly forces one. Builds go to FUZZ_TARGET_DIR (default
# /var/tmp/tollgate-fuzz-target). Seeds are read from fuzz/corpus/<target>/seed-*; what libFuzzer
# finds is kept beside the build, in FUZZ_TARGET_DIR/fuzz-corpus/<target>, so the next run on
# this machine starts from it.
# fuzz/dict/<target>.dict, where present, is libFuzzer's dictionary. A crash leaves its input in
# fuzz/artifacts/<target>/; replay it with the same binary and that file as the only argument.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "usage: $0 [SECONDS]" >&2
  exit 2
fi
targets=(api_key authorization stripe_signature standard_webhooks chat_request sse_stream config)

# A target directory of its own (not an inherited CARGO_TARGET_DIR, such as .ci/run's): the
# instrumented build shares nothing with the ordinary one.
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-/var/tmp/tollgate-fuzz-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

toolchain="${FUZZ_TOOLCHAIN:-}"
if [ -z "$toolchain" ]; then
  if rustup run nightly rustc --version >/dev/null 2>&1; then
    toolchain=nightly
  else
    toolchain=stable
  fi
fi
if [ "$toolchain" = nightly ]; then
  sanitizer=address
else
  sanitizer=none
fi
echo "==> cargo +$toolchain fuzz build, sanitizer $sanitizer; then ${seconds} s per target"

started=$(date +%s)
cargo "+$toolchain" fuzz build --fuzz-dir . -s "$sanitizer"
echo "build: $(($(date +%s) - started)) s"
host=$(rustup run "$toolchain" rustc -vV | sed -n 's/^host: //p')
bin_dir="$CARGO_TARGET_DIR/$host/release"

failed=()
logs="$CARGO_TARGET_DIR/fuzz-logs"
mkdir -p "$logs"
for target in "${targets[@]}"; do
  grown="$CARGO_TARGET_DIR/fuzz-corpus/$target"
  mkdir -p "$grown" "corpus/$target" "artifacts/$target"
  log="$logs/$target.log"
  options=(
    -max_total_time="$seconds"
    -print_final_stats=1
    -artifact_prefix="artifacts/$target/"
    # The default 2 GiB is tight with AddressSanitizer's shadow memory.
    -rss_limit_mb=4096
  )
  if [ -f "dict/$target.dict" ]; then
    options+=(-dict="dict/$target.dict")
  fi
  status=0
  "$bin_dir/$target" "${options[@]}" "$grown" "corpus/$target" >"$log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  if [ "$status" -eq 0 ]; then
    printf '%-18s ok      %10s runs in %s s\n' "$target" "${runs:-?}" "$seconds"
  else
    printf '%-18s CRASHED %10s runs (exit %s); log: %s\n' "$target" "${runs:-?}" "$status" "$log"
    # The panic, and the input (also as base64, for a CI log whose clone is gone).
    grep -aE -A1 'panicked at' "$log" | head -n 4 || true
    grep -aE 'ERROR: libFuzzer|SUMMARY|Test unit written to|^Base64:' "$log" | head -n 6 || true
    failed+=("$target")
  fi
done

echo "fuzz: $(($(date +%s) - started)) s in all"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: crashed: ${failed[*]} (replay: $bin_dir/TARGET fuzz/artifacts/TARGET/FILE)" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, no crash"
