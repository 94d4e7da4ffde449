//! Client-side wrapping of key material, as a key custodian does before ImportKeyMaterial
//! (for tests and the drill that import through the SDK).

use std::fmt;

use aws_lc_rs::key_wrap::{AES_256, AesKek, KeyWrapPadded};
use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey};

use crate::crypto::{WrappingAlgorithm, random_bytes};

/// Why wrapping failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrapError(pub String);

impl fmt::Display for WrapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot wrap key material: {}", self.0)
    }
}

impl std::error::Error for WrapError {}

/// Encrypts `material` under the wrapping public key that GetParametersForImport returned
/// (`public_key_der`: DER SubjectPublicKeyInfo) with `algorithm`, one of `RSAES_OAEP_SHA_1`,
/// `RSAES_OAEP_SHA_256`, `RSA_AES_KEY_WRAP_SHA_1`, `RSA_AES_KEY_WRAP_SHA_256`. The result is
/// the `EncryptedKeyMaterial` of ImportKeyMaterial. Works against real KMS too.
pub fn wrap_key_material(
    public_key_der: &[u8],
    material: &[u8],
    algorithm: &str,
) -> Result<Vec<u8>, WrapError> {
    let algorithm = WrappingAlgorithm::parse(algorithm)
        .ok_or_else(|| WrapError(format!("unsupported wrapping algorithm {algorithm}")))?;
    let public = PublicEncryptingKey::from_der(public_key_der)
        .map_err(|e| WrapError(format!("bad public key: {e}")))?;
    let oaep = OaepPublicEncryptingKey::new(public)
        .map_err(|_| WrapError("not an RSA encryption key".to_string()))?;
    let rsa_encrypt = |plain: &[u8]| -> Result<Vec<u8>, WrapError> {
        let mut out = vec![0u8; oaep.ciphertext_size()];
        let ct = oaep
            .encrypt(algorithm.oaep(), plain, &mut out, None)
            .map_err(|_| WrapError("RSA-OAEP encryption failed (material too long?)".into()))?;
        Ok(ct.to_vec())
    };
    if algorithm.uses_aes_key_wrap() {
        let aes_key: [u8; 32] = random_bytes();
        let mut wrapped = rsa_encrypt(&aes_key)?;
        let kek = AesKek::new(&AES_256, &aes_key).map_err(|_| WrapError("AES key".into()))?;
        let mut out = vec![0u8; material.len() + 16];
        let kwp = kek
            .wrap_with_padding(material, &mut out)
            .map_err(|_| WrapError("AES key wrap failed".into()))?;
        wrapped.extend_from_slice(kwp);
        Ok(wrapped)
    } else {
        rsa_encrypt(material)
    }
}
