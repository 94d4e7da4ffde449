//! PutEvents: an entry is checked like EventBridge's Regional endpoint does (the bus, the
//! Region, the bus policy, the detail) and routed to the bus's matching rules; the entries the
//! local KMS recorded are pulled and put the same way.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::journal::{PutError, RefusedPut};
use super::policy::Arrival;
use super::state::{Routed, Router, State};
use crate::aws::{BusArn, Event, MemberId};

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

    /// The entry as the local KMS recorded it (its PutEvents call was answered with this id).
    fn recorded(r: &kms_sim::RecordedEvent) -> Self {
        PutEntry {
            source: r.source.clone(),
            detail_type: r.detail_type.clone(),
            detail: r.detail.clone(),
            event_bus_name: r.event_bus_name.clone(),
            resources: r.resources.clone(),
            time: r.time.or(r.received_at).map(DateTime::<Utc>::from),
            event_id: Some(r.event_id.clone()),
        }
    }
}

impl Router {
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
        let bus = self.bus_of(caller, e)?;
        admit(s, &bus, caller, e)?;
        let event = event_of(caller, e)?;
        let id = event.id.clone();
        s.arrive(
            &bus,
            Routed {
                event,
                via_bus: false,
            },
        );
        Ok(id)
    }

    /// The bus an entry names, on the endpoint's Region.
    fn bus_of(&self, caller: &MemberId, e: &PutEntry) -> Result<BusArn, PutError> {
        let bus = match e.event_bus_name.as_deref() {
            None | Some("") | Some("default") => BusArn::default_bus(caller),
            Some(name) if name.starts_with("arn:") => BusArn::parse(name)
                .map_err(|err| PutError::new("ValidationException", err.to_string()))?,
            Some(name) => BusArn::new(&caller.region, &caller.account, name),
        };
        if bus.region != caller.region && !self.config().allow_cross_region_put_events {
            return Err(PutError::new(
                "ValidationException",
                format!(
                    "Cross-region API call is not allowed: PutEvents in {} names event bus {bus}",
                    caller.region
                ),
            ));
        }
        Ok(bus)
    }

    /// Routes the PutEvents calls the local KMS recorded since the last pull; the ones the
    /// router refuses are kept in `refused_puts`.
    pub(super) fn pull_ingress(&self) {
        for r in self.fresh_ingress() {
            let caller = MemberId::new(&r.account, &r.region);
            let entry = PutEntry::recorded(&r);
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

    fn fresh_ingress(&self) -> Vec<kms_sim::RecordedEvent> {
        let Ok(mut guard) = self.inner.ingress.lock() else {
            return Vec::new();
        };
        let Some((source, seen)) = guard.as_mut() else {
            return Vec::new();
        };
        let all = source();
        // The recorder was cleared: start over.
        if all.len() < *seen {
            *seen = 0;
        }
        let fresh = all[*seen..].to_vec();
        *seen = all.len();
        fresh
    }
}

/// The bus exists and its policy admits the caller for this source and detail-type.
fn admit(s: &State, bus: &BusArn, caller: &MemberId, e: &PutEntry) -> Result<(), PutError> {
    let Some(state) = s.buses.get(bus) else {
        return Err(PutError::new(
            "ResourceNotFoundException",
            format!("Event bus {} does not exist.", bus.name),
        ));
    };
    if !state.policy.allows(
        &bus.account,
        &caller.account,
        &e.source,
        &e.detail_type,
        Arrival::Direct,
    ) {
        return Err(PutError::new(
            "AccessDeniedException",
            format!(
                "User: arn:aws:iam::{}:root is not authorized to perform: events:PutEvents on resource: {bus} because no resource-based policy allows the events:PutEvents action",
                caller.account
            ),
        ));
    }
    Ok(())
}

/// The event EventBridge makes of an entry: `Detail` must be a JSON object, `Source` and
/// `DetailType` are required.
fn event_of(caller: &MemberId, e: &PutEntry) -> Result<Event, PutError> {
    let detail: Value = match serde_json::from_str(&e.detail) {
        Ok(v @ Value::Object(_)) => v,
        _ => return Err(PutError::new("MalformedDetail", "Detail is malformed.")),
    };
    if e.source.is_empty() || e.detail_type.is_empty() {
        return Err(PutError::new(
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
    Ok(event)
}
