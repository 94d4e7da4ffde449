#!/usr/bin/env bash
# Who may revoke (issue 11, docs/security.md): the security properties of template.yaml, checked
# on the template as CloudFormation deploys it (after the SAM transform, run locally):
# - revocation requests are matched only on the stack's own incident bus, never on the default
#   bus, which carries AWS-sourced events and the schedule only;
# - that bus's policy denies "Key Material Revocation Requested" to every principal but the
#   responders (and the central fan-out role), and the function's source to all but its role;
# - every Lambda permission is for EventBridge from one of the stack's rules (SourceArn);
# - the GuardDuty and imported Security Hub findings rules match this account's findings only,
#   the custom action's rule the stack's own action;
# - the continuation MAC key is usable by the function's role only;
# - the dashboard shows every signal docs/deploy.md lists;
# - the role holds no action the function does not call (e.g. kms:ListAliases).
# Then the self-test breaks each property in a copy of the template and requires its check to
# fail, so a check that silently passes everything fails CI. Needs the CI virtualenv (.ci/run
# step 2: cfn-lint and the SAM translator); no network, no credentials.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export LC_ALL=C

PY=target/ci-venv/bin/python
[[ -x "$PY" ]] || { echo "template security: $PY missing: run CI_STEPS=2 .ci/run first" >&2; exit 1; }
env -u AWS_PROFILE -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
  AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true "$PY" .ci/steps/template_security.py
echo "template security self-test: each property broken in a copy must be caught"
env -u AWS_PROFILE -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
  AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true "$PY" .ci/steps/template_security.py --self-test
