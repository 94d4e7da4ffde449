#!/usr/bin/env bash
# The organization deployment meets at names that no linter checks across files: the central
# template (templates/central.yaml) routes and archives events by source and detail-type that the
# function writes (src/), admits member roles by the IAM path the member template gives them
# (template.yaml), admits their forwarded records by the name of the member's forwarding rule,
# is admitted on the member buses by its fan-out role's path, and its report query reads fields
# of the audit record and the revocation summary (schema/) and must attribute them to the
# envelope EventBridge set. A mismatch deploys cleanly and then silently drops requests or
# records, or trusts what a member wrote about itself.
# Text only: no cargo, no network.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export LC_ALL=C

M=template.yaml
C=templates/central.yaml
fail=0
bad() { echo "organization contract: $*" >&2; fail=1; }

[[ -f "$C" ]] || { echo "organization contract: no $C, nothing to check"; exit 0; }

# A Rust string constant's value, wherever in src/ it is defined: const_value NAME.
const_value() { grep -rhE "^pub const $1: &str = \"[^\"]*\";" src | sed -nE 's/.*= "([^"]*)";/\1/p' | head -1; }

source_=$(const_value EVENT_SOURCE)
audit_dt=$(const_value EVENT_DETAIL_TYPE)
summary_dt=$(const_value SUMMARY_DETAIL_TYPE)
request_dt=$(const_value DETAIL_TYPE_REVOCATION)
[[ -n "$source_" ]] || bad "EVENT_SOURCE not found in src/"
[[ -n "$audit_dt" ]] || bad "EVENT_DETAIL_TYPE not found in src/"
[[ -n "$summary_dt" ]] || bad "SUMMARY_DETAIL_TYPE not found in src/"
[[ -n "$request_dt" ]] || bad "DETAIL_TYPE_REVOCATION not found in src/"

# Every detail-type the templates name is one the function reads or writes.
for t in "$M" "$C"; do
  grep -oE '"Key Material [A-Za-z ]+"' "$t" | sort -u | tr -d '"' | while IFS= read -r dt; do
    [[ "$dt" == "$audit_dt" || "$dt" == "$summary_dt" || "$dt" == "$request_dt" ]] \
      || { echo "organization contract: $t names detail-type \"$dt\", which src/ neither reads nor writes" >&2; exit 1; }
  done || fail=1
done

# The central bus, its archive and its log rule take the function's audit records and summaries.
if [[ -n "$source_" && -n "$audit_dt" && -n "$summary_dt" ]]; then
  want="[\"$audit_dt\", \"$summary_dt\"]"
  n=$(grep -cF "source: [$source_]" "$C" || true)
  ((n >= 2)) || bad "$C: the archive and the log rule must match source [$source_] (found $n)"
  n=$(grep -cF "detail-type: $want" "$C" || true)
  ((n >= 2)) || bad "$C: the archive and the log rule must match detail-type $want (found $n)"
  grep -qF "events:source: [$source_]" "$C" || bad "$C: the bus policy must admit members as source $source_"
  grep -qF "events:detail-type: $want" "$C" || bad "$C: the bus policy must admit members' detail-types $want"
  grep -qF "events:source: $source_" "$M" || bad "$M: the role's PutEvents must be limited to source $source_"
fi

# Requests: the fan-out forwards, and the member's bus policy and rule admit, the same detail-type.
if [[ -n "$request_dt" ]]; then
  grep -qF "detail-type: [\"$request_dt\"]" "$C" || bad "$C: the fan-out rules must match detail-type \"$request_dt\""
  grep -qF "events:detail-type: [\"$request_dt\"]" "$M" || bad "$M: IncidentEventBus's policy must name detail-type \"$request_dt\""
  grep -qF "detail-type: [\"$request_dt\"]" "$M" || bad "$M: the incident rule must match detail-type \"$request_dt\""
fi

# The central default request source is one the members accept by default.
central_src=$(awk '/^  IncidentSource:/{f=1; next} f && /^    Default:/{print $2; exit}' "$C")
member_src=$(awk '/^  AllowedSources:/{f=1; next} f && /^    Default:/{print $2; exit}' "$M")
[[ -n "$central_src" && ",$member_src," == *",$central_src,"* ]] \
  || bad "IncidentSource default '$central_src' ($C) is not in AllowedSources default '$member_src' ($M)"

# Members publish from MaterialGuardRole (path /kms-material-guard/); the central bus policy admits
# organization principals under that path only.
path=$(awk '/^  MaterialGuardRole:/{f=1; next} f && /^      Path:/{print $2; exit}' "$M")
[[ "$path" == "/kms-material-guard/" ]] || bad "$M: MaterialGuardRole Path is '$path', $C admits role/kms-material-guard/*"
grep -qF 'aws:PrincipalArn: !Sub arn:${AWS::Partition}:iam::*:role/kms-material-guard/*' "$C" \
  || bad "$C: the bus policy must admit member roles by the path role/kms-material-guard/*"

# The organization parameters reach the function under the names it reads (step 10 checks that
# src/config.rs reads them).
grep -qE '^ +MATERIAL_GUARD_ORGANIZATIONAL_UNITS: !Ref OrganizationalUnits$' "$M" \
  || bad "$M: OrganizationalUnits must set MATERIAL_GUARD_ORGANIZATIONAL_UNITS"
grep -qE '^ +MATERIAL_GUARD_AUDIT_EVENT_BUS: !If \[HasCentralBus, !Ref IncidentEventBus, !Ref AuditEventBusName\]$' "$M" \
  || bad "$M: with CentralEventBusArn the function must publish to its own incident bus (forwarded to the central bus), else to AuditEventBusName"
awk '/^ +MATERIAL_GUARD_TRUSTED_ACCOUNTS:/{f=1} f{print} f && /^ +MATERIAL_GUARD_ORGANIZATIONAL_UNITS:/{exit}' "$M" \
  | grep -q 'CentralAccountId' || bad "$M: CentralAccountId must be part of MATERIAL_GUARD_TRUSTED_ACCOUNTS"

# Members' records reach the central bus forwarded by a rule whose name the central bus policy
# admits (aws:SourceArn), with a role under the admitted path; the central fan-out role's path
# is the one the member bus policy admits.
fwd=$(awk '/^  AuditToCentralRule:/{f=1; next} f && /^      Name: /{print $2; exit}' "$M")
[[ -n "$fwd" ]] || bad "$M: AuditToCentralRule has no fixed Name"
grep -qF "aws:SourceArn: !Sub arn:\${AWS::Partition}:events:*:*:rule/*/$fwd" "$C" \
  || bad "$C: the bus policy must admit members' records forwarded by rule '$fwd' (aws:SourceArn)"
grep -qF ":rule/\${IncidentBusName}/$fwd" "$M" || bad "$M: AuditForwardRole must trust rule '$fwd' only"
fpath=$(awk '/^  AuditForwardRole:/{f=1; next} f && /^      Path:/{print $2; exit}' "$M")
[[ "$fpath" == "/kms-material-guard/" ]] || bad "$M: AuditForwardRole Path is '$fpath', $C admits role/kms-material-guard/*"
cpath=$(awk '/^  FanOutRole:/{f=1; next} f && /^      Path:/{print $2; exit}' "$C")
[[ -n "$cpath" ]] && grep -qF "role$cpath*" "$M" \
  || bad "$M: the incident bus must admit the central fan-out role by its path '$cpath' ($C)"
bus=$(awk '/^  IncidentBusName:/{f=1; next} f && /^    Default:/{print $2; exit}' "$M")
grep -qF "event-bus/$bus)" "$C" || bad "$C: MemberEventBusArns must describe the members' default incident bus '$bus'"

# The report query reads fields of the audit record and the summary (schema/, the published
# contract of both).
query=$(awk '/^      QueryString: \|/{f=1; next} f && /^[^ ]/{exit} f && /^      [A-Za-z]/{exit} f{print}' "$C")
[[ -n "$query" ]] || bad "$C: ConsolidatedReportQuery's QueryString not found"
for f in $(grep -oE 'detail\.[a-z_]+' <<<"$query" | sed 's/^detail\.//' | sort -u); do
  grep -qF "\"$f\"" schema/audit-record.v1.json schema/revocation-summary.v1.json 2>/dev/null \
    || bad "$C: the report query reads detail.$f, which neither schema/audit-record.v1.json nor schema/revocation-summary.v1.json defines"
done

# ...and attributes them to the envelope (set by EventBridge), never to what the detail says.
grep -qE '^ +fields account as member_account,$' <<<"$query" && grep -qE '^ +region as member_region,$' <<<"$query" \
  || bad "$C: the report query must take member_account and member_region from the envelope (account, region)"
! grep -qE 'coalesce\(detail\.(account|region), *(account|region)\)' <<<"$query" \
  || bad "$C: the report query must not fall back to the account or Region a member wrote into the detail"

if ((fail)); then exit 1; fi
echo "organization contract: source, detail-types, request source, role paths, forwarding rule, organization variables and report fields agree across $M, $C, src/ and schema/"
