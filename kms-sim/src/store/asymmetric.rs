//! Operations on asymmetric keys: GetPublicKey, Sign, Verify, and Encrypt / Decrypt with RSA
//! key pairs.

use crate::crypto::{self, Signed};
use crate::error::KmsError;
use crate::keyspec::KeyFamily;
use crate::model::{KeyState, KeyUsage, KmsKeySpec};

use super::key::{Key, state_error};
use super::spec::{Access, Caller};
use super::state::{Inner, InnerOps};

/// What GetPublicKey returns.
pub(crate) struct PublicKeyInfo {
    /// Key ARN.
    pub arn: String,
    /// `KeySpec`.
    pub spec: KmsKeySpec,
    /// `KeyUsage`.
    pub usage: KeyUsage,
    /// DER SubjectPublicKeyInfo.
    pub der: Vec<u8>,
}

impl InnerOps<'_> {
    pub fn get_public_key(
        &mut self,
        caller: &Caller,
        key: &str,
    ) -> Result<PublicKeyInfo, KmsError> {
        let (k, der) = self
            .inner
            .key_pair(caller, key, None, "GetPublicKey", Access::Read)?;
        Ok(PublicKeyInfo {
            arn: k.arn.clone(),
            spec: k.spec,
            usage: k.usage,
            der: crypto::public_key_der(k.spec, der)?,
        })
    }

    /// Sign: (signature, key ARN).
    pub fn sign(
        &mut self,
        caller: &Caller,
        key: &str,
        algorithm: &str,
        input: Signed<'_>,
    ) -> Result<(Vec<u8>, String), KmsError> {
        let (k, der) = self.inner.key_pair(
            caller,
            key,
            Some(KeyUsage::SignVerify),
            "Sign",
            Access::Read,
        )?;
        check_algorithm(k, crypto::signs_with(k.spec, algorithm), algorithm)?;
        Ok((crypto::sign(k.spec, der, algorithm, input)?, k.arn.clone()))
    }

    /// Verify: the key ARN when valid, KMSInvalidSignatureException otherwise.
    pub fn verify(
        &mut self,
        caller: &Caller,
        key: &str,
        algorithm: &str,
        input: Signed<'_>,
        signature: &[u8],
    ) -> Result<String, KmsError> {
        let (k, der) = self.inner.key_pair(
            caller,
            key,
            Some(KeyUsage::SignVerify),
            "Verify",
            Access::Read,
        )?;
        check_algorithm(k, crypto::signs_with(k.spec, algorithm), algorithm)?;
        if !crypto::verify(k.spec, der, algorithm, input, signature)? {
            return Err(KmsError::client("KMSInvalidSignatureException", ""));
        }
        Ok(k.arn.clone())
    }

    /// Encrypt with an RSA key pair (RSAES_OAEP_SHA_1 / _256): (ciphertext, key ARN).
    pub fn rsa_encrypt(
        &mut self,
        caller: &Caller,
        key: &str,
        algorithm: &str,
        plaintext: &[u8],
    ) -> Result<(Vec<u8>, String), KmsError> {
        let (k, der) = self.inner.key_pair(
            caller,
            key,
            Some(KeyUsage::EncryptDecrypt),
            "Encrypt",
            Access::Read,
        )?;
        let oaep = crypto::oaep(algorithm);
        check_algorithm(k, oaep.is_some(), algorithm)?;
        let oaep = oaep.ok_or_else(crypto::invalid_ciphertext)?;
        Ok((
            crypto::rsa_encrypt(k.spec, der, oaep, algorithm, plaintext)?,
            k.arn.clone(),
        ))
    }

    /// Decrypt with an RSA key pair: (plaintext, key ARN).
    pub fn rsa_decrypt(
        &mut self,
        caller: &Caller,
        key: &str,
        algorithm: &str,
        ciphertext: &[u8],
    ) -> Result<(Vec<u8>, String), KmsError> {
        let (k, der) = self.inner.key_pair(
            caller,
            key,
            Some(KeyUsage::EncryptDecrypt),
            "Decrypt",
            Access::Read,
        )?;
        let oaep = crypto::oaep(algorithm);
        check_algorithm(k, oaep.is_some(), algorithm)?;
        let oaep = oaep.ok_or_else(crypto::invalid_ciphertext)?;
        Ok((crypto::rsa_decrypt(der, oaep, ciphertext)?, k.arn.clone()))
    }
}

/// InvalidKeyUsageException for an algorithm the key spec does not support.
fn check_algorithm(k: &Key, supported: bool, algorithm: &str) -> Result<(), KmsError> {
    if supported {
        return Ok(());
    }
    Err(KmsError::client(
        "InvalidKeyUsageException",
        format!(
            "Algorithm {algorithm} is incompatible with key spec {}.",
            k.spec
        ),
    ))
}

impl Inner {
    /// An asymmetric key usable by `operation` (of `usage`, when one is needed) and its private
    /// key (PKCS#8 DER). Symmetric and HMAC keys: UnsupportedOperationException.
    fn key_pair(
        &self,
        caller: &Caller,
        key: &str,
        usage: Option<KeyUsage>,
        operation: &str,
        access: Access,
    ) -> Result<(&Key, &[u8]), KmsError> {
        let id = self.resolve(caller, key, true, access, operation)?;
        let k = self.get(&id)?;
        if !matches!(k.spec.family(), KeyFamily::Rsa | KeyFamily::Ecc) && usage.is_none() {
            return Err(KmsError::client(
                "UnsupportedOperationException",
                format!(
                    "{} key spec {} is not valid for {operation}.",
                    k.arn, k.spec
                ),
            ));
        }
        let k = match usage {
            Some(u) => self.usable_key(caller, key, u, operation, access)?,
            None if k.state != KeyState::Enabled => return Err(k.state_error()),
            None => k,
        };
        let der = k
            .current()
            .and_then(|m| m.bytes.as_deref())
            .ok_or_else(|| state_error(&k.arn, KeyState::PendingImport))?;
        Ok((k, der))
    }
}
