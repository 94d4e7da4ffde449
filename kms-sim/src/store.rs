//! The simulated KMS state and its semantics: keys per (account, Region), key materials,
//! aliases, tags, import tokens, the key-state table, lazy expiry and scheduled deletion.
//!
//! Everything is synchronous and behind one mutex; the HTTP layer (`api`) parses requests and
//! calls in here, and tests can call the public [`Store`] methods directly to seed or inspect.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value, json};

use crate::clock::{SimClock, epoch_seconds};
use crate::crypto::{self, WrappingAlgorithm, WrappingKeySpec};
use crate::error::KmsError;
use crate::model::{
    ExpirationModel, ImportState, ImportType, KeyMaterialState, KeyState, KeyStateOverride,
    KeyView, MaterialView, Origin,
};

/// Maximum number of on-demand rotations per key.
pub const MAX_ON_DEMAND_ROTATIONS: u32 = 25;
/// Maximum number of tags per key.
pub const MAX_TAGS: usize = 50;
/// How far ahead `ValidTo` may be.
pub const MAX_VALID_TO: Duration = Duration::from_secs(365 * 24 * 3600);
/// How long import parameters stay valid.
pub const IMPORT_PARAMETERS_TTL: Duration = Duration::from_secs(24 * 3600);

/// What to create with [`Store::create_key`]. `Default` is an `EXTERNAL` key in the default
/// account and Region, without tags or aliases.
#[derive(Debug, Clone)]
pub struct KeySpec {
    /// 12-digit account; `None` = the simulator's default account.
    pub account: Option<String>,
    /// Region; `None` = the simulator's default Region.
    pub region: Option<String>,
    /// `EXTERNAL` (imported material) or `AWS_KMS` (material generated at once).
    pub origin: Origin,
    /// `Description`.
    pub description: String,
    /// Tags (key, value).
    pub tags: Vec<(String, String)>,
    /// Multi-Region primary key (`mrk-` key ID).
    pub multi_region: bool,
    /// Aliases to create for the key, `alias/name` (the `alias/` prefix is added if missing).
    pub aliases: Vec<String>,
}

impl Default for KeySpec {
    fn default() -> Self {
        KeySpec {
            account: None,
            region: None,
            origin: Origin::External,
            description: String::new(),
            tags: Vec::new(),
            multi_region: false,
            aliases: Vec::new(),
        }
    }
}

impl KeySpec {
    /// An `EXTERNAL` key (no material until imported).
    pub fn external() -> Self {
        Self::default()
    }

    /// An `AWS_KMS` key (enabled, with generated material).
    pub fn aws_kms() -> Self {
        KeySpec {
            origin: Origin::AwsKms,
            ..Self::default()
        }
    }

    /// Sets the account.
    pub fn in_account(mut self, account: &str) -> Self {
        self.account = Some(account.to_string());
        self
    }

    /// Sets the Region.
    pub fn in_region(mut self, region: &str) -> Self {
        self.region = Some(region.to_string());
        self
    }

    /// Adds a tag.
    pub fn tag(mut self, key: &str, value: &str) -> Self {
        self.tags.push((key.to_string(), value.to_string()));
        self
    }

    /// Adds an alias.
    pub fn alias(mut self, alias: &str) -> Self {
        self.aliases.push(alias.to_string());
        self
    }

    /// Sets the description.
    pub fn description(mut self, description: &str) -> Self {
        self.description = description.to_string();
        self
    }
}

/// Identifiers of a created key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// Key ID.
    pub key_id: String,
    /// Key ARN.
    pub arn: String,
    /// Account.
    pub account: String,
    /// Region.
    pub region: String,
}

/// Options of [`Store::import_material`]; `Default` imports material that does not expire.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `Some` = `KEY_MATERIAL_EXPIRES` at that time (future, at most 365 days ahead);
    /// `None` = `KEY_MATERIAL_DOES_NOT_EXPIRE`.
    pub valid_to: Option<SystemTime>,
    /// `ImportType`.
    pub import_type: ImportType,
    /// `KeyMaterialId` to check against (re-imports only).
    pub key_material_id: Option<String>,
    /// `KeyMaterialDescription`.
    pub description: Option<String>,
}

/// Who is calling: the account (from the access key) and the Region (from the credential
/// scope).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Caller {
    /// 12-digit account.
    pub account: String,
    /// Region.
    pub region: String,
}

/// How a request may reach a key of another account or Region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Read-style operations a permissive key policy allows across accounts.
    Read,
    /// Operations that only principals of the key's account (and the key's Region) may call.
    Owner,
    /// The in-process test API: no scoping at all.
    Admin,
}

#[derive(Debug, Clone)]
struct Material {
    id: String,
    description: Option<String>,
    bytes: Option<[u8; 32]>,
    state: KeyMaterialState,
    expiration: Option<ExpirationModel>,
    valid_to: Option<SystemTime>,
    rotation_date: Option<SystemTime>,
    rotation_type: Option<&'static str>,
}

impl Material {
    fn permanent(&self) -> bool {
        matches!(
            self.state,
            KeyMaterialState::Current | KeyMaterialState::NonCurrent
        )
    }

    fn import_state(&self) -> ImportState {
        if self.bytes.is_some() {
            ImportState::Imported
        } else {
            ImportState::PendingImport
        }
    }

    fn forget(&mut self) {
        self.bytes = None;
        self.expiration = None;
        self.valid_to = None;
    }
}

#[derive(Debug, Clone)]
struct Key {
    seq: u64,
    id: String,
    arn: String,
    account: String,
    region: String,
    origin: Origin,
    state: KeyState,
    description: String,
    creation_date: SystemTime,
    tags: BTreeMap<String, String>,
    multi_region: bool,
    materials: Vec<Material>,
    on_demand_rotations: u32,
    deletion_date: Option<SystemTime>,
    pending_window_days: Option<u32>,
}

impl Key {
    fn current(&self) -> Option<&Material> {
        self.materials
            .iter()
            .find(|m| m.state == KeyMaterialState::Current)
    }

    fn missing_permanent_material(&self) -> bool {
        self.materials
            .iter()
            .any(|m| m.permanent() && m.bytes.is_none())
    }

    fn has_usable_current(&self) -> bool {
        self.current().is_some_and(|m| m.bytes.is_some())
    }

    /// ExpirationModel and ValidTo as DescribeKey shows them.
    fn expiration(&self) -> (Option<ExpirationModel>, Option<SystemTime>) {
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

    fn next_deadline(&self) -> Option<SystemTime> {
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

    fn state_error(&self) -> KmsError {
        state_error(&self.arn, self.state)
    }

    /// Material of a permanently associated kind was lost: the key-state transition of
    /// DeleteImportedKeyMaterial / DeleteExpiredKeyMaterial.
    fn lose_permanent_material(&mut self) {
        if matches!(self.state, KeyState::Enabled | KeyState::Disabled) {
            self.state = KeyState::PendingImport;
        }
    }

    fn metadata(&self) -> Value {
        let mut m = Map::new();
        m.insert("AWSAccountId".into(), json!(self.account));
        m.insert("Arn".into(), json!(self.arn));
        m.insert(
            "CreationDate".into(),
            json!(epoch_seconds(self.creation_date)),
        );
        if let Some(cur) = self.current() {
            m.insert("CurrentKeyMaterialId".into(), json!(cur.id));
        }
        m.insert("CustomerMasterKeySpec".into(), json!("SYMMETRIC_DEFAULT"));
        if let Some(d) = self.deletion_date {
            m.insert("DeletionDate".into(), json!(epoch_seconds(d)));
        }
        m.insert("Description".into(), json!(self.description));
        m.insert("Enabled".into(), json!(self.state == KeyState::Enabled));
        m.insert("EncryptionAlgorithms".into(), json!(["SYMMETRIC_DEFAULT"]));
        let (model, valid_to) = self.expiration();
        if let Some(model) = model {
            m.insert("ExpirationModel".into(), json!(model.as_str()));
        }
        m.insert("KeyId".into(), json!(self.id));
        m.insert("KeyManager".into(), json!("CUSTOMER"));
        m.insert("KeySpec".into(), json!("SYMMETRIC_DEFAULT"));
        m.insert("KeyState".into(), json!(self.state.as_str()));
        m.insert("KeyUsage".into(), json!("ENCRYPT_DECRYPT"));
        m.insert("MultiRegion".into(), json!(self.multi_region));
        if self.multi_region {
            m.insert(
                "MultiRegionConfiguration".into(),
                json!({
                    "MultiRegionKeyType": "PRIMARY",
                    "PrimaryKey": {"Arn": self.arn, "Region": self.region},
                    "ReplicaKeys": []
                }),
            );
        }
        m.insert("Origin".into(), json!(self.origin.as_str()));
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

    fn view(&self, aliases: Vec<String>) -> KeyView {
        let (expiration_model, valid_to) = self.expiration();
        KeyView {
            key_id: self.id.clone(),
            arn: self.arn.clone(),
            account: self.account.clone(),
            region: self.region.clone(),
            origin: self.origin,
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
fn invalid_state(arn: &str, state: KeyState) -> KmsError {
    if state == KeyState::Disabled {
        return KmsError::client("KMSInvalidStateException", format!("{arn} is disabled."));
    }
    state_error(arn, state)
}

#[derive(Debug, Clone)]
struct Alias {
    account: String,
    region: String,
    name: String,
    target: String,
    creation_date: SystemTime,
    last_updated: SystemTime,
    seq: u64,
}

impl Alias {
    fn arn(&self) -> String {
        format!("arn:aws:kms:{}:{}:{}", self.region, self.account, self.name)
    }
}

#[derive(Debug, Clone)]
struct ImportTokenInfo {
    key_id: String,
    spec: WrappingKeySpec,
    algorithm: WrappingAlgorithm,
    valid_to: SystemTime,
}

#[derive(Default)]
struct Inner {
    keys: HashMap<String, Key>,
    aliases: BTreeMap<(String, String, String), Alias>,
    tokens: HashMap<Vec<u8>, ImportTokenInfo>,
    seq: u64,
    next_deadline: Option<SystemTime>,
    kms_events: Vec<Value>,
}

/// A parsed key reference.
enum KeyRef {
    Id(String),
    KeyArn {
        arn: String,
        region: String,
        account: String,
        id: String,
    },
    AliasName(String),
    AliasArn {
        arn: String,
        region: String,
        account: String,
        name: String,
    },
}

fn is_key_id(s: &str) -> bool {
    let uuid_like = s.len() == 36
        && s.char_indices().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        });
    let mrk = s
        .strip_prefix("mrk-")
        .is_some_and(|h| h.len() == 32 && h.chars().all(|c| c.is_ascii_hexdigit()));
    uuid_like || mrk
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.chars().all(|c| c.is_ascii_digit())
}

fn parse_key_ref(raw: &str) -> Result<KeyRef, KmsError> {
    if raw.starts_with("arn:") {
        let invalid = || KmsError::client("InvalidArnException", format!("Invalid arn {raw}"));
        let parts: Vec<&str> = raw.splitn(6, ':').collect();
        if parts.len() != 6 || parts[1].is_empty() || parts[2] != "kms" || parts[3].is_empty() {
            return Err(invalid());
        }
        let (region, account, resource) = (parts[3], parts[4], parts[5]);
        if !is_account(account) {
            return Err(invalid());
        }
        if let Some(id) = resource.strip_prefix("key/") {
            if id.is_empty() {
                return Err(invalid());
            }
            return Ok(KeyRef::KeyArn {
                arn: raw.to_string(),
                region: region.to_string(),
                account: account.to_string(),
                id: id.to_string(),
            });
        }
        if resource.starts_with("alias/") && resource.len() > "alias/".len() {
            return Ok(KeyRef::AliasArn {
                arn: raw.to_string(),
                region: region.to_string(),
                account: account.to_string(),
                name: resource.to_string(),
            });
        }
        return Err(invalid());
    }
    if raw.starts_with("alias/") && raw.len() > "alias/".len() {
        return Ok(KeyRef::AliasName(raw.to_string()));
    }
    if is_key_id(raw) {
        return Ok(KeyRef::Id(raw.to_string()));
    }
    Err(KmsError::invalid_key_id(raw))
}

fn key_arn(region: &str, account: &str, id: &str) -> String {
    format!("arn:aws:kms:{region}:{account}:key/{id}")
}

fn access_denied(caller: &Caller, operation: &str, arn: &str) -> KmsError {
    KmsError::client(
        "AccessDeniedException",
        format!(
            "User: arn:aws:iam::{}:root is not authorized to perform: kms:{operation} on resource: {arn} because no resource-based policy allows the kms:{operation} action",
            caller.account
        ),
    )
}

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

fn page<T: Clone>(
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

fn list_response(field: &str, entries: Vec<Value>, next: Option<String>) -> Value {
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

fn normalise_alias(alias: &str) -> String {
    if alias.starts_with("alias/") {
        alias.to_string()
    } else {
        format!("alias/{alias}")
    }
}

fn validate_alias_name(name: &str) -> Result<(), KmsError> {
    let rest = name.strip_prefix("alias/").unwrap_or("");
    let valid_chars = rest
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-'));
    if name.len() > 256 {
        return Err(KmsError::constraint(
            name,
            "aliasName",
            "Member must have length less than or equal to 256",
        ));
    }
    if rest.is_empty() || !valid_chars {
        return Err(KmsError::client(
            "InvalidAliasNameException",
            format!(
                "Alias must start with the prefix \"alias/\" and contain only alphanumeric characters, forward slashes (/), underscores (_), and dashes (-): {name}"
            ),
        ));
    }
    if rest.starts_with("aws/") {
        return Err(KmsError::client(
            "NotAuthorizedException",
            "Cannot create or update alias with reserved prefix \"alias/aws/\".",
        ));
    }
    Ok(())
}

fn validate_tag(key: &str, value: &str) -> Result<(), KmsError> {
    if key.is_empty() || key.chars().count() > 128 {
        return Err(KmsError::client(
            "TagException",
            format!("Tag key length must be between 1 and 128 characters: {key}"),
        ));
    }
    if value.chars().count() > 256 {
        return Err(KmsError::client(
            "TagException",
            format!("Tag value length must be at most 256 characters for key {key}"),
        ));
    }
    if key.starts_with("aws:") {
        return Err(KmsError::client(
            "TagException",
            "Tags beginning with aws: are reserved",
        ));
    }
    Ok(())
}

/// Validation of `ValidTo` / `ExpirationModel` shared by the API and [`Store::import_material`].
pub(crate) fn check_valid_to(valid_to: SystemTime, now: SystemTime) -> Result<(), KmsError> {
    if valid_to <= now {
        return Err(KmsError::validation(
            "The ValidTo date must be in the future.",
        ));
    }
    if valid_to > now + MAX_VALID_TO {
        return Err(KmsError::validation(
            "The ValidTo date must be no more than 365 days from the current date.",
        ));
    }
    Ok(())
}

/// Parameters of one import, after unwrapping.
pub(crate) struct ImportRequest {
    pub material: [u8; 32],
    pub valid_to: Option<SystemTime>,
    pub import_type: ImportType,
    pub key_material_id: Option<String>,
    pub description: Option<String>,
}

/// Parameters of CreateKey.
pub(crate) struct CreateKeyRequest {
    pub origin: Origin,
    pub description: String,
    pub tags: Vec<(String, String)>,
    pub multi_region: bool,
    pub aliases: Vec<String>,
    pub fixed_id: Option<String>,
}

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

    // ----------------------------------------------------------------- public test API

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
        let now = self.clock.now();
        let mut inner = self.lock();
        let request = CreateKeyRequest {
            origin: spec.origin,
            description: spec.description,
            tags: spec.tags,
            multi_region: spec.multi_region,
            aliases: spec.aliases.iter().map(|a| normalise_alias(a)).collect(),
            fixed_id,
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

    /// Imports plaintext key material directly (no wrapping, no token), with the same rules
    /// as ImportKeyMaterial. Returns the key material ID.
    pub fn import_material(
        &self,
        key: &str,
        material: [u8; 32],
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
                material,
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
        keys.iter().filter_map(|k| inner.view(&k.id)).collect()
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
        let (blob, _) = inner.encrypt(&caller, key, plaintext, &BTreeMap::new(), Access::Admin)?;
        Ok(blob)
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

    // ----------------------------------------------------------------- wire operations

    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut InnerOps<'_>, SystemTime) -> R) -> R {
        let now = self.clock.now();
        let mut inner = self.lock();
        let mut ops = InnerOps { inner: &mut inner };
        f(&mut ops, now)
    }
}

/// Mutable access to the state for the wire operations (see `api`).
pub(crate) struct InnerOps<'a> {
    inner: &'a mut Inner,
}

impl InnerOps<'_> {
    pub fn create_key(
        &mut self,
        caller: &Caller,
        request: CreateKeyRequest,
        now: SystemTime,
    ) -> Result<Value, KmsError> {
        let id = self.inner.create_key(caller, request, now)?;
        self.inner.describe_by_id(&id)
    }

    pub fn describe_key(&mut self, caller: &Caller, key: &str) -> Result<Value, KmsError> {
        let id = self
            .inner
            .resolve(caller, key, true, Access::Read, "DescribeKey")?;
        self.inner.describe_by_id(&id)
    }

    pub fn key_id_of(&self, caller: &Caller, key: &str) -> Option<String> {
        self.inner
            .resolve(caller, key, true, Access::Admin, "")
            .ok()
    }

    pub fn list_keys(
        &mut self,
        caller: &Caller,
        limit: usize,
        marker: Option<&str>,
    ) -> Result<Value, KmsError> {
        let start_seq: u64 = match marker {
            Some(m) => decode_marker("keys", m)?.parse().map_err(|_| {
                KmsError::client("InvalidMarkerException", "The marker is not valid.")
            })?,
            None => 0,
        };
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
        let start_seq: u64 = match marker {
            Some(m) => decode_marker("aliases", m)?.parse().map_err(|_| {
                KmsError::client("InvalidMarkerException", "The marker is not valid.")
            })?,
            None => 0,
        };
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
                    "TargetKeyId": a.target,
                })
            })
            .collect();
        Ok(list_response("Aliases", entries, next))
    }

    pub fn create_alias(
        &mut self,
        caller: &Caller,
        alias: &str,
        target: &str,
        now: SystemTime,
    ) -> Result<(), KmsError> {
        validate_alias_name(alias)?;
        if matches!(
            parse_key_ref(target)?,
            KeyRef::AliasName(_) | KeyRef::AliasArn { .. }
        ) {
            return Err(KmsError::invalid_key_id(target));
        }
        let id = self
            .inner
            .resolve(caller, target, false, Access::Owner, "CreateAlias")?;
        self.inner.create_alias(caller, alias, &id, now)
    }

    pub fn update_alias(
        &mut self,
        caller: &Caller,
        alias: &str,
        target: &str,
        now: SystemTime,
    ) -> Result<(), KmsError> {
        validate_alias_name(alias)?;
        let id = self
            .inner
            .resolve(caller, target, false, Access::Owner, "UpdateAlias")?;
        let entry = self
            .inner
            .aliases
            .get_mut(&(
                caller.account.clone(),
                caller.region.clone(),
                alias.to_string(),
            ))
            .ok_or_else(|| {
                KmsError::alias_not_found(&format!(
                    "arn:aws:kms:{}:{}:{alias}",
                    caller.region, caller.account
                ))
            })?;
        entry.target = id;
        entry.last_updated = now;
        Ok(())
    }

    pub fn delete_alias(&mut self, caller: &Caller, alias: &str) -> Result<(), KmsError> {
        let k = (
            caller.account.clone(),
            caller.region.clone(),
            alias.to_string(),
        );
        if self.inner.aliases.remove(&k).is_none() {
            return Err(KmsError::alias_not_found(&format!(
                "arn:aws:kms:{}:{}:{alias}",
                caller.region, caller.account
            )));
        }
        Ok(())
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

    pub fn tag_resource(
        &mut self,
        caller: &Caller,
        key: &str,
        tags: Vec<(String, String)>,
    ) -> Result<(), KmsError> {
        self.inner.tag_resource(caller, key, tags, Access::Owner)
    }

    pub fn untag_resource(
        &mut self,
        caller: &Caller,
        key: &str,
        tag_keys: &[String],
    ) -> Result<(), KmsError> {
        let id = self
            .inner
            .resolve(caller, key, false, Access::Owner, "UntagResource")?;
        let k = self.inner.get_mut(&id)?;
        if matches!(
            k.state,
            KeyState::PendingDeletion | KeyState::PendingReplicaDeletion
        ) {
            return Err(k.state_error());
        }
        for t in tag_keys {
            k.tags.remove(t);
        }
        Ok(())
    }

    pub fn enable_key(&mut self, caller: &Caller, key: &str) -> Result<(), KmsError> {
        let id = self
            .inner
            .resolve(caller, key, false, Access::Owner, "EnableKey")?;
        let k = self.inner.get_mut(&id)?;
        match k.state {
            KeyState::Enabled | KeyState::Disabled => {
                k.state = KeyState::Enabled;
                Ok(())
            }
            s => Err(invalid_state(&k.arn, s)),
        }
    }

    pub fn disable_key(&mut self, caller: &Caller, key: &str) -> Result<(), KmsError> {
        let id = self
            .inner
            .resolve(caller, key, false, Access::Owner, "DisableKey")?;
        let k = self.inner.get_mut(&id)?;
        match k.state {
            KeyState::Enabled | KeyState::Disabled => {
                k.state = KeyState::Disabled;
                Ok(())
            }
            s => Err(invalid_state(&k.arn, s)),
        }
    }

    pub fn schedule_key_deletion(
        &mut self,
        caller: &Caller,
        key: &str,
        days: Option<i64>,
        now: SystemTime,
    ) -> Result<Value, KmsError> {
        self.inner.schedule_key_deletion(caller, key, days, now)
    }

    pub fn cancel_key_deletion(&mut self, caller: &Caller, key: &str) -> Result<Value, KmsError> {
        let id = self
            .inner
            .resolve(caller, key, false, Access::Owner, "CancelKeyDeletion")?;
        let k = self.inner.get_mut(&id)?;
        if k.state != KeyState::PendingDeletion {
            return Err(KmsError::client(
                "KMSInvalidStateException",
                format!("{} is not pending deletion.", k.arn),
            ));
        }
        k.deletion_date = None;
        k.pending_window_days = None;
        k.state = if k.origin == Origin::External
            && (!k.has_usable_current() || k.missing_permanent_material())
        {
            KeyState::PendingImport
        } else {
            KeyState::Disabled
        };
        let arn = k.arn.clone();
        self.inner.recompute_deadline();
        Ok(json!({ "KeyId": arn }))
    }

    /// The checks GetParametersForImport makes before any RSA work; returns the key ID.
    pub fn check_import_parameters(
        &mut self,
        caller: &Caller,
        key: &str,
    ) -> Result<String, KmsError> {
        let id = self
            .inner
            .resolve(caller, key, false, Access::Owner, "GetParametersForImport")?;
        let k = self.inner.get(&id)?;
        if k.origin != Origin::External {
            return Err(KmsError::wrong_origin(&k.arn, k.origin.as_str()));
        }
        match k.state {
            KeyState::Enabled | KeyState::Disabled | KeyState::PendingImport => Ok(id),
            s => Err(invalid_state(&k.arn, s)),
        }
    }

    /// Registers an import token for `key_id`; returns (key ARN, token, valid to).
    pub fn issue_import_token(
        &mut self,
        key_id: &str,
        spec: WrappingKeySpec,
        algorithm: WrappingAlgorithm,
        now: SystemTime,
    ) -> Result<(String, Vec<u8>, SystemTime), KmsError> {
        let arn = self.inner.get(key_id)?.arn.clone();
        let token: [u8; 32] = crypto::random_bytes();
        let mut token_bytes = b"kms-sim-import-token:".to_vec();
        token_bytes.extend_from_slice(&token);
        let valid_to = now + IMPORT_PARAMETERS_TTL;
        // Keep the token table from growing without bound: drop expired tokens.
        self.inner.tokens.retain(|_, t| t.valid_to > now);
        self.inner.tokens.insert(
            token_bytes.clone(),
            ImportTokenInfo {
                key_id: key_id.to_string(),
                spec,
                algorithm,
                valid_to,
            },
        );
        Ok((arn, token_bytes, valid_to))
    }

    /// The checks of ImportKeyMaterial up to the token; returns the token's wrapping spec and
    /// algorithm and the key ID.
    pub fn check_import(
        &mut self,
        caller: &Caller,
        key: &str,
        token: &[u8],
        now: SystemTime,
    ) -> Result<(String, WrappingKeySpec, WrappingAlgorithm), KmsError> {
        let id = self
            .inner
            .resolve(caller, key, false, Access::Owner, "ImportKeyMaterial")?;
        let k = self.inner.get(&id)?;
        if k.origin != Origin::External {
            return Err(KmsError::wrong_origin(&k.arn, k.origin.as_str()));
        }
        if !matches!(
            k.state,
            KeyState::Enabled | KeyState::Disabled | KeyState::PendingImport
        ) {
            return Err(invalid_state(&k.arn, k.state));
        }
        let info = self.inner.tokens.get(token).ok_or_else(|| {
            KmsError::client(
                "InvalidImportTokenException",
                "The import token is invalid or was not issued for this KMS key.",
            )
        })?;
        if info.key_id != id {
            return Err(KmsError::client(
                "InvalidImportTokenException",
                "The import token is invalid or was not issued for this KMS key.",
            ));
        }
        if info.valid_to <= now {
            return Err(KmsError::client(
                "ExpiredImportTokenException",
                "The import token has expired. Call GetParametersForImport to get a new one.",
            ));
        }
        Ok((id, info.spec, info.algorithm))
    }

    pub fn import(
        &mut self,
        key_id: &str,
        request: ImportRequest,
    ) -> Result<(String, String), KmsError> {
        self.inner.import(key_id, request)
    }

    pub fn delete_imported_key_material(
        &mut self,
        caller: &Caller,
        key: &str,
        key_material_id: Option<&str>,
    ) -> Result<(String, Option<String>), KmsError> {
        self.inner
            .delete_imported_key_material(caller, key, key_material_id, Access::Owner)
    }

    pub fn rotate_key_on_demand(
        &mut self,
        caller: &Caller,
        key: &str,
        now: SystemTime,
    ) -> Result<String, KmsError> {
        self.inner
            .rotate_key_on_demand(caller, key, now, Access::Owner)
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
        let start: usize = match marker {
            Some(m) => decode_marker("rotations", m)?.parse().map_err(|_| {
                KmsError::client("InvalidMarkerException", "The marker is not valid.")
            })?,
            None => 0,
        };
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

    pub fn encrypt(
        &mut self,
        caller: &Caller,
        key: &str,
        plaintext: &[u8],
        context: &BTreeMap<String, String>,
    ) -> Result<(Vec<u8>, String), KmsError> {
        self.inner
            .encrypt(caller, key, plaintext, context, Access::Read)
    }

    pub fn decrypt(
        &mut self,
        caller: &Caller,
        blob: &[u8],
        context: &BTreeMap<String, String>,
        key: Option<&str>,
    ) -> Result<(Vec<u8>, String, String), KmsError> {
        self.inner.decrypt(caller, blob, context, key, Access::Read)
    }
}

impl Inner {
    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn get(&self, id: &str) -> Result<&Key, KmsError> {
        self.keys.get(id).ok_or_else(|| {
            KmsError::client("NotFoundException", format!("Key '{id}' does not exist"))
        })
    }

    fn get_mut(&mut self, id: &str) -> Result<&mut Key, KmsError> {
        self.keys.get_mut(id).ok_or_else(|| {
            KmsError::client("NotFoundException", format!("Key '{id}' does not exist"))
        })
    }

    fn view(&self, id: &str) -> Option<KeyView> {
        let key = self.keys.get(id)?;
        let aliases = self
            .aliases
            .values()
            .filter(|a| a.target == key.id)
            .map(|a| a.name.clone())
            .collect();
        Some(key.view(aliases))
    }

    fn describe_by_id(&self, id: &str) -> Result<Value, KmsError> {
        Ok(json!({ "KeyMetadata": self.get(id)?.metadata() }))
    }

    /// Expires material whose ValidTo has passed and deletes keys whose deletion date has
    /// passed: KMS's DeleteExpiredKeyMaterial and key deletion, evaluated lazily.
    fn sweep(&mut self, now: SystemTime) {
        match self.next_deadline {
            Some(deadline) if deadline <= now => {}
            _ => return,
        }
        let mut deleted = Vec::new();
        for key in self.keys.values_mut() {
            if key.deletion_date.is_some_and(|d| d <= now) && key.state == KeyState::PendingDeletion
            {
                deleted.push(key.id.clone());
                continue;
            }
            let mut lost_permanent = false;
            let mut expired_at = Vec::new();
            key.materials.retain_mut(|m| {
                if m.bytes.is_some()
                    && let Some(t) = m.valid_to.filter(|t| *t <= now)
                {
                    if m.permanent() {
                        m.forget();
                        lost_permanent = true;
                        expired_at.push(t);
                    } else {
                        // Material pending rotation is not permanently associated: it goes.
                        return false;
                    }
                }
                true
            });
            if lost_permanent {
                key.lose_permanent_material();
            }
            for t in expired_at {
                self.kms_events.push(kms_event(
                    "KMS Imported Key Material Expiration",
                    key,
                    json!({ "key-id": key.id }),
                    t,
                ));
            }
        }
        for id in deleted {
            if let Some(k) = self.keys.get(&id) {
                let at = k.deletion_date.unwrap_or(now);
                self.kms_events.push(kms_event(
                    "KMS CMK Deletion",
                    k,
                    json!({ "key-id": k.id }),
                    at,
                ));
            }
            self.keys.remove(&id);
            self.aliases.retain(|_, a| a.target != id);
            self.tokens.retain(|_, t| t.key_id != id);
        }
        self.recompute_deadline();
    }

    fn recompute_deadline(&mut self) {
        self.next_deadline = self.keys.values().filter_map(Key::next_deadline).min();
    }

    fn note_deadline(&mut self, t: Option<SystemTime>) {
        if let Some(t) = t {
            self.next_deadline = Some(self.next_deadline.map_or(t, |d| d.min(t)));
        }
    }

    /// Resolves a key reference to a key ID, applying KMS's rules for aliases, ARNs and
    /// cross-account / cross-Region access.
    fn resolve(
        &self,
        caller: &Caller,
        raw: &str,
        allow_alias: bool,
        access: Access,
        operation: &str,
    ) -> Result<String, KmsError> {
        let reference = parse_key_ref(raw)?;
        let (id, arn) = match reference {
            KeyRef::Id(id) => {
                let arn = key_arn(&caller.region, &caller.account, &id);
                match self.keys.get(&id) {
                    Some(k)
                        if access == Access::Admin
                            || (k.account == caller.account && k.region == caller.region) =>
                    {
                        return Ok(id);
                    }
                    _ => return Err(KmsError::key_not_found(&arn)),
                }
            }
            KeyRef::KeyArn {
                arn,
                region,
                account,
                id,
            } => {
                if !is_key_id(&id) {
                    return Err(KmsError::key_not_found(&arn));
                }
                (id, (arn, region, account))
            }
            KeyRef::AliasName(name) => {
                if !allow_alias {
                    return Err(KmsError::invalid_key_id(raw));
                }
                let alias_arn = format!("arn:aws:kms:{}:{}:{name}", caller.region, caller.account);
                return self
                    .aliases
                    .get(&(caller.account.clone(), caller.region.clone(), name))
                    .map(|a| a.target.clone())
                    .ok_or_else(|| KmsError::alias_not_found(&alias_arn));
            }
            KeyRef::AliasArn {
                arn,
                region,
                account,
                name,
            } => {
                if !allow_alias {
                    return Err(KmsError::invalid_key_id(raw));
                }
                if access == Access::Owner && account != caller.account {
                    return Err(access_denied(caller, operation, &arn));
                }
                return self
                    .aliases
                    .get(&(account, region, name))
                    .map(|a| a.target.clone())
                    .ok_or_else(|| KmsError::alias_not_found(&arn));
            }
        };
        let (arn, region, account) = arn;
        let key = match self.keys.get(&id) {
            Some(k) if k.account == account && k.region == region => k,
            _ => {
                if access == Access::Owner && account != caller.account {
                    return Err(access_denied(caller, operation, &arn));
                }
                return Err(KmsError::key_not_found(&arn));
            }
        };
        if access == Access::Owner {
            if key.account != caller.account {
                return Err(access_denied(caller, operation, &arn));
            }
            if key.region != caller.region {
                // The key lives in another Region's KMS: this Region does not know it.
                return Err(KmsError::key_not_found(&arn));
            }
        }
        Ok(id)
    }

    fn create_key(
        &mut self,
        caller: &Caller,
        request: CreateKeyRequest,
        now: SystemTime,
    ) -> Result<String, KmsError> {
        if request.description.chars().count() > 8192 {
            return Err(KmsError::constraint(
                "...",
                "description",
                "Member must have length less than or equal to 8192",
            ));
        }
        if request.tags.len() > MAX_TAGS {
            return Err(KmsError::client(
                "TagException",
                format!("A KMS key can have at most {MAX_TAGS} tags."),
            ));
        }
        for (k, v) in &request.tags {
            validate_tag(k, v)?;
        }
        for alias in &request.aliases {
            validate_alias_name(alias)?;
            if self.aliases.contains_key(&(
                caller.account.clone(),
                caller.region.clone(),
                alias.clone(),
            )) {
                return Err(alias_exists(caller, alias));
            }
        }
        if let Some(id) = &request.fixed_id {
            let shape_ok = is_key_id(id) && (id.starts_with("mrk-") == request.multi_region);
            if !shape_ok {
                return Err(KmsError::validation(format!(
                    "key id {id} must be a UUID (or mrk- and 32 hex characters for a multi-Region key)"
                )));
            }
            if self.keys.contains_key(id) {
                return Err(KmsError::client(
                    "AlreadyExistsException",
                    format!("A key with id {id} already exists"),
                ));
            }
        }
        let id = if let Some(id) = request.fixed_id.clone() {
            id
        } else if request.multi_region {
            format!("mrk-{}", uuid::Uuid::new_v4().simple())
        } else {
            uuid::Uuid::new_v4().to_string()
        };
        let arn = key_arn(&caller.region, &caller.account, &id);
        let mut materials = Vec::new();
        let state = match request.origin {
            Origin::AwsKms => {
                let bytes: [u8; 32] = crypto::random_bytes();
                materials.push(Material {
                    id: crypto::material_id(&id, &bytes),
                    description: None,
                    bytes: Some(bytes),
                    state: KeyMaterialState::Current,
                    expiration: None,
                    valid_to: None,
                    rotation_date: None,
                    rotation_type: None,
                });
                KeyState::Enabled
            }
            Origin::External => KeyState::PendingImport,
        };
        let seq = self.next_seq();
        let key = Key {
            seq,
            id: id.clone(),
            arn,
            account: caller.account.clone(),
            region: caller.region.clone(),
            origin: request.origin,
            state,
            description: request.description,
            creation_date: now,
            tags: request.tags.into_iter().collect(),
            multi_region: request.multi_region,
            materials,
            on_demand_rotations: 0,
            deletion_date: None,
            pending_window_days: None,
        };
        self.keys.insert(id.clone(), key);
        for alias in request.aliases {
            self.create_alias(caller, &alias, &id, now)?;
        }
        Ok(id)
    }

    fn create_alias(
        &mut self,
        caller: &Caller,
        alias: &str,
        target_id: &str,
        now: SystemTime,
    ) -> Result<(), KmsError> {
        validate_alias_name(alias)?;
        let k = self.get(target_id)?;
        if k.state == KeyState::PendingDeletion {
            return Err(k.state_error());
        }
        let map_key = (
            caller.account.clone(),
            caller.region.clone(),
            alias.to_string(),
        );
        if self.aliases.contains_key(&map_key) {
            return Err(alias_exists(caller, alias));
        }
        let seq = self.next_seq();
        self.aliases.insert(
            map_key,
            Alias {
                account: caller.account.clone(),
                region: caller.region.clone(),
                name: alias.to_string(),
                target: target_id.to_string(),
                creation_date: now,
                last_updated: now,
                seq,
            },
        );
        Ok(())
    }

    fn tag_resource(
        &mut self,
        caller: &Caller,
        key: &str,
        tags: Vec<(String, String)>,
        access: Access,
    ) -> Result<(), KmsError> {
        let id = self.resolve(caller, key, false, access, "TagResource")?;
        let k = self.get_mut(&id)?;
        if matches!(
            k.state,
            KeyState::PendingDeletion | KeyState::PendingReplicaDeletion
        ) {
            return Err(k.state_error());
        }
        for (t, v) in &tags {
            validate_tag(t, v)?;
        }
        let mut new_tags = k.tags.clone();
        for (t, v) in tags {
            new_tags.insert(t, v);
        }
        if new_tags.len() > MAX_TAGS {
            return Err(KmsError::client(
                "LimitExceededException",
                format!("A KMS key can have at most {MAX_TAGS} tags."),
            ));
        }
        k.tags = new_tags;
        Ok(())
    }

    fn schedule_key_deletion(
        &mut self,
        caller: &Caller,
        key: &str,
        days: Option<i64>,
        now: SystemTime,
    ) -> Result<Value, KmsError> {
        let days = days.unwrap_or(30);
        if days < 7 {
            return Err(KmsError::constraint(
                &days.to_string(),
                "pendingWindowInDays",
                "Member must have value greater than or equal to 7",
            ));
        }
        if days > 30 {
            return Err(KmsError::constraint(
                &days.to_string(),
                "pendingWindowInDays",
                "Member must have value less than or equal to 30",
            ));
        }
        let id = self.resolve(caller, key, false, Access::Owner, "ScheduleKeyDeletion")?;
        let k = self.get_mut(&id)?;
        match k.state {
            KeyState::Enabled | KeyState::Disabled | KeyState::PendingImport => {}
            s => return Err(invalid_state(&k.arn, s)),
        }
        let deletion = now + Duration::from_secs(days.unsigned_abs() * 86_400);
        k.state = KeyState::PendingDeletion;
        k.deletion_date = Some(deletion);
        k.pending_window_days = u32::try_from(days).ok();
        let arn = k.arn.clone();
        self.note_deadline(Some(deletion));
        Ok(json!({
            "KeyId": arn,
            "DeletionDate": epoch_seconds(deletion),
            "KeyState": "PendingDeletion",
            "PendingWindowInDays": days,
        }))
    }

    fn import(
        &mut self,
        key_id: &str,
        request: ImportRequest,
    ) -> Result<(String, String), KmsError> {
        let k = self.get_mut(key_id)?;
        if k.origin != Origin::External {
            return Err(KmsError::wrong_origin(&k.arn, k.origin.as_str()));
        }
        if !matches!(
            k.state,
            KeyState::Enabled | KeyState::Disabled | KeyState::PendingImport
        ) {
            return Err(invalid_state(&k.arn, k.state));
        }
        let computed = crypto::material_id(&k.id, &request.material);
        let import_type = match request.import_type {
            ImportType::Auto if k.materials.is_empty() => ImportType::NewKeyMaterial,
            ImportType::Auto => ImportType::ExistingKeyMaterial,
            t => t,
        };
        let expiration = if request.valid_to.is_some() {
            ExpirationModel::KeyMaterialExpires
        } else {
            ExpirationModel::KeyMaterialDoesNotExpire
        };
        match import_type {
            ImportType::NewKeyMaterial | ImportType::Auto => {
                if request.key_material_id.is_some() {
                    return Err(KmsError::validation(
                        "KeyMaterialId cannot be specified when ImportType is NEW_KEY_MATERIAL.",
                    ));
                }
                if k.materials.iter().any(|m| m.id == computed) {
                    return Err(KmsError::validation(format!(
                        "The key material (id: {computed}) is already associated with KMS key {}. Import it with ImportType EXISTING_KEY_MATERIAL.",
                        k.id
                    )));
                }
                let state = if k.materials.is_empty() {
                    KeyMaterialState::Current
                } else {
                    if let Some(pending) = k
                        .materials
                        .iter()
                        .find(|m| m.state == KeyMaterialState::PendingRotation)
                    {
                        return Err(KmsError::client(
                            "KMSInvalidStateException",
                            format!(
                                "New key material (id: {computed}) cannot be imported into KMS key {}, because another key material (id: {}) is pending rotation.",
                                k.id, pending.id
                            ),
                        ));
                    }
                    KeyMaterialState::PendingRotation
                };
                k.materials.push(Material {
                    id: computed.clone(),
                    description: request.description,
                    bytes: Some(request.material),
                    state,
                    expiration: Some(expiration),
                    valid_to: request.valid_to,
                    rotation_date: None,
                    rotation_type: None,
                });
            }
            ImportType::ExistingKeyMaterial => {
                if let Some(wanted) = &request.key_material_id
                    && *wanted != computed
                {
                    return Err(KmsError::client(
                        "IncorrectKeyMaterialException",
                        format!(
                            "The key material does not match the key material ID {wanted} of KMS key {}.",
                            k.id
                        ),
                    ));
                }
                let m = k
                    .materials
                    .iter_mut()
                    .find(|m| m.id == computed)
                    .ok_or_else(|| {
                        KmsError::client(
                            "IncorrectKeyMaterialException",
                            format!(
                                "The key material is not associated with KMS key {}. Only key material previously imported into this KMS key can be reimported.",
                                k.id
                            ),
                        )
                    })?;
                m.bytes = Some(request.material);
                m.expiration = Some(expiration);
                m.valid_to = request.valid_to;
                if request.description.is_some() {
                    m.description = request.description;
                }
            }
        }
        if k.state == KeyState::PendingImport
            && k.has_usable_current()
            && !k.missing_permanent_material()
        {
            k.state = KeyState::Enabled;
        }
        let arn = k.arn.clone();
        self.note_deadline(request.valid_to);
        Ok((arn, computed))
    }

    fn delete_imported_key_material(
        &mut self,
        caller: &Caller,
        key: &str,
        key_material_id: Option<&str>,
        access: Access,
    ) -> Result<(String, Option<String>), KmsError> {
        let id = self.resolve(caller, key, false, access, "DeleteImportedKeyMaterial")?;
        let k = self.get_mut(&id)?;
        if k.origin != Origin::External {
            return Err(KmsError::wrong_origin(&k.arn, k.origin.as_str()));
        }
        match k.state {
            KeyState::Enabled
            | KeyState::Disabled
            | KeyState::PendingImport
            | KeyState::PendingDeletion
            | KeyState::PendingReplicaDeletion => {}
            s => return Err(invalid_state(&k.arn, s)),
        }
        let index = match key_material_id {
            Some(wanted) => Some(k.materials.iter().position(|m| m.id == wanted).ok_or_else(
                || {
                    KmsError::client(
                        "NotFoundException",
                        format!(
                            "Key material with ID {wanted} is not associated with KMS key {}.",
                            k.arn
                        ),
                    )
                },
            )?),
            None => k
                .materials
                .iter()
                .position(|m| m.state == KeyMaterialState::Current),
        };
        let arn = k.arn.clone();
        let Some(index) = index else {
            return Ok((arn, None));
        };
        let material_id = k.materials[index].id.clone();
        if k.materials[index].permanent() {
            k.materials[index].forget();
            k.lose_permanent_material();
        } else {
            // Pending-rotation material was never permanently associated: it simply goes.
            k.materials.remove(index);
        }
        self.recompute_deadline();
        Ok((arn, Some(material_id)))
    }

    fn rotate_key_on_demand(
        &mut self,
        caller: &Caller,
        key: &str,
        now: SystemTime,
        access: Access,
    ) -> Result<String, KmsError> {
        let id = self.resolve(caller, key, false, access, "RotateKeyOnDemand")?;
        let k = self.get_mut(&id)?;
        if k.state != KeyState::Enabled {
            return Err(k.state_error());
        }
        if k.on_demand_rotations >= MAX_ON_DEMAND_ROTATIONS {
            return Err(KmsError::client(
                "LimitExceededException",
                format!(
                    "The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: {}",
                    k.arn
                ),
            ));
        }
        let next = match k.origin {
            Origin::External => k
                .materials
                .iter()
                .position(|m| m.state == KeyMaterialState::PendingRotation)
                .ok_or_else(|| {
                    KmsError::client(
                        "KMSInvalidStateException",
                        format!(
                            "No available key material pending rotation for the key: {}.",
                            k.arn
                        ),
                    )
                })?,
            Origin::AwsKms => {
                let bytes: [u8; 32] = crypto::random_bytes();
                k.materials.push(Material {
                    id: crypto::material_id(&k.id, &bytes),
                    description: None,
                    bytes: Some(bytes),
                    state: KeyMaterialState::PendingRotation,
                    expiration: None,
                    valid_to: None,
                    rotation_date: None,
                    rotation_type: None,
                });
                k.materials.len() - 1
            }
        };
        let previous = k.current().map(|m| m.id.clone());
        for m in &mut k.materials {
            if m.state == KeyMaterialState::Current {
                m.state = KeyMaterialState::NonCurrent;
            }
        }
        let m = &mut k.materials[next];
        m.state = KeyMaterialState::Current;
        m.rotation_date = Some(now);
        m.rotation_type = Some("ON_DEMAND");
        let current = m.id.clone();
        k.on_demand_rotations += 1;
        let event = kms_event(
            "KMS CMK Rotation",
            k,
            json!({
                "key-id": k.id,
                "key-origin": k.origin.as_str(),
                "rotation-type": "ON_DEMAND",
                "previous-key-material-id": previous,
                "current-key-material-id": current,
            }),
            now,
        );
        let arn = k.arn.clone();
        self.kms_events.push(event);
        Ok(arn)
    }

    fn encrypt(
        &self,
        caller: &Caller,
        key: &str,
        plaintext: &[u8],
        context: &BTreeMap<String, String>,
        access: Access,
    ) -> Result<(Vec<u8>, String), KmsError> {
        let id = self.resolve(caller, key, true, access, "Encrypt")?;
        let k = self.get(&id)?;
        if k.state != KeyState::Enabled {
            return Err(k.state_error());
        }
        let current = k
            .current()
            .ok_or_else(|| state_error(&k.arn, KeyState::PendingImport))?;
        let bytes = current
            .bytes
            .ok_or_else(|| state_error(&k.arn, KeyState::PendingImport))?;
        let blob = crypto::seal(&k.arn, &current.id, &bytes, context, plaintext)?;
        Ok((blob, k.arn.clone()))
    }

    fn decrypt(
        &self,
        caller: &Caller,
        blob: &[u8],
        context: &BTreeMap<String, String>,
        key: Option<&str>,
        access: Access,
    ) -> Result<(Vec<u8>, String, String), KmsError> {
        let (header, body) = crypto::parse_blob(blob)?;
        let blob_key_id = match parse_key_ref(&header.arn) {
            Ok(KeyRef::KeyArn { id, .. }) => id,
            _ => return Err(crypto::invalid_ciphertext()),
        };
        if let Some(requested) = key {
            let requested_id = self.resolve(caller, requested, true, access, "Decrypt")?;
            if requested_id != blob_key_id {
                return Err(KmsError::client(
                    "IncorrectKeyException",
                    "The key ID in the request does not identify a CMK that can perform this operation.",
                ));
            }
        }
        let k = match self.keys.get(&blob_key_id) {
            Some(k) if k.arn == header.arn => k,
            _ => return Err(KmsError::key_not_found(&header.arn)),
        };
        if k.state != KeyState::Enabled {
            return Err(k.state_error());
        }
        let material = k
            .materials
            .iter()
            .find(|m| m.id == header.material_id)
            .ok_or_else(crypto::invalid_ciphertext)?;
        let bytes = material.bytes.ok_or_else(crypto::invalid_ciphertext)?;
        let plain = crypto::open(&header, body, &bytes, context)?;
        Ok((plain, k.arn.clone(), material.id.clone()))
    }
}

/// An event as KMS sends it to EventBridge (source `aws.kms`).
fn kms_event(detail_type: &str, key: &Key, detail: Value, at: SystemTime) -> Value {
    let time: chrono::DateTime<chrono::Utc> = at.into();
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": detail_type,
        "source": "aws.kms",
        "account": key.account,
        "time": time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "region": key.region,
        "resources": [key.arn],
        "detail": detail,
    })
}

fn alias_exists(caller: &Caller, alias: &str) -> KmsError {
    KmsError::client(
        "AlreadyExistsException",
        format!(
            "An alias with the name arn:aws:kms:{}:{}:{alias} already exists",
            caller.region, caller.account
        ),
    )
}
