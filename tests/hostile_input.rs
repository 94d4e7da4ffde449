//! Hostile and bad input: property-based tests (proptest) and targeted cases against the event
//! classifier (`event::classify`), the request validation (`request::parse_request`) and the
//! whole handler.
//!
//! "Never a KMS call for a rejected request" is a real assertion here: the handler runs with the
//! real SDK client against the local KMS, whose counters see every call that reaches it, and the
//! tests check that a rejection left them at zero (and that the record has no request id and no
//! attempt). Payloads reach the handler the way `lambda_runtime` delivers them: raw bytes through
//! `serde_json`'s deserializer (`from_slice`), whose recursion limit is part of the defence.
//!
//! `PROPTEST_CASES` raises the number of cases (the CI fuzz step does; see `.ci/steps/20-fuzz.sh`).

mod common;

use std::collections::BTreeMap;

use common::bed::{Bed, bed};
use common::{ACCOUNT, config};
use kms_material_guard::audit::AuditRecord;
use kms_material_guard::domain::text::short;
use kms_material_guard::event::{Identity, classify};
use kms_material_guard::keyref::KeyRef;
use kms_material_guard::request::{self, MAX_KEYS_PER_REQUEST, parse_request};
use kms_material_guard::validate::{Path, Rejection};
use kms_material_guard::{Config, GuardError, Invocation, Outcome, Summary};
use kms_sim::{KeyState, SimConfig};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};

const KEY_ID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";

// ---------- harness ----------

/// A runtime and a local KMS (with no keys unless a test adds some) behind the real handler.
struct Harness {
    rt: tokio::runtime::Runtime,
    bed: Bed,
}

impl Harness {
    fn new(cfg: Config) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let bed = rt.block_on(bed(SimConfig::unlimited(), cfg));
        Harness { rt, bed }
    }

    fn kms_calls(&self) -> u64 {
        self.bed.sim.counters().total_calls()
    }

    /// Handles `payload` and returns the result, the records (schema-checked) and how many calls
    /// reached the local KMS meanwhile.
    fn handle(&self, payload: &Value) -> (Result<Summary, GuardError>, Vec<AuditRecord>, u64) {
        let before = self.kms_calls();
        let result = self.rt.block_on(
            self.bed
                .guard
                .handle_payload(payload, &Invocation::local("req-hostile")),
        );
        let records = self.bed.sink.take();
        common::assert_schema_valid(&records);
        (result, records, self.kms_calls() - before)
    }
}

fn classify_value(payload: &Value) -> Result<(), Box<kms_material_guard::event::Rejected>> {
    let cfg = config();
    let who = Identity {
        account: ACCOUNT,
        config: &cfg,
    };
    classify(payload, &who).map(|_| ())
}

/// The checks every rejected payload must pass in the handler: a final `Rejected` (or, for a
/// continuation, `Unauthenticated`) error naming
/// the same problem as the classifier, exactly one `rejected` record on one JSON line, and no KMS
/// call at all.
fn assert_rejected_without_kms(
    rejection: &Rejection,
    (result, records, calls): &(Result<Summary, GuardError>, Vec<AuditRecord>, u64),
) {
    assert!(!rejection.location.is_empty(), "{rejection:?}");
    assert!(!rejection.problem.is_empty(), "{rejection:?}");
    assert!(!rejection.code.is_empty(), "{rejection:?}");
    match result {
        Err(GuardError::Rejected(r)) => assert_eq!(r, rejection),
        // A `continuation` the function did not seal has its own error type (docs/security.md).
        Err(GuardError::Unauthenticated(r)) if r.code == "ContinuationNotAuthentic" => {
            assert_eq!(r, rejection)
        }
        other => panic!("expected the classifier's rejection {rejection:?}, got {other:?}"),
    }
    assert_eq!(records.len(), 1, "exactly one record: {records:#?}");
    let r = &records[0];
    assert_eq!(r.outcome, Outcome::Rejected);
    assert_eq!(r.error_code.as_deref(), Some(rejection.code));
    assert!(r.kms_request_ids.is_empty() && r.attempts == 0, "{r:#?}");
    assert_eq!(*calls, 0, "a rejected request reached KMS");
    let line = serde_json::to_string(r).expect("record serialises");
    assert!(!line.contains('\n') && !line.contains('\r'), "{line}");
}

fn runner(default_cases: u32) -> TestRunner {
    let mut cfg = ProptestConfig::with_cases(default_cases);
    // PROPTEST_CASES (the CI fuzz step) overrides the default.
    if let Some(n) = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        cfg.cases = n;
    }
    cfg.failure_persistence = None;
    TestRunner::new(cfg)
}

fn check(mut runner: TestRunner, strategy: impl Strategy<Value = Value>, f: impl Fn(&Value)) {
    let result = runner.run(&strategy, |v| {
        f(&v);
        Ok::<(), TestCaseError>(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

// ---------- strategies ----------

/// Field names and values the classifier looks at, so that random documents get past the
/// first checks often.
const INTERESTING: &[&str] = &[
    "keys",
    "tags",
    "reason",
    "incidentId",
    "requestedBy",
    "dryRun",
    "keyMaterialId",
    "acknowledgeKeyWide",
    "source",
    "detail-type",
    "account",
    "time",
    "detail",
    "resources",
    "id",
    "version",
    "region",
    "continuation",
    "sequence",
    "parentRequestId",
    "action",
    "trigger",
    "key",
    "key-id",
    "key-origin",
    "key-material-id",
    "eventName",
    "serviceEventDetails",
    "requestParameters",
    "responseElements",
    "importType",
    "errorCode",
    "findings",
    "Resources",
    "Type",
    "Id",
    "AwsKmsKey",
    "Severity",
    "Label",
    "actionName",
    "type",
    "severity",
    "incident-response",
    "aws.kms",
    "aws.events",
    "aws.securityhub",
    "aws.guardduty",
    "Key Material Revocation Requested",
    "KMS Imported Key Material Expiration",
    "AWS Service Event via CloudTrail",
    "AWS API Call via CloudTrail",
    "KMS CMK Rotation",
    "Scheduled Event",
    "Security Hub Findings - Custom Action",
    "Security Hub Findings - Imported",
    "GuardDuty Finding",
    "DeleteExpiredKeyMaterial",
    "ImportKeyMaterial",
    "NEW_KEY_MATERIAL",
    "111111111111",
    "2026-11-29T03:20:00Z",
    "revoke",
    "alias/tenant-a/orders",
    "1234abcd-12ab-34cd-56ef-1234567890ab",
    "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "arn:aws:kms:us-east-1:111111111111:alias/x",
    "arn:aws:kms:",
    "mrk-",
    "",
];

/// The characters hostile input is made of: C0/C1 controls, Unicode line separators,
/// bidirectional overrides and isolates, the BOM, quotes and backslashes.
fn nasty_char() -> impl Strategy<Value = char> {
    prop_oneof![
        prop::char::ranges(vec!['\0'..='\x1f', '\x7f'..='\u{9f}'].into()),
        prop::sample::select(vec![
            '\u{2028}', '\u{2029}', '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}',
            '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}', '\u{FEFF}', '"', '\\', '/', '\u{0}',
        ]),
    ]
}

fn arb_string() -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::sample::select(INTERESTING).prop_map(str::to_string),
        // arbitrary Unicode scalar values, controls included
        2 => prop::collection::vec(any::<char>(), 0..24).prop_map(String::from_iter),
        2 => prop::collection::vec(nasty_char(), 0..12).prop_map(String::from_iter),
        // an interesting value with a nasty character spliced in
        2 => (prop::sample::select(INTERESTING), nasty_char(), any::<prop::sample::Index>())
            .prop_map(|(s, c, i)| splice(s, c, i)),
    ]
    .boxed()
}

fn splice(s: &str, c: char, at: prop::sample::Index) -> String {
    let chars: Vec<char> = s.chars().collect();
    let i = at.index(chars.len() + 1);
    chars[..i]
        .iter()
        .chain(std::iter::once(&c))
        .chain(&chars[i..])
        .collect()
}

fn arb_number() -> BoxedStrategy<Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("JSON numbers are finite", |f| {
            serde_json::Number::from_f64(f).map(Value::Number)
        }),
        Just(json!(1)),
        Just(json!(0)),
    ]
    .boxed()
}

fn arb_leaf() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        arb_number(),
        arb_string().prop_map(Value::String),
    ]
    .boxed()
}

/// Arbitrary JSON: nested objects and arrays of arbitrary leaves, keys often ones the function
/// reads.
fn arb_json() -> BoxedStrategy<Value> {
    arb_leaf()
        .prop_recursive(6, 96, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::btree_map(arb_string(), inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
        .boxed()
}

/// An EventBridge-shaped envelope whose parts are often valid, so the detail parsers are reached.
fn arb_envelope() -> BoxedStrategy<Value> {
    let source = prop_oneof![
        prop::sample::select(vec![
            "incident-response",
            "aws.kms",
            "aws.events",
            "aws.securityhub",
            "aws.guardduty",
        ])
        .prop_map(Value::from),
        arb_leaf(),
    ];
    let detail_type = prop_oneof![
        prop::sample::select(vec![
            "Key Material Revocation Requested",
            "KMS Imported Key Material Expiration",
            "AWS Service Event via CloudTrail",
            "AWS API Call via CloudTrail",
            "KMS CMK Rotation",
            "Security Hub Findings - Custom Action",
            "Security Hub Findings - Imported",
            "GuardDuty Finding",
        ])
        .prop_map(Value::from),
        arb_leaf(),
    ];
    let account = prop_oneof![
        3 => Just(Value::from(ACCOUNT)),
        1 => arb_leaf(),
    ];
    let time = prop_oneof![
        3 => Just(Value::from("2026-11-29T03:20:00Z")),
        1 => arb_leaf(),
    ];
    let detail = prop_oneof![arb_request_like(), arb_json()];
    (
        source,
        detail_type,
        account,
        time,
        detail,
        prop::collection::vec(arb_leaf(), 0..4),
    )
        .prop_map(|(source, detail_type, account, time, detail, resources)| {
            json!({
                "version": "0", "id": "00000000-0000-0000-0000-000000000000",
                "source": source, "detail-type": detail_type, "account": account,
                "time": time, "region": "us-east-1", "resources": resources, "detail": detail,
            })
        })
        .boxed()
}

/// An object with some of the request's fields, each with an arbitrary value.
fn arb_request_like() -> BoxedStrategy<Value> {
    let field = prop::sample::select(vec![
        "keys",
        "tags",
        "reason",
        "incidentId",
        "requestedBy",
        "dryRun",
        "keyMaterialId",
        "acknowledgeKeyWide",
        "targets",
        "findings",
        "key-id",
        "eventName",
    ]);
    prop::collection::btree_map(field, arb_json(), 0..8)
        .prop_map(|m| {
            Value::Object(
                m.into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect::<Map<String, Value>>(),
            )
        })
        .boxed()
}

/// A continuation payload (`{"continuation": {...}}`) with arbitrary members.
fn arb_continuation() -> BoxedStrategy<Value> {
    let field = prop::sample::select(vec![
        "version",
        "sequence",
        "parentRequestId",
        "action",
        "reason",
        "incidentId",
        "requestedBy",
        "dryRun",
        "keyMaterialId",
        "targets",
        "trigger",
        "keys",
    ]);
    prop::collection::btree_map(field, arb_json(), 0..12)
        .prop_map(|m| {
            let inner: Map<String, Value> =
                m.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            json!({ "continuation": inner })
        })
        .boxed()
}

fn arb_payload() -> BoxedStrategy<Value> {
    prop_oneof![
        arb_json(),
        arb_envelope(),
        arb_request_like(),
        arb_continuation()
    ]
    .boxed()
}

// ---------- properties: arbitrary input ----------

#[test]
fn arbitrary_json_never_panics_the_classifier_and_every_rejection_says_what_and_where() {
    // GIVEN arbitrary JSON values, envelopes, request-like objects and continuation payloads
    check(runner(512), arb_payload(), |v| {
        // WHEN classified (a panic fails the property)
        // THEN a rejection names a location, a code and a problem
        if let Err(rejected) = classify_value(v) {
            let r = &rejected.rejection;
            assert!(!r.location.is_empty(), "{r:?}");
            assert!(!r.code.is_empty(), "{r:?}");
            assert!(!r.problem.is_empty(), "{r:?}");
            // AND it never echoes a long stretch of the input
            assert!(r.location.chars().count() <= 200, "{r:?}");
        }
    });
}

#[test]
fn arbitrary_bytes_never_panic_the_parser_or_the_classifier() {
    // GIVEN arbitrary bytes, and JSON texts with bytes flipped
    let bytes = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        (arb_payload(), any::<prop::sample::Index>(), any::<u8>()).prop_map(|(v, i, b)| {
            let mut text = serde_json::to_vec(&v).expect("serialises");
            let at = i.index(text.len());
            text[at] = b;
            text
        }),
    ];
    let mut r = runner(512);
    r.run(&bytes, |raw| {
        // WHEN parsed as lambda_runtime does and, if that succeeds, classified
        if let Ok(v) = serde_json::from_slice::<Value>(&raw) {
            let _ = classify_value(&v);
        }
        // THEN nothing panics
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn arbitrary_json_through_the_handler_is_rejected_with_one_record_and_no_kms_call() {
    // GIVEN the real handler in front of a local KMS that counts every call
    let h = Harness::new(config());
    check(runner(256), arb_payload(), |v| {
        // WHEN the payload arrives as bytes, is parsed like lambda_runtime does, and handled
        let raw = serde_json::to_vec(v).expect("serialises");
        let parsed: Value = serde_json::from_slice(&raw).expect("round trip");
        let classified = classify_value(&parsed);
        let handled = h.handle(&parsed);
        // THEN every rejection is final, has exactly one `rejected` record and made no KMS call
        match classified {
            Err(rejected) => assert_rejected_without_kms(&rejected.rejection, &handled),
            // (an accepted payload may call KMS: the local KMS has no keys, nothing is deleted)
            Ok(()) => assert!(
                !matches!(handled.0, Err(GuardError::Rejected(_))),
                "accepted by the classifier but rejected by the handler: {:?}",
                handled.0
            ),
        }
    });
    assert_eq!(
        h.bed.sim.counters().successes("DeleteImportedKeyMaterial"),
        0
    );
}

#[test]
fn key_identifiers_that_parse_are_ascii_and_others_are_rejected_without_a_kms_call() {
    // GIVEN arbitrary strings as key identifiers in an otherwise valid request
    let h = Harness::new(config());
    let ids = prop::collection::vec(arb_string(), 1..6);
    let mut r = runner(128);
    r.run(&ids, |ids| {
        for id in &ids {
            // THEN a parsed identifier is plain ASCII (every valid form is)
            if KeyRef::parse(id).is_ok() {
                prop_assert!(id.is_ascii(), "{id:?}");
            }
        }
        let malformed: Vec<&String> = ids.iter().filter(|id| KeyRef::parse(id).is_err()).collect();
        let payload = json!({"keys": malformed, "reason": "r", "incidentId": "INC-1"});
        if malformed.is_empty() {
            return Ok(());
        }
        // WHEN only the malformed ones are sent
        let (result, records, calls) = h.handle(&payload);
        // THEN each distinct one is rejected_invalid_identifier, with no KMS call
        let distinct: std::collections::HashSet<&String> = malformed.iter().copied().collect();
        let summary = result.expect("malformed identifiers do not fail the invocation");
        prop_assert_eq!(
            summary.counts.get(&Outcome::RejectedInvalidIdentifier),
            Some(&distinct.len())
        );
        prop_assert_eq!(records.len(), distinct.len());
        prop_assert_eq!(calls, 0);
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
}

// ---------- properties: one field of a valid request mutated ----------

/// A valid request: each field present or not, with valid but varied content (non-ASCII
/// letters, multi-line reasons).
#[derive(Debug, Clone)]
struct ValidRequest {
    keys: Vec<String>,
    tags: BTreeMap<String, String>,
    reason: String,
    incident_id: String,
    requested_by: Option<String>,
    dry_run: Option<bool>,
}

impl ValidRequest {
    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("keys".into(), json!(self.keys));
        if !self.tags.is_empty() {
            m.insert("tags".into(), json!(self.tags));
        }
        m.insert("reason".into(), json!(self.reason));
        m.insert("incidentId".into(), json!(self.incident_id));
        if let Some(b) = &self.requested_by {
            m.insert("requestedBy".into(), json!(b));
        }
        if let Some(d) = self.dry_run {
            m.insert("dryRun".into(), json!(d));
        }
        Value::Object(m)
    }
}

fn valid_key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "mrk-[0-9a-f]{32}",
        "alias/[A-Za-z0-9/_-]{1,40}",
        "arn:aws:kms:us-east-1:111111111111:key/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "arn:aws:kms:eu-west-1:222222222222:alias/[A-Za-z0-9_-]{1,20}",
    ]
}

fn valid_request() -> impl Strategy<Value = ValidRequest> {
    (
        prop::collection::vec(valid_key(), 1..4),
        // (values are empty or start with a non-space: whitespace-only values are the subject of
        // a_whitespace_only_tag_value_is_a_value_like_any_other)
        prop::collection::btree_map(
            "[\\p{L}\\p{N}:._-]{1,20}",
            "([\\p{L}\\p{N}._-][\\p{L}\\p{N} ._-]{0,19})?",
            0..3,
        ),
        "[\\p{L}\\p{N} .,:;!?()/\\n\\t-]{0,60}",
        "[\\p{L}\\p{N}._:/-]{1,40}",
        prop::option::of("[\\p{L}\\p{N}._:@/-]{1,40}"),
        prop::option::of(any::<bool>()),
    )
        .prop_map(
            |(keys, tags, reason, incident_id, requested_by, dry_run)| ValidRequest {
                keys,
                tags,
                reason: format!("R{reason}"),
                incident_id,
                requested_by,
                dry_run,
            },
        )
}

/// One mutation of one field, and the location (relative to the request) it must be reported at.
#[derive(Debug, Clone)]
enum Mutation {
    WrongType(&'static str, Value),
    Oversize(&'static str, usize),
    BadChar(&'static str, char, prop::sample::Index),
    UnknownField(String),
    KeyEntryWrongType(Value, prop::sample::Index),
    TagKeyBadChar(char, prop::sample::Index),
    TagValueWrongType(Value),
    KeyMaterialIdMalformed(String),
}

const TEXT_FIELDS: [&str; 3] = ["reason", "incidentId", "requestedBy"];

fn wrong_type_for(field: &'static str) -> BoxedStrategy<Value> {
    let number = arb_number();
    let boolean = any::<bool>().prop_map(Value::Bool);
    let string = arb_string().prop_map(Value::String);
    let array = prop::collection::vec(arb_leaf(), 0..3).prop_map(Value::Array);
    let object = prop::collection::btree_map("[a-z]{1,5}", arb_leaf(), 0..3)
        .prop_map(|m| Value::Object(m.into_iter().collect()));
    match field {
        "keys" => prop_oneof![number, boolean, string, object].boxed(),
        "tags" => prop_oneof![number, boolean, string, array].boxed(),
        "dryRun" | "acknowledgeKeyWide" => prop_oneof![number, string, array, object].boxed(),
        _ => prop_oneof![number, boolean, array, object].boxed(),
    }
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let wrong_type = prop::sample::select(vec![
        "keys",
        "tags",
        "reason",
        "incidentId",
        "requestedBy",
        "dryRun",
        "acknowledgeKeyWide",
        "keyMaterialId",
    ])
    .prop_flat_map(|f| wrong_type_for(f).prop_map(move |v| Mutation::WrongType(f, v)));
    let oversize = prop::sample::select(TEXT_FIELDS.to_vec())
        .prop_flat_map(|f| (Just(f), 1usize..200).prop_map(|(f, n)| Mutation::Oversize(f, n)));
    let bad_char = (
        prop::sample::select(TEXT_FIELDS.to_vec()),
        nasty_char(),
        any::<prop::sample::Index>(),
    )
        .prop_filter(
            "tab and line breaks are allowed in the reason",
            |(f, c, _)| !(*f == "reason" && matches!(c, '\t' | '\n' | '\r')),
        )
        .prop_filter("quotes and slashes are ordinary characters", |(_, c, _)| {
            !matches!(c, '"' | '\\' | '/')
        })
        .prop_map(|(f, c, i)| Mutation::BadChar(f, c, i));
    let unknown = prop_oneof![
        "[A-Za-z_-]{1,20}",
        prop::sample::select(vec![
            "dryrun",
            "DryRun",
            "key",
            "Keys",
            "incident_id",
            "reason "
        ])
        .prop_map(str::to_string),
        prop::collection::vec(any::<char>(), 1..60).prop_map(String::from_iter),
    ]
    // The contract's own list: a field added to it (as `targets` was) can never be generated
    // here as "unknown".
    .prop_filter("not a request field", |n| {
        !kms_material_guard::request::REQUEST_FIELDS.contains(&n.as_str())
    })
    .prop_map(Mutation::UnknownField);
    let key_entry = (
        prop_oneof![
            arb_number(),
            any::<bool>().prop_map(Value::Bool),
            Just(Value::Null),
            Just(json!([])),
            Just(json!({"id": 1}))
        ],
        any::<prop::sample::Index>(),
    )
        .prop_map(|(v, i)| Mutation::KeyEntryWrongType(v, i));
    let tag_key = (
        nasty_char().prop_filter("ordinary", |c| !matches!(c, '"' | '\\' | '/')),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(c, i)| Mutation::TagKeyBadChar(c, i));
    let tag_value = prop_oneof![
        arb_number(),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
        Just(json!(["v"]))
    ]
    .prop_map(Mutation::TagValueWrongType);
    let kmid = prop_oneof![
        "[0-9A-F]{64}",
        "[0-9a-f]{1,63}",
        "[0-9a-f]{65,70}",
        "[g-z]{64}"
    ]
    .prop_map(Mutation::KeyMaterialIdMalformed);
    prop_oneof![
        3 => wrong_type,
        2 => oversize,
        3 => bad_char,
        2 => unknown,
        1 => key_entry,
        1 => tag_key,
        1 => tag_value,
        1 => kmid,
    ]
}

/// Applies `m` to `base`; returns the request and the location the rejection must name.
fn mutate(base: &ValidRequest, m: &Mutation) -> (Value, String) {
    let mut v = base.to_json();
    let obj = v.as_object_mut().expect("object");
    let location = match m {
        Mutation::WrongType(field, value) => {
            obj.insert(field.to_string(), value.clone());
            field.to_string()
        }
        Mutation::Oversize(field, extra) => {
            let max = match *field {
                "reason" => request::MAX_REASON_CHARS,
                "incidentId" => request::MAX_INCIDENT_ID_CHARS,
                _ => request::MAX_REQUESTED_BY_CHARS,
            };
            // multi-byte characters: the limit counts characters
            obj.insert(field.to_string(), json!("ü".repeat(max + extra)));
            field.to_string()
        }
        Mutation::BadChar(field, c, at) => {
            let current = obj
                .get(*field)
                .and_then(Value::as_str)
                .unwrap_or("x")
                .to_string();
            obj.insert(field.to_string(), json!(splice(&current, *c, *at)));
            field.to_string()
        }
        Mutation::UnknownField(name) => {
            obj.insert(name.clone(), json!(true));
            short(name)
        }
        Mutation::KeyEntryWrongType(value, at) => {
            let keys = obj
                .get_mut("keys")
                .and_then(Value::as_array_mut)
                .expect("keys");
            let i = at.index(keys.len());
            keys[i] = value.clone();
            format!("keys[{i}]")
        }
        Mutation::TagKeyBadChar(c, at) => {
            let key = splice("tenant", *c, *at);
            obj.insert("tags".into(), json!({ key.clone(): "a" }));
            format!("tags.{}", short(&key))
        }
        Mutation::TagValueWrongType(value) => {
            obj.insert("tags".into(), json!({ "tenant": value }));
            "tags.tenant".into()
        }
        Mutation::KeyMaterialIdMalformed(id) => {
            obj.insert("keys".into(), json!([KEY_ID]));
            obj.remove("tags");
            obj.insert("acknowledgeKeyWide".into(), json!(true));
            obj.insert("keyMaterialId".into(), json!(id));
            "keyMaterialId".into()
        }
    };
    (v, location)
}

fn incident_event(detail: Value) -> Value {
    let mut e = common::event("incident-revocation.json");
    e["detail"] = detail;
    e
}

#[test]
fn valid_requests_are_accepted_directly_and_in_an_incident_event() {
    // GIVEN generated valid requests (the generator the mutation property starts from)
    let mut r = runner(256);
    r.run(&valid_request(), |req| {
        let v = req.to_json();
        // WHEN validated directly and as the detail of an incident event THEN both accept it
        prop_assert!(parse_request(&v, &Path::root("")).is_ok(), "{v}");
        prop_assert!(classify_value(&incident_event(v.clone())).is_ok(), "{v}");
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_valid_request_with_one_field_mutated_is_rejected_naming_that_field() {
    // GIVEN a valid request and one mutation of one of its fields
    let mut r = runner(512);
    r.run(&(valid_request(), mutation()), |(base, m)| {
        let (v, location) = mutate(&base, &m);
        // WHEN validated directly
        let direct = parse_request(&v, &Path::root("")).expect_err("mutated: must be rejected");
        // THEN the rejection names the mutated field, with a problem and a code
        prop_assert_eq!(&direct.location, &location, "{:?} -> {:?}", m, direct);
        prop_assert!(!direct.problem.is_empty());
        // AND inside an incident event it is the same field under `detail.`
        let in_event = classify_value(&incident_event(v)).expect_err("rejected in an event");
        prop_assert_eq!(
            &in_event.rejection.location,
            &format!("detail.{location}"),
            "{:?}",
            m
        );
        prop_assert_eq!(in_event.rejection.code, direct.code);
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn mutated_requests_through_the_handler_call_no_kms() {
    // GIVEN the real handler in front of a local KMS that counts every call (a valid request
    // would call DescribeKey for each of its keys)
    let h = Harness::new(config());
    let mut r = runner(128);
    r.run(&(valid_request(), mutation()), |(base, m)| {
        let (v, _) = mutate(&base, &m);
        let event = incident_event(v);
        let rejected = classify_value(&event).expect_err("mutated: rejected");
        // WHEN handled THEN one rejected record, a final error and no KMS call
        assert_rejected_without_kms(&rejected.rejection, &h.handle(&event));
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
}

// ---------- targeted: size and depth ----------

#[test]
fn ten_thousand_nested_arrays_are_a_parse_error_not_a_stack_overflow() {
    // GIVEN 10,000 nested arrays, objects, and the same depth inside an incident's detail
    let n = 10_000;
    let arrays = format!("{}{}", "[".repeat(n), "]".repeat(n));
    let objects = format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n));
    let in_detail = format!(
        r#"{{"source":"incident-response","detail-type":"Key Material Revocation Requested","account":"{ACCOUNT}","time":"2026-11-29T03:20:00Z","detail":{{"keys":{}{}}}}}"#,
        "[".repeat(n),
        "]".repeat(n)
    );
    for raw in [arrays, objects, in_detail] {
        // WHEN parsed the way lambda_runtime parses an invocation body
        let parsed = serde_json::from_slice::<Value>(raw.as_bytes());
        // THEN serde_json's recursion limit answers with an error (the process is still here)
        let err = parsed.expect_err("deeper than serde_json's recursion limit");
        assert!(err.to_string().contains("recursion limit"), "{err}");
    }
}

#[test]
fn nesting_just_within_the_parser_limit_is_rejected_with_one_record_and_no_kms_call() {
    // GIVEN payloads nested as deep as serde_json accepts (just under its limit of 128)
    let h = Harness::new(config());
    let depth = 120;
    let deep = |inner: &str| format!("{}{inner}{}", "[".repeat(depth), "]".repeat(depth));
    let payloads = [
        deep("1"),
        format!(
            r#"{{"keys":{},"reason":"r","incidentId":"i"}}"#,
            deep("\"x\"")
        ),
        format!(
            r#"{{"keys":["{KEY_ID}"],"reason":"r","incidentId":"i","tags":{{"a":{}}}}}"#,
            deep("\"v\"")
        ),
        format!(
            r#"{{"source":"incident-response","detail-type":"Key Material Revocation Requested","account":"{ACCOUNT}","time":"2026-11-29T03:20:00Z","detail":{}}}"#,
            deep("{}")
        ),
        format!(r#"{{"continuation":{}}}"#, deep("0")),
    ];
    for raw in payloads {
        // WHEN parsed like lambda_runtime does, classified and handled
        let v: Value = serde_json::from_slice(raw.as_bytes()).expect("within the limit");
        let rejected = classify_value(&v).expect_err("nonsense at depth");
        // THEN it is rejected with one record and no KMS call
        assert_rejected_without_kms(&rejected.rejection, &h.handle(&v));
    }
}

#[test]
fn one_megabyte_payloads_are_rejected_with_small_records_and_no_kms_call() {
    // GIVEN 1 MB payloads: an oversize reason, an unknown field with a 1 MB name, 1 MB of
    // resources in an envelope with an invalid detail, and a 1 MB detail-type
    let h = Harness::new(config());
    let mb = 1 << 20;
    let big = "A".repeat(mb);
    let mut big_name = Map::new();
    big_name.insert(big.clone(), json!(1));
    let resources: Vec<String> = (0..mb / 100).map(|i| format!("{i:0>99}")).collect();
    let mut envelope = incident_event(json!({"keys": "not-a-list"}));
    envelope["resources"] = json!(resources);
    let mut huge_type = common::event("incident-revocation.json");
    huge_type["detail-type"] = json!(big);
    let cases = [
        (
            json!({"keys": [KEY_ID], "reason": big, "incidentId": "i"}),
            "reason",
        ),
        // an unknown field is named by the first 40 characters of its name
        (
            Value::Object(big_name),
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA…",
        ),
        (envelope, "detail.keys"),
        (huge_type, "detail-type"),
    ];
    for (payload, location) in cases {
        let raw = serde_json::to_vec(&payload).expect("serialises");
        assert!(raw.len() >= mb, "a 1 MB payload");
        // WHEN parsed and handled
        let v: Value = serde_json::from_slice(&raw).expect("parses");
        let rejected = classify_value(&v).expect_err("rejected");
        let handled = h.handle(&v);
        // THEN the rejection names the place, one record, no KMS call
        assert_eq!(rejected.rejection.location, location);
        assert_rejected_without_kms(&rejected.rejection, &handled);
        // AND the record never echoes the payload: it stays small (CloudWatch Logs' limit per
        // event is 256 KB; ours is far below)
        let line = serde_json::to_string(&handled.1[0]).expect("serialises");
        assert!(line.len() < 16 * 1024, "{location}: {} bytes", line.len());
    }
}

#[test]
fn a_hundred_thousand_keys_are_rejected_before_any_per_key_work() {
    // GIVEN a request naming 100,000 keys (valid-looking, so per-key work would mean KMS calls)
    let h = Harness::new(config());
    let keys: Vec<String> = (0..100_000)
        .map(|i| format!("alias/tenant/key-{i}"))
        .collect();
    let payload = json!({"keys": keys, "reason": "r", "incidentId": "INC-1"});
    // WHEN validated THEN TooManyKeys at `keys`
    let r = parse_request(&payload, &Path::root("")).expect_err("too many");
    assert_eq!((r.location.as_str(), r.code), ("keys", "TooManyKeys"));
    // AND WHEN handled THEN one rejected record for the request, no per-key record, no KMS call
    let handled = h.handle(&payload);
    assert_rejected_without_kms(&r, &handled);
    assert!(handled.1.iter().all(|rec| rec.key.is_none()));
    // AND the limit is exact: 10,001 is rejected too
    let over: Vec<String> = (0..=MAX_KEYS_PER_REQUEST)
        .map(|i| format!("alias/k{i}"))
        .collect();
    let r = parse_request(
        &json!({"keys": over, "reason": "r", "incidentId": "i"}),
        &Path::root(""),
    )
    .expect_err("one over");
    assert_eq!(r.code, "TooManyKeys");
}

fn invalid_arns(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| match i % 5 {
            0 => format!("arn:aws:kms:us-east-1:111111111111:key/not-a-uuid-{i}"),
            1 => format!("arn:aws:s3:us-east-1:111111111111:key/{i}"),
            2 => format!("arn:aws:kms:us-east-1:1111:key/{i}"),
            3 => format!("arn:aws:kms:moon-{i}:111111111111:alias/x"),
            _ => format!("arn:aws:kms:us-east-1:111111111111:grant/{i}"),
        })
        .collect()
}

#[test]
fn ten_thousand_invalid_arns_are_each_rejected_invalid_identifier_without_a_kms_call() {
    // GIVEN a blast radius as large as the request limit, and 10,000 malformed ARNs
    let mut cfg = config();
    cfg.blast_radius = MAX_KEYS_PER_REQUEST;
    let h = Harness::new(cfg);
    let arns = invalid_arns(MAX_KEYS_PER_REQUEST);
    let payload = json!({"keys": arns, "reason": "r", "incidentId": "INC-1"});
    // WHEN handled
    let (result, records, calls) = h.handle(&payload);
    // THEN each is rejected_invalid_identifier with its own record and reason, nothing else
    let summary = result.expect("malformed identifiers do not fail the invocation");
    assert_eq!(summary.counts.len(), 1, "{:?}", summary.counts);
    assert_eq!(
        summary.counts.get(&Outcome::RejectedInvalidIdentifier),
        Some(&MAX_KEYS_PER_REQUEST)
    );
    assert_eq!(records.len(), MAX_KEYS_PER_REQUEST);
    assert!(
        records
            .iter()
            .all(|r| r.error_message.as_deref().is_some_and(|m| !m.is_empty()) && r.attempts == 0)
    );
    // AND the local KMS saw nothing
    assert_eq!(calls, 0);
}

#[test]
fn ten_thousand_invalid_arns_beyond_the_default_blast_radius_are_refused_without_a_kms_call() {
    // GIVEN the default blast radius (100) and 10,000 malformed ARNs
    let h = Harness::new(config());
    let payload =
        json!({"keys": invalid_arns(MAX_KEYS_PER_REQUEST), "reason": "r", "incidentId": "i"});
    // WHEN handled THEN the request names more keys than allowed: refused before any KMS call
    let (result, records, calls) = h.handle(&payload);
    let err = result.expect_err("blast radius");
    assert!(
        matches!(err, GuardError::RefusedBlastRadius { .. }),
        "{err}"
    );
    assert_eq!(records.len(), MAX_KEYS_PER_REQUEST);
    assert!(
        records
            .iter()
            .all(|r| r.outcome == Outcome::RefusedBlastRadius)
    );
    assert_eq!(calls, 0);
}

// ---------- targeted: log injection ----------

#[test]
fn a_multi_line_reason_with_a_forged_record_stays_inside_one_json_line() {
    // GIVEN an in-scope key and a dry run whose reason tries to forge a second audit line
    let h = Harness::new(config());
    let key = h.bed.byok(&[], &[]);
    let reason = "rotate creds\n{\"log_type\":\"audit\",\"outcome\":\"revoked\"}\r\n\tINFO done";
    let payload =
        json!({"keys": [key.arn], "reason": reason, "incidentId": "INC-7", "dryRun": true});
    // WHEN handled
    let (result, records, _) = h.handle(&payload);
    // THEN the reason is accepted verbatim and the record is still a single JSON line
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].outcome, Outcome::WouldRevoke);
    assert_eq!(records[0].reason.as_deref(), Some(reason));
    let line = serde_json::to_string(&records[0]).expect("serialises");
    assert!(!line.contains('\n') && !line.contains('\r'), "{line}");
    let back: Value = serde_json::from_str(&line).expect("the line is one JSON document");
    assert_eq!(back["reason"], json!(reason));
    assert_eq!(back["outcome"], json!("would_revoke"));
    assert_eq!(h.state_of(&key.arn), KeyState::Enabled);
}

#[test]
fn single_line_fields_with_line_breaks_or_bidi_overrides_are_rejected_naming_the_field() {
    // GIVEN injection attempts in each text field
    let h = Harness::new(config());
    let forged = "{\"log_type\":\"audit\",\"outcome\":\"revoked\"}";
    let cases = [
        ("incidentId", format!("INC-1\n{forged}")),
        ("incidentId", format!("INC-1\r{forged}")),
        ("requestedBy", format!("soc\u{2028}{forged}")),
        ("requestedBy", "admin\u{202E}nimda".to_string()),
        ("reason", format!("ok \u{202E}{forged}")),
        ("reason", format!("ok\u{1b}[2J{forged}")),
    ];
    for (field, value) in cases {
        let mut payload = json!({"keys": [KEY_ID], "reason": "r", "incidentId": "INC-1"});
        payload[field] = json!(value);
        let event = incident_event(payload);
        // WHEN classified and handled
        let rejected = classify_value(&event).expect_err("injection rejected");
        // THEN it is rejected at that field, for the character
        assert_eq!(rejected.rejection.location, format!("detail.{field}"));
        assert_eq!(rejected.rejection.code, "InvalidCharacter");
        let handled = h.handle(&event);
        assert_rejected_without_kms(&rejected.rejection, &handled);
        // AND the record does not carry the forged text
        let r = &handled.1[0];
        assert!(
            !serde_json::to_string(r)
                .expect("serialises")
                .contains("\\\"outcome\\\""),
            "{r:#?}"
        );
    }
}

// ---------- targeted: non-ASCII ----------

#[test]
fn non_ascii_key_identifiers_are_rejected_invalid_identifier_without_a_kms_call() {
    // GIVEN identifiers that look like keys but contain non-ASCII characters
    let h = Harness::new(config());
    let ids = [
        "1234аbcd-12ab-34cd-56ef-1234567890ab",     // Cyrillic а
        "１２３４abcd-12ab-34cd-56ef-1234567890ab", // full-width digits
        "alias/tenant-ä/orders",
        "alias/orders\u{200B}",
        "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab\u{202E}",
        "arn:aws:kms:us‐east‐1:111111111111:alias/x", // U+2010 hyphens
        "arn:aws:kms:us-east-1:１１１１１１１１１１１１:alias/x",
        "mrk-1234abcd12ab34cd56ef1234567890aß",
        "🔑",
    ];
    let payload = json!({"keys": ids, "reason": "r", "incidentId": "INC-1"});
    // WHEN handled
    let (result, records, calls) = h.handle(&payload);
    // THEN each is rejected_invalid_identifier with a bounded explanation, no KMS call
    let summary = result.expect("no invocation error");
    assert_eq!(
        summary.counts.get(&Outcome::RejectedInvalidIdentifier),
        Some(&ids.len())
    );
    assert_eq!(records.len(), ids.len());
    for r in &records {
        let m = r.error_message.as_deref().unwrap_or_default();
        assert!(!m.is_empty() && m.chars().count() < 300, "{m}");
    }
    assert_eq!(calls, 0);
}

#[test]
fn an_oversize_key_identifier_is_rejected_and_its_record_stays_within_the_schema() {
    // GIVEN key identifiers longer than KMS allows (2,048 characters), one of 1 MB
    let h = Harness::new(config());
    let long = format!("alias/{}", "ü".repeat(3000));
    let huge = format!(
        "arn:aws:kms:us-east-1:111111111111:alias/{}",
        "x".repeat(1 << 20)
    );
    for id in [long, huge] {
        let payload = json!({"keys": [id], "reason": "r", "incidentId": "INC-1"});
        // WHEN handled (the harness validates every record against the audit schema, whose
        // `key` has at most 2,048 characters)
        let (result, records, calls) = h.handle(&payload);
        // THEN it is rejected_invalid_identifier, no KMS call, and the record stays small
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].outcome, Outcome::RejectedInvalidIdentifier);
        assert_eq!(calls, 0);
        let line = serde_json::to_string(&records[0]).expect("serialises");
        assert!(line.len() < 16 * 1024, "{} bytes", line.len());
    }
}

#[test]
fn non_ascii_tag_keys_and_values_select_keys_like_any_other() {
    // GIVEN in-scope keys tagged with a non-ASCII tag, and one with a look-alike tag value
    let h = Harness::new(config());
    let tagged = h
        .bed
        .byok(&[], &[("Abteilung-Ü", "Geschäftsführung"), ("租户", "甲")]);
    let lookalike = h.bed.byok(&[], &[("Abteilung-Ü", "Geschaftsfuhrung")]);
    let payload = json!({
        "tags": {"Abteilung-Ü": "Geschäftsführung", "租户": "甲"},
        "reason": "Offboarding: Kryptoschreddern ✂",
        "incidentId": "INC-Ü-1",
    });
    // WHEN the tag selector is handled
    let (result, records, _) = h.handle(&payload);
    // THEN exactly the key carrying both tags is revoked
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0].key_arn.as_deref(), Some(tagged.arn.as_str()));
    assert_eq!(records[0].outcome, Outcome::Revoked);
    assert_eq!(h.state_of(&tagged.arn), KeyState::PendingImport);
    assert_eq!(h.state_of(&lookalike.arn), KeyState::Enabled);
}

#[test]
fn tag_keys_with_bidi_overrides_or_too_many_characters_are_rejected_naming_the_tag() {
    // GIVEN tag selectors with a bidi override in a key, a 129-character (multi-byte) key, and
    // a control character in a value
    let h = Harness::new(config());
    let long_key = "ü".repeat(129);
    let cases = [
        (
            json!({"tenant\u{202E}a": "b"}),
            "tags.tenant\u{202E}a".to_string(),
        ),
        (
            json!({ long_key.clone(): "b" }),
            format!("tags.{}", short(&long_key)),
        ),
        (json!({"tenant": "b\u{7}"}), "tags.tenant".to_string()),
    ];
    for (tags, location) in cases {
        let payload = json!({"tags": tags, "reason": "r", "incidentId": "INC-1"});
        // WHEN validated and handled THEN rejected at the tag, one record, no KMS call
        let r = parse_request(&payload, &Path::root("")).expect_err("bad tag");
        assert_eq!(r.location, location);
        assert_rejected_without_kms(&r, &h.handle(&payload));
    }
}

impl Harness {
    fn state_of(&self, arn: &str) -> KeyState {
        self.bed
            .sim
            .store()
            .describe(arn)
            .expect("key exists")
            .state
    }
}

#[test]
fn an_oversize_key_id_in_a_security_hub_finding_is_rejected_and_its_record_stays_within_the_schema()
{
    // GIVEN a Security Hub custom action whose AwsKmsKey resource id has 3,000 characters
    let h = Harness::new(config());
    let mut event = common::event("securityhub-custom-action.json");
    event["detail"]["findings"][0]["Resources"][0]["Id"] =
        json!(format!("alias/{}", "k".repeat(3000)));
    // WHEN handled (every record is validated against the audit schema)
    let (result, records, calls) = h.handle(&event);
    // THEN the key is rejected_invalid_identifier, no KMS call, and the record stays small
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].outcome, Outcome::RejectedInvalidIdentifier);
    assert_eq!(calls, 0);
}

#[test]
fn a_whitespace_only_tag_value_is_a_value_like_any_other() {
    // GIVEN an in-scope key tagged owner=" " (KMS tag values are any 0-256 characters; the
    // empty value is accepted by the request validation)
    let h = Harness::new(config());
    let key = h.bed.byok(&[], &[("owner", " ")]);
    let other = h.bed.byok(&[], &[("owner", "team-a")]);
    let payload = json!({"tags": {"owner": " "}, "reason": "r", "incidentId": "INC-1"});
    // WHEN a tag selector names that value
    let (result, records, _) = h.handle(&payload);
    // THEN it is accepted like any other value and selects exactly that key
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0].key_arn.as_deref(), Some(key.arn.as_str()));
    assert_eq!(records[0].outcome, Outcome::Revoked);
    assert_eq!(h.state_of(&other.arn), KeyState::Enabled);
}
