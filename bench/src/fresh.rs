//! One cold function process per measurement: a fresh Runtime API, the process spawned against
//! it, then its first `/next` or its first revocation measured, and the process stopped.

use std::collections::BTreeMap;
use std::time::Duration;

use lambda_harness::{FunctionCommand, FunctionProcess, Invocation, RuntimeApi, RuntimeApiOptions};
use serde_json::Value;

/// How long a process may take for its init or an invocation of one key.
pub(crate) const PATIENCE: Duration = Duration::from_secs(60);

/// Runtime API options: invocations time out after `timeout`; queued ones wait up to 2 minutes.
pub(crate) fn api_options(timeout: Duration) -> RuntimeApiOptions {
    RuntimeApiOptions {
        function_timeout: timeout,
        queue_timeout: Duration::from_secs(120),
        ..RuntimeApiOptions::default()
    }
}

/// A process just spawned against its own Runtime API.
pub(crate) struct Fresh {
    pub(crate) api: RuntimeApi,
    pub(crate) function: FunctionProcess,
}

impl Fresh {
    /// Starts a Runtime API (invocations time out after `timeout`) and spawns `command`.
    pub(crate) async fn spawn(
        command: FunctionCommand,
        timeout: Duration,
    ) -> Result<Fresh, String> {
        let api = RuntimeApi::start(api_options(timeout))
            .await
            .map_err(|e| format!("runtime api: {e}"))?;
        let function = FunctionProcess::spawn(&api, command).map_err(|e| format!("spawn: {e}"))?;
        Ok(Fresh { api, function })
    }

    /// Kills the process and waits for its exit (its output is then complete).
    pub(crate) async fn stop(&self) {
        self.function.kill();
        self.function.wait_exit(Duration::from_secs(5)).await;
    }
}

/// A cold start: spawn -> first `/next` (`None` if none came within [`PATIENCE`]) and `VmHWM`
/// then. The process is stopped.
pub(crate) struct ColdStart {
    pub(crate) ready: Option<Duration>,
    pub(crate) idle_rss_kib: Option<u64>,
    pub(crate) stderr: Vec<String>,
}

pub(crate) async fn cold_start_once(command: FunctionCommand) -> Result<ColdStart, String> {
    let fresh = Fresh::spawn(command, PATIENCE).await?;
    let ready = fresh.function.wait_ready(PATIENCE).await;
    let idle_rss_kib = fresh.function.peak_rss().vm_hwm_kib;
    fresh.stop().await;
    Ok(ColdStart {
        ready,
        idle_rss_kib,
        stderr: fresh.function.stderr_lines(),
    })
}

/// A process's first invocation, queued at its spawn (as an event waiting for a cold
/// environment is): spawn -> response, and the invocation.
pub(crate) struct FirstInvocation {
    pub(crate) total: Duration,
    pub(crate) invocation: Invocation,
}

impl FirstInvocation {
    /// Whether it revoked exactly one key.
    pub(crate) fn revoked_one(&self) -> bool {
        outcome_counts(&self.invocation).get("revoked") == Some(&1)
    }
}

/// Spawns `command` and invokes `request` at once; the process is left running.
pub(crate) async fn first_invocation(
    command: FunctionCommand,
    request: Value,
) -> Result<(Fresh, FirstInvocation), String> {
    let fresh = Fresh::spawn(command, PATIENCE).await?;
    let invocation = fresh.api.invoke(request, PATIENCE).await;
    let total = fresh.function.spawned_at().elapsed();
    Ok((fresh, FirstInvocation { total, invocation }))
}

/// The response's `counts` (outcome -> keys); empty for a failed invocation.
pub(crate) fn outcome_counts(invocation: &Invocation) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    if let Ok(response) = &invocation.outcome
        && let Some(map) = response.get("counts").and_then(Value::as_object)
    {
        for (k, v) in map {
            counts.insert(k.clone(), v.as_u64().unwrap_or(0));
        }
    }
    counts
}
