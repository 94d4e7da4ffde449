//! The conformance harness: the recorded AWS responses, identifier normalisation, exact field,
//! code, message and status comparison, and the SDK steps the scenarios share (see
//! `conformance.rs` for what is replayed).

use std::sync::OnceLock;

use aws_sdk_kms::Client;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    AlgorithmSpec, ExpirationModelType, ImportType, KeyMetadata, OriginType, WrappingKeySpec,
};
use kms_sim::KmsSim;
use kms_sim::wrap::wrap_key_material;
use serde_json::{Map, Value, json};

use crate::common::{client, sim};

pub(crate) const RECORDED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/kms-aws-recorded-responses.json"
);

pub(crate) fn recordings() -> &'static Value {
    static DATA: OnceLock<Value> = OnceLock::new();
    DATA.get_or_init(|| {
        let text = std::fs::read_to_string(RECORDED).unwrap_or_else(|e| {
            panic!(
                "conformance data missing: cannot read {RECORDED} ({e}). The conformance tests \
                 replay that recording of real AWS KMS responses; they do not skip."
            )
        });
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("conformance data {RECORDED} is not JSON: {e}"))
    })
}

/// One recorded step.
pub(crate) fn recorded(test: &str, step: &str) -> Value {
    recordings()
        .get(test)
        .and_then(|t| t.get("recorded-content"))
        .and_then(|c| c.get(step))
        .cloned()
        .unwrap_or_else(|| panic!("recording {test} / {step} not found in {RECORDED}"))
}

/// Maps actual identifiers to the recording's placeholders.
#[derive(Default)]
pub(crate) struct Norm {
    subs: Vec<(String, String)>,
}

impl Norm {
    pub(crate) fn map(mut self, actual: &str, placeholder: &str) -> Self {
        self.subs
            .push((actual.to_string(), placeholder.to_string()));
        self.subs.sort_by_key(|s| std::cmp::Reverse(s.0.len()));
        self
    }

    pub(crate) fn text(&self, s: &str) -> String {
        let mut out = s.replace("arn:aws:kms:us-east-1:", "arn:<partition>:kms:<region>:");
        for (a, p) in &self.subs {
            out = out.replace(a.as_str(), p);
        }
        out
    }

    fn value(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.text(s)),
            Value::Array(a) => Value::Array(a.iter().map(|x| self.value(x)).collect()),
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, x)| (k.clone(), self.value(x)))
                    .collect::<Map<_, _>>(),
            ),
            other => other.clone(),
        }
    }
}

pub(crate) fn strip_metadata(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| k.as_str() != "ResponseMetadata")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

pub(crate) fn same(path: &str, actual: &Value, expected: &Value, errors: &mut Vec<String>) {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            for k in e.keys() {
                if !a.contains_key(k) {
                    errors.push(format!("{path}.{k}: missing (expected {})", e[k]));
                }
            }
            for k in a.keys() {
                match e.get(k) {
                    None => errors.push(format!("{path}.{k}: unexpected field ({})", a[k])),
                    Some(ev) => same(&format!("{path}.{k}"), &a[k], ev, errors),
                }
            }
        }
        (Value::String(a), Value::String(e))
            if path.ends_with(".KeyId") && e.starts_with("<key-id:") =>
        {
            let as_arn = format!("arn:<partition>:kms:<region>:111111111111:key/{e}");
            if a != e && *a != as_arn {
                errors.push(format!("{path}: {a:?} != {e:?}"));
            }
        }
        (a, e) => {
            if a != e {
                errors.push(format!("{path}: {a} != {e}"));
            }
        }
    }
}

/// Asserts that a (normalised) response equals the recorded step.
pub(crate) fn check(test: &str, step: &str, norm: &Norm, actual: Value) {
    let expected = strip_metadata(&recorded(test, step));
    let actual = norm.value(&actual);
    let mut errors = Vec::new();
    same("$", &actual, &expected, &mut errors);
    assert!(
        errors.is_empty(),
        "{test} / {step} differs from AWS:\n  {}\nactual:   {actual}\nexpected: {expected}",
        errors.join("\n  ")
    );
}

/// Asserts that an error matches the recorded step (code, message, HTTP status).
pub(crate) fn check_error(
    test: &str,
    step: &str,
    norm: &Norm,
    arn: &str,
    err: (String, String, Option<u16>),
) {
    let expected = recorded(test, step);
    let code = expected["Error"]["Code"].as_str().unwrap_or_default();
    let message = expected["Error"]["Message"].as_str().unwrap_or_default();
    let status = expected["ResponseMetadata"]["HTTPStatusCode"].as_u64();
    let (actual_code, actual_message, actual_status) = err;
    assert_eq!(actual_code, code, "{test} / {step}: error code");
    let plain = norm.text(&actual_message);
    let with_arn_placeholder = norm.text(&actual_message.replace(arn, "<key-arn>"));
    assert!(
        plain == message || with_arn_placeholder == message,
        "{test} / {step}: message\n  actual:   {plain}\n  expected: {message}"
    );
    assert_eq!(
        actual_status.map(u64::from),
        status,
        "{test} / {step}: HTTP status"
    );
}

pub(crate) fn ts(present: bool) -> Option<Value> {
    present.then(|| json!("datetime"))
}

/// KeyMetadata as botocore would render it (the recording's shape), from the SDK's parse.
pub(crate) fn metadata(m: &KeyMetadata) -> Value {
    let mut o = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            o.insert(k.to_string(), v);
        }
    };
    put("AWSAccountId", m.aws_account_id().map(|s| json!(s)));
    put("Arn", m.arn().map(|s| json!(s)));
    put("CreationDate", ts(m.creation_date().is_some()));
    put(
        "CurrentKeyMaterialId",
        m.current_key_material_id().map(|s| json!(s)),
    );
    #[allow(deprecated)]
    put(
        "CustomerMasterKeySpec",
        m.customer_master_key_spec().map(|s| json!(s.as_str())),
    );
    put("DeletionDate", ts(m.deletion_date().is_some()));
    put("Description", m.description().map(|s| json!(s)));
    put("Enabled", Some(json!(m.enabled())));
    if !m.encryption_algorithms().is_empty() {
        put(
            "EncryptionAlgorithms",
            Some(json!(
                m.encryption_algorithms()
                    .iter()
                    .map(|a| a.as_str())
                    .collect::<Vec<_>>()
            )),
        );
    }
    put(
        "ExpirationModel",
        m.expiration_model().map(|s| json!(s.as_str())),
    );
    put("KeyId", Some(json!(m.key_id())));
    put("KeyManager", m.key_manager().map(|s| json!(s.as_str())));
    put("KeySpec", m.key_spec().map(|s| json!(s.as_str())));
    put("KeyState", m.key_state().map(|s| json!(s.as_str())));
    put("KeyUsage", m.key_usage().map(|s| json!(s.as_str())));
    if !m.mac_algorithms().is_empty() {
        put(
            "MacAlgorithms",
            Some(json!(
                m.mac_algorithms()
                    .iter()
                    .map(|a| a.as_str())
                    .collect::<Vec<_>>()
            )),
        );
    }
    put("MultiRegion", m.multi_region().map(|b| json!(b)));
    put("Origin", m.origin().map(|s| json!(s.as_str())));
    put(
        "PendingDeletionWindowInDays",
        m.pending_deletion_window_in_days().map(|d| json!(d)),
    );
    if !m.signing_algorithms().is_empty() {
        put(
            "SigningAlgorithms",
            Some(json!(
                m.signing_algorithms()
                    .iter()
                    .map(|a| a.as_str())
                    .collect::<Vec<_>>()
            )),
        );
    }
    put("ValidTo", ts(m.valid_to().is_some()));
    Value::Object(o)
}

pub(crate) async fn describe(kms: &Client, key: &str) -> Value {
    let out = kms
        .describe_key()
        .key_id(key)
        .send()
        .await
        .expect("DescribeKey");
    json!({ "KeyMetadata": metadata(out.key_metadata().expect("KeyMetadata")) })
}

pub(crate) async fn create_external(kms: &Client, description: &str) -> KeyMetadata {
    kms.create_key()
        .origin(OriginType::External)
        .description(description)
        .send()
        .await
        .expect("CreateKey")
        .key_metadata()
        .expect("KeyMetadata")
        .clone()
}

pub(crate) async fn create_aws_kms(kms: &Client, description: &str) -> KeyMetadata {
    kms.create_key()
        .description(description)
        .send()
        .await
        .expect("CreateKey")
        .key_metadata()
        .expect("KeyMetadata")
        .clone()
}

/// GetParametersForImport + client-side wrapping: what a key custodian does.
pub(crate) async fn wrapped(kms: &Client, key: &str, material: &[u8]) -> (Blob, Blob, Value) {
    let params = kms
        .get_parameters_for_import()
        .key_id(key)
        .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await
        .expect("GetParametersForImport");
    let public = params.public_key().expect("PublicKey").as_ref().to_vec();
    let token = params.import_token().expect("ImportToken").clone();
    let shape = json!({
        "ImportToken": if token.as_ref().is_empty() { "" } else { "import-token" },
        "KeyId": params.key_id(),
        "ParametersValidTo": ts(params.parameters_valid_to().is_some()),
        "PublicKey": if public.is_empty() { "" } else { "public-key" },
    });
    let encrypted =
        wrap_key_material(&public, material, "RSAES_OAEP_SHA_256").expect("wrap material");
    (token, Blob::new(encrypted), shape)
}

pub(crate) async fn import(
    kms: &Client,
    key: &str,
    material: &[u8; 32],
    import_type: Option<ImportType>,
) -> (String, Value) {
    let (token, encrypted, _) = wrapped(kms, key, material).await;
    let out = kms
        .import_key_material()
        .key_id(key)
        .import_token(token)
        .encrypted_key_material(encrypted)
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .set_import_type(import_type)
        .send()
        .await
        .expect("ImportKeyMaterial");
    let id = out.key_material_id().expect("KeyMaterialId").to_string();
    (
        id.clone(),
        json!({"KeyId": out.key_id(), "KeyMaterialId": id}),
    )
}

pub(crate) async fn encrypt(kms: &Client, key: &str) -> (Blob, Value) {
    let out = kms
        .encrypt()
        .key_id(key)
        .plaintext(Blob::new(b"conformance plaintext".to_vec()))
        .send()
        .await
        .expect("Encrypt");
    let blob = out.ciphertext_blob().expect("CiphertextBlob").clone();
    (
        blob,
        json!({
            "CiphertextBlob": "ciphertext-blob",
            "EncryptionAlgorithm": out.encryption_algorithm().map(|a| a.as_str()),
            "KeyId": out.key_id(),
        }),
    )
}

pub(crate) async fn setup() -> (KmsSim, Client) {
    let sim = sim().await;
    let kms = client(&sim).await;
    (sim, kms)
}
