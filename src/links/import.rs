//! Bulk import: records checked by the link service's rules and written in batches, one transaction each, so an
//! import of 100,000 links takes seconds and an interrupted one leaves no half-written batch.

use chrono::Utc;

use crate::auth::{Action, Caller, authorize};

use super::ports::{ImportOutcome, PreparedLink};
use super::records::LinkRecord;
use super::service::{LinkError, LinkService, authenticated};

/// What an import did so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Links created.
    pub created: usize,
    /// Records whose URL was already shortened (the existing link is left as it is).
    pub existing: usize,
    /// Records refused: where in the input (`line 12`, `record 3`) and why.
    pub refused: Vec<(String, String)>,
}

impl ImportSummary {
    /// Notes that the record at `place` was refused for `reason`.
    pub fn refuse(&mut self, place: impl Into<String>, reason: impl Into<String>) {
        self.refused.push((place.into(), reason.into()));
    }

    /// Records handled so far.
    pub fn total(&self) -> usize {
        self.created + self.existing + self.refused.len()
    }
}

impl LinkService {
    /// Imports one batch of records (each with where it was read, for messages) in one transaction: every record
    /// is checked against the slug and URL rules (a refused one is noted in `summary` and never stops the
    /// others), then the valid ones are written together. Metadata is not read from the target pages, and the
    /// plugins' link policy is not consulted: both would cost a call per link.
    pub async fn import_batch(
        &self,
        caller: &Caller,
        records: &[(String, LinkRecord)],
        summary: &mut ImportSummary,
    ) -> Result<(), LinkError> {
        authorize(caller, Action::CreateLink)?;
        let identity = authenticated(caller)?;
        let mut prepared: Vec<PreparedLink> = Vec::with_capacity(records.len());
        let mut places: Vec<&str> = Vec::with_capacity(records.len());
        for (place, record) in records {
            match self.records.prepare(record) {
                Ok(link) => {
                    prepared.push(link);
                    places.push(place);
                }
                Err(error) => summary.refuse(place.as_str(), error.to_string()),
            }
        }
        if prepared.is_empty() {
            return Ok(());
        }
        let outcomes = self.store.import_links(&prepared, &identity.user_id, Utc::now()).await?;
        let mut changed: Vec<String> = Vec::new();
        for ((link, place), outcome) in prepared.iter().zip(places).zip(outcomes) {
            match outcome {
                ImportOutcome::Created(id) => {
                    summary.created += 1;
                    // Their slugs may have been asked for, and remembered as unknown, before they existed.
                    changed.push(self.records.encode(id));
                    changed.extend(link.brand.clone());
                }
                ImportOutcome::Existing(_) => summary.existing += 1,
                ImportOutcome::SlugTaken => summary.refuse(
                    place,
                    format!("the slug `{}` belongs to another link", link.brand.as_deref().unwrap_or_default()),
                ),
                ImportOutcome::IdTaken => summary.refuse(
                    place,
                    format!(
                        "the automatic slug `{}` belongs to another link",
                        link.id.map(|id| self.records.encode(id)).unwrap_or_default()
                    ),
                ),
            }
        }
        let slugs: Vec<&str> = changed.iter().map(String::as_str).collect();
        self.announce_slugs(&slugs).await;
        Ok(())
    }
}
