//! [`Store`]: the state behind one mutex, the entry of the wire operations (`with`) and the
//! in-process test API (seeding and inspection without HTTP, quotas or faults, under the same
//! KMS rules and errors).

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::clock::SimClock;
use crate::error::KmsError;
use crate::model::{KeyState, KeyStateOverride, KeyView};

use super::import::check_valid_to;
use super::key::Key;
use super::labels::normalise_alias;
use super::replicas::ReplicaRequest;
use super::resolve::{KeyRef, is_account, parse_key_ref};
use super::spec::{
    Access, Caller, CreateKeyRequest, ImportOptions, ImportRequest, KeyInfo, KeySpec,
};
use super::state::{Inner, InnerOps};

/// The simulated KMS state, shared by the HTTP server and the test API.
pub struct Store {
    inner: Mutex<Inner>,
    clock: SimClock,
    default_account: String,
    default_region: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("default_account", &self.default_account)
            .field("default_region", &self.default_region)
            .finish_non_exhaustive()
    }
}

impl Store {
    pub(crate) fn new(clock: SimClock, default_account: &str, default_region: &str) -> Self {
        Store {
            inner: Mutex::new(Inner::default()),
            clock,
            default_account: default_account.to_string(),
            default_region: default_region.to_string(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let now = self.clock.now();
        guard.sweep(now);
        guard
    }

    pub(crate) fn clock(&self) -> &SimClock {
        &self.clock
    }

    /// The account and Region keys land in when none is given.
    pub fn default_caller(&self) -> Caller {
        Caller {
            account: self.default_account.clone(),
            region: self.default_region.clone(),
        }
    }

    /// Where the Store API looks up a key reference: the key's own scope for ARNs and bare IDs,
    /// the default scope for alias names.
    fn admin_resolve(&self, inner: &Inner, key: &str) -> Result<(Caller, String), KmsError> {
        let caller = match parse_key_ref(key)? {
            KeyRef::Id(id) => match inner.keys.get(&id) {
                Some(k) => Caller {
                    account: k.account.clone(),
                    region: k.region.clone(),
                },
                None => self.default_caller(),
            },
            KeyRef::KeyArn {
                region, account, ..
            }
            | KeyRef::AliasArn {
                region, account, ..
            } => Caller { account, region },
            KeyRef::AliasName(_) => self.default_caller(),
        };
        let id = inner.resolve(&caller, key, true, Access::Admin, "")?;
        Ok((caller, id))
    }

    // ----------------------------------------------------------------- wire operations

    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut InnerOps<'_>, SystemTime) -> R) -> R {
        let now = self.clock.now();
        let mut inner = self.lock();
        let mut ops = InnerOps { inner: &mut inner };
        f(&mut ops, now)
    }

    /// Creates a key directly (no HTTP, no quotas).
    ///
    /// # Panics
    /// If the spec is invalid (bad account, duplicate alias, bad tag): this is a test-seeding
    /// helper; use [`Store::try_create_key`] to get the error instead.
    pub fn create_key(&self, spec: KeySpec) -> KeyInfo {
        match self.try_create_key(spec) {
            Ok(info) => info,
            Err(e) => panic!("kms-sim: create_key failed: {e}"),
        }
    }

    /// Creates a key directly; the error is the one CreateKey/CreateAlias would return.
    pub fn try_create_key(&self, spec: KeySpec) -> Result<KeyInfo, KmsError> {
        self.create_key_with_id(spec, None)
    }

    /// [`Store::try_create_key`] with a fixed key ID (seed files).
    pub(crate) fn create_key_with_id(
        &self,
        spec: KeySpec,
        fixed_id: Option<String>,
    ) -> Result<KeyInfo, KmsError> {
        let caller = Caller {
            account: spec.account.unwrap_or_else(|| self.default_account.clone()),
            region: spec.region.unwrap_or_else(|| self.default_region.clone()),
        };
        if !is_account(&caller.account) {
            return Err(KmsError::validation(format!(
                "account must be 12 digits: {}",
                caller.account
            )));
        }
        let usage = match spec.key_usage {
            Some(u) => spec.key_spec.usage(Some(u))?,
            None => spec.key_spec.usages()[0],
        };
        let now = self.clock.now();
        let mut inner = self.lock();
        let request = CreateKeyRequest {
            origin: spec.origin,
            description: spec.description,
            tags: spec.tags,
            multi_region: spec.multi_region,
            aliases: spec.aliases.iter().map(|a| normalise_alias(a)).collect(),
            fixed_id,
            spec: spec.key_spec,
            usage,
        };
        let id = inner.create_key(&caller, request, now)?;
        let key = inner
            .keys
            .get(&id)
            .ok_or_else(|| KmsError::server("KMSInternalException", "key vanished"))?;
        Ok(KeyInfo {
            key_id: key.id.clone(),
            arn: key.arn.clone(),
            account: key.account.clone(),
            region: key.region.clone(),
        })
    }

    /// Imports 32 bytes of plaintext key material directly (no wrapping, no token), with the
    /// same rules as ImportKeyMaterial. Returns the key material ID.
    pub fn import_material(
        &self,
        key: &str,
        material: [u8; 32],
        options: ImportOptions,
    ) -> Result<String, KmsError> {
        self.import_key_material(key, &material, options)
    }

    /// [`Store::import_material`] for material of any key spec (HMAC keys: 28-128 bytes).
    pub fn import_key_material(
        &self,
        key: &str,
        material: &[u8],
        options: ImportOptions,
    ) -> Result<String, KmsError> {
        let now = self.clock.now();
        let mut inner = self.lock();
        let (_, id) = self.admin_resolve(&inner, key)?;
        if let Some(t) = options.valid_to {
            check_valid_to(t, now)?;
        }
        let (_, material_id) = inner.import(
            &id,
            ImportRequest {
                material: material.to_vec(),
                valid_to: options.valid_to,
                import_type: options.import_type,
                key_material_id: options.key_material_id,
                description: options.description,
            },
        )?;
        Ok(material_id)
    }

    /// DeleteImportedKeyMaterial without HTTP. Returns the deleted material's ID (`None` if the
    /// key never had material).
    pub fn delete_material(
        &self,
        key: &str,
        key_material_id: Option<&str>,
    ) -> Result<Option<String>, KmsError> {
        let mut inner = self.lock();
        let (caller, _) = self.admin_resolve(&inner, key)?;
        let (_, id) =
            inner.delete_imported_key_material(&caller, key, key_material_id, Access::Admin)?;
        Ok(id)
    }

    /// RotateKeyOnDemand without HTTP.
    pub fn rotate_on_demand(&self, key: &str) -> Result<(), KmsError> {
        let now = self.clock.now();
        let mut inner = self.lock();
        let (caller, _) = self.admin_resolve(&inner, key)?;
        inner.rotate_key_on_demand(&caller, key, now, Access::Admin)?;
        Ok(())
    }

    /// Forces a key state, including states the API cannot reach (`Creating`, `Updating`,
    /// `PendingReplicaDeletion`, ...).
    pub fn set_key_state(&self, key: &str, state: KeyStateOverride) -> Result<(), KmsError> {
        let now = self.clock.now();
        let mut inner = self.lock();
        let (_, id) = self.admin_resolve(&inner, key)?;
        let k = inner
            .keys
            .get_mut(&id)
            .ok_or_else(|| KmsError::key_not_found(key))?;
        k.deletion_date = None;
        k.pending_window_days = None;
        k.state = match state {
            KeyStateOverride::Creating => KeyState::Creating,
            KeyStateOverride::Updating => KeyState::Updating,
            KeyStateOverride::PendingReplicaDeletion => KeyState::PendingReplicaDeletion,
            KeyStateOverride::Unavailable => KeyState::Unavailable,
            KeyStateOverride::Enabled => KeyState::Enabled,
            KeyStateOverride::Disabled => KeyState::Disabled,
            KeyStateOverride::PendingImport => KeyState::PendingImport,
            KeyStateOverride::PendingDeletion { window_days } => {
                k.deletion_date = Some(now + Duration::from_secs(u64::from(window_days) * 86_400));
                k.pending_window_days = Some(window_days);
                KeyState::PendingDeletion
            }
        };
        inner.recompute_deadline();
        Ok(())
    }

    /// What DescribeKey would show, plus every material; `None` if the key does not exist
    /// (or was deleted after its pending window).
    pub fn describe(&self, key: &str) -> Option<KeyView> {
        let inner = self.lock();
        let (_, id) = self.admin_resolve(&inner, key).ok()?;
        inner.view(&id)
    }

    /// Every key, in creation order.
    pub fn keys(&self) -> Vec<KeyView> {
        let inner = self.lock();
        let mut keys: Vec<&Key> = inner.keys.values().collect();
        keys.sort_by_key(|k| k.seq);
        keys.iter().filter_map(|k| inner.view(&k.handle)).collect()
    }

    /// ReplicateKey without HTTP: a replica of the multi-Region primary `key` in `region`.
    pub fn replicate(&self, key: &str, region: &str) -> Result<KeyInfo, KmsError> {
        let now = self.clock.now();
        let mut inner = self.lock();
        let (caller, _) = self.admin_resolve(&inner, key)?;
        let request = ReplicaRequest {
            region: region.to_string(),
            description: None,
            tags: Vec::new(),
            policy: None,
        };
        let handle = inner.replicate(&caller, key, &request, Access::Admin, now)?;
        let k = inner.get(&handle)?;
        Ok(KeyInfo {
            key_id: k.id.clone(),
            arn: k.arn.clone(),
            account: k.account.clone(),
            region: k.region.clone(),
        })
    }

    /// Adds an alias to a key.
    pub fn add_alias(&self, key: &str, alias: &str) -> Result<(), KmsError> {
        let now = self.clock.now();
        let mut inner = self.lock();
        let (caller, id) = self.admin_resolve(&inner, key)?;
        inner.create_alias(&caller, &normalise_alias(alias), &id, now)
    }

    /// Sets a tag on a key.
    pub fn tag(&self, key: &str, tag_key: &str, tag_value: &str) -> Result<(), KmsError> {
        let mut inner = self.lock();
        let (caller, _) = self.admin_resolve(&inner, key)?;
        inner.tag_resource(
            &caller,
            key,
            vec![(tag_key.to_string(), tag_value.to_string())],
            Access::Admin,
        )
    }

    /// ScheduleKeyDeletion without HTTP.
    pub fn schedule_deletion(&self, key: &str, window_days: u32) -> Result<SystemTime, KmsError> {
        let now = self.clock.now();
        let mut inner = self.lock();
        let (caller, _) = self.admin_resolve(&inner, key)?;
        let v = inner.schedule_key_deletion(&caller, key, Some(i64::from(window_days)), now)?;
        v.get("DeletionDate")
            .and_then(Value::as_f64)
            .and_then(crate::clock::from_epoch_seconds)
            .ok_or_else(|| KmsError::server("KMSInternalException", "no deletion date"))
    }

    /// Encrypt without HTTP (same key-state rules); returns the ciphertext blob.
    pub fn encrypt(&self, key: &str, plaintext: &[u8]) -> Result<Vec<u8>, KmsError> {
        let inner = self.lock();
        let (caller, _) = self.admin_resolve(&inner, key)?;
        let sealed = inner.encrypt(
            &caller,
            key,
            plaintext,
            &BTreeMap::new(),
            "Encrypt",
            Access::Admin,
        )?;
        Ok(sealed.blob)
    }

    /// GenerateMac without HTTP with the key's MAC algorithm (same key-state rules).
    pub fn generate_mac(&self, key: &str, message: &[u8]) -> Result<Vec<u8>, KmsError> {
        let inner = self.lock();
        let (caller, _) = self.admin_resolve(&inner, key)?;
        let algorithm = inner.mac_algorithm_of(&caller, key)?;
        let (mac, _) = inner.generate_mac(&caller, key, algorithm, message, Access::Admin)?;
        Ok(mac)
    }

    /// VerifyMac without HTTP: `Ok(())` when valid, `KMSInvalidMacException` otherwise.
    pub fn verify_mac(&self, key: &str, message: &[u8], mac: &[u8]) -> Result<(), KmsError> {
        let inner = self.lock();
        let (caller, _) = self.admin_resolve(&inner, key)?;
        let algorithm = inner.mac_algorithm_of(&caller, key)?;
        inner.verify_mac(&caller, key, algorithm, message, mac, Access::Admin)?;
        Ok(())
    }

    /// Decrypt without HTTP (same key-state rules).
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>, KmsError> {
        let inner = self.lock();
        let caller = self.default_caller();
        let (plain, _, _) =
            inner.decrypt(&caller, ciphertext, &BTreeMap::new(), None, Access::Admin)?;
        Ok(plain)
    }

    /// The events KMS itself would have sent to EventBridge so far (source `aws.kms`):
    /// `KMS Imported Key Material Expiration` when expired material is deleted,
    /// `KMS CMK Rotation` on RotateKeyOnDemand, `KMS CMK Deletion` when a key's pending
    /// window ends. Full EventBridge envelopes, ready to feed to a handler.
    pub fn kms_events(&self) -> Vec<Value> {
        self.lock().kms_events.clone()
    }

    /// Forgets the KMS events.
    pub fn clear_kms_events(&self) {
        self.lock().kms_events.clear();
    }

    /// Removes every key, alias and import token.
    pub fn clear(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *inner = Inner::default();
    }
}
