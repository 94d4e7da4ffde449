#!/usr/bin/env bash
# The template and the function meet at names: environment variables, EMF metric names, the
# default metrics namespace, the Action dimension value the sweep alarms filter on, and the log
# phrase of the audit-publishing metric filter. Neither cfn-lint nor cargo test sees a mismatch
# (an unknown variable is ignored, an alarm on a metric that is never written stays OK forever),
# so check them here. Text only: no cargo, no network. Names the template uses before src/ does
# are listed in .ci/steps/ahead-of-code.txt (and fail here once src/ uses them).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export LC_ALL=C

T=template.yaml
AHEAD=.ci/steps/ahead-of-code.txt
fail=0
bad() { echo "template contract: $*" >&2; fail=1; }

ahead=" $( if [[ -f $AHEAD ]]; then grep -vE '^\s*(#|$)' "$AHEAD" | tr '\n' ' '; fi ) "
# Whether a name src/ lacks is excused by the ahead-of-code list.
is_ahead() { [[ "$ahead" == *" $1 "* ]]; }

# Variables the function reads that the template deliberately leaves at the function's defaults
# (docs/deploy.md, "Parameters"). A new variable must be added to the template or to this list.
# Do not list one whose default needs something the template does not provide (a permission of
# the role, a resource): that is a template change, not an exception.
# MATERIAL_GUARD_CONTINUATION_FUNCTION defaults to the function's own name (AWS_LAMBDA_FUNCTION_NAME);
# the template grants that self-invocation (ContinuationPolicy), checked below.
# MATERIAL_GUARD_FALLBACK_TIMEOUT_SECONDS is for emulators without a deadline; Lambda gives one.
untemplated=" MATERIAL_GUARD_CONCURRENCY MATERIAL_GUARD_MAX_ATTEMPTS MATERIAL_GUARD_CALL_TIMEOUT_MS MATERIAL_GUARD_ENRICHMENT_TIMEOUT_MS MATERIAL_GUARD_DEADLINE_MARGIN_MS MATERIAL_GUARD_CONTINUATION_FUNCTION MATERIAL_GUARD_FALLBACK_TIMEOUT_SECONDS "

in_template=$(grep -oE '^ +MATERIAL_GUARD_[A-Z0-9_]+:' "$T" | tr -d ' :' | sort -u)
in_code=$(grep -rhoE '"MATERIAL_GUARD_[A-Z0-9_]+"' src | tr -d '"' | sort -u)
[[ -n "$in_template" ]] || bad "no MATERIAL_GUARD_* variables found in $T"
[[ -n "$in_code" ]] || bad "no MATERIAL_GUARD_* variables found in src/"

for v in $in_template; do
  if grep -qx "$v" <<<"$in_code"; then
    ! is_ahead "$v" || bad "src/ now reads $v: delete it from $AHEAD"
  else
    is_ahead "$v" || bad "$T sets $v, which src/ never reads"
  fi
done
for v in $in_code; do
  grep -qx "$v" <<<"$in_template" || [[ "$untemplated" == *" $v "* ]] \
    || bad "src/ reads $v, which $T neither sets nor lists as left at its default (.ci/steps/10-template-contract.sh)"
done

# EMF metrics the alarms and the dashboard use must be metrics the function writes
# (src/metrics.rs): Metrics Insights queries, SEARCH expressions, metric arrays and alarms in
# the MetricsNamespace.
metrics=$( {
  grep -oE 'SUM\([A-Za-z]+\) FROM SCHEMA\("\$\{MetricsNamespace\}"' "$T" | sed -E 's/^SUM\(([A-Za-z]+)\).*/\1/'
  grep -oE 'MetricName=\\"[A-Za-z]+\\"' "$T" | sed -E 's/^MetricName=\\"([A-Za-z]+)\\"/\1/'
  grep -oE '\["\$\{MetricsNamespace\}", "[A-Za-z]+"' "$T" | sed -E 's/.*", "([A-Za-z]+)"$/\1/'
  awk '/^      Namespace: !Ref MetricsNamespace$/{f=1; next} f && /^      MetricName: /{print $2; f=0}' "$T"
} | sort -u )
[[ -n "$metrics" ]] || bad "no metrics of MetricsNamespace found in $T"
for m in $metrics; do
  if grep -q "\"$m\"" src/metrics.rs; then
    ! is_ahead "$m" || bad "src/metrics.rs now writes $m: delete it from $AHEAD"
  else
    is_ahead "$m" || bad "$T uses metric $m, which src/metrics.rs does not write"
  fi
done
code_ns=$(grep -rhE '^pub const DEFAULT(_METRICS)?_NAMESPACE: &str = "[^"]+";' src | sed -nE 's/.*= "([^"]+)";/\1/p' | head -1)
tmpl_ns=$(awk '/^  MetricsNamespace:/{f=1; next} f && /^    Default:/{print $2; exit}' "$T")
[[ -n "$code_ns" && "$code_ns" == "$tmpl_ns" ]] \
  || bad "MetricsNamespace default '$tmpl_ns' differs from the default metrics namespace '$code_ns' in src/"
grep -rq 'Action::Sweep => "sweep"' src \
  || bad "the sweep alarms filter on Action=sweep, which src/ no longer names so"

# The audit-publishing metric filter matches a phrase of the function's error log line.
phrase=$(sed -nE "s/^      FilterPattern: '\"(audit records could not be published[^\"]*)\"'$/\1/p" "$T")
[[ -n "$phrase" ]] || bad "AuditPublishFailedMetricFilter's FilterPattern not found in $T"
[[ -z "$phrase" ]] || grep -rqF "$phrase" src \
  || bad "src/ no longer logs \"$phrase\" (AuditPublishFailedMetricFilter in $T)"

# The continuation's self-invocation needs lambda:InvokeFunction on the function itself.
grep -q 'Action: lambda:InvokeFunction' "$T" && grep -q 'Resource: !GetAtt MaterialGuardFunction.Arn' "$T" \
  || bad "the function continues large requests by invoking itself: $T must grant lambda:InvokeFunction on MaterialGuardFunction"

if ((fail)); then exit 1; fi
echo "template contract: $(wc -w <<<"$in_template") variables, $(wc -w <<<"$metrics") metrics, namespace, sweep action and publish-failure phrase agree with src/"
