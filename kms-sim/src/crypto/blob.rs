//! AES-256-GCM ciphertext blobs of symmetric keys: kms-sim's own format, naming the key ARN and
//! the material ID in clear (authenticated) so Decrypt finds both.

use std::collections::BTreeMap;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

use crate::error::KmsError;

use super::random_bytes;

const BLOB_MAGIC: &[u8; 4] = b"KSIM";
const BLOB_VERSION: u8 = 1;
const TAG_LEN: usize = 16;

/// What a ciphertext blob names: the key ARN and the material that encrypted it.
pub(crate) struct BlobHeader {
    pub arn: String,
    pub material_id: String,
}

fn aad_bytes(arn: &str, material_id: &str, context: &BTreeMap<String, String>) -> Vec<u8> {
    let mut aad = Vec::new();
    aad.extend_from_slice(b"kms-sim/v1");
    for part in [arn, material_id] {
        aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
        aad.extend_from_slice(part.as_bytes());
    }
    for (k, v) in context {
        aad.extend_from_slice(&(k.len() as u32).to_be_bytes());
        aad.extend_from_slice(k.as_bytes());
        aad.extend_from_slice(&(v.len() as u32).to_be_bytes());
        aad.extend_from_slice(v.as_bytes());
    }
    aad
}

fn gcm_key(material: &[u8; 32]) -> Result<LessSafeKey, KmsError> {
    UnboundKey::new(&AES_256_GCM, material)
        .map(LessSafeKey::new)
        .map_err(|_| KmsError::server("KMSInternalException", "AES key setup failed"))
}

/// Encrypts `plaintext` under `material` (AES-256-GCM). The blob carries the key ARN and the
/// material ID in clear (authenticated), so Decrypt finds the key and the material.
pub(crate) fn seal(
    arn: &str,
    material_id: &str,
    material: &[u8; 32],
    context: &BTreeMap<String, String>,
    plaintext: &[u8],
) -> Result<Vec<u8>, KmsError> {
    let material_id_raw = hex::decode(material_id)
        .ok()
        .filter(|b| b.len() == 32)
        .ok_or_else(|| KmsError::server("KMSInternalException", "bad key material id"))?;
    let arn_len = u16::try_from(arn.len())
        .map_err(|_| KmsError::server("KMSInternalException", "ARN too long"))?;
    let key = gcm_key(material)?;
    let nonce_bytes: [u8; NONCE_LEN] = random_bytes();
    let mut in_out = plaintext.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce_bytes),
        Aad::from(aad_bytes(arn, material_id, context)),
        &mut in_out,
    )
    .map_err(|_| KmsError::server("KMSInternalException", "encryption failed"))?;
    let mut blob = Vec::with_capacity(4 + 1 + 2 + arn.len() + 32 + NONCE_LEN + in_out.len());
    blob.extend_from_slice(BLOB_MAGIC);
    blob.push(BLOB_VERSION);
    blob.extend_from_slice(&arn_len.to_be_bytes());
    blob.extend_from_slice(arn.as_bytes());
    blob.extend_from_slice(&material_id_raw);
    blob.extend_from_slice(&nonce_bytes);
    blob.extend_from_slice(&in_out);
    Ok(blob)
}

/// The empty-message InvalidCiphertextException that KMS returns for a bad blob.
pub(crate) fn invalid_ciphertext() -> KmsError {
    KmsError::client("InvalidCiphertextException", "")
}

/// Reads the header of a ciphertext blob without decrypting it.
pub(crate) fn parse_blob(blob: &[u8]) -> Result<(BlobHeader, &[u8]), KmsError> {
    let rest = blob
        .strip_prefix(BLOB_MAGIC)
        .ok_or_else(invalid_ciphertext)?;
    let (&version, rest) = rest.split_first().ok_or_else(invalid_ciphertext)?;
    if version != BLOB_VERSION || rest.len() < 2 {
        return Err(invalid_ciphertext());
    }
    let arn_len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
    let rest = &rest[2..];
    if rest.len() < arn_len + 32 + NONCE_LEN + TAG_LEN {
        return Err(invalid_ciphertext());
    }
    let arn = std::str::from_utf8(&rest[..arn_len])
        .map_err(|_| invalid_ciphertext())?
        .to_string();
    let material_id = hex::encode(&rest[arn_len..arn_len + 32]);
    Ok((BlobHeader { arn, material_id }, &rest[arn_len + 32..]))
}

/// Decrypts the body of a blob (after [`parse_blob`]) with `material`.
pub(crate) fn open(
    header: &BlobHeader,
    body: &[u8],
    material: &[u8; 32],
    context: &BTreeMap<String, String>,
) -> Result<Vec<u8>, KmsError> {
    if body.len() < NONCE_LEN + TAG_LEN {
        return Err(invalid_ciphertext());
    }
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&body[..NONCE_LEN]);
    let mut in_out = body[NONCE_LEN..].to_vec();
    let key = gcm_key(material)?;
    let plain = key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad_bytes(&header.arn, &header.material_id, context)),
            &mut in_out,
        )
        .map_err(|_| invalid_ciphertext())?;
    Ok(plain.to_vec())
}
