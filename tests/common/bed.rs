//! A local KMS plus the function wired to it through the real SDK over HTTP.

use std::sync::Arc;

use aws_sdk_kms::Client;
use kms_material_guard::audit::AuditRecord;
use kms_material_guard::{Config, Guard, GuardError, Invocation, MemorySink, Summary};
use kms_sim::{ImportOptions, KeyInfo, KeySpec, KeyState, KeyUsage, KmsKeySpec, KmsSim, SimConfig};
use serde_json::Value;

use super::{REGION, config};

pub const SCOPE: (&str, &str) = ("kms-material-guard:revocable", "true");

pub struct Bed {
    pub sim: KmsSim,
    pub kms: Client,
    pub guard: Guard,
    pub sink: Arc<MemorySink>,
}

pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_kms::config::Credentials::new(
            "AKIDLOCAL",
            "local-secret",
            None,
            None,
            "test",
        ))
        .load()
        .await
}

pub async fn bed(sim_config: SimConfig, cfg: Config) -> Bed {
    let sim = KmsSim::start(sim_config).await.expect("local KMS starts");
    let sdk = sdk_config(&sim.endpoint_url()).await;
    let kms = kms_material_guard::kms_client(&sdk, &cfg);
    let sink = Arc::new(MemorySink::new());
    let guard = Guard::new(kms.clone(), cfg, sink.clone());
    Bed {
        sim,
        kms,
        guard,
        sink,
    }
}

pub async fn default_bed() -> Bed {
    bed(SimConfig::unlimited(), config()).await
}

impl Bed {
    /// The continuation key the template creates: an AWS_KMS HMAC_256 key
    /// (GENERATE_VERIFY_MAC); its ARN, for `MATERIAL_GUARD_CONTINUATION_KEY`.
    pub fn continuation_key(&self) -> String {
        let spec = KeySpec::aws_kms()
            .key_spec(KmsKeySpec::Hmac256)
            .key_usage(KeyUsage::GenerateVerifyMac)
            .description("kms-material-guard continuation key");
        self.sim.store().create_key(spec).arn
    }

    /// An EXTERNAL key with imported material, in scope, with extra tags and aliases.
    pub fn byok(&self, aliases: &[&str], tags: &[(&str, &str)]) -> KeyInfo {
        let mut spec = KeySpec::external().tag(SCOPE.0, SCOPE.1);
        for (k, v) in tags {
            spec = spec.tag(k, v);
        }
        for a in aliases {
            spec = spec.alias(a);
        }
        let key = self.sim.store().create_key(spec);
        self.sim
            .store()
            .import_material(&key.arn, material_for(&key), ImportOptions::default())
            .expect("import");
        key
    }

    pub fn state(&self, key: &KeyInfo) -> KeyState {
        self.sim
            .store()
            .describe(&key.arn)
            .expect("key exists")
            .state
    }

    pub fn deletes(&self, key: &KeyInfo) -> u64 {
        self.sim
            .counters()
            .calls_for_key("DeleteImportedKeyMaterial", &key.key_id)
    }

    pub async fn handle(&self, payload: &Value) -> (Result<Summary, GuardError>, Vec<AuditRecord>) {
        let result = self
            .guard
            .handle_payload(payload, &Invocation::local("req-e2e"))
            .await;
        let records = self.sink.take();
        super::assert_schema_valid(&records);
        super::assert_summaries_valid(&self.sink.summaries());
        (result, records)
    }
}

/// What a sealed continuation says besides its keys (the rest are the defaults of
/// [`Bed::sealed_continuation`]).
pub struct Continuation<'a> {
    pub sequence: u64,
    pub keys: &'a [&'a str],
    pub key_material_id: Option<&'a str>,
}

impl Bed {
    /// A continuation payload as the function writes one: sealed with `key` (GenerateMac).
    pub async fn sealed_continuation(&self, key: &str, c: Continuation<'_>) -> Value {
        use kms_material_guard::domain::{Action, Deadline, Provenance};
        use kms_material_guard::event::continuation::{self, ContinuedKey, Meta};
        use kms_material_guard::request::RevocationRequest;
        use kms_material_guard::seal::{self, Seal};
        let now = chrono::Utc::now();
        let meta = Meta {
            sequence: c.sequence,
            parent_request_id: "req-parent".into(),
            action: Action::Revoke,
            provenance: Provenance {
                source: Some("incident-response".into()),
                event_id: Some("evt-parent".into()),
                ..Provenance::default()
            },
            nonce: seal::nonce(),
            issued_at: now,
            expires_at: now + continuation::VALIDITY,
            function: None,
        };
        let req = RevocationRequest {
            keys: Vec::new(),
            tags: Default::default(),
            key_material_id: c.key_material_id.map(str::to_string),
            reason: "continued".into(),
            incident_id: "INC-CONT".into(),
            requested_by: None,
            dry_run: false,
            targets: None,
        };
        let keys: Vec<ContinuedKey> = c
            .keys
            .iter()
            .map(|k| ContinuedKey {
                key: k.to_string(),
                context: None,
            })
            .collect();
        let retry = kms_material_guard::kms::RetryPolicy::from_config(&super::config());
        let sealed = Seal::new(self.kms.clone(), key, retry)
            .seal(continuation::body(&meta, &req, &keys), &Deadline::none())
            .await
            .expect("sealed with the continuation key");
        continuation::payload(&sealed)
    }
}

/// Deterministic material per key, so it can be re-imported like a custodian would.
pub fn material_for(key: &KeyInfo) -> [u8; 32] {
    let mut m = [0u8; 32];
    for (i, b) in key.key_id.bytes().enumerate() {
        m[i % 32] ^= b.wrapping_mul(31).wrapping_add(i as u8);
    }
    m
}
