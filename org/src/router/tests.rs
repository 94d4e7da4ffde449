//! The router's behaviour: forwarding across accounts and Regions, EventBridge's and Lambda's
//! retries, dead letters, bus policies, rule validation, log group targets.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::aws::{BusArn, MemberId};
use crate::pattern::Pattern;

const CENTRAL: &str = "999999999999";
const MEMBER: &str = "111111111111";

/// A function that records its payloads and fails its first `fail_first` runs.
struct Fake {
    arn: String,
    up: AtomicBool,
    fail_first: AtomicU32,
    runs: Mutex<Vec<(Value, LambdaContext)>>,
}

impl Fake {
    fn new(member: &MemberId, fail_first: u32) -> Arc<Self> {
        Arc::new(Fake {
            arn: crate::aws::function_arn(member, "guard"),
            up: AtomicBool::new(true),
            fail_first: AtomicU32::new(fail_first),
            runs: Mutex::new(Vec::new()),
        })
    }
    fn runs(&self) -> Vec<(Value, LambdaContext)> {
        self.runs.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Function for Fake {
    fn arn(&self) -> &str {
        &self.arn
    }
    fn accepting(&self) -> Result<(), InvokeError> {
        if self.up.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(InvokeError::NotAccepted {
                code: "ServiceException".into(),
                message: "down".into(),
            })
        }
    }
    fn timeout(&self) -> Duration {
        Duration::from_secs(60)
    }
    fn invoke(
        &self,
        payload: Value,
        ctx: LambdaContext,
    ) -> BoxFuture<'_, Result<Value, InvokeError>> {
        Box::pin(async move {
            if let Ok(mut r) = self.runs.lock() {
                r.push((payload, ctx));
            }
            let left = self.fail_first.load(Ordering::SeqCst);
            if left > 0 {
                self.fail_first.store(left - 1, Ordering::SeqCst);
                return Err(InvokeError::Function {
                    error_type: "KmsMaterialGuard.Retryable".into(),
                    error_message: "try again".into(),
                });
            }
            Ok(json!({"ok": true}))
        })
    }
}

fn central_bus() -> BusArn {
    BusArn::new("us-east-1", CENTRAL, "org")
}

fn pattern() -> Pattern {
    Pattern::parse(&json!({"source": ["incident-response"],
                               "detail-type": ["Key Material Revocation Requested"]}))
    .expect("valid")
}

/// Central bus -> member bus (eu-west-1) -> member function.
fn org(fail_first: u32) -> (Router, Arc<Fake>, BusArn) {
    let router = Router::default();
    let member = MemberId::new(MEMBER, "eu-west-1");
    let member_bus = BusArn::default_bus(&member);
    router
        .add_bus(&central_bus(), BusPolicy::allow(&[MEMBER]))
        .expect("bus");
    router
        .add_bus(&member_bus, BusPolicy::allow(&[CENTRAL]))
        .expect("bus");
    router
        .put_rule(
            Rule::new("fan-out", &central_bus(), pattern()).target(
                Target::new("m1", &member_bus.to_string())
                    .with_dead_letter_queue("arn:aws:sqs:us-east-1:999999999999:fanout-dlq"),
            ),
        )
        .expect("rule");
    let f = Fake::new(&member, fail_first);
    router
        .add_function(
            f.clone(),
            AsyncInvokeConfig {
                on_failure: Some("arn:aws:sqs:eu-west-1:111111111111:invoke-failures".into()),
                ..AsyncInvokeConfig::default()
            },
        )
        .expect("function");
    router
        .put_rule(
            Rule::new("incident", &member_bus, pattern()).target(
                Target::new("guard", &f.arn)
                    .with_retry(8, Duration::from_secs(3600))
                    .with_dead_letter_queue("arn:aws:sqs:eu-west-1:111111111111:rule-dlq"),
            ),
        )
        .expect("rule");
    (router, f, member_bus)
}

fn raise(router: &Router) -> Vec<Result<String, PutError>> {
    router.put_events(
        &MemberId::new(CENTRAL, "us-east-1"),
        &[PutEntry::new(
            "incident-response",
            "Key Material Revocation Requested",
            &json!({"incidentId": "INC-1"}),
            &central_bus().to_string(),
        )],
    )
}

#[tokio::test]
async fn forwarding_across_account_and_region_keeps_the_original_envelope() {
    // GIVEN the central bus forwarding to a member bus in another account and Region
    let (router, f, member_bus) = org(0);
    // WHEN the central account raises a request
    let ids = raise(&router);
    let id = ids[0].clone().expect("accepted");
    router.run_until_idle(100).await.expect("idle");
    // THEN the member function receives the event with the central account and Region,
    // the same id, and a Lambda-like context
    let runs = f.runs();
    assert_eq!(runs.len(), 1);
    let (payload, ctx) = &runs[0];
    assert_eq!(payload["account"], CENTRAL);
    assert_eq!(payload["region"], "us-east-1");
    assert_eq!(payload["id"], id.as_str());
    assert_eq!(payload["detail"]["incidentId"], "INC-1");
    assert_eq!(ctx.attempt, 1);
    assert_eq!(ctx.invoked_function_arn, f.arn);
    assert_eq!(ctx.request_id.len(), 36);
    assert_eq!(router.bus_events(&member_bus).len(), 1);
}

#[tokio::test]
async fn a_down_function_is_retried_by_eventbridge_then_dead_lettered() {
    // GIVEN a member whose Invoke API does not accept events
    let (router, f, _) = org(0);
    f.up.store(false, Ordering::SeqCst);
    raise(&router);
    // WHEN the first delivery runs
    router.deliver_due().await;
    // THEN it failed and a retry is scheduled; nothing ran
    assert!(f.runs().is_empty());
    assert_eq!(router.scheduled(), 1);
    // WHEN it stays down through every retry
    router.run_until_idle(100).await.expect("idle");
    // THEN 1 + 8 attempts were made and the event is in the rule's dead-letter queue
    let attempts: Vec<_> = router
        .deliveries()
        .into_iter()
        .filter(|d| d.target == f.arn)
        .collect();
    assert_eq!(attempts.len(), 9);
    let dlq = router.queue("arn:aws:sqs:eu-west-1:111111111111:rule-dlq");
    assert_eq!(dlq.len(), 1);
    assert_eq!(
        dlq[0].attributes.get("ERROR_CODE").map(String::as_str),
        Some("ServiceException")
    );
    assert_eq!(dlq[0].body["detail"]["incidentId"], "INC-1");
    // AND the backoff doubled (virtual time: 1 + 2 + ... + 128 s)
    assert_eq!(router.now(), Duration::from_secs(255));
}

#[tokio::test]
async fn a_down_function_that_comes_back_gets_the_retry() {
    let (router, f, _) = org(0);
    f.up.store(false, Ordering::SeqCst);
    raise(&router);
    router.deliver_due().await;
    assert!(f.runs().is_empty());
    // WHEN it comes back before the next retry
    f.up.store(true, Ordering::SeqCst);
    router.run_until_idle(100).await.expect("idle");
    // THEN the retry delivers it once
    assert_eq!(f.runs().len(), 1);
    assert!(
        router
            .queue("arn:aws:sqs:eu-west-1:111111111111:rule-dlq")
            .is_empty()
    );
}

#[tokio::test]
async fn function_errors_are_retried_by_lambda_with_the_same_request_id() {
    // GIVEN a function failing its first two runs
    let (router, f, _) = org(2);
    raise(&router);
    router.run_until_idle(100).await.expect("idle");
    // THEN Lambda ran it three times with one request id, 1 then 2 minutes apart
    let runs = f.runs();
    assert_eq!(runs.len(), 3);
    assert!(
        runs.iter()
            .all(|(_, c)| c.request_id == runs[0].1.request_id)
    );
    assert_eq!(
        runs.iter().map(|(_, c)| c.attempt).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(router.now(), Duration::from_secs(180));
    assert!(
        router
            .queue("arn:aws:sqs:eu-west-1:111111111111:invoke-failures")
            .is_empty()
    );
}

#[tokio::test]
async fn exhausted_function_retries_reach_the_on_failure_destination() {
    let (router, f, _) = org(5);
    raise(&router);
    router.run_until_idle(100).await.expect("idle");
    assert_eq!(f.runs().len(), 3);
    let failed = router.queue("arn:aws:sqs:eu-west-1:111111111111:invoke-failures");
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0].body["requestContext"]["condition"],
        "RetriesExhausted"
    );
    assert_eq!(
        failed[0].body["requestContext"]["approximateInvokeCount"],
        3
    );
    assert_eq!(
        failed[0].body["responsePayload"]["errorType"],
        "KmsMaterialGuard.Retryable"
    );
    assert_eq!(
        failed[0].body["requestPayload"]["detail"]["incidentId"],
        "INC-1"
    );
}

#[tokio::test]
async fn duplicate_delivery_invokes_twice_with_distinct_request_ids() {
    let (router, f, _) = org(0);
    router.duplicate_next_deliveries(1);
    raise(&router);
    router.run_until_idle(100).await.expect("idle");
    let runs = f.runs();
    assert_eq!(runs.len(), 2);
    assert_ne!(runs[0].1.request_id, runs[1].1.request_id);
    assert_eq!(runs[0].0["id"], runs[1].0["id"], "the same event");
}

#[tokio::test]
async fn bus_policies_guard_both_directions() {
    // GIVEN a member bus that does not trust the central account
    let (router, f, member_bus) = org(0);
    router
        .set_bus_policy(&member_bus, BusPolicy::own_account())
        .expect("policy");
    // WHEN the central account raises a request
    raise(&router);
    router.run_until_idle(100).await.expect("idle");
    // THEN the forward is refused without retries and dead-lettered centrally
    assert!(f.runs().is_empty());
    let dlq = router.queue("arn:aws:sqs:us-east-1:999999999999:fanout-dlq");
    assert_eq!(dlq.len(), 1);
    assert_eq!(
        dlq[0].attributes.get("ERROR_CODE").map(String::as_str),
        Some("AccessDeniedException")
    );
    // AND an account the central bus does not trust cannot put events on it
    let stranger = router.put_events(
        &MemberId::new("444444444444", "us-east-1"),
        &[PutEntry::new(
            "kms-material-guard",
            "Key Material Audit Record",
            &json!({}),
            &central_bus().to_string(),
        )],
    );
    assert_eq!(
        stranger[0].as_ref().map_err(|e| e.code.as_str()),
        Err("AccessDeniedException")
    );
    // AND PutEvents from another Region's endpoint naming the central bus is refused
    let other_region = router.put_events(
        &MemberId::new(MEMBER, "eu-west-1"),
        &[PutEntry::new(
            "kms-material-guard",
            "Key Material Audit Record",
            &json!({}),
            &central_bus().to_string(),
        )],
    );
    assert_eq!(
        other_region[0].as_ref().map_err(|e| e.code.as_str()),
        Err("ValidationException")
    );
    // AND a bus policy conditioned on source and detail-type admits only those
    router
        .set_bus_policy(
            &central_bus(),
            BusPolicy::own_account().grant(
                &[MEMBER],
                Some(&["kms-material-guard"]),
                Some(&["Key Material Audit Record"]),
            ),
        )
        .expect("policy");
    let request = router.put_events(
        &MemberId::new(MEMBER, "us-east-1"),
        &[PutEntry::new(
            "incident-response",
            "Key Material Revocation Requested",
            &json!({}),
            &central_bus().to_string(),
        )],
    );
    assert_eq!(
        request[0].as_ref().map_err(|e| e.code.as_str()),
        Err("AccessDeniedException")
    );
    // AND the member itself can put its audit records, from the central bus's Region
    let ok = router.put_events(
        &MemberId::new(MEMBER, "us-east-1"),
        &[PutEntry::new(
            "kms-material-guard",
            "Key Material Audit Record",
            &json!({}),
            &central_bus().to_string(),
        )],
    );
    assert!(ok[0].is_ok());
}

#[tokio::test]
async fn events_received_from_another_bus_are_not_sent_on_to_a_third() {
    // GIVEN the member bus forwarding requests on to a third account's bus
    let (router, _, member_bus) = org(0);
    let third = BusArn::new("eu-west-1", "333333333333", "default");
    router
        .add_bus(&third, BusPolicy::allow(&[MEMBER, CENTRAL]))
        .expect("bus");
    router
        .put_rule(
            Rule::new("onward", &member_bus, pattern())
                .target(Target::new("t", &third.to_string())),
        )
        .expect("rule");
    raise(&router);
    router.run_until_idle(100).await.expect("idle");
    // THEN the third bus never sees it
    assert!(router.bus_events(&third).is_empty());
    assert!(router.deliveries().iter().any(|d| matches!(&d.outcome, DeliveryOutcome::Dropped { error } if error.starts_with("NotForwarded"))));
}

#[tokio::test]
async fn rules_are_validated_like_put_rule_and_put_targets() {
    let router = Router::default();
    router
        .add_bus(&central_bus(), BusPolicy::own_account())
        .expect("bus");
    let mut rule = Rule::new("six", &central_bus(), pattern());
    for i in 0..6 {
        rule = rule.target(Target::new(
            &format!("t{i}"),
            "arn:aws:sqs:us-east-1:999999999999:q",
        ));
    }
    assert!(matches!(
        router.put_rule(rule),
        Err(RouterError::TooManyTargets { count: 6, .. })
    ));
    let unknown =
        Rule::new("u", &central_bus(), pattern()).target(Target::new("t", "arn:aws:s3:::bucket"));
    assert!(matches!(
        router.put_rule(unknown),
        Err(RouterError::UnknownTarget(_))
    ));
    let nobus = Rule::new("n", &BusArn::new("us-east-1", CENTRAL, "nope"), pattern());
    assert!(matches!(
        router.put_rule(nobus),
        Err(RouterError::NoSuchBus(_))
    ));
    router
        .put_rule(Rule::new("r", &central_bus(), pattern()))
        .expect("first");
    assert!(matches!(
        router.put_rule(Rule::new("r", &central_bus(), pattern())),
        Err(RouterError::RuleExists(_))
    ));
    assert_eq!(
        Rule::new("r", &central_bus(), pattern()).arn(),
        "arn:aws:events:us-east-1:999999999999:rule/org/r"
    );
}

#[tokio::test]
async fn log_group_targets_store_the_envelope_and_run_for_stops_at_its_end() {
    let router = Router::default();
    router
        .add_bus(&central_bus(), BusPolicy::own_account())
        .expect("bus");
    let log = "arn:aws:logs:us-east-1:999999999999:log-group:/org/audit";
    router.add_log_group(log);
    router
        .put_rule(
            Rule::new(
                "audit",
                &central_bus(),
                Pattern::parse(&json!({"source": ["kms-material-guard"]})).expect("p"),
            )
            .target(Target::new("log", log)),
        )
        .expect("rule");
    let caller = MemberId::new(CENTRAL, "us-east-1");
    router.put_events(
        &caller,
        &[PutEntry::new(
            "kms-material-guard",
            "Key Material Audit Record",
            &json!({"a": 1}),
            "org",
        )],
    );
    router.put_events(
        &caller,
        &[PutEntry::new("other", "x", &json!({"a": 2}), "org")],
    );
    router.run_for(Duration::from_secs(10)).await;
    let lines = router.log_lines(log);
    assert_eq!(lines.len(), 1);
    let v: Value = serde_json::from_str(&lines[0]).expect("json");
    assert_eq!(v["detail"]["a"], 1);
    assert_eq!(v["detail-type"], "Key Material Audit Record");
    assert_eq!(router.now(), Duration::from_secs(10));
}
