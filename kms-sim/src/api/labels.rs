//! Alias and tag operations: List/Create/Update/DeleteAlias, ListResourceTags, Tag/UntagResource.

use serde_json::{Value, json};

use crate::error::KmsError;
use crate::store::{Caller, Store};

use super::Handler;
use super::params::Params;

/// The operations of this family and their handlers.
pub(super) const OPERATIONS: &[(&str, Handler)] = &[
    ("ListAliases", list_aliases),
    ("CreateAlias", create_alias),
    ("UpdateAlias", update_alias),
    ("DeleteAlias", delete_alias),
    ("ListResourceTags", list_resource_tags),
    ("TagResource", tag_resource),
    ("UntagResource", untag_resource),
];

fn list_aliases(store: &Store, caller: &Caller, p: &Params<'_>) -> Result<Value, KmsError> {
    let limit = p.limit(100, 50)?;
    let marker = p.marker()?;
    let key = p.opt_str("KeyId")?;
    store.with(|s, _| s.list_aliases(caller, key, limit, marker))
}

fn create_alias(store: &Store, caller: &Caller, p: &Params<'_>) -> Result<Value, KmsError> {
    let alias = p.req_str("AliasName")?;
    let target = p.key_id("TargetKeyId")?;
    store.with(|s, now| s.create_alias(caller, alias, target, now))?;
    Ok(json!({}))
}

fn update_alias(store: &Store, caller: &Caller, p: &Params<'_>) -> Result<Value, KmsError> {
    let alias = p.req_str("AliasName")?;
    let target = p.key_id("TargetKeyId")?;
    store.with(|s, now| s.update_alias(caller, alias, target, now))?;
    Ok(json!({}))
}

fn delete_alias(store: &Store, caller: &Caller, p: &Params<'_>) -> Result<Value, KmsError> {
    let alias = p.req_str("AliasName")?;
    store.with(|s, _| s.delete_alias(caller, alias))?;
    Ok(json!({}))
}

fn list_resource_tags(store: &Store, caller: &Caller, p: &Params<'_>) -> Result<Value, KmsError> {
    let key = p.key_id("KeyId")?;
    let limit = p.limit(50, 50)?;
    let marker = p.marker()?;
    store.with(|s, _| s.list_resource_tags(caller, key, limit, marker))
}

fn tag_resource(store: &Store, caller: &Caller, p: &Params<'_>) -> Result<Value, KmsError> {
    let key = p.key_id("KeyId")?;
    if p.raw("Tags").is_none() {
        return Err(KmsError::missing("tags"));
    }
    let tags = p.tags("Tags")?;
    store.with(|s, _| s.tag_resource(caller, key, tags))?;
    Ok(json!({}))
}

fn untag_resource(store: &Store, caller: &Caller, p: &Params<'_>) -> Result<Value, KmsError> {
    let key = p.key_id("KeyId")?;
    let keys = p.string_list("TagKeys")?;
    store.with(|s, _| s.untag_resource(caller, key, &keys))?;
    Ok(json!({}))
}
