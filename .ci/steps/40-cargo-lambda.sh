#!/usr/bin/env bash
# CI hook (.ci/run step 8): the README's "Run it locally with `cargo lambda`" path, with the real
# cargo-lambda (the version pinned in .ci/requirements.txt), checked against what the README says.
#
# The README is the input, so the two cannot drift: from its code block this step takes the
# environment of `cargo lambda watch` (terminal 2), the order of the `invoke events/...` lines
# (terminal 3) and the inspection commands; from its table the answer of each sample. It fails
# when a sample of events/ or events/invalid/ is missing from the README, then:
#   1. builds kms-sim and the function (debug, as `cargo lambda watch` runs it), so the first
#      invocation does not compile inside the emulator;
#   2. starts the local KMS with local/estate.json on a free port (`--port 0`; the README's 4599
#      may be taken on a shared machine) and waits until /_sim/health answers;
#   3. starts `cargo lambda watch` with exactly the README's environment (the KMS port replaced by
#      the chosen one) on a free invoke port (never 4566, never 9000: both are ports other tools
#      use; the README's 9599 is replaced likewise), and waits until its invoke API answers;
#   4. invokes every sample with `cargo lambda invoke kms-material-guard --data-file` in the
#      README's order and compares each answer (the response's outcome counts, a note for the
#      samples that select nothing, or the error type) with the README's table;
#   5. runs the README's inspection commands in a fresh environment (no AWS variables, an empty
#      HOME); the `aws` lines only when an AWS CLI is installed (CI pins none).
# On a failure it prints the watch and KMS logs. Everything it started is stopped on exit (the
# watch runs in its own process group: cargo lambda, cargo run and the function).
#
# Runs alone too (`.ci/steps/40-cargo-lambda.sh`): it finds cargo-lambda on PATH or in
# target/ci-venv (`CI_STEPS=2 .ci/run` installs it there). Timeouts are generous and every wait
# polls, so a machine saturated by other builds only makes it slower. Measured on the 2-core
# machine with the debug binaries already built (as after .ci/run's test step): 13 s with two
# busy loops saturating it, 59 s while other builds ran (21 invocations in 4-23 s of that); alone
# on a clean clone (CI=true, after CI_STEPS=2 .ci/run) 291 s, 285 s of them the debug build.
# CARGO_LAMBDA_STARTUP_TIMEOUT / CARGO_LAMBDA_INVOKE_TIMEOUT (seconds) change the waits.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT="$PWD"
export LC_ALL=C
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
START=$SECONDS
STARTUP_TIMEOUT="${CARGO_LAMBDA_STARTUP_TIMEOUT:-300}" # seconds, per wait
INVOKE_TIMEOUT="${CARGO_LAMBDA_INVOKE_TIMEOUT:-600}"   # seconds, per invocation

note() { printf '[cargo-lambda %3ds] %s\n' $((SECONDS - START)) "$*"; }
fail() { echo "cargo lambda step FAILED: $*" >&2; exit 1; }

# --- the tool, at the pinned version ---
want_version=$(sed -n 's/^cargo-lambda==//p' .ci/requirements.txt)
[[ -n "$want_version" ]] || fail "no cargo-lambda pin in .ci/requirements.txt"
if ! cargo lambda --version >/dev/null 2>&1 && [[ -x "$ROOT/target/ci-venv/bin/cargo-lambda" ]]; then
  export PATH="$ROOT/target/ci-venv/bin:$PATH"
fi
have_version=$(cargo lambda --version 2>/dev/null || true)
[[ "$have_version" == "cargo-lambda $want_version "* ]] ||
  fail "cargo-lambda $want_version is needed (found: '${have_version:-none}'); CI_STEPS=2 .ci/run installs it into target/ci-venv"
note "$have_version"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ci-cargo-lambda.XXXXXX")
SIM_PID="" WATCH_PID=""
stop() { # stop PID [group]: TERM, up to 10 s, then KILL
  local pid=$1 target=$1
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
  [[ "${2:-}" == group ]] && target="-$pid"
  kill -TERM -- "$target" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -KILL -- "$target" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  if [[ $rc -ne 0 ]]; then
    for log in watch kms; do
      [[ -s "$WORK/$log.log" ]] || continue
      echo "----- $log log (last 200 lines) -----" >&2
      tail -n 200 "$WORK/$log.log" >&2
    done
  fi
  stop "$WATCH_PID" group
  stop "$SIM_PID"
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the README: environment, order, answers, inspection commands ---
python3 - "$ROOT" "$WORK" <<'PY'
import json, os, re, shlex, sys

root, work = sys.argv[1], sys.argv[2]
readme = open(os.path.join(root, "README.md"), encoding="utf-8").read()
blocks = re.findall(r"```sh\n(.*?)```", readme, re.S)

def die(msg):
    sys.exit(f"README.md: {msg}")

run = next((b for b in blocks if "cargo lambda watch" in b), None) or die(
    "no ```sh block with `cargo lambda watch`")
lines = run.replace("\\\n", " ").splitlines()
watch = next(l for l in lines if "cargo lambda watch" in l)
env = {}
for tok in shlex.split(watch):
    if tok == "cargo":
        break
    m = re.fullmatch(r"([A-Z_][A-Z0-9_]*)=(.*)", tok) or die(f"unexpected token {tok!r} before `cargo lambda watch`")
    env[m[1]] = m[2]
sim = next((l for l in lines if "kms-sim" in l and "--seed" in l), None) or die("no kms-sim command")
kms_port = re.search(r"--port (\d+)", sim) or die("the kms-sim command has no --port")
invoke_port = re.search(r"--invoke-port (\d+)", watch) or die("`cargo lambda watch` has no --invoke-port")
helper = next((l for l in lines if l.startswith("invoke()")), None) or die("no invoke() helper")
if "cargo lambda invoke kms-material-guard" not in helper or "--data-file" not in helper:
    die("the invoke() helper does not run `cargo lambda invoke kms-material-guard ... --data-file`")
order = [l.split()[1] for l in lines if l.startswith("invoke events/")]

answers = {}
for m in re.finditer(r"^\| `(events/[^`]+\.json)` \| (.+?) \|$", readme, re.M):
    file, cell = m[1], m[2]
    if cell.startswith("nothing"):
        answers[file] = "nothing (note)"
    elif (e := re.match(r"error `(KmsMaterialGuard\.[A-Za-z]+)` \(`([^`]+)`\)", cell)):
        answers[file] = f"error {e[1]} ({e[2]})"
    else:
        counts = sorted((o, int(n)) for n, o in re.findall(r"(\d+) `([a-z_]+)`", cell))
        counts or die(f"cannot read the answer of {file}: {cell!r}")
        answers[file] = ",".join(f"{o}={n}" for o, n in counts)

samples = sorted(f"events/{f}" for f in os.listdir(os.path.join(root, "events")) if f.endswith(".json")) + sorted(
    f"events/invalid/{f}" for f in os.listdir(os.path.join(root, "events", "invalid")) if f.endswith(".json"))
missing = [s for s in samples if s not in order]
missing and die(f"the terminal-3 block does not invoke {missing}")
unknown = [s for s in order if s not in samples]
unknown and die(f"the terminal-3 block invokes files that do not exist: {unknown}")
len(set(order)) == len(order) or die("a sample is invoked twice")
untold = [s for s in order if s not in answers]
untold and die(f"the table gives no answer for {untold}")

inspect = next((b for b in blocks if "_sim/keys" in b), None) or die("no inspection block (_sim/keys)")
with open(os.path.join(work, "env"), "w") as f:
    for k, v in env.items():
        f.write(f"{k}={v}\n")
with open(os.path.join(work, "plan"), "w") as f:
    for s in order:
        f.write(f"{s}\t{answers[s]}\n")
with open(os.path.join(work, "inspect.sh"), "w") as f:
    f.write(inspect)
with open(os.path.join(work, "ports"), "w") as f:
    f.write(f"{kms_port[1]} {invoke_port[1]}\n")
print(f"README: {len(env)} variables for `cargo lambda watch`, {len(order)} samples in order, "
      f"KMS port {kms_port[1]}, invoke port {invoke_port[1]}")
PY
read -r README_KMS_PORT README_INVOKE_PORT < "$WORK/ports"

# --- 1. build ---
note "building kms-sim and the function (debug)"
cargo build --quiet -p kms-sim --bin kms-sim
cargo build --quiet --bin kms-material-guard

wait_for() { # wait_for WHAT COMMAND...: polls until COMMAND succeeds, STARTUP_TIMEOUT at most
  local what=$1 deadline=$((SECONDS + STARTUP_TIMEOUT))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "$what not ready after ${STARTUP_TIMEOUT}s"
    sleep 0.5
  done
}

# --- 2. the local KMS ---
"$TARGET_DIR/debug/kms-sim" --port 0 --seed local/estate.json > "$WORK/kms.log" 2>&1 &
SIM_PID=$!
wait_for "the local KMS's address" grep -q '^kms-sim listening on ' "$WORK/kms.log"
KMS_URL=$(sed -n 's/^kms-sim listening on //p' "$WORK/kms.log" | head -n1)
KMS_PORT=${KMS_URL##*:}
wait_for "the local KMS" curl -sf "$KMS_URL/_sim/health"
note "local KMS on $KMS_URL (the README's port $README_KMS_PORT)"

# --- 3. cargo lambda watch, with the README's environment ---
free_port() { # a port free on IPv4 and IPv6 loopback and any address, not 4566 or 9000
  python3 - <<'PY'
import socket
while True:
    with socket.socket(socket.AF_INET6) as s:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind(("::", 0))
        port = s.getsockname()[1]
    if port not in (4566, 9000):
        print(port)
        break
PY
}
# Only the README's variables decide: none of the caller's MATERIAL_GUARD_* or AWS settings that
# would change the answers (a global dry run, a profile, another endpoint, a real Lambda API).
UNSET=()
for v in $(compgen -e); do
  case "$v" in
    MATERIAL_GUARD_* | AWS_PROFILE | AWS_SESSION_TOKEN | AWS_DEFAULT_REGION | AWS_ENDPOINT_URL*) UNSET+=(-u "$v") ;;
  esac
done
WATCH_ENV=()
while IFS= read -r kv; do
  WATCH_ENV+=("${kv//:$README_KMS_PORT/:$KMS_PORT}")
done < "$WORK/env"
printf '  %s\n' "${WATCH_ENV[@]}"
for try in 1 2 3; do
  INVOKE_PORT=$(free_port)
  note "cargo lambda watch --invoke-port $INVOKE_PORT (the README's $README_INVOKE_PORT; try $try)"
  env "${UNSET[@]}" "${WATCH_ENV[@]}" setsid cargo lambda watch --invoke-port "$INVOKE_PORT" > "$WORK/watch.log" 2>&1 &
  WATCH_PID=$!
  deadline=$((SECONDS + STARTUP_TIMEOUT))
  until curl -s -o /dev/null --max-time 5 "http://[::1]:$INVOKE_PORT/"; do
    kill -0 "$WATCH_PID" 2>/dev/null || break
    ((SECONDS < deadline)) || fail "cargo lambda watch not listening on $INVOKE_PORT after ${STARTUP_TIMEOUT}s"
    sleep 0.5
  done
  kill -0 "$WATCH_PID" 2>/dev/null && break
  note "cargo lambda watch exited (the port was taken?):"; tail -n 5 "$WORK/watch.log"
  WATCH_PID=""
  ((try < 3)) || fail "cargo lambda watch did not start"
done
note "cargo lambda watch is listening"

# --- 4. every sample, in the README's order ---
# The answer of one invocation, in the README table's terms: sorted outcome counts, "nothing
# (note)", or "error <errorType> (<field>)". Arguments: exit status, stdout file, stderr file.
cat > "$WORK/answer.py" <<'PY'
import json, re, sys
rc, out, err = int(sys.argv[1]), open(sys.argv[2]).read(), open(sys.argv[3]).read()
if rc != 0:
    # cargo lambda prints "Error: <errorType>", then the message: "request rejected: <field>: ..."
    kind = next((l[len("Error: "):] for l in err.splitlines() if l.startswith("Error: ")), None)
    field = re.search(r"request rejected: ([^:]+):", err)
    if kind:
        print(f"error {kind} ({field[1] if field else 'no field named'})")
    else:
        print(f"exit {rc} without an error type")
    sys.exit()
d = json.loads(out)
counts = d.get("counts") or {}
if not counts and d.get("note"):
    print("nothing (note)")
else:
    print(",".join(f"{o}={n}" for o, n in sorted(counts.items())) or "no counts, no note")
PY
failed=0 n=0
INVOKES_START=$SECONDS
while IFS=$'\t' read -r sample want; do
  n=$((n + 1))
  t=$SECONDS rc=0
  timeout "$INVOKE_TIMEOUT" cargo lambda invoke kms-material-guard --invoke-port "$INVOKE_PORT" \
    --data-file "$sample" > "$WORK/out" 2> "$WORK/err" || rc=$?
  got=$(python3 "$WORK/answer.py" "$rc" "$WORK/out" "$WORK/err" 2>&1 || echo "unreadable response")
  if [[ "$got" == "$want" ]]; then
    printf '  ok   %2d %-56s %s (%ds)\n' "$n" "$sample" "$got" $((SECONDS - t))
  else
    printf '  FAIL %2d %-56s got %s, README says %s\n' "$n" "$sample" "$got" "$want"
    sed 's/^/       /' "$WORK/out" "$WORK/err" | head -n 20
    failed=$((failed + 1))
  fi
done < "$WORK/plan"
note "$n invocations in $((SECONDS - INVOKES_START))s"
((failed == 0)) || fail "$failed of $n samples answered differently from the README"
grep -q 'deadline is missing, past or implausible' "$WORK/watch.log" ||
  fail "the function did not log the fallback deadline WARN that the README mentions"

# --- 5. the inspection commands, in a fresh environment ---
sed -i "s/:$README_KMS_PORT/:$KMS_PORT/g" "$WORK/inspect.sh"
mkdir -p "$WORK/home"
if ! command -v aws >/dev/null 2>&1; then
  note "no AWS CLI installed: checking the curl command only"
  python3 - "$WORK/inspect.sh" <<'PY'
import sys
p = sys.argv[1]
text = open(p).read().replace("\\\n", " ")
open(p, "w").write("\n".join(l for l in text.splitlines() if l.lstrip().startswith("curl")) + "\n")
PY
fi
env -i PATH="$PATH" HOME="$WORK/home" bash -euo pipefail "$WORK/inspect.sh" > "$WORK/inspect.out" ||
  fail "the README's inspection commands failed: $(cat "$WORK/inspect.out")"
grep -q '"PENDING_IMPORT"' "$WORK/inspect.out" ||
  fail "the inspection commands do not show the revoked keys (PENDING_IMPORT)"
note "inspection commands work in a fresh environment"

note "passed: $n samples answered as the README says; step total $((SECONDS - START))s"
