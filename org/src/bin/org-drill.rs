//! `cargo run --bin org-drill`: one incident across an organization of 3 accounts x 2 Regions,
//! locally. The local KMS serves every account and Region; each member runs the real function
//! with the real SDK clients and its own credentials; the router stands in for EventBridge's
//! cross-account and cross-Region delivery. Dry run, then the revocation with one member down,
//! another member's administrator forging that member's answer (the report disowns it),
//! EventBridge's retry, and the consolidated report saying the organization is done.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Instant;

use org::aws::MemberId;
use org::local::{
    COMPROMISED, GUARD_SOURCE, LocalOrg, MEMBER_BUS_NAME, MemberEstate, OU_WORKLOADS, OrgSpec,
};
use org::member::Availability;
use org::report::{Phase, Report, SUMMARY_DETAIL_TYPE};
use org::router::PutEntry;
use serde_json::{Value, json};

const INCIDENT: &str = "INC-2041";

const USAGE: &str = "\
usage: org-drill [-h | --help]

Runs the organization demo locally, with no arguments: one local KMS serving 3 accounts x 2
Regions, a member function in each, the router standing in for EventBridge; a dry run, the
revocation with one member down, a forged answer for it (disowned by the report), EventBridge's
retry, checks against the local KMS and the consolidated report. Exits 0 when every check passes, 1 when one fails.

  -h, --help   this text (nothing runs)

Any other argument is refused (exit status 2).
";

/// What the command line asks for.
enum Command {
    Run,
    Help,
    /// The arguments it does not know, each named.
    Unknown(Vec<String>),
}

fn command(args: &[String]) -> Command {
    let unknown: Vec<String> = args
        .iter()
        .filter(|a| !matches!(a.as_str(), "-h" | "--help"))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        Command::Unknown(unknown)
    } else if args.is_empty() {
        Command::Run
    } else {
        Command::Help
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match command(&args) {
        Command::Run => {}
        Command::Help => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Command::Unknown(unknown) => {
            let named: Vec<String> = unknown.iter().map(|a| format!("{a:?}")).collect();
            eprintln!(
                "org-drill: unknown argument{} {} (it takes none but -h/--help)\n{USAGE}",
                if named.len() == 1 { "" } else { "s" },
                named.join(", ")
            );
            return ExitCode::from(2);
        }
    }
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("org-drill: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

fn check(ok: bool, what: &str) -> Result<(), String> {
    if ok {
        println!("    ok: {what}");
        Ok(())
    } else {
        Err(what.to_string())
    }
}

async fn run() -> Result<(), String> {
    let started = Instant::now();
    let org = LocalOrg::start(OrgSpec::three_by_two())
        .await
        .map_err(|e| e.to_string())?;
    let estates = org.seed(3, 1, 2).map_err(|e| e.to_string())?;
    println!(
        "org-drill: {} members (3 accounts x 2 Regions), local KMS {}, central bus {}",
        estates.len(),
        org.sim.endpoint_url(),
        org.central_bus()
    );
    println!(
        "[1] estate per member: 3 EXTERNAL keys tagged {}={} in scope, 1 without the scope tag, 2 of another supplier, 1 AWS_KMS key",
        COMPROMISED.0, COMPROMISED.1
    );
    dry_run(&org).await?;
    let done = revocation_with_a_member_down(&org).await?;
    println!("[5] the local KMS");
    check_the_local_kms(&org, &estates)?;
    check(
        done.organization.done,
        "the consolidated report says the organization is done",
    )?;
    the_same_report_from_files(&org, started)
}

/// The request of the incident, across every account under the workloads OU.
fn request(dry_run: bool) -> Value {
    json!({"tags": {COMPROMISED.0: COMPROMISED.1},
           "targets": {"organizationalUnits": [OU_WORKLOADS]},
           "reason": "HSM supplier acme-hsm compromised: revoke its imported material everywhere",
           "incidentId": INCIDENT, "requestedBy": "alice@example.com", "dryRun": dry_run})
}

/// [2] The dry run across the organization: nothing deleted, 18 keys would be revoked.
async fn dry_run(org: &LocalOrg) -> Result<(), String> {
    println!("[2] dry run: {INCIDENT}, tag selector, targets: every account under {OU_WORKLOADS}");
    org.raise(&request(true)).await?;
    org.settle().await.map_err(|e| e.to_string())?;
    let dry = org.report(INCIDENT, Some(Phase::DryRun));
    print!("{}", indent(&dry.to_table()));
    check(
        org.sim.counters().calls("DeleteImportedKeyMaterial") == 0,
        "nothing deleted by the dry run",
    )?;
    check(
        dry.organization.done && dry.organization.counts.get("would_revoke") == Some(&18),
        "18 keys would be revoked, 3 per member",
    )
}

/// [3] and [4] The revocation with one member down (pending, EventBridge holds a retry), then
/// back (the retry delivers it); the final report.
async fn revocation_with_a_member_down(org: &LocalOrg) -> Result<Report, String> {
    let down = MemberId::new("222222222222", "eu-west-1");
    let member = org
        .member(&down)
        .ok_or_else(|| format!("no member {down}"))?
        .clone();
    member.set_availability(Availability::Down);
    println!("[3] revocation ({INCIDENT}, dryRun false) while {down} is down");
    org.raise(&request(false)).await?;
    org.deliver().await;
    let pending = org.report(INCIDENT, Some(Phase::Live));
    print!("{}", indent(&pending.to_table()));
    let retries = org.router.scheduled();
    check(
        pending.organization.status == "pending" && retries == 1,
        &format!("{down} shows no answer, organization pending; EventBridge holds 1 retry"),
    )?;
    a_forged_answer_is_disowned(org, &down).await?;

    println!("[4] {down} is back; EventBridge's retry delivers the request");
    member.set_availability(Availability::Up);
    org.settle().await.map_err(|e| e.to_string())?;
    let done = org.report(INCIDENT, Some(Phase::Live));
    print!("{}", indent(&done.to_table()));
    Ok(done)
}

/// [3b] The administrator of another member account publishes a copy of its own summary that
/// claims the down member complete: its rule forwards it in its own envelope, and the report
/// disowns it instead of counting it.
async fn a_forged_answer_is_disowned(org: &LocalOrg, down: &MemberId) -> Result<(), String> {
    let forger = MemberId::new("111111111111", "us-east-1");
    let mut forged = org
        .member(&forger)
        .and_then(|m| m.summaries().last().cloned())
        .ok_or_else(|| format!("no summary of {forger}"))?;
    forged["account"] = json!(down.account);
    forged["region"] = json!(down.region);
    forged["complete"] = json!(true);
    println!("[3b] {forger}'s administrator publishes a summary claiming {down} complete");
    let put = PutEntry::new(GUARD_SOURCE, SUMMARY_DETAIL_TYPE, &forged, MEMBER_BUS_NAME);
    if let Some(Err(e)) = org.router.put_events(&forger, &[put]).pop() {
        return Err(format!(
            "the forger's own bus refused it: {} {}",
            e.code, e.message
        ));
    }
    org.deliver().await;
    let r = org.report(INCIDENT, Some(Phase::Live));
    print!("{}", indent(&r.to_table()));
    let d = r.disowned.first();
    check(
        r.organization.status == "pending"
            && d.is_some_and(|d| d.published_by == forger && d.claimed == *down),
        &format!("the report disowns it (published by {forger}, claims {down}) and stays pending"),
    )
}

/// [5] What the local KMS says: the compromised keys revoked once each in their own account
/// and Region, the others untouched, no member calling KMS on another's keys, no dead letter.
fn check_the_local_kms(
    org: &LocalOrg,
    estates: &BTreeMap<MemberId, MemberEstate>,
) -> Result<(), String> {
    let store = org.sim.store();
    let counters = org.sim.counters();
    let mut all_revoked = true;
    let mut once = true;
    let mut untouched = true;
    let mut own_keys_only = true;
    for (id, e) in estates {
        for k in &e.compromised {
            all_revoked &=
                store.describe(&k.arn).map(|v| v.state) == Some(kms_sim::KeyState::PendingImport);
            once &= counters.calls_for_key("DeleteImportedKeyMaterial", &k.key_id) == 1;
        }
        for k in e.untouched.iter().chain(&e.out_of_scope) {
            untouched &=
                store.describe(&k.arn).map(|v| v.state) == Some(kms_sim::KeyState::Enabled);
            untouched &= counters.calls_for_key("DeleteImportedKeyMaterial", &k.key_id) == 0;
        }
        if let Some(m) = org.member(id) {
            let prefix = format!("arn:aws:kms:{}:{}:key/", id.region, id.account);
            own_keys_only &= m
                .kms_calls()
                .all()
                .iter()
                .filter_map(|(_, k)| k.as_ref())
                .all(|k| k.starts_with(&prefix));
        }
    }
    check(
        all_revoked,
        "the 18 compromised keys are PendingImport, each in its own account and Region",
    )?;
    check(once, "exactly one DeleteImportedKeyMaterial per key")?;
    check(
        untouched,
        "the 12 keys of another supplier and the 6 out-of-scope keys are Enabled, never deleted",
    )?;
    check(
        own_keys_only,
        "every member called KMS only on keys of its own account and Region",
    )?;
    check(
        org.router.queue(&LocalOrg::central_dlq_arn()).is_empty(),
        "central dead-letter queue empty",
    )
}

/// [6] The central log group's lines and the inventory written to files, and the `org report`
/// command that gives the same report from them.
fn the_same_report_from_files(org: &LocalOrg, started: Instant) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("org-drill-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let records = dir.join(format!("{INCIDENT}.jsonl"));
    let inventory = dir.join("inventory.json");
    std::fs::write(&records, org.audit_log().join("\n") + "\n").map_err(|e| e.to_string())?;
    let inv = serde_json::to_string_pretty(&org.inventory()).map_err(|e| e.to_string())?;
    std::fs::write(&inventory, inv).map_err(|e| e.to_string())?;
    let deliveries = org.router.deliveries();
    let failed = deliveries
        .iter()
        .filter(|d| !matches!(d.outcome, org::router::DeliveryOutcome::Delivered))
        .count();
    println!(
        "[6] {} deliveries ({failed} failed and retried), {} function runs, {} events on the central bus; {:.1} s",
        deliveries.len(),
        org.router.invocations().len(),
        org.router.bus_events(org.central_bus()).len(),
        started.elapsed().as_secs_f64()
    );
    println!(
        "    the central log group is in {}; the same report from it:\n    cargo run -p org -- report --incident {INCIDENT} --inventory {} --records {}",
        records.display(),
        inventory.display(),
        records.display()
    );
    Ok(())
}
