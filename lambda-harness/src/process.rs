//! Launching the function like Lambda does: a separate process with Lambda's environment, its
//! output captured line by line, its cold start and peak RSS measured, killed on drop.

use std::ffi::{OsStr, OsString};
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::thread;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::RuntimeApi;
use crate::api::Shared;

/// How often `/proc/<pid>/status` is read for `VmHWM` while the process runs.
const RSS_POLL_INTERVAL: Duration = Duration::from_millis(10);

/// What to run and with which environment. Build with [`FunctionCommand::new`] and the chained
/// setters, then [`FunctionProcess::spawn`] it.
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
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    handler: String,
    memory_mb: u32,
    log_format: Option<String>,
    current_dir: Option<PathBuf>,
    echo_output: bool,
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

    fn build(&self, api: &RuntimeApi) -> Command {
        let options = api.options();
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
}

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

struct ProcInner {
    state: Mutex<ProcState>,
    changed: watch::Sender<u64>,
}

#[derive(Default)]
struct ProcState {
    stdout: Vec<String>,
    stderr: Vec<String>,
    stdout_eof: bool,
    stderr_eof: bool,
    /// The exit was seen (process is a zombie or reaped): its pid must not be signalled again.
    exited: bool,
    status: Option<ExitStatus>,
    exited_at: Option<Instant>,
    vm_hwm_kib: Option<u64>,
    ru_maxrss_kib: Option<u64>,
}

impl ProcInner {
    fn lock(&self) -> MutexGuard<'_, ProcState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bump(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
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
        let (changed, _) = watch::channel(0u64);
        let inner = Arc::new(ProcInner {
            state: Mutex::new(ProcState::default()),
            changed,
        });
        let echo = command.echo_output;
        let started = (|| -> io::Result<()> {
            match child.stdout.take() {
                Some(out) => spawn_reader(out, OutputStream::Stdout, inner.clone(), echo)?,
                None => inner.lock().stdout_eof = true,
            }
            match child.stderr.take() {
                Some(err) => spawn_reader(err, OutputStream::Stderr, inner.clone(), echo)?,
                None => inner.lock().stderr_eof = true,
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
        let mut rx = self.inner.changed.subscribe();
        let (mut seen_out, mut seen_err) = (0usize, 0usize);
        let search = async {
            loop {
                {
                    let state = self.inner.lock();
                    if stream != OutputStream::Stderr {
                        if let Some(line) = state.stdout.iter().skip(seen_out).find(|l| pred(l)) {
                            return Some(line.clone());
                        }
                        seen_out = state.stdout.len();
                    }
                    if stream != OutputStream::Stdout {
                        if let Some(line) = state.stderr.iter().skip(seen_err).find(|l| pred(l)) {
                            return Some(line.clone());
                        }
                        seen_err = state.stderr.len();
                    }
                    let closed = match stream {
                        OutputStream::Stdout => state.stdout_eof,
                        OutputStream::Stderr => state.stderr_eof,
                        OutputStream::Both => state.stdout_eof && state.stderr_eof,
                    };
                    if closed {
                        return None;
                    }
                }
                if rx.changed().await.is_err() {
                    return None;
                }
            }
        };
        tokio::time::timeout(timeout, search).await.ok().flatten()
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

    /// The exit status, once the process has exited and been reaped.
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

    /// Waits up to `timeout` for the process to exit.
    pub async fn wait_exit(&self, timeout: Duration) -> Option<ExitStatus> {
        let mut rx = self.inner.changed.subscribe();
        let wait = async {
            loop {
                if let Some(status) = self.inner.lock().status {
                    return Some(status);
                }
                if rx.changed().await.is_err() {
                    return None;
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.ok().flatten()
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

fn spawn_reader(
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
                        let mut state = inner.lock();
                        if which == OutputStream::Stdout {
                            state.stdout.push(line);
                        } else {
                            state.stderr.push(line);
                        }
                        drop(state);
                        inner.bump();
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            let mut state = inner.lock();
            if which == OutputStream::Stdout {
                state.stdout_eof = true;
            } else {
                state.stderr_eof = true;
            }
            drop(state);
            inner.bump();
        })
        .map(|_| ())
}

fn spawn_reaper(pid: u32, serial: u64, inner: Arc<ProcInner>, api: Weak<Shared>) -> io::Result<()> {
    let Ok(raw_pid) = libc::pid_t::try_from(pid) else {
        return Err(io::Error::other("pid out of range"));
    };
    thread::Builder::new()
        .name("fn-reaper".to_owned())
        .spawn(move || {
            // 1. Wait for the exit WITHOUT reaping (WNOWAIT): the pid stays ours while `exited`
            //    is set, so `kill()` can never hit a recycled pid.
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
                    break;
                }
            }
            // The API first: /next polls this process left pending are orphans from now on, even
            // if the harness has not seen their connections close yet (see `Poller`).
            if let Some(shared) = api.upgrade() {
                shared.process_gone(serial);
            }
            inner.lock().exited = true;
            // 2. Reap it, with its resource usage (ru_maxrss).
            let mut status: libc::c_int = 0;
            // SAFETY: rusage is plain data; zeroed is valid for wait4 to fill.
            let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
            let reaped = loop {
                // SAFETY: valid out-pointers; waits for our own child only.
                let rc = unsafe { libc::wait4(raw_pid, &mut status, 0, &mut usage) };
                if rc == -1 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                break rc == raw_pid;
            };
            let exit = if reaped {
                let status = ExitStatus::from_raw(status);
                let mut state = inner.lock();
                state.status = Some(status);
                // Linux reports ru_maxrss in KiB.
                state.ru_maxrss_kib = u64::try_from(usage.ru_maxrss).ok();
                state.exited_at = Some(Instant::now());
                describe_exit(status)
            } else {
                let mut state = inner.lock();
                state.exited_at = Some(Instant::now());
                "exit status unknown (the process was reaped elsewhere)".to_owned()
            };
            inner.bump();
            if let Some(shared) = api.upgrade() {
                shared.process_exited(serial, exit);
            }
        })
        .map(|_| ())
}

fn spawn_rss_poller(pid: u32, inner: Arc<ProcInner>) -> io::Result<()> {
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
fn read_vm_hwm_kib(pid: u32) -> Option<u64> {
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
