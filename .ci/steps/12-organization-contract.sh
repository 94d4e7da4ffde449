#!/usr/bin/env bash
# The organization deployment meets at names that no linter checks across files: the central
# template (templates/central.yaml) routes and archives events by source and detail-type that the
# function writes (src/), admits member roles by the IAM path the member template gives them
# (template.yaml), and its report query reads fields of the audit record and the revocation
# summary (schema/). A mismatch deploys cleanly and then silently drops requests or records.
# Text only: no cargo, no network.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export LC_ALL=C

M=template.yaml
C=templates/central.yaml
fail=0
bad() { echo "organization contract: $*" >&2; fail=1; }

[[ -f "$C" ]] || { echo "organization contract: no $C, nothing to check"; exit 0; }

# A Rust string constant's value: const_value FILE NAME.
const_value() { sed -nE "s/^pub const $2: &str = \"([^\"]*)\";/\\1/p" "$1"; }

source_=$(const_value src/publish.rs EVENT_SOURCE)
audit_dt=$(const_value src/publish.rs EVENT_DETAIL_TYPE)
summary_dt=$(const_value src/publish.rs SUMMARY_DETAIL_TYPE)
request_dt=$(const_value src/event.rs DETAIL_TYPE_REVOCATION)
[[ -n "$source_" ]] || bad "EVENT_SOURCE not found in src/publish.rs"
[[ -n "$audit_dt" ]] || bad "EVENT_DETAIL_TYPE not found in src/publish.rs"
[[ -n "$summary_dt" ]] || bad "SUMMARY_DETAIL_TYPE not found in src/publish.rs"
[[ -n "$request_dt" ]] || bad "DETAIL_TYPE_REVOCATION not found in src/event.rs"

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
  grep -qF "events:detail-type: [\"$request_dt\"]" "$M" || bad "$M: IncidentBusCentralAccountPolicy must admit detail-type \"$request_dt\""
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
grep -qE '^ +MATERIAL_GUARD_AUDIT_EVENT_BUS: !If \[HasCentralBus, !Ref CentralEventBusArn, !Ref AuditEventBusName\]$' "$M" \
  || bad "$M: CentralEventBusArn (else AuditEventBusName) must set MATERIAL_GUARD_AUDIT_EVENT_BUS"
awk '/^ +MATERIAL_GUARD_TRUSTED_ACCOUNTS:/{f=1} f{print} f && /^ +MATERIAL_GUARD_ORGANIZATIONAL_UNITS:/{exit}' "$M" \
  | grep -q 'CentralAccountId' || bad "$M: CentralAccountId must be part of MATERIAL_GUARD_TRUSTED_ACCOUNTS"

# The report query reads fields of the audit record and the summary (schema/, the published
# contract of both).
query=$(awk '/^      QueryString: \|/{f=1; next} f && /^[^ ]/{exit} f && /^      [A-Za-z]/{exit} f{print}' "$C")
[[ -n "$query" ]] || bad "$C: ConsolidatedReportQuery's QueryString not found"
for f in $(grep -oE 'detail\.[a-z_]+' <<<"$query" | sed 's/^detail\.//' | sort -u); do
  grep -qF "\"$f\"" schema/audit-record.v1.json schema/revocation-summary.v1.json 2>/dev/null \
    || bad "$C: the report query reads detail.$f, which neither schema/audit-record.v1.json nor schema/revocation-summary.v1.json defines"
done

if ((fail)); then exit 1; fi
echo "organization contract: source, detail-types, request source, member role path, organization variables and report fields agree across $M, $C, src/ and schema/"
