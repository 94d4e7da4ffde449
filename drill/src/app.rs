//! A tenant's application that protects its records the way AWS services use KMS: envelope
//! encryption. To write: GenerateDataKey under the tenant's key, AES-256-GCM of the record
//! locally with the plaintext data key (then dropped), the encrypted data key stored beside the
//! ciphertext. To read: Decrypt the stored data key, then decrypt the record locally. Revoking
//! the key's material therefore cuts the application off from every record, although no record
//! was touched.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_sdk_kms::Client;
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;

use crate::Error;

/// What the application stores for one record: nothing here is secret without KMS.
pub struct Sealed {
    pub record_id: String,
    /// The data key, encrypted under the tenant's KMS key (GenerateDataKey's CiphertextBlob).
    pub encrypted_data_key: Vec<u8>,
    pub nonce: [u8; NONCE_LEN],
    /// AES-256-GCM of the record (tag included), the record ID as associated data.
    pub ciphertext: Vec<u8>,
}

/// The application of one tenant, with its own KMS client.
pub struct EnvelopeApp {
    kms: Client,
    key: String,
    tenant: String,
}

impl EnvelopeApp {
    pub fn new(kms: Client, key: &str, tenant: &str) -> Self {
        EnvelopeApp {
            kms,
            key: key.to_string(),
            tenant: tenant.to_string(),
        }
    }

    /// Encrypts `record` under a fresh data key.
    pub async fn seal(&self, record_id: &str, record: &[u8]) -> Result<Sealed, Error> {
        let data_key = self
            .kms
            .generate_data_key()
            .key_id(&self.key)
            .key_spec(DataKeySpec::Aes256)
            .encryption_context("tenant", &self.tenant)
            .encryption_context("record", record_id)
            .send()
            .await?;
        let plaintext_key = data_key
            .plaintext()
            .ok_or("GenerateDataKey: no Plaintext")?;
        let encrypted_data_key = data_key
            .ciphertext_blob()
            .ok_or("GenerateDataKey: no CiphertextBlob")?
            .as_ref()
            .to_vec();
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| "no randomness")?;
        let mut ciphertext = record.to_vec();
        aead_key(plaintext_key.as_ref())?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(record_id.as_bytes()),
                &mut ciphertext,
            )
            .map_err(|_| "AES-GCM encryption failed")?;
        Ok(Sealed {
            record_id: record_id.to_string(),
            encrypted_data_key,
            nonce,
            ciphertext,
        })
    }

    /// Decrypts the data key with KMS, then the record locally; the error names KMS's answer.
    pub async fn open(&self, sealed: &Sealed) -> Result<Vec<u8>, String> {
        let data_key = self
            .kms
            .decrypt()
            .ciphertext_blob(Blob::new(sealed.encrypted_data_key.clone()))
            .key_id(&self.key)
            .encryption_context("tenant", &self.tenant)
            .encryption_context("record", &sealed.record_id)
            .send()
            .await
            .map_err(|e| format!("Decrypt of the data key: {}", kms_failure(&e)))?;
        let plaintext_key = data_key
            .plaintext()
            .ok_or("Decrypt: no Plaintext")?
            .as_ref();
        let mut buffer = sealed.ciphertext.clone();
        let record = aead_key(plaintext_key)
            .map_err(|e| e.to_string())?
            .open_in_place(
                Nonce::assume_unique_for_key(sealed.nonce),
                Aad::from(sealed.record_id.as_bytes()),
                &mut buffer,
            )
            .map_err(|_| "AES-GCM: the record does not authenticate".to_string())?;
        Ok(record.to_vec())
    }
}

/// KMS's error code and message, the key ARN shortened: "KMSInvalidStateException: key is
/// pending import.".
pub fn kms_failure(e: &impl ProvideErrorMetadata) -> String {
    let message = e.message().unwrap_or_default();
    let what = message
        .split_once(" is ")
        .map(|(_, w)| format!("key is {w}"))
        .unwrap_or_else(|| message.to_string());
    format!("{}: {what}", e.code().unwrap_or("error"))
}

fn aead_key(data_key: &[u8]) -> Result<LessSafeKey, Error> {
    let key =
        UnboundKey::new(&AES_256_GCM, data_key).map_err(|_| "the data key is not 32 bytes")?;
    Ok(LessSafeKey::new(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kms_sim::{ImportOptions, ImportType, KeySpec, KmsSim, SimConfig};

    #[tokio::test]
    async fn records_are_unreadable_while_the_material_is_deleted_and_readable_after_reimport() {
        // GIVEN an imported key, the application's client, and a record it sealed
        let sim = KmsSim::start(SimConfig::unlimited()).await.expect("sim");
        let key = sim.store().create_key(KeySpec::external().alias("app"));
        let store = sim.store();
        store
            .import_material(&key.arn, [3; 32], ImportOptions::default())
            .expect("import");
        let sdk = crate::sdk(&sim, "AKIDAPPTEST").await;
        let app = EnvelopeApp::new(Client::new(&sdk), "alias/app", "t");
        let sealed = app.seal("r-1", b"record").await.expect("seal");
        assert!(!sealed.ciphertext.windows(6).any(|w| w == b"record"));
        assert_eq!(app.open(&sealed).await, Ok(b"record".to_vec()));
        // WHEN the material is deleted THEN the record cannot be read, and KMS says why
        store.delete_material(&key.arn, None).expect("delete");
        let err = app.open(&sealed).await.expect_err("revoked");
        assert!(
            err.contains("KMSInvalidStateException: key is pending import."),
            "{err}"
        );
        // WHEN the same material is re-imported THEN it reads again
        store
            .import_material(
                &key.arn,
                [3; 32],
                ImportOptions {
                    import_type: ImportType::ExistingKeyMaterial,
                    ..ImportOptions::default()
                },
            )
            .expect("re-import");
        assert_eq!(app.open(&sealed).await, Ok(b"record".to_vec()));
        // AND a record moved under another ID does not authenticate
        let moved = Sealed {
            record_id: "r-2".to_string(),
            ..sealed
        };
        assert!(app.open(&moved).await.is_err());
    }
}
