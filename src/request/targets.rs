//! The `targets` of an organization request: which member accounts, organizational units and
//! Regions act on it.

use serde_json::Value;

use crate::validate::{
    Path, Rejection, is_account, is_organizational_unit, is_region, reject_unknown, string_list,
};

/// The members an organization-wide request is for. Empty lists match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Targets {
    pub accounts: Vec<String>,
    #[serde(rename = "organizationalUnits")]
    pub organizational_units: Vec<String>,
    pub regions: Vec<String>,
}

impl Targets {
    /// Whether a member (account, its OUs, Region) is targeted.
    pub fn includes(&self, account: &str, units: &[String], region: &str) -> bool {
        let by_org = (self.accounts.is_empty() && self.organizational_units.is_empty())
            || self.accounts.iter().any(|a| a == account)
            || self.organizational_units.iter().any(|u| units.contains(u));
        let by_region = self.regions.is_empty() || self.regions.iter().any(|r| r == region);
        by_org && by_region
    }
}

/// Validates `targets` (an object at `path`).
pub fn parse_targets(v: &Value, path: &Path) -> Result<Targets, Rejection> {
    let Value::Object(obj) = v else {
        return Err(path.wrong_type("an object", v));
    };
    reject_unknown(obj, path, &["accounts", "organizationalUnits", "regions"])?;
    let t = Targets {
        accounts: string_list(
            obj.get("accounts"),
            &path.field("accounts"),
            1000,
            is_account,
            "a 12-digit account id",
        )?,
        organizational_units: string_list(
            obj.get("organizationalUnits"),
            &path.field("organizationalUnits"),
            100,
            is_organizational_unit,
            "an OU id (ou-xxxx-yyyyyyyy) or root id (r-xxxx)",
        )?,
        regions: string_list(
            obj.get("regions"),
            &path.field("regions"),
            50,
            is_region,
            "a Region name",
        )?,
    };
    if t.accounts.is_empty() && t.organizational_units.is_empty() && t.regions.is_empty() {
        return Err(path.reject(
            "NoTargets",
            "name at least one account, organizational unit or Region",
        ));
    }
    Ok(t)
}
