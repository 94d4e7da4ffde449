//! `org report`: the consolidated report of one incident across the organization.
//!
//! ```text
//! cargo run -p org -- report --incident INC-1 --inventory inventory.json [--records FILE]...
//!                            [--phase live|dry-run] [--json] [--exit-status]
//! ```
//!
//! Records come from `--records` files (repeatable; `-` is stdin), or stdin without any.
//! `-h` / `--help` prints the usage; an unknown command or option is named, exit status 2.

use std::io::Read;
use std::process::ExitCode;

use org::report::{self, Input, Inventory, Phase, ReportOptions};

const USAGE: &str = "\
usage: org report --incident ID [--inventory FILE] [--records FILE]... [--phase live|dry-run]
                  [--json] [--exit-status]

  --incident ID      the incidentId of the revocation request
  --inventory FILE   expected members: {\"members\": [{\"account\", \"region\",
                     \"organizationalUnits\"}]}, an array of those, or the JSON answer of
                     aws cloudformation list-stack-instances
  --records FILE     audit records and summaries (JSON lines, EventBridge envelopes, tab-separated
                     CLI text, filter-log-events JSON); repeatable; '-' or none: stdin
  --phase P          live (the revocation) or dry-run; default: live if present, else dry-run
  --json             the report as JSON instead of a table
  --exit-status      exit 0 when the organization is done, 3 while pending, 4 when a member
                     failed (scripts waiting for completion)
  -h, --help         this text (nothing runs)

Exit status: 2 for usage errors (an unknown command or option is named), 1 when a file cannot be
read, else 0 (or, with --exit-status, 3 / 4).
";

struct Args {
    incident: String,
    inventory: Option<String>,
    records: Vec<String>,
    phase: Option<Phase>,
    json: bool,
    exit_status: bool,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut it = args.iter();
    match it.next().map(String::as_str) {
        Some("report") => {}
        Some("-h" | "--help") | None => return Err(String::new()),
        Some(other) => return Err(format!("unknown command {other:?}")),
    }
    let mut incident = None;
    let mut inventory = None;
    let mut records = Vec::new();
    let mut phase = None;
    let mut json = false;
    let mut exit_status = false;
    let mut help = false;
    while let Some(a) = it.next() {
        // A value is the next argument, unless that is an option itself (`-` is stdin).
        let mut value = |name: &str| {
            it.next()
                .filter(|v| !v.starts_with("--") && v.as_str() != "-h")
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match a.as_str() {
            "--incident" => incident = Some(value("--incident")?),
            "--inventory" => inventory = Some(value("--inventory")?),
            "--records" => records.push(value("--records")?),
            "--phase" => {
                let v = value("--phase")?;
                phase = Some(
                    Phase::parse(&v)
                        .ok_or_else(|| format!("--phase must be live or dry-run, got {v:?}"))?,
                );
            }
            "--json" => json = true,
            "--exit-status" => exit_status = true,
            "-h" | "--help" => help = true,
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    // Help after the whole command line was read: an unknown option beside it is still named.
    if help {
        return Err(String::new());
    }
    let incident = incident.ok_or("--incident is required")?;
    if incident.is_empty() {
        return Err("--incident must not be empty".into());
    }
    Ok(Args {
        incident,
        inventory,
        records,
        phase,
        json,
        exit_status,
    })
}

fn read(path: &str) -> Result<String, String> {
    if path == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| format!("reading stdin: {e}"))?;
        Ok(s)
    } else {
        std::fs::read_to_string(path).map_err(|e| format!("reading {path}: {e}"))
    }
}

fn run(args: Args) -> Result<ExitCode, String> {
    let inventory = match &args.inventory {
        Some(p) => Some(Inventory::parse(&read(p)?).map_err(|e| format!("{p}: {e}"))?),
        None => None,
    };
    let sources = if args.records.is_empty() {
        vec!["-".to_string()]
    } else {
        args.records.clone()
    };
    let mut input = Input::new();
    for s in &sources {
        input.add_text(&read(s)?);
    }
    let r = report::build(
        &input,
        inventory.as_ref(),
        &ReportOptions {
            incident_id: args.incident.clone(),
            phase: args.phase,
        },
    );
    if args.json {
        let text =
            serde_json::to_string_pretty(&r).map_err(|e| format!("serialising the report: {e}"))?;
        println!("{text}");
    } else {
        print!("{}", r.to_table());
        if r.members.is_empty() {
            let known = input.incidents();
            if !known.is_empty() {
                let list: Vec<&str> = known.iter().map(String::as_str).take(10).collect();
                println!(
                    "(no records of {}; incidents in the input: {})",
                    args.incident,
                    list.join(", ")
                );
            }
        }
    }
    Ok(if !args.exit_status {
        ExitCode::SUCCESS
    } else {
        match r.organization.status.as_str() {
            "done" => ExitCode::SUCCESS,
            "failed" => ExitCode::from(4),
            _ => ExitCode::from(3),
        }
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse(&args) {
        Err(e) if e.is_empty() => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("org: {e}\n{USAGE}");
            ExitCode::from(2)
        }
        Ok(a) => match run(a) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("org: {e}");
                ExitCode::from(1)
            }
        },
    }
}
