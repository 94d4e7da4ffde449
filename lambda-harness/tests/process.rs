//! The process side: Lambda's environment, output capture, cold start and peak RSS, kill on drop;
//! the real Rust runtime client (`lambda_runtime`, examples/echo_runtime.rs) against the harness;
//! and the `lambda-harness` binary.

mod common;

use std::time::Duration;

use common::{
    PATIENCE, api_with_fake_runtime, echo_runtime_binary, fake_runtime_script, start_api,
};
use lambda_harness::{
    FunctionCommand, FunctionProcess, OutputStream, RuntimeApiOptions, error_types,
};
use serde_json::{Value, json};

#[tokio::test]
async fn cold_start_and_peak_rss_are_measured() {
    // GIVEN a fake runtime just spawned
    let (api, function) = api_with_fake_runtime(RuntimeApiOptions::default(), &[]).await;

    // WHEN it serves an invocation that touches 32 MiB
    let invocation = api.invoke(json!({"alloc_mb": 32}), PATIENCE).await;
    assert!(invocation.is_ok(), "{:?}", invocation.outcome);

    // THEN the cold start (spawn to first /next) is there and plausible
    let cold_start = function.cold_start().expect("first /next seen");
    assert!(
        cold_start > Duration::ZERO && cold_start < PATIENCE,
        "{cold_start:?}"
    );
    assert_eq!(
        api.first_next_at()
            .map(|t| t.duration_since(function.spawned_at())),
        Some(cold_start)
    );
    // AND the polled peak RSS reflects the 32 MiB, below anything absurd
    let running = function.peak_rss();
    let hwm = running.vm_hwm_kib.expect("VmHWM readable while running");
    assert!(hwm > 32 * 1024 && hwm < 4 * 1024 * 1024, "{hwm} KiB");
    assert_eq!(running.ru_maxrss_kib, None);

    // WHEN the process is stopped
    let status = function.terminate(Duration::from_secs(2)).await;

    // THEN it exited, and wait4's ru_maxrss is there too, close to the polled VmHWM (the kernel's
    // RSS counters are batched per thread: the two may differ by a few pages either way)
    assert!(status.is_some());
    let stopped = function.peak_rss();
    let maxrss = stopped.ru_maxrss_kib.expect("ru_maxrss after exit");
    assert!(
        maxrss > 32 * 1024 && maxrss < 4 * 1024 * 1024,
        "{maxrss} KiB"
    );
    assert!(maxrss.abs_diff(hwm) < hwm / 4, "{maxrss} KiB vs {hwm} KiB");
    assert_eq!(stopped.max_kib(), Some(maxrss.max(hwm)));
    assert!(function.lifetime().is_some());
}

#[tokio::test]
async fn output_is_captured_line_by_line_and_can_be_awaited() {
    // GIVEN a fake runtime
    let (api, function) = api_with_fake_runtime(RuntimeApiOptions::default(), &[]).await;

    // WHEN it starts and serves one invocation
    let invocation = api.invoke(json!({}), PATIENCE).await;

    // THEN its stdout lines (JSON logs) and stderr lines are captured separately
    let logged = function
        .wait_for_line(OutputStream::Stdout, PATIENCE, |l| {
            l.contains("response posted") && l.contains(&invocation.request_id)
        })
        .await;
    assert!(logged.is_some());
    let stdout = function.stdout_lines();
    let first: Value = serde_json::from_str(&stdout[0]).expect("JSON log line");
    assert_eq!(first["msg"], json!("fake runtime starting"));
    assert_eq!(first["handler"], json!("fake_runtime.main"));
    assert_eq!(function.stderr_lines(), vec!["fake runtime stderr hello"]);
    // AND waiting for a line that never comes gives up at the timeout
    let none = function
        .wait_for_line(OutputStream::Both, Duration::from_millis(50), |l| {
            l.contains("never printed")
        })
        .await;
    assert_eq!(none, None);
}

#[tokio::test]
async fn dropping_the_process_kills_it() {
    // GIVEN a running fake runtime
    let (api, function) = api_with_fake_runtime(RuntimeApiOptions::default(), &[]).await;
    assert!(api.invoke(json!({}), PATIENCE).await.is_ok());
    let pid = function.pid();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());

    // WHEN the handle is dropped
    drop(function);

    // THEN the process is gone (killed, then reaped by the harness)
    let mut gone = false;
    for _ in 0..400 {
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(gone, "pid {pid} still exists");
    // AND the harness knows no runtime is left
    assert_eq!(
        api.invoke(json!({}), PATIENCE).await.error_type(),
        Some(error_types::EXIT_ERROR)
    );
}

#[tokio::test]
async fn a_new_process_on_the_same_api_is_a_new_cold_start() {
    // GIVEN a harness whose first function process served an invocation and was killed
    let (api, first) = api_with_fake_runtime(RuntimeApiOptions::default(), &[]).await;
    assert!(api.invoke(json!({}), PATIENCE).await.is_ok());
    let first_cold_start = first.cold_start().expect("first cold start");
    first.kill();
    assert!(first.wait_exit(PATIENCE).await.is_some());

    // WHEN a second process is spawned on the same API
    let second = FunctionProcess::spawn(&api, common::fake_runtime_command(&[])).expect("spawn");
    let invocation = api.invoke(json!({"again": true}), PATIENCE).await;

    // THEN it serves invocations, and its cold start is measured from its own spawn
    let response = invocation.outcome.expect("response");
    assert_eq!(response["pid"], json!(second.pid()));
    assert_eq!(response["seq"], json!(1));
    let second_cold_start = second.cold_start().expect("second cold start");
    assert!(second.spawned_at() > first.spawned_at() + first_cold_start);
    assert!(second_cold_start < PATIENCE);
    assert_eq!(
        api.first_next_at()
            .map(|t| t.duration_since(first.spawned_at())),
        Some(first_cold_start)
    );
}

#[tokio::test]
async fn a_killed_runtime_whose_poll_is_still_open_is_not_given_the_next_invocation() {
    // GIVEN a runtime killed while its /next long poll was pending, whose connection the harness
    // has not seen close (a holder outside its process group keeps the socket open; on a loaded
    // machine the kernel's late FIN after a kill looks the same)
    let api = start_api().await;
    let first = FunctionProcess::spawn(
        &api,
        FunctionCommand::new("python3")
            .arg(common::orphan_poll_script())
            .env("ORPHAN_HOLD_S", "30"),
    )
    .expect("spawn");
    assert!(
        first.wait_ready(PATIENCE).await.is_some(),
        "the poll arrived"
    );
    let holder = first
        .wait_for_line(OutputStream::Stdout, PATIENCE, |l| l.starts_with("holder "))
        .await
        .and_then(|l| l.trim_start_matches("holder ").trim().parse::<u32>().ok())
        .expect("holder pid");
    first.kill();
    assert!(first.wait_exit(PATIENCE).await.is_some());

    // WHEN a new runtime process is spawned and an invocation is queued at once
    let second = FunctionProcess::spawn(&api, common::fake_runtime_command(&[])).expect("spawn");
    let invocation = api
        .invoke(json!({"after": "orphan"}), Duration::from_secs(10))
        .await;
    let _ = std::process::Command::new("kill")
        .args(["-9", &holder.to_string()])
        .status();

    // THEN the new process serves it: the orphaned poll was not handed the invocation
    let response = invocation.outcome.expect("served by the second process");
    assert_eq!(response["pid"], json!(second.pid()));
    assert_eq!(response["echo"], json!({"after": "orphan"}));
}

#[tokio::test]
async fn all_output_written_before_the_exit_is_captured_when_the_exit_is_reported() {
    // GIVEN a process that writes 20,000 lines to stderr, then 20,000 to stdout, and exits with
    // status 3 at once: at its exit, up to a pipe buffer of each is still unread
    let api = start_api().await;
    let function = FunctionProcess::spawn(
        &api,
        FunctionCommand::new("sh").args(["-c", "seq 1 20000 >&2; seq 1 20000; exit 3"]),
    )
    .expect("spawn sh");

    // WHEN its exit is reported
    let status = function.wait_exit(PATIENCE).await.expect("it exits");

    // THEN every line of both streams has already been captured, in order
    assert_eq!(status.code(), Some(3));
    let expected: Vec<String> = (1..=20_000).map(|n| n.to_string()).collect();
    let stderr = function.stderr_lines();
    assert_eq!(stderr.len(), expected.len(), "stderr lines at the exit");
    assert_eq!(stderr, expected);
    assert_eq!(function.stdout_lines(), expected);
    // AND the same holds for what the API reports: the exit fails the next invocation
    assert_eq!(
        api.invoke(json!({}), PATIENCE).await.error_type(),
        Some(error_types::EXIT_ERROR)
    );
}

#[tokio::test]
async fn spawning_a_missing_binary_is_an_error() {
    // GIVEN a harness
    let api = start_api().await;
    // WHEN the command does not exist
    let result = FunctionProcess::spawn(&api, FunctionCommand::new("/nonexistent/bootstrap"));
    // THEN spawn fails with NotFound
    assert_eq!(
        result.err().map(|e| e.kind()),
        Some(std::io::ErrorKind::NotFound)
    );
}

// ---------------------------------------------------------------------------------------------
// The real Rust runtime client (lambda_runtime 1.5), as kms-material-guard uses it
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn rust_lambda_runtime_gets_its_event_context_and_environment() {
    // GIVEN the echo function built on lambda_runtime, spawned with 256 MB
    let api = start_api().await;
    let function = FunctionProcess::spawn(
        &api,
        FunctionCommand::new(echo_runtime_binary()).memory_mb(256),
    )
    .expect("spawn echo_runtime");

    // WHEN it is invoked with a 9 s timeout
    let invocation = api.invoke(json!({"k": "v"}), Duration::from_secs(9)).await;

    // THEN lambda_runtime parsed the event, the headers and Lambda's environment
    let response = invocation.outcome.expect("response");
    assert_eq!(response["echo"], json!({"k": "v"}));
    assert_eq!(response["request_id"], json!(invocation.request_id));
    assert_eq!(response["deadline_ms"], json!(invocation.deadline_ms));
    assert_eq!(response["function_arn"], json!(api.function_arn()));
    assert!(
        response["trace_id"]
            .as_str()
            .is_some_and(|t| t.starts_with("Root=1-"))
    );
    assert_eq!(response["function_name"], json!("kms-material-guard"));
    assert_eq!(response["memory"], json!(256));
    assert_eq!(response["version"], json!("$LATEST"));
    // AND its cold start was measured
    assert!(function.cold_start().is_some());
}

#[tokio::test]
async fn rust_lambda_runtime_errors_and_panics_become_function_errors() {
    // GIVEN the echo function on lambda_runtime
    let api = start_api().await;
    let _function = FunctionProcess::spawn(&api, FunctionCommand::new(echo_runtime_binary()))
        .expect("spawn echo_runtime");

    // WHEN the handler returns an error
    let refused = api.invoke(json!({"refuse": "not today"}), PATIENCE).await;
    // THEN the Diagnostic's error type is the body's errorType; the header is lambda_runtime's
    // constant "unhandled"
    let error = refused.outcome.expect_err("error");
    assert_eq!(error.error_type, "Refused");
    assert_eq!(error.error_message, "not today");
    assert_eq!(error.header_error_type.as_deref(), Some("unhandled"));

    // WHEN the handler panics
    let panicked = api.invoke(json!({"panic": true}), PATIENCE).await;
    // THEN the runtime survives and reports the panic as an error
    let error = panicked.outcome.expect_err("panic error");
    assert!(error.error_message.contains("asked to panic"), "{error:?}");
    assert!(
        api.invoke(json!({"after": "panic"}), PATIENCE)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_rust_function_failing_its_init_is_a_runtime_exit_error() {
    // GIVEN the echo function told to fail before lambda_runtime::run (as a bad config does)
    let api = start_api().await;
    let function = FunctionProcess::spawn(
        &api,
        FunctionCommand::new(echo_runtime_binary()).env("ECHO_RUNTIME_FAIL_INIT", "1"),
    )
    .expect("spawn echo_runtime");

    // WHEN it is invoked
    let invocation = api.invoke(json!({}), PATIENCE).await;

    // THEN the invocation fails with Runtime.ExitError (no init/error is posted by main's Err)
    assert_eq!(invocation.error_type(), Some(error_types::EXIT_ERROR));
    assert_eq!(api.init_error(), None);
    assert_eq!(function.cold_start(), None);
    assert_eq!(
        function.wait_exit(PATIENCE).await.and_then(|s| s.code()),
        Some(1)
    );
}

// ---------------------------------------------------------------------------------------------
// The binary
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn cli_runs_events_and_reports_cold_start_and_rss() {
    // GIVEN two event files, one of which makes the function fail
    let dir = std::env::temp_dir().join(format!("lambda-harness-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let ok_event = dir.join("ok.json");
    let bad_event = dir.join("bad.json");
    std::fs::write(&ok_event, r#"{"hello": "cli"}"#).expect("write");
    std::fs::write(
        &bad_event,
        r#"{"fail": {"type": "CliError", "message": "from the cli"}}"#,
    )
    .expect("write");

    // WHEN the binary runs them against the fake runtime, in JSON mode
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_lambda-harness"))
        .arg("run")
        .args(["--event".as_ref(), ok_event.as_os_str()])
        .args(["--event".as_ref(), bad_event.as_os_str()])
        .args([
            "--env",
            "FAKE_MARK=1",
            "--timeout",
            "20",
            "--json",
            "--quiet",
            "--",
        ])
        .arg("python3")
        .arg(fake_runtime_script())
        .output()
        .await
        .expect("run lambda-harness");
    let _ = std::fs::remove_dir_all(&dir);

    // THEN it printed one line per invocation and a summary, and exited 1 (one failed)
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert_eq!(lines[0]["ok"], json!(true));
    assert_eq!(lines[0]["response"]["echo"], json!({"hello": "cli"}));
    assert_eq!(lines[1]["ok"], json!(false));
    assert_eq!(lines[1]["error"]["errorType"], json!("CliError"));
    let summary = &lines[2];
    assert!(summary["cold_start_ms"].as_f64().is_some_and(|ms| ms > 0.0));
    assert!(
        summary["peak_rss"]["vm_hwm_kib"]
            .as_u64()
            .is_some_and(|k| k > 1024)
    );
    assert!(
        summary["peak_rss"]["ru_maxrss_kib"]
            .as_u64()
            .is_some_and(|k| k > 1024)
    );
    assert_eq!(output.status.code(), Some(1));
}

#[tokio::test]
async fn cli_without_events_measures_the_cold_start_in_text() {
    // WHEN the binary runs the fake runtime with no event
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_lambda-harness"))
        .args(["run", "--quiet", "--"])
        .arg("python3")
        .arg(fake_runtime_script())
        .output()
        .await
        .expect("run lambda-harness");

    // THEN it reports the cold start and the peak RSS, and succeeds
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("cold start: "), "{stdout}");
    assert!(!stdout.contains("cold start: none"), "{stdout}");
    assert!(stdout.contains("peak RSS: VmHWM "), "{stdout}");
    assert_eq!(output.status.code(), Some(0), "{stdout}");

    // AND usage errors exit 2
    let usage = tokio::process::Command::new(env!("CARGO_BIN_EXE_lambda-harness"))
        .args(["run", "--event", "x.json"])
        .output()
        .await
        .expect("run lambda-harness");
    assert_eq!(usage.status.code(), Some(2));
}

#[tokio::test]
async fn cli_help_prints_usage_and_runs_nothing() {
    // GIVEN command lines asking for help in every place it can be asked, some with a command
    // after `--` that would leave a marker file if it ran
    let dir = std::env::temp_dir().join(format!("lambda-harness-help-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let marker = dir.join("ran");
    let touch = format!("touch {}", marker.display());
    let asks: Vec<Vec<&str>> = vec![
        vec!["--help"],
        vec!["-h"],
        vec!["help"],
        vec!["run", "--help"],
        vec!["run", "--handler", "--help", "--", "sh", "-c", &touch],
        vec![
            "run",
            "--event",
            "missing.json",
            "-h",
            "--",
            "sh",
            "-c",
            &touch,
        ],
    ];
    for ask in asks {
        // WHEN the binary runs with it
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_lambda-harness"))
            .args(&ask)
            .output()
            .await
            .expect("run lambda-harness");

        // THEN it prints the usage on stdout, succeeds, and starts nothing
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains("USAGE:"), "{ask:?}: {stdout}");
        assert_eq!(output.status.code(), Some(0), "{ask:?}");
        assert!(!marker.exists(), "{ask:?} ran the command");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn cli_help_names_files_that_exist() {
    // GIVEN the usage text
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_lambda-harness"))
        .arg("--help")
        .output()
        .await
        .expect("run lambda-harness");
    let usage = String::from_utf8_lossy(&output.stdout);

    // WHEN the repository files it names are looked up from the repository root (build outputs
    // under target/ excepted)
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root");
    let named: Vec<&str> = usage
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| "`'\"(),;\\".contains(c)))
        .filter(|w| w.contains('/') && !w.starts_with("target/"))
        .filter(|w| w.ends_with(".json") || w.ends_with(".py") || w.ends_with(".rs"))
        .collect();

    // THEN there are some, and every one exists
    assert!(named.len() >= 2, "{named:?}");
    for path in named {
        assert!(
            root.join(path).is_file(),
            "the help names {path}, which does not exist"
        );
    }
}
