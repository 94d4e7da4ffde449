//! The real cryptography behind the simulator: key material IDs, AES-256-GCM ciphertext
//! blobs, RSA wrapping keys for GetParametersForImport and unwrapping in ImportKeyMaterial.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::hmac;
use aws_lc_rs::key_wrap::{AES_256, AesKek, KeyWrapPadded};
use aws_lc_rs::rsa::{
    KeySize, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepAlgorithm, OaepPrivateDecryptingKey,
    PrivateDecryptingKey,
};

use crate::error::KmsError;

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

/// `WrappingKeySpec` of GetParametersForImport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WrappingKeySpec {
    /// RSA 2048.
    Rsa2048,
    /// RSA 3072.
    Rsa3072,
    /// RSA 4096.
    Rsa4096,
}

impl WrappingKeySpec {
    /// Parses `RSA_2048` / `RSA_3072` / `RSA_4096`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "RSA_2048" => Some(Self::Rsa2048),
            "RSA_3072" => Some(Self::Rsa3072),
            "RSA_4096" => Some(Self::Rsa4096),
            _ => None,
        }
    }

    /// The wire spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Rsa2048 => "RSA_2048",
            Self::Rsa3072 => "RSA_3072",
            Self::Rsa4096 => "RSA_4096",
        }
    }

    fn index(&self) -> usize {
        match self {
            Self::Rsa2048 => 0,
            Self::Rsa3072 => 1,
            Self::Rsa4096 => 2,
        }
    }

    fn key_size(&self) -> KeySize {
        match self {
            Self::Rsa2048 => KeySize::Rsa2048,
            Self::Rsa3072 => KeySize::Rsa3072,
            Self::Rsa4096 => KeySize::Rsa4096,
        }
    }
}

/// `WrappingAlgorithm` of GetParametersForImport that the simulator supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WrappingAlgorithm {
    /// RSAES_OAEP_SHA_1.
    RsaesOaepSha1,
    /// RSAES_OAEP_SHA_256.
    RsaesOaepSha256,
    /// RSA_AES_KEY_WRAP_SHA_1 (RSA-OAEP-wrapped AES key + AES key wrap with padding).
    RsaAesKeyWrapSha1,
    /// RSA_AES_KEY_WRAP_SHA_256.
    RsaAesKeyWrapSha256,
}

impl WrappingAlgorithm {
    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "RSAES_OAEP_SHA_1" => Some(Self::RsaesOaepSha1),
            "RSAES_OAEP_SHA_256" => Some(Self::RsaesOaepSha256),
            "RSA_AES_KEY_WRAP_SHA_1" => Some(Self::RsaAesKeyWrapSha1),
            "RSA_AES_KEY_WRAP_SHA_256" => Some(Self::RsaAesKeyWrapSha256),
            _ => None,
        }
    }

    /// The wire spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::RsaesOaepSha1 => "RSAES_OAEP_SHA_1",
            Self::RsaesOaepSha256 => "RSAES_OAEP_SHA_256",
            Self::RsaAesKeyWrapSha1 => "RSA_AES_KEY_WRAP_SHA_1",
            Self::RsaAesKeyWrapSha256 => "RSA_AES_KEY_WRAP_SHA_256",
        }
    }

    pub(crate) fn oaep(&self) -> &'static OaepAlgorithm {
        match self {
            Self::RsaesOaepSha1 | Self::RsaAesKeyWrapSha1 => &OAEP_SHA1_MGF1SHA1,
            Self::RsaesOaepSha256 | Self::RsaAesKeyWrapSha256 => &OAEP_SHA256_MGF1SHA256,
        }
    }

    pub(crate) fn uses_aes_key_wrap(&self) -> bool {
        matches!(self, Self::RsaAesKeyWrapSha1 | Self::RsaAesKeyWrapSha256)
    }
}

/// How many wrapping key pairs each spec rotates through: consecutive GetParametersForImport
/// calls get different key pairs, so a public key only works with its own import token.
const WRAPPING_POOL: usize = 3;

/// One wrapping key pair of the pool: its spec and slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WrappingKeyRef {
    pub spec: WrappingKeySpec,
    slot: usize,
}

impl WrappingKeyRef {
    /// The next key pair of `spec`'s pool (round robin).
    pub(crate) fn next(spec: WrappingKeySpec) -> Self {
        static NEXT: [AtomicUsize; 3] = [
            AtomicUsize::new(0),
            AtomicUsize::new(0),
            AtomicUsize::new(0),
        ];
        let slot = NEXT[spec.index()].fetch_add(1, Ordering::Relaxed) % WRAPPING_POOL;
        WrappingKeyRef { spec, slot }
    }
}

/// An RSA wrapping key pair, generated once per pool slot and process.
pub(crate) struct WrappingKey {
    private: PrivateDecryptingKey,
    /// DER SubjectPublicKeyInfo, as GetParametersForImport returns it.
    pub public_der: Vec<u8>,
}

type Slot = OnceLock<Result<Arc<WrappingKey>, String>>;

static WRAPPING_KEYS: [[Slot; WRAPPING_POOL]; 3] =
    [const { [const { OnceLock::new() }; WRAPPING_POOL] }; 3];

/// The cached wrapping key pair `which`, generated on first use (slow for RSA 4096: call it
/// from a blocking context).
pub(crate) fn wrapping_key(which: WrappingKeyRef) -> Result<Arc<WrappingKey>, KmsError> {
    let spec = which.spec;
    let slot = &WRAPPING_KEYS[spec.index()][which.slot];
    slot.get_or_init(|| {
        let private = PrivateDecryptingKey::generate(spec.key_size())
            .map_err(|_| "RSA key generation failed".to_string())?;
        let public_der = private
            .public_key()
            .as_der()
            .map_err(|_| "public key encoding failed".to_string())?
            .as_ref()
            .to_vec();
        Ok(Arc::new(WrappingKey {
            private,
            public_der,
        }))
    })
    .clone()
    .map_err(|e| KmsError::server("KMSInternalException", e))
}

/// Unwraps imported key material encrypted under `key` with `algorithm`.
pub(crate) fn unwrap_material(
    key: &WrappingKey,
    algorithm: WrappingAlgorithm,
    wrapped: &[u8],
) -> Result<Vec<u8>, ()> {
    let oaep = OaepPrivateDecryptingKey::new(key.private.clone()).map_err(|_| ())?;
    let rsa_len = oaep.key_size_bytes();
    if algorithm.uses_aes_key_wrap() {
        if wrapped.len() <= rsa_len {
            return Err(());
        }
        let (rsa_part, kwp_part) = wrapped.split_at(rsa_len);
        let mut aes_key = vec![0u8; oaep.min_output_size()];
        let aes_key = oaep
            .decrypt(algorithm.oaep(), rsa_part, &mut aes_key, None)
            .map_err(|_| ())?;
        let kek = AesKek::new(&AES_256, aes_key).map_err(|_| ())?;
        let mut out = vec![0u8; kwp_part.len()];
        let plain = kek
            .unwrap_with_padding(kwp_part, &mut out)
            .map_err(|_| ())?;
        Ok(plain.to_vec())
    } else {
        if wrapped.len() != rsa_len {
            return Err(());
        }
        let mut out = vec![0u8; oaep.min_output_size()];
        let plain = oaep
            .decrypt(algorithm.oaep(), wrapped, &mut out, None)
            .map_err(|_| ())?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
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
