"""The self-test of template_security.py: each property broken in a copy of the template, once
per way it could plausibly break; the property's check must report a problem for every one."""

import copy

from template_security import CHECKS, FUNCTION, ROLE, as_list, expand


def _res(t, name):
    return t["Resources"][name]


def _bus_statements(t):
    return _res(t, "IncidentEventBus")["Properties"]["Policy"]["Statement"]


def _drop_sid(statements, sid):
    statements[:] = [s for s in statements if not (isinstance(s, dict) and s.get("Sid") == sid)]


def _key_statements(t):
    return _res(t, "ContinuationKey")["Properties"]["KeyPolicy"]["Statement"]


def _widgets_without(t, metric):
    body = _res(t, "OperationsDashboard")["Properties"]["DashboardBody"]
    _res(t, "OperationsDashboard")["Properties"]["DashboardBody"] = {
        "Fn::Sub": body["Fn::Sub"].replace(metric, "SomethingElse")}


BREAKAGES = [
    ("incident-bus", "the incident rule on the default bus",
     lambda t: _res(t, FUNCTION)["Properties"]["Events"]["IncidentRequest"]["Properties"].pop("EventBusName")),
    ("incident-bus", "the incident rule on a bus named by a parameter",
     lambda t: _res(t, FUNCTION)["Properties"]["Events"]["IncidentRequest"]["Properties"].update(
         EventBusName={"Ref": "IncidentBusName"})),
    ("incident-bus", "a rule for a custom source on the default bus",
     lambda t: t["Resources"].update(Extra={"Type": "AWS::Events::Rule", "Properties": {
         "EventPattern": {"source": ["incident-response"], "detail-type": ["x"]}}})),
    ("bus-policy", "no deny of requests",
     lambda t: _drop_sid(_bus_statements(t), "OnlyRespondersRaiseRevocationRequests")),
    ("bus-policy", "the deny of requests exempts every role",
     lambda t: [s["Condition"].update(ArnNotLike={"aws:PrincipalArn": ["arn:aws:iam::*:role/*"]})
                for s in _bus_statements(t) if s.get("Sid") == "OnlyRespondersRaiseRevocationRequests"]),
    ("bus-policy", "the deny of requests narrowed to other accounts",
     lambda t: [s["Condition"].update(StringNotEquals={"aws:PrincipalAccount": {"Ref": "AWS::AccountId"}})
                for s in _bus_statements(t) if s.get("Sid") == "OnlyRespondersRaiseRevocationRequests"]),
    ("bus-policy", "no deny of forged audit records",
     lambda t: _drop_sid(_bus_statements(t), "OnlyTheFunctionPublishesAuditRecords")),
    ("lambda-perms", "a permission without SourceArn",
     lambda t: _res(t, "MaterialGuardFunctionGuardDutyFindingPermission")["Properties"].pop("SourceArn")),
    ("lambda-perms", "a permission for another account",
     lambda t: t["Resources"].update(Extra={"Type": "AWS::Lambda::Permission", "Properties": {
         "Action": "lambda:InvokeFunction", "FunctionName": {"Ref": FUNCTION}, "Principal": "123456789012"}})),
    ("findings-scope", "GuardDuty findings of any account",
     lambda t: _res(t, "MaterialGuardFunctionGuardDutyFinding")["Properties"]["EventPattern"].pop("detail")),
    ("findings-scope", "imported findings of any account",
     lambda t: _res(t, "MaterialGuardFunctionSecurityHubImportedFindings")["Properties"]["EventPattern"][
         "detail"]["findings"].pop("AwsAccountId")),
    ("findings-scope", "any custom action",
     lambda t: _res(t, "MaterialGuardFunctionSecurityHubCustomAction")["Properties"]["EventPattern"].pop(
         "resources")),
    ("mac-key", "the account may compute MACs",
     lambda t: _key_statements(t)[0]["Action"].append("kms:GenerateMac")),
    ("mac-key", "the account may create grants",
     lambda t: _key_statements(t)[0]["Action"].append("kms:Create*")),
    ("mac-key", "no explicit deny for other principals",
     lambda t: _drop_sid(_key_statements(t), "NobodyElseUsesTheKey")),
    ("mac-key", "the role may compute MACs with any key",
     lambda t: [s.update(Resource="*") for s in _res(t, "ContinuationPolicy")["Properties"]["PolicyDocument"]["Statement"]
                if "kms:GenerateMac" in as_list(s["Action"])]),
    ("mac-key", "an encryption key instead of an HMAC key",
     lambda t: _res(t, "ContinuationKey")["Properties"].update(KeySpec="SYMMETRIC_DEFAULT")),
    ("dashboard", "no dashboard", lambda t: t["Resources"].pop("OperationsDashboard")),
    ("dashboard", "no latency widget", lambda t: _widgets_without(t, "RevocationLatency")),
    ("role-actions", "kms:ListAliases granted again",
     lambda t: _res(t, ROLE)["Properties"]["Policies"][2]["PolicyDocument"]["Statement"][1].update(
         Action=["kms:ListKeys", "kms:ListAliases"])),
    ("role-actions", "a wildcard action",
     lambda t: _res(t, ROLE)["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][0].update(
         Action="logs:*")),
]


def self_test(raw):
    failures = []
    for check, what, breakage in BREAKAGES:
        broken = copy.deepcopy(raw)
        breakage(broken)
        f, sam = CHECKS[check]
        problems = f(expand(broken) if sam else broken)
        print(f"  {check:14} {what}: {'caught: ' + problems[0] if problems else 'NOT CAUGHT'}")
        if not problems:
            failures.append(f"{check} did not catch: {what}")
    return failures
