#!/usr/bin/env bash
# Runs the timing-sensitive test suites several times while every core is saturated, to catch
# tests that only pass on an idle machine (a race that a busy CPU widens).
#
#   scripts/under-load.sh                 # 3 rounds
#   UNDER_LOAD_RUNS=10 scripts/under-load.sh
#
# Suites: the root package's tests/runtime_api.rs (the compiled function against the harness),
# tests/time_to_kill.rs and tests/e2e_local_kms.rs (deadlines and latencies against the local KMS), and
# lambda-harness's tests/invoke_api.rs, tests/runtime_api.rs and tests/process.rs. The test
# binaries are built once with `cargo test --workspace --no-run`, the same build as CI's
# `cargo test --workspace` (so after it, nothing is rebuilt), then run directly. One busy loop per
# core (`nproc`) runs for the whole time and is killed on exit, however the script ends.
# Prints each run's result and time and the total; exits 1 if any run failed (its output is
# printed), 2 on a bad UNDER_LOAD_RUNS. Works from a clean clone; loopback only.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
export LC_ALL=C
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

RUNS="${UNDER_LOAD_RUNS:-3}"
if ! [[ "$RUNS" =~ ^[1-9][0-9]*$ ]]; then
  echo "under-load: UNDER_LOAD_RUNS must be a positive integer, got '$RUNS'" >&2
  exit 2
fi

# package, test target, directory cargo would run it from.
SUITES=(
  "kms-material-guard runtime_api ."
  "kms-material-guard time_to_kill ."
  "kms-material-guard e2e_local_kms ."
  "lambda-harness invoke_api lambda-harness"
  "lambda-harness runtime_api lambda-harness"
  "lambda-harness process lambda-harness"
)

START=$SECONDS
LOGS="$(mktemp -d)"
BUSY=()
cleanup() {
  local pid
  for pid in "${BUSY[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${BUSY[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$LOGS"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "under-load: building the test binaries (cargo test --workspace --no-run)"
cargo test --workspace --no-run --message-format=json-render-diagnostics > "$LOGS/build.json"

# The executable of each suite, keyed "package-dir target", from cargo's artifact messages.
declare -A EXE
while IFS=' ' read -r dir target exe; do
  EXE["$dir $target"]="$exe"
done < <(python3 - "$LOGS/build.json" "$ROOT" <<'PY'
import json, os, sys
root = sys.argv[2]
for line in open(sys.argv[1]):
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    if msg.get("reason") != "compiler-artifact" or not msg.get("executable"):
        continue
    if msg["target"]["kind"] != ["test"]:
        continue
    d = os.path.relpath(os.path.dirname(msg["manifest_path"]), root)
    print(d, msg["target"]["name"], msg["executable"])
PY
)
for suite in "${SUITES[@]}"; do
  read -r package target dir <<<"$suite"
  if [[ -z "${EXE["$dir $target"]:-}" ]]; then
    echo "under-load: cargo built no test binary for $package --test $target" >&2
    exit 1
  fi
done

LOAD_START=$SECONDS
CORES="$(nproc)"
for ((i = 0; i < CORES; i++)); do
  (while :; do :; done) &
  BUSY+=("$!")
done
echo "under-load: $CORES busy loops (pids ${BUSY[*]}), $RUNS rounds of ${#SUITES[@]} suites"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

failed=0
for ((run = 1; run <= RUNS; run++)); do
  for suite in "${SUITES[@]}"; do
    read -r package target dir <<<"$suite"
    log="$LOGS/$run-$package-$target.log"
    t0="$(now)"
    if (cd "$ROOT/$dir" && "${EXE["$dir $target"]}") > "$log" 2>&1; then
      verdict=ok
    else
      verdict=FAILED
      failed=$((failed + 1))
    fi
    counts="$(grep -E '^test result:' "$log" | tail -n 1 \
      | sed -E 's/^test result: [A-Za-z]+\. ([0-9]+ passed); ([0-9]+ failed);.*/\1, \2/')"
    printf 'run %d/%d  %-18s --test %-12s %-6s %6ss  %s\n' \
      "$run" "$RUNS" "$package" "$target" "$verdict" "$(elapsed "$t0" "$(now)")" \
      "${counts:-no test summary}"
    if [[ "$verdict" == FAILED ]]; then
      echo "---- output of $package --test $target (run $run) ----"
      cat "$log"
      echo "---- end ----"
    fi
  done
done

total=$((SECONDS - START))
printf 'under-load: %d of %d suite runs failed; total %dm%02ds (build %ds, %d rounds %ds)\n' \
  "$failed" $((RUNS * ${#SUITES[@]})) $((total / 60)) $((total % 60)) \
  $((LOAD_START - START)) "$RUNS" $((SECONDS - LOAD_START))
((failed == 0))
