//! # lambda-harness
//!
//! Local AWS around a Lambda function binary. It runs a *compiled* function (a Rust
//! `lambda_runtime` bootstrap, a Python `awslambdaric` peer, any custom runtime) exactly as
//! Lambda does — as a separate process that long-polls the Lambda Runtime API — and measures it.
//!
//! Three pieces:
//!
//! * [`RuntimeApi`]: an HTTP server on `127.0.0.1:0` serving the Lambda Runtime API
//!   (`2018-06-01`: `/runtime/invocation/next`, `/response`, `/error`, `/runtime/init/error`)
//!   and, on the same port, the Lambda Invoke API (`POST /2015-03-31/functions/{name}/invocations`)
//!   so that a function can invoke itself asynchronously and a test can drive it with the real
//!   `aws-sdk-lambda` client. Invocations are queued FIFO and delivered one at a time, like one
//!   Lambda execution environment (sandbox).
//! * [`FunctionProcess`]: spawns the function with the environment Lambda sets
//!   (`AWS_LAMBDA_RUNTIME_API`, `AWS_REGION`, `AWS_LAMBDA_FUNCTION_NAME`, ...), captures stdout and
//!   stderr line by line, measures the cold start (first `/next` minus spawn) and the peak RSS
//!   (`VmHWM` polled from `/proc/<pid>/status`, and `ru_maxrss` from `wait4` at exit), and kills
//!   the process (group) on drop.
//! * The `lambda-harness` binary, for use by hand:
//!   `lambda-harness run --event events/direct-invocation.json -- target/release/kms-material-guard`.
//!
//! ```no_run
//! use std::time::Duration;
//! use lambda_harness::{FunctionCommand, FunctionProcess, RuntimeApi, RuntimeApiOptions};
//!
//! # async fn demo() -> std::io::Result<()> {
//! let api = RuntimeApi::start(RuntimeApiOptions::default()).await?;
//! let function = FunctionProcess::spawn(
//!     &api,
//!     FunctionCommand::new("target/debug/kms-material-guard").env("RUST_LOG", "info"),
//! )?;
//! let invocation = api
//!     .invoke(serde_json::json!({"detail-type": "x"}), Duration::from_secs(30))
//!     .await;
//! match &invocation.outcome {
//!     Ok(response) => println!("response {response}"),
//!     Err(error) => println!("{}: {}", error.error_type, error.error_message),
//! }
//! println!("cold start {:?}, peak RSS {:?}", function.cold_start(), function.peak_rss());
//! # Ok(())
//! # }
//! ```

// Layers, bottom up (each uses only the ones below it; see the README's "Source layout"):
// changes, invocation, options -> sandbox -> server -> runtime_api -> process.
mod changes;
mod invocation;
mod options;
mod process;
mod runtime_api;
mod sandbox;
mod server;

pub use invocation::{AsyncInvocation, FunctionError, Invocation, InvocationSource, error_types};
pub use options::RuntimeApiOptions;
pub use process::{FunctionCommand, FunctionProcess, OutputStream, PeakRss};
pub use runtime_api::RuntimeApi;
