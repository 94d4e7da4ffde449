//! One Lambda execution environment (sandbox): a FIFO invocation queue served to one runtime, at
//! most one invocation in flight, deadlines, async (Event) call records, init errors and the
//! processes attached. No HTTP here: `server` translates requests into these calls.

mod answers;
mod async_calls;
mod processes;
mod queue;
mod state;

pub(crate) use answers::{Posted, Reject};
pub(crate) use queue::{Delivery, NextPoll, Poller};
pub(crate) use state::{Shared, State, await_invocation};
