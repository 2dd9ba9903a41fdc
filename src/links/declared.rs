//! Links as code: the `[[link]]` tables of `blink.toml` reconciled with the database. Declared links are created
//! or updated to match the file and marked with the declaration applied; links made through the UI, the API or an
//! import are never touched; a declared link gone from the file is deleted only with `[links] prune_declared`.
//! The same plan serves `blink links plan` (shown, nothing written), `blink links apply` and the start of the server.

use std::collections::HashMap;
use std::fmt::Write;

use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::auth::{Action, Caller, authorize};
use crate::config::{Config, DeclaredLink};

use super::model::LinkMeta;
use super::ports::{DeclaredWrite, LinkRow, PreparedLink};
use super::records::{LinkRecord, RecordRules};
use super::service::{LinkError, LinkService, authenticated};

/// A declaration as applied to a link, kept with it (as JSON) to tell later changes made elsewhere (drift).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct DeclaredState {
    slug: String,
    url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cache_max_age: Option<u32>,
}

impl DeclaredState {
    fn wanted(slug: &str, link: &PreparedLink) -> Self {
        Self {
            slug: slug.to_owned(),
            url: link.original_url.clone(),
            title: LinkMeta::from_stored(&link.meta).title,
            status: link.redirect_status,
            cache_max_age: link.cache_max_age,
        }
    }

    fn of_row(slug: &str, row: &LinkRow) -> Self {
        Self {
            slug: slug.to_owned(),
            url: row.original_url.clone(),
            title: LinkMeta::from_stored(&row.meta).title,
            status: row.redirect_status,
            cache_max_age: row.cache_max_age,
        }
    }

    fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The fields that differ from `self` to `to`.
    fn changes_to(&self, to: &Self) -> Vec<FieldChange> {
        let text = |value: &Option<String>| value.as_ref().map_or_else(|| "(none)".to_owned(), |v| format!("{v:?}"));
        let number = |value: Option<u32>| value.map_or_else(|| "(default)".to_owned(), |v| v.to_string());
        let mut changes = Vec::new();
        let mut push = |field, from: String, to: String| {
            if from != to {
                changes.push(FieldChange { field, from, to });
            }
        };
        push("url", self.url.clone(), to.url.clone());
        push("title", text(&self.title), text(&to.title));
        push("status", number(self.status.map(u32::from)), number(to.status.map(u32::from)));
        push("cache_max_age", number(self.cache_max_age), number(to.cache_max_age));
        changes
    }
}

/// One field of a link that differs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldChange {
    pub field: &'static str,
    pub from: String,
    pub to: String,
}

/// What reconciling does with one link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanAction {
    /// Declared and not in the database: created.
    Create,
    /// Declared and different in the database: changed to match the file.
    Update,
    /// Declared and as in the file.
    Unchanged,
    /// Declared before, gone from the file, and `[links] prune_declared` is on: deleted.
    Delete,
    /// Declared before and gone from the file, but `prune_declared` is off: left as it is.
    Keep,
}

/// What reconciling does with one link, and what was changed through the UI or the API since the last apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanEntry {
    pub slug: String,
    pub url: String,
    pub action: PlanAction,
    /// For an update: the database's value → the file's.
    pub changes: Vec<FieldChange>,
    /// The last applied declaration → the database's value, where they differ.
    pub drift: Vec<FieldChange>,
}

/// What reconciling the declared links with the database does.
#[derive(Clone, Debug, Default)]
pub struct DeclaredPlan {
    pub entries: Vec<PlanEntry>,
    /// Entries that cannot be applied, one line each naming the entry; nothing is applied while there are any.
    pub problems: Vec<String>,
    /// Whether the plan was carried out.
    pub applied: bool,
    writes: Vec<DeclaredWrite>,
    /// The slugs the writes change, for the caches.
    slugs: Vec<String>,
}

impl DeclaredPlan {
    /// Whether applying would change the database, or problems stand in its way.
    pub fn has_work(&self) -> bool {
        !self.writes.is_empty() || !self.problems.is_empty()
    }

    /// How many entries have `action`.
    pub fn count(&self, action: PlanAction) -> usize {
        self.entries.iter().filter(|entry| entry.action == action).count()
    }

    /// The plan for a person: one line per link, drift and problems, then the counts.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for entry in &self.entries {
            let details = entry
                .changes
                .iter()
                .map(|change| format!("{} {} -> {}", change.field, change.from, change.to))
                .collect::<Vec<_>>()
                .join("; ");
            let _ = match entry.action {
                PlanAction::Create => writeln!(out, "create     {} -> {}", entry.slug, entry.url),
                PlanAction::Update => writeln!(out, "update     {}: {details}", entry.slug),
                PlanAction::Unchanged => writeln!(out, "unchanged  {}", entry.slug),
                PlanAction::Delete => writeln!(
                    out,
                    "delete     {} -> {} (no longer in blink.toml, and [links] prune_declared is on)",
                    entry.slug, entry.url
                ),
                PlanAction::Keep => writeln!(
                    out,
                    "keep       {} -> {} (no longer in blink.toml; set [links] prune_declared = true to delete it)",
                    entry.slug, entry.url
                ),
            };
            for change in &entry.drift {
                let _ = writeln!(
                    out,
                    "drift      {}: {} was {} when last applied, {} now (changed through the UI or the API)",
                    entry.slug, change.field, change.from, change.to
                );
            }
        }
        for problem in &self.problems {
            let _ = writeln!(out, "error      {problem}");
        }
        let _ = write!(
            out,
            "{} to create, {} to update, {} to delete, {} unchanged",
            self.count(PlanAction::Create),
            self.count(PlanAction::Update),
            self.count(PlanAction::Delete),
            self.count(PlanAction::Unchanged)
        );
        if self.count(PlanAction::Keep) > 0 {
            let _ = write!(out, ", {} kept though no longer declared", self.count(PlanAction::Keep));
        }
        if !self.problems.is_empty() {
            let _ = write!(out, "; {} error(s): nothing is applied until they are fixed", self.problems.len());
        } else if self.applied {
            out.push_str("; applied");
        }
        out
    }
}

/// `[[link]] #3 \`docs\``: how problems name an entry of the file.
fn label(number: usize, slug: &str) -> String {
    format!("[[link]] #{number} `{slug}`")
}

/// The problems of the `[[link]]` tables of `config` that need no database to find: bad slugs, bad URLs and
/// duplicates, one line each naming the entry (`blink config check`); `reserved` are the paths Blink routes.
pub fn check_declared(config: &Config, reserved: &[&str]) -> Vec<String> {
    prepare_declared(&RecordRules::new(config, reserved), &config.declared_links).1
}

/// The declared links prepared for storing, by their entry's number and slug, with the problems found.
fn prepare_declared(
    rules: &RecordRules,
    declared: &[DeclaredLink],
) -> (Vec<(usize, String, PreparedLink)>, Vec<String>) {
    let mut prepared = Vec::new();
    let mut problems = Vec::new();
    let (mut slugs, mut urls, mut ids) = (HashMap::new(), HashMap::new(), HashMap::new());
    for (index, entry) in declared.iter().enumerate() {
        let number = index + 1;
        let name = label(number, &entry.slug);
        let link = match rules.prepare(&LinkRecord::from(entry)) {
            Ok(link) => link,
            Err(error) => {
                problems.push(format!("{name}: {error}"));
                continue;
            }
        };
        if let Some(first) = slugs.insert(entry.slug.clone(), number) {
            problems.push(format!("{name}: duplicate slug, already declared by [[link]] #{first}"));
            continue;
        }
        if let Some(first) = urls.insert(link.original_url.clone(), number) {
            problems.push(format!(
                "{name}: duplicate URL {} (after normalization), already declared by [[link]] #{first}",
                link.original_url
            ));
            continue;
        }
        if let Some(first) = link.id.and_then(|id| ids.insert(id, number)) {
            problems.push(format!("{name}: the same automatic slug as [[link]] #{first}"));
            continue;
        }
        prepared.push((number, entry.slug.clone(), link));
    }
    (prepared, problems)
}

impl LinkService {
    /// What reconciling the declared links would do, without doing it.
    pub async fn plan_declared(&self, caller: &Caller) -> Result<DeclaredPlan, LinkError> {
        authorize(caller, Action::CreateLink)?;
        authorize(caller, Action::DeleteLink)?;
        let (prepared, problems) = prepare_declared(&self.records, &self.declared);
        let mut plan = DeclaredPlan { problems, ..DeclaredPlan::default() };
        let mut current: HashMap<i64, (LinkRow, String)> = self
            .store
            .declared_links()
            .await?
            .into_iter()
            .map(|declared| (declared.row.id, (declared.row, declared.declared)))
            .collect();
        for (number, slug, link) in prepared {
            let name = label(number, &slug);
            let existing = match (&link.brand, link.id) {
                (Some(brand), _) => self.store.link_by_brand(brand).await?,
                (None, Some(id)) => self.store.link_by_id(id).await?,
                (None, None) => None,
            };
            let wanted = DeclaredState::wanted(&slug, &link);
            // The link that has the URL now must be this one (or none), since a URL is shortened once.
            let owner = self.store.link_by_url(&link.original_url).await?;
            if let Some(owner) = owner.as_ref().filter(|owner| existing.as_ref().is_none_or(|e| e.id != owner.id)) {
                let short = self.short_url(owner.brand.as_deref().unwrap_or(&self.records.encode(owner.id)));
                plan.problems.push(format!(
                    "{name}: {} is already shortened as {short}, another link; declare that link's slug instead, or \
                     delete it",
                    link.original_url
                ));
                continue;
            }
            let Some(row) = existing else {
                if let (Some(_), Some(id)) = (&link.brand, link.id)
                    && self.store.link_by_id(id).await?.is_some()
                {
                    plan.problems.push(format!(
                        "{name}: the automatic slug {} belongs to another link",
                        self.records.encode(id)
                    ));
                    continue;
                }
                plan.entries.push(PlanEntry {
                    slug: slug.clone(),
                    url: link.original_url.clone(),
                    action: PlanAction::Create,
                    changes: Vec::new(),
                    drift: Vec::new(),
                });
                plan.slugs.extend([slug.clone()]);
                plan.slugs.extend(link.id.map(|id| self.records.encode(id)));
                plan.writes.push(DeclaredWrite::Create { link, declared: wanted.to_json() });
                continue;
            };
            let Some((_, last)) = current.remove(&row.id) else {
                plan.problems.push(format!(
                    "{name}: the slug belongs to a link made through the UI, the API or an import, which is never \
                     changed from blink.toml; choose another slug, or delete that link first"
                ));
                continue;
            };
            let now = DeclaredState::of_row(&slug, &row);
            let drift =
                serde_json::from_str::<DeclaredState>(&last).map(|last| last.changes_to(&now)).unwrap_or_default();
            let changes = now.changes_to(&wanted);
            let recorded = serde_json::from_str::<DeclaredState>(&last).is_ok_and(|last| last == wanted);
            let action = if changes.is_empty() && recorded { PlanAction::Unchanged } else { PlanAction::Update };
            if action == PlanAction::Update {
                // The title is the link's; the rest of its metadata (read from the page, or kept from Node Blink)
                // stays as it is.
                let mut meta = LinkMeta::from_stored(&row.meta);
                meta.title = LinkMeta::from_stored(&link.meta).title;
                plan.slugs.extend([slug.clone(), self.records.encode(row.id)]);
                plan.writes.push(DeclaredWrite::Update {
                    id: row.id,
                    original_url: link.original_url.clone(),
                    meta: meta.to_stored(),
                    redirect_status: link.redirect_status,
                    cache_max_age: link.cache_max_age,
                    declared: wanted.to_json(),
                });
            }
            plan.entries.push(PlanEntry { slug, url: link.original_url, action, changes, drift });
        }
        let mut gone: Vec<(LinkRow, String)> = current.into_values().collect();
        gone.sort_by_key(|(row, _)| row.id);
        for (row, last) in gone {
            let slug = serde_json::from_str::<DeclaredState>(&last)
                .map(|last| last.slug)
                .unwrap_or_else(|_| row.brand.clone().unwrap_or_else(|| self.records.encode(row.id)));
            let action = if self.prune_declared { PlanAction::Delete } else { PlanAction::Keep };
            if action == PlanAction::Delete {
                plan.slugs.extend([slug.clone(), self.records.encode(row.id)]);
                plan.writes.push(DeclaredWrite::Delete { id: row.id });
            }
            plan.entries.push(PlanEntry {
                slug,
                url: row.original_url,
                action,
                changes: Vec::new(),
                drift: Vec::new(),
            });
        }
        Ok(plan)
    }

    /// Reconciles the declared links with the database now, in one transaction, unless the plan has problems
    /// (then nothing is written and the plan says why).
    pub async fn apply_declared(&self, caller: &Caller) -> Result<DeclaredPlan, LinkError> {
        let mut plan = self.plan_declared(caller).await?;
        if !plan.problems.is_empty() || plan.writes.is_empty() {
            return Ok(plan);
        }
        let identity = authenticated(caller)?;
        match self.store.apply_declared(&plan.writes, &identity.user_id, Utc::now()).await {
            Ok(()) => {}
            // Another writer took a URL or slug between the plan and now.
            Err(crate::storage::StorageError::Conflict(column)) => {
                plan.problems.push(format!("a link made meanwhile took a declared {column}; run the plan again"));
                return Ok(plan);
            }
            Err(error) => return Err(error.into()),
        }
        plan.applied = true;
        let slugs: Vec<&str> = plan.slugs.iter().map(String::as_str).collect();
        self.announce_slugs(&slugs).await;
        for entry in plan.entries.iter().filter(|entry| entry.action != PlanAction::Unchanged) {
            tracing::info!(link.slug = %entry.slug, link.url = %entry.url, action = ?entry.action, "declared link");
        }
        Ok(plan)
    }
}
