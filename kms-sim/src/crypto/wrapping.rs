//! RSA wrapping keys of GetParametersForImport and the unwrapping of imported key material.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::key_wrap::{AES_256, AesKek, KeyWrapPadded};
use aws_lc_rs::rsa::{
    KeySize, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepAlgorithm, OaepPrivateDecryptingKey,
    PrivateDecryptingKey,
};

use crate::error::KmsError;

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
