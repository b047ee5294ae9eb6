#!/usr/bin/env bash
# The web console's end-to-end tests in headless Chromium (apps/server/e2e), against the debug
# `tollgate` binary. Installs what they need when missing: Debian's chromium, and the pinned npm
# packages (playwright-core drives the system Chromium; it downloads no browser of its own).
# SCREENSHOT_DIR=docs/images refreshes the README's screenshots.
set -euo pipefail
if [ -n "${SCREENSHOT_DIR:-}" ]; then
  SCREENSHOT_DIR=$(realpath -m "$SCREENSHOT_DIR")
  export SCREENSHOT_DIR
fi
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

if ! command -v chromium >/dev/null 2>&1; then
  echo "installing Debian's chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
chromium --version 2>/dev/null | head -n 1

cd apps/server/e2e
npm ci --no-audit --no-fund --loglevel=error
cd - >/dev/null

cargo build --quiet --bin tollgate
cd apps/server/e2e
TOLLGATE_BIN="${CARGO_TARGET_DIR}/debug/tollgate" npm test
