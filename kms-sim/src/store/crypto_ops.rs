//! The cryptographic operations on keys: the usability checks they share, Encrypt and Decrypt.

use std::collections::BTreeMap;

use crate::crypto;
use crate::error::KmsError;
use crate::model::{KeyState, KeyUsage};

use super::key::{Key, state_error};
use super::resolve::{KeyRef, parse_key_ref};
use super::spec::{Access, Caller};
use super::state::{Inner, InnerOps};

/// A ciphertext blob and what made it.
pub(crate) struct Sealed {
    /// The blob.
    pub blob: Vec<u8>,
    /// The key ARN.
    pub arn: String,
    /// The material that encrypted it.
    pub material_id: String,
}

impl InnerOps<'_> {
    /// Encrypt (and the data-key operations, named by `operation` in usage errors).
    pub fn encrypt(
        &mut self,
        caller: &Caller,
        key: &str,
        plaintext: &[u8],
        context: &BTreeMap<String, String>,
        operation: &str,
    ) -> Result<Sealed, KmsError> {
        self.inner
            .encrypt(caller, key, plaintext, context, operation, Access::Read)
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
    /// The key a cryptographic operation uses: resolved (aliases allowed), `Enabled`, and of the
    /// usage the operation needs (InvalidKeyUsageException otherwise).
    pub(super) fn usable_key(
        &self,
        caller: &Caller,
        key: &str,
        usage: KeyUsage,
        operation: &str,
        access: Access,
    ) -> Result<&Key, KmsError> {
        let id = self.resolve(caller, key, true, access, operation)?;
        let k = self.get(&id)?;
        if k.state != KeyState::Enabled {
            return Err(k.state_error());
        }
        if k.usage != usage {
            return Err(KmsError::client(
                "InvalidKeyUsageException",
                format!(
                    "{} key usage is {} which is not valid for {operation}.",
                    k.arn, k.usage
                ),
            ));
        }
        Ok(k)
    }

    pub(super) fn encrypt(
        &self,
        caller: &Caller,
        key: &str,
        plaintext: &[u8],
        context: &BTreeMap<String, String>,
        operation: &str,
        access: Access,
    ) -> Result<Sealed, KmsError> {
        let k = self.usable_key(caller, key, KeyUsage::EncryptDecrypt, operation, access)?;
        let current = k
            .current()
            .ok_or_else(|| state_error(&k.arn, KeyState::PendingImport))?;
        let bytes = current
            .bytes
            .as_deref()
            .ok_or_else(|| state_error(&k.arn, KeyState::PendingImport))?;
        let blob = crypto::seal(&k.arn, &current.id, aes_key(bytes)?, context, plaintext)?;
        Ok(Sealed {
            blob,
            arn: k.arn.clone(),
            material_id: current.id.clone(),
        })
    }

    pub(super) fn decrypt(
        &self,
        caller: &Caller,
        blob: &[u8],
        context: &BTreeMap<String, String>,
        key: Option<&str>,
        access: Access,
    ) -> Result<(Vec<u8>, String, String), KmsError> {
        let (header, body) = crypto::parse_blob(blob)?;
        let (blob_key_id, blob_region) = match parse_key_ref(&header.arn) {
            Ok(KeyRef::KeyArn { id, region, .. }) => (id, region),
            _ => return Err(crypto::invalid_ciphertext()),
        };
        if let Some(requested) = key {
            let requested = self.resolve(caller, requested, true, access, "Decrypt")?;
            if self.get(&requested)?.id != blob_key_id {
                return Err(KmsError::client(
                    "IncorrectKeyException",
                    "The key ID in the request does not identify a CMK that can perform this operation.",
                ));
            }
        }
        // A multi-Region ciphertext decrypts with the related key of the caller's Region.
        let related = self
            .find(&blob_key_id, &caller.region)
            .filter(|k| k.multi_region && k.account == caller.account);
        let k = match related.or_else(|| self.find(&blob_key_id, &blob_region)) {
            Some(k) if k.multi_region || k.arn == header.arn => k,
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
        let bytes = material
            .bytes
            .as_deref()
            .ok_or_else(crypto::invalid_ciphertext)?;
        let plain = crypto::open(&header, body, aes_key(bytes)?, context)?;
        Ok((plain, k.arn.clone(), material.id.clone()))
    }
}

/// The 256-bit AES key of symmetric material.
fn aes_key(bytes: &[u8]) -> Result<&[u8; 32], KmsError> {
    bytes
        .try_into()
        .map_err(|_| KmsError::server("KMSInternalException", "symmetric material is not 32 bytes"))
}
