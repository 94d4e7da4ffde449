//! Public enums and views of the simulated KMS state (names follow the KMS API).

use std::time::SystemTime;

use serde::Serialize;

macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $wire)] $variant),+
        }

        impl $name {
            /// The value as KMS spells it on the wire.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $($name::$variant => $wire),+
                }
            }

            /// Parses the wire spelling.
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($wire => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum!(
    /// `KeyState` of a KMS key.
    KeyState {
        /// Being created (multi-Region replicas); unreachable through the API, see `Store::set_key_state`.
        Creating => "Creating",
        /// Usable.
        Enabled => "Enabled",
        /// Disabled by DisableKey.
        Disabled => "Disabled",
        /// Scheduled for deletion.
        PendingDeletion => "PendingDeletion",
        /// EXTERNAL key without (all of) its key material.
        PendingImport => "PendingImport",
        /// Multi-Region replica pending deletion.
        PendingReplicaDeletion => "PendingReplicaDeletion",
        /// Custom key store disconnected.
        Unavailable => "Unavailable",
        /// Being updated (multi-Region primary change).
        Updating => "Updating",
    }
);

wire_enum!(
    /// `Origin` of a KMS key.
    Origin {
        /// KMS generated the key material.
        AwsKms => "AWS_KMS",
        /// Imported key material (BYOK).
        External => "EXTERNAL",
    }
);

wire_enum!(
    /// `KeySpec` of a KMS key (the key specs kms-sim implements).
    KmsKeySpec {
        /// AES-256-GCM symmetric encryption key.
        SymmetricDefault => "SYMMETRIC_DEFAULT",
        /// RSA 2048-bit key pair.
        Rsa2048 => "RSA_2048",
        /// RSA 3072-bit key pair.
        Rsa3072 => "RSA_3072",
        /// RSA 4096-bit key pair.
        Rsa4096 => "RSA_4096",
        /// NIST P-256 key pair.
        EccNistP256 => "ECC_NIST_P256",
        /// NIST P-384 key pair.
        EccNistP384 => "ECC_NIST_P384",
        /// NIST P-521 key pair.
        EccNistP521 => "ECC_NIST_P521",
        /// secp256k1 key pair.
        EccSecgP256k1 => "ECC_SECG_P256K1",
        /// HMAC key for HMAC-SHA-224.
        Hmac224 => "HMAC_224",
        /// HMAC key for HMAC-SHA-256.
        Hmac256 => "HMAC_256",
        /// HMAC key for HMAC-SHA-384.
        Hmac384 => "HMAC_384",
        /// HMAC key for HMAC-SHA-512.
        Hmac512 => "HMAC_512",
    }
);

wire_enum!(
    /// `KeyUsage` of a KMS key (the usages kms-sim implements).
    KeyUsage {
        /// Encrypt / Decrypt (and data keys).
        EncryptDecrypt => "ENCRYPT_DECRYPT",
        /// Sign / Verify.
        SignVerify => "SIGN_VERIFY",
        /// GenerateMac / VerifyMac.
        GenerateVerifyMac => "GENERATE_VERIFY_MAC",
    }
);

wire_enum!(
    /// `KeyMaterialState` of one key material.
    KeyMaterialState {
        /// Used for encryption.
        Current => "CURRENT",
        /// Previously current; still decrypts.
        NonCurrent => "NON_CURRENT",
        /// Imported, waiting for RotateKeyOnDemand.
        PendingRotation => "PENDING_ROTATION",
    }
);

wire_enum!(
    /// `ImportState` of one key material.
    ImportState {
        /// The material is present.
        Imported => "IMPORTED",
        /// The material was deleted or expired and must be re-imported.
        PendingImport => "PENDING_IMPORT",
    }
);

wire_enum!(
    /// `ExpirationModel` of imported key material.
    ExpirationModel {
        /// Expires at `ValidTo`.
        KeyMaterialExpires => "KEY_MATERIAL_EXPIRES",
        /// Never expires.
        KeyMaterialDoesNotExpire => "KEY_MATERIAL_DOES_NOT_EXPIRE",
    }
);

/// `ImportType` of an import through [`Store::import_material`](crate::Store::import_material).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImportType {
    /// What KMS does when the parameter is omitted: `NEW_KEY_MATERIAL` for the first import,
    /// `EXISTING_KEY_MATERIAL` afterwards.
    #[default]
    Auto,
    /// New material: current on the first import, `PENDING_ROTATION` afterwards.
    NewKeyMaterial,
    /// Re-import of material already associated with the key.
    ExistingKeyMaterial,
}

impl ImportType {
    /// Parses the wire spelling (`NEW_KEY_MATERIAL` / `EXISTING_KEY_MATERIAL`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "NEW_KEY_MATERIAL" => Some(ImportType::NewKeyMaterial),
            "EXISTING_KEY_MATERIAL" => Some(ImportType::ExistingKeyMaterial),
            _ => None,
        }
    }
}

/// Key states that the API cannot reach (or reaches only slowly), forced by
/// [`Store::set_key_state`](crate::Store::set_key_state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStateOverride {
    /// `Creating`: DeleteImportedKeyMaterial answers "<arn> is creating.".
    Creating,
    /// `Updating`: DeleteImportedKeyMaterial answers "<arn> is updating.".
    Updating,
    /// `PendingReplicaDeletion`.
    PendingReplicaDeletion,
    /// `Unavailable`.
    Unavailable,
    /// `Enabled` (no check that the material is present).
    Enabled,
    /// `Disabled`.
    Disabled,
    /// `PendingImport`.
    PendingImport,
    /// `PendingDeletion` with a deletion date `window_days` from now.
    PendingDeletion {
        /// Days until the key is deleted (KMS allows 7-30; not checked here).
        window_days: u32,
    },
}

/// What a test sees of one key material ([`Store::describe`](crate::Store::describe)).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MaterialView {
    /// 64 lowercase hex characters.
    pub key_material_id: String,
    /// `KeyMaterialDescription`.
    pub description: Option<String>,
    /// `IMPORTED` or `PENDING_IMPORT` (deleted / expired).
    pub import_state: ImportState,
    /// `CURRENT`, `NON_CURRENT` or `PENDING_ROTATION`.
    pub state: KeyMaterialState,
    /// Present while the material is imported.
    pub expiration_model: Option<ExpirationModel>,
    /// Expiry of the material, when it expires.
    #[serde(serialize_with = "ser_opt_time")]
    pub valid_to: Option<SystemTime>,
    /// When it became current through a rotation.
    #[serde(serialize_with = "ser_opt_time")]
    pub rotation_date: Option<SystemTime>,
    /// `ON_DEMAND` for on-demand rotations.
    pub rotation_type: Option<String>,
}

/// What a test sees of one key ([`Store::describe`](crate::Store::describe)).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyView {
    /// Key ID (UUID, or `mrk-...` for multi-Region keys).
    pub key_id: String,
    /// Key ARN.
    pub arn: String,
    /// Owning account.
    pub account: String,
    /// Region.
    pub region: String,
    /// `AWS_KMS` or `EXTERNAL`.
    pub origin: Origin,
    /// `KeySpec`.
    pub key_spec: KmsKeySpec,
    /// `KeyUsage`.
    pub key_usage: KeyUsage,
    /// `KeyState` as DescribeKey shows it.
    pub state: KeyState,
    /// `Enabled` as DescribeKey shows it.
    pub enabled: bool,
    /// `Description`.
    pub description: String,
    /// `CurrentKeyMaterialId` (absent before the first import).
    pub current_key_material_id: Option<String>,
    /// `ExpirationModel` as DescribeKey shows it.
    pub expiration_model: Option<ExpirationModel>,
    /// `ValidTo` as DescribeKey shows it.
    #[serde(serialize_with = "ser_opt_time")]
    pub valid_to: Option<SystemTime>,
    /// `DeletionDate` when pending deletion.
    #[serde(serialize_with = "ser_opt_time")]
    pub deletion_date: Option<SystemTime>,
    /// `MultiRegion`.
    pub multi_region: bool,
    /// Tags, sorted by key.
    pub tags: Vec<(String, String)>,
    /// Alias names (`alias/...`) pointing at the key.
    pub aliases: Vec<String>,
    /// Every key material, in import order.
    pub materials: Vec<MaterialView>,
    /// On-demand rotations performed so far (KMS allows 25).
    pub on_demand_rotations: u32,
}

impl KeyView {
    /// The material with this ID.
    pub fn material(&self, key_material_id: &str) -> Option<&MaterialView> {
        self.materials
            .iter()
            .find(|m| m.key_material_id == key_material_id)
    }

    /// The current material.
    pub fn current_material(&self) -> Option<&MaterialView> {
        self.materials
            .iter()
            .find(|m| m.state == KeyMaterialState::Current)
    }
}

fn ser_opt_time<S: serde::Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&crate::clock::rfc3339(*t)),
        None => s.serialize_none(),
    }
}
