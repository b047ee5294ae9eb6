#!/usr/bin/env python3
"""Policy checks of the container files, beside hadolint and `docker compose config`
(scripts/check-containers.sh runs this with PyYAML and crossplane installed).

Checks Dockerfile, compose.yaml, .env.example and deploy/nginx.conf against what the server
needs (docs/operations.md): prints one line per check, every finding, and exits 1 on any.
Usage: check_containers.py [REPO_ROOT]
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import crossplane
import yaml

ROOT = Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
findings: list[str] = []


def finding(what: str) -> None:
    findings.append(what)
    print(f"  FINDING: {what}")


def section(title: str) -> None:
    print(f"- {title}")


# ---------------------------------------------------------------- helpers

INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
SECRET_KEY = re.compile(r"(SECRET|PASSWORD|TOKEN|API_KEY|PEPPER|PRIVATE_KEY|SERVICE_KEYS)$", re.I)
SECRET_VALUE = [
    (re.compile(r"\b[sr]k_(live|test)_[A-Za-z0-9]{8,}"), "a Stripe API key"),
    (re.compile(r"\bwhsec_[A-Za-z0-9]{8,}"), "a Stripe webhook signing secret"),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{20,}"), "an OpenAI-style API key"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
]
URL_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^/:@\s]*:([^@\s]+)@", re.I)


def only_interpolation(value: str) -> bool:
    """True when the value is nothing but ${...} references."""
    return value != "" and INTERPOLATION.sub("", value).strip() == ""


def default_of(value: str) -> str:
    """The value with every ${VAR:-default} / ${VAR-default} replaced by its default."""
    return INTERPOLATION.sub(lambda m: m.group(3) if m.group(2) in (":-", "-") else "", value)


def strings(node, path=""):
    """Every string scalar of a YAML document, with its path."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from strings(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from strings(value, f"{path}[{index}]")
    elif isinstance(node, str):
        yield path, node


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = {}
        for item in env:
            key, _, value = str(item).partition("=")
            pairs[key] = value
        return pairs
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def depends_on(service: dict) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {str(d): "service_started" for d in deps}
    return {str(k): (v or {}).get("condition", "service_started") for k, v in deps.items()}


def seconds(duration) -> float:
    """A Compose duration (`1m30s`, `60s`, or a number of seconds)."""
    if isinstance(duration, (int, float)):
        return float(duration)
    total = 0.0
    for amount, unit in re.findall(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)", str(duration)):
        total += float(amount) * {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}[unit]
    return total


def dockerfile_stages(text: str) -> list[list[tuple[str, str]]]:
    """The Dockerfile's stages, each a list of (INSTRUCTION, arguments), continuations joined."""
    logical, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    stages: list[list[tuple[str, str]]] = [[]]
    for line in logical:
        instruction, _, arguments = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            stages.append([])
        stages[-1].append((instruction, arguments.strip()))
    return stages


# ---------------------------------------------------------------- Dockerfile

def check_dockerfile() -> bool:
    section("Dockerfile: pinned Rust >= workspace rust-version, --locked build, non-root final "
            "stage, listen address, EXPOSE, HEALTHCHECK, ENTRYPOINT/CMD")
    text = (ROOT / "Dockerfile").read_text()
    stages = dockerfile_stages(text)
    preamble, built = stages[0], [s for s in stages[1:] if s]
    if len(built) < 2:
        finding("Dockerfile: expected a build stage and a final stage")
        return False
    args = {}
    for instruction, arguments in preamble:
        if instruction == "ARG" and "=" in arguments:
            key, _, value = arguments.partition("=")
            args[key] = value

    def expand(value: str) -> str:
        return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: args.get(m.group(1), m.group(0)), value)

    for stage in built:
        image = expand(stage[0][1].split()[0])
        if ":" not in image.split("/")[-1] and "@" not in image or image.endswith(":latest"):
            finding(f"Dockerfile: base image {image} is not pinned to a tag")
    build_image = expand(built[0][0][1].split()[0])
    match = re.match(r"rust:(\d+)\.(\d+)", build_image)
    cargo = (ROOT / "Cargo.toml").read_text()
    required = re.search(r'^rust-version\s*=\s*"(\d+)\.(\d+)', cargo, re.M)
    if not match:
        finding(f"Dockerfile: the build stage {build_image} is not an official rust:<version> image")
    elif required and tuple(map(int, match.groups())) < tuple(map(int, required.groups())):
        finding(f"Dockerfile: {build_image} is older than the workspace's rust-version "
                f"{required.group(1)}.{required.group(2)}")
    build_runs = " ".join(a for i, a in built[0] if i == "RUN")
    if not re.search(r"cargo build\b[^&]*--release", build_runs) or "--locked" not in build_runs:
        finding("Dockerfile: the build stage must run `cargo build --release --locked`")

    final = built[-1]
    users = [a for i, a in final if i == "USER"]
    if not users or users[-1].split(":")[0] in ("0", "root"):
        finding("Dockerfile: the final stage must end with USER set to a non-root user")
    envs = " ".join(a for i, a in final if i == "ENV")
    listen = re.search(r"TOLLGATE_SERVER__LISTEN[= ](\S+)", envs)
    if not listen or listen.group(1).startswith(("127.", "localhost", "[::1]")):
        finding("Dockerfile: ENV TOLLGATE_SERVER__LISTEN must bind every interface "
                "(the default 127.0.0.1:8080 is unreachable from outside the container)")
    port = listen.group(1).rsplit(":", 1)[-1] if listen else "8080"
    exposed = " ".join(a for i, a in final if i == "EXPOSE").split()
    if not any(e.split("/")[0] == port for e in exposed):
        finding(f"Dockerfile: EXPOSE {port} (the listen port) is missing")
    health = [a for i, a in final if i == "HEALTHCHECK"]
    if not health or not re.search(r"/(healthz|readyz)\b", health[-1]):
        finding("Dockerfile: HEALTHCHECK probing /healthz or /readyz is missing")
    elif f"/{port}" not in health[-1] and f":{port}" not in health[-1]:
        finding(f"Dockerfile: the HEALTHCHECK does not probe the listen port {port}")
    entry = [a for i, a in final if i == "ENTRYPOINT"]
    cmd = [a for i, a in final if i == "CMD"]
    if not entry or json.loads(entry[-1]) != ["tollgate"]:
        finding('Dockerfile: ENTRYPOINT must be ["tollgate"]')
    if not cmd or json.loads(cmd[-1]) != ["serve"]:
        finding('Dockerfile: CMD must be ["serve"]')
    return True


def dockerfile_has_healthcheck() -> bool:
    stages = dockerfile_stages((ROOT / "Dockerfile").read_text())
    return any(i == "HEALTHCHECK" for i, _ in stages[-1])


# ---------------------------------------------------------------- compose.yaml

def check_compose() -> dict:
    section("compose.yaml: services present, depends_on targets and conditions, images pinned "
            "to a tag, no secrets in the file, instances behind the proxy sharing Redis")
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose.get("services") or {}
    if not isinstance(services, dict) or not services:
        finding("compose.yaml: no services")
        return {}

    ours = {name for name, s in services.items()
            if "build" in s or "tollgate" in default_of(str(s.get("image", "")))}
    instances = sorted(n for n in ours
                       if (services[n].get("command") or ["serve"]) in (["serve"], "serve"))
    for needed in ("postgres", "redis", "migrate", "proxy"):
        if needed not in services:
            finding(f"compose.yaml: service {needed} is missing")
    if len(instances) < 2:
        finding(f"compose.yaml: expected at least two tollgate instances, found {instances}")
    if "migrate" in services and services["migrate"].get("command") not in (["migrate"], "migrate"):
        finding("compose.yaml: the migrate service must run `tollgate migrate`")

    for name, service in services.items():
        image = service.get("image")
        if image is None and "build" not in service:
            finding(f"compose.yaml: {name} has neither image nor build")
        if image is not None:
            resolved = default_of(str(image))
            last = resolved.split("/")[-1]
            if "@sha256:" not in resolved and (":" not in last or last.endswith(":latest")):
                finding(f"compose.yaml: {name}: image {image} is not pinned to a tag")
        for target, condition in depends_on(service).items():
            if target not in services:
                finding(f"compose.yaml: {name} depends on {target}, which is not a service")
                continue
            if condition not in ("service_started", "service_healthy",
                                 "service_completed_successfully"):
                finding(f"compose.yaml: {name}: unknown depends_on condition {condition}")
            if condition == "service_healthy" and "healthcheck" not in services[target] and not (
                    target in ours and dockerfile_has_healthcheck()):
                finding(f"compose.yaml: {name} waits for {target} to be healthy, which has no "
                        "healthcheck")
            if condition == "service_completed_successfully" and str(
                    services[target].get("restart", "no")) in ("always", "unless-stopped"):
                finding(f"compose.yaml: {target} is waited for to complete but restarts forever")
        for stateful in ("postgres", "redis"):
            if name == stateful and "healthcheck" not in service:
                finding(f"compose.yaml: {name} has no healthcheck")

    # Secrets: only ${...} references, never values (each value reported once, although YAML
    # anchors repeat it under every service that merges it).
    reported = set()
    for path, value in strings(compose):
        problems = [what for pattern, what in SECRET_VALUE if pattern.search(value)]
        url = URL_PASSWORD.match(value)
        if url and not only_interpolation(url.group(1)):
            problems.append("a URL with a password written into it")
        if problems and value not in reported:
            reported.add(value)
            finding(f"compose.yaml: {path} holds what looks like {' and '.join(problems)}")
    for name, service in services.items():
        for key, value in environment(service).items():
            if SECRET_KEY.search(key) and value and not only_interpolation(value):
                finding(f"compose.yaml: {name}: {key} is set in the file; take it from .env")
        for entry in service.get("env_file") or []:
            path = default_of(entry if isinstance(entry, str) else str(entry.get("path", "")))
            tracked = subprocess.run(["git", "-C", str(ROOT), "ls-files", "--error-unmatch", path],
                                     capture_output=True).returncode == 0
            ignored = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", path],
                                     capture_output=True).returncode == 0
            if tracked or not ignored:
                finding(f"compose.yaml: {name}: env_file {path} is not ignored by git")

    # The instances: reachable, behind the proxy, sharing limits, stopped gracefully.
    for name in instances:
        service = services[name]
        env = environment(service)
        listen = env.get("TOLLGATE_SERVER__LISTEN", "0.0.0.0:8080")
        if listen.startswith(("127.", "localhost", "[::1]")):
            finding(f"compose.yaml: {name} listens on {listen}, unreachable from the proxy")
        if service.get("ports"):
            finding(f"compose.yaml: {name} publishes ports; only the proxy should")
        if env.get("TOLLGATE_SERVER__CLIENT_ADDRESS_HEADER", "").lower() != "x-forwarded-for":
            finding(f"compose.yaml: {name} does not read the client address from "
                    "X-Forwarded-For (server.client_address_header)")
        if not env.get("TOLLGATE_DATABASE__URL", "").startswith(("postgres://", "postgresql://")):
            finding(f"compose.yaml: {name} is not on Postgres (several instances need it)")
        if env.get("TOLLGATE_RATE_LIMIT__BACKEND") != "redis" or not env.get(
                "TOLLGATE_RATE_LIMIT__REDIS_URL"):
            finding(f"compose.yaml: {name} does not share rate limits through Redis")
        if depends_on(service).get("migrate") != "service_completed_successfully":
            finding(f"compose.yaml: {name} must wait for migrate to complete successfully")
        if seconds(service.get("stop_grace_period", "10s")) < 45:
            finding(f"compose.yaml: {name}: stop_grace_period under 45 s cuts the graceful stop "
                    "short (settlement drain, lease keeper and lease return take up to 15 s each)")
    return {"services": services, "instances": instances}


# ---------------------------------------------------------------- .env.example

def check_env_example() -> None:
    section(".env.example: placeholders only, every required ${VAR:?} of compose.yaml listed, "
            ".env ignored by git")
    text = (ROOT / ".env.example").read_text()
    listed = set()
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        commented = line.startswith("#")
        line = line.lstrip("#").strip()
        match = re.match(r"^([A-Z_][A-Z0-9_]*)=(.*)$", line)
        if not match:
            continue
        key, value = match.groups()
        listed.add(key)
        for pattern, what in SECRET_VALUE:
            if pattern.search(value):
                finding(f".env.example:{number}: {key} holds what looks like {what}")
        if not commented and SECRET_KEY.search(key) and "replace" not in value.lower():
            finding(f".env.example:{number}: {key} must be a placeholder (replace-with-...)")
    compose = (ROOT / "compose.yaml").read_text()
    for variable in sorted({m.group(1) for m in INTERPOLATION.finditer(compose)
                            if m.group(2) in (":?", "?")}):
        if variable not in listed:
            finding(f".env.example: {variable} is required by compose.yaml but not listed")
    ignored = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", ".env"],
                             capture_output=True).returncode == 0
    if not ignored:
        finding(".gitignore: .env is not ignored")


# ---------------------------------------------------------------- deploy/nginx.conf

def check_nginx(model: dict) -> None:
    section("deploy/nginx.conf: parses (crossplane), balances across every instance, sets "
            "X-Forwarded-For and X-Request-Id")
    path = ROOT / "deploy" / "nginx.conf"
    parsed = crossplane.parse(str(path), single=True, comments=False)
    for error in parsed["errors"]:
        finding(f"deploy/nginx.conf: {error['error']}")
    if parsed["status"] != "ok":
        return

    def walk(block):
        for directive in block:
            yield directive
            yield from walk(directive.get("block", []))

    directives = list(walk(parsed["config"][0]["parsed"]))
    upstream_servers = set()
    for directive in directives:
        if directive["directive"] == "upstream":
            upstream_servers |= {d["args"][0].rsplit(":", 1)[0]
                                 for d in directive.get("block", []) if d["directive"] == "server"}
    for instance in model.get("instances", []):
        if instance not in upstream_servers:
            finding(f"deploy/nginx.conf: instance {instance} is not in the upstream")
    for stray in sorted(upstream_servers - set(model.get("instances", []))):
        finding(f"deploy/nginx.conf: upstream server {stray} is not a tollgate instance")
    headers = {d["args"][0].lower(): d["args"][1] for d in directives
               if d["directive"] == "proxy_set_header" and len(d["args"]) == 2}
    if headers.get("x-forwarded-for") not in ("$proxy_add_x_forwarded_for", "$remote_addr"):
        finding("deploy/nginx.conf: X-Forwarded-For must end with the client's address "
                "($proxy_add_x_forwarded_for or $remote_addr): Tollgate reads its last entry")
    if "x-request-id" not in headers:
        finding("deploy/nginx.conf: X-Request-Id is not passed to the instances")


def main() -> int:
    check_dockerfile()
    model = check_compose()
    check_env_example()
    check_nginx(model)
    if findings:
        print(f"policy checks: {len(findings)} finding(s)")
        return 1
    print("policy checks: no finding")
    return 0


if __name__ == "__main__":
    sys.exit(main())
