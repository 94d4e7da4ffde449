//! The drill: `cargo run --bin drill`. No AWS account needed.
//!
//! Starts the local KMS, seeds a small BYOK estate the way a key custodian would (CreateKey with
//! Origin EXTERNAL, GetParametersForImport, wrap, ImportKeyMaterial), encrypts a secret under
//! every key, lets tenant-a's orders service store a record with envelope encryption (a data
//! key from GenerateDataKey, AES-256-GCM locally), sends the sample events of `events/` through
//! the real function, prints every audit record and a table of what happened, and shows
//! decryption failing for the revoked keys — the orders service can no longer read its record —
//! and coming back after the custodian re-imports the material.

mod app;
mod custodian;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use app::EnvelopeApp;
use aws_sdk_kms::Client;
use aws_sdk_kms::primitives::Blob;
use custodian::{aws_managed, byok, import};
use kms_material_guard::audit::{AuditRecord, AuditSink};
use kms_material_guard::{Config, Guard, Invocation, MemorySink, StdoutSink};
use kms_sim::{KmsSim, SimConfig};
use serde_json::Value;

type Error = Box<dyn std::error::Error + Send + Sync>;

const ACCOUNT: &str = "111111111111";
const REGION: &str = "us-east-1";
const RECORD_ID: &str = "order-1042";
const RECORD: &[u8] = b"order 1042: 3 x 250 g espresso beans, card ending 4242";

const USAGE: &str = "\
usage: drill [-h | --help]

The kms-material-guard drill, with no AWS account: starts the local KMS (kms-sim) in-process on a
free loopback port, seeds six keys as a key custodian does, encrypts a secret under each (and
tenant-a's orders service a record with envelope encryption), sends sample events of events/
through the function, prints every audit record and a table of outcomes, shows decryption
failing for the revoked keys and coming back after the custodian re-imports one key's material. Takes no arguments; MATERIAL_GUARD_* variables adjust the
function as in Lambda (docs/reference.md). Exits 0 when the drill ran, 1 when a step failed.

  -h, --help   this text (nothing runs)

Any other argument is refused (exit status 2).
";

/// What the command line asks for.
enum Command {
    Run,
    Help,
}

/// The command, or the arguments it does not know (quoted, for the error).
fn command(args: &[String]) -> Result<Command, Vec<String>> {
    let unknown: Vec<String> = args
        .iter()
        .filter(|a| !matches!(a.as_str(), "-h" | "--help"))
        .map(|a| format!("{a:?}"))
        .collect();
    match (unknown.is_empty(), args.is_empty()) {
        (false, _) => Err(unknown),
        (true, true) => Ok(Command::Run),
        (true, false) => Ok(Command::Help),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match command(&args) {
        Ok(Command::Run) => {}
        Ok(Command::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(unknown) => {
            eprintln!(
                "drill: unknown argument{} {} (it takes none but -h/--help)\n{USAGE}",
                if unknown.len() == 1 { "" } else { "s" },
                unknown.join(", ")
            );
            return ExitCode::from(2);
        }
    }
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Error::from)
        .and_then(|runtime| runtime.block_on(run()));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("drill: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Error> {
    let started = Instant::now();
    // AWS's quotas, except GetParametersForImport (1/s) so that seeding six keys is quick.
    let sim = KmsSim::start(
        SimConfig::default()
            .with_quota("GetParametersForImport", 100.0)
            .with_latency(
                std::time::Duration::from_millis(5),
                std::time::Duration::from_millis(15),
            ),
    )
    .await?;
    println!("== kms-material-guard drill ==");
    println!(
        "local KMS on {} (real KMS JSON protocol, AWS quotas, 5-15 ms latency)\n",
        sim.endpoint_url()
    );

    let custodian = Client::new(&sdk(&sim, "AKIDDRILL").await);

    println!(
        "1. A key custodian seeds the estate (CreateKey, GetParametersForImport, ImportKeyMaterial):"
    );
    let scope = [("kms-material-guard:revocable", "true")];
    let keys = vec![
        byok(
            &custodian,
            "tenant-a orders",
            Some("alias/tenant-a/orders"),
            &[&scope[..], &[("tenant", "tenant-a")]].concat(),
        )
        .await?,
        byok(
            &custodian,
            "tenant-a payments",
            Some("alias/tenant-a/payments"),
            &[&scope[..], &[("tenant", "tenant-a")]].concat(),
        )
        .await?,
        byok(
            &custodian,
            "tenant-b archive",
            Some("alias/tenant-b/archive"),
            &[&scope[..], &[("tenant", "tenant-b")]].concat(),
        )
        .await?,
        byok(
            &custodian,
            "untagged BYOK",
            Some("alias/legacy/untagged"),
            &[("tenant", "tenant-a")],
        )
        .await?,
        aws_managed(&custodian, "AWS_KMS key").await?,
        {
            let mut k = byok(
                &custodian,
                "pending deletion",
                Some("alias/tenant-a/retired"),
                &[&scope[..], &[("tenant", "tenant-a")]].concat(),
            )
            .await?;
            custodian
                .schedule_key_deletion()
                .key_id(&k.key_id)
                .pending_window_in_days(7)
                .send()
                .await?;
            k.label = "pending deletion";
            k
        },
    ];
    for k in &keys {
        println!("   {:<18} {}", k.label, k.key_id);
    }
    println!("   a secret is encrypted under each of them\n");

    println!(
        "2. tenant-a's orders service stores its records with envelope encryption, as AWS services do:"
    );
    let orders_app = EnvelopeApp::new(
        Client::new(&sdk(&sim, "AKIDORDERSAPP").await),
        "alias/tenant-a/orders",
        "tenant-a",
    );
    let record = orders_app.seal(RECORD_ID, RECORD).await?;
    println!(
        "   GenerateDataKey(alias/tenant-a/orders, AES_256) -> data key; AES-256-GCM of the record locally"
    );
    println!(
        "   stored: {RECORD_ID} = {} bytes of ciphertext + {}-byte nonce + the {}-byte encrypted data key",
        record.ciphertext.len(),
        record.nonce.len(),
        record.encrypted_data_key.len()
    );
    println!(
        "   {:<18} {}\n",
        "orders service",
        read_status(&orders_app, &record).await
    );

    let config = Config::from_lookup(|name| match name {
        "AWS_REGION" => Some(REGION.into()),
        "MATERIAL_GUARD_ACCOUNT_ID" => Some(ACCOUNT.into()),
        // EMF metric lines would only clutter the drill's output (set the variable to see them).
        "MATERIAL_GUARD_METRICS_NAMESPACE" => std::env::var(name).ok().or(Some("off".into())),
        _ => std::env::var(name).ok(),
    })?;
    let function_sdk = sdk(&sim, "AKIDFUNCTION").await;
    let memory = Arc::new(MemorySink::new());
    let sink: Arc<dyn AuditSink> = Arc::new(kms_material_guard::audit::Tee(vec![
        memory.clone(),
        Arc::new(StdoutSink),
    ]));
    let guard = Guard::new(
        kms_material_guard::kms_client(&function_sdk, &config),
        config,
        sink,
    );

    let steps: [(&str, &str, Value); 3] = [
        (
            "3. Rehearsal: the responder dry-runs \"revoke everything of tenant-a\"",
            "events/incident-revocation-dry-run.json",
            sample("incident-revocation-dry-run.json")?,
        ),
        (
            "4. Incident: revoke tenant-a's orders and payments keys",
            "events/incident-revocation.json",
            sample("incident-revocation.json")?,
        ),
        (
            "5. A runbook names keys the function must refuse or leave alone",
            "direct invocation",
            serde_json::json!({
                "keys": ["alias/legacy/untagged", keys[4].key_id, "alias/tenant-a/retired", "alias/tenant-a/orders",
                         format!("arn:aws:kms:{REGION}:222222222222:key/{}", keys[0].key_id)],
                "reason": "drill: guardrails",
                "incidentId": "DRILL-5"
            }),
        ),
    ];
    let mut all: Vec<(usize, AuditRecord)> = Vec::new();
    for (n, (title, source, payload)) in steps.iter().enumerate() {
        println!(
            "{title}  [{source}]\n   audit records (stdout, one JSON line per key) and the invocation's summary:"
        );
        let result = guard
            .handle_payload(payload, &Invocation::local(&format!("drill-{}", n + 3)))
            .await;
        match result {
            Ok(s) => println!("   -> response: {}\n", serde_json::to_string(&s.counts)?),
            Err(e) => println!("   -> error {}: {e}\n", e.error_type()),
        }
        all.extend(memory.take().into_iter().map(|r| (n + 3, r)));
    }

    println!("6. What happened:");
    println!(
        "   step key                          outcome                      state after      KMS calls"
    );
    for (step, r) in &all {
        println!(
            "   {:<4} {:<28} {:<28} {:<16} {}",
            step,
            short(r.key.as_deref().unwrap_or("-")),
            r.outcome.as_str(),
            r.state_after.as_deref().unwrap_or("-"),
            r.kms_request_ids.len()
        );
    }
    println!(
        "   DeleteImportedKeyMaterial calls made: {}\n",
        sim.counters().successes("DeleteImportedKeyMaterial")
    );

    println!("7. Can applications still decrypt?");
    for k in &keys {
        println!(
            "   {:<18} {}",
            k.label,
            decrypt_status(&custodian, &k.ciphertext).await
        );
    }
    println!(
        "   {:<18} {}",
        "orders service",
        read_status(&orders_app, &record).await
    );

    println!(
        "\n8. The kill switch is reversible: the custodian re-imports tenant-a orders' material"
    );
    let orders = &keys[0];
    if let Some(material) = orders.material {
        import(
            &custodian,
            &orders.key_id,
            &material,
            aws_sdk_kms::types::ImportType::ExistingKeyMaterial,
        )
        .await?;
    }
    println!(
        "   {:<18} {}",
        orders.label,
        decrypt_status(&custodian, &orders.ciphertext).await
    );
    println!(
        "   {:<18} {}",
        "orders service",
        read_status(&orders_app, &record).await
    );
    println!(
        "\ndrill finished in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    sim.shutdown().await;
    Ok(())
}

fn sample(name: &str) -> Result<Value, Error> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(name);
    Ok(serde_json::from_str(&std::fs::read_to_string(path)?)?)
}

fn short(s: &str) -> String {
    if s.chars().count() <= 28 {
        s.to_string()
    } else {
        format!("…{}", &s[s.len() - 26..])
    }
}

async fn decrypt_status(kms: &Client, ciphertext: &Blob) -> String {
    match kms
        .decrypt()
        .ciphertext_blob(ciphertext.clone())
        .send()
        .await
    {
        Ok(_) => "decrypts".to_string(),
        Err(e) => format!("DECRYPT FAILS: {}", app::kms_failure(&e)),
    }
}

async fn read_status(app: &EnvelopeApp, record: &app::Sealed) -> String {
    match app.open(record).await {
        Ok(plain) => format!(
            "reads {}: \"{}\"",
            record.record_id,
            String::from_utf8_lossy(&plain)
        ),
        Err(e) => format!("CANNOT READ {}: {e}", record.record_id),
    }
}

/// The SDK configuration of one party (its own access key) against the local KMS.
async fn sdk(sim: &KmsSim, access_key_id: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(sim.endpoint_url())
        .credentials_provider(aws_sdk_kms::config::Credentials::new(
            access_key_id,
            "drill",
            None,
            None,
            "drill",
        ))
        .load()
        .await
}
