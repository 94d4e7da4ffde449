//! Names and shapes shared by the router, the members and the report: ARNs, member ids, the
//! EventBridge event envelope.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Whether `s` is a 12-digit account id.
pub fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `s` looks like a Region name (`us-east-1`, `eu-central-2`, `us-gov-west-1`).
pub fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

/// One member deployment: an account and a Region (one stack instance of the StackSet).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MemberId {
    pub account: String,
    pub region: String,
}

impl MemberId {
    pub fn new(account: &str, region: &str) -> Self {
        MemberId {
            account: account.to_string(),
            region: region.to_string(),
        }
    }
}

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.account, self.region)
    }
}

/// `arn:aws:events:<region>:<account>:event-bus/<name>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BusArn {
    pub region: String,
    pub account: String,
    pub name: String,
}

/// A malformed ARN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an event bus ARN (arn:aws:events:<region>:<account>:event-bus/<name>): {0:?}")]
pub struct BadArn(pub String);

impl BusArn {
    pub fn new(region: &str, account: &str, name: &str) -> Self {
        BusArn {
            region: region.to_string(),
            account: account.to_string(),
            name: name.to_string(),
        }
    }

    /// Parses an event bus ARN.
    pub fn parse(s: &str) -> Result<BusArn, BadArn> {
        let bad = || BadArn(s.chars().take(200).collect());
        let mut parts = s.splitn(6, ':');
        let (Some("arn"), Some(partition), Some("events"), Some(region), Some(account), Some(res)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(bad());
        };
        let name = res.strip_prefix("event-bus/").ok_or_else(bad)?;
        let name_ok = !name.is_empty()
            && name.len() <= 256
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b));
        if !partition.starts_with("aws") || !is_region(region) || !is_account(account) || !name_ok {
            return Err(bad());
        }
        Ok(BusArn::new(region, account, name))
    }

    /// The `default` bus of an account and Region.
    pub fn default_bus(member: &MemberId) -> Self {
        BusArn::new(&member.region, &member.account, "default")
    }
}

impl fmt::Display for BusArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:aws:events:{}:{}:event-bus/{}",
            self.region, self.account, self.name
        )
    }
}

/// `arn:aws:lambda:<region>:<account>:function:<name>`.
pub fn function_arn(member: &MemberId, name: &str) -> String {
    format!(
        "arn:aws:lambda:{}:{}:function:{name}",
        member.region, member.account
    )
}

/// `arn:aws:sqs:<region>:<account>:<name>`.
pub fn queue_arn(member: &MemberId, name: &str) -> String {
    format!("arn:aws:sqs:{}:{}:{name}", member.region, member.account)
}

/// An EventBridge event as rules and targets see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub version: String,
    pub id: String,
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    pub source: String,
    pub account: String,
    pub time: String,
    pub region: String,
    pub resources: Vec<String>,
    pub detail: Value,
}

impl Event {
    /// A new event with a fresh id, stamped `time` (EventBridge keeps second precision).
    pub fn new(
        source: &str,
        detail_type: &str,
        detail: Value,
        account: &str,
        region: &str,
        time: DateTime<Utc>,
    ) -> Event {
        Event {
            version: "0".into(),
            id: uuid_v4(),
            detail_type: detail_type.to_string(),
            source: source.to_string(),
            account: account.to_string(),
            time: time.to_rfc3339_opts(SecondsFormat::Secs, true),
            region: region.to_string(),
            resources: Vec::new(),
            detail,
        }
    }

    /// The envelope as JSON (what a Lambda target receives, what a log group target stores).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// A random UUID (v4 layout), as EventBridge event ids and Lambda request ids look.
pub fn uuid_v4() -> String {
    let mut b = [0u8; 16];
    for x in &mut b {
        *x = fastrand::u8(..);
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bus_arns_round_trip_and_malformed_ones_are_refused() {
        let arn = "arn:aws:events:eu-west-1:111111111111:event-bus/kms-material-guard-org";
        let parsed = BusArn::parse(arn).expect("valid");
        assert_eq!(parsed.region, "eu-west-1");
        assert_eq!(parsed.account, "111111111111");
        assert_eq!(parsed.name, "kms-material-guard-org");
        assert_eq!(parsed.to_string(), arn);
        for bad in [
            "default",
            "arn:aws:events:eu-west-1:111111111111:rule/x",
            "arn:aws:events:eu-west-1:1111:event-bus/x",
            "arn:aws:events:EU:111111111111:event-bus/x",
            "arn:aws:sqs:eu-west-1:111111111111:event-bus/x",
            "arn:aws:events:eu-west-1:111111111111:event-bus/",
            "arn:aws:events:eu-west-1:111111111111:event-bus/a b",
        ] {
            assert!(BusArn::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn uuids_have_the_v4_shape() {
        let a = uuid_v4();
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert_ne!(a, uuid_v4());
    }

    #[test]
    fn regions_and_accounts() {
        assert!(
            is_region("us-east-1") && is_region("us-gov-west-1") && is_region("ap-southeast-4")
        );
        assert!(!is_region("useast1") && !is_region("us-east-") && !is_region("US-EAST-1"));
        assert!(is_account("123456789012") && !is_account("12345678901a"));
    }
}
