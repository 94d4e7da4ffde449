#!/usr/bin/env bash
# CI hook (.ci/run step 8): real AWS clients against kms-sim, the way a BYOK developer uses it.
#
# - Installs the pinned clients of kms-sim/clients/requirements.txt (aws-encryption-sdk, boto3,
#   awscli; full set in constraints.txt) into target/clients-venv, reused while the pins and
#   python3 are unchanged (as .ci/run's step 2 does for target/ci-venv).
# - Builds the kms-sim binary and starts it on a free port (`--port 0`: the OS picks one, never
#   LocalStack's 4566) with AWS's quotas, except GetParametersForImport (1/s at AWS) at 50/s so
#   the scripts' imports do not wait on it.
# - Runs, each asserting and exiting non-zero on failure:
#   a. kms-sim/clients/esdk_envelope.py: the AWS Encryption SDK for Python with a strict KMS
#      master key provider: encrypt + decrypt, revocation makes decrypt fail (DecryptKeyError),
#      re-import of the same material makes it work again;
#   b. kms-sim/clients/cli_import.sh: the AWS CLI running the documented openssl import
#      procedure (symmetric, HMAC and asymmetric keys);
#   c. kms-sim/clients/boto3_lifecycle.py: boto3 through import / delete / re-import / rotate.
# - Isolation: a private HOME without ~/.aws, dummy credentials, IMDS lookups off: the clients
#   talk to nothing but kms-sim on 127.0.0.1. Needs python3 (3.11), openssl, jq, xxd.
# - Measured on the 2-core machine with other builds running (load 7-10): warm venv and build
#   49 s (the SDK 1 s, boto3 1 s, the CLI 43 s: one Python start-up per call); a new venv adds
#   the pip install, 94 s (3 min in all).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT="$PWD"
START=$SECONDS
CLIENTS="$ROOT/kms-sim/clients"
VENV="$ROOT/target/clients-venv"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"

for tool in python3 openssl jq xxd base64; do
  command -v "$tool" > /dev/null || { echo "real clients: $tool is missing (Debian: apt-get install openssl jq xxd)" >&2; exit 1; }
done
echo "real clients: $(openssl version), $(python3 --version)"

stamp="$VENV/.clients-requirements.sha256"
want_stamp="$(cat "$CLIENTS/requirements.txt" "$CLIENTS/constraints.txt" <(python3 --version) \
  | sha256sum | cut -d' ' -f1)"
if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want_stamp" ]]; then
  echo "client venv: pins unchanged, reusing $VENV"
else
  rm -rf "$VENV"
  mkdir -p "$ROOT/target"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    -r "$CLIENTS/requirements.txt" -c "$CLIENTS/constraints.txt"
  "$VENV/bin/python" -m pip check --disable-pip-version-check
  echo "$want_stamp" > "$stamp"
  echo "client venv: installed into $VENV ($((SECONDS - START)) s)"
fi
"$VENV/bin/python" -c 'import importlib.metadata as m; print("clients:", ", ".join(f"{p} {m.version(p)}" for p in ("aws-encryption-sdk", "boto3", "botocore", "awscli", "cryptography")))'

cargo build --quiet -p kms-sim --bin kms-sim
WORK="$(mktemp -d "$ROOT/target/real-clients.XXXXXX")"
SIM_PID=""
cleanup() {
  if [[ -n "$SIM_PID" ]]; then kill "$SIM_PID" 2> /dev/null || true; wait "$SIM_PID" 2> /dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
"$TARGET_DIR/debug/kms-sim" --port 0 --quota GetParametersForImport=50 > "$WORK/sim.log" 2>&1 &
SIM_PID=$!
ENDPOINT=""
for _ in $(seq 1 300); do # up to 30 s for the first line
  ENDPOINT="$(sed -n 's/^kms-sim listening on //p' "$WORK/sim.log")"
  [[ -n "$ENDPOINT" ]] && break
  kill -0 "$SIM_PID" 2> /dev/null || { cat "$WORK/sim.log" >&2; echo "real clients: kms-sim exited" >&2; exit 1; }
  sleep 0.1
done
[[ -n "$ENDPOINT" ]] || { echo "real clients: kms-sim did not start within 30 s" >&2; exit 1; }
[[ "$ENDPOINT" != *:4566 ]] || { echo "real clients: refusing LocalStack's port 4566" >&2; exit 1; }
echo "kms-sim: $ENDPOINT (pid $SIM_PID)"

mkdir -p "$WORK/home"
run_env=(env -u AWS_PROFILE -u AWS_SESSION_TOKEN -u AWS_ENDPOINT_URL -u AWS_ENDPOINT_URL_KMS
  -u AWS_CONTAINER_CREDENTIALS_RELATIVE_URI -u AWS_CONTAINER_CREDENTIALS_FULL_URI
  HOME="$WORK/home" AWS_CONFIG_FILE="$WORK/home/config" AWS_SHARED_CREDENTIALS_FILE="$WORK/home/credentials"
  AWS_EC2_METADATA_DISABLED=true AWS_ACCESS_KEY_ID=AKIDREALCLIENTS AWS_SECRET_ACCESS_KEY=x
  AWS_DEFAULT_REGION=us-east-1 PATH="$VENV/bin:$PATH")
passed=0
check() { # check NAME COMMAND...
  local name="$1" t=$SECONDS
  shift
  echo "--- $name"
  "${run_env[@]}" "$@"
  passed=$((passed + 1))
  echo "--- $name: passed ($((SECONDS - t)) s)"
}
check "a. AWS Encryption SDK (strict KMS master key provider)" python "$CLIENTS/esdk_envelope.py" "$ENDPOINT"
check "b. AWS CLI + openssl import procedure" bash "$CLIENTS/cli_import.sh" "$ENDPOINT"
check "c. boto3 import / delete / re-import / rotate" python "$CLIENTS/boto3_lifecycle.py" "$ENDPOINT"
echo "real clients: all $passed checks passed; step total: $((SECONDS - START)) s"
