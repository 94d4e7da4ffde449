//! The state behind the store's mutex: keys, aliases and import tokens, with the lookups
//! every operation shares.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::crypto::{WrappingAlgorithm, WrappingKeyRef};
use crate::error::KmsError;
use crate::model::KeyView;

use super::key::Key;

/// Maximum number of on-demand rotations per key.
pub const MAX_ON_DEMAND_ROTATIONS: u32 = 25;
/// Maximum number of tags per key.
pub const MAX_TAGS: usize = 50;
/// How far ahead `ValidTo` may be.
pub const MAX_VALID_TO: Duration = Duration::from_secs(365 * 24 * 3600);
/// How long import parameters stay valid.
pub const IMPORT_PARAMETERS_TTL: Duration = Duration::from_secs(24 * 3600);

/// The whole simulated KMS.
#[derive(Default)]
pub(super) struct Inner {
    pub(super) keys: HashMap<String, Key>,
    pub(super) aliases: BTreeMap<(String, String, String), Alias>,
    pub(super) tokens: HashMap<Vec<u8>, ImportTokenInfo>,
    pub(super) seq: u64,
    pub(super) next_deadline: Option<SystemTime>,
    pub(super) kms_events: Vec<Value>,
}

/// An alias of a key.
#[derive(Debug, Clone)]
pub(super) struct Alias {
    pub(super) account: String,
    pub(super) region: String,
    pub(super) name: String,
    pub(super) target: String,
    pub(super) creation_date: SystemTime,
    pub(super) last_updated: SystemTime,
    pub(super) seq: u64,
}

impl Alias {
    pub(super) fn arn(&self) -> String {
        format!("arn:aws:kms:{}:{}:{}", self.region, self.account, self.name)
    }
}

/// What an import token was issued for.
#[derive(Debug, Clone)]
pub(super) struct ImportTokenInfo {
    pub(super) key_id: String,
    pub(super) wrapping: WrappingKeyRef,
    pub(super) algorithm: WrappingAlgorithm,
    pub(super) valid_to: SystemTime,
}

/// The state's map key of the replica of `id` in `region`.
pub(super) fn replica_handle(id: &str, region: &str) -> String {
    format!("{id}@{region}")
}

/// Mutable access to the state for the wire operations (see `api`).
pub(crate) struct InnerOps<'a> {
    pub(super) inner: &'a mut Inner,
}

impl Inner {
    pub(super) fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub(super) fn get(&self, id: &str) -> Result<&Key, KmsError> {
        self.keys.get(id).ok_or_else(|| {
            KmsError::client("NotFoundException", format!("Key '{id}' does not exist"))
        })
    }

    pub(super) fn get_mut(&mut self, id: &str) -> Result<&mut Key, KmsError> {
        self.keys.get_mut(id).ok_or_else(|| {
            KmsError::client("NotFoundException", format!("Key '{id}' does not exist"))
        })
    }

    /// The key `id` in `region`: the key itself, or its multi-Region replica there.
    pub(super) fn find(&self, id: &str, region: &str) -> Option<&Key> {
        match self.keys.get(id) {
            Some(k) if k.region == region => Some(k),
            _ => self.keys.get(&replica_handle(id, region)),
        }
    }

    /// The keys of a multi-Region key `id` (primary first, then replicas in creation order).
    pub(super) fn multi_region_set(&self, id: &str) -> Vec<&Key> {
        let mut set: Vec<&Key> = self
            .keys
            .values()
            .filter(|k| k.multi_region && k.id == id)
            .collect();
        set.sort_by_key(|k| (k.primary_region.is_some(), k.seq));
        set
    }

    /// `MultiRegionConfiguration` of a multi-Region key (`None` for single-Region keys).
    fn multi_region_configuration(&self, key: &Key) -> Option<Value> {
        if !key.multi_region {
            return None;
        }
        let set = self.multi_region_set(&key.id);
        let entry = |k: &Key| json!({"Arn": k.arn, "Region": k.region});
        let primary = set
            .iter()
            .find(|k| k.primary_region.is_none())
            .map(|k| entry(k));
        let replicas: Vec<Value> = set
            .iter()
            .filter(|k| k.primary_region.is_some())
            .map(|k| entry(k))
            .collect();
        let kind = if key.primary_region.is_some() {
            "REPLICA"
        } else {
            "PRIMARY"
        };
        Some(json!({
            "MultiRegionKeyType": kind,
            "PrimaryKey": primary,
            "ReplicaKeys": replicas,
        }))
    }

    pub(super) fn view(&self, id: &str) -> Option<KeyView> {
        let key = self.keys.get(id)?;
        let aliases = self
            .aliases
            .values()
            .filter(|a| a.target == key.handle)
            .map(|a| a.name.clone())
            .collect();
        Some(key.view(aliases))
    }

    pub(super) fn describe_by_id(&self, id: &str) -> Result<Value, KmsError> {
        let key = self.get(id)?;
        let config = self.multi_region_configuration(key);
        Ok(json!({ "KeyMetadata": key.metadata(config) }))
    }
}
