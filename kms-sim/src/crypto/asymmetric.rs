//! Key pairs of asymmetric KMS keys, held as PKCS#8 DER private keys: generation, import
//! checks, public keys (DER SubjectPublicKeyInfo), signatures (RSASSA-PSS, RSASSA-PKCS1-v1_5,
//! ECDSA over RAW messages or DIGESTs) and RSA-OAEP encryption.

use aws_lc_rs::digest::{self, Digest};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{
    KeySize, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepAlgorithm, OaepPrivateDecryptingKey,
    OaepPublicEncryptingKey, PrivateDecryptingKey,
};
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, EcdsaSigningAlgorithm, EcdsaVerificationAlgorithm, KeyPair, RsaEncoding,
    RsaKeyPair, RsaParameters, UnparsedPublicKey,
};

use crate::error::KmsError;
use crate::model::KmsKeySpec;

/// Signing algorithms of RSA keys, as DescribeKey lists them.
pub(crate) const RSA_SIGNING: &[&str] = &[
    "RSASSA_PSS_SHA_256",
    "RSASSA_PSS_SHA_384",
    "RSASSA_PSS_SHA_512",
    "RSASSA_PKCS1_V1_5_SHA_256",
    "RSASSA_PKCS1_V1_5_SHA_384",
    "RSASSA_PKCS1_V1_5_SHA_512",
];

/// The message a signature covers: the message itself, or its digest (`MessageType`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Signed<'a> {
    /// `RAW`: KMS hashes the message.
    Raw(&'a [u8]),
    /// `DIGEST`: the caller hashed it.
    Digest(&'a [u8]),
}

fn internal(what: &str) -> KmsError {
    KmsError::server("KMSInternalException", format!("kms-sim: {what}"))
}

struct Ecdsa {
    signing: &'static EcdsaSigningAlgorithm,
    verifying: &'static EcdsaVerificationAlgorithm,
    digest: &'static digest::Algorithm,
    name: &'static str,
}

fn ecdsa(spec: KmsKeySpec) -> Option<Ecdsa> {
    let (signing, verifying, digest, name) = match spec {
        KmsKeySpec::EccNistP256 => (
            &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &signature::ECDSA_P256_SHA256_ASN1,
            &digest::SHA256,
            "ECDSA_SHA_256",
        ),
        KmsKeySpec::EccNistP384 => (
            &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
            &signature::ECDSA_P384_SHA384_ASN1,
            &digest::SHA384,
            "ECDSA_SHA_384",
        ),
        KmsKeySpec::EccNistP521 => (
            &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
            &signature::ECDSA_P521_SHA512_ASN1,
            &digest::SHA512,
            "ECDSA_SHA_512",
        ),
        KmsKeySpec::EccSecgP256k1 => (
            &signature::ECDSA_P256K1_SHA256_ASN1_SIGNING,
            &signature::ECDSA_P256K1_SHA256_ASN1,
            &digest::SHA256,
            "ECDSA_SHA_256",
        ),
        _ => return None,
    };
    Some(Ecdsa {
        signing,
        verifying,
        digest,
        name,
    })
}

fn rsa_size(spec: KmsKeySpec) -> Option<KeySize> {
    match spec {
        KmsKeySpec::Rsa2048 => Some(KeySize::Rsa2048),
        KmsKeySpec::Rsa3072 => Some(KeySize::Rsa3072),
        KmsKeySpec::Rsa4096 => Some(KeySize::Rsa4096),
        _ => None,
    }
}

type RsaScheme = (
    &'static dyn RsaEncoding,
    &'static RsaParameters,
    &'static digest::Algorithm,
);

fn rsa_scheme(algorithm: &str) -> Option<RsaScheme> {
    use signature as s;
    Some(match algorithm {
        "RSASSA_PSS_SHA_256" => (
            &s::RSA_PSS_SHA256,
            &s::RSA_PSS_2048_8192_SHA256,
            &digest::SHA256,
        ),
        "RSASSA_PSS_SHA_384" => (
            &s::RSA_PSS_SHA384,
            &s::RSA_PSS_2048_8192_SHA384,
            &digest::SHA384,
        ),
        "RSASSA_PSS_SHA_512" => (
            &s::RSA_PSS_SHA512,
            &s::RSA_PSS_2048_8192_SHA512,
            &digest::SHA512,
        ),
        "RSASSA_PKCS1_V1_5_SHA_256" => (
            &s::RSA_PKCS1_SHA256,
            &s::RSA_PKCS1_2048_8192_SHA256,
            &digest::SHA256,
        ),
        "RSASSA_PKCS1_V1_5_SHA_384" => (
            &s::RSA_PKCS1_SHA384,
            &s::RSA_PKCS1_2048_8192_SHA384,
            &digest::SHA384,
        ),
        "RSASSA_PKCS1_V1_5_SHA_512" => (
            &s::RSA_PKCS1_SHA512,
            &s::RSA_PKCS1_2048_8192_SHA512,
            &digest::SHA512,
        ),
        _ => return None,
    })
}

/// The signing algorithms of a key spec (empty for non-signing specs).
pub(crate) fn signing_algorithms(spec: KmsKeySpec) -> Vec<&'static str> {
    if rsa_size(spec).is_some() {
        return RSA_SIGNING.to_vec();
    }
    ecdsa(spec).map(|e| vec![e.name]).unwrap_or_default()
}

/// A fresh key pair of `spec`, as PKCS#8 DER.
pub(crate) fn generate(spec: KmsKeySpec) -> Result<Vec<u8>, KmsError> {
    if let Some(size) = rsa_size(spec) {
        let pair = RsaKeyPair::generate(size).map_err(|_| internal("RSA key generation"))?;
        let der: aws_lc_rs::encoding::Pkcs8V1Der<'_> =
            pair.as_der().map_err(|_| internal("PKCS#8 encoding"))?;
        return Ok(der.as_ref().to_vec());
    }
    let e = ecdsa(spec).ok_or_else(|| internal("not an asymmetric spec"))?;
    let pair = EcdsaKeyPair::generate(e.signing).map_err(|_| internal("EC key generation"))?;
    let der = pair.to_pkcs8v1().map_err(|_| internal("PKCS#8 encoding"))?;
    Ok(der.as_ref().to_vec())
}

/// Checks that `der` is a PKCS#8 private key of `spec` (curve, or RSA modulus size).
pub(crate) fn check_private_key(spec: KmsKeySpec, der: &[u8]) -> Result<(), String> {
    if let Some(size) = rsa_size(spec) {
        let pair =
            RsaKeyPair::from_pkcs8(der).map_err(|e| format!("not an RSA private key: {e}"))?;
        let bits = pair.public_modulus_len() * 8;
        let want = match size {
            KeySize::Rsa2048 => 2048,
            KeySize::Rsa3072 => 3072,
            _ => 4096,
        };
        return if bits == want {
            Ok(())
        } else {
            Err(format!("an RSA key of {bits} bits, not {want}"))
        };
    }
    let e = ecdsa(spec).ok_or("not an asymmetric key spec")?;
    EcdsaKeyPair::from_pkcs8(e.signing, der)
        .map(|_| ())
        .map_err(|err| format!("not a private key on the curve of {spec}: {err}"))
}

/// The public key of a key pair, as DER SubjectPublicKeyInfo (GetPublicKey).
pub(crate) fn public_key_der(spec: KmsKeySpec, der: &[u8]) -> Result<Vec<u8>, KmsError> {
    let spki = if rsa_size(spec).is_some() {
        let pair = RsaKeyPair::from_pkcs8(der).map_err(|_| internal("stored RSA key"))?;
        pair.public_key().as_der().map(|d| d.as_ref().to_vec())
    } else {
        let e = ecdsa(spec).ok_or_else(|| internal("not an asymmetric spec"))?;
        let pair =
            EcdsaKeyPair::from_pkcs8(e.signing, der).map_err(|_| internal("stored EC key"))?;
        pair.public_key().as_der().map(|d| d.as_ref().to_vec())
    };
    spki.map_err(|_| internal("public key encoding"))
}

/// Whether `algorithm` is one of the spec's signing algorithms.
pub(crate) fn signs_with(spec: KmsKeySpec, algorithm: &str) -> bool {
    signing_algorithms(spec).contains(&algorithm)
}

fn digest_of(
    input: Signed<'_>,
    algorithm: &'static digest::Algorithm,
    name: &str,
) -> Result<Digest, KmsError> {
    match input {
        Signed::Raw(message) => Ok(digest::digest(algorithm, message)),
        Signed::Digest(d) => Digest::import_less_safe(d, algorithm).map_err(|_| {
            KmsError::validation(format!(
                "Digest is invalid length for algorithm {name}: it must be {} bytes.",
                algorithm.output_len()
            ))
        }),
    }
}

/// Signs with the key pair (the algorithm must be the spec's: see [`signs_with`]).
pub(crate) fn sign(
    spec: KmsKeySpec,
    der: &[u8],
    algorithm: &str,
    input: Signed<'_>,
) -> Result<Vec<u8>, KmsError> {
    if let Some((encoding, _, hash)) = rsa_scheme(algorithm) {
        let digest = digest_of(input, hash, algorithm)?;
        let pair = RsaKeyPair::from_pkcs8(der).map_err(|_| internal("stored RSA key"))?;
        let mut sig = vec![0u8; pair.public_modulus_len()];
        pair.sign_digest(encoding, &digest, &mut sig)
            .map_err(|_| internal("RSA signing"))?;
        return Ok(sig);
    }
    let e = ecdsa(spec).ok_or_else(|| internal("no signing algorithm"))?;
    let digest = digest_of(input, e.digest, algorithm)?;
    let pair = EcdsaKeyPair::from_pkcs8(e.signing, der).map_err(|_| internal("stored EC key"))?;
    let sig = pair
        .sign_digest(&digest)
        .map_err(|_| internal("ECDSA signing"))?;
    Ok(sig.as_ref().to_vec())
}

/// Whether `sig` is a valid signature of the input by the key pair.
pub(crate) fn verify(
    spec: KmsKeySpec,
    der: &[u8],
    algorithm: &str,
    input: Signed<'_>,
    sig: &[u8],
) -> Result<bool, KmsError> {
    if let Some((_, params, hash)) = rsa_scheme(algorithm) {
        let digest = digest_of(input, hash, algorithm)?;
        let pair = RsaKeyPair::from_pkcs8(der).map_err(|_| internal("stored RSA key"))?;
        let public = UnparsedPublicKey::new(params, pair.public_key().as_ref());
        return Ok(public.verify_digest(&digest, sig).is_ok());
    }
    let e = ecdsa(spec).ok_or_else(|| internal("no signing algorithm"))?;
    let digest = digest_of(input, e.digest, algorithm)?;
    let pair = EcdsaKeyPair::from_pkcs8(e.signing, der).map_err(|_| internal("stored EC key"))?;
    let public = UnparsedPublicKey::new(e.verifying, pair.public_key().as_ref());
    Ok(public.verify_digest(&digest, sig).is_ok())
}

/// The OAEP variant of an RSA encryption algorithm (`RSAES_OAEP_SHA_1` / `_256`).
pub(crate) fn oaep(algorithm: &str) -> Option<&'static OaepAlgorithm> {
    match algorithm {
        "RSAES_OAEP_SHA_1" => Some(&OAEP_SHA1_MGF1SHA1),
        "RSAES_OAEP_SHA_256" => Some(&OAEP_SHA256_MGF1SHA256),
        _ => None,
    }
}

/// RSA-OAEP encryption under the key pair's public key.
pub(crate) fn rsa_encrypt(
    spec: KmsKeySpec,
    der: &[u8],
    algorithm: &'static OaepAlgorithm,
    name: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, KmsError> {
    let private = PrivateDecryptingKey::from_pkcs8(der).map_err(|_| internal("stored RSA key"))?;
    let public = OaepPublicEncryptingKey::new(private.public_key())
        .map_err(|_| internal("RSA public key"))?;
    let max = public.max_plaintext_size(algorithm);
    if plaintext.len() > max {
        return Err(KmsError::validation(format!(
            "Plaintext of {} bytes is too long for key spec {spec} with {name}: at most {max} bytes.",
            plaintext.len()
        )));
    }
    let mut out = vec![0u8; public.ciphertext_size()];
    let ct = public
        .encrypt(algorithm, plaintext, &mut out, None)
        .map_err(|_| internal("RSA encryption"))?;
    Ok(ct.to_vec())
}

/// RSA-OAEP decryption; InvalidCiphertextException when it fails.
pub(crate) fn rsa_decrypt(
    der: &[u8],
    algorithm: &'static OaepAlgorithm,
    ciphertext: &[u8],
) -> Result<Vec<u8>, KmsError> {
    let private = PrivateDecryptingKey::from_pkcs8(der).map_err(|_| internal("stored RSA key"))?;
    let oaep = OaepPrivateDecryptingKey::new(private).map_err(|_| internal("RSA key"))?;
    let mut out = vec![0u8; oaep.min_output_size()];
    oaep.decrypt(algorithm, ciphertext, &mut out, None)
        .map(|p| p.to_vec())
        .map_err(|_| super::invalid_ciphertext())
}
