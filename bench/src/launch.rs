//! The two functions under test and how a process of each is started: the Rust release binary
//! and the Python peer under awslambdaric, with the same environment.

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
        let cmd = match self {
            Launch::Rust(bin) => FunctionCommand::new(bin),
            Launch::Peer { python, dir } => FunctionCommand::new(python)
                .args(["-m", "awslambdaric", "handler.handler"])
                .handler("handler.handler")
                .current_dir(dir),
        };
        cmd.memory_mb(MEMORY_MB)
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
