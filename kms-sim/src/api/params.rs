//! Typed access to a KMS JSON request body, with KMS's validation messages.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;

use crate::clock::{from_epoch_seconds, parse_rfc3339};
use crate::error::KmsError;

fn serialization(message: impl Into<String>) -> KmsError {
    KmsError::client("SerializationException", message)
}

/// Typed access to a request body with KMS's validation messages.
pub(crate) struct Params<'a> {
    body: &'a Value,
}

impl<'a> Params<'a> {
    pub fn new(body: &'a Value) -> Self {
        Params { body }
    }

    pub fn raw(&self, name: &str) -> Option<&'a Value> {
        match self.body.get(name) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    /// The member name as KMS's validation messages spell it (lower camel case).
    fn wire_name(name: &str) -> String {
        let mut c = name.chars();
        match c.next() {
            Some(f) => f.to_lowercase().chain(c).collect(),
            None => String::new(),
        }
    }

    pub fn opt_str(&self, name: &str) -> Result<Option<&'a str>, KmsError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(serialization(format!(
                "Unexpected value type for member {name}: expected a string"
            ))),
        }
    }

    pub fn req_str(&self, name: &str) -> Result<&'a str, KmsError> {
        self.opt_str(name)?
            .ok_or_else(|| KmsError::missing(&Self::wire_name(name)))
    }

    /// A key identifier: required, 1-2048 characters.
    pub fn key_id(&self, name: &str) -> Result<&'a str, KmsError> {
        let v = self.req_str(name)?;
        if v.is_empty() {
            return Err(KmsError::constraint(
                v,
                &Self::wire_name(name),
                "Member must have length greater than or equal to 1",
            ));
        }
        if v.len() > 2048 {
            return Err(KmsError::constraint(
                "...",
                &Self::wire_name(name),
                "Member must have length less than or equal to 2048",
            ));
        }
        Ok(v)
    }

    pub fn opt_i64(&self, name: &str) -> Result<Option<i64>, KmsError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| serialization(format!("Member {name} must be an integer"))),
            Some(_) => Err(serialization(format!(
                "Unexpected value type for member {name}: expected a number"
            ))),
        }
    }

    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, KmsError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(serialization(format!(
                "Unexpected value type for member {name}: expected a boolean"
            ))),
        }
    }

    pub fn opt_blob(&self, name: &str) -> Result<Option<Vec<u8>>, KmsError> {
        match self.opt_str(name)? {
            None => Ok(None),
            Some(s) => B64
                .decode(s)
                .map(Some)
                .map_err(|_| serialization(format!("Member {name} is not valid base64"))),
        }
    }

    pub fn req_blob(&self, name: &str) -> Result<Vec<u8>, KmsError> {
        self.opt_blob(name)?
            .ok_or_else(|| KmsError::missing(&Self::wire_name(name)))
    }

    /// A required blob of 1 to `max` bytes (the value is never echoed: it may be secret).
    pub fn sized_blob(&self, name: &str, max: usize) -> Result<Vec<u8>, KmsError> {
        let blob = self.req_blob(name)?;
        if blob.is_empty() || blob.len() > max {
            return Err(KmsError::constraint(
                "***",
                &Self::wire_name(name),
                &format!(
                    "Member must have length less than or equal to {max} and greater than or equal to 1"
                ),
            ));
        }
        Ok(blob)
    }

    /// `DryRun`: called after every check, DryRunOperationException instead of the result.
    pub fn refuse_dry_run(&self) -> Result<(), KmsError> {
        if self.opt_bool("DryRun")?.unwrap_or(false) {
            return Err(KmsError::dry_run());
        }
        Ok(())
    }

    /// A timestamp: epoch seconds (what the SDKs send) or an ISO 8601 string.
    pub fn opt_time(&self, name: &str) -> Result<Option<std::time::SystemTime>, KmsError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_f64()
                .and_then(from_epoch_seconds)
                .map(Some)
                .ok_or_else(|| serialization(format!("Member {name} is not a valid timestamp"))),
            Some(Value::String(s)) => parse_rfc3339(s)
                .or_else(|| s.parse::<f64>().ok().and_then(from_epoch_seconds))
                .map(Some)
                .ok_or_else(|| serialization(format!("Member {name} is not a valid timestamp"))),
            Some(_) => Err(serialization(format!(
                "Unexpected value type for member {name}: expected a timestamp"
            ))),
        }
    }

    /// An enum member: `None` if absent; ValidationException listing the allowed values.
    pub fn opt_enum(&self, name: &str, allowed: &[&str]) -> Result<Option<&'a str>, KmsError> {
        match self.opt_str(name)? {
            None => Ok(None),
            Some(v) if allowed.contains(&v) => Ok(Some(v)),
            Some(v) => Err(KmsError::constraint(
                v,
                &Self::wire_name(name),
                &format!(
                    "Member must satisfy enum value set: [{}]",
                    allowed.join(", ")
                ),
            )),
        }
    }

    /// `Limit` within [1, max], default `default`.
    pub fn limit(&self, max: i64, default: i64) -> Result<usize, KmsError> {
        let limit = self.opt_i64("Limit")?.unwrap_or(default);
        if limit < 1 {
            return Err(KmsError::constraint(
                &limit.to_string(),
                "limit",
                "Member must have value greater than or equal to 1",
            ));
        }
        if limit > max {
            return Err(KmsError::constraint(
                &limit.to_string(),
                "limit",
                &format!("Member must have value less than or equal to {max}"),
            ));
        }
        Ok(usize::try_from(limit).unwrap_or(1))
    }

    pub fn marker(&self) -> Result<Option<&'a str>, KmsError> {
        let m = self.opt_str("Marker")?;
        if let Some(m) = m
            && (m.is_empty() || m.len() > 1024)
        {
            return Err(KmsError::constraint(
                "...",
                "marker",
                "Member must have length between 1 and 1024",
            ));
        }
        Ok(m)
    }

    pub fn tags(&self, name: &str) -> Result<Vec<(String, String)>, KmsError> {
        let Some(v) = self.raw(name) else {
            return Ok(Vec::new());
        };
        let arr = v
            .as_array()
            .ok_or_else(|| serialization(format!("Member {name} must be a list")))?;
        arr.iter()
            .map(|t| {
                let key = t.get("TagKey").and_then(Value::as_str);
                let value = t.get("TagValue").and_then(Value::as_str);
                match (key, value) {
                    (Some(k), Some(v)) => Ok((k.to_string(), v.to_string())),
                    (None, _) => Err(KmsError::missing("tags.member.tagKey")),
                    (_, None) => Err(KmsError::missing("tags.member.tagValue")),
                }
            })
            .collect()
    }

    pub fn string_list(&self, name: &str) -> Result<Vec<String>, KmsError> {
        let Some(v) = self.raw(name) else {
            return Err(KmsError::missing(&Self::wire_name(name)));
        };
        v.as_array()
            .ok_or_else(|| serialization(format!("Member {name} must be a list")))?
            .iter()
            .map(|s| {
                s.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| serialization(format!("Member {name} must hold strings")))
            })
            .collect()
    }

    /// `EncryptionContext`.
    pub fn context(&self) -> Result<BTreeMap<String, String>, KmsError> {
        self.context_member("EncryptionContext")
    }

    /// An encryption context member (`EncryptionContext`, `SourceEncryptionContext`, ...).
    pub fn context_member(&self, name: &str) -> Result<BTreeMap<String, String>, KmsError> {
        let Some(v) = self.raw(name) else {
            return Ok(BTreeMap::new());
        };
        let obj = v
            .as_object()
            .ok_or_else(|| serialization(format!("{name} must be a map")))?;
        obj.iter()
            .map(|(k, v)| {
                v.as_str()
                    .map(|s| (k.clone(), s.to_string()))
                    .ok_or_else(|| serialization(format!("{name} values must be strings")))
            })
            .collect()
    }

    pub fn key_material_id(&self) -> Result<Option<&'a str>, KmsError> {
        let Some(id) = self.opt_str("KeyMaterialId")? else {
            return Ok(None);
        };
        if id.len() != 64 {
            return Err(KmsError::constraint(
                id,
                "keyMaterialId",
                if id.len() < 64 {
                    "Member must have length greater than or equal to 64"
                } else {
                    "Member must have length less than or equal to 64"
                },
            ));
        }
        if !id.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')) {
            return Err(KmsError::constraint(
                id,
                "keyMaterialId",
                "Member must satisfy regular expression pattern: ^[a-f0-9]+$",
            ));
        }
        Ok(Some(id))
    }
}
