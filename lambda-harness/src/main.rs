//! `lambda-harness run`: run a Lambda function binary (or any runtime command) locally against the
//! harness Runtime API, invoke it with JSON event files one by one, print each response or error,
//! the cold start and the peak RSS. See the crate README ("The binary").

use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Duration;

use lambda_harness::{
    FunctionCommand, FunctionProcess, Invocation, PeakRss, RuntimeApi, RuntimeApiOptions,
};
use serde_json::{Value, json};

const USAGE: &str = "\
lambda-harness: run a Lambda function locally through the Lambda Runtime API and measure it

USAGE:
    lambda-harness run [OPTIONS] -- <command> [args...]
    lambda-harness --help

OPTIONS:
    --event <file.json>     Event to invoke with (repeatable, invoked in order; '-' reads stdin).
                            Without any, the function is started, its cold start measured, and stopped.
    --env <KEY=VALUE>       Environment variable for the function (repeatable).
    --timeout <seconds>     Function timeout: deadline of each invocation [default: 60]
    --function-name <name>  AWS_LAMBDA_FUNCTION_NAME and ARN [default: kms-material-guard]
    --region <region>       AWS_REGION and ARN region [default: us-east-1]
    --memory <MB>           AWS_LAMBDA_FUNCTION_MEMORY_SIZE (not enforced) [default: 128]
    --handler <handler>     _HANDLER [default: bootstrap]
    --log-format <JSON|Text> AWS_LAMBDA_LOG_FORMAT [default: unset]
    --quiet                 Do not echo the function's stdout/stderr (to stderr)
    --json                  One JSON object per invocation, then a summary object, on stdout
    -h, --help              This help (anywhere before `--`; nothing is run)

EXIT STATUS: 0 when every invocation succeeded, 1 when one failed (or the function died), 2 on usage errors.

EXAMPLES (from the repository root; build the function first with
`cargo build --release --bin kms-material-guard`):
    lambda-harness run --env MATERIAL_GUARD_ACCOUNT_ID=111111111111 \\
        --event events/invalid/account-not-trusted.json -- target/release/kms-material-guard
    lambda-harness run --event events/direct-invocation.json -- \\
        python3 lambda-harness/tests/fixtures/fake_runtime.py
";

struct Args {
    events: Vec<String>,
    env: Vec<(String, String)>,
    timeout: Duration,
    function_name: String,
    region: String,
    memory_mb: u32,
    handler: String,
    log_format: Option<String>,
    quiet: bool,
    json: bool,
    command: Vec<OsString>,
}

/// The options that take a value (see [`set_option`]).
const VALUE_OPTIONS: [&str; 8] = [
    "--event",
    "--env",
    "--timeout",
    "--function-name",
    "--region",
    "--memory",
    "--handler",
    "--log-format",
];

/// What the command line asks for.
enum Parsed {
    Run(Args),
    Help,
}

/// `-h`/`--help` anywhere before `--` (even where an option expects its value), or `help` as
/// the subcommand: print the usage and run nothing.
fn wants_help(argv: &[OsString]) -> bool {
    let mut before_command = argv.iter().take_while(|a| *a != "--");
    argv.first().is_some_and(|a| a == "help") || before_command.any(|a| a == "-h" || a == "--help")
}

fn parse_args(argv: Vec<OsString>) -> Result<Parsed, String> {
    if wants_help(&argv) {
        return Ok(Parsed::Help);
    }
    let mut argv = argv.into_iter();
    match argv.next().as_ref().and_then(|a| a.to_str()) {
        Some("run") => {}
        Some(other) => return Err(format!("unknown subcommand {other:?} (expected `run`)")),
        None => return Err("missing subcommand `run`".to_owned()),
    }
    let defaults = RuntimeApiOptions::default();
    let mut args = Args {
        events: Vec::new(),
        env: Vec::new(),
        timeout: Duration::from_secs(60),
        function_name: defaults.function_name,
        region: defaults.region,
        memory_mb: 128,
        handler: "bootstrap".to_owned(),
        log_format: None,
        quiet: false,
        json: false,
        command: Vec::new(),
    };
    while let Some(arg) = argv.next() {
        let Some(flag) = arg.to_str() else {
            return Err(format!("unexpected argument {arg:?}"));
        };
        if flag == "--" {
            args.command = argv.by_ref().collect();
            break;
        }
        let value = |argv: &mut std::vec::IntoIter<OsString>| -> Result<String, String> {
            argv.next()
                .and_then(|v| v.into_string().ok())
                .ok_or_else(|| format!("{flag} needs a (UTF-8) value"))
        };
        match flag {
            "--quiet" => args.quiet = true,
            "--json" => args.json = true,
            _ if VALUE_OPTIONS.contains(&flag) => set_option(&mut args, flag, value(&mut argv)?)?,
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    if args.command.is_empty() {
        return Err("missing the function command after `--`".to_owned());
    }
    Ok(Parsed::Run(args))
}

/// Sets the option `flag` (one of [`VALUE_OPTIONS`]) to `value`.
fn set_option(args: &mut Args, flag: &str, value: String) -> Result<(), String> {
    match flag {
        "--event" => args.events.push(value),
        "--env" => {
            let Some((k, v)) = value.split_once('=') else {
                return Err(format!("--env expects KEY=VALUE, got {value:?}"));
            };
            args.env.push((k.to_owned(), v.to_owned()));
        }
        "--timeout" => {
            let secs: f64 = value.parse().map_err(|e| format!("--timeout: {e}"))?;
            args.timeout =
                Duration::try_from_secs_f64(secs).map_err(|e| format!("--timeout: {e}"))?;
        }
        "--function-name" => args.function_name = value,
        "--region" => args.region = value,
        "--memory" => args.memory_mb = value.parse().map_err(|e| format!("--memory: {e}"))?,
        "--handler" => args.handler = value,
        "--log-format" => args.log_format = Some(value),
        other => return Err(format!("unknown option {other:?}")),
    }
    Ok(())
}

fn read_event(path: &str) -> Result<Value, String> {
    let text = if path == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|e| format!("stdin: {e}"))?
    } else {
        std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?
    };
    serde_json::from_str(&text).map_err(|e| format!("{path}: not JSON: {e}"))
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args_os().skip(1).collect()) {
        Ok(Parsed::Run(args)) => args,
        Ok(Parsed::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("lambda-harness: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut events = Vec::new();
    for path in &args.events {
        match read_event(path) {
            Ok(event) => events.push((path.clone(), event)),
            Err(message) => {
                eprintln!("lambda-harness: {message}");
                return ExitCode::from(2);
            }
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lambda-harness: tokio runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(run(args, events))
}

async fn run(args: Args, events: Vec<(String, Value)>) -> ExitCode {
    let (api, function) = match start(&args).await {
        Ok(started) => started,
        Err(message) => {
            eprintln!("lambda-harness: {message}");
            return ExitCode::from(2);
        }
    };
    if !args.json {
        println!(
            "Runtime API {}  function {}  pid {}",
            api.addr(),
            api.function_arn(),
            function.pid()
        );
    }
    let mut failed = false;
    if events.is_empty() {
        // Nothing to invoke: wait for the end of init so the cold start is measured.
        if function.wait_ready(args.timeout).await.is_none() {
            failed = true;
        }
    }
    for (index, (path, event)) in events.into_iter().enumerate() {
        let invocation = api.invoke(event, args.timeout).await;
        failed |= !invocation.is_ok();
        print_invocation(&args, index, &path, &invocation);
    }
    failed |= summarize(&args, &api, &function).await;
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The server, and the function spawned against it.
async fn start(args: &Args) -> Result<(RuntimeApi, FunctionProcess), String> {
    let options = RuntimeApiOptions {
        function_name: args.function_name.clone(),
        region: args.region.clone(),
        function_timeout: args.timeout,
        ..RuntimeApiOptions::default()
    };
    let api = RuntimeApi::start(options)
        .await
        .map_err(|e| format!("cannot start the Runtime API: {e}"))?;
    let Some((program, rest)) = args.command.split_first() else {
        return Err("missing the function command after `--`".to_owned());
    };
    let mut command = FunctionCommand::new(program)
        .args(rest)
        .handler(args.handler.clone())
        .memory_mb(args.memory_mb)
        .echo_output(!args.quiet)
        .envs(args.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    if let Some(format) = &args.log_format {
        command = command.log_format(format.clone());
    }
    let function = FunctionProcess::spawn(&api, command)
        .map_err(|e| format!("cannot start {program:?}: {e}"))?;
    Ok((api, function))
}

/// One invocation's result: a JSON line, or two lines of text.
fn print_invocation(args: &Args, index: usize, path: &str, invocation: &Invocation) {
    if args.json {
        let mut line = json!({
            "event": path,
            "request_id": invocation.request_id,
            "ok": invocation.is_ok(),
            "duration_ms": ms(invocation.duration),
            "queued_ms": ms(invocation.queued),
        });
        match &invocation.outcome {
            Ok(response) => line["response"] = response.clone(),
            Err(error) => {
                line["error"] = json!({
                    "errorType": error.error_type,
                    "errorMessage": error.error_message,
                    "body": error.body,
                });
            }
        }
        println!("{line}");
        return;
    }
    println!(
        "[{}] {path}  request_id={}  duration={:.3} ms  queued={:.3} ms",
        index + 1,
        invocation.request_id,
        ms(invocation.duration),
        ms(invocation.queued)
    );
    match &invocation.outcome {
        Ok(response) => println!("    response: {response}"),
        Err(error) => println!("    error: {}: {}", error.error_type, error.error_message),
    }
}

/// Stops the function and prints the cold start, the peak RSS, an init error and an exit of its
/// own; whether any of those is a failure.
async fn summarize(args: &Args, api: &RuntimeApi, function: &FunctionProcess) -> bool {
    let cold_start = function.cold_start();
    let status_before_stop = function.exit_status();
    let status = function.terminate(Duration::from_secs(2)).await;
    let rss = function.peak_rss();
    let init_error = api.init_error();
    let failed = status_before_stop.is_some() || init_error.is_some();
    if args.json {
        println!(
            "{}",
            json!({
                "summary": true,
                "cold_start_ms": cold_start.map(ms),
                "peak_rss": {"vm_hwm_kib": rss.vm_hwm_kib, "ru_maxrss_kib": rss.ru_maxrss_kib},
                "exited_by_itself": status_before_stop.map(|s| s.to_string()),
                "exit_status": status.map(|s| s.to_string()),
                "init_error": init_error.map(|e| json!({"errorType": e.error_type, "errorMessage": e.error_message})),
            })
        );
        return failed;
    }
    match cold_start {
        Some(d) => println!("cold start: {:.3} ms (spawn to first /next)", ms(d)),
        None => println!("cold start: none (the runtime never called /next)"),
    }
    print_rss(rss);
    if let Some(e) = init_error {
        println!("init error: {}: {}", e.error_type, e.error_message);
    }
    if let Some(s) = status_before_stop {
        println!("the function exited by itself: {s}");
    }
    failed
}

fn print_rss(rss: PeakRss) {
    let kib = |v: Option<u64>| v.map_or("n/a".to_owned(), |k| format!("{k} KiB"));
    println!(
        "peak RSS: VmHWM {} (polled /proc), ru_maxrss {} (wait4)",
        kib(rss.vm_hwm_kib),
        kib(rss.ru_maxrss_kib)
    );
}
