//! One incident across an organization of 3 accounts x 2 Regions, locally: the real function in
//! every member (real `aws-sdk-kms` / `aws-sdk-eventbridge` clients over HTTP against the local
//! KMS, each member with its own credentials), the router standing in for EventBridge, the
//! consolidated report read from the central log group.

mod common;

use common::{assert_central_log_valid, member, org, org_with, request};
use kms_sim::{FaultKind, FaultRule, KeyState};
use org::aws::MemberId;
use org::local::{LocalOrg, MEMBER_BUS_NAME, OU_DEV, OU_WORKLOADS, OrgSpec};
use org::member::Availability;
use org::report::{MemberStatus, Phase};
use org::router::DeliveryOutcome;
use serde_json::{Value, json};

fn state(org: &LocalOrg, arn: &str) -> Option<KeyState> {
    org.sim.store().describe(arn).map(|v| v.state)
}

/// Every KMS call of every member named only keys of its own account and Region, and every
/// record in its log group is about its own keys.
fn assert_members_kept_to_their_own_keys(org: &LocalOrg) {
    for m in org.members() {
        let id = m.id();
        let prefix = format!("arn:aws:kms:{}:{}:key/", id.region, id.account);
        for (op, key) in m.kms_calls().all() {
            if let Some(k) = key {
                assert!(k.starts_with(&prefix), "{id} called {op} on {k}");
            }
        }
        for r in m.records() {
            assert_eq!(
                r.account.as_deref(),
                Some(id.account.as_str()),
                "{id}: {r:?}"
            );
            assert_eq!(r.region.as_deref(), Some(id.region.as_str()), "{id}: {r:?}");
        }
    }
}

fn report_member<'a>(r: &'a Value, m: &MemberId) -> &'a Value {
    r["members"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|x| x["account"] == m.account.as_str() && x["region"] == m.region.as_str())
        })
        .unwrap_or_else(|| panic!("{m} not in the report: {r:#}"))
}

#[tokio::test]
async fn the_tag_selector_revokes_every_compromised_key_across_three_accounts_and_two_regions() {
    // GIVEN 6 members, each with 3 compromised keys, 1 out of scope and 2 of another supplier
    let (org, estate) = org().await;
    // WHEN the central account raises the tag selector for every account under the parent OU
    let event_id = org
        .raise(&request(
            "INC-1",
            false,
            json!({"organizationalUnits": [OU_WORKLOADS]}),
        ))
        .await
        .expect("the responder may raise requests");
    org.settle().await.expect("delivered");
    // THEN every compromised key is PendingImport in its own account and Region, deleted once
    for (id, e) in &estate {
        for k in &e.compromised {
            assert!(k.arn.contains(&format!(":{}:{}:", id.region, id.account)));
            assert_eq!(
                state(&org, &k.arn),
                Some(KeyState::PendingImport),
                "{id} {}",
                k.arn
            );
            assert_eq!(
                org.sim
                    .counters()
                    .calls_for_key("DeleteImportedKeyMaterial", &k.key_id),
                1
            );
        }
        // AND the other supplier's keys and the out-of-scope key are untouched
        for k in e.untouched.iter().chain(&e.out_of_scope) {
            assert_eq!(state(&org, &k.arn), Some(KeyState::Enabled));
            assert_eq!(
                org.sim
                    .counters()
                    .calls_for_key("DeleteImportedKeyMaterial", &k.key_id),
                0
            );
        }
    }
    // AND no member touched another member's keys, and every member saw the central account's
    // event with its original id
    assert_members_kept_to_their_own_keys(&org);
    for m in org.members() {
        let records = m.records();
        assert_eq!(records.len(), 4, "{}", m.id());
        for r in &records {
            assert_eq!(r.trigger.event_account.as_deref(), Some("999999999999"));
            assert_eq!(r.trigger.event_id.as_deref(), Some(event_id.as_str()));
        }
    }
    // AND the consolidated report says done, 3 revoked and 1 refused per member
    let r = org.report("INC-1", None).to_json();
    assert_eq!(r["phase"], "live");
    assert_eq!(r["organization"]["status"], "done", "{r:#}");
    assert_eq!(r["organization"]["done"], true);
    assert_eq!(r["organization"]["complete"], 6);
    assert_eq!(
        r["organization"]["counts"],
        json!({"revoked": 18, "refused_out_of_scope": 6})
    );
    for id in estate.keys() {
        let m = report_member(&r, id);
        assert_eq!(m["status"], "complete");
        assert_eq!(
            m["counts"],
            json!({"revoked": 3, "refused_out_of_scope": 1})
        );
        assert_eq!(m["latest_summary"]["state"], "complete");
        assert_eq!(m["pending_keys"], json!([]));
    }
    // AND what the members published is valid against both schemas
    assert_central_log_valid(&org);
    assert!(org.router.queue(&LocalOrg::central_dlq_arn()).is_empty());
}

/// Runs one targeted request and returns the members that acted.
async fn acting_members(targets: Value) -> (LocalOrg, Vec<MemberId>) {
    let (org, estate) = org().await;
    org.raise(&request("INC-T", false, targets))
        .await
        .expect("raised");
    org.settle().await.expect("delivered");
    let mut acted = Vec::new();
    for m in org.members() {
        let id = m.id().clone();
        let e = &estate[&id];
        let revoked = e
            .compromised
            .iter()
            .filter(|k| state(&org, &k.arn) == Some(KeyState::PendingImport))
            .count();
        if m.kms_calls().total() == 0 {
            // Not targeted: no KMS call, no audit record, a summary saying so, keys intact.
            assert!(m.records().is_empty(), "{id}");
            assert_eq!(revoked, 0, "{id}");
            let summaries = m.summaries();
            assert_eq!(summaries.len(), 1, "{id}");
            assert_eq!(summaries[0]["targeted"], false);
        } else {
            assert_eq!(revoked, 3, "{id}");
            acted.push(id);
        }
    }
    assert_members_kept_to_their_own_keys(&org);
    (org, acted)
}

#[tokio::test]
async fn targets_by_account_leave_every_other_account_without_a_kms_call() {
    // GIVEN/WHEN a request targeting account 222222222222
    let (org, acted) = acting_members(json!({"accounts": ["222222222222"]})).await;
    // THEN only its two Regions acted
    assert_eq!(
        acted,
        vec![
            member("222222222222", "eu-west-1"),
            member("222222222222", "us-east-1")
        ]
    );
    // AND the report counts the other four as not targeted and the organization as done
    let r = org.report("INC-T", None).to_json();
    assert_eq!(r["organization"]["not_targeted"], 4);
    assert_eq!(r["organization"]["complete"], 2);
    assert_eq!(r["organization"]["done"], true);
    assert_eq!(
        report_member(&r, &member("111111111111", "us-east-1"))["status"],
        "not_targeted"
    );
}

#[tokio::test]
async fn targets_by_organizational_unit_reach_only_its_accounts() {
    // GIVEN/WHEN a request targeting the dev OU (account 333333333333 only)
    let (_org, acted) = acting_members(json!({"organizationalUnits": [OU_DEV]})).await;
    // THEN only that account acted, in both Regions
    assert_eq!(
        acted,
        vec![
            member("333333333333", "eu-west-1"),
            member("333333333333", "us-east-1")
        ]
    );
}

#[tokio::test]
async fn targets_by_region_reach_only_that_region_of_every_account() {
    // GIVEN/WHEN a request targeting eu-west-1
    let (org, acted) = acting_members(json!({"regions": ["eu-west-1"]})).await;
    // THEN the three accounts acted there and nowhere else
    assert_eq!(
        acted,
        vec![
            member("111111111111", "eu-west-1"),
            member("222222222222", "eu-west-1"),
            member("333333333333", "eu-west-1")
        ]
    );
    let r = org.report("INC-T", None);
    assert!(r.organization.done);
    assert_eq!(r.organization.counts.get("revoked"), Some(&9));
}

#[tokio::test]
async fn the_organization_dry_run_reports_what_would_be_revoked_and_deletes_nothing() {
    // GIVEN the estate
    let (org, estate) = org().await;
    // WHEN the same request runs as a dry run across the organization
    org.raise(&request(
        "INC-D",
        true,
        json!({"organizationalUnits": [OU_WORKLOADS]}),
    ))
    .await
    .expect("raised");
    org.settle().await.expect("delivered");
    // THEN nothing was deleted and every key is still Enabled
    assert_eq!(org.sim.counters().calls("DeleteImportedKeyMaterial"), 0);
    for e in estate.values() {
        for k in &e.compromised {
            assert_eq!(state(&org, &k.arn), Some(KeyState::Enabled));
        }
    }
    // AND the report lists, per member, the 3 keys that would be revoked
    let r = org.report("INC-D", None).to_json();
    assert_eq!(r["phase"], "dry_run");
    assert_eq!(r["organization"]["done"], true);
    assert_eq!(r["organization"]["counts"]["would_revoke"], 18);
    for id in estate.keys() {
        assert_eq!(
            report_member(&r, id)["counts"],
            json!({"would_revoke": 3, "refused_out_of_scope": 1})
        );
    }
    // AND the live view of the same incident has nothing yet: every member without answer
    let live = org.report("INC-D", Some(Phase::Live));
    assert_eq!(live.organization.no_answer, 6);
    assert!(!live.organization.done);
    assert_central_log_valid(&org);
}

#[tokio::test]
async fn a_member_that_is_down_shows_pending_and_completes_on_redelivery() {
    // GIVEN one member whose function does not accept invocations
    let (org, estate) = org().await;
    let down = member("222222222222", "eu-west-1");
    let m = org.member(&down).expect("member").clone();
    m.set_availability(Availability::Down);
    // WHEN the request is delivered
    org.raise(&request(
        "INC-2",
        false,
        json!({"organizationalUnits": [OU_WORKLOADS]}),
    ))
    .await
    .expect("raised");
    org.deliver().await;
    // THEN the five others are complete, the down one has not answered, and the organization
    // is pending with EventBridge holding a retry for it
    let r = org.report("INC-2", None).to_json();
    assert_eq!(r["organization"]["status"], "pending");
    assert_eq!(r["organization"]["complete"], 5);
    assert_eq!(r["organization"]["no_answer"], 1);
    assert_eq!(report_member(&r, &down)["status"], "no_answer");
    assert_eq!(org.router.scheduled(), 1);
    for k in &estate[&down].compromised {
        assert_eq!(state(&org, &k.arn), Some(KeyState::Enabled));
    }
    // WHEN the member comes back and EventBridge retries
    m.set_availability(Availability::Up);
    org.settle().await.expect("delivered");
    // THEN the retry delivered it (second attempt), its keys are revoked once, and the
    // organization is done
    let attempts: Vec<_> = org
        .router
        .deliveries()
        .into_iter()
        .filter(|d| d.target.contains(":222222222222:function:"))
        .filter(|d| d.target.contains("eu-west-1"))
        .filter(|d| d.detail_type == "Key Material Revocation Requested")
        .collect();
    assert_eq!(attempts.len(), 2);
    assert!(matches!(
        attempts[0].outcome,
        DeliveryOutcome::Retrying { .. }
    ));
    assert_eq!(attempts[1].outcome, DeliveryOutcome::Delivered);
    for k in &estate[&down].compromised {
        assert_eq!(state(&org, &k.arn), Some(KeyState::PendingImport));
        assert_eq!(
            org.sim
                .counters()
                .calls_for_key("DeleteImportedKeyMaterial", &k.key_id),
            1
        );
    }
    let r = org.report("INC-2", None).to_json();
    assert_eq!(report_member(&r, &down)["status"], "complete");
    assert_eq!(r["organization"]["done"], true, "{r:#}");
}

#[tokio::test]
async fn a_member_down_past_every_retry_is_dead_lettered_and_a_narrowed_redrive_completes_it() {
    // GIVEN a member down for longer than its rule's retry policy (8 retries within 1 h)
    let (org, estate) = org().await;
    let down = member("333333333333", "us-east-1");
    let m = org.member(&down).expect("member").clone();
    m.set_availability(Availability::Down);
    let detail = request(
        "INC-3",
        false,
        json!({"organizationalUnits": [OU_WORKLOADS]}),
    );
    org.raise(&detail).await.expect("raised");
    org.settle().await.expect("delivered");
    // THEN the request is in the member's rule dead-letter queue and the report shows it pending
    let dlq = org
        .router
        .queue("arn:aws:sqs:us-east-1:333333333333:kms-material-guard-rule-dlq");
    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0].body["detail"]["incidentId"], "INC-3");
    assert_eq!(org.report("INC-3", None).organization.status, "pending");
    // WHEN the responder redrives it, targets narrowed to that member (docs/organization.md)
    m.set_availability(Availability::Up);
    let mut narrowed = detail.clone();
    narrowed["targets"] = json!({"accounts": [down.account], "regions": [down.region]});
    org.raise(&narrowed).await.expect("raised");
    org.settle().await.expect("delivered");
    // THEN its keys are revoked, the others answer "not targeted" without touching KMS again,
    // and the organization is done
    for k in &estate[&down].compromised {
        assert_eq!(state(&org, &k.arn), Some(KeyState::PendingImport));
    }
    let r = org.report("INC-3", None);
    assert!(r.organization.done, "{}", r.to_table());
    assert_eq!(r.organization.counts.get("revoked"), Some(&18));
    assert_eq!(org.sim.counters().calls("DeleteImportedKeyMaterial"), 18);
}

#[tokio::test]
async fn a_throttled_member_is_pending_then_complete_after_lambdas_retry() {
    // GIVEN the local KMS throttling every delete in one member (twice per key), and members
    // configured with 2 attempts per KMS call. (A higher delete rate keeps the test short: each
    // ThrottlingException halves the member's pace, in real time.)
    let spec = OrgSpec::three_by_two()
        .member_env("MATERIAL_GUARD_MAX_ATTEMPTS", "2")
        .member_env("MATERIAL_GUARD_DELETE_RATE", "160");
    let (org, estate) = org_with(spec).await;
    let throttled = member("111111111111", "eu-west-1");
    for k in &estate[&throttled].compromised {
        org.sim.faults().add(
            FaultRule::new("DeleteImportedKeyMaterial", FaultKind::throttling())
                .for_key(&k.arn)
                .times(2),
        );
    }
    // WHEN the request is delivered
    org.raise(&request(
        "INC-4",
        false,
        json!({"organizationalUnits": [OU_WORKLOADS]}),
    ))
    .await
    .expect("raised");
    org.deliver().await;
    // THEN that member's keys are failed_retryable, its invocation failed as retryable, and the
    // report lists them as pending keys
    let r = org.report("INC-4", None).to_json();
    let m = report_member(&r, &throttled);
    assert_eq!(m["status"], "pending", "{r:#}");
    assert_eq!(
        m["latest_summary"]["error_type"],
        "KmsMaterialGuard.Retryable"
    );
    assert_eq!(m["pending_keys"].as_array().map(Vec::len), Some(3));
    assert_eq!(m["pending_keys"][0]["outcome"], "failed_retryable");
    assert_eq!(m["pending_keys"][0]["error_code"], "ThrottlingException");
    assert_eq!(r["organization"]["keys_pending"], 3);
    assert_eq!(r["organization"]["status"], "pending");
    // WHEN Lambda retries the asynchronous event (1 minute later, virtual time)
    org.settle().await.expect("delivered");
    // THEN the keys are revoked, each deleted once, and the organization is done
    for k in &estate[&throttled].compromised {
        assert_eq!(state(&org, &k.arn), Some(KeyState::PendingImport));
        assert_eq!(
            org.sim
                .counters()
                .successes_for_key("DeleteImportedKeyMaterial", &k.key_id),
            1
        );
    }
    let retried: Vec<_> = org
        .router
        .invocations()
        .into_iter()
        .filter(|i| {
            i.function.contains(":111111111111:function:") && i.function.contains("eu-west-1")
        })
        .collect();
    assert_eq!(retried.len(), 2);
    assert_eq!(
        retried[0].request_id, retried[1].request_id,
        "Lambda keeps the request id"
    );
    assert_eq!(retried[1].attempt, 2);
    let r = org.report("INC-4", None).to_json();
    let m = report_member(&r, &throttled);
    assert_eq!(m["status"], "complete");
    assert_eq!(
        m["counts"],
        json!({"revoked": 3, "refused_out_of_scope": 1})
    );
    assert_eq!(r["organization"]["done"], true);
    assert_central_log_valid(&org);
}

#[tokio::test]
async fn duplicate_delivery_revokes_each_key_once_and_the_report_counts_it_once() {
    // GIVEN EventBridge delivering the request twice to every member
    let (org, estate) = org().await;
    org.router.duplicate_next_deliveries(6);
    // WHEN the request is raised
    org.raise(&request(
        "INC-5",
        false,
        json!({"organizationalUnits": [OU_WORKLOADS]}),
    ))
    .await
    .expect("raised");
    org.settle().await.expect("delivered");
    // THEN every member ran twice, every key was deleted once
    assert_eq!(org.router.invocations().len(), 12);
    for e in estate.values() {
        for k in &e.compromised {
            assert_eq!(
                org.sim
                    .counters()
                    .calls_for_key("DeleteImportedKeyMaterial", &k.key_id),
                1
            );
        }
    }
    // AND the report shows 18 revoked keys (not already_revoked), two invocations per member
    let r = org.report("INC-5", None);
    assert!(r.organization.done);
    assert_eq!(r.organization.counts.get("revoked"), Some(&18));
    assert!(r.members.iter().all(|m| m.invocations == 2));
}

#[tokio::test]
async fn a_crashing_member_ends_in_its_on_failure_queue_and_the_report_keeps_it_pending() {
    // GIVEN a member whose function crashes
    let (org, _) = org().await;
    let crashing = member("222222222222", "us-east-1");
    org.member(&crashing)
        .expect("member")
        .set_availability(Availability::Crashing);
    org.raise(&request("INC-6", false, json!({"regions": ["us-east-1"]})))
        .await
        .expect("raised");
    org.settle().await.expect("delivered");
    // THEN Lambda ran it three times and sent the event to its on-failure destination
    let failures = org
        .router
        .queue("arn:aws:sqs:us-east-1:222222222222:kms-material-guard-invoke-failures");
    assert_eq!(failures.len(), 1);
    assert_eq!(
        failures[0].body["requestContext"]["approximateInvokeCount"],
        3
    );
    // AND the report: that member has no answer, the organization is pending
    let r = org.report("INC-6", None);
    assert_eq!(
        r.members
            .iter()
            .find(|m| m.account == crashing.account && m.region == crashing.region)
            .map(|m| m.status),
        Some(MemberStatus::NoAnswer)
    );
    assert_eq!(r.organization.status, "pending");
    assert_eq!(r.organization.not_targeted, 3);
}

#[tokio::test]
async fn only_the_central_account_reaches_the_members() {
    // GIVEN the organization
    let (org, estate) = org().await;
    // WHEN a member account raises a request on the central bus (through the local KMS's
    // PutEvents endpoint, with its own credentials)
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(org.sim.endpoint_url())
        .credentials_provider(aws_sdk_kms::config::Credentials::new(
            "AKIDMEMBER111111111111",
            "x",
            None,
            None,
            "test",
        ))
        .load()
        .await;
    let member_client = aws_sdk_eventbridge::Client::new(&sdk);
    member_client
        .put_events()
        .entries(
            aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                .event_bus_name(org.central_bus().to_string())
                .source("incident-response")
                .detail_type("Key Material Revocation Requested")
                .detail(request("INC-X", false, json!({"regions": ["us-east-1"]})).to_string())
                .build(),
        )
        .send()
        .await
        .expect("the local KMS records it");
    // AND the central account puts a request directly on a member bus with another source
    let direct = org.router.put_events(
        &member("999999999999", "eu-west-1"),
        &[org::router::PutEntry::new(
            "someone-else",
            "Key Material Revocation Requested",
            &request("INC-X", false, json!({"regions": ["eu-west-1"]})),
            &format!("arn:aws:events:eu-west-1:111111111111:event-bus/{MEMBER_BUS_NAME}"),
        )],
    );
    org.settle().await.expect("delivered");
    // THEN the central bus policy refused the member's request, the member bus policy the other
    // source, and no function ran, no key changed
    let refused = org.router.refused_puts();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].error.code, "AccessDeniedException");
    assert_eq!(refused[0].caller.account, "111111111111");
    assert_eq!(
        direct[0].as_ref().map_err(|e| e.code.as_str()),
        Err("AccessDeniedException")
    );
    assert!(org.router.invocations().is_empty());
    assert_eq!(org.sim.counters().calls("DeleteImportedKeyMaterial"), 0);
    assert!(estate.values().all(|e| {
        e.compromised
            .iter()
            .all(|k| state(&org, &k.arn) == Some(KeyState::Enabled))
    }));
}

#[tokio::test]
async fn a_member_with_more_keys_than_one_invocation_continues_through_the_router() {
    // GIVEN members with 12 compromised keys each, 5 deletes per second, and a function timeout
    // that leaves about one second for deletes (timeout 3 s, deadline margin 2 s): at most 6
    // deletes per invocation
    let spec = OrgSpec::three_by_two()
        .member_timeout(std::time::Duration::from_secs(3))
        .member_env("MATERIAL_GUARD_DEADLINE_MARGIN_MS", "2000")
        .member_env("MATERIAL_GUARD_DELETE_RATE", "5");
    let org = LocalOrg::start(spec).await.expect("starts");
    let estate = org.seed(12, 0, 0).expect("seeded");
    let target = member("111111111111", "us-east-1");
    // WHEN a request targets that member
    org.raise(&request(
        "INC-7",
        false,
        json!({"accounts": [target.account], "regions": [target.region]}),
    ))
    .await
    .expect("raised");
    org.settle().await.expect("delivered");
    // THEN the function continued in fresh invocations (Lambda Invoke through the router) until
    // every key was revoked, each deleted once
    for k in &estate[&target].compromised {
        assert_eq!(state(&org, &k.arn), Some(KeyState::PendingImport));
        assert_eq!(
            org.sim
                .counters()
                .calls_for_key("DeleteImportedKeyMaterial", &k.key_id),
            1
        );
    }
    let summaries = org.member(&target).expect("member").summaries();
    assert!(summaries.len() >= 2, "{summaries:#?}");
    assert!(org.router.invocations().len() >= 2);
    assert!(
        summaries[0]["continued_by"].is_string(),
        "{:#}",
        summaries[0]
    );
    assert_eq!(summaries[0]["complete"], false);
    assert_eq!(
        summaries.last().map(|s| s["complete"].clone()),
        Some(json!(true))
    );
    // AND the report counts 12 revoked keys, none pending, the organization done
    let r = org.report("INC-7", None);
    let m = r
        .members
        .iter()
        .find(|m| m.account == target.account && m.region == target.region)
        .expect("in the report");
    assert_eq!(m.status, MemberStatus::Complete, "{}", r.to_table());
    assert_eq!(m.counts.get("revoked"), Some(&12));
    assert!(m.invocations >= 2);
    assert!(r.organization.done);
    assert_central_log_valid(&org);
}

#[tokio::test]
async fn publishing_failures_to_the_central_bus_are_retried_by_the_members() {
    // GIVEN the central bus rejecting two PutEvents calls after the responder's (every entry
    // failed)
    let (org, _) = org().await;
    org.sim.faults().add(
        FaultRule::new("PutEvents", FaultKind::fail_entries())
            .skip_first(1)
            .times(2),
    );
    // WHEN the revocation runs
    org.raise(&request(
        "INC-8",
        false,
        json!({"organizationalUnits": [OU_WORKLOADS]}),
    ))
    .await
    .expect("raised");
    org.settle().await.expect("delivered");
    // THEN the members' sinks retried the rejected batches: every record and summary reached
    // the central log group once, and the report is complete
    let fired: Vec<u64> = org.sim.faults().list().iter().map(|r| r.fired).collect();
    assert_eq!(fired, vec![2]);
    let lost: u64 = org.members().map(|m| m.published().1).sum();
    assert_eq!(lost, 0);
    let r = org.report("INC-8", None);
    assert!(r.organization.done, "{}", r.to_table());
    assert_eq!(r.input.audit_records, 24);
    assert_eq!(r.input.summaries, 6);
    assert_eq!(r.input.duplicates, 0);
}
