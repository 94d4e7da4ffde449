//! Aliases and tags: their validation and the Create/Update/DeleteAlias, Tag/UntagResource
//! operations.

use std::time::SystemTime;

use crate::error::KmsError;
use crate::model::KeyState;

use super::resolve::{KeyRef, parse_key_ref};
use super::spec::{Access, Caller};
use super::state::{Alias, Inner, InnerOps, MAX_TAGS};

pub(super) fn normalise_alias(alias: &str) -> String {
    if alias.starts_with("alias/") {
        alias.to_string()
    } else {
        format!("alias/{alias}")
    }
}

pub(super) fn validate_alias_name(name: &str) -> Result<(), KmsError> {
    let rest = name.strip_prefix("alias/").unwrap_or("");
    let valid_chars = rest
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-'));
    if name.len() > 256 {
        return Err(KmsError::constraint(
            name,
            "aliasName",
            "Member must have length less than or equal to 256",
        ));
    }
    if rest.is_empty() || !valid_chars {
        return Err(KmsError::client(
            "InvalidAliasNameException",
            format!(
                "Alias must start with the prefix \"alias/\" and contain only alphanumeric characters, forward slashes (/), underscores (_), and dashes (-): {name}"
            ),
        ));
    }
    if rest.starts_with("aws/") {
        return Err(KmsError::client(
            "NotAuthorizedException",
            "Cannot create or update alias with reserved prefix \"alias/aws/\".",
        ));
    }
    Ok(())
}

pub(super) fn validate_tag(key: &str, value: &str) -> Result<(), KmsError> {
    if key.is_empty() || key.chars().count() > 128 {
        return Err(KmsError::client(
            "TagException",
            format!("Tag key length must be between 1 and 128 characters: {key}"),
        ));
    }
    if value.chars().count() > 256 {
        return Err(KmsError::client(
            "TagException",
            format!("Tag value length must be at most 256 characters for key {key}"),
        ));
    }
    if key.starts_with("aws:") {
        return Err(KmsError::client(
            "TagException",
            "Tags beginning with aws: are reserved",
        ));
    }
    Ok(())
}

pub(super) fn alias_exists(caller: &Caller, alias: &str) -> KmsError {
    KmsError::client(
        "AlreadyExistsException",
        format!(
            "An alias with the name arn:aws:kms:{}:{}:{alias} already exists",
            caller.region, caller.account
        ),
    )
}

impl InnerOps<'_> {
    pub fn create_alias(
        &mut self,
        caller: &Caller,
        alias: &str,
        target: &str,
        now: SystemTime,
    ) -> Result<(), KmsError> {
        validate_alias_name(alias)?;
        if matches!(
            parse_key_ref(target)?,
            KeyRef::AliasName(_) | KeyRef::AliasArn { .. }
        ) {
            return Err(KmsError::invalid_key_id(target));
        }
        let id = self
            .inner
            .resolve(caller, target, false, Access::Owner, "CreateAlias")?;
        self.inner.create_alias(caller, alias, &id, now)
    }

    pub fn update_alias(
        &mut self,
        caller: &Caller,
        alias: &str,
        target: &str,
        now: SystemTime,
    ) -> Result<(), KmsError> {
        validate_alias_name(alias)?;
        let id = self
            .inner
            .resolve(caller, target, false, Access::Owner, "UpdateAlias")?;
        let entry = self
            .inner
            .aliases
            .get_mut(&(
                caller.account.clone(),
                caller.region.clone(),
                alias.to_string(),
            ))
            .ok_or_else(|| {
                KmsError::alias_not_found(&format!(
                    "arn:aws:kms:{}:{}:{alias}",
                    caller.region, caller.account
                ))
            })?;
        entry.target = id;
        entry.last_updated = now;
        Ok(())
    }

    pub fn delete_alias(&mut self, caller: &Caller, alias: &str) -> Result<(), KmsError> {
        let k = (
            caller.account.clone(),
            caller.region.clone(),
            alias.to_string(),
        );
        if self.inner.aliases.remove(&k).is_none() {
            return Err(KmsError::alias_not_found(&format!(
                "arn:aws:kms:{}:{}:{alias}",
                caller.region, caller.account
            )));
        }
        Ok(())
    }

    pub fn tag_resource(
        &mut self,
        caller: &Caller,
        key: &str,
        tags: Vec<(String, String)>,
    ) -> Result<(), KmsError> {
        self.inner.tag_resource(caller, key, tags, Access::Owner)
    }

    pub fn untag_resource(
        &mut self,
        caller: &Caller,
        key: &str,
        tag_keys: &[String],
    ) -> Result<(), KmsError> {
        let id = self
            .inner
            .resolve(caller, key, false, Access::Owner, "UntagResource")?;
        let k = self.inner.get_mut(&id)?;
        if matches!(
            k.state,
            KeyState::PendingDeletion | KeyState::PendingReplicaDeletion
        ) {
            return Err(k.state_error());
        }
        for t in tag_keys {
            k.tags.remove(t);
        }
        Ok(())
    }
}

impl Inner {
    pub(super) fn create_alias(
        &mut self,
        caller: &Caller,
        alias: &str,
        target_id: &str,
        now: SystemTime,
    ) -> Result<(), KmsError> {
        validate_alias_name(alias)?;
        let k = self.get(target_id)?;
        if k.state == KeyState::PendingDeletion {
            return Err(k.state_error());
        }
        let map_key = (
            caller.account.clone(),
            caller.region.clone(),
            alias.to_string(),
        );
        if self.aliases.contains_key(&map_key) {
            return Err(alias_exists(caller, alias));
        }
        let seq = self.next_seq();
        self.aliases.insert(
            map_key,
            Alias {
                account: caller.account.clone(),
                region: caller.region.clone(),
                name: alias.to_string(),
                target: target_id.to_string(),
                creation_date: now,
                last_updated: now,
                seq,
            },
        );
        Ok(())
    }

    pub(super) fn tag_resource(
        &mut self,
        caller: &Caller,
        key: &str,
        tags: Vec<(String, String)>,
        access: Access,
    ) -> Result<(), KmsError> {
        let id = self.resolve(caller, key, false, access, "TagResource")?;
        let k = self.get_mut(&id)?;
        if matches!(
            k.state,
            KeyState::PendingDeletion | KeyState::PendingReplicaDeletion
        ) {
            return Err(k.state_error());
        }
        for (t, v) in &tags {
            validate_tag(t, v)?;
        }
        let mut new_tags = k.tags.clone();
        for (t, v) in tags {
            new_tags.insert(t, v);
        }
        if new_tags.len() > MAX_TAGS {
            return Err(KmsError::client(
                "LimitExceededException",
                format!("A KMS key can have at most {MAX_TAGS} tags."),
            ));
        }
        k.tags = new_tags;
        Ok(())
    }
}
