//! EventBridge event patterns: the subset the project's rules use.
//!
//! Supported (as EventBridge documents them):
//! - a pattern is a JSON object; nested objects match nested fields (`{"detail": {"outcome":
//!   [...]}}`), every field named must match (AND);
//! - a leaf is a non-empty array of matchers, any of which may match (OR);
//! - exact values: strings, numbers (compared numerically), `true` / `false`, `null`;
//! - `{"prefix": "..."}`;
//! - `{"anything-but": "x" | 5 | ["x", "y", 5] | {"prefix": "..."}}` (a missing field never
//!   matches `anything-but`);
//! - `{"exists": true | false}` (leaves only: an object value does not count as existing);
//! - an array in the event matches when any of its elements matches.
//!
//! Not supported, rejected when the pattern is parsed (so a rule never silently matches less or
//! more than in AWS): `numeric`, `suffix`, `equals-ignore-case`, `wildcard`, `cidr`, `$or`, and
//! matching into arrays of objects.

use serde_json::{Map, Value};

/// Why a pattern is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("event pattern at {path}: {problem}")]
    Invalid { path: String, problem: String },
    #[error("event pattern at {path}: operator {operator:?} is not supported by this router")]
    Unsupported { path: String, operator: String },
}

/// A parsed event pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    source: Value,
    fields: Vec<(String, Node)>,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Object(Vec<(String, Node)>),
    Leaf(Vec<Matcher>),
}

#[derive(Debug, Clone, PartialEq)]
enum Matcher {
    Exact(Value),
    Prefix(String),
    AnythingBut(Vec<Value>),
    AnythingButPrefix(String),
    Exists(bool),
}

impl Pattern {
    /// Parses a pattern (the JSON of a rule's `EventPattern`).
    pub fn parse(pattern: &Value) -> Result<Pattern, PatternError> {
        let Value::Object(obj) = pattern else {
            return Err(invalid("$", "a pattern must be a JSON object"));
        };
        if obj.is_empty() {
            return Err(invalid("$", "a pattern must name at least one field"));
        }
        Ok(Pattern {
            source: pattern.clone(),
            fields: parse_fields(obj, "$")?,
        })
    }

    /// Parses a pattern from its JSON text.
    pub fn parse_str(text: &str) -> Result<Pattern, PatternError> {
        let v: Value = serde_json::from_str(text).map_err(|e| invalid("$", &e.to_string()))?;
        Pattern::parse(&v)
    }

    /// The pattern as written.
    pub fn as_json(&self) -> &Value {
        &self.source
    }

    /// Whether `event` (an EventBridge envelope as JSON) matches.
    pub fn matches(&self, event: &Value) -> bool {
        match_fields(&self.fields, Some(event))
    }
}

fn invalid(path: &str, problem: &str) -> PatternError {
    PatternError::Invalid {
        path: path.to_string(),
        problem: problem.to_string(),
    }
}

fn parse_fields(obj: &Map<String, Value>, path: &str) -> Result<Vec<(String, Node)>, PatternError> {
    obj.iter()
        .map(|(name, v)| {
            let p = format!("{path}.{name}");
            if name.starts_with('$') {
                return Err(PatternError::Unsupported {
                    path: p,
                    operator: name.clone(),
                });
            }
            let node = match v {
                Value::Object(sub) if sub.is_empty() => {
                    return Err(invalid(&p, "an empty object matches nothing"));
                }
                Value::Object(sub) => Node::Object(parse_fields(sub, &p)?),
                Value::Array(items) if items.is_empty() => {
                    return Err(invalid(&p, "an empty array matches nothing"));
                }
                Value::Array(items) => Node::Leaf(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| parse_matcher(item, &format!("{p}[{i}]")))
                        .collect::<Result<_, _>>()?,
                ),
                _ => {
                    return Err(invalid(
                        &p,
                        "a leaf must be an array of values or operators",
                    ));
                }
            };
            Ok((name.clone(), node))
        })
        .collect()
}

fn parse_matcher(item: &Value, path: &str) -> Result<Matcher, PatternError> {
    let Value::Object(op) = item else {
        // A bare array inside a leaf is not a value EventBridge accepts.
        if item.is_array() {
            return Err(invalid(path, "nested arrays are not allowed"));
        }
        return Ok(Matcher::Exact(item.clone()));
    };
    let mut entries = op.iter();
    let (Some((name, arg)), None) = (entries.next(), entries.next()) else {
        return Err(invalid(path, "an operator object has exactly one key"));
    };
    match (name.as_str(), arg) {
        ("prefix", Value::String(p)) => Ok(Matcher::Prefix(p.clone())),
        ("prefix", _) => Err(invalid(path, "prefix takes a string")),
        ("exists", Value::Bool(b)) => Ok(Matcher::Exists(*b)),
        ("exists", _) => Err(invalid(path, "exists takes true or false")),
        ("anything-but", Value::String(_) | Value::Number(_)) => {
            Ok(Matcher::AnythingBut(vec![arg.clone()]))
        }
        ("anything-but", Value::Array(values))
            if !values.is_empty()
                && values
                    .iter()
                    .all(|v| matches!(v, Value::String(_) | Value::Number(_))) =>
        {
            Ok(Matcher::AnythingBut(values.clone()))
        }
        ("anything-but", Value::Object(inner)) => match inner.get("prefix") {
            Some(Value::String(p)) if inner.len() == 1 => Ok(Matcher::AnythingButPrefix(p.clone())),
            _ => match inner.keys().next() {
                Some(k) if k != "prefix" => Err(PatternError::Unsupported {
                    path: path.to_string(),
                    operator: format!("anything-but/{k}"),
                }),
                _ => Err(invalid(path, "anything-but {prefix} takes one string")),
            },
        },
        ("anything-but", _) => Err(invalid(
            path,
            "anything-but takes a string, a number, a non-empty array of them, or {\"prefix\": ...}",
        )),
        (other, _) => Err(PatternError::Unsupported {
            path: path.to_string(),
            operator: other.to_string(),
        }),
    }
}

fn match_fields(fields: &[(String, Node)], value: Option<&Value>) -> bool {
    fields.iter().all(|(name, node)| {
        let child = value.and_then(Value::as_object).and_then(|o| o.get(name));
        match node {
            Node::Object(sub) => match child {
                Some(Value::Array(_)) => false,
                other => match_fields(sub, other),
            },
            Node::Leaf(matchers) => match_leaf(matchers, child),
        }
    })
}

fn match_leaf(matchers: &[Matcher], value: Option<&Value>) -> bool {
    match value {
        None => matchers.contains(&Matcher::Exists(false)),
        // An object is not a leaf: only `exists: false` could describe it, and EventBridge
        // treats it as not matching either way.
        Some(Value::Object(_)) => false,
        Some(Value::Array(items)) => items
            .iter()
            .any(|item| !item.is_array() && !item.is_object() && match_scalar(matchers, item)),
        Some(scalar) => match_scalar(matchers, scalar),
    }
}

fn match_scalar(matchers: &[Matcher], v: &Value) -> bool {
    matchers.iter().any(|m| match m {
        Matcher::Exact(e) => same(e, v),
        Matcher::Prefix(p) => v.as_str().is_some_and(|s| s.starts_with(p.as_str())),
        Matcher::AnythingBut(list) => !list.iter().any(|e| same(e, v)),
        Matcher::AnythingButPrefix(p) => v.as_str().is_none_or(|s| !s.starts_with(p.as_str())),
        Matcher::Exists(b) => *b,
    })
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => x == y,
        },
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> Value {
        json!({
            "version": "0", "id": "e-1", "source": "kms-material-guard",
            "detail-type": "Key Material Audit Record", "account": "111111111111",
            "region": "eu-west-1", "resources": ["arn:aws:kms:eu-west-1:111111111111:key/k1"],
            "detail": {"outcome": "revoked", "dry_run": false, "attempts": 5,
                       "error_code": null, "trigger": {"source": "incident-response"},
                       "tags": ["a", "b"]}
        })
    }

    fn m(p: Value) -> bool {
        Pattern::parse(&p).expect("valid pattern").matches(&event())
    }

    #[test]
    fn exact_values_nested_fields_and_and_or() {
        // GIVEN an audit-record event
        // THEN exact strings, nested fields, numbers, booleans and null match as in EventBridge
        assert!(m(json!({"source": ["kms-material-guard"]})));
        assert!(
            m(json!({"source": ["x", "kms-material-guard"]})),
            "OR within a leaf"
        );
        assert!(
            !m(json!({"source": ["kms-material-guard"], "account": ["222222222222"]})),
            "AND across fields"
        );
        assert!(m(
            json!({"detail": {"outcome": ["revoked"], "trigger": {"source": ["incident-response"]}}})
        ));
        assert!(
            m(json!({"detail": {"attempts": [5.0]}})),
            "numbers compare numerically"
        );
        assert!(m(json!({"detail": {"dry_run": [false]}})));
        assert!(m(json!({"detail": {"error_code": [null]}})));
        assert!(
            !m(json!({"detail": {"outcome": ["Revoked"]}})),
            "case-sensitive"
        );
        assert!(!m(json!({"detail": {"missing": ["x"]}})));
        assert!(
            !m(json!({"detail": ["revoked"]})),
            "a leaf never matches an object"
        );
        assert!(!m(json!({"nothing": {"deeper": ["x"]}})));
    }

    #[test]
    fn arrays_in_the_event_match_any_element() {
        assert!(m(
            json!({"resources": ["arn:aws:kms:eu-west-1:111111111111:key/k1"]})
        ));
        assert!(m(json!({"detail": {"tags": ["b"]}})));
        assert!(!m(json!({"detail": {"tags": ["c"]}})));
    }

    #[test]
    fn prefix_anything_but_and_exists() {
        assert!(m(json!({"detail-type": [{"prefix": "Key Material "}]})));
        assert!(!m(json!({"detail-type": [{"prefix": "key material"}]})));
        assert!(m(
            json!({"detail": {"outcome": [{"anything-but": ["failed", "failed_retryable"]}]}})
        ));
        assert!(!m(
            json!({"detail": {"outcome": [{"anything-but": "revoked"}]}})
        ));
        assert!(!m(json!({"detail": {"attempts": [{"anything-but": 5}]}})));
        assert!(m(json!({"region": [{"anything-but": {"prefix": "us-"}}]})));
        assert!(!m(json!({"region": [{"anything-but": {"prefix": "eu-"}}]})));
        assert!(
            !m(json!({"detail": {"missing": [{"anything-but": "x"}]}})),
            "a missing field never matches anything-but"
        );
        assert!(m(json!({"detail": {"outcome": [{"exists": true}]}})));
        assert!(m(json!({"detail": {"continued_by": [{"exists": false}]}})));
        assert!(!m(json!({"detail": {"outcome": [{"exists": false}]}})));
        assert!(
            !m(json!({"detail": {"trigger": [{"exists": true}]}})),
            "exists applies to leaves only"
        );
    }

    #[test]
    fn unsupported_operators_and_malformed_patterns_are_refused() {
        for (p, unsupported) in [
            (
                json!({"detail": {"attempts": [{"numeric": [">", 1]}]}}),
                true,
            ),
            (json!({"source": [{"suffix": "guard"}]}), true),
            (json!({"source": [{"wildcard": "kms-*"}]}), true),
            (json!({"source": [{"equals-ignore-case": "x"}]}), true),
            (json!({"$or": [{"source": ["a"]}]}), true),
            (json!({"source": [{"anything-but": {"suffix": "x"}}]}), true),
            (json!({"source": "kms-material-guard"}), false),
            (json!({"source": []}), false),
            (json!({"detail": {}}), false),
            (json!({}), false),
            (json!(["source"]), false),
            (json!({"source": [{"prefix": 1}]}), false),
            (json!({"source": [{"exists": "yes"}]}), false),
            (json!({"source": [{"prefix": "a", "exists": true}]}), false),
            (json!({"source": [["a"]]}), false),
            (json!({"source": [{"anything-but": []}]}), false),
        ] {
            let err = Pattern::parse(&p).expect_err(&format!("{p} must be refused"));
            assert_eq!(
                matches!(err, PatternError::Unsupported { .. }),
                unsupported,
                "{p}: {err}"
            );
        }
    }

    #[test]
    fn the_template_incident_rule_matches_only_trusted_requests() {
        // GIVEN the member's incident rule as templates deploy it (central account trusted)
        let rule = Pattern::parse(&json!({
            "detail-type": ["Key Material Revocation Requested"],
            "source": ["incident-response"],
            "account": ["111111111111", "999999999999"]
        }))
        .expect("valid");
        let req = |account: &str, source: &str| {
            json!({"detail-type": "Key Material Revocation Requested", "source": source,
                   "account": account, "detail": {}})
        };
        // THEN the central account's requests match; other accounts and sources do not
        assert!(rule.matches(&req("999999999999", "incident-response")));
        assert!(rule.matches(&req("111111111111", "incident-response")));
        assert!(!rule.matches(&req("444444444444", "incident-response")));
        assert!(!rule.matches(&req("999999999999", "aws.kms")));
    }
}
