//! Paged lists: ListKeys, ListAliases, ListResourceTags, ListKeyRotations and their markers.

use serde_json::{Map, Value, json};

use crate::clock::epoch_seconds;
use crate::error::KmsError;
use crate::model::Origin;

use super::key::Key;
use super::resolve::{KeyRef, parse_key_ref};
use super::spec::{Access, Caller};
use super::state::{Alias, InnerOps};

/// Marker encoding for paged lists: opaque to clients, tamper-evident enough to answer
/// InvalidMarkerException.
pub(crate) fn encode_marker(kind: &str, value: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("kms-sim:{kind}:{value}"))
}

pub(crate) fn decode_marker(kind: &str, marker: &str) -> Result<String, KmsError> {
    use base64::Engine;
    let invalid = || {
        KmsError::client(
            "InvalidMarkerException",
            "The marker that specifies where pagination should next begin is not valid.",
        )
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(marker)
        .map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    text.strip_prefix(&format!("kms-sim:{kind}:"))
        .map(str::to_string)
        .ok_or_else(invalid)
}

/// The position a marker names (0 without a marker).
fn decode_position<T: std::str::FromStr + Default>(
    kind: &str,
    marker: Option<&str>,
) -> Result<T, KmsError> {
    match marker {
        Some(m) => decode_marker(kind, m)?
            .parse()
            .map_err(|_| KmsError::client("InvalidMarkerException", "The marker is not valid.")),
        None => Ok(T::default()),
    }
}

pub(super) fn page<T: Clone>(
    items: &[T],
    start: usize,
    limit: usize,
    marker_of: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    let end = start.saturating_add(limit).min(items.len());
    let slice = items.get(start..end).unwrap_or(&[]).to_vec();
    let next = items.get(end).map(marker_of);
    (slice, next)
}

pub(super) fn list_response(field: &str, entries: Vec<Value>, next: Option<String>) -> Value {
    let mut m = Map::new();
    m.insert(field.into(), Value::Array(entries));
    if let Some(n) = next {
        m.insert("NextMarker".into(), json!(n));
        m.insert("Truncated".into(), json!(true));
    } else {
        m.insert("Truncated".into(), json!(false));
    }
    Value::Object(m)
}

impl InnerOps<'_> {
    pub fn list_keys(
        &mut self,
        caller: &Caller,
        limit: usize,
        marker: Option<&str>,
    ) -> Result<Value, KmsError> {
        let start_seq: u64 = decode_position("keys", marker)?;
        let mut keys: Vec<&Key> = self
            .inner
            .keys
            .values()
            .filter(|k| k.account == caller.account && k.region == caller.region)
            .filter(|k| k.seq >= start_seq)
            .collect();
        keys.sort_by_key(|k| k.seq);
        let (page, next) = page(&keys, 0, limit, |k| {
            encode_marker("keys", &k.seq.to_string())
        });
        let entries = page
            .iter()
            .map(|k| json!({"KeyArn": k.arn, "KeyId": k.id}))
            .collect();
        Ok(list_response("Keys", entries, next))
    }

    pub fn list_aliases(
        &mut self,
        caller: &Caller,
        key: Option<&str>,
        limit: usize,
        marker: Option<&str>,
    ) -> Result<Value, KmsError> {
        let target = match key {
            Some(k) => {
                // ListAliases takes a key ID or key ARN, not an alias.
                if matches!(
                    parse_key_ref(k)?,
                    KeyRef::AliasName(_) | KeyRef::AliasArn { .. }
                ) {
                    return Err(KmsError::invalid_key_id(k));
                }
                Some(
                    self.inner
                        .resolve(caller, k, false, Access::Owner, "ListAliases")?,
                )
            }
            None => None,
        };
        let start_seq: u64 = decode_position("aliases", marker)?;
        let mut aliases: Vec<&Alias> = self
            .inner
            .aliases
            .values()
            .filter(|a| a.account == caller.account && a.region == caller.region)
            .filter(|a| target.as_ref().is_none_or(|t| &a.target == t))
            .filter(|a| a.seq >= start_seq)
            .collect();
        // Creation order, so markers stay stable while aliases are added.
        aliases.sort_by_key(|a| a.seq);
        let (page, next) = page(&aliases, 0, limit, |a| {
            encode_marker("aliases", &a.seq.to_string())
        });
        let entries = page
            .iter()
            .map(|a| {
                json!({
                    "AliasArn": a.arn(),
                    "AliasName": a.name,
                    "CreationDate": epoch_seconds(a.creation_date),
                    "LastUpdatedDate": epoch_seconds(a.last_updated),
                    "TargetKeyId": a.target.split('@').next().unwrap_or(&a.target),
                })
            })
            .collect();
        Ok(list_response("Aliases", entries, next))
    }

    pub fn list_resource_tags(
        &mut self,
        caller: &Caller,
        key: &str,
        limit: usize,
        marker: Option<&str>,
    ) -> Result<Value, KmsError> {
        let id = self
            .inner
            .resolve(caller, key, false, Access::Read, "ListResourceTags")?;
        let k = self.inner.get(&id)?;
        let start = match marker {
            Some(m) => Some(decode_marker("tags", m)?),
            None => None,
        };
        let tags: Vec<(String, String)> = k
            .tags
            .iter()
            .filter(|(t, _)| start.as_ref().is_none_or(|s| *t >= s))
            .map(|(a, b)| (a.clone(), b.clone()))
            .collect();
        let (page, next) = page(&tags, 0, limit, |(t, _)| encode_marker("tags", t));
        let entries = page
            .iter()
            .map(|(t, v)| json!({"TagKey": t, "TagValue": v}))
            .collect();
        Ok(list_response("Tags", entries, next))
    }

    pub fn list_key_rotations(
        &mut self,
        caller: &Caller,
        key: &str,
        all_material: bool,
        limit: usize,
        marker: Option<&str>,
    ) -> Result<Value, KmsError> {
        let id = self
            .inner
            .resolve(caller, key, false, Access::Owner, "ListKeyRotations")?;
        let k = self.inner.get(&id)?;
        k.require_symmetric()?;
        let start: usize = decode_position("rotations", marker)?;
        let entries: Vec<Value> = k
            .materials
            .iter()
            .filter(|m| all_material || m.rotation_date.is_some())
            .map(|m| {
                let mut e = Map::new();
                e.insert("KeyId".into(), json!(k.id));
                e.insert("KeyMaterialId".into(), json!(m.id));
                if let Some(d) = &m.description {
                    e.insert("KeyMaterialDescription".into(), json!(d));
                }
                if k.origin == Origin::External {
                    e.insert("ImportState".into(), json!(m.import_state().as_str()));
                }
                e.insert("KeyMaterialState".into(), json!(m.state.as_str()));
                if let Some(x) = m.expiration {
                    e.insert("ExpirationModel".into(), json!(x.as_str()));
                }
                if let Some(t) = m.valid_to {
                    e.insert("ValidTo".into(), json!(epoch_seconds(t)));
                }
                if let Some(t) = m.rotation_date {
                    e.insert("RotationDate".into(), json!(epoch_seconds(t)));
                }
                if let Some(t) = m.rotation_type {
                    e.insert("RotationType".into(), json!(t));
                }
                Value::Object(e)
            })
            .collect();
        let indexed: Vec<(usize, Value)> = entries.into_iter().enumerate().collect();
        let (page, next) = page(&indexed, start, limit, |(i, _)| {
            encode_marker("rotations", &i.to_string())
        });
        Ok(list_response(
            "Rotations",
            page.into_iter().map(|(_, v)| v).collect(),
            next,
        ))
    }
}
