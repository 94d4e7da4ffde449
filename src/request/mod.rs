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
mod tests;
