//! What the watchers record about a function process, behind one lock: its output lines and
//! their EOFs, its exit, its peak RSS readings; and the change counter waiters watch.

use std::process::ExitStatus;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use crate::changes::Changes;

/// Which captured output to look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputStream {
    /// The function's stdout.
    Stdout,
    /// The function's stderr.
    Stderr,
    /// Either.
    Both,
}

/// The record shared by a [`FunctionProcess`](crate::FunctionProcess) and its watcher threads.
pub(super) struct ProcInner {
    state: Mutex<ProcState>,
    pub(super) changes: Changes,
}

#[derive(Default)]
pub(super) struct ProcState {
    pub(super) stdout: Vec<String>,
    pub(super) stderr: Vec<String>,
    pub(super) stdout_eof: bool,
    pub(super) stderr_eof: bool,
    /// The exit was seen (process is a zombie or reaped): its pid must not be signalled again.
    pub(super) exited: bool,
    pub(super) status: Option<ExitStatus>,
    pub(super) exited_at: Option<Instant>,
    pub(super) vm_hwm_kib: Option<u64>,
    pub(super) ru_maxrss_kib: Option<u64>,
}

impl ProcInner {
    pub(super) fn new() -> Self {
        ProcInner {
            state: Mutex::new(ProcState::default()),
            changes: Changes::new(),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, ProcState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}
