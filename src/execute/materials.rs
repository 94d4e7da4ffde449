//! The key's materials (ListKeyRotations with ALL_KEY_MATERIAL): listed with retries for the
//! decisions that need them (lifecycle, rotation, a lost delete's outcome), and best effort for
//! the context of a record (one attempt, `MATERIAL_GUARD_ENRICHMENT_TIMEOUT_MS`, the reason in
//! `materials_error` when they are missing).

use std::future::Future;

use aws_sdk_kms::config::http::HttpResponse;
use aws_sdk_kms::error::SdkError;
use aws_sdk_kms::operation::list_key_rotations::{ListKeyRotationsError, ListKeyRotationsOutput};
use aws_sdk_kms::types::IncludeKeyMaterial;

use super::{Executor, Run, material_of};
use crate::domain::{KeyFacts, Material, Trace};
use crate::kms::{self, KmsError};

type RotationsPage = Result<ListKeyRotationsOutput, SdkError<ListKeyRotationsError, HttpResponse>>;

/// Puts a best-effort listing into the record: the materials, or why they are missing.
pub(super) fn keep_materials(f: &mut KeyFacts, listed: Result<Vec<Material>, String>) {
    match listed {
        Ok(m) => {
            f.materials = Some(m);
            f.materials_error = None;
        }
        Err(why) => {
            tracing::warn!(error = %why, "the key's materials are missing from its audit record");
            f.materials = None;
            f.materials_error = Some(why);
        }
    }
}

impl Executor {
    /// Every material of the key (ListKeyRotations, ALL_KEY_MATERIAL, paginated, with retries):
    /// for the decisions that need them (lifecycle, rotation, a lost delete's outcome).
    pub(super) async fn list_materials(
        &self,
        run: &Run,
        f: &mut KeyFacts,
    ) -> Result<Vec<Material>, KmsError> {
        let id = f.call_id();
        let mut marker: Option<String> = None;
        let mut materials = Vec::new();
        loop {
            let out = kms::with_retry(&run.retry, &run.deadline, &mut f.trace, || {
                self.rotations_page(&id, marker.clone())
            })
            .await?;
            materials.extend(out.rotations().iter().map(material_of));
            match out.next_marker() {
                Some(m) if out.truncated() => marker = Some(m.to_string()),
                _ => break,
            }
        }
        Ok(materials)
    }

    fn rotations_page(
        &self,
        id: &str,
        marker: Option<String>,
    ) -> impl Future<Output = RotationsPage> + use<> {
        self.kms
            .list_key_rotations()
            .key_id(id)
            .include_key_material(IncludeKeyMaterial::AllKeyMaterial)
            .limit(1000)
            .set_marker(marker)
            .send()
    }

    /// The materials as context for a record, best effort: one attempt per page, no retry, at
    /// most `MATERIAL_GUARD_ENRICHMENT_TIMEOUT_MS` in all. `Err` says why they are missing; it
    /// never changes the outcome of the action the record is about.
    pub(super) async fn materials_for_record(
        &self,
        trace: &mut Trace,
        id: &str,
    ) -> Result<Vec<Material>, String> {
        let limit = self.config.enrichment_timeout;
        let listing = async {
            let mut marker: Option<String> = None;
            let mut materials = Vec::new();
            loop {
                let out = kms::once(trace, self.rotations_page(id, marker.clone()))
                    .await
                    .map_err(|e| format!("ListKeyRotations: {}: {}", e.code, e.message))?;
                materials.extend(out.rotations().iter().map(material_of));
                match out.next_marker() {
                    Some(m) if out.truncated() => marker = Some(m.to_string()),
                    _ => return Ok(materials),
                }
            }
        };
        match tokio::time::timeout(limit, listing).await {
            Ok(listed) => listed,
            Err(_) => Err(format!(
                "ListKeyRotations: no answer within {} ms (MATERIAL_GUARD_ENRICHMENT_TIMEOUT_MS)",
                limit.as_millis()
            )),
        }
    }

    /// Lists the materials into the record, best effort ([`Self::materials_for_record`]).
    pub(super) async fn attach_materials(&self, f: &mut KeyFacts) {
        let id = f.call_id();
        let listed = self.materials_for_record(&mut f.trace, &id).await;
        keep_materials(f, listed);
    }
}
