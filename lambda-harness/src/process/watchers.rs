//! The threads that watch a function process: one reader per output stream (line capture), the
//! reaper (exit status, `ru_maxrss`, the API told) and the `VmHWM` poller.

use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::{Arc, Weak};
use std::thread;
use std::time::{Duration, Instant};

use super::capture::{OutputStream, ProcInner};
use crate::sandbox::Shared;

/// How often `/proc/<pid>/status` is read for `VmHWM` while the process runs.
const RSS_POLL_INTERVAL: Duration = Duration::from_millis(10);

/// How long the reaper waits, after the exit, for both output streams to reach EOF before it
/// reports the exit anyway. The EOF comes as soon as the readers have drained the pipes (at most
/// a pipe buffer each: milliseconds, even on a loaded machine), unless a process that outlives
/// the function (one it forked) still holds them open.
const OUTPUT_DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// Captures `stream` line by line into `inner` until EOF.
pub(super) fn spawn_reader(
    stream: impl Read + Send + 'static,
    which: OutputStream,
    inner: Arc<ProcInner>,
    echo: bool,
) -> io::Result<()> {
    let name = if which == OutputStream::Stdout {
        "stdout"
    } else {
        "stderr"
    };
    thread::Builder::new()
        .name(format!("fn-{name}"))
        .spawn(move || {
            let mut reader = BufReader::new(stream);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) => break,
                    Ok(_) => {
                        while matches!(buf.last(), Some(b'\n' | b'\r')) {
                            buf.pop();
                        }
                        let line = String::from_utf8_lossy(&buf).into_owned();
                        if echo {
                            eprintln!("[{name}] {line}");
                        }
                        inner.push_line(which, line);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            inner.close_stream(which);
        })
        .map(|_| ())
}

/// Waits for the exit of `pid`, reaps it, waits for its output to be drained, and reports the
/// exit to `inner` and to the API.
pub(super) fn spawn_reaper(
    pid: u32,
    serial: u64,
    inner: Arc<ProcInner>,
    api: Weak<Shared>,
) -> io::Result<()> {
    let Ok(raw_pid) = libc::pid_t::try_from(pid) else {
        return Err(io::Error::other("pid out of range"));
    };
    thread::Builder::new()
        .name("fn-reaper".to_owned())
        .spawn(move || {
            // 1. Wait for the exit WITHOUT reaping: the pid stays ours while `exited` is set, so
            //    `kill()` can never hit a recycled pid.
            wait_for_exit(raw_pid);
            // The API first: /next polls this process left pending are orphans from now on, even
            // if the harness has not seen their connections close yet (see `Poller`).
            if let Some(shared) = api.upgrade() {
                shared.process_gone(serial);
            }
            inner.lock().exited = true;
            // 2. Reap it, with its resource usage (ru_maxrss).
            let reaped = reap(raw_pid);
            let exited_at = Instant::now();
            // 3. Let the readers drain what it wrote before exiting: once the exit is reported,
            //    its output is complete.
            inner.wait_for_output_eof(OUTPUT_DRAIN_LIMIT);
            let mut state = inner.lock();
            state.exited_at = Some(exited_at);
            let exit = match reaped {
                Some((status, usage)) => {
                    state.status = Some(status);
                    // Linux reports ru_maxrss in KiB.
                    state.ru_maxrss_kib = u64::try_from(usage.ru_maxrss).ok();
                    describe_exit(status)
                }
                None => "exit status unknown (the process was reaped elsewhere)".to_owned(),
            };
            drop(state);
            inner.changes.bump();
            if let Some(shared) = api.upgrade() {
                shared.process_exited(serial, exit);
            }
        })
        .map(|_| ())
}

/// Blocks until `pid` has exited, leaving it a zombie (`WNOWAIT`).
fn wait_for_exit(pid: libc::pid_t) {
    loop {
        // SAFETY: siginfo_t is plain data; zeroed is a valid value for waitid to fill.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: valid out-pointer; P_PID with our child's pid.
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if rc == 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return;
        }
    }
}

/// Reaps the exited `pid`: its status and resource usage; `None` if it was reaped elsewhere.
fn reap(pid: libc::pid_t) -> Option<(ExitStatus, libc::rusage)> {
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data; zeroed is valid for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid out-pointers; waits for our own child only.
        let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if rc == -1 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        return (rc == pid).then(|| (ExitStatus::from_raw(status), usage));
    }
}

/// Polls `VmHWM` every [`RSS_POLL_INTERVAL`] until the process exits.
pub(super) fn spawn_rss_poller(pid: u32, inner: Arc<ProcInner>) -> io::Result<()> {
    thread::Builder::new()
        .name("fn-rss".to_owned())
        .spawn(move || {
            loop {
                {
                    let mut state = inner.lock();
                    if state.exited {
                        break;
                    }
                    // Read under the lock: `exited` is false, so `pid` is still our process.
                    if let Some(kib) = read_vm_hwm_kib(pid) {
                        state.vm_hwm_kib = Some(state.vm_hwm_kib.map_or(kib, |v| v.max(kib)));
                    }
                }
                thread::sleep(RSS_POLL_INTERVAL);
            }
        })
        .map(|_| ())
}

/// `VmHWM` (peak resident set) of `pid` in KiB; `None` if unreadable (zombie, gone, not Linux).
pub(super) fn read_vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_hwm_kib(&status)
}

fn parse_vm_hwm_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.trim_start_matches("VmHWM:")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Go-style wording, as Lambda prints it: `exit status 1`, `signal: killed`.
fn describe_exit(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    match status.signal() {
        Some(libc::SIGKILL) => "signal: killed".to_owned(),
        Some(libc::SIGTERM) => "signal: terminated".to_owned(),
        Some(libc::SIGABRT) => "signal: aborted".to_owned(),
        Some(libc::SIGSEGV) => "signal: segmentation fault".to_owned(),
        Some(libc::SIGBUS) => "signal: bus error".to_owned(),
        Some(libc::SIGINT) => "signal: interrupt".to_owned(),
        Some(other) => format!("signal: {other}"),
        None => "exit status unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_hwm_is_parsed_from_proc_status() {
        let status = "Name:\tpython3\nVmPeak:\t  20000 kB\nVmHWM:\t   12345 kB\nVmRSS:\t 100 kB\n";
        assert_eq!(parse_vm_hwm_kib(status), Some(12345));
        assert_eq!(parse_vm_hwm_kib("Name:\tzombie\nState:\tZ\n"), None);
    }

    #[test]
    fn exits_are_described_like_lambda() {
        assert_eq!(describe_exit(ExitStatus::from_raw(1 << 8)), "exit status 1");
        assert_eq!(describe_exit(ExitStatus::from_raw(9)), "signal: killed");
    }
}
