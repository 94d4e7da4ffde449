//! What to launch: the function's command line and the environment Lambda gives it.

use std::ffi::{OsStr, OsString};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::runtime_api::RuntimeApi;

/// What to run and with which environment. Build with [`FunctionCommand::new`] and the chained
/// setters, then [`FunctionProcess::spawn`](crate::FunctionProcess::spawn) it.
///
/// Environment, in increasing precedence:
/// 1. the parent's environment (unless [`inherit_env(false)`](Self::inherit_env)) **minus** every
///    `AWS_*` variable, `_HANDLER` and `_X_AMZN_TRACE_ID` (no real credentials or profiles leak
///    into a local function; pass test credentials with [`env`](Self::env));
/// 2. what Lambda sets: `AWS_LAMBDA_RUNTIME_API`, `AWS_REGION`, `AWS_DEFAULT_REGION`,
///    `AWS_LAMBDA_FUNCTION_NAME`, `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`,
///    `AWS_LAMBDA_FUNCTION_VERSION`, `AWS_LAMBDA_LOG_GROUP_NAME`, `AWS_LAMBDA_LOG_STREAM_NAME`,
///    `AWS_LAMBDA_INITIALIZATION_TYPE=on-demand`, `_HANDLER`, `LAMBDA_TASK_ROOT`, `TZ=:UTC`, and
///    `AWS_LAMBDA_LOG_FORMAT` when [`log_format`](Self::log_format) is set;
/// 3. harness extra (not Lambda): `AWS_ENDPOINT_URL_LAMBDA=http://{api}` so the function's own
///    `aws-sdk-lambda` / boto3 client reaches the harness Invoke API (turn off with
///    [`lambda_endpoint(false)`](Self::lambda_endpoint));
/// 4. every [`env`](Self::env) / [`envs`](Self::envs) given here.
#[derive(Clone, Debug)]
pub struct FunctionCommand {
    pub(super) program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    handler: String,
    memory_mb: u32,
    log_format: Option<String>,
    current_dir: Option<PathBuf>,
    pub(super) echo_output: bool,
    inherit_env: bool,
    lambda_endpoint: bool,
}

impl FunctionCommand {
    /// Runs `program` (a path, or a name looked up in `PATH`).
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Self {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env: Vec::new(),
            handler: "bootstrap".to_owned(),
            memory_mb: 128,
            log_format: None,
            current_dir: None,
            echo_output: false,
            inherit_env: true,
            lambda_endpoint: true,
        }
    }

    /// Appends one argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Appends arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets one variable (wins over everything the harness sets).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Sets several variables.
    pub fn envs<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (k, v) in vars {
            self = self.env(k, v);
        }
        self
    }

    /// `_HANDLER` (`bootstrap` by default; `module.function` for awslambdaric).
    pub fn handler(mut self, handler: impl Into<String>) -> Self {
        self.handler = handler.into();
        self
    }

    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` (128 by default). The harness does not enforce it.
    pub fn memory_mb(mut self, memory_mb: u32) -> Self {
        self.memory_mb = memory_mb;
        self
    }

    /// `AWS_LAMBDA_LOG_FORMAT` (`JSON` or `Text`; unset by default).
    pub fn log_format(mut self, format: impl Into<String>) -> Self {
        self.log_format = Some(format.into());
        self
    }

    /// Working directory (also `LAMBDA_TASK_ROOT`; default: the current directory).
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.current_dir = Some(dir.into());
        self
    }

    /// Also copy each output line to this process's stderr as `[stdout] line` / `[stderr] line`
    /// (off by default; captured by the test harness like `eprintln!`).
    pub fn echo_output(mut self, echo: bool) -> Self {
        self.echo_output = echo;
        self
    }

    /// Start from the parent's environment (minus `AWS_*`), or from an empty one (default true).
    pub fn inherit_env(mut self, inherit: bool) -> Self {
        self.inherit_env = inherit;
        self
    }

    /// Set `AWS_ENDPOINT_URL_LAMBDA` to the harness (default true).
    pub fn lambda_endpoint(mut self, set: bool) -> Self {
        self.lambda_endpoint = set;
        self
    }

    /// The command to spawn: in its own process group, stdin closed, stdout and stderr piped.
    pub(super) fn build(&self, api: &RuntimeApi) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args);
        if self.inherit_env {
            for (key, _) in std::env::vars_os() {
                let k = key.to_string_lossy();
                if k.starts_with("AWS_") || k == "_HANDLER" || k == "_X_AMZN_TRACE_ID" {
                    cmd.env_remove(&key);
                }
            }
        } else {
            cmd.env_clear();
        }
        self.set_lambda_env(&mut cmd, api);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if let Some(dir) = &self.current_dir {
            cmd.current_dir(dir);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Own process group: kill() reaches what the function forks too.
            .process_group(0);
        cmd
    }

    /// What Lambda sets (and `AWS_ENDPOINT_URL_LAMBDA`): layers 2 and 3 of the environment.
    fn set_lambda_env(&self, cmd: &mut Command, api: &RuntimeApi) {
        let options = api.options();
        let task_root = match &self.current_dir {
            Some(dir) => Some(dir.clone()),
            None => std::env::current_dir().ok(),
        };
        let stream_id = uuid::Uuid::new_v4().simple().to_string();
        cmd.env("AWS_LAMBDA_RUNTIME_API", api.addr().to_string())
            .env("AWS_REGION", &options.region)
            .env("AWS_DEFAULT_REGION", &options.region)
            .env("AWS_LAMBDA_FUNCTION_NAME", &options.function_name)
            .env(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                self.memory_mb.to_string(),
            )
            .env("AWS_LAMBDA_FUNCTION_VERSION", &options.function_version)
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", options.function_name),
            )
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                format!("local/[{}]{stream_id}", options.function_version),
            )
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("_HANDLER", &self.handler)
            .env("TZ", ":UTC");
        if let Some(root) = &task_root {
            cmd.env("LAMBDA_TASK_ROOT", root);
        }
        if let Some(format) = &self.log_format {
            cmd.env("AWS_LAMBDA_LOG_FORMAT", format);
        }
        if self.lambda_endpoint {
            cmd.env("AWS_ENDPOINT_URL_LAMBDA", api.endpoint_url());
        }
    }
}
