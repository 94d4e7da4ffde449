//! Launching the function like Lambda does: a separate process with Lambda's environment, its
//! output captured line by line, its cold start and peak RSS measured, killed on drop.

mod capture;
mod command;
mod watchers;

use std::io;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::runtime_api::RuntimeApi;
use capture::ProcInner;
use watchers::{read_vm_hwm_kib, spawn_reader, spawn_reaper, spawn_rss_poller};

pub use capture::OutputStream;
pub use command::FunctionCommand;

/// Peak resident set size of the function process, in KiB, from the two sources Linux offers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeakRss {
    /// Highest `VmHWM` read from `/proc/<pid>/status` (polled every 10 ms while the process runs,
    /// and read again on each [`FunctionProcess::peak_rss`] call). `None` if never readable.
    pub vm_hwm_kib: Option<u64>,
    /// `ru_maxrss` from `wait4` once the process has exited (exact peak, including the last
    /// milliseconds the poll may miss). `None` while it runs.
    pub ru_maxrss_kib: Option<u64>,
}

impl PeakRss {
    /// The larger of the two readings.
    pub fn max_kib(&self) -> Option<u64> {
        match (self.vm_hwm_kib, self.ru_maxrss_kib) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }
}

/// A running function process attached to a [`RuntimeApi`]. Killed (SIGKILL to its process
/// group) on drop.
pub struct FunctionProcess {
    api: RuntimeApi,
    pid: u32,
    spawned_at: Instant,
    inner: Arc<ProcInner>,
}

impl std::fmt::Debug for FunctionProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionProcess")
            .field("pid", &self.pid)
            .field("exit_status", &self.exit_status())
            .finish()
    }
}

impl FunctionProcess {
    /// Spawns `command` against `api` (see [`FunctionCommand`] for the environment). The spawn
    /// instant is taken just before `fork`/`exec`, so the cold start includes process creation.
    ///
    /// While the process lives, `api` treats it as *the* runtime: when it exits, whatever it had
    /// in flight or queued fails with `Runtime.ExitError`, and later invocations fail fast until
    /// another process is spawned.
    pub fn spawn(api: &RuntimeApi, command: FunctionCommand) -> io::Result<FunctionProcess> {
        let mut cmd = command.build(api);
        let serial = api.shared.process_attached();
        let spawned_at = Instant::now();
        let mut child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) => {
                api.shared.process_exited(
                    serial,
                    format!("could not start {:?}: {e}", command.program),
                );
                return Err(e);
            }
        };
        let pid = child.id();
        let inner = Arc::new(ProcInner::new());
        let echo = command.echo_output;
        let started = (|| -> io::Result<()> {
            match child.stdout.take() {
                Some(out) => spawn_reader(out, OutputStream::Stdout, inner.clone(), echo)?,
                None => inner.close_stream(OutputStream::Stdout),
            }
            match child.stderr.take() {
                Some(err) => spawn_reader(err, OutputStream::Stderr, inner.clone(), echo)?,
                None => inner.close_stream(OutputStream::Stderr),
            }
            spawn_reaper(pid, serial, inner.clone(), Arc::downgrade(&api.shared))?;
            spawn_rss_poller(pid, inner.clone())
        })();
        if let Err(e) = started {
            // No thread for it: the reaper may not run, so kill and reap here.
            let _ = child.kill();
            let _ = child.wait();
            if !inner.lock().exited {
                api.shared
                    .process_exited(serial, format!("harness could not watch the process: {e}"));
            }
            return Err(e);
        }
        // The std `Child` is dropped without waiting: the reaper thread owns the pid.
        drop(child);
        Ok(FunctionProcess {
            api: api.clone(),
            pid,
            spawned_at,
            inner,
        })
    }

    /// The process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// When the process was spawned.
    pub fn spawned_at(&self) -> Instant {
        self.spawned_at
    }

    /// The [`RuntimeApi`] the process is attached to.
    pub fn api(&self) -> &RuntimeApi {
        &self.api
    }

    /// Cold start: the first `/next` after the spawn minus the spawn (`None` until the runtime
    /// has asked for its first invocation). This is Lambda's "Init Duration" seen from outside,
    /// plus process creation.
    pub fn cold_start(&self) -> Option<Duration> {
        self.api
            .first_next_after(self.spawned_at)
            .map(|t| t.saturating_duration_since(self.spawned_at))
    }

    /// Waits up to `timeout` for the runtime's first `/next` (the end of its init) and returns the
    /// cold start; `None` on timeout or if the process exits first.
    pub async fn wait_ready(&self, timeout: Duration) -> Option<Duration> {
        let spawned_at = self.spawned_at;
        let inner = self.inner.clone();
        self.api
            .shared
            .wait_until(timeout, |s| {
                s.next_polls.iter().any(|t| *t >= spawned_at) || inner.lock().exited
            })
            .await;
        self.cold_start()
    }

    /// Every complete stdout line so far (without the line terminator; invalid UTF-8 replaced).
    pub fn stdout_lines(&self) -> Vec<String> {
        self.inner.lock().stdout.clone()
    }

    /// Every complete stderr line so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.inner.lock().stderr.clone()
    }

    /// Waits up to `timeout` for a line of `stream` (already captured or still to come) that
    /// matches `pred`; returns it, or `None` on timeout or once the stream is closed without a
    /// match.
    pub async fn wait_for_line(
        &self,
        stream: OutputStream,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Option<String> {
        let (mut seen_out, mut seen_err) = (0usize, 0usize);
        // `Some(None)`: the stream closed without a match.
        let found = self.inner.changes.wait_for(timeout, || {
            let state = self.inner.lock();
            if stream != OutputStream::Stderr {
                if let Some(line) = state.stdout.iter().skip(seen_out).find(|l| pred(l)) {
                    return Some(Some(line.clone()));
                }
                seen_out = state.stdout.len();
            }
            if stream != OutputStream::Stdout {
                if let Some(line) = state.stderr.iter().skip(seen_err).find(|l| pred(l)) {
                    return Some(Some(line.clone()));
                }
                seen_err = state.stderr.len();
            }
            let closed = match stream {
                OutputStream::Stdout => state.stdout_eof,
                OutputStream::Stderr => state.stderr_eof,
                OutputStream::Both => state.stdout_eof && state.stderr_eof,
            };
            closed.then_some(None)
        });
        found.await.flatten()
    }

    /// Peak RSS so far (re-reads `VmHWM` if the process still runs; `ru_maxrss` once it exited).
    pub fn peak_rss(&self) -> PeakRss {
        let mut state = self.inner.lock();
        if !state.exited
            && let Some(kib) = read_vm_hwm_kib(self.pid)
        {
            state.vm_hwm_kib = Some(state.vm_hwm_kib.map_or(kib, |v| v.max(kib)));
        }
        PeakRss {
            vm_hwm_kib: state.vm_hwm_kib,
            ru_maxrss_kib: state.ru_maxrss_kib,
        }
    }

    /// The exit status, once the process has exited, been reaped, and its output drained (every
    /// line it wrote is then in [`stdout_lines`](Self::stdout_lines) /
    /// [`stderr_lines`](Self::stderr_lines)).
    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.inner.lock().status
    }

    /// How long the process lived (`None` while it runs).
    pub fn lifetime(&self) -> Option<Duration> {
        self.inner
            .lock()
            .exited_at
            .map(|t| t.saturating_duration_since(self.spawned_at))
    }

    /// Waits up to `timeout` for the process to exit; see [`exit_status`](Self::exit_status).
    pub async fn wait_exit(&self, timeout: Duration) -> Option<ExitStatus> {
        self.inner
            .changes
            .wait_for(timeout, || self.inner.lock().status)
            .await
    }

    /// Sends SIGKILL to the process group (no-op once the process has exited).
    pub fn kill(&self) {
        self.signal(libc::SIGKILL);
    }

    /// SIGTERM to the process group, then SIGKILL after `grace`; waits for the exit (up to
    /// `grace` + 5 s) and returns its status.
    pub async fn terminate(&self, grace: Duration) -> Option<ExitStatus> {
        self.signal(libc::SIGTERM);
        if let Some(status) = self.wait_exit(grace).await {
            return Some(status);
        }
        self.kill();
        self.wait_exit(Duration::from_secs(5)).await
    }

    fn signal(&self, signal: libc::c_int) {
        let state = self.inner.lock();
        if state.exited {
            return;
        }
        let Ok(pgid) = libc::pid_t::try_from(self.pid) else {
            return;
        };
        // SAFETY: plain syscall. The lock is held and `exited` is false, so the leader has not
        // been reaped: the pid (and the process group it leads) still belongs to our child.
        unsafe {
            libc::kill(-pgid, signal);
        }
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_rss_max_takes_the_larger_reading() {
        let p = PeakRss {
            vm_hwm_kib: Some(10),
            ru_maxrss_kib: Some(12),
        };
        assert_eq!(p.max_kib(), Some(12));
        assert_eq!(PeakRss::default().max_kib(), None);
    }
}
