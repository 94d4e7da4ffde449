#!/usr/bin/env bash
# Creates bench/.venv (the Python peer's environment: boto3, awslambdaric; cargo-lambda + ziglang
# for the package-size measurement) from bench/requirements.txt. Idempotent.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"
if [[ ! -x "$here/.venv/bin/python" ]]; then
    "$python" -m venv "$here/.venv"
fi
"$here/.venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
"$here/.venv/bin/python" - <<'PY'
import awslambdaric, boto3, botocore, sys
print(f"bench/.venv ready: Python {sys.version.split()[0]}, boto3 {boto3.__version__}, "
      f"botocore {botocore.__version__}, awslambdaric {awslambdaric.__version__}")
PY
