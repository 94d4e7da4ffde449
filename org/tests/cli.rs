//! The binaries: `org report` on the central log group's lines (files and stdin), and the
//! one-command demo `org-drill`.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{org, request};
use org::local::OU_WORKLOADS;
use org::member::Availability;
use serde_json::{Value, json};

fn report_cmd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_org"))
}

fn drill_cmd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_org-drill"))
}

/// Runs a binary with these arguments and no input: (exit status, stdout, stderr).
fn run(mut cmd: Command, args: &[&str]) -> (Option<i32>, String, String) {
    let out = cmd.args(args).stdin(Stdio::null()).output().expect("runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_report_command_reads_the_log_group_and_says_when_the_organization_is_done() {
    // GIVEN the central log group after a revocation with one member down (not yet retried)
    let (org, _) = org().await;
    let down = org::aws::MemberId::new("111111111111", "us-east-1");
    org.member(&down)
        .expect("member")
        .set_availability(Availability::Down);
    org.raise(&request(
        "INC-CLI",
        false,
        json!({"organizationalUnits": [OU_WORKLOADS]}),
    ))
    .await
    .expect("raised");
    org.deliver().await;
    let dir = std::env::temp_dir().join(format!("org-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let records = dir.join("INC-CLI.jsonl");
    let inventory = dir.join("inventory.json");
    std::fs::write(&records, org.audit_log().join("\n")).expect("write records");
    std::fs::write(
        &inventory,
        serde_json::to_string(&org.inventory()).expect("json"),
    )
    .expect("write inventory");

    // WHEN the report runs on the files with --json --exit-status
    let out = report_cmd()
        .args([
            "report",
            "--incident",
            "INC-CLI",
            "--json",
            "--exit-status",
            "--inventory",
        ])
        .arg(&inventory)
        .arg("--records")
        .arg(&records)
        .output()
        .expect("runs");
    // THEN it exits 3 (pending) and names the silent member
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(r["organization"]["status"], "pending");
    assert_eq!(r["organization"]["no_answer"], 1);
    let silent: Vec<&Value> = r["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter(|m| m["status"] == "no_answer")
        .collect();
    assert_eq!(silent.len(), 1);
    assert_eq!(silent[0]["account"], "111111111111");
    assert_eq!(silent[0]["region"], "us-east-1");

    // WHEN the member comes back, EventBridge retries, and the report reads the new log from
    // stdin as the CLI's tab-separated text (aws logs filter-log-events --output text)
    org.member(&down)
        .expect("member")
        .set_availability(Availability::Up);
    org.settle().await.expect("delivered");
    let text = org.audit_log().join("\t");
    let mut child = report_cmd()
        .args([
            "report",
            "--incident",
            "INC-CLI",
            "--exit-status",
            "--inventory",
        ])
        .arg(&inventory)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("writes");
    let out = child.wait_with_output().expect("runs");
    // THEN it exits 0 and the table says DONE with 18 keys revoked
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{table}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        table.contains("Organization: DONE: 6 of 6 members complete"),
        "{table}"
    );
    assert!(
        table.contains("18 keys revoked, 0 pending, 0 failed"),
        "{table}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_report_command_refuses_bad_usage_and_bad_inventories() {
    // GIVEN no --incident, an unknown option, a bad phase, a malformed inventory
    let dir = std::env::temp_dir().join(format!("org-cli-usage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let bad_inventory = dir.join("inventory.json");
    std::fs::write(
        &bad_inventory,
        r#"{"members": [{"account": "12", "region": "us-east-1"}]}"#,
    )
    .expect("write");
    for (args, code, message) in [
        (vec!["report"], 2, "--incident is required"),
        (
            vec!["report", "--incident", "I", "--frobnicate"],
            2,
            "unknown option",
        ),
        (
            vec!["report", "--incident", "I", "--phase", "maybe"],
            2,
            "--phase must be",
        ),
        (vec!["explode"], 2, "unknown command"),
        (
            vec![
                "report",
                "--incident",
                "I",
                "--records",
                "/nonexistent/x.jsonl",
            ],
            1,
            "reading /nonexistent/x.jsonl",
        ),
    ] {
        // WHEN the command runs
        let out = report_cmd()
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .expect("runs");
        // THEN it fails with the documented code and says why
        assert_eq!(out.status.code(), Some(code), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(message),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = report_cmd()
        .args(["report", "--incident", "I", "--inventory"])
        .arg(&bad_inventory)
        .stdin(Stdio::null())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("entry 0: needs a 12-digit"));
    let help = report_cmd().arg("--help").output().expect("runs");
    assert!(String::from_utf8_lossy(&help.stdout).contains("usage: org report"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_drill_runs_in_one_command_and_ends_with_the_organization_done() {
    // GIVEN/WHEN the demo runs
    let out = Command::new(env!("CARGO_BIN_EXE_org-drill"))
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    // THEN it succeeds: dry run, one member pending, the retry, the organization done
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("18 keys would be revoked"), "{text}");
    assert!(
        text.contains("Organization: PENDING: 5 of 6 members complete"),
        "{text}"
    );
    assert!(
        text.contains("222222222222  eu-west-1  no_answer"),
        "{text}"
    );
    assert!(
        text.contains("Organization: DONE: 6 of 6 members complete"),
        "{text}"
    );
    assert!(!text.contains("FAILED"), "{text}");
}

/// Help: exit 0, the usage (starting with `usage`) on stdout, nothing on stderr.
fn assert_usage(cmd: Command, args: &[&str], usage: &str) -> String {
    let (code, stdout, stderr) = run(cmd, args);
    assert_eq!(code, Some(0), "{args:?}: {stderr}");
    assert!(stdout.starts_with(usage), "{args:?}: {stdout}");
    assert!(stdout.contains("-h, --help"), "{args:?}: {stdout}");
    assert!(stderr.is_empty(), "{args:?}: {stderr}");
    stdout
}

/// A usage error: exit 2, `message` and the usage on stderr, nothing on stdout.
fn assert_refused(cmd: Command, args: &[&str], message: &str, usage: &str) {
    let (code, stdout, stderr) = run(cmd, args);
    assert_eq!(code, Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains(message), "{args:?}: {stderr}");
    assert!(stderr.contains(usage), "{args:?}: {stderr}");
    assert!(stdout.is_empty(), "{args:?}: {stdout}");
}

#[test]
fn the_report_command_prints_its_usage_for_help_and_names_unknown_arguments() {
    for args in [
        vec!["--help"],
        vec!["-h"],
        vec!["report", "-h"],
        vec!["report", "--incident", "I", "--json", "--help"],
    ] {
        // GIVEN help asked for, with or without other valid options
        // WHEN the command runs
        // THEN it prints the usage and exits 0 without building a report
        let stdout = assert_usage(report_cmd(), &args, "usage: org report");
        assert!(!stdout.contains("Incident I"), "{args:?}: {stdout}");
    }
    for (args, message) in [
        (
            vec!["report", "--incident", "I", "--bogus-flag"],
            "unknown option \"--bogus-flag\"",
        ),
        (
            vec!["report", "--help", "--bogus-flag"],
            "unknown option \"--bogus-flag\"",
        ),
        (
            vec!["report", "--incident", "I", "stray"],
            "unknown option \"stray\"",
        ),
        (vec!["frobnicate"], "unknown command \"frobnicate\""),
        (
            vec!["report", "--incident", "--help"],
            "--incident needs a value",
        ),
    ] {
        // GIVEN an argument the command does not know (beside help, too)
        // WHEN the command runs
        // THEN it exits 2, names the argument and shows the usage, and reports nothing
        assert_refused(report_cmd(), &args, message, "usage: org report");
    }
}

#[test]
fn the_drill_prints_its_usage_for_help_and_refuses_unknown_arguments_without_running() {
    for flag in ["--help", "-h"] {
        // GIVEN help asked for
        // WHEN the demo binary runs
        // THEN it prints the usage and exits 0 without starting the organization
        let stdout = assert_usage(drill_cmd(), &[flag], "usage: org-drill");
        assert!(!stdout.contains("members (3 accounts"), "{flag}: {stdout}");
    }
    for (args, message) in [
        (vec!["--fast"], "unknown argument \"--fast\""),
        (
            vec!["--help", "extra", "-v"],
            "unknown arguments \"extra\", \"-v\"",
        ),
    ] {
        // GIVEN arguments the demo does not take
        // WHEN it runs
        // THEN it exits 2 naming every one of them, and runs nothing
        assert_refused(drill_cmd(), &args, message, "usage: org-drill");
    }
}
