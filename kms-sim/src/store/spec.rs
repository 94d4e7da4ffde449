//! What callers hand the store: the creation spec, import options, the caller and request
//! parameters of CreateKey / ImportKeyMaterial.

use std::time::SystemTime;

use crate::model::{ImportType, KeyUsage, KmsKeySpec, Origin};

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
    /// `KeySpec` (default `SYMMETRIC_DEFAULT`).
    pub key_spec: KmsKeySpec,
    /// `KeyUsage`; `None` = the only (or first) usage the spec allows.
    pub key_usage: Option<KeyUsage>,
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
            key_spec: KmsKeySpec::SymmetricDefault,
            key_usage: None,
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

    /// Makes the key a multi-Region primary key (`mrk-` key ID); replicate it with
    /// [`Store::replicate`](crate::Store::replicate).
    pub fn multi_region(mut self) -> Self {
        self.multi_region = true;
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

    /// Sets the key spec (`HMAC_256`, ...); the usage follows from it unless set.
    pub fn key_spec(mut self, spec: KmsKeySpec) -> Self {
        self.key_spec = spec;
        self
    }

    /// Sets the key usage.
    pub fn key_usage(mut self, usage: KeyUsage) -> Self {
        self.key_usage = Some(usage);
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

/// Parameters of one import, after unwrapping.
pub(crate) struct ImportRequest {
    pub material: Vec<u8>,
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
    pub spec: KmsKeySpec,
    pub usage: KeyUsage,
}
