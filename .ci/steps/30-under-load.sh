#!/usr/bin/env bash
# The timing-sensitive suites (the function against the harness, and the harness's own Runtime
# API, Invoke API and process suites), 3 rounds with every core saturated: a test that passes only
# on an idle machine fails here. Reuses step 5's test binaries. UNDER_LOAD_RUNS changes the count.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
exec scripts/under-load.sh
