//! Benchmarks of kms-material-guard (the release binary) side by side with a Python boto3 peer
//! (`bench/peer/handler.py` under `awslambdaric`), both run as Lambda runs them: a separate process
//! long-polling the Runtime API (lambda-harness), against the local KMS (kms-sim) on loopback.
//!
//! ```text
//! cargo run --release -p bench -- [all|cold-start|memory|overhead|throughput|reduced-quota|time-to-kill|cpu-share|tls|size] [options]
//! cargo run --release -p bench -- variants --variant z=PATH --variant s=PATH ...
//! ```
//!
//! Printed numbers, not timed tests. See bench/README.md (its "Source layout" maps the modules).

mod build_info;
mod calls;
mod cgroup;
mod cli;
mod fresh;
mod kms;
mod launch;
mod paced;
mod procfs;
mod report;
mod revocation;
mod run;
mod sections;
mod stats;

use cli::{USAGE, parse_args};
use run::run;

fn main() {
    let options = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("bench: {e}\n");
            }
            eprint!("{USAGE}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Err(e) = runtime.block_on(run(options)) {
        eprintln!("bench: {e}");
        std::process::exit(1);
    }
}
