//! Multi-Region imported keys and the function: one local KMS serving two Regions (it tells them
//! apart by the SigV4 credential scope), one function per Region as the StackSet deploys it.
//! Revoking an `mrk-` key in one Region leaves its replicas usable; an organization request
//! targeting both Regions revokes every copy.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_kms::Client;
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use common::bed::{SCOPE, sdk_config};
use common::{ACCOUNT, REGION};
use kms_material_guard::audit::AuditRecord;
use kms_material_guard::{Config, Guard, Invocation, MemorySink, Outcome};
use kms_sim::{ImportOptions, ImportType, KeyInfo, KeySpec, KeyState, KmsSim, SimConfig};
use serde_json::{Value, json};

const OTHER_REGION: &str = "eu-west-1";
const MATERIAL: [u8; 32] = [0x5a; 32];

/// The function deployed in one Region, against the shared local KMS.
struct RegionalGuard {
    guard: Guard,
    sink: Arc<MemorySink>,
    /// An application's KMS client in the same Region.
    app: Client,
}

impl RegionalGuard {
    async fn new(sim: &KmsSim, region: &str) -> Self {
        let config = Config::from_lookup(|k| match k {
            "AWS_REGION" => Some(region.into()),
            "MATERIAL_GUARD_ACCOUNT_ID" => Some(ACCOUNT.into()),
            "MATERIAL_GUARD_METRICS_NAMESPACE" => Some("off".into()),
            _ => None,
        })
        .expect("configuration");
        let sdk = regional_sdk(sim, region).await;
        let sink = Arc::new(MemorySink::new());
        let guard = Guard::new(
            kms_material_guard::kms_client(&sdk, &config),
            config,
            sink.clone(),
        );
        RegionalGuard {
            guard,
            sink,
            app: Client::new(&sdk),
        }
    }

    async fn handle(&self, payload: &Value) -> Vec<AuditRecord> {
        let result = self
            .guard
            .handle_payload(payload, &Invocation::local("req-multi-region"))
            .await;
        assert!(result.is_ok(), "{result:?}");
        let records = self.sink.take();
        common::assert_schema_valid(&records);
        records
    }

    /// Decrypts as an application in this Region: the plaintext, or the KMS error code.
    async fn decrypt(&self, blob: &[u8]) -> Result<Vec<u8>, String> {
        let sent = self
            .app
            .decrypt()
            .ciphertext_blob(Blob::new(blob.to_vec()))
            .send()
            .await;
        match sent {
            Ok(out) => Ok(out.plaintext.map(Blob::into_inner).unwrap_or_default()),
            Err(e) => Err(e.code().unwrap_or("no code").to_string()),
        }
    }
}

async fn regional_sdk(sim: &KmsSim, region: &str) -> aws_config::SdkConfig {
    sdk_config(&sim.endpoint_url())
        .await
        .into_builder()
        .region(aws_config::Region::new(region.to_string()))
        .build()
}

/// An in-scope EXTERNAL multi-Region key in us-east-1 with its replica in eu-west-1, the same
/// material imported into both (NEW into the primary, EXISTING into the replica), the scope tag
/// on each (tags are per Region), and a ciphertext made in us-east-1.
fn mrk_with_replica(sim: &KmsSim) -> (KeyInfo, KeyInfo, Vec<u8>) {
    let store = sim.store();
    let primary = store.create_key(
        KeySpec::external()
            .multi_region()
            .tag(SCOPE.0, SCOPE.1)
            .tag("tenant", "tenant-m"),
    );
    store
        .import_material(&primary.arn, MATERIAL, ImportOptions::default())
        .expect("import into the primary");
    let replica = store
        .replicate(&primary.arn, OTHER_REGION)
        .expect("ReplicateKey");
    store
        .import_material(
            &replica.arn,
            MATERIAL,
            ImportOptions {
                import_type: ImportType::ExistingKeyMaterial,
                ..ImportOptions::default()
            },
        )
        .expect("the same material into the replica");
    for (k, v) in [SCOPE, ("tenant", "tenant-m")] {
        store.tag(&replica.arn, k, v).expect("tag the replica");
    }
    let blob = store
        .encrypt(&primary.arn, b"multi-Region secret")
        .expect("encrypt");
    (primary, replica, blob)
}

fn state(sim: &KmsSim, key: &KeyInfo) -> KeyState {
    sim.store().describe(&key.arn).expect("key exists").state
}

/// Each record's outcome by the key ARN it is about.
fn outcomes(records: &[AuditRecord]) -> BTreeMap<&str, Outcome> {
    records
        .iter()
        .filter_map(|r| Some((r.key_arn.as_deref()?, r.outcome)))
        .collect()
}

#[tokio::test]
async fn revoking_an_mrk_key_in_one_region_leaves_its_replica_usable() {
    // GIVEN an imported multi-Region key in us-east-1 and its replica in eu-west-1, both usable
    let sim = KmsSim::start(SimConfig::unlimited()).await.expect("sim");
    let (primary, replica, blob) = mrk_with_replica(&sim);
    assert!(primary.key_id.starts_with("mrk-"));
    assert_eq!(primary.key_id, replica.key_id, "replicas share the key ID");
    let us = RegionalGuard::new(&sim, REGION).await;
    let eu = RegionalGuard::new(&sim, OTHER_REGION).await;
    assert_eq!(eu.decrypt(&blob).await, Ok(b"multi-Region secret".to_vec()));
    // WHEN the us-east-1 function revokes the key by its mrk- key ID
    let records = us
        .handle(&json!({"keys": [primary.key_id], "reason": "mrk drill", "incidentId": "INC-MRK"}))
        .await;
    // THEN the us-east-1 copy is revoked: its material deleted once, PendingImport
    assert_eq!(
        outcomes(&records).get(primary.arn.as_str()).copied(),
        Some(Outcome::Revoked)
    );
    assert_eq!(state(&sim, &primary), KeyState::PendingImport);
    assert_eq!(sim.counters().successes("DeleteImportedKeyMaterial"), 1);
    assert_eq!(
        us.decrypt(&blob).await,
        Err("KMSInvalidStateException".to_string())
    );
    // AND the replica keeps its own copy of the material: eu-west-1 still decrypts
    assert_eq!(state(&sim, &replica), KeyState::Enabled);
    assert_eq!(eu.decrypt(&blob).await, Ok(b"multi-Region secret".to_vec()));
    // AND the eu-west-1 function, handed the us-east-1 ARN, leaves it to its own Region
    let records = eu
        .handle(&json!({"keys": [primary.arn], "reason": "mrk drill", "incidentId": "INC-MRK"}))
        .await;
    assert_eq!(
        outcomes(&records).get(primary.arn.as_str()).copied(),
        Some(Outcome::RefusedOtherRegion)
    );
    assert_eq!(state(&sim, &replica), KeyState::Enabled);
    // WHEN the custodian re-imports the same material in us-east-1
    sim.store()
        .import_material(
            &primary.arn,
            MATERIAL,
            ImportOptions {
                import_type: ImportType::ExistingKeyMaterial,
                ..ImportOptions::default()
            },
        )
        .expect("re-import");
    // THEN both Regions decrypt again
    assert_eq!(us.decrypt(&blob).await, Ok(b"multi-Region secret".to_vec()));
    assert_eq!(eu.decrypt(&blob).await, Ok(b"multi-Region secret".to_vec()));
}

#[tokio::test]
async fn an_organization_request_across_regions_revokes_every_replica() {
    for (selector, named) in [
        ("key ARNs, one per Region", true),
        ("a tag selector", false),
    ] {
        // GIVEN an imported multi-Region key in us-east-1, its replica in eu-west-1, another
        // tenant's key in each Region, and the function deployed in both Regions
        let sim = KmsSim::start(SimConfig::unlimited()).await.expect("sim");
        let (primary, replica, blob) = mrk_with_replica(&sim);
        let bystanders: Vec<KeyInfo> = [REGION, OTHER_REGION]
            .iter()
            .map(|r| {
                let k = sim.store().create_key(
                    KeySpec::external()
                        .in_region(r)
                        .tag(SCOPE.0, SCOPE.1)
                        .tag("tenant", "tenant-b"),
                );
                sim.store()
                    .import_material(&k.arn, [7; 32], ImportOptions::default())
                    .expect("import");
                k
            })
            .collect();
        let us = RegionalGuard::new(&sim, REGION).await;
        let eu = RegionalGuard::new(&sim, OTHER_REGION).await;
        // WHEN an organization request targeting both Regions reaches each Region's function
        let mut request = json!({
            "targets": {"accounts": [ACCOUNT], "regions": [REGION, OTHER_REGION]},
            "reason": "tenant-m offboarding", "incidentId": "INC-MRK-ORG"
        });
        if named {
            request["keys"] = json!([primary.arn, replica.arn]);
        } else {
            request["tags"] = json!({"tenant": "tenant-m"});
        }
        let us_records = us.handle(&request).await;
        let eu_records = eu.handle(&request).await;
        // THEN each function revoked its own Region's copy, and only that
        assert_eq!(
            outcomes(&us_records).get(primary.arn.as_str()).copied(),
            Some(Outcome::Revoked),
            "{selector}"
        );
        assert_eq!(
            outcomes(&eu_records).get(replica.arn.as_str()).copied(),
            Some(Outcome::Revoked),
            "{selector}"
        );
        assert_eq!(us_records.len(), 1, "{selector}: {us_records:?}");
        assert_eq!(eu_records.len(), 1, "{selector}: {eu_records:?}");
        assert_eq!(state(&sim, &primary), KeyState::PendingImport, "{selector}");
        assert_eq!(state(&sim, &replica), KeyState::PendingImport, "{selector}");
        assert_eq!(sim.counters().successes("DeleteImportedKeyMaterial"), 2);
        // AND no Region can decrypt any more, while the other tenant's keys are untouched
        assert_eq!(
            us.decrypt(&blob).await,
            Err("KMSInvalidStateException".to_string())
        );
        assert_eq!(
            eu.decrypt(&blob).await,
            Err("KMSInvalidStateException".to_string())
        );
        for k in &bystanders {
            assert_eq!(state(&sim, k), KeyState::Enabled, "{selector}");
        }
    }
}
