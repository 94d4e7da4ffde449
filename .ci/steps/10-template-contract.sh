#!/usr/bin/env bash
# The template and the function meet at names: environment variables, EMF metric names, the
# default metrics namespace, the Action dimension value the sweep alarms filter on, and the log
# phrase of the audit-publishing metric filter. Neither cfn-lint nor cargo test sees a mismatch
# (an unknown variable is ignored, an alarm on a metric that is never written stays OK forever),
# so check them here. Text only: no cargo, no network.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export LC_ALL=C

T=template.yaml
fail=0
bad() { echo "template contract: $*" >&2; fail=1; }

# Variables the function reads that the template deliberately leaves at the function's defaults
# (docs/deploy.md, "Parameters"). A new variable must be added to the template or to this list.
# Do not list one whose default needs something the template does not provide (a permission of
# the role, a resource): that is a template change, not an exception.
# MATERIAL_GUARD_CONTINUATION_FUNCTION defaults to the function's own name (AWS_LAMBDA_FUNCTION_NAME);
# the template grants that self-invocation (ContinuationPolicy), checked below.
untemplated=" MATERIAL_GUARD_CONCURRENCY MATERIAL_GUARD_MAX_ATTEMPTS MATERIAL_GUARD_CALL_TIMEOUT_MS MATERIAL_GUARD_DEADLINE_MARGIN_MS MATERIAL_GUARD_CONTINUATION_FUNCTION "

in_template=$(grep -oE '^ +MATERIAL_GUARD_[A-Z0-9_]+:' "$T" | tr -d ' :' | sort -u)
in_code=$(grep -ohE '"MATERIAL_GUARD_[A-Z0-9_]+"' src/config.rs | tr -d '"' | sort -u)
[[ -n "$in_template" ]] || bad "no MATERIAL_GUARD_* variables found in $T"
[[ -n "$in_code" ]] || bad "no MATERIAL_GUARD_* variables found in src/config.rs"

for v in $in_template; do
  grep -qx "$v" <<<"$in_code" || bad "$T sets $v, which src/config.rs never reads"
done
for v in $in_code; do
  grep -qx "$v" <<<"$in_template" || [[ "$untemplated" == *" $v "* ]] \
    || bad "src/config.rs reads $v, which $T neither sets nor lists as left at its default (.ci/steps/10-template-contract.sh)"
done

# EMF metrics the alarms use must be metrics the function writes (src/metrics.rs).
for m in $(grep -oE "(SUM\(|MetricName: )(Keys[A-Za-z]+|Rotation[A-Za-z]+)" "$T" | sed -E 's/^(SUM\(|MetricName: )//' | sort -u); do
  grep -q "\"$m\"" src/metrics.rs || bad "$T alarms on metric $m, which src/metrics.rs does not write"
done
code_ns=$(sed -nE 's/^pub const DEFAULT_NAMESPACE: &str = "([^"]+)";/\1/p' src/metrics.rs)
tmpl_ns=$(awk '/^  MetricsNamespace:/{f=1; next} f && /^    Default:/{print $2; exit}' "$T")
[[ -n "$code_ns" && "$code_ns" == "$tmpl_ns" ]] \
  || bad "MetricsNamespace default '$tmpl_ns' differs from DEFAULT_NAMESPACE '$code_ns' in src/metrics.rs"
grep -q 'Action::Sweep => "sweep"' src/audit.rs \
  || bad "the sweep alarms filter on Action=sweep, which src/audit.rs no longer names so"

# The audit-publishing metric filter matches a phrase of the function's error log line.
phrase=$(sed -nE "s/^      FilterPattern: '\"(audit records could not be published[^\"]*)\"'$/\1/p" "$T")
[[ -n "$phrase" ]] || bad "AuditPublishFailedMetricFilter's FilterPattern not found in $T"
[[ -z "$phrase" ]] || grep -qF "$phrase" src/publish.rs \
  || bad "src/publish.rs no longer logs \"$phrase\" (AuditPublishFailedMetricFilter in $T)"

# The continuation's self-invocation needs lambda:InvokeFunction on the function itself.
grep -q 'Action: lambda:InvokeFunction' "$T" && grep -q 'Resource: !GetAtt MaterialGuardFunction.Arn' "$T" \
  || bad "the function continues large requests by invoking itself: $T must grant lambda:InvokeFunction on MaterialGuardFunction"

if ((fail)); then exit 1; fi
echo "template contract: $(wc -w <<<"$in_template") variables, metric names, namespace, sweep action and publish-failure phrase agree with src/"
