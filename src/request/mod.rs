//! The revocation request contract, validated into a normalized [`RevocationRequest`].
//!
//! The request arrives as the `detail` of an incident event or as the whole payload of a direct
//! invocation. Validation is strict: unknown fields, wrong types, oversize strings and control
//! characters are rejected with the exact location (`detail.keys[3]`) and nothing is called.
//! A typo such as `"dryrun": true` must never turn into a real deletion.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::domain::text::short;
use crate::keyref::KeyRef;
use crate::validate::{
    Path, Rejection, Text, boolean, check_chars, is_key_material_id, reject_unknown, text,
    type_name,
};

mod targets;
pub use targets::{Targets, parse_targets};

pub use crate::domain::{MAX_KEY_IDENTIFIER_CHARS, MAX_KEYS_PER_REQUEST};
/// Longest `reason`, in characters.
pub const MAX_REASON_CHARS: usize = 1024;
/// Longest `incidentId`, in characters.
pub const MAX_INCIDENT_ID_CHARS: usize = 128;
/// Longest incident id taken from a finding (finding ids are ARNs).
pub const MAX_FINDING_ID_CHARS: usize = 512;
/// Longest `requestedBy`, in characters.
pub const MAX_REQUESTED_BY_CHARS: usize = 256;
/// Most tags in a tag selector (a KMS key holds at most 50).
pub const MAX_SELECTOR_TAGS: usize = 50;

/// Fields of the request object, in the casing the contract uses; any other field is rejected.
pub const REQUEST_FIELDS: [&str; 9] = [
    "keys",
    "tags",
    "keyMaterialId",
    "acknowledgeKeyWide",
    "reason",
    "incidentId",
    "requestedBy",
    "dryRun",
    "targets",
];

/// A validated revocation request.
#[derive(Debug, Clone, PartialEq)]
pub struct RevocationRequest {
    /// Explicitly named keys, in request order, exact duplicates removed.
    pub keys: Vec<RequestedKey>,
    /// Tag selector: every in-scope EXTERNAL key carrying all of these tags.
    pub tags: BTreeMap<String, String>,
    /// Delete exactly this material (only with exactly one key and `acknowledgeKeyWide`).
    pub key_material_id: Option<String>,
    pub reason: String,
    pub incident_id: String,
    pub requested_by: Option<String>,
    pub dry_run: bool,
    /// Organization request: which member accounts / OUs / Regions act on it.
    pub targets: Option<Targets>,
}

/// One identifier as the requester wrote it, and what it parses to.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestedKey {
    pub raw: String,
    pub parsed: Result<KeyRef, String>,
    /// Per-key provenance (the finding that named the key), overriding the request's.
    pub context: Option<KeyContext>,
}

impl RequestedKey {
    /// A key named by `raw`, parsed.
    pub fn new(raw: String, context: Option<KeyContext>) -> Self {
        RequestedKey {
            parsed: KeyRef::parse(&raw),
            raw,
            context,
        }
    }
}

/// The incident and reason of one key, when they differ per key (Security Hub findings).
#[derive(Debug, Clone, PartialEq)]
pub struct KeyContext {
    pub incident_id: String,
    pub reason: String,
}

/// Validates a revocation request object found at `path`, sent from the function's own account.
pub fn parse_request(value: &Value, path: &Path) -> Result<RevocationRequest, Rejection> {
    parse_request_from(value, path, false)
}

/// Validates a revocation request object found at `path`. An organization request (one with
/// `targets`, or one `from_another_account`, such as a central account's) must name keys by key
/// ARN or alias ARN (or select them by tags): a bare key id or alias name would mean a different
/// key in every account that has one, so it is rejected as ambiguous before any KMS call.
pub fn parse_request_from(
    value: &Value,
    path: &Path,
    from_another_account: bool,
) -> Result<RevocationRequest, Rejection> {
    let Value::Object(obj) = value else {
        return Err(path.reject(
            "InvalidType",
            format!(
                "the revocation request must be a JSON object, got {}",
                type_name(value)
            ),
        ));
    };
    reject_unknown(obj, path, &REQUEST_FIELDS)?;
    let targets = match present(obj, "targets") {
        None => None,
        Some(v) => Some(parse_targets(v, &path.field("targets"))?),
    };
    let arns_only = from_another_account || targets.is_some();
    let keys = parse_keys(obj.get("keys"), &path.field("keys"), arns_only)?;
    let tags = parse_tags(obj.get("tags"), &path.field("tags"))?;
    if keys.is_empty() && tags.is_empty() {
        return Err(path.reject(
            "NoKeysSelected",
            "name at least one key in `keys` or a tag selector in `tags`",
        ));
    }
    let acknowledge_key_wide = optional_bool(obj, "acknowledgeKeyWide", path)?;
    let key_material_id = match present(obj, "keyMaterialId") {
        None => None,
        Some(v) => Some(parse_key_material_id(
            v,
            &path.field("keyMaterialId"),
            keys.len() == 1 && tags.is_empty(),
            acknowledge_key_wide,
        )?),
    };
    let reason = required_text(obj, "reason", path, MAX_REASON_CHARS, Text::Multiline)
        .map_err(|r| r.with_missing("is required: why are these keys revoked?"))?;
    let incident_id = required_text(
        obj,
        "incidentId",
        path,
        MAX_INCIDENT_ID_CHARS,
        Text::SingleLine,
    )
    .map_err(|r| r.with_missing("is required"))?;
    let requested_by = match present(obj, "requestedBy") {
        None => None,
        Some(v) => Some(text(
            v,
            &path.field("requestedBy"),
            MAX_REQUESTED_BY_CHARS,
            Text::SingleLine,
        )?),
    };
    let dry_run = optional_bool(obj, "dryRun", path)?;
    Ok(RevocationRequest {
        keys,
        tags,
        key_material_id,
        reason,
        incident_id,
        requested_by,
        dry_run,
        targets,
    })
}

/// A field that is present and not `null`.
fn present<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).filter(|v| !v.is_null())
}

fn optional_bool(obj: &Map<String, Value>, name: &str, path: &Path) -> Result<bool, Rejection> {
    present(obj, name).map_or(Ok(false), |v| boolean(v, &path.field(name)))
}

/// Why a required text field failed: `Missing` (absent or `null`) or the text rule it broke.
enum TextError {
    Missing(Path),
    Invalid(Rejection),
}

impl TextError {
    fn with_missing(self, problem: &str) -> Rejection {
        match self {
            TextError::Missing(p) => p.missing(problem),
            TextError::Invalid(r) => r,
        }
    }
}

fn required_text(
    obj: &Map<String, Value>,
    name: &str,
    path: &Path,
    max: usize,
    kind: Text,
) -> Result<String, TextError> {
    let p = path.field(name);
    match present(obj, name) {
        None => Err(TextError::Missing(p)),
        Some(v) => text(v, &p, max, kind).map_err(TextError::Invalid),
    }
}

fn parse_keys(
    v: Option<&Value>,
    p: &Path,
    arns_only: bool,
) -> Result<Vec<RequestedKey>, Rejection> {
    let items = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(p.wrong_type("an array of key identifiers", other)),
    };
    if items.len() > MAX_KEYS_PER_REQUEST {
        return Err(p.reject(
            "TooManyKeys",
            format!(
                "names {} keys; one request may name at most {MAX_KEYS_PER_REQUEST}",
                items.len()
            ),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    let mut keys = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::String(raw) = item else {
            return Err(p.index(i).reject(
                "InvalidType",
                format!("key identifiers must be strings, got {}", type_name(item)),
            ));
        };
        let key = RequestedKey::new(raw.clone(), None);
        if arns_only && matches!(key.parsed, Ok(KeyRef::KeyId(_) | KeyRef::AliasName(_))) {
            return Err(p.index(i).reject(
                "AmbiguousKeyIdentifier",
                format!(
                    "{:?} names a key only within one account and Region; an organization request \
                     (with `targets`, or from another account) must name keys by key ARN or alias ARN, \
                     or select them by `tags`",
                    short(raw)
                ),
            ));
        }
        // Same text twice is one key; different spellings of one key are caught after
        // resolution (skipped_duplicate).
        if seen.insert(raw.as_str()) {
            keys.push(key);
        }
    }
    Ok(keys)
}

fn parse_tags(v: Option<&Value>, p: &Path) -> Result<BTreeMap<String, String>, Rejection> {
    let map = match v {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::Object(map)) => map,
        Some(other) => return Err(p.wrong_type("an object of tag key to tag value", other)),
    };
    if map.len() > MAX_SELECTOR_TAGS {
        return Err(p.reject(
            "TooManyTags",
            format!("has {} tags, at most {MAX_SELECTOR_TAGS}", map.len()),
        ));
    }
    let mut tags = BTreeMap::new();
    for (k, v) in map {
        let kp = p.field(&short(k));
        if k.is_empty() || k.chars().count() > 128 {
            return Err(kp.reject("InvalidValue", "tag keys must have 1-128 characters"));
        }
        text(&Value::String(k.clone()), &kp, 128, Text::SingleLine)?;
        let Value::String(val) = v else {
            return Err(kp.reject(
                "InvalidType",
                format!("tag values must be strings, got {}", type_name(v)),
            ));
        };
        if val.chars().count() > 256 {
            return Err(kp.reject("TooLong", "tag values have at most 256 characters"));
        }
        check_chars(val, &kp, 256, Text::SingleLine)?;
        tags.insert(k.clone(), val.clone());
    }
    Ok(tags)
}

fn parse_key_material_id(
    v: &Value,
    p: &Path,
    one_key: bool,
    acknowledged: bool,
) -> Result<String, Rejection> {
    let Value::String(id) = v else {
        return Err(p.wrong_type("a string", v));
    };
    if !is_key_material_id(id) {
        return Err(p.reject(
            "InvalidValue",
            format!(
                "{:?} is not a key material id (64 lowercase hex characters)",
                short(id)
            ),
        ));
    }
    if !one_key {
        return Err(p.reject(
            "KeyMaterialIdNeedsOneKey",
            "a key material id belongs to one key: name exactly one key in `keys` and no `tags`",
        ));
    }
    if !acknowledged {
        return Err(p.reject(
            "AcknowledgeKeyWideRequired",
            "deleting any key material that is permanently associated with the key, current or not, \
             disables the whole key (KeyState PendingImport) until material is re-imported; \
             set \"acknowledgeKeyWide\": true to confirm",
        ));
    }
    Ok(id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";

    fn ok_request() -> Value {
        json!({"keys": [ID], "reason": "suspected exfiltration", "incidentId": "INC-1"})
    }

    #[test]
    fn a_minimal_request_is_accepted() {
        let r = parse_request(&ok_request(), &Path::root("")).expect("valid");
        assert_eq!(r.keys.len(), 1);
        assert!(!r.dry_run);
        assert_eq!(r.incident_id, "INC-1");
    }

    fn rejection(v: Value) -> Rejection {
        parse_request(&v, &Path::root("detail")).expect_err("must be rejected")
    }

    #[test]
    fn unknown_fields_are_rejected_so_typos_never_delete() {
        let mut v = ok_request();
        v["dryrun"] = json!(true);
        let r = rejection(v);
        assert_eq!(
            (r.location.as_str(), r.code),
            ("detail.dryrun", "UnknownField")
        );
    }

    #[test]
    fn missing_reason_and_incident_are_rejected_with_their_location() {
        let mut v = ok_request();
        v.as_object_mut().map(|o| o.remove("reason"));
        assert_eq!(rejection(v).location, "detail.reason");
        let mut v = ok_request();
        v.as_object_mut().map(|o| o.remove("incidentId"));
        assert_eq!(rejection(v).location, "detail.incidentId");
    }

    #[test]
    fn oversize_and_control_characters_are_rejected() {
        let mut v = ok_request();
        v["reason"] = json!("x".repeat(1025));
        let r = rejection(v);
        assert_eq!((r.location.as_str(), r.code), ("detail.reason", "TooLong"));
        let mut v = ok_request();
        v["incidentId"] = json!("INC-1\n{\"log_type\":\"audit\"}");
        assert_eq!(rejection(v).code, "InvalidCharacter");
        let mut v = ok_request();
        v["reason"] = json!("ok \u{202E}txt.exe");
        assert_eq!(rejection(v).code, "InvalidCharacter");
        let mut v = ok_request();
        v["reason"] = json!("line one\nline two");
        assert!(
            parse_request(&v, &Path::root("")).is_ok(),
            "multiline reasons are fine"
        );
    }

    #[test]
    fn wrong_types_are_rejected() {
        for (field, value, loc) in [
            ("keys", json!("just-one"), "detail.keys"),
            ("keys", json!([ID, 7]), "detail.keys[1]"),
            ("tags", json!(["a"]), "detail.tags"),
            ("dryRun", json!("false"), "detail.dryRun"),
            ("reason", json!(42), "detail.reason"),
        ] {
            let mut v = ok_request();
            v[field] = value;
            let r = rejection(v);
            assert_eq!(r.location, loc);
            assert_eq!(r.code, "InvalidType");
        }
        assert_eq!(rejection(json!([1, 2])).code, "InvalidType");
    }

    #[test]
    fn keys_or_tags_are_required() {
        let r = rejection(json!({"reason": "r", "incidentId": "i"}));
        assert_eq!(r.code, "NoKeysSelected");
        let r = rejection(json!({"keys": [], "tags": {}, "reason": "r", "incidentId": "i"}));
        assert_eq!(r.code, "NoKeysSelected");
    }

    #[test]
    fn key_material_id_needs_one_key_and_the_key_wide_acknowledgement() {
        let material = "a".repeat(64);
        let mut v = ok_request();
        v["keyMaterialId"] = json!(material);
        let r = rejection(v.clone());
        assert_eq!(r.code, "AcknowledgeKeyWideRequired");
        assert!(r.problem.contains("disables the whole key"));
        v["acknowledgeKeyWide"] = json!(true);
        assert_eq!(
            parse_request(&v, &Path::root(""))
                .expect("valid")
                .key_material_id
                .as_deref(),
            Some(material.as_str())
        );
        v["keys"] = json!([ID, "alias/other"]);
        assert_eq!(rejection(v.clone()).code, "KeyMaterialIdNeedsOneKey");
        v["keys"] = json!([ID]);
        v["keyMaterialId"] = json!("A".repeat(64));
        assert_eq!(rejection(v).code, "InvalidValue");
    }

    #[test]
    fn exact_duplicates_collapse_and_bad_identifiers_are_kept_per_key() {
        let v = json!({"keys": [ID, ID, "nope"], "reason": "r", "incidentId": "i"});
        let r = parse_request(&v, &Path::root("")).expect("valid");
        assert_eq!(r.keys.len(), 2);
        assert!(r.keys[1].parsed.is_err());
    }

    #[test]
    fn targets_select_members_by_account_ou_and_region() {
        let mut v = ok_request();
        // organization requests name keys by ARN (organization_requests_must_name_keys_by_arn)
        v["keys"] = json!([format!("arn:aws:kms:eu-west-1:222222222222:key/{ID}")]);
        v["targets"] = json!({"accounts": ["222222222222"], "organizationalUnits": ["ou-ab12-cdefgh34"], "regions": ["eu-west-1"]});
        let t = parse_request(&v, &Path::root(""))
            .expect("valid")
            .targets
            .expect("targets");
        assert!(t.includes("222222222222", &[], "eu-west-1"));
        assert!(t.includes("333333333333", &["ou-ab12-cdefgh34".into()], "eu-west-1"));
        assert!(!t.includes("333333333333", &[], "eu-west-1"));
        assert!(!t.includes("222222222222", &[], "us-east-1"));
        let regions_only = Targets {
            regions: vec!["us-east-1".into()],
            ..Targets::default()
        };
        assert!(regions_only.includes("444444444444", &[], "us-east-1"));
        for (bad, loc) in [
            (json!({}), "detail.targets"),
            (json!({"accounts": ["12"]}), "detail.targets.accounts[0]"),
            (
                json!({"organizationalUnits": ["ou-x"]}),
                "detail.targets.organizationalUnits[0]",
            ),
            (json!({"regions": "us-east-1"}), "detail.targets.regions"),
            (
                json!({"account": ["222222222222"]}),
                "detail.targets.account",
            ),
        ] {
            let mut v = ok_request();
            v["targets"] = bad;
            assert_eq!(rejection(v).location, loc);
        }
    }

    #[test]
    fn organization_requests_must_name_keys_by_arn() {
        // GIVEN a request with targets naming a bare alias (the same IaC deploys it everywhere)
        let mut v = ok_request();
        v["keys"] = json!([
            format!("arn:aws:kms:us-east-1:111122223333:key/{ID}"),
            "alias/orders"
        ]);
        v["targets"] = json!({"accounts": ["111122223333", "222222222222"]});
        // WHEN it is validated
        let r = rejection(v.clone());
        // THEN it is rejected as ambiguous, naming the entry
        assert_eq!(
            (r.location.as_str(), r.code),
            ("detail.keys[1]", "AmbiguousKeyIdentifier")
        );
        // AND a bare key id likewise, also without targets when the request comes from another
        // account
        let mut v = ok_request();
        v["keys"] = json!([ID]);
        assert!(
            parse_request(&v, &Path::root("")).is_ok(),
            "own account: fine"
        );
        let r = parse_request_from(&v, &Path::root("detail"), true).expect_err("ambiguous");
        assert_eq!(r.code, "AmbiguousKeyIdentifier");
        // AND ARNs and tag selectors are accepted
        let mut v = ok_request();
        v["keys"] = json!(["arn:aws:kms:us-east-1:111122223333:alias/orders"]);
        v["tags"] = json!({"supplier": "acme"});
        v["targets"] = json!({"regions": ["us-east-1"]});
        assert!(parse_request(&v, &Path::root("")).is_ok());
    }

    #[test]
    fn too_many_keys_is_a_rejection_before_any_work() {
        let keys: Vec<String> = (0..MAX_KEYS_PER_REQUEST + 1)
            .map(|i| format!("alias/k{i}"))
            .collect();
        let r = rejection(json!({"keys": keys, "reason": "r", "incidentId": "i"}));
        assert_eq!(r.code, "TooManyKeys");
    }
}
