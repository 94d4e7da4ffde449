//! The inventory: the member deployments (account x Region, with their organizational units)
//! expected to answer, read from our own format or from `aws cloudformation
//! list-stack-instances`.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::aws::{MemberId, is_account, is_region};

/// The report's input problems.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("inventory: {0}")]
    Inventory(String),
}

/// One expected member deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InventoryMember {
    pub account: String,
    pub region: String,
    #[serde(rename = "organizationalUnits")]
    pub organizational_units: Vec<String>,
    /// The stack instance status, when the inventory came from `list-stack-instances`.
    #[serde(rename = "stackStatus", skip_serializing_if = "Option::is_none")]
    pub stack_status: Option<String>,
}

/// The member deployments expected to answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Inventory {
    pub members: Vec<InventoryMember>,
}

/// Which of the two shapes an inventory has.
#[derive(Clone, Copy)]
enum Style {
    Ours,
    StackInstances,
}

fn invalid(message: impl Into<String>) -> ReportError {
    ReportError::Inventory(message.into())
}

impl Inventory {
    /// Parses one of the accepted inventory shapes: `{"members": [{"account", "region",
    /// "organizationalUnits": [...]}]}`, a bare array of those, or the JSON answer of `aws
    /// cloudformation list-stack-instances` (`{"Summaries": [{"Account", "Region",
    /// "OrganizationalUnitId", "Status"}]}`). Entries of one member are merged.
    pub fn parse(text: &str) -> Result<Inventory, ReportError> {
        let v: Value = serde_json::from_str(text).map_err(|e| invalid(format!("not JSON: {e}")))?;
        let (items, style) = entries(&v)?;
        let mut by_member: BTreeMap<MemberId, InventoryMember> = BTreeMap::new();
        for (i, item) in items.iter().enumerate() {
            let read = read_entry(i, item, style)?;
            let entry = by_member
                .entry(MemberId::new(&read.account, &read.region))
                .or_insert_with(|| InventoryMember {
                    organizational_units: Vec::new(),
                    ..read.clone()
                });
            for u in read.organizational_units {
                if !entry.organizational_units.contains(&u) {
                    entry.organizational_units.push(u);
                }
            }
        }
        Ok(Inventory {
            members: by_member.into_values().collect(),
        })
    }

    /// The expected member deployment of `m`.
    pub(super) fn get(&self, m: &MemberId) -> Option<&InventoryMember> {
        self.members
            .iter()
            .find(|x| x.account == m.account && x.region == m.region)
    }
}

/// The entries of the document, and its shape.
fn entries(v: &Value) -> Result<(&[Value], Style), ReportError> {
    match v {
        Value::Array(a) => Ok((a.as_slice(), Style::Ours)),
        Value::Object(o) => match (o.get("members"), o.get("Summaries")) {
            (Some(Value::Array(a)), _) => Ok((a.as_slice(), Style::Ours)),
            (_, Some(Value::Array(a))) => Ok((a.as_slice(), Style::StackInstances)),
            _ => Err(invalid(
                "expected {\"members\": [...]}, an array, or the answer of aws cloudformation list-stack-instances ({\"Summaries\": [...]})",
            )),
        },
        _ => Err(invalid("expected a JSON object or array")),
    }
}

/// Entry `i`: its account and Region (required), organizational units and stack status.
fn read_entry(i: usize, item: &Value, style: Style) -> Result<InventoryMember, ReportError> {
    let (ka, kr) = match style {
        Style::Ours => ("account", "region"),
        Style::StackInstances => ("Account", "Region"),
    };
    let account = item.get(ka).and_then(Value::as_str).unwrap_or_default();
    let region = item.get(kr).and_then(Value::as_str).unwrap_or_default();
    if !is_account(account) || !is_region(region) {
        return Err(invalid(format!(
            "entry {i}: needs a 12-digit \"{ka}\" and a Region \"{kr}\", got {:?} / {:?}",
            short(account),
            short(region)
        )));
    }
    let (organizational_units, stack_status) = match style {
        Style::Ours => (our_units(i, item)?, None),
        Style::StackInstances => stack_instance(item),
    };
    Ok(InventoryMember {
        account: account.to_string(),
        region: region.to_string(),
        organizational_units,
        stack_status,
    })
}

/// `organizationalUnits` of our format: absent, null, or an array of strings.
fn our_units(i: usize, item: &Value) -> Result<Vec<String>, ReportError> {
    match item.get("organizationalUnits") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|u| {
                u.as_str().map(str::to_string).ok_or_else(|| {
                    invalid(format!("entry {i}: organizationalUnits must be strings"))
                })
            })
            .collect(),
        Some(_) => Err(invalid(format!(
            "entry {i}: organizationalUnits must be an array"
        ))),
    }
}

/// A stack instance's organizational unit and status (`DetailedStatus`, else `Status`).
fn stack_instance(item: &Value) -> (Vec<String>, Option<String>) {
    let units = item
        .get("OrganizationalUnitId")
        .and_then(Value::as_str)
        .map(|s| vec![s.to_string()])
        .unwrap_or_default();
    let status = item
        .get("StackInstanceStatus")
        .and_then(|s| s.get("DetailedStatus"))
        .or_else(|| item.get("Status"))
        .and_then(Value::as_str)
        .map(str::to_string);
    (units, status)
}

/// At most 80 characters of a value quoted in an error.
fn short(s: &str) -> String {
    s.chars().take(80).collect()
}
