//! The central view trusts only what EventBridge vouches for (issue 11): members' records and
//! summaries reach the central bus forwarded by a rule of their own incident bus, in the
//! envelope EventBridge stamped there (the member's account and Region); nobody may put them on
//! the central bus directly; and the report counts a summary or record that names another
//! member than its envelope for nobody.

mod common;

use common::{member, org, org_with, request};
use kms_sim::KeyState;
use org::local::{GUARD_SOURCE, LocalOrg, MEMBER_BUS_NAME, OrgSpec};
use org::member::Availability;
use org::report::{AUDIT_DETAIL_TYPE, MemberStatus, SUMMARY_DETAIL_TYPE};
use org::router::PutEntry;
use serde_json::{Value, json};

fn state(org: &LocalOrg, arn: &str) -> Option<KeyState> {
    org.sim.store().describe(arn).map(|v| v.state)
}

/// The central audit log's events.
fn central_events(org: &LocalOrg) -> Vec<Value> {
    org.audit_log()
        .iter()
        .map(|l| serde_json::from_str(l).expect("a log line is an EventBridge event"))
        .collect()
}

#[tokio::test]
async fn every_record_reaches_the_central_bus_in_its_members_envelope() {
    // GIVEN the organization (members in us-east-1 and eu-west-1, the central bus in us-east-1)
    let (org, _estate) = org().await;
    // WHEN a request revokes the compromised keys everywhere
    org.raise(&request(
        "INC-V",
        false,
        json!({"regions": ["us-east-1", "eu-west-1"]}),
    ))
    .await
    .expect("raised");
    org.settle().await.expect("delivered");
    // THEN every summary's envelope names the account and Region the summary names, every
    // record's the account and Region of its key, eu-west-1 members' events included
    let events = central_events(&org);
    assert!(!events.is_empty());
    for e in &events {
        let (d, account, region) = (&e["detail"], &e["account"], &e["region"]);
        assert_eq!((&d["account"], &d["region"]), (account, region), "{e:#}");
    }
    assert!(events.iter().any(|e| e["region"] == "eu-west-1"));
    // AND the report is done, with nothing disowned and nothing unvouched
    let r = org.report("INC-V", None);
    assert!(r.organization.done, "{}", r.to_table());
    assert!(r.disowned.is_empty());
    assert_eq!(r.input.unvouched, 0);
}

#[tokio::test]
async fn a_member_admin_cannot_mark_another_member_complete() {
    // GIVEN the organization with 111111111111/eu-west-1 and 222222222222/eu-west-1 down while a
    // request revokes everywhere, so both have not answered
    let (org, estate) = org().await;
    let victim = member("111111111111", "eu-west-1");
    let own_other_region = member("222222222222", "eu-west-1");
    let attacker = member("222222222222", "us-east-1");
    for m in [&victim, &own_other_region] {
        org.member(m)
            .expect("member")
            .set_availability(Availability::Down);
    }
    org.raise(&request(
        "INC-F",
        false,
        json!({"regions": ["us-east-1", "eu-west-1"]}),
    ))
    .await
    .expect("raised");
    org.deliver().await;
    // WHEN the administrator of 222222222222 publishes, from us-east-1, copies of its genuine
    // summary claiming each of them complete, and a record claiming a victim key revoked:
    let genuine = org.member(&attacker).expect("member").summaries();
    let forge = |m: &org::aws::MemberId| {
        let mut s = genuine.last().expect("a summary").clone();
        s["account"] = json!(m.account);
        s["region"] = json!(m.region);
        s["function_request_id"] = json!(format!("forged-{}", m.region));
        s["complete"] = json!(true);
        s
    };
    let victim_key = &estate[&victim].compromised[0];
    let mut record =
        serde_json::to_value(&org.member(&attacker).expect("member").records()[0]).expect("record");
    record["key_arn"] = json!(victim_key.arn);
    record["account"] = json!(victim.account);
    record["region"] = json!(victim.region);
    record["outcome"] = json!("revoked");
    let entries = [
        PutEntry::new(
            GUARD_SOURCE,
            SUMMARY_DETAIL_TYPE,
            &forge(&victim),
            MEMBER_BUS_NAME,
        ),
        PutEntry::new(
            GUARD_SOURCE,
            SUMMARY_DETAIL_TYPE,
            &forge(&own_other_region),
            MEMBER_BUS_NAME,
        ),
        PutEntry::new(GUARD_SOURCE, AUDIT_DETAIL_TYPE, &record, MEMBER_BUS_NAME),
    ];
    // ...directly on the central bus
    let central = org.central_bus().to_string();
    let direct = org.router.put_events(
        &attacker,
        &[PutEntry::new(
            GUARD_SOURCE,
            SUMMARY_DETAIL_TYPE,
            &forge(&victim),
            &central,
        )],
    );
    // ...and on its own incident bus, whose rule forwards them to the central bus
    let forwarded = org.router.put_events(&attacker, &entries);
    org.deliver().await;
    // THEN the central bus refused the direct one
    assert_eq!(
        direct[0].as_ref().map_err(|e| e.code.as_str()),
        Err("AccessDeniedException")
    );
    assert!(forwarded.iter().all(Result::is_ok));
    // AND the forwarded ones arrived in the attacker's envelope
    let forged: Vec<Value> = central_events(&org)
        .into_iter()
        .filter(|e| {
            e["detail"]["function_request_id"]
                .as_str()
                .is_some_and(|r| r.starts_with("forged-"))
                || e["detail"]["key_arn"] == json!(victim_key.arn)
        })
        .collect();
    assert_eq!(forged.len(), 3);
    assert!(
        forged
            .iter()
            .all(|e| e["account"] == json!(attacker.account)
                && e["region"] == json!(attacker.region))
    );
    // AND the report counts none of them: both victims still without answer, the organization
    // pending, the victim's key not counted, the forgeries listed as disowned by the attacker
    let r = org.report("INC-F", None);
    let status = |m: &org::aws::MemberId| {
        r.members
            .iter()
            .find(|x| x.account == m.account && x.region == m.region)
            .map(|x| (x.status, x.keys))
    };
    assert_eq!(status(&victim), Some((MemberStatus::NoAnswer, 0)));
    assert_eq!(status(&own_other_region), Some((MemberStatus::NoAnswer, 0)));
    assert_eq!(r.organization.status, "pending", "{}", r.to_table());
    assert_eq!(r.disowned.len(), 3, "{:#?}", r.disowned);
    assert!(r.disowned.iter().all(|d| d.published_by == attacker));
    // AND the victim's key is untouched
    assert_eq!(state(&org, &victim_key.arn), Some(KeyState::Enabled));
}

#[tokio::test]
async fn a_function_publishing_straight_to_the_central_bus_is_refused() {
    // GIVEN members configured as before issue 11: audit bus = the central bus ARN (a PutEvents
    // there would carry the central bus's Region, whatever the member's)
    let central = org::aws::BusArn::new(
        org::local::CENTRAL_REGION,
        org::local::CENTRAL_ACCOUNT,
        org::local::CENTRAL_BUS_NAME,
    )
    .to_string();
    let spec = OrgSpec::three_by_two().member_env("MATERIAL_GUARD_AUDIT_EVENT_BUS", &central);
    let (org, estate) = org_with(spec).await;
    // WHEN a request revokes in one member
    let target = member("333333333333", "eu-west-1");
    org.raise(&request(
        "INC-D",
        false,
        json!({"accounts": [target.account], "regions": [target.region]}),
    ))
    .await
    .expect("raised");
    org.settle().await.expect("delivered");
    // THEN the member revoked its keys, but the central bus took none of its records: every
    // one was refused, and the report has nothing from it
    assert!(
        estate[&target]
            .compromised
            .iter()
            .all(|k| state(&org, &k.arn) == Some(KeyState::PendingImport))
    );
    let refused = org.router.refused_puts();
    assert!(!refused.is_empty());
    assert!(
        refused
            .iter()
            .all(|p| p.error.code == "AccessDeniedException"
                && p.caller.region == org::local::CENTRAL_REGION)
    );
    assert!(refused.iter().any(|p| p.caller.account == target.account));
    assert!(org.audit_log().is_empty());
    let r = org.report("INC-D", None);
    assert!(r.members.iter().all(|m| m.status == MemberStatus::NoAnswer));
}
