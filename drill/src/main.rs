//! The drill: `cargo run --bin drill`. No AWS account needed.
//!
//! Starts the local KMS, seeds a small BYOK estate the way a key custodian would (CreateKey with
//! Origin EXTERNAL, GetParametersForImport, wrap, ImportKeyMaterial), encrypts a secret under
//! every key, sends the sample events of `events/` through the real function, prints every audit
//! record and a table of what happened, and shows decryption failing for the revoked keys (and
//! coming back after the custodian re-imports the material).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use aws_sdk_kms::Client;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{AlgorithmSpec, ExpirationModelType, OriginType, Tag, WrappingKeySpec};
use kms_material_guard::audit::{AuditRecord, AuditSink};
use kms_material_guard::{Config, Guard, Invocation, MemorySink, StdoutSink};
use kms_sim::{KmsSim, SimConfig};
use serde_json::Value;

type Error = Box<dyn std::error::Error + Send + Sync>;

const ACCOUNT: &str = "111111111111";
const REGION: &str = "us-east-1";

struct Seeded {
    label: &'static str,
    key_id: String,
    ciphertext: Blob,
    /// The plaintext material the custodian keeps, for the undo.
    material: Option<[u8; 32]>,
}

const USAGE: &str = "\
usage: drill [-h | --help]

The kms-material-guard drill, with no AWS account: starts the local KMS (kms-sim) in-process on a
free loopback port, seeds six keys as a key custodian does, encrypts a secret under each, sends
sample events of events/ through the function, prints every audit record and a table of
outcomes, shows decryption failing for the revoked keys and coming back after the custodian
re-imports one key's material. Takes no arguments; MATERIAL_GUARD_* variables adjust the
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

    let custodian = Client::new(&sdk_config(&sim.endpoint_url(), "AKIDDRILL").await);

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

    let config = Config::from_lookup(|name| match name {
        "AWS_REGION" => Some(REGION.into()),
        "MATERIAL_GUARD_ACCOUNT_ID" => Some(ACCOUNT.into()),
        // EMF metric lines would only clutter the drill's output (set the variable to see them).
        "MATERIAL_GUARD_METRICS_NAMESPACE" => std::env::var(name).ok().or(Some("off".into())),
        _ => std::env::var(name).ok(),
    })?;
    let function_sdk = sdk_config(&sim.endpoint_url(), "AKIDFUNCTION").await;
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
            "2. Rehearsal: the responder dry-runs \"revoke everything of tenant-a\"",
            "events/incident-revocation-dry-run.json",
            sample("incident-revocation-dry-run.json")?,
        ),
        (
            "3. Incident: revoke tenant-a's orders and payments keys",
            "events/incident-revocation.json",
            sample("incident-revocation.json")?,
        ),
        (
            "4. A runbook names keys the function must refuse or leave alone",
            "direct invocation",
            serde_json::json!({
                "keys": ["alias/legacy/untagged", keys[4].key_id, "alias/tenant-a/retired", "alias/tenant-a/orders",
                         format!("arn:aws:kms:{REGION}:222222222222:key/{}", keys[0].key_id)],
                "reason": "drill: guardrails",
                "incidentId": "DRILL-4"
            }),
        ),
    ];
    let mut all: Vec<(usize, AuditRecord)> = Vec::new();
    for (n, (title, source, payload)) in steps.iter().enumerate() {
        println!(
            "{title}  [{source}]\n   audit records (stdout, one JSON line per key) and the invocation's summary:"
        );
        let result = guard
            .handle_payload(payload, &Invocation::local(&format!("drill-{}", n + 2)))
            .await;
        match result {
            Ok(s) => println!("   -> response: {}\n", serde_json::to_string(&s.counts)?),
            Err(e) => println!("   -> error {}: {e}\n", e.error_type()),
        }
        all.extend(memory.take().into_iter().map(|r| (n + 2, r)));
    }

    println!("5. What happened:");
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

    println!("6. Can applications still decrypt?");
    for k in &keys {
        println!(
            "   {:<18} {}",
            k.label,
            decrypt_status(&custodian, &k.ciphertext).await
        );
    }

    println!(
        "\n7. The kill switch is reversible: the custodian re-imports tenant-a orders' material"
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
        "\ndrill finished in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    sim.shutdown().await;
    Ok(())
}

/// An SDK configuration for the local KMS at `endpoint`, signing with access key `akid` (the local
/// KMS maps every unknown access key to the drill's account).
async fn sdk_config(endpoint: &str, akid: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_kms::config::Credentials::new(
            akid, "drill", None, None, "drill",
        ))
        .load()
        .await
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
        Err(e) => {
            let code = aws_sdk_kms::error::ProvideErrorMetadata::code(&e)
                .unwrap_or("error")
                .to_string();
            let message = aws_sdk_kms::error::ProvideErrorMetadata::message(&e)
                .unwrap_or_default()
                .to_string();
            // "<key-arn> is pending import." -> "key is pending import."
            let what = message
                .split_once(" is ")
                .map(|(_, w)| format!("key is {w}"))
                .unwrap_or(message);
            format!("DECRYPT FAILS: {code}: {what}")
        }
    }
}

/// CreateKey (EXTERNAL) + the import flow + an alias + a ciphertext.
async fn byok(
    kms: &Client,
    label: &'static str,
    alias: Option<&str>,
    tags: &[(&str, &str)],
) -> Result<Seeded, Error> {
    let mut create = kms
        .create_key()
        .origin(OriginType::External)
        .description(label);
    for (k, v) in tags {
        create = create.tags(Tag::builder().tag_key(*k).tag_value(*v).build()?);
    }
    let key_id = create
        .send()
        .await?
        .key_metadata
        .map(|m| m.key_id)
        .ok_or("CreateKey returned no key")?;
    let material: [u8; 32] = std::array::from_fn(|i| {
        (i as u8).wrapping_mul(7).wrapping_add(key_id.len() as u8)
            ^ key_id.as_bytes()[i % key_id.len()]
    });
    import(
        kms,
        &key_id,
        &material,
        aws_sdk_kms::types::ImportType::NewKeyMaterial,
    )
    .await?;
    if let Some(a) = alias {
        kms.create_alias()
            .alias_name(a)
            .target_key_id(&key_id)
            .send()
            .await?;
    }
    let ciphertext = encrypt(kms, &key_id).await?;
    Ok(Seeded {
        label,
        key_id,
        ciphertext,
        material: Some(material),
    })
}

async fn aws_managed(kms: &Client, label: &'static str) -> Result<Seeded, Error> {
    let key_id = kms
        .create_key()
        .description(label)
        .tags(
            Tag::builder()
                .tag_key("kms-material-guard:revocable")
                .tag_value("true")
                .build()?,
        )
        .send()
        .await?
        .key_metadata
        .map(|m| m.key_id)
        .ok_or("CreateKey returned no key")?;
    let ciphertext = encrypt(kms, &key_id).await?;
    Ok(Seeded {
        label,
        key_id,
        ciphertext,
        material: None,
    })
}

async fn import(
    kms: &Client,
    key_id: &str,
    material: &[u8; 32],
    import_type: aws_sdk_kms::types::ImportType,
) -> Result<(), Error> {
    let params = kms
        .get_parameters_for_import()
        .key_id(key_id)
        .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await?;
    let public_key = params.public_key.ok_or("no public key")?;
    let token = params.import_token.ok_or("no import token")?;
    let wrapped =
        kms_sim::wrap::wrap_key_material(public_key.as_ref(), material, "RSAES_OAEP_SHA_256")?;
    kms.import_key_material()
        .key_id(key_id)
        .import_token(token)
        .encrypted_key_material(Blob::new(wrapped))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .import_type(import_type)
        .send()
        .await?;
    Ok(())
}

async fn encrypt(kms: &Client, key_id: &str) -> Result<Blob, Error> {
    kms.encrypt()
        .key_id(key_id)
        .plaintext(Blob::new(b"customer database master secret".to_vec()))
        .send()
        .await?
        .ciphertext_blob
        .ok_or_else(|| "Encrypt returned no ciphertext".into())
}
