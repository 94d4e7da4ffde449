//! Quotas (ThrottlingException), every fault kind, counters and request IDs, through the SDK.

use std::time::{Duration, Instant};

use aws_sdk_kms::error::SdkError;
use aws_sdk_kms::operation::RequestId;
use aws_sdk_kms::operation::delete_imported_key_material::DeleteImportedKeyMaterialError;
use aws_sdk_kms::operation::rotate_key_on_demand::RotateKeyOnDemandError;
use kms_sim::{FaultKind, FaultRule, KeySpec, KeyState, KmsSim, SimConfig};

use crate::common::{client, client_as, err_of, external_key_with_material, retrying_client, sim};

const DELETE: &str = "DeleteImportedKeyMaterial";

#[tokio::test]
async fn exceeding_a_quota_answers_throttling_exception_like_kms() {
    // GIVEN a quota of 1 deletion per second and five keys
    let sim = KmsSim::start(SimConfig::default().with_quota(DELETE, 1.0))
        .await
        .expect("start");
    let kms = client(&sim).await;
    let keys: Vec<_> = (0..5)
        .map(|i| external_key_with_material(&sim, [i; 32]).0)
        .collect();
    // WHEN the five are deleted at once
    let mut outcomes = Vec::new();
    for k in &keys {
        outcomes.push(
            kms.delete_imported_key_material()
                .key_id(&k.arn)
                .send()
                .await,
        );
    }
    // THEN one succeeds and four get KMS's ThrottlingException (HTTP 400)
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1);
    for e in outcomes.iter().filter_map(|o| o.as_ref().err()) {
        assert_eq!(
            err_of(e),
            (
                "ThrottlingException".to_string(),
                "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls."
                    .to_string(),
                Some(400)
            )
        );
    }
    assert_eq!(sim.counters().throttled(DELETE), 4);
    assert_eq!(sim.counters().calls(DELETE), 5);
    assert_eq!(sim.counters().successes(DELETE), 1);
    // AND the throttled keys were not touched
    assert_eq!(
        sim.store().describe(&keys[4].arn).expect("key").state,
        KeyState::Enabled
    );
    // AND another account has its own bucket
    let sim_b = sim
        .store()
        .create_key(KeySpec::external().in_account("222222222222"));
    sim.add_account("AKIDOTHER", "222222222222");
    let other = client_as(&sim, "AKIDOTHER", "us-east-1").await;
    other
        .delete_imported_key_material()
        .key_id(&sim_b.arn)
        .send()
        .await
        .expect("other account is not throttled");
    // WHEN a second passes THEN one more token is available
    tokio::time::sleep(Duration::from_millis(1050)).await;
    kms.delete_imported_key_material()
        .key_id(&keys[4].arn)
        .send()
        .await
        .expect("refilled");
    sim.shutdown().await;
}

#[tokio::test]
async fn the_quota_scale_applies_to_every_default() {
    // GIVEN AWS quotas scaled to 10 %
    let sim = KmsSim::start(SimConfig::default().with_quota_scale(0.1))
        .await
        .expect("start");
    assert_eq!(sim.quotas().rps("RotateKeyOnDemand"), Some(0.5));
    let kms = client(&sim).await;
    let key = sim.store().create_key(KeySpec::aws_kms());
    // WHEN RotateKeyOnDemand (5 rps * 0.1) is called twice THEN the second is throttled
    kms.rotate_key_on_demand()
        .key_id(&key.arn)
        .send()
        .await
        .expect("first");
    let e = kms
        .rotate_key_on_demand()
        .key_id(&key.arn)
        .send()
        .await
        .expect_err("throttled");
    assert_eq!(err_of(&e).0, "ThrottlingException");
    // WHEN quotas are lifted at runtime THEN calls pass
    sim.set_quotas(kms_sim::Quotas::unlimited());
    kms.describe_key()
        .key_id(&key.arn)
        .send()
        .await
        .expect("ok");
    sim.shutdown().await;
}

#[tokio::test]
async fn kms_error_faults_map_to_the_modeled_sdk_errors() {
    // GIVEN a key and one-shot faults on DeleteImportedKeyMaterial
    let sim = sim().await;
    let kms = client(&sim).await;
    let (key, _) = external_key_with_material(&sim, [1; 32]);
    sim.faults()
        .add(FaultRule::new(DELETE, FaultKind::dependency_timeout()).times(1));
    // WHEN it is called THEN DependencyTimeoutException, HTTP 500, and nothing was deleted
    let e = kms
        .delete_imported_key_material()
        .key_id(&key.arn)
        .send()
        .await
        .expect_err("fault");
    assert!(matches!(
        e.as_service_error(),
        Some(DeleteImportedKeyMaterialError::DependencyTimeoutException(
            _
        ))
    ));
    assert_eq!(err_of(&e).2, Some(500));
    assert_eq!(
        sim.store().describe(&key.arn).expect("k").state,
        KeyState::Enabled
    );

    sim.faults()
        .add(FaultRule::new(DELETE, FaultKind::internal()).times(1));
    let e = kms
        .delete_imported_key_material()
        .key_id(&key.arn)
        .send()
        .await
        .expect_err("fault");
    assert!(matches!(
        e.as_service_error(),
        Some(DeleteImportedKeyMaterialError::KmsInternalException(_))
    ));

    sim.faults()
        .add(FaultRule::new(DELETE, FaultKind::throttling()).times(1));
    let e = kms
        .delete_imported_key_material()
        .key_id(&key.arn)
        .send()
        .await
        .expect_err("fault");
    assert_eq!(
        (err_of(&e).0.as_str(), err_of(&e).2),
        ("ThrottlingException", Some(400))
    );

    sim.faults()
        .add(FaultRule::new("RotateKeyOnDemand", FaultKind::conflict()).times(1));
    let e = kms
        .rotate_key_on_demand()
        .key_id(&key.arn)
        .send()
        .await
        .expect_err("fault");
    assert!(matches!(
        e.as_service_error(),
        Some(RotateKeyOnDemandError::ConflictException(_))
    ));
    // THEN the one-shot rules are spent: the call goes through now
    kms.delete_imported_key_material()
        .key_id(&key.arn)
        .send()
        .await
        .expect("no more faults");
    assert_eq!(sim.counters().faulted(DELETE), 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_plain_http_500_is_not_a_kms_error() {
    // GIVEN an HTTP 500 with an HTML body on DescribeKey
    let sim = sim().await;
    let kms = client(&sim).await;
    let key = sim.store().create_key(KeySpec::external());
    sim.faults()
        .add(FaultRule::new("DescribeKey", FaultKind::Http500).times(1));
    // WHEN DescribeKey is called THEN the SDK sees a 500 that no modeled error matches
    let e = kms
        .describe_key()
        .key_id(&key.arn)
        .send()
        .await
        .expect_err("500");
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(500));
    let (code, _, _) = err_of(&e);
    assert!(
        !code.ends_with("Exception"),
        "an HTML 500 must not look like a KMS error: {code}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn latency_faults_and_global_latency_slow_calls_down() {
    // GIVEN a simulator with 20-40 ms latency on every call
    let sim = KmsSim::start(
        SimConfig::unlimited().with_latency(Duration::from_millis(20), Duration::from_millis(40)),
    )
    .await
    .expect("start");
    let kms = client(&sim).await;
    let key = sim.store().create_key(KeySpec::external());
    // WHEN DescribeKey is called THEN it takes at least 20 ms
    let t = Instant::now();
    kms.describe_key()
        .key_id(&key.arn)
        .send()
        .await
        .expect("ok");
    assert!(
        t.elapsed() >= Duration::from_millis(20),
        "{:?}",
        t.elapsed()
    );
    // WHEN a 150 ms latency fault is added for this key THEN the call still succeeds, slower
    sim.faults().add(
        FaultRule::new("DescribeKey", FaultKind::latency_ms(150))
            .for_key(&key.key_id)
            .times(1),
    );
    let t = Instant::now();
    kms.describe_key()
        .key_id(&key.arn)
        .send()
        .await
        .expect("ok");
    assert!(
        t.elapsed() >= Duration::from_millis(170),
        "{:?}",
        t.elapsed()
    );
    // AND a latency range fault adds within its range
    sim.set_latency(None);
    sim.faults().add(
        FaultRule::new(
            "DescribeKey",
            FaultKind::LatencyRange(Duration::from_millis(60), Duration::from_millis(80)),
        )
        .times(1),
    );
    let t = Instant::now();
    kms.describe_key()
        .key_id(&key.arn)
        .send()
        .await
        .expect("ok");
    assert!(
        t.elapsed() >= Duration::from_millis(60),
        "{:?}",
        t.elapsed()
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_dropped_connection_fails_the_call_and_changes_nothing() {
    // GIVEN a key and a drop-connection fault on its deletion
    let sim = sim().await;
    let kms = client(&sim).await;
    let (key, _) = external_key_with_material(&sim, [1; 32]);
    sim.faults().add(
        FaultRule::new(DELETE, FaultKind::DropConnection)
            .for_key(&key.arn)
            .times(1),
    );
    // WHEN the material is deleted THEN the client sees a transport failure
    let e = kms
        .delete_imported_key_material()
        .key_id(&key.key_id)
        .send()
        .await
        .expect_err("dropped");
    assert!(
        matches!(e, SdkError::DispatchFailure(_) | SdkError::ResponseError(_)),
        "{e:?}"
    );
    // AND the key was not touched
    assert_eq!(
        sim.store().describe(&key.arn).expect("k").state,
        KeyState::Enabled
    );
    assert_eq!(sim.counters().faulted(DELETE), 1);
    assert_eq!(sim.counters().successes(DELETE), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn apply_then_drop_performs_the_deletion_and_a_retry_is_idempotent() {
    // GIVEN a key and an apply-then-drop fault on its deletion
    let sim = sim().await;
    let kms = client(&sim).await;
    let (key, material) = external_key_with_material(&sim, [1; 32]);
    sim.faults().add(
        FaultRule::new(DELETE, FaultKind::ApplyThenDrop)
            .for_key(&key.key_id)
            .times(1),
    );
    // WHEN the material is deleted THEN the client sees a failure
    let e = kms
        .delete_imported_key_material()
        .key_id(&key.arn)
        .send()
        .await
        .expect_err("dropped after applying");
    assert!(
        matches!(e, SdkError::DispatchFailure(_) | SdkError::ResponseError(_)),
        "{e:?}"
    );
    // BUT the deletion happened
    assert_eq!(
        sim.store().describe(&key.arn).expect("k").state,
        KeyState::PendingImport
    );
    // WHEN the caller retries THEN it succeeds (PendingImport: allowed, no effect)
    let out = kms
        .delete_imported_key_material()
        .key_id(&key.arn)
        .send()
        .await
        .expect("retry");
    assert_eq!(out.key_material_id(), Some(material.as_str()));
    // AND the counters show two calls, both performed, one faulted
    let c = sim.counters();
    assert_eq!(c.calls_for_key(DELETE, &key.arn), 2);
    assert_eq!(c.successes_for_key(DELETE, &key.key_id), 2);
    assert_eq!(c.faulted(DELETE), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_sdk_retries_transient_faults_and_the_counters_see_every_attempt() {
    // GIVEN two DependencyTimeoutExceptions then success, and an SDK with 3 attempts
    let sim = sim().await;
    let kms = retrying_client(&sim, 3).await;
    let (key, _) = external_key_with_material(&sim, [1; 32]);
    sim.faults()
        .add(FaultRule::new(DELETE, FaultKind::dependency_timeout()).times(2));
    // WHEN the material is deleted once THEN the SDK's third attempt succeeds
    kms.delete_imported_key_material()
        .key_id(&key.arn)
        .send()
        .await
        .expect("third attempt");
    // AND the counters show 3 calls, 2 faulted, 1 success
    let c = sim.counters();
    assert_eq!(
        (c.calls(DELETE), c.faulted(DELETE), c.successes(DELETE)),
        (3, 2, 1)
    );
    // WHEN a dropped connection happens once THEN the SDK retries that too
    let (other, _) = external_key_with_material(&sim, [2; 32]);
    sim.faults()
        .add(FaultRule::new(DELETE, FaultKind::DropConnection).times(1));
    kms.delete_imported_key_material()
        .key_id(&other.arn)
        .send()
        .await
        .expect("retried after the drop");
    assert_eq!(c.calls_for_key(DELETE, &other.key_id), 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn skip_first_expresses_describe_fails_after_a_successful_delete() {
    // GIVEN DescribeKey of one key failing once, after its first call
    let sim = sim().await;
    let kms = client(&sim).await;
    let (key, _) = external_key_with_material(&sim, [1; 32]);
    let (other, _) = external_key_with_material(&sim, [2; 32]);
    sim.faults().add(
        FaultRule::new("DescribeKey", FaultKind::internal())
            .for_key(&key.arn)
            .skip_first(1)
            .times(1),
    );
    // WHEN describe / delete / describe (verify) / describe run
    kms.describe_key()
        .key_id(&key.arn)
        .send()
        .await
        .expect("first describe");
    kms.delete_imported_key_material()
        .key_id(&key.arn)
        .send()
        .await
        .expect("delete");
    // AND another key is not affected
    kms.describe_key()
        .key_id(&other.arn)
        .send()
        .await
        .expect("other key");
    let verify = kms.describe_key().key_id(&key.key_id).send().await;
    let after = kms.describe_key().key_id(&key.arn).send().await;
    // THEN only the verification after the delete failed
    assert_eq!(
        verify.map_err(|e| err_of(&e).0),
        Err("KMSInternalException".to_string())
    );
    assert!(after.is_ok());
    let listed = sim.faults().list();
    assert_eq!((listed[0].seen, listed[0].fired), (3, 1));
    sim.shutdown().await;
}

#[tokio::test]
async fn rate_faults_fire_with_their_probability() {
    // GIVEN a rate-1.0 rule on DescribeKey and a rate-0.0 rule on ListKeys
    let sim = sim().await;
    let kms = client(&sim).await;
    let key = sim.store().create_key(KeySpec::external());
    sim.faults()
        .add(FaultRule::new("DescribeKey", FaultKind::internal()).rate(1.0));
    sim.faults()
        .add(FaultRule::new("ListKeys", FaultKind::internal()).rate(0.0));
    // WHEN each is called three times THEN DescribeKey always fails, ListKeys never
    for _ in 0..3 {
        assert!(kms.describe_key().key_id(&key.arn).send().await.is_err());
        assert!(kms.list_keys().send().await.is_ok());
    }
    // WHEN the rules are cleared THEN DescribeKey works
    sim.faults().clear();
    assert!(kms.describe_key().key_id(&key.arn).send().await.is_ok());
    sim.shutdown().await;
}

#[tokio::test]
async fn counters_count_by_operation_and_key_and_reset() {
    // GIVEN two keys
    let sim = sim().await;
    let kms = client(&sim).await;
    let a = sim.store().create_key(KeySpec::external().alias("alias/a"));
    let b = sim.store().create_key(KeySpec::external());
    // WHEN DescribeKey is called by ID, ARN and alias for a, once for b, once for a missing key
    for k in [a.key_id.as_str(), a.arn.as_str(), "alias/a", b.arn.as_str()] {
        kms.describe_key().key_id(k).send().await.expect("describe");
    }
    let _ = kms
        .describe_key()
        .key_id("11111111-1111-1111-1111-111111111111")
        .send()
        .await;
    // THEN per-key counters resolve IDs, ARNs and aliases to the key
    let c = sim.counters();
    assert_eq!(c.calls("DescribeKey"), 5);
    assert_eq!(c.successes("DescribeKey"), 4);
    assert_eq!(c.errors("DescribeKey"), 1);
    assert_eq!(c.calls_for_key("DescribeKey", &a.key_id), 3);
    assert_eq!(c.calls_for_key("DescribeKey", &a.arn), 3);
    assert_eq!(c.calls_for_key("DescribeKey", &b.key_id), 1);
    let snap = c.snapshot();
    assert_eq!(snap.calls_by_key["DescribeKey"][&b.key_id], 1);
    // WHEN reset THEN everything is zero
    c.reset();
    assert_eq!(c.total_calls(), 0);
    assert_eq!(c.snapshot(), kms_sim::CounterSnapshot::default());
    sim.shutdown().await;
}

#[tokio::test]
async fn every_response_carries_a_fresh_request_id() {
    // GIVEN a key
    let sim = sim().await;
    let kms = client(&sim).await;
    let (key, _) = external_key_with_material(&sim, [1; 32]);
    // WHEN it is described twice and its material deleted
    let d1 = kms
        .describe_key()
        .key_id(&key.arn)
        .send()
        .await
        .expect("d1");
    let d2 = kms
        .describe_key()
        .key_id(&key.arn)
        .send()
        .await
        .expect("d2");
    let del = kms
        .delete_imported_key_material()
        .key_id(&key.arn)
        .send()
        .await
        .expect("delete");
    let err = kms
        .describe_key()
        .key_id("11111111-1111-1111-1111-111111111111")
        .send()
        .await
        .expect_err("missing");
    // THEN the SDK reads a distinct x-amzn-RequestId from each, errors included
    let ids = [
        d1.request_id(),
        d2.request_id(),
        del.request_id(),
        err.request_id(),
    ];
    assert!(
        ids.iter().all(|i| i.is_some_and(|s| s.len() == 36)),
        "{ids:?}"
    );
    let mut unique: Vec<_> = ids.iter().flatten().collect();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 4);
    sim.shutdown().await;
}
