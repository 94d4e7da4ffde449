//! Imported key material: import tokens, ImportKeyMaterial and DeleteImportedKeyMaterial.

use std::time::SystemTime;

use crate::crypto;
use crate::crypto::{WrappingAlgorithm, WrappingKeyRef};
use crate::error::KmsError;
use crate::model::{ImportType, KeyMaterialState, KeyState, Origin};

use super::key::{Material, invalid_state};
use super::spec::{Access, Caller, ImportRequest};
use super::state::{IMPORT_PARAMETERS_TTL, ImportTokenInfo, Inner, InnerOps, MAX_VALID_TO};

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

impl InnerOps<'_> {
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
        k.check_importable()?;
        Ok(id)
    }

    /// Registers an import token for `key_id`; returns (key ARN, token, valid to).
    pub fn issue_import_token(
        &mut self,
        key_id: &str,
        wrapping: WrappingKeyRef,
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
                wrapping,
                algorithm,
                valid_to,
            },
        );
        Ok((arn, token_bytes, valid_to))
    }

    /// The checks of ImportKeyMaterial up to the token; returns the key ID and the token's
    /// wrapping key pair and algorithm.
    pub fn check_import(
        &mut self,
        caller: &Caller,
        key: &str,
        token: &[u8],
        now: SystemTime,
    ) -> Result<(String, WrappingKeyRef, WrappingAlgorithm), KmsError> {
        let id = self
            .inner
            .resolve(caller, key, false, Access::Owner, "ImportKeyMaterial")?;
        let k = self.inner.get(&id)?;
        k.check_importable()?;
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
        Ok((id, info.wrapping, info.algorithm))
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
}

impl Inner {
    pub(super) fn import(
        &mut self,
        key_id: &str,
        request: ImportRequest,
    ) -> Result<(String, String), KmsError> {
        if self.get(key_id)?.primary_region.is_some() {
            return self.import_into_replica(key_id, request);
        }
        let k = self.get_mut(key_id)?;
        k.check_importable()?;
        k.spec.check_material(&request.material)?;
        let computed = crypto::material_id(&k.id, &request.material);
        let import_type = match request.import_type {
            ImportType::Auto if k.materials.is_empty() => ImportType::NewKeyMaterial,
            ImportType::Auto => ImportType::ExistingKeyMaterial,
            t => t,
        };
        let expiration = Material::expiration_for(request.valid_to);
        match import_type {
            ImportType::NewKeyMaterial | ImportType::Auto => {
                if request.key_material_id.is_some() {
                    return Err(KmsError::validation(
                        "KeyMaterialId cannot be specified when ImportType is NEW_KEY_MATERIAL.",
                    ));
                }
                if k.materials.iter().any(|m| m.id == computed) {
                    return Err(KmsError::client(
                        "IncorrectKeyMaterialException",
                        "KMS expected new key material but the key material being imported is already associated with the KMS key.",
                    ));
                }
                if !k.materials.is_empty() && !k.spec.is_symmetric() {
                    // Only symmetric encryption keys take several materials (rotation).
                    return Err(not_associated(&k.id));
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
                    description: request.description,
                    expiration: Some(expiration),
                    valid_to: request.valid_to,
                    ..Material::new(&k.id, request.material, state)
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
                    .ok_or_else(|| not_associated(&k.id))?;
                m.reimport(request.material, request.valid_to, request.description);
            }
        }
        k.enable_if_complete();
        let arn = k.arn.clone();
        self.note_deadline(request.valid_to);
        Ok((arn, computed))
    }

    pub(super) fn delete_imported_key_material(
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
}

/// IncorrectKeyMaterialException for material that is not the key's.
fn not_associated(key_id: &str) -> KmsError {
    KmsError::client(
        "IncorrectKeyMaterialException",
        format!(
            "The key material is not associated with KMS key {key_id}. Only key material previously imported into this KMS key can be reimported."
        ),
    )
}
