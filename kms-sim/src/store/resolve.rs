//! Key identifiers: parsing key IDs, ARNs and aliases, and resolving them for a caller under
//! KMS's cross-account / cross-Region rules.

use serde_json::Value;

use crate::error::KmsError;
use crate::model::KmsKeySpec;

use super::spec::{Access, Caller};
use super::state::{Inner, InnerOps};

/// A parsed key reference.
pub(super) enum KeyRef {
    Id(String),
    KeyArn {
        arn: String,
        region: String,
        account: String,
        id: String,
    },
    AliasName(String),
    AliasArn {
        arn: String,
        region: String,
        account: String,
        name: String,
    },
}

pub(super) fn is_key_id(s: &str) -> bool {
    let uuid_like = s.len() == 36
        && s.char_indices().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        });
    let mrk = s
        .strip_prefix("mrk-")
        .is_some_and(|h| h.len() == 32 && h.chars().all(|c| c.is_ascii_hexdigit()));
    uuid_like || mrk
}

pub(super) fn is_account(s: &str) -> bool {
    s.len() == 12 && s.chars().all(|c| c.is_ascii_digit())
}

pub(super) fn parse_key_ref(raw: &str) -> Result<KeyRef, KmsError> {
    if raw.starts_with("arn:") {
        let invalid = || KmsError::client("InvalidArnException", format!("Invalid arn {raw}"));
        let parts: Vec<&str> = raw.splitn(6, ':').collect();
        if parts.len() != 6 || parts[1].is_empty() || parts[2] != "kms" || parts[3].is_empty() {
            return Err(invalid());
        }
        let (region, account, resource) = (parts[3], parts[4], parts[5]);
        if !is_account(account) {
            return Err(invalid());
        }
        if let Some(id) = resource.strip_prefix("key/") {
            if id.is_empty() {
                return Err(invalid());
            }
            return Ok(KeyRef::KeyArn {
                arn: raw.to_string(),
                region: region.to_string(),
                account: account.to_string(),
                id: id.to_string(),
            });
        }
        if resource.starts_with("alias/") && resource.len() > "alias/".len() {
            return Ok(KeyRef::AliasArn {
                arn: raw.to_string(),
                region: region.to_string(),
                account: account.to_string(),
                name: resource.to_string(),
            });
        }
        return Err(invalid());
    }
    if raw.starts_with("alias/") && raw.len() > "alias/".len() {
        return Ok(KeyRef::AliasName(raw.to_string()));
    }
    if is_key_id(raw) {
        return Ok(KeyRef::Id(raw.to_string()));
    }
    Err(KmsError::invalid_key_id(raw))
}

pub(super) fn key_arn(region: &str, account: &str, id: &str) -> String {
    format!("arn:aws:kms:{region}:{account}:key/{id}")
}

pub(super) fn access_denied(caller: &Caller, operation: &str, arn: &str) -> KmsError {
    KmsError::client(
        "AccessDeniedException",
        format!(
            "User: arn:aws:iam::{}:root is not authorized to perform: kms:{operation} on resource: {arn} because no resource-based policy allows the kms:{operation} action",
            caller.account
        ),
    )
}

impl Inner {
    /// Resolves a key reference to a key ID, applying KMS's rules for aliases, ARNs and
    /// cross-account / cross-Region access.
    pub(super) fn resolve(
        &self,
        caller: &Caller,
        raw: &str,
        allow_alias: bool,
        access: Access,
        operation: &str,
    ) -> Result<String, KmsError> {
        let reference = parse_key_ref(raw)?;
        let (id, arn) = match reference {
            KeyRef::Id(id) => {
                let arn = key_arn(&caller.region, &caller.account, &id);
                let here = self
                    .find(&id, &caller.region)
                    .filter(|k| k.account == caller.account);
                let found = match access {
                    Access::Admin => here.or_else(|| self.keys.get(&id)),
                    _ => here,
                };
                return found
                    .map(|k| k.handle.clone())
                    .ok_or_else(|| KmsError::key_not_found(&arn));
            }
            KeyRef::KeyArn {
                arn,
                region,
                account,
                id,
            } => {
                if !is_key_id(&id) {
                    return Err(KmsError::key_not_found(&arn));
                }
                (id, (arn, region, account))
            }
            KeyRef::AliasName(name) => {
                if !allow_alias {
                    return Err(KmsError::invalid_key_id(raw));
                }
                let alias_arn = format!("arn:aws:kms:{}:{}:{name}", caller.region, caller.account);
                return self
                    .aliases
                    .get(&(caller.account.clone(), caller.region.clone(), name))
                    .map(|a| a.target.clone())
                    .ok_or_else(|| KmsError::alias_not_found(&alias_arn));
            }
            KeyRef::AliasArn {
                arn,
                region,
                account,
                name,
            } => {
                if !allow_alias {
                    return Err(KmsError::invalid_key_id(raw));
                }
                if access == Access::Owner && account != caller.account {
                    return Err(access_denied(caller, operation, &arn));
                }
                return self
                    .aliases
                    .get(&(account, region, name))
                    .map(|a| a.target.clone())
                    .ok_or_else(|| KmsError::alias_not_found(&arn));
            }
        };
        let (arn, region, account) = arn;
        let key = match self.find(&id, &region) {
            Some(k) if k.account == account => k,
            _ => {
                if access == Access::Owner && account != caller.account {
                    return Err(access_denied(caller, operation, &arn));
                }
                return Err(KmsError::key_not_found(&arn));
            }
        };
        if access == Access::Owner {
            if key.account != caller.account {
                return Err(access_denied(caller, operation, &arn));
            }
            if key.region != caller.region {
                // The key lives in another Region's KMS: this Region does not know it.
                return Err(KmsError::key_not_found(&arn));
            }
        }
        Ok(key.handle.clone())
    }
}

impl InnerOps<'_> {
    pub fn describe_key(&mut self, caller: &Caller, key: &str) -> Result<Value, KmsError> {
        let id = self
            .inner
            .resolve(caller, key, true, Access::Read, "DescribeKey")?;
        self.inner.describe_by_id(&id)
    }

    /// The key spec of the key a reference names, if it resolves.
    pub fn key_spec_of(&self, caller: &Caller, key: &str) -> Option<KmsKeySpec> {
        let handle = self
            .inner
            .resolve(caller, key, true, Access::Admin, "")
            .ok()?;
        self.inner.keys.get(&handle).map(|k| k.spec)
    }

    /// The key ID a reference resolves to (for counters and faults).
    pub fn key_id_of(&self, caller: &Caller, key: &str) -> Option<String> {
        let handle = self
            .inner
            .resolve(caller, key, true, Access::Admin, "")
            .ok()?;
        self.inner.keys.get(&handle).map(|k| k.id.clone())
    }
}
