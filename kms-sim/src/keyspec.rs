//! What each key spec allows: its key usages, the algorithms DescribeKey lists, the form and size
//! of its key material.

use crate::crypto;
use crate::error::KmsError;
use crate::model::{KeyUsage, KmsKeySpec};

/// The HMAC algorithms of HMAC keys.
pub(crate) const MAC_ALGORITHMS: &[&str] = &[
    "HMAC_SHA_224",
    "HMAC_SHA_256",
    "HMAC_SHA_384",
    "HMAC_SHA_512",
];

/// The kind of key material a spec has (it decides the shared quota of cryptographic calls).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyFamily {
    /// AES-256.
    Symmetric,
    /// HMAC.
    Hmac,
    /// RSA key pair.
    Rsa,
    /// Elliptic-curve key pair.
    Ecc,
}

impl KmsKeySpec {
    /// The spec's family.
    pub(crate) fn family(self) -> KeyFamily {
        use KmsKeySpec::*;
        match self {
            SymmetricDefault => KeyFamily::Symmetric,
            Rsa2048 | Rsa3072 | Rsa4096 => KeyFamily::Rsa,
            EccNistP256 | EccNistP384 | EccNistP521 | EccSecgP256k1 => KeyFamily::Ecc,
            Hmac224 | Hmac256 | Hmac384 | Hmac512 => KeyFamily::Hmac,
        }
    }

    /// Whether this is `SYMMETRIC_DEFAULT` (the only spec with several materials, rotation and
    /// `CurrentKeyMaterialId`).
    pub(crate) fn is_symmetric(self) -> bool {
        self == KmsKeySpec::SymmetricDefault
    }

    /// The usages a key of this spec may have.
    pub(crate) fn usages(self) -> &'static [KeyUsage] {
        use KmsKeySpec::*;
        match self {
            SymmetricDefault => &[KeyUsage::EncryptDecrypt],
            Rsa2048 | Rsa3072 | Rsa4096 => &[KeyUsage::EncryptDecrypt, KeyUsage::SignVerify],
            EccNistP256 | EccNistP384 | EccNistP521 | EccSecgP256k1 => &[KeyUsage::SignVerify],
            Hmac224 | Hmac256 | Hmac384 | Hmac512 => &[KeyUsage::GenerateVerifyMac],
        }
    }

    /// The `KeyUsage` of CreateKey for this spec: `requested`, or `ENCRYPT_DECRYPT` (KMS's
    /// default), checked against the spec.
    pub(crate) fn usage(self, requested: Option<KeyUsage>) -> Result<KeyUsage, KmsError> {
        let usage = requested.unwrap_or(KeyUsage::EncryptDecrypt);
        if self.usages().contains(&usage) {
            return Ok(usage);
        }
        if requested.is_none() {
            return Err(KmsError::validation(format!(
                "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys. KeySpec {self} supports KeyUsage {}.",
                self.usages()
                    .iter()
                    .map(|u| u.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Err(KmsError::validation(format!(
            "KeyUsage {usage} is not compatible with KeySpec {self}"
        )))
    }

    /// `MacAlgorithms` of an HMAC key (empty for other specs).
    pub(crate) fn mac_algorithm(self) -> Option<&'static str> {
        match self {
            KmsKeySpec::Hmac224 => Some(MAC_ALGORITHMS[0]),
            KmsKeySpec::Hmac256 => Some(MAC_ALGORITHMS[1]),
            KmsKeySpec::Hmac384 => Some(MAC_ALGORITHMS[2]),
            KmsKeySpec::Hmac512 => Some(MAC_ALGORITHMS[3]),
            _ => None,
        }
    }

    /// `EncryptionAlgorithms` of a key with `usage` (empty unless ENCRYPT_DECRYPT).
    pub(crate) fn encryption_algorithms(self, usage: KeyUsage) -> &'static [&'static str] {
        match (self, usage) {
            (KmsKeySpec::SymmetricDefault, _) => &["SYMMETRIC_DEFAULT"],
            (_, KeyUsage::EncryptDecrypt) => &["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"],
            _ => &[],
        }
    }

    /// Allowed sizes (bytes) of HMAC key material: from the digest length to the block size.
    fn hmac_material_len(self) -> Option<(usize, usize)> {
        match self {
            KmsKeySpec::Hmac224 => Some((28, 64)),
            KmsKeySpec::Hmac256 => Some((32, 64)),
            KmsKeySpec::Hmac384 => Some((48, 128)),
            KmsKeySpec::Hmac512 => Some((64, 128)),
            _ => None,
        }
    }

    /// Whether keys of this spec are key pairs (RSA, ECC).
    pub(crate) fn is_asymmetric(self) -> bool {
        matches!(self.family(), KeyFamily::Rsa | KeyFamily::Ecc)
    }

    /// Checks imported key material against the spec (IncorrectKeyMaterialException): 32 bytes,
    /// HMAC sizes, or a PKCS#8 DER private key of the spec's curve / modulus size.
    pub(crate) fn check_material(self, material: &[u8]) -> Result<(), KmsError> {
        if self.is_asymmetric() {
            return crypto::check_private_key(self, material).map_err(|why| {
                KmsError::client(
                    "IncorrectKeyMaterialException",
                    format!(
                        "The key material is not a PKCS#8 private key for key spec {self}: {why}."
                    ),
                )
            });
        }
        let ok = match self {
            KmsKeySpec::SymmetricDefault => material.len() == 32,
            _ => match self.hmac_material_len() {
                Some((min, max)) => (min..=max).contains(&material.len()),
                None => false,
            },
        };
        if ok {
            return Ok(());
        }
        let expected = match self.hmac_material_len() {
            Some((min, max)) => format!("{min} to {max} bytes"),
            None => "a 256-bit symmetric key".to_string(),
        };
        Err(KmsError::client(
            "IncorrectKeyMaterialException",
            format!(
                "The key material ({} bytes) is not valid for key spec {self}: it must be {expected}.",
                material.len()
            ),
        ))
    }

    /// Fresh key material for an `AWS_KMS` key of this spec (a PKCS#8 key pair for RSA / ECC).
    pub(crate) fn generate_material(self) -> Result<Vec<u8>, KmsError> {
        if self.is_asymmetric() {
            return crypto::generate_key_pair(self);
        }
        Ok(crypto::random_vec(
            self.hmac_material_len().map_or(32, |(min, _)| min),
        ))
    }

    /// `SigningAlgorithms` of a key with `usage` (empty unless SIGN_VERIFY).
    pub(crate) fn signing_algorithms(self, usage: KeyUsage) -> Vec<&'static str> {
        if usage == KeyUsage::SignVerify {
            crypto::signing_algorithms(self)
        } else {
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_material_sizes_follow_the_spec() {
        // GIVEN each HMAC spec and material sizes around its bounds
        let cases = [
            (KmsKeySpec::Hmac224, 27, false),
            (KmsKeySpec::Hmac224, 28, true),
            (KmsKeySpec::Hmac256, 64, true),
            (KmsKeySpec::Hmac256, 65, false),
            (KmsKeySpec::Hmac384, 47, false),
            (KmsKeySpec::Hmac512, 128, true),
            (KmsKeySpec::SymmetricDefault, 31, false),
            (KmsKeySpec::SymmetricDefault, 32, true),
        ];
        for (spec, len, ok) in cases {
            // WHEN the material is checked
            let result = spec.check_material(&vec![1; len]);
            // THEN only sizes within the spec's range pass
            assert_eq!(result.is_ok(), ok, "{spec} with {len} bytes");
            if let Err(e) = result {
                assert_eq!(e.code, "IncorrectKeyMaterialException");
            }
        }
        // AND generated material has the spec's minimum size
        assert_eq!(
            KmsKeySpec::Hmac384.generate_material().map(|m| m.len()),
            Ok(48)
        );
        assert_eq!(
            KmsKeySpec::SymmetricDefault
                .generate_material()
                .map(|m| m.len()),
            Ok(32)
        );
    }

    #[test]
    fn usages_are_checked_against_the_spec() {
        // GIVEN an HMAC spec WHEN no usage or a wrong usage is requested THEN ValidationException
        assert!(KmsKeySpec::Hmac256.usage(None).is_err());
        assert!(
            KmsKeySpec::Hmac256
                .usage(Some(KeyUsage::SignVerify))
                .is_err()
        );
        // AND the right usage (or the symmetric default) is accepted
        assert_eq!(
            KmsKeySpec::Hmac256.usage(Some(KeyUsage::GenerateVerifyMac)),
            Ok(KeyUsage::GenerateVerifyMac)
        );
        assert_eq!(
            KmsKeySpec::SymmetricDefault.usage(None),
            Ok(KeyUsage::EncryptDecrypt)
        );
    }
}
