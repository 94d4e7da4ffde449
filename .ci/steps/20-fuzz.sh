#!/usr/bin/env bash
# CI hook (.ci/run step 8): a bounded libFuzzer run of the `classify` fuzz target
# (fuzz/fuzz_targets/classify.rs: arbitrary bytes -> serde_json -> event::classify, no panic).
#
# - cargo-fuzz is installed from crates.io at a pinned version (skipped when already installed).
# - The toolchain is the repository's stable one (rust-toolchain.toml); cargo-fuzz passes nightly
#   -Z flags (-Zsanitizer=address), which stable rustc accepts with RUSTC_BOOTSTRAP=1. No nightly
#   toolchain is needed.
# - The seed corpus is generated at run time from the sample events (events/*.json and
#   events/invalid/*.json) into fuzz/corpus/classify (git-ignored); libFuzzer adds what it finds
#   there. Nothing generated is committed.
# - The run is bounded by FUZZ_SECONDS (default 60) of fuzzing, plus the build (its target
#   directory is cached under ~/.cache between runs on the same machine; FUZZ_TARGET_DIR moves it).
# - A crash (panic, failed assertion, sanitizer report, timeout of one input, out of memory) fails
#   the step (checked with an injected panic: exit 1); the reproducer is written to
#   fuzz/artifacts/classify/ and cargo-fuzz prints the command to replay it (prefix it with
#   RUSTC_BOOTSTRAP=1: `RUSTC_BOOTSTRAP=1 cargo fuzz run -D --target-dir=<dir> classify <artifact>`).
# - Measured on the 2-core machine: cold (empty FUZZ_TARGET_DIR, nothing else running: the
#   dependency tree built with fuzzing instrumentation about 4 min, then the 60 s run) 5.3 min,
#   plus about 2 min to install cargo-fuzz on a new machine (up to 15 min when the machine is
#   also busy with other builds); warm (dependencies cached, the function's crate rebuilt)
#   2-3 min; the 60 s run executes about 500,000 inputs.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT="$PWD"
CARGO_FUZZ_VERSION=0.13.2
FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
START=$SECONDS

if cargo fuzz --version 2>/dev/null | grep -qF "$CARGO_FUZZ_VERSION"; then
  echo "cargo-fuzz $CARGO_FUZZ_VERSION already installed"
else
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi
cargo fuzz --version

corpus="$ROOT/fuzz/corpus/classify"
rm -rf "$corpus"
mkdir -p "$corpus"
n=0
for f in events/*.json events/invalid/*.json; do
  # one file per sample, named after its path (events/invalid/x.json -> invalid-x.json)
  cp -- "$f" "$corpus/$(echo "${f#events/}" | tr / -)"
  n=$((n + 1))
done
echo "seed corpus: $n sample events in $corpus"

export RUSTC_BOOTSTRAP=1
# The fuzz project is its own workspace with its own target directory, whatever the caller's
# CARGO_TARGET_DIR says (its builds are instrumented and must not mix with the root's). It lives
# outside the checkout so that later runs on the same machine (CI clones afresh every time) reuse
# the compiled dependencies: cold, the build is most of this step's time.
FUZZ_TARGET_DIR="${FUZZ_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kms-material-guard/fuzz-target}"
mkdir -p "$FUZZ_TARGET_DIR"
echo "fuzz target dir: $FUZZ_TARGET_DIR"
# --dev: see fuzz/Cargo.toml ([profile.dev]): the code under test is optimised, the AWS SDK is not.
BUILD_START=$SECONDS
cargo fuzz build --dev classify --target-dir "$FUZZ_TARGET_DIR"
echo "fuzz build: $((SECONDS - BUILD_START)) s"

RUN_START=$SECONDS
# Input length: libFuzzer's default (the largest seed, at least 4 KiB; 1 MB payloads are
# tests/hostile_input.rs's job). -timeout: one input taking 10 s is a hang; -rss_limit_mb:
# memory beyond 2 GiB is a failure.
cargo fuzz run --dev classify "$corpus" --target-dir "$FUZZ_TARGET_DIR" -- \
  -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
echo "fuzz run: $((SECONDS - RUN_START)) s; step total: $((SECONDS - START)) s"
