//! GenerateMac and VerifyMac with HMAC keys.

use crate::crypto;
use crate::error::KmsError;
use crate::model::{KeyState, KeyUsage};

use super::key::{Key, state_error};
use super::spec::{Access, Caller};
use super::state::{Inner, InnerOps};

impl InnerOps<'_> {
    /// GenerateMac: (MAC, key ARN).
    pub fn generate_mac(
        &mut self,
        caller: &Caller,
        key: &str,
        algorithm: &str,
        message: &[u8],
    ) -> Result<(Vec<u8>, String), KmsError> {
        self.inner
            .generate_mac(caller, key, algorithm, message, Access::Read)
    }

    /// VerifyMac: the key ARN when the MAC is valid, KMSInvalidMacException otherwise.
    pub fn verify_mac(
        &mut self,
        caller: &Caller,
        key: &str,
        algorithm: &str,
        message: &[u8],
        mac: &[u8],
    ) -> Result<String, KmsError> {
        self.inner
            .verify_mac(caller, key, algorithm, message, mac, Access::Read)
    }
}

impl Inner {
    pub(super) fn generate_mac(
        &self,
        caller: &Caller,
        key: &str,
        algorithm: &str,
        message: &[u8],
        access: Access,
    ) -> Result<(Vec<u8>, String), KmsError> {
        let (k, secret) = self.mac_key(caller, key, algorithm, "GenerateMac", access)?;
        Ok((crypto::hmac(algorithm, secret, message)?, k.arn.clone()))
    }

    pub(super) fn verify_mac(
        &self,
        caller: &Caller,
        key: &str,
        algorithm: &str,
        message: &[u8],
        mac: &[u8],
        access: Access,
    ) -> Result<String, KmsError> {
        let (k, secret) = self.mac_key(caller, key, algorithm, "VerifyMac", access)?;
        if !crypto::hmac_matches(algorithm, secret, message, mac)? {
            return Err(KmsError::client("KMSInvalidMacException", ""));
        }
        Ok(k.arn.clone())
    }

    /// The MAC algorithm of an HMAC key (for the in-process API, which does not name one).
    pub(super) fn mac_algorithm_of(
        &self,
        caller: &Caller,
        key: &str,
    ) -> Result<&'static str, KmsError> {
        let id = self.resolve(caller, key, true, Access::Admin, "")?;
        let k = self.get(&id)?;
        Ok(k.spec.mac_algorithm().unwrap_or("HMAC_SHA_256"))
    }

    /// The HMAC key and its secret, after the usage, state and algorithm checks.
    fn mac_key(
        &self,
        caller: &Caller,
        key: &str,
        algorithm: &str,
        operation: &str,
        access: Access,
    ) -> Result<(&Key, &[u8]), KmsError> {
        let k = self.usable_key(caller, key, KeyUsage::GenerateVerifyMac, operation, access)?;
        if k.spec.mac_algorithm() != Some(algorithm) {
            return Err(KmsError::client(
                "InvalidKeyUsageException",
                format!(
                    "Algorithm {algorithm} is incompatible with key spec {}.",
                    k.spec
                ),
            ));
        }
        let secret = k
            .current()
            .and_then(|m| m.bytes.as_deref())
            .ok_or_else(|| state_error(&k.arn, KeyState::PendingImport))?;
        Ok((k, secret))
    }
}
