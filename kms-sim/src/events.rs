//! An EventBridge `PutEvents` recorder (`X-Amz-Target: AWSEvents.PutEvents`).

use std::sync::Mutex;
use std::time::SystemTime;

use serde::Serialize;
use serde_json::{Value, json};

use crate::clock::{epoch_seconds, from_epoch_seconds, parse_rfc3339};
use crate::error::KmsError;
use crate::faults::FaultKind;
use crate::store::Caller;

/// One PutEvents entry as received.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedEvent {
    /// The `EventId` returned for it.
    pub event_id: String,
    /// Account of the caller (from the access key).
    pub account: String,
    /// Region of the caller.
    pub region: String,
    /// `Source`.
    pub source: String,
    /// `DetailType`.
    pub detail_type: String,
    /// `Detail` (a JSON object, as a string).
    pub detail: String,
    /// `EventBusName` (`None` = the default bus).
    pub event_bus_name: Option<String>,
    /// `Resources`.
    pub resources: Vec<String>,
    /// `Time`, when the caller set it.
    #[serde(serialize_with = "ser_time")]
    pub time: Option<SystemTime>,
    /// When the simulator received it (simulated clock).
    #[serde(serialize_with = "ser_time")]
    pub received_at: Option<SystemTime>,
}

fn ser_time<S: serde::Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_f64(epoch_seconds(*t)),
        None => s.serialize_none(),
    }
}

impl RecordedEvent {
    /// `Detail` parsed as JSON (`Value::Null` if it is not JSON, which the recorder rejects
    /// anyway).
    pub fn detail_json(&self) -> Value {
        serde_json::from_str(&self.detail).unwrap_or(Value::Null)
    }
}

/// The recorded events.
#[derive(Debug, Default)]
pub struct EventRecorder {
    events: Mutex<Vec<RecordedEvent>>,
}

impl EventRecorder {
    /// Every recorded event, oldest first.
    pub fn events(&self) -> Vec<RecordedEvent> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Forgets every recorded event.
    pub fn clear(&self) {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Handles one PutEvents request body. `fail_entries` is an injected partial failure.
    pub(crate) fn put_events(
        &self,
        caller: &Caller,
        body: &Value,
        now: SystemTime,
        fail_entries: Option<&FaultKind>,
    ) -> Result<Value, KmsError> {
        let entries = match body.get("Entries") {
            Some(Value::Array(a)) => a,
            None | Some(Value::Null) => return Err(KmsError::missing("entries")),
            Some(_) => {
                return Err(KmsError::client(
                    "SerializationException",
                    "Entries must be a list",
                ));
            }
        };
        if entries.is_empty() || entries.len() > 10 {
            return Err(KmsError::constraint(
                &format!("{} entries", entries.len()),
                "entries",
                "Member must have length less than or equal to 10 and greater than or equal to 1",
            ));
        }
        let total: usize = entries.iter().map(|e| e.to_string().len()).sum();
        if total > 256 * 1024 {
            return Err(KmsError::validation(
                "Total size of the entries in the request is over the limit.",
            ));
        }
        let mut results = Vec::with_capacity(entries.len());
        let mut failed = 0;
        let mut recorded = Vec::new();
        for entry in entries {
            if let Some(FaultKind::FailEntries { code, message }) = fail_entries {
                failed += 1;
                results.push(json!({"ErrorCode": code, "ErrorMessage": message}));
                continue;
            }
            match parse_entry(entry, caller, now) {
                Ok(ev) => {
                    results.push(json!({"EventId": ev.event_id}));
                    recorded.push(ev);
                }
                Err((code, message)) => {
                    failed += 1;
                    results.push(json!({"ErrorCode": code, "ErrorMessage": message}));
                }
            }
        }
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(recorded);
        Ok(json!({"FailedEntryCount": failed, "Entries": results}))
    }
}

fn parse_entry(
    entry: &Value,
    caller: &Caller,
    now: SystemTime,
) -> Result<RecordedEvent, (String, String)> {
    let required = |name: &str| -> Result<String, (String, String)> {
        match entry.get(name).and_then(Value::as_str) {
            Some(s) if !s.is_empty() => Ok(s.to_string()),
            _ => Err((
                "InvalidArgument".to_string(),
                format!("Parameter {name} is not valid. Reason: {name} is a required argument."),
            )),
        }
    };
    let source = required("Source")?;
    let detail_type = required("DetailType")?;
    let detail = required("Detail")?;
    match serde_json::from_str::<Value>(&detail) {
        Ok(Value::Object(_)) => {}
        _ => {
            return Err((
                "MalformedDetail".to_string(),
                "Detail is malformed.".to_string(),
            ));
        }
    }
    let resources = match entry.get("Resources") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|r| r.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or((
                "InvalidArgument".to_string(),
                "Parameter Resources is not valid.".to_string(),
            ))?,
        Some(_) => {
            return Err((
                "InvalidArgument".to_string(),
                "Parameter Resources is not valid.".to_string(),
            ));
        }
    };
    let time = match entry.get("Time") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_f64().and_then(from_epoch_seconds),
        Some(Value::String(s)) => parse_rfc3339(s),
        Some(_) => None,
    };
    Ok(RecordedEvent {
        event_id: uuid::Uuid::new_v4().to_string(),
        account: caller.account.clone(),
        region: caller.region.clone(),
        source,
        detail_type,
        detail,
        event_bus_name: entry
            .get("EventBusName")
            .and_then(Value::as_str)
            .map(str::to_string),
        resources,
        time,
        received_at: Some(now),
    })
}
