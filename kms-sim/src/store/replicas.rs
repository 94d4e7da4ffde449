//! Multi-Region keys: ReplicateKey, and imports into replicas (the primary's material only).

use std::time::SystemTime;

use serde_json::{Value, json};

use crate::crypto;
use crate::error::KmsError;
use crate::model::{ImportType, KeyState, Origin};

use super::key::{Key, Material, invalid_state};
use super::lifecycle::check_description_and_tags;
use super::resolve::key_arn;
use super::spec::{Access, Caller, ImportRequest};
use super::state::{Inner, InnerOps, replica_handle};

/// What ReplicateKey takes besides the primary key and the Region.
pub(crate) struct ReplicaRequest {
    pub region: String,
    pub description: Option<String>,
    pub tags: Vec<(String, String)>,
    pub policy: Option<String>,
}

impl InnerOps<'_> {
    /// ReplicateKey: the response (`ReplicaKeyMetadata`, `ReplicaPolicy`, `ReplicaTags`).
    pub fn replicate_key(
        &mut self,
        caller: &Caller,
        key: &str,
        request: ReplicaRequest,
        now: SystemTime,
    ) -> Result<Value, KmsError> {
        let handle = self
            .inner
            .replicate(caller, key, &request, Access::Owner, now)?;
        let mut out = self.inner.describe_by_id(&handle)?;
        let policy = request
            .policy
            .unwrap_or_else(|| default_policy(&caller.account));
        let tags: Vec<Value> = request
            .tags
            .iter()
            .map(|(k, v)| json!({"TagKey": k, "TagValue": v}))
            .collect();
        let metadata = out["KeyMetadata"].take();
        out = json!({
            "ReplicaKeyMetadata": metadata,
            "ReplicaPolicy": policy,
            "ReplicaTags": tags,
        });
        Ok(out)
    }
}

/// The default key policy KMS gives a key created without one.
fn default_policy(account: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [{
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
            "Action": "kms:*",
            "Resource": "*"
        }]
    })
    .to_string()
}

fn unsupported(message: String) -> KmsError {
    KmsError::client("UnsupportedOperationException", message)
}

impl Inner {
    /// Creates the replica of a multi-Region primary key in `request.region`; returns its
    /// handle. EXTERNAL replicas start PendingImport without material; AWS_KMS replicas share
    /// the primary's material.
    pub(super) fn replicate(
        &mut self,
        caller: &Caller,
        key: &str,
        request: &ReplicaRequest,
        access: Access,
        now: SystemTime,
    ) -> Result<String, KmsError> {
        let handle = self.resolve(caller, key, false, access, "ReplicateKey")?;
        let primary = self.get(&handle)?;
        if !primary.multi_region {
            return Err(unsupported(format!(
                "{} is not a multi-Region key.",
                primary.arn
            )));
        }
        if primary.primary_region.is_some() {
            return Err(unsupported(format!(
                "{} is a replica key; only a multi-Region primary key can be replicated.",
                primary.arn
            )));
        }
        if !matches!(
            primary.state,
            KeyState::Enabled | KeyState::Disabled | KeyState::PendingImport
        ) {
            return Err(invalid_state(&primary.arn, primary.state));
        }
        if request.region == primary.region {
            return Err(KmsError::validation(format!(
                "The replica Region {} is the primary key's Region.",
                request.region
            )));
        }
        let arn = key_arn(&request.region, &primary.account, &primary.id);
        if self.find(&primary.id, &request.region).is_some() {
            return Err(KmsError::client(
                "AlreadyExistsException",
                format!("Replica key {arn} already exists."),
            ));
        }
        let description = request
            .description
            .clone()
            .unwrap_or_else(|| primary.description.clone());
        check_description_and_tags(&description, &request.tags)?;
        let (state, materials) = match primary.origin {
            Origin::External => (KeyState::PendingImport, Vec::new()),
            Origin::AwsKms => (KeyState::Enabled, primary.materials.clone()),
        };
        let replica = Key {
            seq: 0,
            handle: replica_handle(&primary.id, &request.region),
            arn,
            region: request.region.clone(),
            state,
            description,
            creation_date: now,
            tags: request.tags.iter().cloned().collect(),
            primary_region: Some(primary.region.clone()),
            materials,
            on_demand_rotations: 0,
            deletion_date: None,
            pending_window_days: None,
            ..primary.clone()
        };
        let seq = self.next_seq();
        let handle = replica.handle.clone();
        self.keys.insert(handle.clone(), Key { seq, ..replica });
        Ok(handle)
    }

    /// ImportKeyMaterial into a replica: only material already imported into the primary, as
    /// EXISTING_KEY_MATERIAL, in the state it has there.
    pub(super) fn import_into_replica(
        &mut self,
        handle: &str,
        request: ImportRequest,
    ) -> Result<(String, String), KmsError> {
        let replica = self.get(handle)?;
        replica.check_importable()?;
        replica.spec.check_material(&request.material)?;
        if request.import_type == ImportType::NewKeyMaterial {
            return Err(KmsError::validation(format!(
                "New key material cannot be imported into the replica key {}: import it into the primary key, then import the same material here as EXISTING_KEY_MATERIAL.",
                replica.arn
            )));
        }
        let computed = crypto::material_id(&replica.id, &request.material);
        let primary_region = replica.primary_region.clone().unwrap_or_default();
        let in_primary = self
            .find(&replica.id, &primary_region)
            .and_then(|p| p.materials.iter().find(|m| m.id == computed))
            .map(|m| m.state)
            .ok_or_else(|| {
                KmsError::client(
                    "IncorrectKeyMaterialException",
                    format!(
                        "The key material is not associated with the primary key of {}. Import the primary key's material.",
                        replica.arn
                    ),
                )
            })?;
        if let Some(wanted) = &request.key_material_id
            && *wanted != computed
        {
            return Err(KmsError::client(
                "IncorrectKeyMaterialException",
                format!("The key material does not match the key material ID {wanted}."),
            ));
        }
        let k = self.get_mut(handle)?;
        let position = match k.materials.iter().position(|m| m.id == computed) {
            Some(i) => i,
            None => {
                k.materials
                    .push(Material::new(&k.id, request.material.clone(), in_primary));
                k.materials.len() - 1
            }
        };
        let m = &mut k.materials[position];
        m.reimport(request.material, request.valid_to, request.description);
        k.enable_if_complete();
        let arn = k.arn.clone();
        self.note_deadline(request.valid_to);
        Ok((arn, computed))
    }
}
