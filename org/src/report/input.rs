//! The report's input: audit records, summaries and requests found in any of the accepted
//! shapes of text (the `report` module documentation), deduplicated and counted.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::Serialize;
use serde_json::Value;

use super::names::{AUDIT_DETAIL_TYPE, REQUEST_DETAIL_TYPE, SUMMARY_DETAIL_TYPE};
use super::records::{AuditView, RequestView, SummaryView, text};
use crate::aws::MemberId;

/// What the input held.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InputStats {
    pub lines: usize,
    pub audit_records: usize,
    pub summaries: usize,
    pub requests: usize,
    /// Records and summaries that came without an EventBridge envelope (a member's own log
    /// group, the function's stdout): nothing vouches for the account and Region they name.
    pub unvouched: usize,
    pub duplicates: usize,
    /// JSON values that are neither records, summaries nor requests (other log lines, metrics).
    pub ignored: usize,
    /// Text that looked like JSON but did not parse.
    pub unreadable: usize,
}

/// Parsed report input (any number of sources added one after the other).
#[derive(Debug, Default)]
pub struct Input {
    pub(super) audits: Vec<AuditView>,
    pub(super) summaries: Vec<SummaryView>,
    pub(super) requests: Vec<RequestView>,
    /// Requests seen.
    seen: HashSet<String>,
    /// Records and summaries seen, by content: the envelope each copy came in and where it
    /// was kept (its index in `audits` or `summaries`).
    kept: HashMap<String, Vec<(Option<MemberId>, usize)>>,
    order: usize,
    pub stats: InputStats,
}

/// How deep arrays, strings and log events holding records may nest.
const MAX_DEPTH: usize = 4;

impl Input {
    pub fn new() -> Self {
        Input::default()
    }

    /// Parses one source's text.
    pub fn from_text(text: &str) -> Self {
        let mut input = Input::new();
        input.add_text(text);
        input
    }

    /// Adds one source's text (module documentation: accepted shapes).
    pub fn add_text(&mut self, text: &str) {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return;
        }
        // The whole text as one JSON document (an array, filter-log-events' answer), when it
        // is not simply one record per line.
        if (trimmed.starts_with('[') || trimmed.starts_with('{'))
            && let Ok(v) = serde_json::from_str::<Value>(trimmed)
        {
            self.stats.lines += trimmed.lines().count();
            self.add_value(&v, 0);
            return;
        }
        for line in trimmed.lines().map(str::trim).filter(|l| !l.is_empty()) {
            self.stats.lines += 1;
            match serde_json::from_str::<Value>(line) {
                Ok(v) => self.add_value(&v, 0),
                Err(_) => self.add_tab_separated(line),
            }
        }
    }

    /// A line of several JSON values separated by tabs (the CLI's `--output text`).
    fn add_tab_separated(&mut self, line: &str) {
        for piece in line.split('\t').map(str::trim).filter(|p| !p.is_empty()) {
            match serde_json::from_str::<Value>(piece) {
                Ok(v) => self.add_value(&v, 0),
                Err(_) if piece.starts_with('{') || piece.starts_with('[') => {
                    self.stats.unreadable += 1
                }
                Err(_) => self.stats.ignored += 1,
            }
        }
    }

    fn add_value(&mut self, v: &Value, depth: usize) {
        if depth > MAX_DEPTH {
            self.stats.ignored += 1;
            return;
        }
        match v {
            Value::Array(items) => {
                for item in items {
                    self.add_value(item, depth + 1);
                }
            }
            Value::String(s) => match serde_json::from_str::<Value>(s) {
                Ok(inner @ (Value::Object(_) | Value::Array(_))) => {
                    self.add_value(&inner, depth + 1)
                }
                Ok(_) => self.stats.ignored += 1,
                Err(_) if s.trim_start().starts_with('{') => self.stats.unreadable += 1,
                Err(_) => self.stats.ignored += 1,
            },
            Value::Object(_) => self.add_object(v, depth),
            _ => self.stats.ignored += 1,
        }
    }

    /// A JSON object: filter-log-events' answer, an EventBridge envelope, a PutEvents entry, a
    /// bare record or summary, or a structured log line wrapping one.
    fn add_object(&mut self, o: &Value, depth: usize) {
        if let Some(Value::Array(events)) = o.get("events") {
            for e in events {
                match e.get("message") {
                    Some(m) => self.add_value(m, depth + 1),
                    None => self.stats.ignored += 1,
                }
            }
        } else if let (Some(Value::String(dt)), Some(detail @ Value::Object(_))) =
            (o.get("detail-type"), o.get("detail"))
        {
            self.add_envelope(o, dt, detail);
        } else if let (Some(Value::String(dt)), Some(Value::String(detail))) =
            (o.get("DetailType"), o.get("Detail"))
        {
            self.add_put_events_entry(dt, detail);
        } else {
            match o.get("log_type").and_then(Value::as_str) {
                Some("audit") => self.add_audit(o, None),
                Some("summary") => self.add_summary(o, None),
                _ => match o.get("message") {
                    // A structured log line wrapping the record.
                    Some(m @ (Value::Object(_) | Value::String(_))) => self.add_value(m, depth + 1),
                    _ => self.stats.ignored += 1,
                },
            }
        }
    }

    /// An EventBridge event (an archive, the central log group) whose `detail` is the record;
    /// its `account` and `region` are where the member published it (set by EventBridge).
    fn add_envelope(&mut self, o: &Value, detail_type: &str, detail: &Value) {
        let envelope = match (o.get("account"), o.get("region")) {
            (Some(Value::String(a)), Some(Value::String(r))) => Some(MemberId::new(a, r)),
            _ => None,
        };
        match detail_type {
            AUDIT_DETAIL_TYPE => self.add_audit(detail, envelope),
            SUMMARY_DETAIL_TYPE => self.add_summary(detail, envelope),
            REQUEST_DETAIL_TYPE => self.add_request(detail, text(o, "id")),
            _ => self.stats.ignored += 1,
        }
    }

    /// A PutEvents entry (`aws events put-events --entries file://entries.json`): the
    /// responder's own request file.
    fn add_put_events_entry(&mut self, detail_type: &str, detail: &str) {
        match (detail_type, serde_json::from_str::<Value>(detail)) {
            (REQUEST_DETAIL_TYPE, Ok(d @ Value::Object(_))) => self.add_request(&d, None),
            (AUDIT_DETAIL_TYPE, Ok(d @ Value::Object(_))) => self.add_audit(&d, None),
            (SUMMARY_DETAIL_TYPE, Ok(d @ Value::Object(_))) => self.add_summary(&d, None),
            (_, Err(_)) => self.stats.unreadable += 1,
            _ => self.stats.ignored += 1,
        }
    }

    /// Whether the request `v` is new (else it is counted as a duplicate).
    fn first_time(&mut self, v: &Value) -> bool {
        let new = self.seen.insert(v.to_string());
        if !new {
            self.stats.duplicates += 1;
        }
        new
    }

    /// What to do with a record or summary `d` of `kind` that came in `envelope`: keep it as
    /// new (`Keep::New`), give an envelope to the bare copy kept earlier (the same record from
    /// a member's log group and from the central bus), or drop it as a duplicate. The same
    /// content under another envelope is kept apart: a copy published by another account is
    /// that account's (and disowned), it does not hide the genuine one.
    fn place(&mut self, d: &Value, kind: &str, envelope: &Option<MemberId>) -> Keep {
        let key = format!("{kind}:{d}");
        let copies = self.kept.get(&key).map(Vec::as_slice).unwrap_or_default();
        let bare = copies.iter().position(|(e, _)| e.is_none());
        let keep = if copies.iter().any(|(e, _)| e == envelope)
            || (envelope.is_none() && !copies.is_empty())
        {
            Keep::Duplicate
        } else if let (Some(i), Some(_)) = (bare, envelope) {
            Keep::Vouch(copies[i].1)
        } else {
            Keep::New
        };
        match keep {
            Keep::Duplicate => self.stats.duplicates += 1,
            Keep::Vouch(at) => {
                self.stats.duplicates += 1;
                self.stats.unvouched -= 1;
                if let Some(c) = self
                    .kept
                    .get_mut(&key)
                    .and_then(|c| c.iter_mut().find(|c| c.1 == at && c.0.is_none()))
                {
                    c.0 = envelope.clone();
                }
            }
            Keep::New => {}
        }
        keep
    }

    /// Remembers where a new copy was kept.
    fn kept_at(&mut self, d: &Value, kind: &str, envelope: Option<MemberId>, at: usize) {
        if envelope.is_none() {
            self.stats.unvouched += 1;
        }
        self.kept
            .entry(format!("{kind}:{d}"))
            .or_default()
            .push((envelope, at));
        self.order += 1;
    }

    fn add_audit(&mut self, d: &Value, envelope: Option<MemberId>) {
        let Some(view) = AuditView::read(d, envelope.clone()) else {
            self.stats.ignored += 1;
            return;
        };
        match self.place(d, "audit", &envelope) {
            Keep::Duplicate => {}
            Keep::Vouch(at) => self.audits[at].envelope = envelope,
            Keep::New => {
                self.kept_at(d, "audit", envelope, self.audits.len());
                self.stats.audit_records += 1;
                self.audits.push(AuditView {
                    order: self.order,
                    ..view
                });
            }
        }
    }

    fn add_summary(&mut self, d: &Value, envelope: Option<MemberId>) {
        let Some(view) = SummaryView::read(d, envelope.clone()) else {
            self.stats.ignored += 1;
            return;
        };
        match self.place(d, "summary", &envelope) {
            Keep::Duplicate => {}
            Keep::Vouch(at) => {
                self.summaries[at] = SummaryView {
                    order: self.summaries[at].order,
                    ..view
                }
            }
            Keep::New => {
                self.kept_at(d, "summary", envelope, self.summaries.len());
                self.stats.summaries += 1;
                self.summaries.push(SummaryView {
                    order: self.order,
                    ..view
                });
            }
        }
    }

    fn add_request(&mut self, d: &Value, event_id: Option<String>) {
        if self.first_time(d) {
            self.stats.requests += 1;
            self.requests.push(RequestView::read(d, event_id));
        }
    }

    /// Incident ids present in the input.
    pub fn incidents(&self) -> BTreeSet<String> {
        self.audits
            .iter()
            .filter_map(|a| a.incident_id.clone())
            .chain(self.summaries.iter().filter_map(|s| s.incident_id.clone()))
            .collect()
    }
}

/// What becomes of a record or summary read from the input.
enum Keep {
    New,
    /// The bare copy kept at this index gets the envelope.
    Vouch(usize),
    Duplicate,
}
