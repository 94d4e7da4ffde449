"""Benchmark peer: the core job of kms-material-guard as a Python boto3 Lambda handler.

This is the function a competent team would write in Python for the same job, so that the
benchmark compares like with like:

* the boto3 KMS client is built once per execution environment (module level), with botocore's
  own retries switched off (``total_max_attempts=1``): retries are handled explicitly below, so
  that a delete whose answer was lost is described before it is repeated, and throttling feeds
  the pacer instead of being retried blindly;
* DeleteImportedKeyMaterial is paced by a token bucket at ``MATERIAL_GUARD_DELETE_RATE`` per
  second (default 10 of KMS's shared 15/s), which halves on ``ThrottlingException`` and recovers
  5% of the configured rate per success;
* DescribeKey / ListResourceTags (and each key's whole pipeline) run on a ThreadPoolExecutor of
  ``MATERIAL_GUARD_CONCURRENCY`` workers (default 32);
* scope: the key must carry ``MATERIAL_GUARD_SCOPE_TAG_KEY`` = ``MATERIAL_GUARD_SCOPE_TAG_VALUE``
  (default ``kms-material-guard:revocable`` = ``true``), origin must be EXTERNAL;
* key-state table: PendingImport -> already_revoked; PendingDeletion / PendingReplicaDeletion ->
  unchanged_pending_deletion; Enabled / Disabled -> DeleteImportedKeyMaterial, then DescribeKey
  verifies PendingImport -> revoked;
* one JSON audit line per key on stdout (the Rust function's core fields), and a summary
  response with the same shape (``counts``, ``results``).

Request (direct invocation): ``{"keys": [...], "reason": ..., "incidentId": ...,
"requestedBy": ..., "dryRun": false}``. Environment: ``AWS_REGION``, ``AWS_ENDPOINT_URL_KMS``
(honoured by botocore itself), ``MATERIAL_GUARD_ACCOUNT_ID``, ``MATERIAL_GUARD_DELETE_RATE``,
``MATERIAL_GUARD_CONCURRENCY``, ``MATERIAL_GUARD_MAX_ATTEMPTS``, ``MATERIAL_GUARD_BLAST_RADIUS``,
``MATERIAL_GUARD_SCOPE_TAG_KEY`` / ``_VALUE``, ``MATERIAL_GUARD_DEADLINE_MARGIN_MS``.

Not ported (outside the benchmark's core job): EventBridge envelopes and the other triggers,
tag selectors, ``keyMaterialId``, continuation, PutEvents publishing, EMF metrics.
"""

import json
import os
import random
import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

SCHEMA = "kms-material-guard/audit/v1"
REGION = os.environ["AWS_REGION"]
ACCOUNT_ID = os.environ.get("MATERIAL_GUARD_ACCOUNT_ID", "")
SCOPE_TAG_KEY = os.environ.get("MATERIAL_GUARD_SCOPE_TAG_KEY", "kms-material-guard:revocable")
SCOPE_TAG_VALUE = os.environ.get("MATERIAL_GUARD_SCOPE_TAG_VALUE", "true")
DELETE_RATE = float(os.environ.get("MATERIAL_GUARD_DELETE_RATE", "10"))
CONCURRENCY = int(os.environ.get("MATERIAL_GUARD_CONCURRENCY", "32"))
MAX_ATTEMPTS = int(os.environ.get("MATERIAL_GUARD_MAX_ATTEMPTS", "5"))
BLAST_RADIUS = int(os.environ.get("MATERIAL_GUARD_BLAST_RADIUS", "100"))
DEADLINE_MARGIN_MS = int(os.environ.get("MATERIAL_GUARD_DEADLINE_MARGIN_MS", "5000"))
CALL_TIMEOUT_S = int(os.environ.get("MATERIAL_GUARD_CALL_TIMEOUT_MS", "5000")) / 1000.0

# Built once per execution environment. Retries are ours (see `call`), not botocore's; the
# connection pool matches the worker pool so concurrent calls never wait for a connection.
KMS = boto3.client(
    "kms",
    region_name=REGION,
    config=Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=CALL_TIMEOUT_S,
        read_timeout=CALL_TIMEOUT_S,
        max_pool_connections=CONCURRENCY,
    ),
)

THROTTLING = "ThrottlingException"
RETRYABLE = {THROTTLING, "DependencyTimeoutException", "KMSInternalException"}
KEY_ID = re.compile(r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$")
ALIAS = re.compile(r"^alias/[A-Za-z0-9/_-]{1,250}$")
ARN = re.compile(r"^arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):(key/.+|alias/.+)$")

_print_lock = threading.Lock()


class Pacer:
    """Token bucket for DeleteImportedKeyMaterial: slots 1/rate apart (no burst), halving on
    throttling and recovering 5% of the configured rate per success. Lives as long as the
    process, so warm invocations keep what earlier ones learned."""

    MIN_RATE = 0.5

    def __init__(self, rate):
        self.max_rate = max(rate, self.MIN_RATE)
        self.rate = self.max_rate
        self.next_slot = 0.0
        self.lock = threading.Lock()

    def acquire(self):
        with self.lock:
            now = time.monotonic()
            slot = max(self.next_slot, now)
            self.next_slot = slot + 1.0 / self.rate
        delay = slot - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def on_throttle(self):
        with self.lock:
            self.rate = max(self.rate / 2.0, self.MIN_RATE)
            self.next_slot = max(self.next_slot, time.monotonic() + 1.0 / self.rate)

    def on_success(self):
        with self.lock:
            self.rate = min(self.rate + self.max_rate * 0.05, self.max_rate)


PACER = Pacer(DELETE_RATE)
POOL = ThreadPoolExecutor(max_workers=CONCURRENCY, thread_name_prefix="kms")


class KmsFailure(Exception):
    def __init__(self, code, message, retryable, maybe_applied=False):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retryable = retryable
        self.maybe_applied = maybe_applied


def backoff(attempt, throttled):
    """Exponential backoff with full jitter (throttling from 250 ms, others from 100 ms)."""
    base = 0.25 if throttled else 0.1
    ceiling = min(base * (2 ** (attempt - 1)), 5.0)
    return random.uniform(ceiling / 2, ceiling)


def once(trace, operation, **params):
    """One call attempt; records the KMS request id; maps errors to KmsFailure."""
    trace["attempts"] += 1
    try:
        out = getattr(KMS, operation)(**params)
    except ClientError as e:
        meta = e.response.get("ResponseMetadata", {})
        if meta.get("RequestId"):
            trace["kms_request_ids"].append(meta["RequestId"])
        err = e.response.get("Error", {})
        code = err.get("Code", "Unknown")
        status = meta.get("HTTPStatusCode", 0)
        retryable = code in RETRYABLE or status >= 500
        raise KmsFailure(code, err.get("Message", ""), retryable, maybe_applied=status >= 500) from e
    except BotoCoreError as e:  # timeouts, refused / dropped connections
        raise KmsFailure(type(e).__name__, str(e), True, maybe_applied=True) from e
    rid = out.get("ResponseMetadata", {}).get("RequestId")
    if rid:
        trace["kms_request_ids"].append(rid)
    return out


def call(trace, deadline, operation, **params):
    """A read with explicit retries inside the invocation's deadline."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return once(trace, operation, **params)
        except KmsFailure as f:
            if not f.retryable or attempt >= MAX_ATTEMPTS:
                raise
            pause = backoff(attempt, f.code == THROTTLING)
            if time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)


def now_rfc3339():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def audit(record):
    line = json.dumps(record, separators=(",", ":"))
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def check_identifier(key):
    """None if the identifier may be described, else the refusing outcome."""
    if not isinstance(key, str):
        return "rejected_invalid_identifier"
    m = ARN.match(key)
    if m:
        region, account = m.group(1), m.group(2)
        if ACCOUNT_ID and account != ACCOUNT_ID:
            return "refused_cross_account"
        if region != REGION:
            return "refused_other_region"
        return None
    if KEY_ID.match(key) or ALIAS.match(key):
        return None
    return "rejected_invalid_identifier"


def in_scope(trace, deadline, key_id):
    marker = None
    while True:
        params = {"KeyId": key_id, "Limit": 50}
        if marker:
            params["Marker"] = marker
        out = call(trace, deadline, "list_resource_tags", **params)
        for tag in out.get("Tags", []):
            if tag.get("TagKey") == SCOPE_TAG_KEY and tag.get("TagValue") == SCOPE_TAG_VALUE:
                return True
        if not out.get("Truncated"):
            return False
        marker = out.get("NextMarker")


def delete_paced(trace, deadline, key_arn):
    """DeleteImportedKeyMaterial at the pacer's rate. A delete whose answer was lost may have
    been applied: the key is described before the delete is repeated (never delete twice)."""
    attempt = 0
    while True:
        attempt += 1
        if time.monotonic() > deadline:
            raise KmsFailure("Deferred", "deadline margin reached before the delete", True)
        PACER.acquire()
        try:
            out = once(trace, "delete_imported_key_material", KeyId=key_arn)
            PACER.on_success()
            return out
        except KmsFailure as f:
            if f.code == THROTTLING:
                PACER.on_throttle()
            if not f.retryable or attempt >= MAX_ATTEMPTS:
                raise
            time.sleep(backoff(attempt, f.code == THROTTLING))
            if f.maybe_applied:
                meta = call(trace, deadline, "describe_key", KeyId=key_arn)["KeyMetadata"]
                if meta.get("KeyState") == "PendingImport":
                    return {}


def process_key(key, request, context_info, deadline):
    started = time.monotonic()
    trace = {"attempts": 0, "kms_request_ids": []}
    record = {
        "log_type": "audit",
        "schema": SCHEMA,
        "timestamp": None,
        "action": "revoke",
        "outcome": None,
        "dry_run": request["dry_run"],
        "scope_mode": "tagged",
        "key": key,
        "key_arn": None,
        "key_id": None,
        "account": None,
        "region": None,
        "key_material_id": None,
        "state_before": None,
        "state_after": None,
        "reason": request["reason"],
        "incident_id": request["incident_id"],
        "requested_by": request["requested_by"],
        "trigger": {"source": "direct-invocation"},
        "function_request_id": context_info["request_id"],
        "xray_trace_id": context_info["trace_id"],
        "kms_request_ids": trace["kms_request_ids"],
        "attempts": 0,
        "duration_ms": 0,
        "error_code": None,
        "error_message": None,
    }
    try:
        refused = check_identifier(key)
        if refused:
            record["outcome"] = refused
        else:
            meta = call(trace, deadline, "describe_key", KeyId=key)["KeyMetadata"]
            arn = meta["Arn"]
            record.update(
                key_arn=arn,
                key_id=meta["KeyId"],
                account=meta.get("AWSAccountId"),
                region=arn.split(":")[3],
                key_material_id=meta.get("CurrentKeyMaterialId"),
                state_before=meta.get("KeyState"),
                state_after=meta.get("KeyState"),
            )
            state = meta.get("KeyState")
            if meta.get("Origin") != "EXTERNAL":
                record["outcome"] = "skipped_not_external"
            elif not in_scope(trace, deadline, arn):
                record["outcome"] = "refused_out_of_scope"
            elif state == "PendingImport":
                record["outcome"] = "already_revoked"
            elif state in ("PendingDeletion", "PendingReplicaDeletion"):
                record["outcome"] = "unchanged_pending_deletion"
            elif state in ("Enabled", "Disabled"):
                if request["dry_run"]:
                    record["outcome"] = "would_revoke"
                else:
                    out = delete_paced(trace, deadline, arn)
                    if out.get("KeyMaterialId"):
                        record["key_material_id"] = out["KeyMaterialId"]
                    try:
                        after = call(trace, deadline, "describe_key", KeyId=arn)["KeyMetadata"]
                        record["state_after"] = after.get("KeyState")
                        record["outcome"] = (
                            "revoked" if after.get("KeyState") == "PendingImport" else "revoked_unverified"
                        )
                    except KmsFailure as f:
                        record.update(outcome="revoked_unverified", error_code=f.code, error_message=f.message)
            else:
                record.update(outcome="failed", error_code="UnsupportedKeyState", error_message=f"key state {state}")
    except KmsFailure as f:
        if f.code == "Deferred":
            outcome = "deferred"
        elif f.code == "NotFoundException":
            outcome = "not_found"
        elif f.retryable:
            outcome = "failed_retryable"
        else:
            outcome = "failed"
        record.update(outcome=outcome, error_code=f.code, error_message=f.message)
    except Exception as e:  # never lose a key's record
        record.update(outcome="failed_retryable", error_code=type(e).__name__, error_message=str(e))
    record["attempts"] = trace["attempts"]
    record["duration_ms"] = int((time.monotonic() - started) * 1000)
    record["timestamp"] = now_rfc3339()
    audit(record)
    return {
        "key": key,
        "key_arn": record["key_arn"],
        "outcome": record["outcome"],
        "error_code": record["error_code"],
    }


class Rejected(Exception):
    """The request is invalid (errorType KmsMaterialGuard.Rejected)."""


class Retryable(Exception):
    """Some keys failed retryably or were deferred (errorType KmsMaterialGuard.Retryable)."""


class RefusedBlastRadius(Exception):
    """More keys than MATERIAL_GUARD_BLAST_RADIUS (errorType KmsMaterialGuard.RefusedBlastRadius)."""


ALLOWED_FIELDS = {"keys", "reason", "incidentId", "requestedBy", "dryRun"}


def parse_request(event):
    if not isinstance(event, dict):
        raise Rejected("the request must be a JSON object")
    unknown = set(event) - ALLOWED_FIELDS
    if unknown:
        raise Rejected(f"unknown fields: {sorted(unknown)}")
    keys = event.get("keys", [])
    if not isinstance(keys, list) or not keys or len(keys) > 10000:
        raise Rejected("keys: 1 to 10000 identifiers required")
    reason, incident = event.get("reason"), event.get("incidentId")
    if not isinstance(reason, str) or not reason or len(reason) > 1024:
        raise Rejected("reason: required string of at most 1024 characters")
    if not isinstance(incident, str) or not incident or len(incident) > 128:
        raise Rejected("incidentId: required string of at most 128 characters")
    dry_run = event.get("dryRun", False)
    if not isinstance(dry_run, bool):
        raise Rejected("dryRun: boolean")
    return {
        "keys": list(dict.fromkeys(keys)),  # exact duplicates collapse
        "reason": reason,
        "incident_id": incident,
        "requested_by": event.get("requestedBy"),
        "dry_run": dry_run,
    }


def handler(event, context):
    request = parse_request(event)
    if len(request["keys"]) > BLAST_RADIUS:
        raise RefusedBlastRadius(f"{len(request['keys'])} keys named, blast radius {BLAST_RADIUS}")
    remaining_ms = context.get_remaining_time_in_millis() if context else 900_000
    deadline = time.monotonic() + max(remaining_ms - DEADLINE_MARGIN_MS, 0) / 1000.0
    context_info = {
        "request_id": getattr(context, "aws_request_id", None),
        "trace_id": os.environ.get("_X_AMZN_TRACE_ID"),
    }
    results = list(POOL.map(lambda k: process_key(k, request, context_info, deadline), request["keys"]))
    counts = {}
    for r in results:
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
    summary = {
        "request_id": context_info["request_id"],
        "action": "revoke",
        "dry_run": request["dry_run"],
        "incident_id": request["incident_id"],
        "counts": counts,
        "keys_examined": None,
        "results": results,
    }
    if counts.get("failed_retryable") or counts.get("deferred"):
        raise Retryable(json.dumps(summary["counts"]))
    return summary
