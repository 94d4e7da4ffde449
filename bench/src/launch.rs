//! The two functions under test and how a process of each is started: the Rust release binary
//! and the Python peer under awslambdaric, with the same environment.

use std::ffi::OsString;
use std::path::PathBuf;

use lambda_harness::FunctionCommand;

/// The account both functions trust (`MATERIAL_GUARD_ACCOUNT_ID`).
pub(crate) const ACCOUNT: &str = "111111111111";
/// The function's memory size in template.yaml (only sets AWS_LAMBDA_FUNCTION_MEMORY_SIZE here).
const MEMORY_MB: u32 = 256;

/// Which function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Rust,
    Peer,
}

impl Kind {
    /// Its key in the results (`"rust"`, `"peer"`).
    pub(crate) fn key(self) -> &'static str {
        match self {
            Kind::Rust => "rust",
            Kind::Peer => "peer",
        }
    }
}

/// What a function process is started from.
#[derive(Clone, Debug)]
pub(crate) enum Launch {
    Rust(PathBuf),
    Peer { python: PathBuf, dir: PathBuf },
}

impl Launch {
    /// The command of a process talking to the KMS at `sim_url`, pacing deletes at `delete_rate`.
    pub(crate) fn command(&self, sim_url: &str, delete_rate: &str) -> FunctionCommand {
        self.command_with(sim_url, delete_rate, &[], MEMORY_MB)
    }

    /// [`command`](Self::command) run through `prefix` (a program and its arguments that end by
    /// exec'ing the function's own command line; none if empty), with `memory_mb` as
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`.
    pub(crate) fn command_with(
        &self,
        sim_url: &str,
        delete_rate: &str,
        prefix: &[OsString],
        memory_mb: u32,
    ) -> FunctionCommand {
        let (program, args): (OsString, Vec<OsString>) = match self {
            Launch::Rust(bin) => (bin.into(), Vec::new()),
            Launch::Peer { python, .. } => (
                python.into(),
                ["-m", "awslambdaric", "handler.handler"]
                    .map(OsString::from)
                    .to_vec(),
            ),
        };
        let cmd = match prefix.split_first() {
            Some((wrapper, wrapper_args)) => FunctionCommand::new(wrapper)
                .args(wrapper_args)
                .arg(program)
                .args(args),
            None => FunctionCommand::new(program).args(args),
        };
        let cmd = match self {
            Launch::Rust(_) => cmd,
            Launch::Peer { dir, .. } => cmd.handler("handler.handler").current_dir(dir),
        };
        cmd.memory_mb(memory_mb)
            .echo_output(false)
            .env("AWS_ENDPOINT_URL_KMS", sim_url)
            .env("AWS_ACCESS_KEY_ID", "AKIDBENCHMARK")
            .env("AWS_SECRET_ACCESS_KEY", "bench-secret")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("MATERIAL_GUARD_ACCOUNT_ID", ACCOUNT)
            .env("MATERIAL_GUARD_METRICS_NAMESPACE", "off")
            .env("MATERIAL_GUARD_CONTINUATION_FUNCTION", "off")
            .env("MATERIAL_GUARD_BLAST_RADIUS", "10000")
            .env("MATERIAL_GUARD_DELETE_RATE", delete_rate)
    }
}

/// Where a run finds things, and which functions it measures.
pub(crate) struct Env {
    pub(crate) root: PathBuf,
    pub(crate) rust: Launch,
    pub(crate) peer: Launch,
    pub(crate) kinds: Vec<Kind>,
}

impl Env {
    pub(crate) fn launch(&self, kind: Kind) -> &Launch {
        match kind {
            Kind::Rust => &self.rust,
            Kind::Peer => &self.peer,
        }
    }
}
