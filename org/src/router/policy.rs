//! A bus's resource policy, reduced to which accounts may put events of which sources and
//! detail-types on it.

use std::collections::BTreeSet;

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
