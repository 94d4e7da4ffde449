//! An in-process stand-in for EventBridge's cross-account and cross-Region delivery.
//!
//! Buses are identified by ARN and carry a resource policy (which other accounts may put events
//! on them). Rules match events with [`Pattern`]s and send them to up to five targets, each
//! with its own retry policy and dead-letter queue. A target is another bus (in any account or
//! Region: the event keeps its `id`, `account`, `region`, `time` and `detail`, as EventBridge
//! forwards it), a Lambda function (an asynchronous invocation, with Lambda's own retries of
//! function errors and its on-failure destination), an SQS queue or a CloudWatch Logs log group
//! (both just collect what they receive).
//!
//! Time is virtual: deliveries are scheduled on the router's clock, and the backoffs of both
//! retry layers (EventBridge's target retries, Lambda's asynchronous retries) cost no real time.
//! [`Router::deliver_due`] runs everything due now (different functions concurrently, as
//! EventBridge fans out), [`Router::run_until_idle`] also moves the clock to each next retry.
//! The functions themselves run in real time against the local KMS.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use crate::aws::{BusArn, Event, MemberId, uuid_v4};
use crate::pattern::Pattern;

/// A boxed future (the [`Function`] trait is object safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// EventBridge allows at most five targets per rule.
pub const MAX_TARGETS_PER_RULE: usize = 5;

/// What a function is told about one invocation (the Lambda context).
#[derive(Debug, Clone)]
pub struct LambdaContext {
    /// The invocation's request id; Lambda keeps it for the retries of an asynchronous event.
    pub request_id: String,
    pub invoked_function_arn: String,
    /// When the function times out.
    pub deadline: Instant,
    /// 1 for the first run of an asynchronous event, 2 and 3 for Lambda's retries.
    pub attempt: u32,
}

/// Why an invocation did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum InvokeError {
    /// The Invoke API did not take the event (function not deployed or being updated, Lambda
    /// throttling the account, the Region impaired). EventBridge retries the delivery.
    NotAccepted { code: String, message: String },
    /// The function ran and returned an error (or crashed, or timed out). Lambda retries the
    /// asynchronous event up to its `MaximumRetryAttempts`.
    Function {
        error_type: String,
        error_message: String,
    },
}

impl std::fmt::Display for InvokeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InvokeError::NotAccepted { code, message } => write!(f, "{code}: {message}"),
            InvokeError::Function {
                error_type,
                error_message,
            } => write!(f, "{error_type}: {error_message}"),
        }
    }
}

/// A Lambda function as the router invokes it.
pub trait Function: Send + Sync {
    fn arn(&self) -> &str;
    /// Whether the Invoke API takes an asynchronous invocation now.
    fn accepting(&self) -> Result<(), InvokeError>;
    /// The function's timeout (the context's deadline is now + timeout).
    fn timeout(&self) -> Duration;
    /// Runs one invocation.
    fn invoke(
        &self,
        payload: Value,
        ctx: LambdaContext,
    ) -> BoxFuture<'_, Result<Value, InvokeError>>;
}

/// A rule target's retry policy (`RetryPolicy` of `AWS::Events::Rule` targets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// 0-185; EventBridge's default is 185.
    pub maximum_retry_attempts: u32,
    /// 60 s - 24 h; EventBridge's default is 24 h.
    pub maximum_event_age: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            maximum_retry_attempts: 185,
            maximum_event_age: Duration::from_secs(86_400),
        }
    }
}

/// A function's asynchronous invocation configuration (`EventInvokeConfig`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsyncInvokeConfig {
    /// 0-2 retries of a function error.
    pub maximum_retry_attempts: u32,
    /// 60 s - 6 h.
    pub maximum_event_age: Duration,
    /// The on-failure destination (a queue ARN); `None` drops the event.
    pub on_failure: Option<String>,
}

impl Default for AsyncInvokeConfig {
    fn default() -> Self {
        AsyncInvokeConfig {
            maximum_retry_attempts: 2,
            maximum_event_age: Duration::from_secs(21_600),
            on_failure: None,
        }
    }
}

/// One target of a rule. The kind follows from the ARN: `arn:aws:events:…:event-bus/…`,
/// `arn:aws:lambda:…:function:…`, `arn:aws:sqs:…`, `arn:aws:logs:…:log-group:…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub id: String,
    pub arn: String,
    pub retry_policy: RetryPolicy,
    /// `DeadLetterConfig.Arn`: an SQS queue ARN.
    pub dead_letter_queue: Option<String>,
}

impl Target {
    pub fn new(id: &str, arn: &str) -> Self {
        Target {
            id: id.to_string(),
            arn: arn.to_string(),
            retry_policy: RetryPolicy::default(),
            dead_letter_queue: None,
        }
    }

    pub fn with_retry(mut self, maximum_retry_attempts: u32, maximum_event_age: Duration) -> Self {
        self.retry_policy = RetryPolicy {
            maximum_retry_attempts,
            maximum_event_age,
        };
        self
    }

    pub fn with_dead_letter_queue(mut self, queue_arn: &str) -> Self {
        self.dead_letter_queue = Some(queue_arn.to_string());
        self
    }
}

/// A rule on a bus.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub event_bus: BusArn,
    pub pattern: Pattern,
    pub targets: Vec<Target>,
}

impl Rule {
    pub fn new(name: &str, event_bus: &BusArn, pattern: Pattern) -> Self {
        Rule {
            name: name.to_string(),
            event_bus: event_bus.clone(),
            pattern,
            targets: Vec::new(),
        }
    }

    pub fn target(mut self, target: Target) -> Self {
        self.targets.push(target);
        self
    }

    /// `arn:aws:events:<region>:<account>:rule/[<bus>/]<name>`.
    pub fn arn(&self) -> String {
        let b = &self.event_bus;
        if b.name == "default" {
            format!(
                "arn:aws:events:{}:{}:rule/{}",
                b.region, b.account, self.name
            )
        } else {
            format!(
                "arn:aws:events:{}:{}:rule/{}/{}",
                b.region, b.account, b.name, self.name
            )
        }
    }
}

/// Who may put events on a bus besides its own account: the bus's resource policy, reduced to
/// `Allow events:PutEvents` statements by account, optionally conditioned on the events'
/// `source` and `detail-type` (`events:source`, `events:detail-type`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BusPolicy {
    pub grants: Vec<Grant>,
}

/// One `Allow events:PutEvents` statement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grant {
    pub accounts: BTreeSet<String>,
    /// `None`: any source.
    pub sources: Option<BTreeSet<String>>,
    /// `None`: any detail-type.
    pub detail_types: Option<BTreeSet<String>>,
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|a| a.to_string()).collect()
}

impl BusPolicy {
    /// Only the owner.
    pub fn own_account() -> Self {
        BusPolicy::default()
    }

    /// These accounts may put any event.
    pub fn allow(accounts: &[&str]) -> Self {
        BusPolicy::default().grant(accounts, None, None)
    }

    /// Adds a statement: `accounts` may put events of these sources and detail-types.
    pub fn grant(
        mut self,
        accounts: &[&str],
        sources: Option<&[&str]>,
        detail_types: Option<&[&str]>,
    ) -> Self {
        self.grants.push(Grant {
            accounts: set(accounts),
            sources: sources.map(set),
            detail_types: detail_types.map(set),
        });
        self
    }

    /// Whether `account` may put an event of `source` / `detail_type` on a bus of `owner`.
    pub fn allows(&self, owner: &str, account: &str, source: &str, detail_type: &str) -> bool {
        account == owner
            || self.grants.iter().any(|g| {
                g.accounts.contains(account)
                    && g.sources.as_ref().is_none_or(|s| s.contains(source))
                    && g.detail_types
                        .as_ref()
                        .is_none_or(|d| d.contains(detail_type))
            })
    }
}

/// Router timings (virtual time) and switches.
#[derive(Debug, Clone)]
pub struct RouterConfig {
    /// EventBridge's first retry of a failed target delivery comes after this; each further
    /// retry doubles it (with jitter) up to `eventbridge_max_backoff`.
    pub eventbridge_first_backoff: Duration,
    pub eventbridge_max_backoff: Duration,
    /// Lambda retries a failed asynchronous event after 1 minute, then 2 minutes.
    pub lambda_retry_delays: Vec<Duration>,
    /// How soon Lambda's queue tries again an accepted event the function cannot take.
    pub lambda_requeue_delay: Duration,
    /// Randomise backoffs between half and all of the delay.
    pub jitter: bool,
    /// Whether PutEvents may name a bus of another Region than the endpoint's. EventBridge's
    /// Regional API refuses cross-Region calls ("Cross-region API call is not allowed"):
    /// events reach other Regions through rules whose target is a bus there.
    pub allow_cross_region_put_events: bool,
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            eventbridge_first_backoff: Duration::from_secs(1),
            eventbridge_max_backoff: Duration::from_secs(300),
            lambda_retry_delays: vec![Duration::from_secs(60), Duration::from_secs(120)],
            lambda_requeue_delay: Duration::from_secs(30),
            jitter: false,
            allow_cross_region_put_events: false,
        }
    }
}

/// Configuration mistakes (the errors PutRule / PutTargets would give).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouterError {
    #[error("event bus {0} does not exist")]
    NoSuchBus(String),
    #[error("event bus {0} already exists")]
    BusExists(String),
    #[error("rule {0} already exists on its bus")]
    RuleExists(String),
    #[error("rule {rule}: at most {MAX_TARGETS_PER_RULE} targets per rule, got {count}")]
    TooManyTargets { rule: String, count: usize },
    #[error("rule {rule}: target ids must be unique ({id})")]
    DuplicateTargetId { rule: String, id: String },
    #[error("target {0}: unknown kind of ARN (event bus, Lambda function, SQS queue or log group)")]
    UnknownTarget(String),
    #[error("function {0} already registered")]
    FunctionExists(String),
    #[error("the router did not go idle within {0} steps")]
    NotIdle(usize),
}

/// One PutEvents entry.
#[derive(Debug, Clone, PartialEq)]
pub struct PutEntry {
    pub source: String,
    pub detail_type: String,
    /// The `Detail` JSON text.
    pub detail: String,
    /// Name or ARN; `None` = the caller's default bus.
    pub event_bus_name: Option<String>,
    pub resources: Vec<String>,
    pub time: Option<DateTime<Utc>>,
    /// The event id already given to the caller (entries pulled from the local KMS's recorder,
    /// which answered the PutEvents call); `None`: a fresh one.
    pub event_id: Option<String>,
}

impl PutEntry {
    pub fn new(source: &str, detail_type: &str, detail: &Value, bus: &str) -> Self {
        PutEntry {
            source: source.to_string(),
            detail_type: detail_type.to_string(),
            detail: detail.to_string(),
            event_bus_name: Some(bus.to_string()),
            resources: Vec::new(),
            time: None,
            event_id: None,
        }
    }
}

/// A PutEvents entry the router refused (the error EventBridge would answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PutError {
    pub code: String,
    pub message: String,
}

/// A PutEvents call (made to the local KMS's recorder) the router did not accept.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RefusedPut {
    pub caller: MemberId,
    pub event_bus_name: Option<String>,
    pub source: String,
    pub detail_type: String,
    pub error: PutError,
}

/// A message in a queue target or dead-letter queue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueMessage {
    pub body: Value,
    /// For EventBridge dead letters: `ERROR_CODE`, `ERROR_MESSAGE`, `RULE_ARN`, `TARGET_ARN`.
    pub attributes: BTreeMap<String, String>,
}

/// What happened to one delivery attempt.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum DeliveryOutcome {
    Delivered,
    /// Failed; EventBridge tries again at `next_at` (virtual time).
    Retrying {
        error: String,
        next_at_ms: u64,
    },
    /// Failed for good; sent to the target's dead-letter queue.
    DeadLettered {
        error: String,
        queue: String,
    },
    /// Failed for good and no dead-letter queue (or not deliverable by design).
    Dropped {
        error: String,
    },
}

/// One delivery attempt of an event to a rule target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    pub at_ms: u64,
    pub event_id: String,
    pub detail_type: String,
    pub rule: String,
    pub target: String,
    pub attempt: u32,
    pub outcome: DeliveryOutcome,
}

/// One run of a function.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InvocationRecord {
    pub at_ms: u64,
    pub function: String,
    pub request_id: String,
    pub attempt: u32,
    /// `None` on success.
    pub error: Option<InvokeError>,
    /// The function's answer on success.
    pub response: Option<Value>,
}

type Ingress = Box<dyn Fn() -> Vec<kms_sim::RecordedEvent> + Send + Sync>;

/// The router. Cloning shares it.
#[derive(Clone)]
pub struct Router {
    inner: Arc<Inner>,
}

/// A handle that does not keep the router alive (for continuations started by its functions).
#[derive(Clone)]
pub struct WeakRouter(Weak<Inner>);

impl WeakRouter {
    pub fn upgrade(&self) -> Option<Router> {
        self.0.upgrade().map(|inner| Router { inner })
    }
}

struct Inner {
    config: RouterConfig,
    state: Mutex<State>,
    ingress: Mutex<Option<(Ingress, usize)>>,
}

#[derive(Default)]
struct State {
    now: Duration,
    buses: BTreeMap<BusArn, BusState>,
    rules: Vec<Rule>,
    functions: BTreeMap<String, (Arc<dyn Function>, AsyncInvokeConfig)>,
    queues: BTreeMap<String, Vec<QueueMessage>>,
    logs: BTreeMap<String, Vec<String>>,
    schedule: Vec<Scheduled>,
    seq: u64,
    duplicate_next: u32,
    deliveries: Vec<Delivery>,
    invocations: Vec<InvocationRecord>,
    refused: Vec<RefusedPut>,
}

struct BusState {
    policy: BusPolicy,
    received: Vec<Event>,
}

struct Scheduled {
    due: Duration,
    seq: u64,
    work: Work,
}

#[derive(Clone)]
struct Routed {
    event: Event,
    /// Arrived from another bus: EventBridge does not send it on to a third bus.
    via_bus: bool,
}

enum Work {
    Target {
        routed: Box<Routed>,
        rule_arn: String,
        rule_bus: BusArn,
        target: Target,
        attempt: u32,
        since: Duration,
    },
    Invoke {
        function: String,
        payload: Value,
        request_id: String,
        attempt: u32,
        since: Duration,
    },
}

enum Kind {
    Bus(BusArn),
    Function,
    Queue,
    Log,
}

fn kind(arn: &str) -> Option<Kind> {
    if let Ok(b) = BusArn::parse(arn) {
        return Some(Kind::Bus(b));
    }
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _, "lambda", _, _, rest] if rest.starts_with("function:") => Some(Kind::Function),
        ["arn", _, "sqs", _, _, _] => Some(Kind::Queue),
        ["arn", _, "logs", _, _, rest] if rest.starts_with("log-group:") => Some(Kind::Log),
        _ => None,
    }
}

fn ms(d: Duration) -> u64 {
    d.as_millis().min(u128::from(u64::MAX)) as u64
}

fn put_error(code: &str, message: impl Into<String>) -> PutError {
    PutError {
        code: code.to_string(),
        message: message.into(),
    }
}

impl Default for Router {
    fn default() -> Self {
        Router::new(RouterConfig::default())
    }
}

impl Router {
    pub fn new(config: RouterConfig) -> Self {
        Router {
            inner: Arc::new(Inner {
                config,
                state: Mutex::new(State::default()),
                ingress: Mutex::new(None),
            }),
        }
    }

    pub fn downgrade(&self) -> WeakRouter {
        WeakRouter(Arc::downgrade(&self.inner))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic in another thread while holding the lock leaves consistent data: every
        // mutation below is a single push / insert.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The router's clock (virtual time since it started).
    pub fn now(&self) -> Duration {
        self.state().now
    }

    /// Creates a bus (`AWS::Events::EventBus`, or an account's `default` bus) with its policy.
    pub fn add_bus(&self, arn: &BusArn, policy: BusPolicy) -> Result<(), RouterError> {
        let mut s = self.state();
        if s.buses.contains_key(arn) {
            return Err(RouterError::BusExists(arn.to_string()));
        }
        s.buses.insert(
            arn.clone(),
            BusState {
                policy,
                received: Vec::new(),
            },
        );
        Ok(())
    }

    /// Replaces a bus's resource policy.
    pub fn set_bus_policy(&self, arn: &BusArn, policy: BusPolicy) -> Result<(), RouterError> {
        let mut s = self.state();
        let bus = s
            .buses
            .get_mut(arn)
            .ok_or_else(|| RouterError::NoSuchBus(arn.to_string()))?;
        bus.policy = policy;
        Ok(())
    }

    /// Creates a queue (targets and dead-letter queues must exist to receive messages).
    pub fn add_queue(&self, arn: &str) {
        self.state().queues.entry(arn.to_string()).or_default();
    }

    /// Creates a log group target (`arn:aws:logs:<region>:<account>:log-group:<name>`).
    pub fn add_log_group(&self, arn: &str) {
        self.state().logs.entry(arn.to_string()).or_default();
    }

    /// Registers a function with its asynchronous invocation configuration.
    pub fn add_function(
        &self,
        function: Arc<dyn Function>,
        config: AsyncInvokeConfig,
    ) -> Result<(), RouterError> {
        let arn = function.arn().to_string();
        let mut s = self.state();
        if s.functions.contains_key(&arn) {
            return Err(RouterError::FunctionExists(arn));
        }
        if let Some(q) = &config.on_failure {
            s.queues.entry(q.clone()).or_default();
        }
        s.functions.insert(arn, (function, config));
        Ok(())
    }

    /// PutRule + PutTargets.
    pub fn put_rule(&self, rule: Rule) -> Result<(), RouterError> {
        let mut s = self.state();
        if !s.buses.contains_key(&rule.event_bus) {
            return Err(RouterError::NoSuchBus(rule.event_bus.to_string()));
        }
        if s.rules
            .iter()
            .any(|r| r.event_bus == rule.event_bus && r.name == rule.name)
        {
            return Err(RouterError::RuleExists(rule.arn()));
        }
        if rule.targets.len() > MAX_TARGETS_PER_RULE {
            return Err(RouterError::TooManyTargets {
                rule: rule.arn(),
                count: rule.targets.len(),
            });
        }
        let mut ids = BTreeSet::new();
        for t in &rule.targets {
            if !ids.insert(t.id.clone()) {
                return Err(RouterError::DuplicateTargetId {
                    rule: rule.arn(),
                    id: t.id.clone(),
                });
            }
            if kind(&t.arn).is_none() {
                return Err(RouterError::UnknownTarget(t.arn.clone()));
            }
            if let Some(q) = &t.dead_letter_queue {
                s.queues.entry(q.clone()).or_default();
            }
        }
        s.rules.push(rule);
        Ok(())
    }

    /// Where the router pulls PutEvents calls from (the local KMS's recorder: `sim.events()`).
    /// Each call of `deliver_due` takes the entries recorded since the last pull.
    pub fn set_ingress(
        &self,
        source: impl Fn() -> Vec<kms_sim::RecordedEvent> + Send + Sync + 'static,
    ) {
        let seen = source().len();
        if let Ok(mut i) = self.inner.ingress.lock() {
            *i = Some((Box::new(source), seen));
        }
    }

    /// The next `n` successful deliveries to function targets are delivered twice (EventBridge
    /// delivers at least once): two asynchronous invocations, two request ids.
    pub fn duplicate_next_deliveries(&self, n: u32) {
        self.state().duplicate_next = n;
    }

    /// PutEvents as `caller` (account, and the Region whose endpoint is called).
    pub fn put_events(
        &self,
        caller: &MemberId,
        entries: &[PutEntry],
    ) -> Vec<Result<String, PutError>> {
        let mut s = self.state();
        entries
            .iter()
            .map(|e| self.put_one(&mut s, caller, e))
            .collect()
    }

    fn put_one(&self, s: &mut State, caller: &MemberId, e: &PutEntry) -> Result<String, PutError> {
        let bus = match e.event_bus_name.as_deref() {
            None | Some("") | Some("default") => BusArn::default_bus(caller),
            Some(name) if name.starts_with("arn:") => BusArn::parse(name)
                .map_err(|err| put_error("ValidationException", err.to_string()))?,
            Some(name) => BusArn::new(&caller.region, &caller.account, name),
        };
        if bus.region != caller.region && !self.inner.config.allow_cross_region_put_events {
            return Err(put_error(
                "ValidationException",
                format!(
                    "Cross-region API call is not allowed: PutEvents in {} names event bus {bus}",
                    caller.region
                ),
            ));
        }
        let Some(state) = s.buses.get(&bus) else {
            return Err(put_error(
                "ResourceNotFoundException",
                format!("Event bus {} does not exist.", bus.name),
            ));
        };
        if !state
            .policy
            .allows(&bus.account, &caller.account, &e.source, &e.detail_type)
        {
            return Err(put_error(
                "AccessDeniedException",
                format!(
                    "User: arn:aws:iam::{}:root is not authorized to perform: events:PutEvents on resource: {bus} because no resource-based policy allows the events:PutEvents action",
                    caller.account
                ),
            ));
        }
        let detail: Value = match serde_json::from_str(&e.detail) {
            Ok(v @ Value::Object(_)) => v,
            _ => return Err(put_error("MalformedDetail", "Detail is malformed.")),
        };
        if e.source.is_empty() || e.detail_type.is_empty() {
            return Err(put_error(
                "InvalidArgument",
                "Source and DetailType are required.",
            ));
        }
        let mut event = Event::new(
            &e.source,
            &e.detail_type,
            detail,
            &caller.account,
            &caller.region,
            e.time.unwrap_or_else(Utc::now),
        );
        event.resources = e.resources.clone();
        if let Some(id) = &e.event_id {
            event.id = id.clone();
        }
        let id = event.id.clone();
        Self::arrive(
            s,
            &bus,
            Routed {
                event,
                via_bus: false,
            },
        );
        Ok(id)
    }

    /// An event arrives on a bus: every matching rule schedules its targets now.
    fn arrive(s: &mut State, bus: &BusArn, routed: Routed) {
        let Some(b) = s.buses.get_mut(bus) else {
            return;
        };
        b.received.push(routed.event.clone());
        let json = routed.event.to_json();
        let mut work = Vec::new();
        for rule in s.rules.iter().filter(|r| &r.event_bus == bus) {
            if rule.pattern.matches(&json) {
                for t in &rule.targets {
                    work.push(Work::Target {
                        routed: Box::new(routed.clone()),
                        rule_arn: rule.arn(),
                        rule_bus: rule.event_bus.clone(),
                        target: t.clone(),
                        attempt: 1,
                        since: s.now,
                    });
                }
            }
        }
        let now = s.now;
        for w in work {
            Self::schedule(s, now, w);
        }
    }

    fn schedule(s: &mut State, due: Duration, work: Work) {
        s.seq += 1;
        let seq = s.seq;
        s.schedule.push(Scheduled { due, seq, work });
    }

    /// Starts an asynchronous invocation of a registered function (Lambda `Invoke`,
    /// `InvocationType=Event`); returns its request id.
    pub fn invoke_async(&self, function_arn: &str, payload: Value) -> Result<String, InvokeError> {
        let mut s = self.state();
        let Some((f, _)) = s.functions.get(function_arn) else {
            return Err(InvokeError::NotAccepted {
                code: "ResourceNotFoundException".into(),
                message: format!("Function not found: {function_arn}"),
            });
        };
        f.accepting()?;
        let request_id = uuid_v4();
        let now = s.now;
        Self::schedule(
            &mut s,
            now,
            Work::Invoke {
                function: function_arn.to_string(),
                payload,
                request_id: request_id.clone(),
                attempt: 1,
                since: now,
            },
        );
        Ok(request_id)
    }

    fn pull_ingress(&self) {
        let fresh: Vec<kms_sim::RecordedEvent> = {
            let Ok(mut guard) = self.inner.ingress.lock() else {
                return;
            };
            let Some((source, seen)) = guard.as_mut() else {
                return;
            };
            let all = source();
            // The recorder was cleared: start over.
            if all.len() < *seen {
                *seen = 0;
            }
            let fresh = all[*seen..].to_vec();
            *seen = all.len();
            fresh
        };
        for r in fresh {
            let caller = MemberId::new(&r.account, &r.region);
            let entry = PutEntry {
                source: r.source.clone(),
                detail_type: r.detail_type.clone(),
                detail: r.detail.clone(),
                event_bus_name: r.event_bus_name.clone(),
                resources: r.resources.clone(),
                time: r.time.or(r.received_at).map(system_time),
                event_id: Some(r.event_id.clone()),
            };
            let mut s = self.state();
            if let Err(error) = self.put_one(&mut s, &caller, &entry) {
                s.refused.push(RefusedPut {
                    caller,
                    event_bus_name: r.event_bus_name,
                    source: r.source,
                    detail_type: r.detail_type,
                    error,
                });
            }
        }
    }

    /// Runs every delivery and invocation due now, until nothing more is due now (events the
    /// functions publish are pulled from the ingress and routed in the same pass). Returns how
    /// many work items ran.
    pub async fn deliver_due(&self) -> usize {
        let mut ran = 0;
        loop {
            self.pull_ingress();
            let due: Vec<Scheduled> = {
                let mut s = self.state();
                let now = s.now;
                let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut s.schedule)
                    .into_iter()
                    .partition(|w| w.due <= now);
                s.schedule = later;
                due
            };
            if due.is_empty() {
                return ran;
            }
            ran += due.len();
            let mut due = due;
            due.sort_by_key(|w| (w.due, w.seq));
            let runs = due.into_iter().map(|w| self.execute(w.work));
            futures_util::future::join_all(runs).await;
        }
    }

    /// Moves the clock to the next scheduled item; `false` when nothing is scheduled.
    pub fn advance(&self) -> bool {
        let mut s = self.state();
        match s.schedule.iter().map(|w| w.due).min() {
            Some(next) => {
                if next > s.now {
                    s.now = next;
                }
                true
            }
            None => false,
        }
    }

    /// Moves the clock forward by `by` without running anything.
    pub fn sleep(&self, by: Duration) {
        self.state().now += by;
    }

    /// Delivers everything, following every retry, until nothing is scheduled. `max_steps`
    /// bounds the number of clock moves.
    pub async fn run_until_idle(&self, max_steps: usize) -> Result<(), RouterError> {
        for _ in 0..max_steps {
            self.deliver_due().await;
            if !self.advance() {
                return Ok(());
            }
        }
        Err(RouterError::NotIdle(max_steps))
    }

    /// Delivers what falls due within `span` of virtual time, then leaves the clock at its end.
    pub async fn run_for(&self, span: Duration) {
        let end = self.now() + span;
        loop {
            self.deliver_due().await;
            let next = self.state().schedule.iter().map(|w| w.due).min();
            match next {
                Some(n) if n <= end => {
                    self.advance();
                }
                _ => break,
            }
        }
        let mut s = self.state();
        if s.now < end {
            s.now = end;
        }
    }

    /// Scheduled deliveries and invocations not yet run (retries waiting).
    pub fn scheduled(&self) -> usize {
        self.state().schedule.len()
    }

    /// Every delivery attempt so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.state().deliveries.clone()
    }

    /// Every function run so far.
    pub fn invocations(&self) -> Vec<InvocationRecord> {
        self.state().invocations.clone()
    }

    /// PutEvents calls recorded by the local KMS that the router refused.
    pub fn refused_puts(&self) -> Vec<RefusedPut> {
        self.state().refused.clone()
    }

    /// Messages in a queue (a target, a dead-letter queue, an on-failure destination).
    pub fn queue(&self, arn: &str) -> Vec<QueueMessage> {
        self.state().queues.get(arn).cloned().unwrap_or_default()
    }

    /// The lines a log group target received: each event's JSON envelope.
    pub fn log_lines(&self, arn: &str) -> Vec<String> {
        self.state().logs.get(arn).cloned().unwrap_or_default()
    }

    /// Every event that arrived on a bus.
    pub fn bus_events(&self, arn: &BusArn) -> Vec<Event> {
        self.state()
            .buses
            .get(arn)
            .map(|b| b.received.clone())
            .unwrap_or_default()
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let c = &self.inner.config;
        let factor = 1u32 << attempt.saturating_sub(1).min(20);
        let d = c
            .eventbridge_first_backoff
            .saturating_mul(factor)
            .min(c.eventbridge_max_backoff);
        self.jittered(d)
    }

    fn jittered(&self, d: Duration) -> Duration {
        if self.inner.config.jitter {
            let ms = ms(d);
            Duration::from_millis(fastrand::u64(ms / 2..=ms.max(1)))
        } else {
            d
        }
    }

    async fn execute(&self, work: Work) {
        match work {
            Work::Target {
                routed,
                rule_arn,
                rule_bus,
                target,
                attempt,
                since,
            } => self.deliver(routed, rule_arn, rule_bus, target, attempt, since),
            Work::Invoke {
                function,
                payload,
                request_id,
                attempt,
                since,
            } => {
                self.run_invocation(function, payload, request_id, attempt, since)
                    .await
            }
        }
    }

    /// One delivery attempt to a target.
    fn deliver(
        &self,
        routed: Box<Routed>,
        rule_arn: String,
        rule_bus: BusArn,
        target: Target,
        attempt: u32,
        since: Duration,
    ) {
        let mut s = self.state();
        let result: Result<(), (String, bool)> = match kind(&target.arn) {
            Some(Kind::Bus(dest)) => match s.buses.get(&dest) {
                None => Err((format!("ResourceNotFoundException: event bus {dest} does not exist"), false)),
                Some(_) if routed.via_bus => Err((
                    "NotForwarded: an event received from another bus is not sent on to a third bus".to_string(),
                    false,
                )),
                Some(b)
                    if !b.policy.allows(
                        &dest.account,
                        &rule_bus.account,
                        &routed.event.source,
                        &routed.event.detail_type,
                    ) =>
                {
                    Err((
                        format!(
                            "AccessDeniedException: the policy of {dest} does not allow events:PutEvents from {}",
                            rule_bus.account
                        ),
                        false,
                    ))
                }
                Some(_) => {
                    Self::arrive(
                        &mut s,
                        &dest,
                        Routed {
                            event: routed.event.clone(),
                            via_bus: true,
                        },
                    );
                    Ok(())
                }
            },
            Some(Kind::Function) => match s.functions.get(&target.arn) {
                None => Err((format!("ResourceNotFoundException: function {} does not exist", target.arn), false)),
                Some((f, _)) => match f.accepting() {
                    Err(e) => Err((e.to_string(), true)),
                    Ok(()) => {
                        let copies = if s.duplicate_next > 0 {
                            s.duplicate_next -= 1;
                            2
                        } else {
                            1
                        };
                        let now = s.now;
                        for _ in 0..copies {
                            Self::schedule(
                                &mut s,
                                now,
                                Work::Invoke {
                                    function: target.arn.clone(),
                                    payload: routed.event.to_json(),
                                    request_id: uuid_v4(),
                                    attempt: 1,
                                    since: now,
                                },
                            );
                        }
                        Ok(())
                    }
                },
            },
            Some(Kind::Queue) => match s.queues.get_mut(&target.arn) {
                None => Err((format!("ResourceNotFoundException: queue {} does not exist", target.arn), false)),
                Some(q) => {
                    q.push(QueueMessage {
                        body: routed.event.to_json(),
                        attributes: BTreeMap::new(),
                    });
                    Ok(())
                }
            },
            Some(Kind::Log) => match s.logs.get_mut(&target.arn) {
                None => Err((format!("ResourceNotFoundException: log group {} does not exist", target.arn), false)),
                Some(l) => {
                    l.push(routed.event.to_json().to_string());
                    Ok(())
                }
            },
            None => Err((format!("unknown target {}", target.arn), false)),
        };
        let now = s.now;
        let outcome = match result {
            Ok(()) => DeliveryOutcome::Delivered,
            Err((error, retryable)) => {
                let policy = target.retry_policy;
                let next = now + self.backoff(attempt);
                if retryable
                    && attempt <= policy.maximum_retry_attempts
                    && next.saturating_sub(since) < policy.maximum_event_age
                {
                    Self::schedule(
                        &mut s,
                        next,
                        Work::Target {
                            routed: routed.clone(),
                            rule_arn: rule_arn.clone(),
                            rule_bus,
                            target: target.clone(),
                            attempt: attempt + 1,
                            since,
                        },
                    );
                    DeliveryOutcome::Retrying {
                        error,
                        next_at_ms: ms(next),
                    }
                } else if let Some(q) = target
                    .dead_letter_queue
                    .as_ref()
                    .filter(|q| s.queues.contains_key(*q))
                {
                    let (code, message) = match error.split_once(": ") {
                        Some((c, m)) => (c.to_string(), m.to_string()),
                        None => (error.clone(), String::new()),
                    };
                    let attributes = BTreeMap::from([
                        ("ERROR_CODE".to_string(), code),
                        ("ERROR_MESSAGE".to_string(), message),
                        ("RULE_ARN".to_string(), rule_arn.clone()),
                        ("TARGET_ARN".to_string(), target.arn.clone()),
                    ]);
                    let queue = q.clone();
                    if let Some(msgs) = s.queues.get_mut(&queue) {
                        msgs.push(QueueMessage {
                            body: routed.event.to_json(),
                            attributes,
                        });
                    }
                    DeliveryOutcome::DeadLettered { error, queue }
                } else {
                    DeliveryOutcome::Dropped { error }
                }
            }
        };
        s.deliveries.push(Delivery {
            at_ms: ms(now),
            event_id: routed.event.id.clone(),
            detail_type: routed.event.detail_type.clone(),
            rule: rule_arn,
            target: target.arn,
            attempt,
            outcome,
        });
    }

    async fn run_invocation(
        &self,
        function: String,
        payload: Value,
        request_id: String,
        attempt: u32,
        since: Duration,
    ) {
        let entry = self.state().functions.get(&function).cloned();
        let Some((f, config)) = entry else {
            return;
        };
        let ctx = LambdaContext {
            request_id: request_id.clone(),
            invoked_function_arn: function.clone(),
            deadline: Instant::now() + f.timeout(),
            attempt,
        };
        let result = f.invoke(payload.clone(), ctx).await;
        let mut s = self.state();
        let now = s.now;
        let age_ok = |at: Duration| at.saturating_sub(since) < config.maximum_event_age;
        match &result {
            Ok(_) => {}
            // Accepted but the function could not take it: Lambda's queue keeps it (without
            // counting an attempt) until its maximum age.
            Err(InvokeError::NotAccepted { .. }) => {
                let next = now + self.inner.config.lambda_requeue_delay;
                if age_ok(next) {
                    Self::schedule(
                        &mut s,
                        next,
                        Work::Invoke {
                            function: function.clone(),
                            payload: payload.clone(),
                            request_id: request_id.clone(),
                            attempt,
                            since,
                        },
                    );
                } else {
                    Self::on_failure(
                        &mut s,
                        &config,
                        &function,
                        &request_id,
                        attempt,
                        &payload,
                        &result,
                        "EventAgeExceeded",
                    );
                }
            }
            Err(InvokeError::Function { .. }) => {
                let delay = self
                    .inner
                    .config
                    .lambda_retry_delays
                    .get(attempt.saturating_sub(1) as usize)
                    .or(self.inner.config.lambda_retry_delays.last())
                    .copied()
                    .unwrap_or(Duration::from_secs(60));
                let next = now + self.jittered(delay);
                if attempt <= config.maximum_retry_attempts && age_ok(next) {
                    Self::schedule(
                        &mut s,
                        next,
                        Work::Invoke {
                            function: function.clone(),
                            payload: payload.clone(),
                            request_id: request_id.clone(),
                            attempt: attempt + 1,
                            since,
                        },
                    );
                } else {
                    let condition = if attempt <= config.maximum_retry_attempts {
                        "EventAgeExceeded"
                    } else {
                        "RetriesExhausted"
                    };
                    Self::on_failure(
                        &mut s,
                        &config,
                        &function,
                        &request_id,
                        attempt,
                        &payload,
                        &result,
                        condition,
                    );
                }
            }
        }
        let (error, response) = match result {
            Ok(v) => (None, Some(v)),
            Err(e) => (Some(e), None),
        };
        s.invocations.push(InvocationRecord {
            at_ms: ms(now),
            function,
            request_id,
            attempt,
            error,
            response,
        });
    }

    /// Lambda's on-failure destination record.
    #[allow(clippy::too_many_arguments)]
    fn on_failure(
        s: &mut State,
        config: &AsyncInvokeConfig,
        function: &str,
        request_id: &str,
        attempt: u32,
        payload: &Value,
        result: &Result<Value, InvokeError>,
        condition: &str,
    ) {
        let Some(q) = config.on_failure.as_ref() else {
            return;
        };
        let (error_type, error_message) = match result {
            Err(InvokeError::Function {
                error_type,
                error_message,
            }) => (error_type.clone(), error_message.clone()),
            Err(InvokeError::NotAccepted { code, message }) => (code.clone(), message.clone()),
            Ok(_) => return,
        };
        let body = json!({
            "version": "1.0",
            "timestamp": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            "requestContext": {"requestId": request_id, "functionArn": function,
                               "condition": condition, "approximateInvokeCount": attempt},
            "requestPayload": payload,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST",
                                "functionError": "Unhandled"},
            "responsePayload": {"errorType": error_type, "errorMessage": error_message},
        });
        if let Some(msgs) = s.queues.get_mut(q) {
            msgs.push(QueueMessage {
                body,
                attributes: BTreeMap::new(),
            });
        }
    }
}

fn system_time(t: SystemTime) -> DateTime<Utc> {
    DateTime::<Utc>::from(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

    const CENTRAL: &str = "999999999999";
    const MEMBER: &str = "111111111111";

    /// A function that records its payloads and fails its first `fail_first` runs.
    struct Fake {
        arn: String,
        up: AtomicBool,
        fail_first: AtomicU32,
        runs: Mutex<Vec<(Value, LambdaContext)>>,
    }

    impl Fake {
        fn new(member: &MemberId, fail_first: u32) -> Arc<Self> {
            Arc::new(Fake {
                arn: crate::aws::function_arn(member, "guard"),
                up: AtomicBool::new(true),
                fail_first: AtomicU32::new(fail_first),
                runs: Mutex::new(Vec::new()),
            })
        }
        fn runs(&self) -> Vec<(Value, LambdaContext)> {
            self.runs.lock().map(|r| r.clone()).unwrap_or_default()
        }
    }

    impl Function for Fake {
        fn arn(&self) -> &str {
            &self.arn
        }
        fn accepting(&self) -> Result<(), InvokeError> {
            if self.up.load(Ordering::SeqCst) {
                Ok(())
            } else {
                Err(InvokeError::NotAccepted {
                    code: "ServiceException".into(),
                    message: "down".into(),
                })
            }
        }
        fn timeout(&self) -> Duration {
            Duration::from_secs(60)
        }
        fn invoke(
            &self,
            payload: Value,
            ctx: LambdaContext,
        ) -> BoxFuture<'_, Result<Value, InvokeError>> {
            Box::pin(async move {
                if let Ok(mut r) = self.runs.lock() {
                    r.push((payload, ctx));
                }
                let left = self.fail_first.load(Ordering::SeqCst);
                if left > 0 {
                    self.fail_first.store(left - 1, Ordering::SeqCst);
                    return Err(InvokeError::Function {
                        error_type: "KmsMaterialGuard.Retryable".into(),
                        error_message: "try again".into(),
                    });
                }
                Ok(json!({"ok": true}))
            })
        }
    }

    fn central_bus() -> BusArn {
        BusArn::new("us-east-1", CENTRAL, "org")
    }

    fn pattern() -> Pattern {
        Pattern::parse(&json!({"source": ["incident-response"],
                               "detail-type": ["Key Material Revocation Requested"]}))
        .expect("valid")
    }

    /// Central bus -> member bus (eu-west-1) -> member function.
    fn org(fail_first: u32) -> (Router, Arc<Fake>, BusArn) {
        let router = Router::default();
        let member = MemberId::new(MEMBER, "eu-west-1");
        let member_bus = BusArn::default_bus(&member);
        router
            .add_bus(&central_bus(), BusPolicy::allow(&[MEMBER]))
            .expect("bus");
        router
            .add_bus(&member_bus, BusPolicy::allow(&[CENTRAL]))
            .expect("bus");
        router
            .put_rule(
                Rule::new("fan-out", &central_bus(), pattern()).target(
                    Target::new("m1", &member_bus.to_string())
                        .with_dead_letter_queue("arn:aws:sqs:us-east-1:999999999999:fanout-dlq"),
                ),
            )
            .expect("rule");
        let f = Fake::new(&member, fail_first);
        router
            .add_function(
                f.clone(),
                AsyncInvokeConfig {
                    on_failure: Some("arn:aws:sqs:eu-west-1:111111111111:invoke-failures".into()),
                    ..AsyncInvokeConfig::default()
                },
            )
            .expect("function");
        router
            .put_rule(
                Rule::new("incident", &member_bus, pattern()).target(
                    Target::new("guard", &f.arn)
                        .with_retry(8, Duration::from_secs(3600))
                        .with_dead_letter_queue("arn:aws:sqs:eu-west-1:111111111111:rule-dlq"),
                ),
            )
            .expect("rule");
        (router, f, member_bus)
    }

    fn raise(router: &Router) -> Vec<Result<String, PutError>> {
        router.put_events(
            &MemberId::new(CENTRAL, "us-east-1"),
            &[PutEntry::new(
                "incident-response",
                "Key Material Revocation Requested",
                &json!({"incidentId": "INC-1"}),
                &central_bus().to_string(),
            )],
        )
    }

    #[tokio::test]
    async fn forwarding_across_account_and_region_keeps_the_original_envelope() {
        // GIVEN the central bus forwarding to a member bus in another account and Region
        let (router, f, member_bus) = org(0);
        // WHEN the central account raises a request
        let ids = raise(&router);
        let id = ids[0].clone().expect("accepted");
        router.run_until_idle(100).await.expect("idle");
        // THEN the member function receives the event with the central account and Region,
        // the same id, and a Lambda-like context
        let runs = f.runs();
        assert_eq!(runs.len(), 1);
        let (payload, ctx) = &runs[0];
        assert_eq!(payload["account"], CENTRAL);
        assert_eq!(payload["region"], "us-east-1");
        assert_eq!(payload["id"], id.as_str());
        assert_eq!(payload["detail"]["incidentId"], "INC-1");
        assert_eq!(ctx.attempt, 1);
        assert_eq!(ctx.invoked_function_arn, f.arn);
        assert_eq!(ctx.request_id.len(), 36);
        assert_eq!(router.bus_events(&member_bus).len(), 1);
    }

    #[tokio::test]
    async fn a_down_function_is_retried_by_eventbridge_then_dead_lettered() {
        // GIVEN a member whose Invoke API does not accept events
        let (router, f, _) = org(0);
        f.up.store(false, Ordering::SeqCst);
        raise(&router);
        // WHEN the first delivery runs
        router.deliver_due().await;
        // THEN it failed and a retry is scheduled; nothing ran
        assert!(f.runs().is_empty());
        assert_eq!(router.scheduled(), 1);
        // WHEN it stays down through every retry
        router.run_until_idle(100).await.expect("idle");
        // THEN 1 + 8 attempts were made and the event is in the rule's dead-letter queue
        let attempts: Vec<_> = router
            .deliveries()
            .into_iter()
            .filter(|d| d.target == f.arn)
            .collect();
        assert_eq!(attempts.len(), 9);
        let dlq = router.queue("arn:aws:sqs:eu-west-1:111111111111:rule-dlq");
        assert_eq!(dlq.len(), 1);
        assert_eq!(
            dlq[0].attributes.get("ERROR_CODE").map(String::as_str),
            Some("ServiceException")
        );
        assert_eq!(dlq[0].body["detail"]["incidentId"], "INC-1");
        // AND the backoff doubled (virtual time: 1 + 2 + ... + 128 s)
        assert_eq!(router.now(), Duration::from_secs(255));
    }

    #[tokio::test]
    async fn a_down_function_that_comes_back_gets_the_retry() {
        let (router, f, _) = org(0);
        f.up.store(false, Ordering::SeqCst);
        raise(&router);
        router.deliver_due().await;
        assert!(f.runs().is_empty());
        // WHEN it comes back before the next retry
        f.up.store(true, Ordering::SeqCst);
        router.run_until_idle(100).await.expect("idle");
        // THEN the retry delivers it once
        assert_eq!(f.runs().len(), 1);
        assert!(
            router
                .queue("arn:aws:sqs:eu-west-1:111111111111:rule-dlq")
                .is_empty()
        );
    }

    #[tokio::test]
    async fn function_errors_are_retried_by_lambda_with_the_same_request_id() {
        // GIVEN a function failing its first two runs
        let (router, f, _) = org(2);
        raise(&router);
        router.run_until_idle(100).await.expect("idle");
        // THEN Lambda ran it three times with one request id, 1 then 2 minutes apart
        let runs = f.runs();
        assert_eq!(runs.len(), 3);
        assert!(
            runs.iter()
                .all(|(_, c)| c.request_id == runs[0].1.request_id)
        );
        assert_eq!(
            runs.iter().map(|(_, c)| c.attempt).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert_eq!(router.now(), Duration::from_secs(180));
        assert!(
            router
                .queue("arn:aws:sqs:eu-west-1:111111111111:invoke-failures")
                .is_empty()
        );
    }

    #[tokio::test]
    async fn exhausted_function_retries_reach_the_on_failure_destination() {
        let (router, f, _) = org(5);
        raise(&router);
        router.run_until_idle(100).await.expect("idle");
        assert_eq!(f.runs().len(), 3);
        let failed = router.queue("arn:aws:sqs:eu-west-1:111111111111:invoke-failures");
        assert_eq!(failed.len(), 1);
        assert_eq!(
            failed[0].body["requestContext"]["condition"],
            "RetriesExhausted"
        );
        assert_eq!(
            failed[0].body["requestContext"]["approximateInvokeCount"],
            3
        );
        assert_eq!(
            failed[0].body["responsePayload"]["errorType"],
            "KmsMaterialGuard.Retryable"
        );
        assert_eq!(
            failed[0].body["requestPayload"]["detail"]["incidentId"],
            "INC-1"
        );
    }

    #[tokio::test]
    async fn duplicate_delivery_invokes_twice_with_distinct_request_ids() {
        let (router, f, _) = org(0);
        router.duplicate_next_deliveries(1);
        raise(&router);
        router.run_until_idle(100).await.expect("idle");
        let runs = f.runs();
        assert_eq!(runs.len(), 2);
        assert_ne!(runs[0].1.request_id, runs[1].1.request_id);
        assert_eq!(runs[0].0["id"], runs[1].0["id"], "the same event");
    }

    #[tokio::test]
    async fn bus_policies_guard_both_directions() {
        // GIVEN a member bus that does not trust the central account
        let (router, f, member_bus) = org(0);
        router
            .set_bus_policy(&member_bus, BusPolicy::own_account())
            .expect("policy");
        // WHEN the central account raises a request
        raise(&router);
        router.run_until_idle(100).await.expect("idle");
        // THEN the forward is refused without retries and dead-lettered centrally
        assert!(f.runs().is_empty());
        let dlq = router.queue("arn:aws:sqs:us-east-1:999999999999:fanout-dlq");
        assert_eq!(dlq.len(), 1);
        assert_eq!(
            dlq[0].attributes.get("ERROR_CODE").map(String::as_str),
            Some("AccessDeniedException")
        );
        // AND an account the central bus does not trust cannot put events on it
        let stranger = router.put_events(
            &MemberId::new("444444444444", "us-east-1"),
            &[PutEntry::new(
                "kms-material-guard",
                "Key Material Audit Record",
                &json!({}),
                &central_bus().to_string(),
            )],
        );
        assert_eq!(
            stranger[0].as_ref().map_err(|e| e.code.as_str()),
            Err("AccessDeniedException")
        );
        // AND PutEvents from another Region's endpoint naming the central bus is refused
        let other_region = router.put_events(
            &MemberId::new(MEMBER, "eu-west-1"),
            &[PutEntry::new(
                "kms-material-guard",
                "Key Material Audit Record",
                &json!({}),
                &central_bus().to_string(),
            )],
        );
        assert_eq!(
            other_region[0].as_ref().map_err(|e| e.code.as_str()),
            Err("ValidationException")
        );
        // AND a bus policy conditioned on source and detail-type admits only those
        router
            .set_bus_policy(
                &central_bus(),
                BusPolicy::own_account().grant(
                    &[MEMBER],
                    Some(&["kms-material-guard"]),
                    Some(&["Key Material Audit Record"]),
                ),
            )
            .expect("policy");
        let request = router.put_events(
            &MemberId::new(MEMBER, "us-east-1"),
            &[PutEntry::new(
                "incident-response",
                "Key Material Revocation Requested",
                &json!({}),
                &central_bus().to_string(),
            )],
        );
        assert_eq!(
            request[0].as_ref().map_err(|e| e.code.as_str()),
            Err("AccessDeniedException")
        );
        // AND the member itself can put its audit records, from the central bus's Region
        let ok = router.put_events(
            &MemberId::new(MEMBER, "us-east-1"),
            &[PutEntry::new(
                "kms-material-guard",
                "Key Material Audit Record",
                &json!({}),
                &central_bus().to_string(),
            )],
        );
        assert!(ok[0].is_ok());
    }

    #[tokio::test]
    async fn events_received_from_another_bus_are_not_sent_on_to_a_third() {
        // GIVEN the member bus forwarding requests on to a third account's bus
        let (router, _, member_bus) = org(0);
        let third = BusArn::new("eu-west-1", "333333333333", "default");
        router
            .add_bus(&third, BusPolicy::allow(&[MEMBER, CENTRAL]))
            .expect("bus");
        router
            .put_rule(
                Rule::new("onward", &member_bus, pattern())
                    .target(Target::new("t", &third.to_string())),
            )
            .expect("rule");
        raise(&router);
        router.run_until_idle(100).await.expect("idle");
        // THEN the third bus never sees it
        assert!(router.bus_events(&third).is_empty());
        assert!(router.deliveries().iter().any(|d| matches!(&d.outcome, DeliveryOutcome::Dropped { error } if error.starts_with("NotForwarded"))));
    }

    #[tokio::test]
    async fn rules_are_validated_like_put_rule_and_put_targets() {
        let router = Router::default();
        router
            .add_bus(&central_bus(), BusPolicy::own_account())
            .expect("bus");
        let mut rule = Rule::new("six", &central_bus(), pattern());
        for i in 0..6 {
            rule = rule.target(Target::new(
                &format!("t{i}"),
                "arn:aws:sqs:us-east-1:999999999999:q",
            ));
        }
        assert!(matches!(
            router.put_rule(rule),
            Err(RouterError::TooManyTargets { count: 6, .. })
        ));
        let unknown = Rule::new("u", &central_bus(), pattern())
            .target(Target::new("t", "arn:aws:s3:::bucket"));
        assert!(matches!(
            router.put_rule(unknown),
            Err(RouterError::UnknownTarget(_))
        ));
        let nobus = Rule::new("n", &BusArn::new("us-east-1", CENTRAL, "nope"), pattern());
        assert!(matches!(
            router.put_rule(nobus),
            Err(RouterError::NoSuchBus(_))
        ));
        router
            .put_rule(Rule::new("r", &central_bus(), pattern()))
            .expect("first");
        assert!(matches!(
            router.put_rule(Rule::new("r", &central_bus(), pattern())),
            Err(RouterError::RuleExists(_))
        ));
        assert_eq!(
            Rule::new("r", &central_bus(), pattern()).arn(),
            "arn:aws:events:us-east-1:999999999999:rule/org/r"
        );
    }

    #[tokio::test]
    async fn log_group_targets_store_the_envelope_and_run_for_stops_at_its_end() {
        let router = Router::default();
        router
            .add_bus(&central_bus(), BusPolicy::own_account())
            .expect("bus");
        let log = "arn:aws:logs:us-east-1:999999999999:log-group:/org/audit";
        router.add_log_group(log);
        router
            .put_rule(
                Rule::new(
                    "audit",
                    &central_bus(),
                    Pattern::parse(&json!({"source": ["kms-material-guard"]})).expect("p"),
                )
                .target(Target::new("log", log)),
            )
            .expect("rule");
        let caller = MemberId::new(CENTRAL, "us-east-1");
        router.put_events(
            &caller,
            &[PutEntry::new(
                "kms-material-guard",
                "Key Material Audit Record",
                &json!({"a": 1}),
                "org",
            )],
        );
        router.put_events(
            &caller,
            &[PutEntry::new("other", "x", &json!({"a": 2}), "org")],
        );
        router.run_for(Duration::from_secs(10)).await;
        let lines = router.log_lines(log);
        assert_eq!(lines.len(), 1);
        let v: Value = serde_json::from_str(&lines[0]).expect("json");
        assert_eq!(v["detail"]["a"], 1);
        assert_eq!(v["detail-type"], "Key Material Audit Record");
        assert_eq!(router.now(), Duration::from_secs(10));
    }
}
