//! The key lifecycle: CreateKey, Enable/DisableKey, Schedule/CancelKeyDeletion and
//! RotateKeyOnDemand.

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::clock::epoch_seconds;
use crate::error::KmsError;
use crate::model::{KeyMaterialState, KeyState, Origin};

use super::expiry::kms_event;
use super::key::{Key, Material, invalid_state};
use super::labels::{alias_exists, validate_alias_name, validate_tag};
use super::resolve::{is_key_id, key_arn};
use super::spec::{Access, Caller, CreateKeyRequest};
use super::state::{Inner, InnerOps, MAX_ON_DEMAND_ROTATIONS, MAX_TAGS};

impl InnerOps<'_> {
    pub fn create_key(
        &mut self,
        caller: &Caller,
        request: CreateKeyRequest,
        now: SystemTime,
    ) -> Result<Value, KmsError> {
        let id = self.inner.create_key(caller, request, now)?;
        self.inner.describe_by_id(&id)
    }

    pub fn enable_key(&mut self, caller: &Caller, key: &str) -> Result<(), KmsError> {
        self.set_enabled(caller, key, true, "EnableKey")
    }

    pub fn disable_key(&mut self, caller: &Caller, key: &str) -> Result<(), KmsError> {
        self.set_enabled(caller, key, false, "DisableKey")
    }

    /// EnableKey / DisableKey: only between Enabled and Disabled.
    fn set_enabled(
        &mut self,
        caller: &Caller,
        key: &str,
        enabled: bool,
        operation: &str,
    ) -> Result<(), KmsError> {
        let id = self
            .inner
            .resolve(caller, key, false, Access::Owner, operation)?;
        let k = self.inner.get_mut(&id)?;
        match k.state {
            KeyState::Enabled | KeyState::Disabled => {
                k.state = if enabled {
                    KeyState::Enabled
                } else {
                    KeyState::Disabled
                };
                Ok(())
            }
            s => Err(invalid_state(&k.arn, s)),
        }
    }

    pub fn schedule_key_deletion(
        &mut self,
        caller: &Caller,
        key: &str,
        days: Option<i64>,
        now: SystemTime,
    ) -> Result<Value, KmsError> {
        self.inner.schedule_key_deletion(caller, key, days, now)
    }

    pub fn cancel_key_deletion(&mut self, caller: &Caller, key: &str) -> Result<Value, KmsError> {
        let id = self
            .inner
            .resolve(caller, key, false, Access::Owner, "CancelKeyDeletion")?;
        let k = self.inner.get_mut(&id)?;
        if k.state != KeyState::PendingDeletion {
            return Err(KmsError::client(
                "KMSInvalidStateException",
                format!("{} is not pending deletion.", k.arn),
            ));
        }
        k.deletion_date = None;
        k.pending_window_days = None;
        k.state = if k.origin == Origin::External
            && (!k.has_usable_current() || k.missing_permanent_material())
        {
            KeyState::PendingImport
        } else {
            KeyState::Disabled
        };
        let arn = k.arn.clone();
        self.inner.recompute_deadline();
        Ok(json!({ "KeyId": arn }))
    }

    pub fn rotate_key_on_demand(
        &mut self,
        caller: &Caller,
        key: &str,
        now: SystemTime,
    ) -> Result<String, KmsError> {
        self.inner
            .rotate_key_on_demand(caller, key, now, Access::Owner)
    }
}

impl Inner {
    pub(super) fn create_key(
        &mut self,
        caller: &Caller,
        request: CreateKeyRequest,
        now: SystemTime,
    ) -> Result<String, KmsError> {
        check_description_and_tags(&request.description, &request.tags)?;
        for alias in &request.aliases {
            validate_alias_name(alias)?;
            if self.aliases.contains_key(&(
                caller.account.clone(),
                caller.region.clone(),
                alias.clone(),
            )) {
                return Err(alias_exists(caller, alias));
            }
        }
        if let Some(id) = &request.fixed_id {
            let shape_ok = is_key_id(id) && (id.starts_with("mrk-") == request.multi_region);
            if !shape_ok {
                return Err(KmsError::validation(format!(
                    "key id {id} must be a UUID (or mrk- and 32 hex characters for a multi-Region key)"
                )));
            }
            if self.keys.contains_key(id) {
                return Err(KmsError::client(
                    "AlreadyExistsException",
                    format!("A key with id {id} already exists"),
                ));
            }
        }
        let id = if let Some(id) = request.fixed_id.clone() {
            id
        } else if request.multi_region {
            format!("mrk-{}", uuid::Uuid::new_v4().simple())
        } else {
            uuid::Uuid::new_v4().to_string()
        };
        let arn = key_arn(&caller.region, &caller.account, &id);
        let mut materials = Vec::new();
        let state = match request.origin {
            Origin::AwsKms => {
                materials.push(Material::new(
                    &id,
                    request.spec.generate_material()?,
                    KeyMaterialState::Current,
                ));
                KeyState::Enabled
            }
            Origin::External => KeyState::PendingImport,
        };
        let seq = self.next_seq();
        let key = Key {
            seq,
            handle: id.clone(),
            id: id.clone(),
            arn,
            account: caller.account.clone(),
            region: caller.region.clone(),
            origin: request.origin,
            spec: request.spec,
            usage: request.usage,
            state,
            description: request.description,
            creation_date: now,
            tags: request.tags.into_iter().collect(),
            multi_region: request.multi_region,
            primary_region: None,
            materials,
            on_demand_rotations: 0,
            deletion_date: None,
            pending_window_days: None,
        };
        self.keys.insert(id.clone(), key);
        for alias in request.aliases {
            self.create_alias(caller, &alias, &id, now)?;
        }
        Ok(id)
    }

    pub(super) fn schedule_key_deletion(
        &mut self,
        caller: &Caller,
        key: &str,
        days: Option<i64>,
        now: SystemTime,
    ) -> Result<Value, KmsError> {
        let days = days.unwrap_or(30);
        if days < 7 {
            return Err(KmsError::constraint(
                &days.to_string(),
                "pendingWindowInDays",
                "Member must have value greater than or equal to 7",
            ));
        }
        if days > 30 {
            return Err(KmsError::constraint(
                &days.to_string(),
                "pendingWindowInDays",
                "Member must have value less than or equal to 30",
            ));
        }
        let id = self.resolve(caller, key, false, Access::Owner, "ScheduleKeyDeletion")?;
        let k = self.get_mut(&id)?;
        match k.state {
            KeyState::Enabled | KeyState::Disabled | KeyState::PendingImport => {}
            s => return Err(invalid_state(&k.arn, s)),
        }
        let deletion = now + Duration::from_secs(days.unsigned_abs() * 86_400);
        k.state = KeyState::PendingDeletion;
        k.deletion_date = Some(deletion);
        k.pending_window_days = u32::try_from(days).ok();
        let arn = k.arn.clone();
        self.note_deadline(Some(deletion));
        Ok(json!({
            "KeyId": arn,
            "DeletionDate": epoch_seconds(deletion),
            "KeyState": "PendingDeletion",
            "PendingWindowInDays": days,
        }))
    }

    pub(super) fn rotate_key_on_demand(
        &mut self,
        caller: &Caller,
        key: &str,
        now: SystemTime,
        access: Access,
    ) -> Result<String, KmsError> {
        let id = self.resolve(caller, key, false, access, "RotateKeyOnDemand")?;
        let k = self.get_mut(&id)?;
        k.require_symmetric()?;
        if k.state != KeyState::Enabled {
            return Err(k.state_error());
        }
        if k.on_demand_rotations >= MAX_ON_DEMAND_ROTATIONS {
            return Err(KmsError::client(
                "LimitExceededException",
                format!(
                    "The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: {}",
                    k.arn
                ),
            ));
        }
        let next = match k.origin {
            Origin::External => k
                .materials
                .iter()
                .position(|m| m.state == KeyMaterialState::PendingRotation)
                .ok_or_else(|| {
                    KmsError::client(
                        "KMSInvalidStateException",
                        format!(
                            "No available key material pending rotation for the key: {}.",
                            k.arn
                        ),
                    )
                })?,
            Origin::AwsKms => {
                k.materials.push(Material::new(
                    &k.id,
                    k.spec.generate_material()?,
                    KeyMaterialState::PendingRotation,
                ));
                k.materials.len() - 1
            }
        };
        let previous = k.current().map(|m| m.id.clone());
        for m in &mut k.materials {
            if m.state == KeyMaterialState::Current {
                m.state = KeyMaterialState::NonCurrent;
            }
        }
        let m = &mut k.materials[next];
        m.state = KeyMaterialState::Current;
        m.rotation_date = Some(now);
        m.rotation_type = Some("ON_DEMAND");
        let current = m.id.clone();
        k.on_demand_rotations += 1;
        let event = kms_event(
            "KMS CMK Rotation",
            k,
            json!({
                "key-id": k.id,
                "key-origin": k.origin.as_str(),
                "rotation-type": "ON_DEMAND",
                "previous-key-material-id": previous,
                "current-key-material-id": current,
            }),
            now,
        );
        let arn = k.arn.clone();
        self.kms_events.push(event);
        Ok(arn)
    }
}

/// The `Description` and `Tags` checks of CreateKey and ReplicateKey.
pub(super) fn check_description_and_tags(
    description: &str,
    tags: &[(String, String)],
) -> Result<(), KmsError> {
    if description.chars().count() > 8192 {
        return Err(KmsError::constraint(
            "...",
            "description",
            "Member must have length less than or equal to 8192",
        ));
    }
    if tags.len() > MAX_TAGS {
        return Err(KmsError::client(
            "TagException",
            format!("A KMS key can have at most {MAX_TAGS} tags."),
        ));
    }
    for (k, v) in tags {
        validate_tag(k, v)?;
    }
    Ok(())
}
