//! Validation helpers every parser shares: where a value sits ([`Path`]), what was wrong with it
//! ([`Rejection`]), text rules, unknown fields, and the syntax of AWS account ids, Regions,
//! organizational units and key material ids.

use std::fmt;

use serde_json::{Map, Value};

use crate::domain::text::{is_forbidden, short};

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
    /// `MissingField` at this path.
    pub fn missing(&self, problem: impl Into<String>) -> Rejection {
        self.reject("MissingField", problem)
    }
    /// `InvalidType`: this path holds `v`, not `expected`.
    pub fn wrong_type(&self, expected: &str, v: &Value) -> Rejection {
        self.reject(
            "InvalidType",
            format!("must be {expected}, got {}", type_name(v)),
        )
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
        return Err(path.wrong_type("a string", v));
    };
    if s.trim().is_empty() {
        return Err(path.reject("InvalidValue", "must not be empty"));
    }
    check_chars(s, path, max_chars, kind)?;
    Ok(s.clone())
}

/// `true` or `false`.
pub fn boolean(v: &Value, path: &Path) -> Result<bool, Rejection> {
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
    if let Some((i, c)) = s
        .chars()
        .enumerate()
        .find(|(_, c)| is_forbidden(*c, kind == Text::Multiline))
    {
        return Err(path.reject(
            "InvalidCharacter",
            format!(
                "contains the control or formatting character U+{:04X} at position {i}",
                c as u32
            ),
        ));
    }
    Ok(())
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

/// An optional array of strings, each passing `check` (`what` names the expected form).
pub fn string_list(
    v: Option<&Value>,
    path: &Path,
    max: usize,
    check: impl Fn(&str) -> bool,
    what: &str,
) -> Result<Vec<String>, Rejection> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) if items.len() <= max => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) if check(s) => Ok(s.clone()),
                other => Err(path.index(i).reject(
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
        Some(Value::Array(_)) => Err(path.reject("TooMany", format!("at most {max} entries"))),
        Some(other) => Err(path.wrong_type("an array", other)),
    }
}

/// A 12-digit AWS account id.
pub fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// An AWS Region name such as `us-east-1` or `us-gov-west-1`.
pub fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && s.len() <= 32
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts
            .last()
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The partition of a Region: `aws-cn` for `cn-*`, `aws-us-gov` for `us-gov-*`, the isolated
/// partitions by their prefixes, `aws` otherwise.
pub fn partition_of(region: &str) -> &'static str {
    const PARTITIONS: [(&str, &str); 6] = [
        ("cn-", "aws-cn"),
        ("us-gov-", "aws-us-gov"),
        ("us-isob-", "aws-iso-b"),
        ("us-iso-", "aws-iso"),
        ("eu-isoe-", "aws-iso-e"),
        ("us-isof-", "aws-iso-f"),
    ];
    PARTITIONS
        .iter()
        .find(|(prefix, _)| region.starts_with(prefix))
        .map_or("aws", |(_, p)| p)
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

/// A key material id: 64 lowercase hex characters.
pub fn is_key_material_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// An optional key material id at `path` (`null` counts as absent).
pub fn optional_material(v: Option<&Value>, path: &Path) -> Result<Option<String>, Rejection> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if is_key_material_id(s) => Ok(Some(s.clone())),
        Some(other) => Err(path.reject(
            "InvalidValue",
            format!(
                "must be a key material id (64 lowercase hex), got {}",
                type_name(other)
            ),
        )),
    }
}
