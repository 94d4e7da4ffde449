//! The runtime processes attached by `FunctionProcess`: each spawn starts an init phase, and the
//! exit of the last one fails what it had in flight or queued, as Lambda reports a dead runtime.

use super::state::Shared;
use crate::invocation::{Invocation, error_types, exit_message};

impl Shared {
    /// A process launched by `FunctionProcess` starts: a new init phase. Returns its serial.
    pub(crate) fn process_attached(&self) -> u64 {
        let mut state = self.lock();
        state.processes_attached += 1;
        state.processes_alive += 1;
        let serial = state.processes_attached;
        state.live_processes.insert(serial);
        state.ready = false;
        state.init_error = None;
        drop(state);
        self.bump();
        serial
    }

    /// The process `serial` has exited (seen by its reaper, before it is reaped and before its
    /// exit is observable): its pending `/next` polls are orphans from now on.
    pub(crate) fn process_gone(&self, serial: u64) {
        self.lock().live_processes.remove(&serial);
    }

    /// A process launched by `FunctionProcess` exited: what was in flight or queued fails with
    /// `Runtime.ExitError`, like Lambda reports a runtime that dies.
    pub(crate) fn process_exited(&self, serial: u64, exit: String) {
        let mut state = self.lock();
        state.live_processes.remove(&serial);
        state.processes_alive = state.processes_alive.saturating_sub(1);
        state.last_exit = Some(exit.clone());
        if state.processes_alive > 0 {
            drop(state);
            self.bump();
            return;
        }
        let flight = state.in_flight.take();
        let queued: Vec<_> = state.queue.drain(..).collect();
        drop(state);
        if let Some(mut flight) = flight {
            if let Some(timer) = flight.deadline_timer.take() {
                timer.abort();
            }
            let progress = flight.progress();
            let failed =
                Invocation::runtime_exited(&flight.request_id, flight.source, &exit, progress);
            let _ = flight.done.send(failed);
        }
        for pending in queued {
            let message = exit_message(&pending.request_id, &exit);
            pending.fail(error_types::EXIT_ERROR, message);
        }
        self.bump();
    }
}
