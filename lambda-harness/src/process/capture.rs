//! What the watchers record about a function process, behind one lock: its output lines and
//! their EOFs, its exit, its peak RSS readings; and the change counter waiters watch.

use std::process::ExitStatus;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

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
    /// Notified when an output stream reaches EOF (for the reaper, a thread, not a task).
    output_closed: Condvar,
}

#[derive(Default)]
pub(super) struct ProcState {
    pub(super) stdout: Vec<String>,
    pub(super) stderr: Vec<String>,
    pub(super) stdout_eof: bool,
    pub(super) stderr_eof: bool,
    /// The exit was seen (process is a zombie or reaped): its pid must not be signalled again.
    pub(super) exited: bool,
    /// Set only once both output streams reached EOF (or the reaper stopped waiting for them):
    /// whoever sees the exit also sees every line written before it.
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
            output_closed: Condvar::new(),
        }
    }

    /// Records one line of `which` output.
    pub(super) fn push_line(&self, which: OutputStream, line: String) {
        let mut state = self.lock();
        if which == OutputStream::Stdout {
            state.stdout.push(line);
        } else {
            state.stderr.push(line);
        }
        drop(state);
        self.changes.bump();
    }

    /// Records the EOF of `which` output: every line of it has been pushed.
    pub(super) fn close_stream(&self, which: OutputStream) {
        let mut state = self.lock();
        if which == OutputStream::Stdout {
            state.stdout_eof = true;
        } else {
            state.stderr_eof = true;
        }
        drop(state);
        self.output_closed.notify_all();
        self.changes.bump();
    }

    /// Blocks until both output streams reached EOF, or `limit` passed; whether they did.
    pub(super) fn wait_for_output_eof(&self, limit: Duration) -> bool {
        let state = self.lock();
        let (_state, waited) = self
            .output_closed
            .wait_timeout_while(state, limit, |s| !(s.stdout_eof && s.stderr_eof))
            .unwrap_or_else(|p| p.into_inner());
        !waited.timed_out()
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, ProcState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}
