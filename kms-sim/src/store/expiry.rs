//! Time-driven changes, evaluated lazily: expiry of imported material, the end of a key's
//! pending-deletion window, and the `aws.kms` events they emit.

use std::time::SystemTime;

use serde_json::{Value, json};

use crate::model::KeyState;

use super::key::Key;
use super::state::Inner;

impl Inner {
    /// Expires material whose ValidTo has passed and deletes keys whose deletion date has
    /// passed: KMS's DeleteExpiredKeyMaterial and key deletion, evaluated lazily.
    pub(super) fn sweep(&mut self, now: SystemTime) {
        match self.next_deadline {
            Some(deadline) if deadline <= now => {}
            _ => return,
        }
        let mut deleted = Vec::new();
        for key in self.keys.values_mut() {
            if key.deletion_date.is_some_and(|d| d <= now) && key.state == KeyState::PendingDeletion
            {
                deleted.push(key.handle.clone());
                continue;
            }
            let mut lost_permanent = false;
            let mut expired_at = Vec::new();
            key.materials.retain_mut(|m| {
                if m.bytes.is_some()
                    && let Some(t) = m.valid_to.filter(|t| *t <= now)
                {
                    if m.permanent() {
                        m.forget();
                        lost_permanent = true;
                        expired_at.push(t);
                    } else {
                        // Material pending rotation is not permanently associated: it goes.
                        return false;
                    }
                }
                true
            });
            if lost_permanent {
                key.lose_permanent_material();
            }
            for t in expired_at {
                self.kms_events.push(kms_event(
                    "KMS Imported Key Material Expiration",
                    key,
                    json!({ "key-id": key.id }),
                    t,
                ));
            }
        }
        for id in deleted {
            if let Some(k) = self.keys.get(&id) {
                let at = k.deletion_date.unwrap_or(now);
                self.kms_events.push(kms_event(
                    "KMS CMK Deletion",
                    k,
                    json!({ "key-id": k.id }),
                    at,
                ));
            }
            self.keys.remove(&id);
            self.aliases.retain(|_, a| a.target != id);
            self.tokens.retain(|_, t| t.key_id != id);
        }
        self.recompute_deadline();
    }

    pub(super) fn recompute_deadline(&mut self) {
        self.next_deadline = self.keys.values().filter_map(Key::next_deadline).min();
    }

    pub(super) fn note_deadline(&mut self, t: Option<SystemTime>) {
        if let Some(t) = t {
            self.next_deadline = Some(self.next_deadline.map_or(t, |d| d.min(t)));
        }
    }
}

/// An event as KMS sends it to EventBridge (source `aws.kms`).
pub(super) fn kms_event(detail_type: &str, key: &Key, detail: Value, at: SystemTime) -> Value {
    let time: chrono::DateTime<chrono::Utc> = at.into();
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": detail_type,
        "source": "aws.kms",
        "account": key.account,
        "time": time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "region": key.region,
        "resources": [key.arn],
        "detail": detail,
    })
}
