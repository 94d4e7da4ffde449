//! A bus's resource policy, reduced to which accounts may put events of which sources and
//! detail-types on it, directly or only forwarded by a rule.

use std::collections::BTreeSet;

/// Who may put events on a bus besides its own account: the bus's resource policy, reduced to
/// `Allow events:PutEvents` statements by account, optionally conditioned on the events'
/// `source` and `detail-type` (`events:source`, `events:detail-type`) and on the event being
/// forwarded by a rule (`aws:SourceArn` present); and to `Deny` statements of sources put
/// directly (`"Null": {"aws:SourceArn": "true"}`), which bind the owner account too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BusPolicy {
    pub grants: Vec<Grant>,
    /// Sources nobody may put on this bus directly, the owner included: such events are
    /// admitted only when a rule forwards them.
    pub forwarded_only_sources: BTreeSet<String>,
}

/// One `Allow events:PutEvents` statement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grant {
    pub accounts: BTreeSet<String>,
    /// `None`: any source.
    pub sources: Option<BTreeSet<String>>,
    /// `None`: any detail-type.
    pub detail_types: Option<BTreeSet<String>>,
    /// Only events a rule forwards (the statement conditions on `aws:SourceArn`).
    pub forwarded_only: bool,
}

/// How an event reaches the bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// A PutEvents call of a principal of the account.
    Direct,
    /// A rule of another bus sent it (a bus target): the call carries the rule's ARN.
    Forwarded,
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
        self,
        accounts: &[&str],
        sources: Option<&[&str]>,
        detail_types: Option<&[&str]>,
    ) -> Self {
        self.with_grant(accounts, sources, detail_types, false)
    }

    /// Adds a statement: rules of `accounts` may forward events of these sources and
    /// detail-types (a direct PutEvents of those accounts is not admitted by it).
    pub fn grant_forwarded(
        self,
        accounts: &[&str],
        sources: Option<&[&str]>,
        detail_types: Option<&[&str]>,
    ) -> Self {
        self.with_grant(accounts, sources, detail_types, true)
    }

    /// Adds a deny: events of these sources only when a rule forwards them, from anyone.
    pub fn deny_direct(mut self, sources: &[&str]) -> Self {
        self.forwarded_only_sources.extend(set(sources));
        self
    }

    fn with_grant(
        mut self,
        accounts: &[&str],
        sources: Option<&[&str]>,
        detail_types: Option<&[&str]>,
        forwarded_only: bool,
    ) -> Self {
        self.grants.push(Grant {
            accounts: set(accounts),
            sources: sources.map(set),
            detail_types: detail_types.map(set),
            forwarded_only,
        });
        self
    }

    /// Whether `account` may put an event of `source` / `detail_type` on a bus of `owner`,
    /// arriving as `arrival`.
    pub fn allows(
        &self,
        owner: &str,
        account: &str,
        source: &str,
        detail_type: &str,
        arrival: Arrival,
    ) -> bool {
        if arrival == Arrival::Direct && self.forwarded_only_sources.contains(source) {
            return false;
        }
        account == owner
            || self.grants.iter().any(|g| {
                g.accounts.contains(account)
                    && (!g.forwarded_only || arrival == Arrival::Forwarded)
                    && g.sources.as_ref().is_none_or(|s| s.contains(source))
                    && g.detail_types
                        .as_ref()
                        .is_none_or(|d| d.contains(detail_type))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUDIT: &str = "Key Material Audit Record";

    #[test]
    fn a_forwarded_only_grant_refuses_the_same_event_put_directly() {
        // GIVEN the central bus policy: members' rules may forward audit records
        let p = BusPolicy::own_account().grant_forwarded(
            &["111111111111"],
            Some(&["kms-material-guard"]),
            Some(&[AUDIT]),
        );
        // WHEN the member's rule forwards one, or the member puts one directly
        let forwarded = p.allows(
            "999999999999",
            "111111111111",
            "kms-material-guard",
            AUDIT,
            Arrival::Forwarded,
        );
        let direct = p.allows(
            "999999999999",
            "111111111111",
            "kms-material-guard",
            AUDIT,
            Arrival::Direct,
        );
        // THEN only the forwarded one is admitted
        assert!(forwarded);
        assert!(!direct);
    }

    #[test]
    fn a_direct_deny_binds_the_owner_account_too() {
        // GIVEN a bus that takes the function's source only forwarded
        let p = BusPolicy::own_account().deny_direct(&["kms-material-guard"]);
        // WHEN its own account puts such an event directly, or another source
        let own = p.allows(
            "999999999999",
            "999999999999",
            "kms-material-guard",
            AUDIT,
            Arrival::Direct,
        );
        let other = p.allows(
            "999999999999",
            "999999999999",
            "incident-response",
            AUDIT,
            Arrival::Direct,
        );
        // THEN the deny refuses the first, and only the first
        assert!(!own);
        assert!(other);
    }
}
