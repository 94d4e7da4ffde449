#!/usr/bin/env bash
# Release-profile and build-option variants of the function, compared by `bench variants`:
# opt-level "z" (the committed profile), "s" and 3, and "z" built with
# AWS_LC_SYS_NO_JITTER_ENTROPY=1. Each is built from one snapshot of the committed sources
# (git archive HEAD) into target directories under target/bench-variants/ (binaries copied to
# target/bench-variants/bin/), through
# environment variables only (CARGO_PROFILE_RELEASE_OPT_LEVEL, ...): the root Cargo.toml and the
# shared target/ are left alone. Slow: four LTO release builds (minutes each on 2 cores).
#
#   bench/profiles.sh            build what is missing, then measure
#   bench/profiles.sh --build    build only
#   bench/profiles.sh --measure  measure only (bench variants)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/target/bench-variants"
snap="$out/src"
mode="${1:-all}"

build() { # build LABEL DIR [VAR=VALUE...]: binary copied to $out/bin/LABEL
    local label="$1" dir="$2"; shift 2
    local bin="$out/bin/$label"
    if [[ -x "$bin" ]]; then echo "variant $label: already built ($bin)"; return; fi
    echo "variant $label: building with ${*:-the committed profile} in $out/$dir"
    local start=$SECONDS
    env "$@" CARGO_TARGET_DIR="$out/$dir" \
        cargo build --release --bin kms-material-guard --manifest-path "$snap/Cargo.toml"
    mkdir -p "$out/bin"
    cp "$out/$dir/release/kms-material-guard" "$bin"
    echo "variant $label: built in $((SECONDS - start)) s"
}

if [[ "$mode" != "--measure" ]]; then
    if [[ ! -f "$snap/Cargo.toml" ]]; then
        mkdir -p "$snap"
        git -C "$root" archive HEAD | tar -x -C "$snap"
        git -C "$root" rev-parse HEAD > "$snap/COMMIT"
    fi
    echo "sources: $(cat "$snap/COMMIT")"
    # z and z-no-jitter share a target directory: aws-lc-sys's build script reruns on
    # AWS_LC_SYS_NO_JITTER_ENTROPY, so only it and what depends on it are rebuilt.
    build z z
    build z-no-jitter z AWS_LC_SYS_NO_JITTER_ENTROPY=1
    build s s CARGO_PROFILE_RELEASE_OPT_LEVEL=s
    build 3 3 CARGO_PROFILE_RELEASE_OPT_LEVEL=3
fi
if [[ "$mode" != "--build" ]]; then
    cd "$root"
    cargo run --release -p bench -- variants \
        --variant "z=$out/bin/z" \
        --variant "s=$out/bin/s" \
        --variant "3=$out/bin/3" \
        --variant "z-no-jitter=$out/bin/z-no-jitter" \
        "${@:2}"
    if [[ -f "$snap/COMMIT" && -f bench/results/profiles.md ]]; then
        printf '\nEvery variant is built from commit %s (git archive into %s); the commit above is\nthe runner'"'"'s.\n' \
            "$(git rev-parse --short=12 "$(cat "$snap/COMMIT")")" "target/bench-variants/src" >> bench/results/profiles.md
    fi
fi
