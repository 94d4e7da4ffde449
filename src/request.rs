//! Step 3: the revocation request contract, validated into a normalized [`RevocationRequest`].
//!
//! The request arrives as the `detail` of an incident event or as the whole payload of a direct
//! invocation. Validation is strict: unknown fields, wrong types, oversize strings and control
//! characters are rejected with the exact location (`detail.keys[3]`) and nothing is called.
//! A typo such as `"dryrun": true` must never turn into a real deletion.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

/// Most identifiers one request may name (a structural limit, above any blast radius).
pub const MAX_KEYS_PER_REQUEST: usize = 10_000;
/// Longest `reason`, in characters.
pub const MAX_REASON_CHARS: usize = 1024;
/// Longest `incidentId`, in characters.
pub const MAX_INCIDENT_ID_CHARS: usize = 128;
/// Longest `requestedBy`, in characters.
pub const MAX_REQUESTED_BY_CHARS: usize = 256;
/// Longest key identifier (KMS allows 2048 for KeyId).
pub const MAX_KEY_IDENTIFIER_CHARS: usize = 2048;
/// Most tags in a tag selector (a KMS key holds at most 50).
pub const MAX_SELECTOR_TAGS: usize = 50;

/// What was wrong with an event or request, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {problem}")]
pub struct Rejection {
    /// Where the problem is, as a path into the payload (`detail.keys[3]`, `payload`).
    pub location: String,
    /// What is wrong, never echoing more than a short prefix of the offending value.
    pub problem: String,
    /// Stable machine-readable code (the audit record's `error_code`).
    pub code: &'static str,
}

impl Rejection {
    pub fn new(
        location: impl Into<String>,
        code: &'static str,
        problem: impl Into<String>,
    ) -> Self {
        Rejection {
            location: location.into(),
            problem: problem.into(),
            code,
        }
    }
}

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

/// The members an organization-wide request is for. Empty lists match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Targets {
    pub accounts: Vec<String>,
    #[serde(rename = "organizationalUnits")]
    pub organizational_units: Vec<String>,
    pub regions: Vec<String>,
}

impl Targets {
    /// Whether a member (account, its OUs, Region) is targeted.
    pub fn includes(&self, account: &str, units: &[String], region: &str) -> bool {
        let by_org = (self.accounts.is_empty() && self.organizational_units.is_empty())
            || self.accounts.iter().any(|a| a == account)
            || self.organizational_units.iter().any(|u| units.contains(u));
        let by_region = self.regions.is_empty() || self.regions.iter().any(|r| r == region);
        by_org && by_region
    }
}

/// An organizational unit id (`ou-xxxx-yyyyyyyy`) or root id (`r-xxxx`).
pub fn is_organizational_unit(s: &str) -> bool {
    let lower_alnum = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    if let Some(rest) = s.strip_prefix("ou-") {
        let mut parts = rest.splitn(2, '-');
        matches!((parts.next(), parts.next()), (Some(a), Some(b))
            if (4..=32).contains(&a.len()) && (8..=32).contains(&b.len()) && lower_alnum(a) && lower_alnum(b))
    } else if let Some(rest) = s.strip_prefix("r-") {
        (4..=32).contains(&rest.len()) && lower_alnum(rest)
    } else {
        false
    }
}

fn parse_targets(v: &Value, path: &Path) -> Result<Targets, Rejection> {
    let Value::Object(obj) = v else {
        return Err(path.reject(
            "InvalidType",
            format!("must be an object, got {}", type_name(v)),
        ));
    };
    reject_unknown(obj, path, &["accounts", "organizationalUnits", "regions"])?;
    let list = |name: &str,
                max: usize,
                check: &dyn Fn(&str) -> bool,
                what: &str|
     -> Result<Vec<String>, Rejection> {
        let p = path.field(name);
        match obj.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) if items.len() <= max => items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::String(s) if check(s) => Ok(s.clone()),
                    other => Err(p.index(i).reject(
                        "InvalidValue",
                        format!(
                            "must be {what}, got {}",
                            match other {
                                Value::String(s) => format!("{:?}", short(s)),
                                v => type_name(v).to_string(),
                            }
                        ),
                    )),
                })
                .collect(),
            Some(Value::Array(_)) => Err(p.reject("TooMany", format!("at most {max} entries"))),
            Some(other) => Err(p.reject(
                "InvalidType",
                format!("must be an array, got {}", type_name(other)),
            )),
        }
    };
    let t = Targets {
        accounts: list(
            "accounts",
            1000,
            &crate::config::is_account,
            "a 12-digit account id",
        )?,
        organizational_units: list(
            "organizationalUnits",
            100,
            &is_organizational_unit,
            "an OU id (ou-xxxx-yyyyyyyy) or root id (r-xxxx)",
        )?,
        regions: list("regions", 50, &crate::config::is_region, "a Region name")?,
    };
    if t.accounts.is_empty() && t.organizational_units.is_empty() && t.regions.is_empty() {
        return Err(path.reject(
            "NoTargets",
            "name at least one account, organizational unit or Region",
        ));
    }
    Ok(t)
}

/// One identifier as the requester wrote it, and what it parses to.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestedKey {
    pub raw: String,
    pub parsed: Result<KeyRef, String>,
    /// Per-key provenance (the finding that named the key), overriding the request's.
    pub context: Option<KeyContext>,
}

/// The incident and reason of one key, when they differ per key (Security Hub findings).
#[derive(Debug, Clone, PartialEq)]
pub struct KeyContext {
    pub incident_id: String,
    pub reason: String,
}

/// A KMS key identifier, syntactically validated (no KMS call).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    /// `1234abcd-12ab-34cd-56ef-1234567890ab` or `mrk-...`.
    KeyId(String),
    /// `arn:aws:kms:us-east-1:111122223333:key/<key id>`.
    KeyArn(Arn),
    /// `alias/name`.
    AliasName(String),
    /// `arn:aws:kms:us-east-1:111122223333:alias/name`.
    AliasArn(Arn),
}

/// The parts of a KMS ARN this function checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn {
    pub partition: String,
    pub region: String,
    pub account: String,
    /// `key/<id>` or `alias/<name>`.
    pub resource: String,
}

impl KeyRef {
    /// Parses a key id, key ARN, alias name or alias ARN. The error says what is wrong.
    pub fn parse(s: &str) -> Result<KeyRef, String> {
        if s.is_empty() {
            return Err("empty key identifier".into());
        }
        if s.chars().count() > MAX_KEY_IDENTIFIER_CHARS {
            return Err(format!(
                "key identifier longer than {MAX_KEY_IDENTIFIER_CHARS} characters"
            ));
        }
        if let Some(rest) = s.strip_prefix("arn:") {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            let [partition, service, region, account, resource] = parts[..] else {
                return Err("ARN must have the form arn:<partition>:kms:<region>:<account>:key/<id> or :alias/<name>".into());
            };
            if !(partition == "aws" || partition.starts_with("aws-"))
                || !partition
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'-')
            {
                return Err(format!(
                    "ARN partition {:?} is not an AWS partition",
                    short(partition)
                ));
            }
            if service != "kms" {
                return Err(format!("ARN service is {:?}, expected kms", short(service)));
            }
            if !crate::config::is_region(region) {
                return Err(format!(
                    "ARN Region {:?} is not a Region name",
                    short(region)
                ));
            }
            if !crate::config::is_account(account) {
                return Err(format!(
                    "ARN account {:?} is not a 12-digit account id",
                    short(account)
                ));
            }
            let arn = Arn {
                partition: partition.into(),
                region: region.into(),
                account: account.into(),
                resource: resource.into(),
            };
            if let Some(id) = resource.strip_prefix("key/") {
                check_key_id(id)?;
                Ok(KeyRef::KeyArn(arn))
            } else if resource.starts_with("alias/") {
                check_alias(resource)?;
                Ok(KeyRef::AliasArn(arn))
            } else {
                Err("ARN resource must be key/<id> or alias/<name>".into())
            }
        } else if s.starts_with("alias/") {
            check_alias(s)?;
            Ok(KeyRef::AliasName(s.into()))
        } else {
            check_key_id(s)?;
            Ok(KeyRef::KeyId(s.into()))
        }
    }

    /// The account and Region an ARN names; `None` for ids and alias names (which KMS resolves
    /// in the caller's own account and Region).
    pub fn location(&self) -> Option<(&str, &str)> {
        match self {
            KeyRef::KeyArn(a) | KeyRef::AliasArn(a) => Some((&a.account, &a.region)),
            KeyRef::KeyId(_) | KeyRef::AliasName(_) => None,
        }
    }
}

/// A key id: a UUID (lowercase or uppercase hex) or a multi-Region `mrk-` + 32 hex digits.
pub fn check_key_id(id: &str) -> Result<(), String> {
    let is_hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
    let uuid = {
        let groups: Vec<&str> = id.split('-').collect();
        groups.len() == 5
            && groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
            && groups.iter().all(|g| is_hex(g))
    };
    let mrk = id
        .strip_prefix("mrk-")
        .is_some_and(|h| h.len() == 32 && is_hex(h));
    if uuid || mrk {
        Ok(())
    } else {
        Err(format!(
            "{:?} is not a key id (a UUID or mrk- followed by 32 hex digits)",
            short(id)
        ))
    }
}

fn check_alias(alias: &str) -> Result<(), String> {
    let name = alias.strip_prefix("alias/").unwrap_or(alias);
    if name.is_empty() || name.len() > 250 {
        return Err("alias name must have 1-250 characters after alias/".into());
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'/' || b == b'_' || b == b'-')
    {
        return Err(format!(
            "alias {:?} may contain only letters, digits, /, _ and -",
            short(alias)
        ));
    }
    Ok(())
}

/// A key material id: 64 lowercase hex characters.
pub fn is_key_material_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// At most 40 characters of untrusted input, for error messages.
pub fn short(s: &str) -> String {
    short_n(s, 40)
}

/// At most `max` characters of `s` (an ellipsis marks the cut).
pub fn short_n(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

/// Where a value sits in the payload, for error messages.
#[derive(Clone)]
pub struct Path(String);

impl Path {
    pub fn root(name: &str) -> Path {
        Path(name.to_string())
    }
    pub fn field(&self, name: &str) -> Path {
        if self.0.is_empty() {
            Path(name.to_string())
        } else {
            Path(format!("{}.{}", self.0, name))
        }
    }
    pub fn index(&self, i: usize) -> Path {
        Path(format!("{}[{}]", self.0, i))
    }
    fn or_payload(&self) -> String {
        if self.0.is_empty() {
            "payload".into()
        } else {
            self.0.clone()
        }
    }
    pub fn reject(&self, code: &'static str, problem: impl Into<String>) -> Rejection {
        Rejection::new(self.or_payload(), code, problem)
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.or_payload())
    }
}

/// JSON type name for messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Which control characters a text field tolerates.
#[derive(Clone, Copy, PartialEq)]
pub enum Text {
    /// Free text: tab and line breaks allowed (they are JSON-escaped in every output).
    Multiline,
    /// A single-line token: no control characters at all.
    SingleLine,
}

/// A required or optional string field with a length limit and no dangerous characters:
/// C0/C1 controls (except tab/CR/LF in multiline text), Unicode line/paragraph separators and
/// bidirectional overrides (used to spoof log lines and reviewers).
pub fn text(v: &Value, path: &Path, max_chars: usize, kind: Text) -> Result<String, Rejection> {
    let Value::String(s) = v else {
        return Err(path.reject(
            "InvalidType",
            format!("must be a string, got {}", type_name(v)),
        ));
    };
    if s.trim().is_empty() {
        return Err(path.reject("InvalidValue", "must not be empty"));
    }
    check_chars(s, path, max_chars, kind)?;
    Ok(s.clone())
}

fn boolean(v: &Value, path: &Path) -> Result<bool, Rejection> {
    v.as_bool().ok_or_else(|| {
        path.reject(
            "InvalidType",
            format!("must be true or false, got {}", type_name(v)),
        )
    })
}

/// Length and character checks of [`text`], without the non-empty rule (tag values may be
/// empty or blank, as KMS allows).
pub fn check_chars(s: &str, path: &Path, max_chars: usize, kind: Text) -> Result<(), Rejection> {
    let n = s.chars().count();
    if n > max_chars {
        return Err(path.reject(
            "TooLong",
            format!("has {n} characters, at most {max_chars} are allowed"),
        ));
    }
    for (i, c) in s.chars().enumerate() {
        let allowed_ws = kind == Text::Multiline && matches!(c, '\t' | '\n' | '\r');
        let bad = (c.is_control() && !allowed_ws)
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}');
        if bad {
            return Err(path.reject(
                "InvalidCharacter",
                format!(
                    "contains the control or formatting character U+{:04X} at position {i}",
                    c as u32
                ),
            ));
        }
    }
    Ok(())
}

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

/// Validates a revocation request object found at `path`.
pub fn parse_request(value: &Value, path: &Path) -> Result<RevocationRequest, Rejection> {
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

    let keys = match obj.get("keys") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            let p = path.field("keys");
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
                // Same text twice is one key; different spellings of one key are caught after
                // resolution (skipped_duplicate).
                if seen.insert(raw.as_str()) {
                    let parsed = KeyRef::parse(raw);
                    keys.push(RequestedKey {
                        raw: raw.clone(),
                        parsed,
                        context: None,
                    });
                }
            }
            keys
        }
        Some(other) => {
            return Err(path.field("keys").reject(
                "InvalidType",
                format!(
                    "must be an array of key identifiers, got {}",
                    type_name(other)
                ),
            ));
        }
    };

    let tags = match obj.get("tags") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(map)) => {
            let p = path.field("tags");
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
            tags
        }
        Some(other) => {
            return Err(path.field("tags").reject(
                "InvalidType",
                format!(
                    "must be an object of tag key to tag value, got {}",
                    type_name(other)
                ),
            ));
        }
    };

    if keys.is_empty() && tags.is_empty() {
        return Err(path.reject(
            "NoKeysSelected",
            "name at least one key in `keys` or a tag selector in `tags`",
        ));
    }

    let acknowledge_key_wide = match obj.get("acknowledgeKeyWide") {
        None | Some(Value::Null) => false,
        Some(v) => boolean(v, &path.field("acknowledgeKeyWide"))?,
    };
    let key_material_id = match obj.get("keyMaterialId") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let p = path.field("keyMaterialId");
            let Value::String(id) = v else {
                return Err(p.reject(
                    "InvalidType",
                    format!("must be a string, got {}", type_name(v)),
                ));
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
            if keys.len() != 1 || !tags.is_empty() {
                return Err(p.reject(
                    "KeyMaterialIdNeedsOneKey",
                    "a key material id belongs to one key: name exactly one key in `keys` and no `tags`",
                ));
            }
            if !acknowledge_key_wide {
                return Err(p.reject(
                    "AcknowledgeKeyWideRequired",
                    "deleting any key material that is permanently associated with the key, current or not, \
                     disables the whole key (KeyState PendingImport) until material is re-imported; \
                     set \"acknowledgeKeyWide\": true to confirm",
                ));
            }
            Some(id.clone())
        }
    };

    let reason = match obj.get("reason") {
        None | Some(Value::Null) => {
            return Err(path
                .field("reason")
                .reject("MissingField", "is required: why are these keys revoked?"));
        }
        Some(v) => text(v, &path.field("reason"), MAX_REASON_CHARS, Text::Multiline)?,
    };
    let incident_id = match obj.get("incidentId") {
        None | Some(Value::Null) => {
            return Err(path
                .field("incidentId")
                .reject("MissingField", "is required"));
        }
        Some(v) => text(
            v,
            &path.field("incidentId"),
            MAX_INCIDENT_ID_CHARS,
            Text::SingleLine,
        )?,
    };
    let requested_by = match obj.get("requestedBy") {
        None | Some(Value::Null) => None,
        Some(v) => Some(text(
            v,
            &path.field("requestedBy"),
            MAX_REQUESTED_BY_CHARS,
            Text::SingleLine,
        )?),
    };
    let dry_run = match obj.get("dryRun") {
        None | Some(Value::Null) => false,
        Some(v) => boolean(v, &path.field("dryRun"))?,
    };

    let targets = match obj.get("targets") {
        None | Some(Value::Null) => None,
        Some(v) => Some(parse_targets(v, &path.field("targets"))?),
    };

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

/// Rejects fields outside `allowed`, naming the first one and the accepted set.
pub fn reject_unknown(
    obj: &Map<String, Value>,
    path: &Path,
    allowed: &[&str],
) -> Result<(), Rejection> {
    if let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(path.field(&short(k)).reject(
            "UnknownField",
            format!("unknown field; accepted fields are {}", allowed.join(", ")),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn key_identifiers_of_every_form_parse() {
        assert_eq!(KeyRef::parse(ID), Ok(KeyRef::KeyId(ID.into())));
        assert!(matches!(
            KeyRef::parse("mrk-1234abcd12ab34cd56ef1234567890ab"),
            Ok(KeyRef::KeyId(_))
        ));
        assert!(matches!(
            KeyRef::parse("alias/tenant-a/db"),
            Ok(KeyRef::AliasName(_))
        ));
        let arn = format!("arn:aws:kms:eu-west-1:111122223333:key/{ID}");
        let KeyRef::KeyArn(a) = KeyRef::parse(&arn).expect("arn") else {
            panic!("not a key arn")
        };
        assert_eq!(
            (a.account.as_str(), a.region.as_str()),
            ("111122223333", "eu-west-1")
        );
        assert!(matches!(
            KeyRef::parse("arn:aws-us-gov:kms:us-gov-west-1:111122223333:alias/x"),
            Ok(KeyRef::AliasArn(_))
        ));
    }

    #[test]
    fn malformed_identifiers_say_what_is_wrong() {
        for (bad, expect) in [
            ("", "empty"),
            ("not-a-key", "not a key id"),
            ("1234abcd-12ab-34cd-56ef-1234567890aZ", "not a key id"),
            ("alias/", "1-250"),
            ("alias/has space", "may contain only"),
            ("arn:aws:s3:us-east-1:111122223333:key/x", "expected kms"),
            (
                "arn:aws:kms:us-east-1:1111:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                "12-digit",
            ),
            (
                "arn:aws:kms:moon:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                "Region",
            ),
            (
                "arn:aws:kms:us-east-1:111122223333:grant/x",
                "key/<id> or alias/<name>",
            ),
            ("arn:aws:kms:us-east-1", "form arn:"),
            (
                "arn:evil:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                "partition",
            ),
        ] {
            let err = KeyRef::parse(bad).expect_err(bad);
            assert!(err.contains(expect), "{bad:?}: {err}");
        }
    }

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
    fn too_many_keys_is_a_rejection_before_any_work() {
        let keys: Vec<String> = (0..MAX_KEYS_PER_REQUEST + 1)
            .map(|i| format!("alias/k{i}"))
            .collect();
        let r = rejection(json!({"keys": keys, "reason": "r", "incidentId": "i"}));
        assert_eq!(r.code, "TooManyKeys");
    }
}
