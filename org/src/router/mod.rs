//! An in-process stand-in for EventBridge's cross-account and cross-Region delivery.
//!
//! Buses are identified by ARN and carry a resource policy (which other accounts may put events
//! on them). Rules match events with [`Pattern`](crate::pattern::Pattern)s and send them to up
//! to five targets, each with its own retry policy and dead-letter queue. A target is another
//! bus (in any account or Region: the event keeps its `id`, `account`, `region`, `time` and
//! `detail`, as EventBridge forwards it), a Lambda function (an asynchronous invocation, with
//! Lambda's own retries of function errors and its on-failure destination), an SQS queue or a
//! CloudWatch Logs log group (both just collect what they receive).
//!
//! What EventBridge vouches for: a PutEvents call's event gets `account` = the caller's account
//! and `region` = the Region of the endpoint called, which is the bus's own (an ARN of a bus in
//! another Region is refused), whatever the entry says; a forwarded event keeps both. So an event
//! that reaches a central bus through a rule of a member's bus names the member's account and
//! Region, while one put on the central bus directly names the central bus's Region. Bus policies
//! model that difference: a grant may admit only forwarded events (`aws:SourceArn`), and a deny
//! may refuse a source put directly by anyone (see [`BusPolicy`]).
//!
//! Time is virtual: deliveries are scheduled on the router's clock, and the backoffs of both
//! retry layers (EventBridge's target retries, Lambda's asynchronous retries) cost no real time.
//! [`Router::deliver_due`] runs everything due now (different functions concurrently, as
//! EventBridge fans out), [`Router::run_until_idle`] also moves the clock to each next retry.
//! The functions themselves run in real time against the local KMS.
//!
//! The parts: [`Rule`]s with their [`Target`]s, [`BusPolicy`], the [`Function`] trait and its
//! asynchronous invocation configuration, [`RouterConfig`]; the [`Router`] is configured like the
//! templates deploy (`setup`), takes PutEvents (`put`), delivers to targets with EventBridge's
//! retries and dead-letter queues (`delivery`), runs functions with Lambda's asynchronous retries
//! (`lambda`) on its virtual clock (`clock`), and keeps a journal of it all (`journal`,
//! `inspect`).

mod clock;
mod config;
mod delivery;
mod function;
mod inspect;
mod journal;
mod lambda;
mod policy;
mod put;
mod rule;
mod setup;
mod state;
#[cfg(test)]
mod tests;

pub use config::{RouterConfig, RouterError};
pub use function::{AsyncInvokeConfig, BoxFuture, Function, InvokeError, LambdaContext};
pub use journal::{
    Delivery, DeliveryOutcome, InvocationRecord, PutError, QueueMessage, RefusedPut,
};
pub use policy::{Arrival, BusPolicy, Grant};
pub use put::PutEntry;
pub use rule::{MAX_TARGETS_PER_RULE, RetryPolicy, Rule, Target};
pub use state::{Router, WeakRouter};
