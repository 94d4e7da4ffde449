//! The seed file: keys (with tags, aliases, origins, material, states) and access keys to
//! create at start (`--seed seed.json`) or at runtime (`POST /_sim/seed`). See README.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use base64::Engine;
use serde::Deserialize;
use serde_json::Value;

use crate::clock::{from_epoch_seconds, parse_rfc3339};

use crate::error::KmsError;
use crate::model::{ImportType, KeyStateOverride, KeyUsage, KmsKeySpec, Origin};
use crate::store::{ImportOptions, KeyInfo, KeySpec, Store};

/// A seed document.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// Access key ID -> 12-digit account.
    #[serde(default)]
    pub accounts: BTreeMap<String, String>,
    /// Keys to create.
    #[serde(default)]
    pub keys: Vec<SeedKey>,
}

/// One key (or `count` identical keys) of a seed.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SeedKey {
    /// Fixed key ID (UUID, or `mrk-` + 32 hex for multi-Region keys); generated if absent.
    pub key_id: Option<String>,
    /// Account (default account if absent).
    pub account: Option<String>,
    /// Region (default Region if absent).
    pub region: Option<String>,
    /// `EXTERNAL` (default) or `AWS_KMS`.
    pub origin: Option<String>,
    /// Description (`{n}` is replaced by the index when `count` > 1).
    #[serde(default)]
    pub description: String,
    /// Tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Aliases (`{n}` is replaced by the index when `count` > 1).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Multi-Region key.
    #[serde(default)]
    pub multi_region: bool,
    /// `KeySpec` (default `SYMMETRIC_DEFAULT`): `HMAC_256`, `RSA_2048`, `ECC_NIST_P256`, ...
    pub key_spec: Option<String>,
    /// `KeyUsage` (default: the spec's first usage).
    pub key_usage: Option<String>,
    /// Replicas of a multi-Region key, one per Region; an EXTERNAL key's `material` is
    /// imported into each of them too.
    #[serde(default)]
    pub replica_regions: Vec<String>,
    /// Material to import (EXTERNAL keys): `"generate"` (right for the key spec), hex,
    /// `{"hex": ...}`, `{"base64": ...}` (e.g. a PKCS#8 key pair) or `{"utf8": ...}`; 32 bytes
    /// for symmetric keys.
    pub material: Option<Value>,
    /// Expiry of the material: epoch seconds, RFC 3339, or relative `"+30d"`, `"+12h"`,
    /// `"+15m"`, `"+90s"`. Absent = does not expire.
    pub valid_to: Option<Value>,
    /// `KeyMaterialDescription`.
    pub material_description: Option<String>,
    /// Second material imported as NEW_KEY_MATERIAL (PENDING_ROTATION), same forms as
    /// `material`.
    pub pending_material: Option<Value>,
    /// Rotate on demand after importing `pending_material`.
    #[serde(default)]
    pub rotate: bool,
    /// Delete the imported material afterwards (the key is then PendingImport with its
    /// CurrentKeyMaterialId kept, as after a revocation).
    #[serde(default)]
    pub revoked: bool,
    /// Final state: `Enabled`, `Disabled`, `PendingDeletion`, `PendingImport`, `Creating`,
    /// `Updating`, `PendingReplicaDeletion`, `Unavailable`.
    pub state: Option<String>,
    /// Window for `state: PendingDeletion` (default 30).
    pub pending_window_days: Option<u32>,
    /// Create this many keys alike (default 1).
    pub count: Option<u32>,
}

impl Seed {
    /// Parses a seed document.
    pub fn from_json(v: &Value) -> Result<Seed, String> {
        serde_json::from_value(v.clone()).map_err(|e| format!("invalid seed: {e}"))
    }

    /// Reads and parses a seed file.
    pub fn from_file(path: &std::path::Path) -> Result<Seed, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read seed {}: {e}", path.display()))?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| format!("seed {} is not JSON: {e}", path.display()))?;
        Self::from_json(&v)
    }

    /// Creates the keys and registers the access keys.
    pub(crate) fn apply(
        &self,
        store: &Store,
        accounts: &Mutex<HashMap<String, String>>,
    ) -> Result<Vec<KeyInfo>, KmsError> {
        {
            let mut map = accounts.lock().unwrap_or_else(|e| e.into_inner());
            for (akid, account) in &self.accounts {
                map.insert(akid.clone(), account.clone());
            }
        }
        let mut created = Vec::new();
        for (i, key) in self.keys.iter().enumerate() {
            let count = key.count.unwrap_or(1);
            if count > 100_000 {
                return Err(KmsError::validation(format!(
                    "seed key #{i}: count must be at most 100000"
                )));
            }
            for n in 0..count {
                let info = key
                    .create(store, n, count > 1)
                    .map_err(|e| KmsError::validation(format!("seed key #{i}: {e}")))?;
                created.push(info);
            }
        }
        Ok(created)
    }
}

/// Symmetric material (32 bytes) of a seed.
fn material_of(v: &Value) -> Result<[u8; 32], String> {
    let bytes = material_for(KmsKeySpec::SymmetricDefault, v)?;
    bytes
        .as_slice()
        .try_into()
        .map_err(|_| format!("material must be 32 bytes, got {}", bytes.len()))
}

/// The material bytes a seed gives for a key of `spec` (`generate`: fresh material of the
/// spec's form); the store checks them against the spec.
fn material_for(spec: KmsKeySpec, v: &Value) -> Result<Vec<u8>, String> {
    let generate = || spec.generate_material().map_err(|e| e.to_string());
    let bytes = match v {
        Value::String(s) if s == "generate" => return generate(),
        Value::String(s) => hex::decode(s).map_err(|_| {
            "material must be \"generate\", 64 hex characters, {\"hex\"}, {\"base64\"} or {\"utf8\"}"
                .to_string()
        })?,
        Value::Object(o) => {
            if let Some(h) = o.get("hex").and_then(Value::as_str) {
                hex::decode(h).map_err(|_| "material.hex is not hex".to_string())?
            } else if let Some(b) = o.get("base64").and_then(Value::as_str) {
                base64::engine::general_purpose::STANDARD
                    .decode(b)
                    .map_err(|_| "material.base64 is not base64".to_string())?
            } else if let Some(u) = o.get("utf8").and_then(Value::as_str) {
                u.as_bytes().to_vec()
            } else if o.get("generate").and_then(Value::as_bool) == Some(true) {
                return generate();
            } else {
                return Err("material object needs hex, base64, utf8 or generate".into());
            }
        }
        _ => return Err("material must be a string or an object".into()),
    };
    Ok(bytes)
}

fn time_of(v: &Value, now: SystemTime) -> Result<SystemTime, String> {
    match v {
        Value::Number(n) => n
            .as_f64()
            .and_then(from_epoch_seconds)
            .ok_or_else(|| "valid_to: bad epoch seconds".to_string()),
        Value::String(s) if s.starts_with('+') => {
            let body = &s[1..];
            let unit = body.chars().last().unwrap_or('?');
            let num = &body[..body.len() - unit.len_utf8()];
            let n: u64 = num
                .parse()
                .map_err(|_| format!("valid_to: bad relative time {s}"))?;
            let secs = match unit {
                'd' => n.saturating_mul(86_400),
                'h' => n.saturating_mul(3_600),
                'm' => n.saturating_mul(60),
                's' => n,
                _ => return Err(format!("valid_to: unit must be d, h, m or s in {s}")),
            };
            now.checked_add(Duration::from_secs(secs))
                .ok_or_else(|| format!("valid_to: {s} is too far ahead"))
        }
        Value::String(s) => parse_rfc3339(s).ok_or_else(|| format!("valid_to: bad time {s}")),
        _ => Err("valid_to must be a number or a string".into()),
    }
}

impl SeedKey {
    fn create(&self, store: &Store, n: u32, numbered: bool) -> Result<KeyInfo, String> {
        let subst = |s: &str| {
            if numbered {
                s.replace("{n}", &n.to_string())
            } else {
                s.to_string()
            }
        };
        let origin = match self.origin.as_deref() {
            None | Some("EXTERNAL") => Origin::External,
            Some("AWS_KMS") => Origin::AwsKms,
            Some(o) => return Err(format!("origin must be EXTERNAL or AWS_KMS, not {o}")),
        };
        if self.key_id.is_some() && numbered {
            return Err("key_id cannot be combined with count".into());
        }
        let key_spec = match self.key_spec.as_deref() {
            None => KmsKeySpec::SymmetricDefault,
            Some(s) => KmsKeySpec::parse(s).ok_or_else(|| format!("unknown key_spec {s}"))?,
        };
        let key_usage = match self.key_usage.as_deref() {
            None => None,
            Some(u) => Some(KeyUsage::parse(u).ok_or_else(|| format!("unknown key_usage {u}"))?),
        };
        let spec = KeySpec {
            account: self.account.clone(),
            region: self.region.clone(),
            origin,
            description: subst(&self.description),
            tags: self
                .tags
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            multi_region: self.multi_region,
            aliases: self.aliases.iter().map(|a| subst(a)).collect(),
            key_spec,
            key_usage,
        };
        let info = store
            .create_key_with_id(spec, self.key_id.clone())
            .map_err(|e| e.to_string())?;
        let now = store.clock().now();
        if let Some(m) = &self.material {
            if origin != Origin::External {
                return Err("material can only be imported into EXTERNAL keys".into());
            }
            let valid_to = self
                .valid_to
                .as_ref()
                .map(|v| time_of(v, now))
                .transpose()?;
            let bytes = material_for(key_spec, m)?;
            let options = ImportOptions {
                valid_to,
                import_type: ImportType::NewKeyMaterial,
                key_material_id: None,
                description: self.material_description.clone(),
            };
            store
                .import_key_material(&info.arn, &bytes, options.clone())
                .map_err(|e| e.to_string())?;
            for region in &self.replica_regions {
                let replica = store
                    .replicate(&info.arn, region)
                    .map_err(|e| e.to_string())?;
                let existing = ImportOptions {
                    import_type: ImportType::ExistingKeyMaterial,
                    ..options.clone()
                };
                store
                    .import_key_material(&replica.arn, &bytes, existing)
                    .map_err(|e| e.to_string())?;
            }
        } else {
            for region in &self.replica_regions {
                store
                    .replicate(&info.arn, region)
                    .map_err(|e| e.to_string())?;
            }
        }
        if let Some(m) = &self.pending_material {
            store
                .import_material(
                    &info.arn,
                    material_of(m)?,
                    ImportOptions {
                        import_type: ImportType::NewKeyMaterial,
                        ..ImportOptions::default()
                    },
                )
                .map_err(|e| e.to_string())?;
            if self.rotate {
                store
                    .rotate_on_demand(&info.arn)
                    .map_err(|e| e.to_string())?;
            }
        }
        if self.revoked {
            store
                .delete_material(&info.arn, None)
                .map_err(|e| e.to_string())?;
        }
        if let Some(state) = &self.state {
            let over = match state.as_str() {
                "Enabled" => KeyStateOverride::Enabled,
                "Disabled" => KeyStateOverride::Disabled,
                "PendingImport" => KeyStateOverride::PendingImport,
                "Creating" => KeyStateOverride::Creating,
                "Updating" => KeyStateOverride::Updating,
                "PendingReplicaDeletion" => KeyStateOverride::PendingReplicaDeletion,
                "Unavailable" => KeyStateOverride::Unavailable,
                "PendingDeletion" => {
                    store
                        .schedule_deletion(&info.arn, self.pending_window_days.unwrap_or(30))
                        .map_err(|e| e.to_string())?;
                    return Ok(info);
                }
                other => return Err(format!("unknown state {other}")),
            };
            store
                .set_key_state(&info.arn, over)
                .map_err(|e| e.to_string())?;
        }
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn relative_and_absolute_times() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(
            time_of(&json!("+2d"), now),
            Ok(now + Duration::from_secs(172_800))
        );
        assert_eq!(
            time_of(&json!("+90s"), now),
            Ok(now + Duration::from_secs(90))
        );
        assert!(time_of(&json!("+2w"), now).is_err());
        assert!(time_of(&json!("+é"), now).is_err());
        assert!(time_of(&json!("2030-01-01T00:00:00Z"), now).is_ok());
    }

    #[test]
    fn material_forms() {
        assert_eq!(material_of(&json!("00".repeat(32))), Ok([0u8; 32]));
        assert_eq!(
            material_of(&json!({"utf8": "a".repeat(32)})),
            Ok([b'a'; 32])
        );
        assert!(material_of(&json!("abcd")).is_err());
        assert!(material_of(&json!("generate")).is_ok());
    }

    #[test]
    fn seeds_create_hmac_keys_and_multi_region_replicas_with_their_material() {
        // GIVEN a seed with an imported HMAC key and a replicated multi-Region key
        let seed = Seed::from_json(&json!({"keys": [
            {"key_spec": "HMAC_384", "key_usage": "GENERATE_VERIFY_MAC", "material": "generate"},
            {"multi_region": true, "material": "generate", "replica_regions": ["eu-west-1"]}
        ]}))
        .expect("seed");
        let store = Store::new(crate::clock::SimClock::new(), "111111111111", "us-east-1");
        // WHEN it is applied
        let keys = seed
            .apply(&store, &Mutex::new(HashMap::new()))
            .expect("applies");
        // THEN the HMAC key is Enabled with its spec and makes MACs
        let hmac = store.describe(&keys[0].arn).expect("hmac key");
        assert_eq!(hmac.key_spec, KmsKeySpec::Hmac384);
        assert_eq!(
            store.generate_mac(&keys[0].arn, b"m").map(|m| m.len()),
            Ok(48)
        );
        // AND the replica exists in eu-west-1, Enabled with the primary's material
        let replica_arn = keys[1].arn.replace("us-east-1", "eu-west-1");
        let replica = store.describe(&replica_arn).expect("replica");
        let primary = store.describe(&keys[1].arn).expect("primary");
        assert_eq!(replica.state, crate::model::KeyState::Enabled);
        assert_eq!(
            replica.materials[0].key_material_id,
            primary.materials[0].key_material_id
        );
        // AND unknown specs are refused
        let bad = Seed::from_json(&json!({"keys": [{"key_spec": "AES_512"}]})).expect("parses");
        assert!(bad.apply(&store, &Mutex::new(HashMap::new())).is_err());
    }
}
