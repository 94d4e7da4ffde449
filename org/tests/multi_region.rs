//! Multi-Region imported keys across the local organization: one incident raised centrally
//! reaches the member function of each Region, and each revokes its own Region's copy of an
//! `mrk-` key (the primary in us-east-1, the replica in eu-west-1), since each copy's material is
//! deleted independently.

mod common;

use common::{member, request};
use kms_sim::{ImportOptions, ImportType, KeyInfo, KeySpec, KeyState};
use org::local::{COMPROMISED, LocalOrg, OrgSpec, SCOPE_TAG};
use serde_json::json;

const ACCOUNT: &str = "111111111111";

/// A compromised, in-scope EXTERNAL multi-Region key of `ACCOUNT` in us-east-1 and its replica
/// in eu-west-1 with the same material (tags are per Region: both carry them).
fn mrk_with_replica(org: &LocalOrg) -> (KeyInfo, KeyInfo) {
    let store = org.sim.store();
    let primary = store.create_key(
        KeySpec::external()
            .in_account(ACCOUNT)
            .in_region("us-east-1")
            .multi_region()
            .tag(SCOPE_TAG.0, SCOPE_TAG.1)
            .tag(COMPROMISED.0, COMPROMISED.1),
    );
    store
        .import_material(&primary.arn, [0x6d; 32], ImportOptions::default())
        .expect("import into the primary");
    let replica = store
        .replicate(&primary.arn, "eu-west-1")
        .expect("ReplicateKey");
    store
        .import_material(
            &replica.arn,
            [0x6d; 32],
            ImportOptions {
                import_type: ImportType::ExistingKeyMaterial,
                ..ImportOptions::default()
            },
        )
        .expect("the same material into the replica");
    for (k, v) in [SCOPE_TAG, COMPROMISED] {
        store.tag(&replica.arn, k, v).expect("tag the replica");
    }
    (primary, replica)
}

fn state(org: &LocalOrg, key: &KeyInfo) -> Option<KeyState> {
    org.sim.store().describe(&key.arn).map(|v| v.state)
}

#[tokio::test]
async fn an_organization_request_across_regions_revokes_every_replica_of_an_mrk_key() {
    for named in [false, true] {
        // GIVEN the 3 accounts x 2 Regions organization and a compromised multi-Region key of
        // 111111111111 in us-east-1 with its replica in eu-west-1
        let org = LocalOrg::start(OrgSpec::three_by_two())
            .await
            .expect("the local organization starts");
        let (primary, replica) = mrk_with_replica(&org);
        // WHEN the central account raises a request targeting both Regions of that account,
        // selecting by the compromised supplier's tag or naming each Region's ARN
        let targets = json!({"accounts": [ACCOUNT], "regions": ["us-east-1", "eu-west-1"]});
        let mut detail = request("INC-MRK", false, targets);
        if named {
            detail.as_object_mut().expect("object").remove("tags");
            detail["keys"] = json!([primary.arn, replica.arn]);
        }
        org.raise(&detail).await.expect("raised");
        org.settle().await.expect("delivered");
        // THEN both copies are PendingImport, each deleted once by its own Region's member
        assert_eq!(state(&org, &primary), Some(KeyState::PendingImport));
        assert_eq!(state(&org, &replica), Some(KeyState::PendingImport));
        for (region, key) in [("us-east-1", &primary), ("eu-west-1", &replica)] {
            let m = org.member(&member(ACCOUNT, region)).expect("member");
            let revoked: Vec<String> = m
                .records()
                .iter()
                .filter(|r| r.outcome.as_str() == "revoked")
                .filter_map(|r| r.key_arn.clone())
                .collect();
            assert_eq!(revoked, vec![key.arn.clone()], "{region} (named: {named})");
            let deletes = m
                .kms_calls()
                .all()
                .into_iter()
                .filter(|(op, _)| op == "DeleteImportedKeyMaterial")
                .count();
            assert_eq!(deletes, 1, "{region} (named: {named})");
        }
        // AND the other accounts' members, not targeted, revoked nothing
        for m in org.members().filter(|m| m.id().account != ACCOUNT) {
            assert!(
                m.records().iter().all(|r| r.outcome.as_str() != "revoked"),
                "{}",
                m.id()
            );
        }
        assert_eq!(
            org.sim.counters().successes("DeleteImportedKeyMaterial"),
            2,
            "named: {named}"
        );
    }
}
