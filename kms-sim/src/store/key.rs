//! One key and its materials: the key-state rules, DescribeKey's metadata and the test view.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde_json::{Map, Value, json};

use crate::clock::epoch_seconds;
use crate::crypto;
use crate::error::KmsError;
use crate::model::{
    ExpirationModel, ImportState, KeyMaterialState, KeyState, KeyUsage, KeyView, KmsKeySpec,
    MaterialView, Origin,
};

#[derive(Debug, Clone)]
pub(super) struct Material {
    pub(super) id: String,
    pub(super) description: Option<String>,
    pub(super) bytes: Option<Vec<u8>>,
    pub(super) state: KeyMaterialState,
    pub(super) expiration: Option<ExpirationModel>,
    pub(super) valid_to: Option<SystemTime>,
    pub(super) rotation_date: Option<SystemTime>,
    pub(super) rotation_type: Option<&'static str>,
}

impl Material {
    /// Material of `key_id` with these bytes (its ID derived from both), no expiry.
    pub(super) fn new(key_id: &str, bytes: Vec<u8>, state: KeyMaterialState) -> Self {
        Material {
            id: crypto::material_id(key_id, &bytes),
            description: None,
            bytes: Some(bytes),
            state,
            expiration: None,
            valid_to: None,
            rotation_date: None,
            rotation_type: None,
        }
    }

    /// The ExpirationModel of material imported with this `ValidTo`.
    pub(super) fn expiration_for(valid_to: Option<SystemTime>) -> ExpirationModel {
        if valid_to.is_some() {
            ExpirationModel::KeyMaterialExpires
        } else {
            ExpirationModel::KeyMaterialDoesNotExpire
        }
    }

    /// The same material imported again: its bytes back, its expiry and description renewed.
    pub(super) fn reimport(
        &mut self,
        bytes: Vec<u8>,
        valid_to: Option<SystemTime>,
        description: Option<String>,
    ) {
        self.bytes = Some(bytes);
        self.expiration = Some(Self::expiration_for(valid_to));
        self.valid_to = valid_to;
        if description.is_some() {
            self.description = description;
        }
    }

    pub(super) fn permanent(&self) -> bool {
        matches!(
            self.state,
            KeyMaterialState::Current | KeyMaterialState::NonCurrent
        )
    }

    pub(super) fn import_state(&self) -> ImportState {
        if self.bytes.is_some() {
            ImportState::Imported
        } else {
            ImportState::PendingImport
        }
    }

    pub(super) fn forget(&mut self) {
        self.bytes = None;
        self.expiration = None;
        self.valid_to = None;
    }
}

#[derive(Debug, Clone)]
pub(super) struct Key {
    pub(super) seq: u64,
    /// The key in the state's map: the key ID, or `<id>@<region>` for a multi-Region replica.
    pub(super) handle: String,
    pub(super) id: String,
    pub(super) arn: String,
    pub(super) account: String,
    pub(super) region: String,
    pub(super) origin: Origin,
    pub(super) spec: KmsKeySpec,
    pub(super) usage: KeyUsage,
    pub(super) state: KeyState,
    pub(super) description: String,
    pub(super) creation_date: SystemTime,
    pub(super) tags: BTreeMap<String, String>,
    pub(super) multi_region: bool,
    /// The primary's Region, for a multi-Region replica.
    pub(super) primary_region: Option<String>,
    pub(super) materials: Vec<Material>,
    pub(super) on_demand_rotations: u32,
    pub(super) deletion_date: Option<SystemTime>,
    pub(super) pending_window_days: Option<u32>,
}

impl Key {
    pub(super) fn current(&self) -> Option<&Material> {
        self.materials
            .iter()
            .find(|m| m.state == KeyMaterialState::Current)
    }

    pub(super) fn missing_permanent_material(&self) -> bool {
        self.materials
            .iter()
            .any(|m| m.permanent() && m.bytes.is_none())
    }

    pub(super) fn has_usable_current(&self) -> bool {
        self.current().is_some_and(|m| m.bytes.is_some())
    }

    /// ExpirationModel and ValidTo as DescribeKey shows them.
    pub(super) fn expiration(&self) -> (Option<ExpirationModel>, Option<SystemTime>) {
        if self.origin != Origin::External
            || !self.has_usable_current()
            || self.missing_permanent_material()
        {
            return (None, None);
        }
        let earliest = self
            .materials
            .iter()
            .filter(|m| m.permanent())
            .filter_map(|m| m.valid_to)
            .min();
        match earliest {
            Some(t) => (Some(ExpirationModel::KeyMaterialExpires), Some(t)),
            None => (Some(ExpirationModel::KeyMaterialDoesNotExpire), None),
        }
    }

    pub(super) fn next_deadline(&self) -> Option<SystemTime> {
        let expiry = self
            .materials
            .iter()
            .filter(|m| m.bytes.is_some())
            .filter_map(|m| m.valid_to)
            .min();
        match (expiry, self.deletion_date) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub(super) fn state_error(&self) -> KmsError {
        state_error(&self.arn, self.state)
    }

    /// Rotation exists for symmetric encryption keys only: UnsupportedOperationException (with
    /// the empty message AWS sends) for the others.
    pub(super) fn require_symmetric(&self) -> Result<(), KmsError> {
        if self.spec.is_symmetric() {
            Ok(())
        } else {
            Err(KmsError::client("UnsupportedOperationException", ""))
        }
    }

    /// The origin and key-state checks of GetParametersForImport and ImportKeyMaterial.
    pub(super) fn check_importable(&self) -> Result<(), KmsError> {
        if self.origin != Origin::External {
            return Err(KmsError::wrong_origin(&self.arn, self.origin.as_str()));
        }
        match self.state {
            KeyState::Enabled | KeyState::Disabled | KeyState::PendingImport => Ok(()),
            s => Err(invalid_state(&self.arn, s)),
        }
    }

    /// A PendingImport key whose materials are all back becomes Enabled (re-import).
    pub(super) fn enable_if_complete(&mut self) {
        if self.state == KeyState::PendingImport
            && self.has_usable_current()
            && !self.missing_permanent_material()
        {
            self.state = KeyState::Enabled;
        }
    }

    /// Material of a permanently associated kind was lost: the key-state transition of
    /// DeleteImportedKeyMaterial / DeleteExpiredKeyMaterial.
    pub(super) fn lose_permanent_material(&mut self) {
        if matches!(self.state, KeyState::Enabled | KeyState::Disabled) {
            self.state = KeyState::PendingImport;
        }
    }

    /// DescribeKey's `KeyMetadata`; `multi_region` is the `MultiRegionConfiguration` of a
    /// multi-Region key (it needs the other Regions' keys).
    pub(super) fn metadata(&self, multi_region: Option<Value>) -> Value {
        let mut m = Map::new();
        m.insert("AWSAccountId".into(), json!(self.account));
        m.insert("Arn".into(), json!(self.arn));
        m.insert(
            "CreationDate".into(),
            json!(epoch_seconds(self.creation_date)),
        );
        if let Some(cur) = self.current().filter(|_| self.spec.is_symmetric()) {
            m.insert("CurrentKeyMaterialId".into(), json!(cur.id));
        }
        m.insert("CustomerMasterKeySpec".into(), json!(self.spec.as_str()));
        if let Some(d) = self.deletion_date {
            m.insert("DeletionDate".into(), json!(epoch_seconds(d)));
        }
        m.insert("Description".into(), json!(self.description));
        m.insert("Enabled".into(), json!(self.state == KeyState::Enabled));
        let encryption = self.spec.encryption_algorithms(self.usage);
        if !encryption.is_empty() {
            m.insert("EncryptionAlgorithms".into(), json!(encryption));
        }
        let (model, valid_to) = self.expiration();
        if let Some(model) = model {
            m.insert("ExpirationModel".into(), json!(model.as_str()));
        }
        m.insert("KeyId".into(), json!(self.id));
        m.insert("KeyManager".into(), json!("CUSTOMER"));
        m.insert("KeySpec".into(), json!(self.spec.as_str()));
        m.insert("KeyState".into(), json!(self.state.as_str()));
        m.insert("KeyUsage".into(), json!(self.usage.as_str()));
        if let Some(mac) = self.spec.mac_algorithm() {
            m.insert("MacAlgorithms".into(), json!([mac]));
        }
        m.insert("MultiRegion".into(), json!(self.multi_region));
        if let Some(config) = multi_region {
            m.insert("MultiRegionConfiguration".into(), config);
        }
        m.insert("Origin".into(), json!(self.origin.as_str()));
        let signing = self.spec.signing_algorithms(self.usage);
        if !signing.is_empty() {
            m.insert("SigningAlgorithms".into(), json!(signing));
        }
        if let Some(days) = self.pending_window_days
            && self.state == KeyState::PendingDeletion
        {
            m.insert("PendingDeletionWindowInDays".into(), json!(days));
        }
        if let Some(t) = valid_to {
            m.insert("ValidTo".into(), json!(epoch_seconds(t)));
        }
        Value::Object(m)
    }

    pub(super) fn view(&self, aliases: Vec<String>) -> KeyView {
        let (expiration_model, valid_to) = self.expiration();
        KeyView {
            key_id: self.id.clone(),
            arn: self.arn.clone(),
            account: self.account.clone(),
            region: self.region.clone(),
            origin: self.origin,
            key_spec: self.spec,
            key_usage: self.usage,
            state: self.state,
            enabled: self.state == KeyState::Enabled,
            description: self.description.clone(),
            current_key_material_id: self.current().map(|m| m.id.clone()),
            expiration_model,
            valid_to,
            deletion_date: self.deletion_date,
            multi_region: self.multi_region,
            tags: self
                .tags
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            aliases,
            materials: self
                .materials
                .iter()
                .map(|m| MaterialView {
                    key_material_id: m.id.clone(),
                    description: m.description.clone(),
                    import_state: m.import_state(),
                    state: m.state,
                    expiration_model: m.expiration,
                    valid_to: m.valid_to,
                    rotation_date: m.rotation_date,
                    rotation_type: m.rotation_type.map(str::to_string),
                })
                .collect(),
            on_demand_rotations: self.on_demand_rotations,
        }
    }
}

/// The KMSInvalidStateException (or DisabledException) KMS returns for a key in `state`.
pub(crate) fn state_error(arn: &str, state: KeyState) -> KmsError {
    let phrase = match state {
        KeyState::Disabled => {
            return KmsError::client("DisabledException", format!("{arn} is disabled."));
        }
        KeyState::Unavailable => {
            return KmsError::client("KeyUnavailableException", format!("{arn} is unavailable."));
        }
        KeyState::Creating => "creating",
        KeyState::Enabled => "enabled",
        KeyState::PendingDeletion => "pending deletion",
        KeyState::PendingImport => "pending import",
        KeyState::PendingReplicaDeletion => "pending replica deletion",
        KeyState::Updating => "updating",
    };
    KmsError::client("KMSInvalidStateException", format!("{arn} is {phrase}."))
}

/// KMSInvalidStateException for every non-Disabled state (for operations whose model has no
/// DisabledException, a disabled key is an invalid state too).
pub(super) fn invalid_state(arn: &str, state: KeyState) -> KmsError {
    if state == KeyState::Disabled {
        return KmsError::client("KMSInvalidStateException", format!("{arn} is disabled."));
    }
    state_error(arn, state)
}
