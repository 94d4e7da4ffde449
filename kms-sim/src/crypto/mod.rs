//! The real cryptography behind the simulator: randomness, key material IDs and HMAC here;
//! AES-256-GCM ciphertext blobs (`blob`), RSA wrapping keys for imports (`wrapping`) and key
//! pairs for signing and RSA encryption (`asymmetric`) in the submodules.

mod asymmetric;
mod blob;
mod wrapping;

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::hmac;

use crate::error::KmsError;

pub(crate) use asymmetric::{
    Signed, check_private_key, generate as generate_key_pair, oaep, public_key_der, rsa_decrypt,
    rsa_encrypt, sign, signing_algorithms, signs_with, verify,
};
pub(crate) use blob::{invalid_ciphertext, open, parse_blob, seal};
pub use wrapping::{WrappingAlgorithm, WrappingKeySpec};
pub(crate) use wrapping::{WrappingKeyRef, unwrap_material, wrapping_key};

/// Random bytes from the system RNG.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    if aws_lc_rs::rand::fill(&mut out).is_err() {
        // The system RNG does not fail on supported platforms; fall back to UUID randomness
        // rather than panicking.
        for chunk in out.chunks_mut(16) {
            let u = uuid::Uuid::new_v4();
            let b = u.as_bytes();
            chunk.copy_from_slice(&b[..chunk.len()]);
        }
    }
    out
}

/// `len` random bytes.
pub(crate) fn random_vec(len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    for chunk in out.chunks_mut(32) {
        let block: [u8; 32] = random_bytes();
        chunk.copy_from_slice(&block[..chunk.len()]);
    }
    out
}

/// A uniformly distributed f64 in [0, 1).
pub(crate) fn random_unit() -> f64 {
    let b: [u8; 8] = random_bytes();
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

/// The key material ID of `material` in the key `key_id`: KMS derives it from the key ID and the
/// material, so re-importing the same material yields the same ID. 64 lowercase hex characters.
pub(crate) fn material_id(key_id: &str, material: &[u8]) -> String {
    let mut input = Vec::with_capacity(key_id.len() + material.len() + 32);
    input.extend_from_slice(b"kms-sim/key-material-id/v1\0");
    input.extend_from_slice(key_id.as_bytes());
    input.push(0);
    input.extend_from_slice(material);
    hex::encode(digest(&SHA256, &input).as_ref())
}

/// HMAC of `message` under `key` with a KMS MAC algorithm (`HMAC_SHA_256`, ...).
pub(crate) fn hmac(algorithm: &str, key: &[u8], message: &[u8]) -> Result<Vec<u8>, KmsError> {
    let algorithm = match algorithm {
        "HMAC_SHA_224" => hmac::HMAC_SHA224,
        "HMAC_SHA_256" => hmac::HMAC_SHA256,
        "HMAC_SHA_384" => hmac::HMAC_SHA384,
        "HMAC_SHA_512" => hmac::HMAC_SHA512,
        other => {
            return Err(KmsError::server(
                "KMSInternalException",
                format!("no HMAC algorithm {other}"),
            ));
        }
    };
    let key = hmac::Key::new(algorithm, key);
    Ok(hmac::sign(&key, message).as_ref().to_vec())
}

/// Whether `mac` is the HMAC of `message` (constant-time comparison).
pub(crate) fn hmac_matches(
    algorithm: &str,
    key: &[u8],
    message: &[u8],
    mac: &[u8],
) -> Result<bool, KmsError> {
    let expected = hmac(algorithm, key, message)?;
    Ok(aws_lc_rs::constant_time::verify_slices_are_equal(&expected, mac).is_ok())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn seal_then_open_round_trips_and_binds_the_context() {
        let material = [7u8; 32];
        let id = material_id("k", &material);
        let mut ctx = BTreeMap::new();
        ctx.insert("purpose".to_string(), "test".to_string());
        let blob = seal(
            "arn:aws:kms:us-east-1:111111111111:key/k",
            &id,
            &material,
            &ctx,
            b"hi",
        )
        .expect("seal");
        let (header, body) = parse_blob(&blob).expect("header");
        assert_eq!(header.material_id, id);
        assert_eq!(open(&header, body, &material, &ctx).expect("open"), b"hi");
        assert!(open(&header, body, &material, &BTreeMap::new()).is_err());
        assert!(open(&header, body, &[8u8; 32], &ctx).is_err());
    }

    #[test]
    fn garbage_blobs_are_invalid_ciphertext() {
        for blob in [&b""[..], b"KSIM", b"KSIM\x01\xff\xff", b"nope nope nope"] {
            let err = parse_blob(blob).err().expect("error");
            assert_eq!(err.code, "InvalidCiphertextException");
        }
    }

    #[test]
    fn material_ids_are_64_hex_and_depend_on_key_and_material() {
        let a = material_id("k1", &[1; 32]);
        assert_eq!(a.len(), 64);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(a, material_id("k1", &[1; 32]));
        assert_ne!(a, material_id("k2", &[1; 32]));
        assert_ne!(a, material_id("k1", &[2; 32]));
    }
}
