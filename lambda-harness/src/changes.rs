//! A change counter: an owner of shared state bumps it on every change, and waiters re-check
//! their condition after each bump, up to a timeout.

use std::time::Duration;

use tokio::sync::watch;

/// Bumped on every state change; [`wait_for`](Self::wait_for) and long polls watch it.
pub(crate) struct Changes(watch::Sender<u64>);

impl Changes {
    pub(crate) fn new() -> Self {
        Self(watch::channel(0).0)
    }

    /// Wakes every waiter.
    pub(crate) fn bump(&self) {
        self.0.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// A receiver that sees every bump from now on.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }

    /// Waits up to `timeout` for `check` to return `Some`, re-checking after every bump (a bump
    /// between a check and the wait is not lost: the receiver exists before the first check).
    /// `None` on timeout.
    pub(crate) async fn wait_for<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut() -> Option<T>,
    ) -> Option<T> {
        let mut rx = self.subscribe();
        let wait = async {
            loop {
                if let Some(value) = check() {
                    return Some(value);
                }
                if rx.changed().await.is_err() {
                    return None;
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.ok().flatten()
    }
}
