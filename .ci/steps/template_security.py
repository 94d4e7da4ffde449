"""Checks the security properties of template.yaml that no linter checks (docs/security.md).

Run by .ci/steps/14-template-security.sh with the CI virtualenv's Python (cfn-lint and the SAM
translator come from .ci/requirements.txt). Offline: the SAM transform runs locally, with no
credentials and no managed-policy lookups.

  python template_security.py              check template.yaml; exit 1 with the problems
  python template_security.py --self-test  break a copy of the template in every way listed in
                                           template_security_breakages.py and require the
                                           property's check to fail (exit 1 otherwise)

Properties (issue 11):
  incident-bus     revocation requests are matched only on a bus this stack creates, and the
                   default bus carries AWS-sourced events and the schedule only;
  bus-policy       that bus denies PutEvents of the revocation detail-type to every principal
                   but ResponderPrincipalArns and the central fan-out role, and events of the
                   function's source to everyone but the function's role;
  lambda-perms     every Lambda permission is for events.amazonaws.com from one of the stack's
                   own rules (SourceArn);
  findings-scope   the GuardDuty and imported Security Hub findings rules match findings about
                   this account (and Region) only; the custom action's rule its own action;
  mac-key          the continuation key is an HMAC key only the function's role may use;
  dashboard        the operator dashboard exists and shows every signal of docs/deploy.md;
  role-actions     the function's role holds no action the function does not call.
"""

import copy
import json
import logging
import os
import pathlib
import re
import sys

from cfnlint.decode import decode
from samtranslator.translator.transform import transform

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
AHEAD = ROOT / ".ci" / "steps" / "ahead-of-code.txt"
REQUEST_DT = "Key Material Revocation Requested"
GUARD_SOURCE = "kms-material-guard"
FUNCTION = "MaterialGuardFunction"
ROLE = "MaterialGuardRole"
CENTRAL_FAN_OUT_PATH = ":role/kms-material-guard-central/"
DASHBOARD_METRICS = {
    "KeysRevoked", "KeysRefused", "KeysFailed", "KeysFailedRetryable", "KeysExpiringSoon",
    "RotationDue", "RevocationLatency", "RecordsNotPublished",
}
# SDK operations (method names in src/) and the IAM action each needs.
SDK_ACTIONS = {
    "describe_key": "kms:DescribeKey",
    "list_resource_tags": "kms:ListResourceTags",
    "list_key_rotations": "kms:ListKeyRotations",
    "list_keys": "kms:ListKeys",
    "list_aliases": "kms:ListAliases",
    "delete_imported_key_material": "kms:DeleteImportedKeyMaterial",
    "rotate_key_on_demand": "kms:RotateKeyOnDemand",
    "generate_mac": "kms:GenerateMac",
    "verify_mac": "kms:VerifyMac",
    "put_events": "events:PutEvents",
    "invoke": "lambda:InvokeFunction",
}
# Actions the Lambda service uses with the role, not the function's code.
RUNTIME_ACTIONS = {
    "logs:CreateLogStream", "logs:PutLogEvents",  # the log group (audit records, EMF)
    "xray:PutTraceSegments", "xray:PutTelemetryRecords",  # Tracing: Active
    "sqs:SendMessage",  # the asynchronous invocation's on-failure destination
}


# ------------------------------------------------------------------------------------------------
# Reading templates and intrinsic functions
# ------------------------------------------------------------------------------------------------

class _NoManagedPolicies:
    """The template names no managed policy: the translator must not look any up."""

    def load(self):
        return {}


def load(path=TEMPLATE):
    template, matches = decode(str(path))
    if matches:
        raise SystemExit(f"{path}: cannot be read: {matches}")
    return template


def expand(raw):
    """The template after the SAM transform (what CloudFormation deploys)."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    # The translator's own usage metrics go nowhere (a dummy publisher) but warn when dropped.
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    t = copy.deepcopy(raw)
    t["Resources"][FUNCTION]["Properties"]["CodeUri"] = "s3://bucket/key"
    return transform(t, {}, _NoManagedPolicies())


def resources(t, rtype):
    return {k: r for k, r in t.get("Resources", {}).items() if r.get("Type") == rtype}


def leaves(node):
    """Every value a (possibly intrinsic) node can take, as (kind, value): ("ref", name),
    ("getatt", resource), ("sub", text), ("str", text); both branches of Fn::If."""
    if isinstance(node, list):
        for n in node:
            yield from leaves(n)
    elif isinstance(node, dict) and len(node) == 1:
        (k, v), = node.items()
        if k == "Ref":
            yield ("ref", v)
        elif k == "Fn::GetAtt":
            yield ("getatt", v[0] if isinstance(v, list) else v.split(".")[0])
        elif k == "Fn::Sub":
            yield ("sub", v[0] if isinstance(v, list) else v)
        elif k == "Fn::If":
            yield from leaves(v[1:])
        elif k in ("Fn::Join", "Fn::Split", "Fn::Select"):
            yield from leaves(v[1] if k != "Fn::Select" else v[1])
        else:
            yield from leaves(v)
    elif isinstance(node, dict):
        for v in node.values():
            yield from leaves(v)
    elif isinstance(node, str):
        yield ("str", node)


def branches(node):
    """A list node with Fn::If entries flattened into both branches and AWS::NoValue dropped."""
    out = []
    for n in node if isinstance(node, list) else [node]:
        if isinstance(n, dict) and set(n) == {"Fn::If"}:
            out.extend(branches(n["Fn::If"][1:]))
        elif n != {"Ref": "AWS::NoValue"}:
            out.append(n)
    return out


def as_list(v):
    return v if isinstance(v, list) else [v]


def action_matches(pattern, action):
    rx = "^" + re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".") + "$"
    return re.match(rx, action, re.IGNORECASE) is not None


def covers(statement, action):
    if "NotAction" in statement:
        return True
    return any(
        kind == "str" and action_matches(v, action) for kind, v in leaves(statement.get("Action", []))
    )


def everyone(principal):
    return principal == "*" or (isinstance(principal, dict) and principal.get("AWS") == "*")


def sub_names(text):
    return set(re.findall(r"\$\{([^}!][^}]*)\}", text))


def condition_keys(statement):
    """{(operator, key): value} of a statement's conditions (both branches of Fn::If)."""
    out = {}
    for cond in branches(statement.get("Condition", {})):
        for op, body in cond.items():
            for b in branches(body):
                if isinstance(b, dict):
                    for key, value in b.items():
                        out[(op, key.lower())] = value
    return out


def ahead_of_code():
    if not AHEAD.exists():
        return set()
    return {l.strip() for l in AHEAD.read_text().splitlines() if l.strip() and not l.startswith("#")}


# ------------------------------------------------------------------------------------------------
# The checks: each returns a list of problems (empty: the property holds)
# ------------------------------------------------------------------------------------------------

def check_incident_bus(t):
    """Requests only on a bus of this stack; the default bus carries AWS events only."""
    problems, own_buses, request_rules = [], set(resources(t, "AWS::Events::EventBus")), 0
    for name, r in resources(t, "AWS::Events::Rule").items():
        p = r.get("Properties", {})
        bus, pattern = p.get("EventBusName"), p.get("EventPattern")
        own = isinstance(bus, dict) and bus.get("Ref") in own_buses
        default = bus is None or bus == "default"
        detail_types = pattern.get("detail-type", []) if isinstance(pattern, dict) else []
        if REQUEST_DT in detail_types:
            request_rules += 1
            if not own:
                problems.append(f"{name} matches \"{REQUEST_DT}\" on {json.dumps(bus) if bus else 'the default bus'}, not on a bus this stack creates")
        if default and pattern is not None:
            sources = [v for kind, v in leaves(pattern.get("source", []))]
            if not sources or not all(isinstance(s, str) and s.startswith("aws.") for s in sources):
                problems.append(f"{name} is on the default bus but matches non-AWS sources {sources or '(any)'}")
        elif default and "ScheduleExpression" not in p:
            problems.append(f"{name} is on the default bus without a pattern or a schedule")
    if request_rules == 0:
        problems.append(f"no rule matches \"{REQUEST_DT}\"")
    return problems


def _deny_statements(policy, detail_key, value):
    """Deny statements of a bus policy for PutEvents by everyone whose condition names `value`
    under `detail_key` (events:detail-type or events:source)."""
    out = []
    for s in branches(policy.get("Statement", [])):
        if s.get("Effect") != "Deny" or not everyone(s.get("Principal")) or not covers(s, "events:PutEvents"):
            continue
        conds = condition_keys(s)
        if any(k == detail_key and value in [v for _, v in leaves(val)] for (op, k), val in conds.items()):
            out.append((s, conds))
    return out


def _exemptions(conds, detail_key):
    """The principal exemptions of a deny, and the conditions that are neither those nor the
    event test (which would narrow the deny)."""
    exempt, other = [], []
    for (op, key), value in conds.items():
        if key == detail_key and "StringEquals" in op:
            continue
        if key == "aws:principalarn" and op in ("ArnNotLike", "ArnNotEquals"):
            exempt.extend(leaves(value))
        else:
            other.append(f"{op} {key}")
    return exempt, other


def check_bus_policy(t):
    """The incident bus denies requests to non-responders and the function's source to others."""
    problems = []
    buses = resources(t, "AWS::Events::EventBus")
    used = {r["Properties"]["EventBusName"]["Ref"] for r in resources(t, "AWS::Events::Rule").values()
            if isinstance(r.get("Properties", {}).get("EventBusName"), dict)
            and REQUEST_DT in r["Properties"].get("EventPattern", {}).get("detail-type", [])}
    if not used:
        return ["no incident bus of this stack carries the incident rule"]
    for bus in sorted(used):
        policy = buses.get(bus, {}).get("Properties", {}).get("Policy") or {}
        denies = _deny_statements(policy, "events:detail-type", REQUEST_DT)
        if not denies:
            problems.append(f"{bus}'s policy does not deny \"{REQUEST_DT}\" to non-responders")
        for s, conds in denies:
            exempt, other = _exemptions(conds, "events:detail-type")
            if other:
                problems.append(f"{bus}: the deny of requests is narrowed by {other}")
            for kind, v in exempt:
                ok = (kind == "ref" and v in ("ResponderPrincipalArns", "AWS::NoValue")) or (
                    kind == "sub" and CENTRAL_FAN_OUT_PATH in v
                    and sub_names(v) <= {"AWS::Partition", "CentralAccountId"})
                if not ok:
                    problems.append(f"{bus}: the deny of requests also exempts {kind} {v!r}")
        audit = _deny_statements(policy, "events:source", GUARD_SOURCE)
        if not audit:
            problems.append(f"{bus}'s policy does not deny source {GUARD_SOURCE} to everyone but the function's role")
        for s, conds in audit:
            exempt, other = _exemptions(conds, "events:source")
            if other or sorted(set(exempt)) != [("getatt", ROLE)]:
                problems.append(f"{bus}: the deny of source {GUARD_SOURCE} must exempt {ROLE} only, not {exempt} {other}")
    return problems


def check_lambda_permissions(t):
    """Every Lambda permission: EventBridge, from a rule of this stack (SourceArn)."""
    problems, rules = [], set(resources(t, "AWS::Events::Rule"))
    perms = resources(t, "AWS::Lambda::Permission")
    if not perms:
        problems.append("no AWS::Lambda::Permission found")
    for name, r in perms.items():
        p = r.get("Properties", {})
        src = p.get("SourceArn")
        if p.get("Principal") != "events.amazonaws.com":
            problems.append(f"{name} grants invocation to {p.get('Principal')!r}, not only EventBridge")
        if not (isinstance(src, dict) and "Fn::GetAtt" in src and src["Fn::GetAtt"][0] in rules):
            problems.append(f"{name} does not name one of the stack's rules as SourceArn ({src!r})")
    if resources(t, "AWS::Lambda::Url"):
        problems.append("a function URL lets anyone with lambda:InvokeFunctionUrl revoke")
    return problems


def check_findings_scope(t):
    """Findings rules match this account's (and Region's) findings and this stack's action."""
    problems, found = [], set()
    own = {"Ref": "AWS::AccountId"}
    for name, r in resources(t, "AWS::Events::Rule").items():
        pattern = r.get("Properties", {}).get("EventPattern") or {}
        sources = pattern.get("source", [])
        detail = pattern.get("detail", {})
        if "aws.guardduty" in sources:
            found.add("guardduty")
            if detail.get("accountId") != [own] or detail.get("region") != [{"Ref": "AWS::Region"}]:
                problems.append(f"{name} matches GuardDuty findings about other accounts or Regions")
        if "aws.securityhub" in sources and "Security Hub Findings - Imported" in pattern.get("detail-type", []):
            found.add("imported")
            if detail.get("findings", {}).get("AwsAccountId") != [own]:
                problems.append(f"{name} matches imported findings of other accounts")
        if "aws.securityhub" in sources and "Security Hub Findings - Custom Action" in pattern.get("detail-type", []):
            found.add("action")
            if [k for k, _ in leaves(pattern.get("resources", []))] != ["getatt"]:
                problems.append(f"{name} matches custom actions other than the stack's own")
    missing = {"guardduty", "imported", "action"} - found
    return problems + ([f"no findings rule found for {sorted(missing)}"] if missing else [])


def _role_statements(t):
    """Every statement of every policy attached to the function's role."""
    docs = []
    role = t["Resources"].get(ROLE, {}).get("Properties", {})
    docs += [p["PolicyDocument"] for p in branches(role.get("Policies", [])) if isinstance(p, dict)]
    for r in list(resources(t, "AWS::IAM::Policy").values()) + list(resources(t, "AWS::IAM::ManagedPolicy").values()):
        if {"Ref": ROLE} in as_list(r["Properties"].get("Roles", [])):
            docs.append(r["Properties"]["PolicyDocument"])
    if role.get("ManagedPolicyArns"):
        docs.append({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
    out = []
    for doc in docs:
        if isinstance(doc, dict) and "Statement" in doc:
            out += branches(doc["Statement"])
            continue
        # A JSON policy in Fn::Sub (conditions whose keys hold parameters), in either branch.
        for kind, v in leaves(doc):
            if kind == "sub" and v.lstrip().startswith("{"):
                out += as_list(json.loads(re.sub(r"\$\{[^}]+\}", "X", v))["Statement"])
    return out


def check_mac_key(t):
    """The continuation key: HMAC, generated in KMS, usable by the function's role only."""
    problems, keys = [], {k: r for k, r in resources(t, "AWS::KMS::Key").items()
                          if r["Properties"].get("KeyUsage") == "GENERATE_VERIFY_MAC"}
    if len(keys) != 1:
        return [f"expected one KMS key with KeyUsage GENERATE_VERIFY_MAC, found {sorted(keys)}"]
    (name, key), = keys.items()
    p = key["Properties"]
    if not str(p.get("KeySpec", "")).startswith("HMAC_") or p.get("Origin", "AWS_KMS") != "AWS_KMS":
        problems.append(f"{name} must be an HMAC key generated by KMS (KeySpec {p.get('KeySpec')}, Origin {p.get('Origin')})")
    env = t["Resources"][FUNCTION]["Properties"].get("Environment", {}).get("Variables", {})
    if env.get("MATERIAL_GUARD_CONTINUATION_KEY") != {"Fn::GetAtt": [name, "Arn"]}:
        problems.append(f"MATERIAL_GUARD_CONTINUATION_KEY is not {name}'s ARN")
    statements = branches(p.get("KeyPolicy", {}).get("Statement", []))
    for s in statements:
        if s.get("Effect") != "Allow":
            continue
        if covers(s, "kms:CreateGrant"):
            problems.append(f"{name}: statement {s.get('Sid')} allows kms:CreateGrant (a grant can hand out the key)")
        if covers(s, "kms:GenerateMac") or covers(s, "kms:VerifyMac"):
            if sorted(set(leaves(s.get("Principal")))) != [("getatt", ROLE)]:
                problems.append(f"{name}: statement {s.get('Sid')} lets {s.get('Principal')} use the key")
    guard = [s for s in statements if s.get("Effect") == "Deny" and everyone(s.get("Principal"))
             and covers(s, "kms:GenerateMac") and covers(s, "kms:VerifyMac")]
    if not guard:
        problems.append(f"{name}: no explicit deny of GenerateMac/VerifyMac to every principal but {ROLE}")
    for s in guard:
        exempt, other = _exemptions(condition_keys(s), None)
        if other or sorted(set(exempt)) != [("getatt", ROLE)]:
            problems.append(f"{name}: the deny must exempt {ROLE} only, not {exempt} {other}")
    for s in _role_statements(t):
        if s.get("Effect") == "Allow" and (covers(s, "kms:GenerateMac") or covers(s, "kms:VerifyMac")):
            if sorted(set(leaves(s.get("Resource")))) != [("getatt", name)]:
                problems.append(f"the role may compute MACs with {s.get('Resource')}, not {name} only")
    return problems


def _dashboard_metrics(body):
    text = re.sub(r"\$\{[^}]+\}", "X", body)
    names = set(re.findall(r'MetricName=\\?"([A-Za-z]+)\\?"', text))
    for w in json.loads(text).get("widgets", []):
        for m in w.get("properties", {}).get("metrics", []):
            if len(m) >= 2 and isinstance(m[1], str):
                names.add(m[1])
    return names


def check_dashboard(t):
    """The dashboard exists and shows every signal docs/deploy.md describes."""
    boards = resources(t, "AWS::CloudWatch::Dashboard")
    if not boards:
        return ["no AWS::CloudWatch::Dashboard"]
    shown = set()
    for r in boards.values():
        for kind, v in leaves(r["Properties"].get("DashboardBody")):
            if kind in ("sub", "str"):
                shown |= _dashboard_metrics(v)
    missing = DASHBOARD_METRICS - shown
    return [f"the dashboard does not show {sorted(missing)}"] if missing else []


def check_role_actions(t, src=ROOT / "src"):
    """The role grants only actions the function calls (or Lambda needs)."""
    called = set()
    for f in src.rglob("*.rs"):
        called |= {SDK_ACTIONS[m] for m in re.findall(r"\.([a-z_]+)\(\)", f.read_text()) if m in SDK_ACTIONS}
    ahead = ahead_of_code()
    problems = [f"src/ now calls {a}: delete it from {AHEAD.relative_to(ROOT)}" for a in sorted(ahead & called)]
    allowed = called | RUNTIME_ACTIONS | {a for a in ahead if ":" in a}
    for s in _role_statements(t):
        if s.get("Effect") != "Allow":
            continue
        if "NotAction" in s:
            problems.append(f"statement {s.get('Sid')} uses NotAction")
        for kind, a in leaves(s.get("Action", [])):
            if "*" in a or a not in allowed:
                problems.append(f"the role grants {a}, which the function never calls (statement {s.get('Sid')})")
    return problems


CHECKS = {
    "incident-bus": (check_incident_bus, True),
    "bus-policy": (check_bus_policy, True),
    "lambda-perms": (check_lambda_permissions, True),
    "findings-scope": (check_findings_scope, False),
    "mac-key": (check_mac_key, False),
    "dashboard": (check_dashboard, False),
    "role-actions": (check_role_actions, False),
}


def run(raw):
    """{check: problems} for a raw template (checks marked True see it after the SAM transform)."""
    expanded = expand(raw)
    return {name: f(expanded if sam else raw) for name, (f, sam) in CHECKS.items()}


def main(argv):
    raw = load()
    if argv[1:] == ["--self-test"]:
        from template_security_breakages import self_test

        failures = self_test(raw)
        for f in failures:
            print(f"template security self-test: {f}", file=sys.stderr)
        return 1 if failures else 0
    if argv[1:]:
        print(__doc__, file=sys.stderr)
        return 2
    problems = run(raw)
    for check, ps in problems.items():
        for p in ps:
            print(f"template security [{check}]: {p}", file=sys.stderr)
    if any(problems.values()):
        return 1
    print(f"template security: {', '.join(problems)} hold for {TEMPLATE.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
