//! What the API reads and writes, as JSON, with the schemas the OpenAPI document shows; and
//! the checks on input that the types alone do not make.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use soft_delete_runtime::collector::{ArchiveEntry, Blocker, Plan, Repeat, Restored};
use soft_delete_runtime::purge::PurgeReport;
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;
use crate::models::{Attempt, Member};

/// The longest text a field takes.
pub const MAX_TEXT: usize = 500;
/// The most children of one kind a new member may come with.
pub const MAX_CHILDREN: usize = 50;
/// The largest page.
pub const MAX_PER_PAGE: u32 = 100;

/// `text` as a value of field `field`: 1 to [`MAX_TEXT`] characters, no NUL (PostgreSQL
/// refuses it in text).
pub fn check_text(field: &str, text: &str) -> Result<(), ApiError> {
    if text.trim().is_empty() {
        return Err(ApiError::Invalid(format!("{field} is empty")));
    }
    if text.chars().count() > MAX_TEXT {
        return Err(ApiError::Invalid(format!(
            "{field} is longer than {MAX_TEXT} characters"
        )));
    }
    if text.contains('\0') {
        return Err(ApiError::Invalid(format!(
            "{field} contains a NUL character"
        )));
    }
    Ok(())
}

fn utc(time: NaiveDateTime) -> DateTime<Utc> {
    time.and_utc()
}

/// A page of a list: `?page=1&per_page=20`.
#[derive(Debug, Clone, Copy, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// The page, from 1.
    #[param(minimum = 1)]
    pub page: Option<u32>,
    /// Rows per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
}

impl PageParams {
    /// `(page, per_page, offset)`, checked.
    pub fn resolve(self) -> Result<(u32, u32, i64), ApiError> {
        let page = self.page.unwrap_or(1);
        let per_page = self.per_page.unwrap_or(20);
        if page == 0 {
            return Err(ApiError::Invalid("page starts at 1".into()));
        }
        if per_page == 0 || per_page > MAX_PER_PAGE {
            return Err(ApiError::Invalid(format!(
                "per_page must be between 1 and {MAX_PER_PAGE}"
            )));
        }
        Ok((page, per_page, i64::from(page - 1) * i64::from(per_page)))
    }
}

/// A member, as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MemberDto {
    /// The id.
    pub id: i32,
    /// The name.
    pub name: String,
    /// The email, unique among live members.
    pub email: String,
    /// When the member was deleted or archived; absent while live.
    pub deleted_at: Option<DateTime<Utc>>,
    /// Who deleted them.
    pub deleted_by: Option<String>,
    /// Why.
    pub deletion_reason: Option<String>,
    /// The archive that hid them, if one did.
    pub archive_id: Option<i64>,
}

impl From<Member> for MemberDto {
    fn from(m: Member) -> Self {
        MemberDto {
            id: m.id,
            name: m.name,
            email: m.email,
            deleted_at: m.deleted_at.map(utc),
            deleted_by: m.deleted_by,
            deletion_reason: m.deletion_reason,
            archive_id: m.archive_batch,
        }
    }
}

/// One page of members.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MemberPage {
    /// The members of this page.
    pub items: Vec<MemberDto>,
    /// The page, from 1.
    pub page: u32,
    /// Rows per page.
    pub per_page: u32,
    /// How many rows the whole list has.
    pub total: i64,
}

/// An order of a new member.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrderDto {
    /// The order's code.
    #[schema(min_length = 1, max_length = 500)]
    pub code: String,
    /// Its lines (SKUs).
    #[serde(default)]
    #[schema(max_items = 50)]
    pub items: Vec<String>,
}

/// A new member, with what they own.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMemberDto {
    /// The name.
    #[schema(min_length = 1, max_length = 500)]
    pub name: String,
    /// The email; a live member holding it already answers 409.
    #[schema(min_length = 1, max_length = 500)]
    pub email: String,
    /// Their orders.
    #[serde(default)]
    #[schema(max_items = 50)]
    pub orders: Vec<NewOrderDto>,
    /// Titles of their posts.
    #[serde(default)]
    #[schema(max_items = 50)]
    pub posts: Vec<String>,
    /// Reviews they wrote.
    #[serde(default)]
    #[schema(max_items = 50)]
    pub reviews: Vec<String>,
    /// Totals of unpaid invoices (each refuses an archive of the member while live).
    #[serde(default)]
    #[schema(max_items = 50)]
    pub invoices: Vec<i32>,
}

impl NewMemberDto {
    /// Checks every text and the number of children.
    pub fn check(&self) -> Result<(), ApiError> {
        check_text("name", &self.name)?;
        check_text("email", &self.email)?;
        // Spaces around would make a second live holder of a live member's email.
        if self.email.trim() != self.email {
            return Err(ApiError::Invalid(
                "email has spaces or line breaks around it".into(),
            ));
        }
        let children =
            self.orders.len() + self.posts.len() + self.reviews.len() + self.invoices.len();
        if children > MAX_CHILDREN {
            return Err(ApiError::Invalid(format!(
                "at most {MAX_CHILDREN} orders, posts, reviews and invoices together"
            )));
        }
        for order in &self.orders {
            check_text("orders.code", &order.code)?;
            if order.items.len() > MAX_CHILDREN {
                return Err(ApiError::Invalid(format!(
                    "at most {MAX_CHILDREN} items per order"
                )));
            }
            for sku in &order.items {
                check_text("orders.items", sku)?;
            }
        }
        for title in &self.posts {
            check_text("posts", title)?;
        }
        for body in &self.reviews {
            check_text("reviews", body)?;
        }
        Ok(())
    }
}

/// `?include_deleted=true` shows a deleted member too.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GetParams {
    /// Also find a deleted member.
    pub include_deleted: Option<bool>,
}

/// Why a member is deleted or archived.
#[derive(Debug, Deserialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
pub struct ReasonParams {
    /// Why (recorded with who, from the `x-user` header).
    #[param(min_length = 1, max_length = 500)]
    pub reason: Option<String>,
}

/// The body of an archive request.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArchiveRequest {
    /// Why (recorded in the archive log with who, from the `x-user` header).
    #[schema(min_length = 1, max_length = 500)]
    pub reason: Option<String>,
}

/// Which member takes an exam attempt.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttemptRequest {
    /// The member.
    pub member_id: i32,
}

/// `?member_id=` of an attempt history.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// The member.
    pub member_id: i32,
}

/// An exam attempt.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AttemptDto {
    /// The id.
    pub id: i32,
    /// The exam.
    pub exam_id: i32,
    /// The member.
    pub member_id: i32,
    /// When it started.
    pub started: DateTime<Utc>,
    /// Whether it is the live attempt.
    pub active: bool,
    /// 0 for the first attempt, + 1 per retry.
    pub retry: i32,
}

impl From<Attempt> for AttemptDto {
    fn from(a: Attempt) -> Self {
        AttemptDto {
            id: a.id,
            exam_id: a.exam_id,
            member_id: a.member_id,
            started: utc(a.started),
            active: a.active,
            retry: a.retry,
        }
    }
}

/// Live rows that refuse an archive (`protect`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BlockerDto {
    /// The table the archive would hide rows of.
    pub parent: String,
    /// The table of the live rows that refuse it.
    pub table: String,
    /// Their foreign-key column.
    pub column: String,
    /// How many.
    pub count: u64,
    /// The first ids.
    pub ids: Vec<String>,
}

impl From<&Blocker> for BlockerDto {
    fn from(b: &Blocker) -> Self {
        BlockerDto {
            parent: b.parent.to_string(),
            table: b.table.to_string(),
            column: b.column.to_owned(),
            count: b.count,
            ids: b.ids.iter().map(ToString::to_string).collect(),
        }
    }
}

/// One edge of the relation graph, and what the archive does through it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StepDto {
    /// The parent table.
    pub parent: String,
    /// The child table.
    pub child: String,
    /// The child's foreign-key column.
    pub column: String,
    /// The rule: `cascade`, `set_null`, `protect`, ...
    pub rule: String,
    /// Rows archived, nulled or reset through this edge.
    pub rows: u64,
    /// Depth in the tree, 1 for edges of the root.
    pub depth: usize,
    /// `cycle` or `listed_above` when the child's own edges are not under this one.
    pub repeat: Option<String>,
}

/// What an archive does (or, previewed, would do): as data, and as the text tree of the
/// "are you sure?" page.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PlanDto {
    /// The root table.
    pub root: String,
    /// How many roots.
    pub roots: u64,
    /// Rows archived in all tables.
    pub total_archived: u64,
    /// Whether live rows refuse it.
    pub blocked: bool,
    /// The edges, in tree order.
    pub steps: Vec<StepDto>,
    /// The live rows that refuse it.
    pub blockers: Vec<BlockerDto>,
    /// The plan as a text tree.
    pub tree: String,
}

impl From<&Plan> for PlanDto {
    fn from(plan: &Plan) -> Self {
        PlanDto {
            root: plan.root().to_string(),
            roots: plan.roots(),
            total_archived: plan.total_archived(),
            blocked: plan.is_blocked(),
            steps: plan
                .steps()
                .iter()
                .map(|s| StepDto {
                    parent: s.parent.to_string(),
                    child: s.child.to_string(),
                    column: s.column.to_owned(),
                    rule: s.rule.to_string(),
                    rows: s.rows,
                    depth: s.depth,
                    repeat: s.repeat.map(|r| match r {
                        Repeat::Cycle => "cycle".to_owned(),
                        Repeat::ListedAbove => "listed_above".to_owned(),
                    }),
                })
                .collect(),
            blockers: plan.blockers().iter().map(BlockerDto::from).collect(),
            tree: plan.to_string(),
        }
    }
}

/// An archive just made.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ArchivedDto {
    /// Its id in the archive log: restore it with `POST /api/archives/{id}/restore`.
    pub archive_id: i64,
    /// What it did.
    pub plan: PlanDto,
}

/// Rows changed in one table by one rule.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CountDto {
    /// The table.
    pub table: String,
    /// The rule.
    pub rule: String,
    /// The rows.
    pub rows: u64,
}

/// An entry of the archive log.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ArchiveDto {
    /// The id.
    pub id: i64,
    /// When.
    pub archived_at: DateTime<Utc>,
    /// The root table.
    pub root_table: String,
    /// The root's key when there was one root.
    pub root_key: Option<String>,
    /// Who.
    pub by: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// What it changed.
    pub counts: Vec<CountDto>,
    /// When it was restored.
    pub restored_at: Option<DateTime<Utc>>,
    /// By whom.
    pub restored_by: Option<String>,
}

impl From<&ArchiveEntry> for ArchiveDto {
    fn from(e: &ArchiveEntry) -> Self {
        ArchiveDto {
            id: e.id(),
            archived_at: e.archived_at().into(),
            root_table: e.root_table().to_owned(),
            root_key: e.root_key().map(str::to_owned),
            by: e.by().map(str::to_owned),
            reason: e.reason().map(str::to_owned),
            counts: e
                .counts()
                .iter()
                .map(|(table, rule, rows)| CountDto {
                    table: table.to_string(),
                    rule: rule.to_string(),
                    rows: *rows,
                })
                .collect(),
            restored_at: e.restored().map(|(at, _)| at.into()),
            restored_by: e.restored().and_then(|(_, by)| by.map(str::to_owned)),
        }
    }
}

/// `?before=&limit=` of the archive log, newest first.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ArchiveListParams {
    /// Only archives with a smaller id (the next page).
    pub before: Option<i64>,
    /// At most this many, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// Only archives not restored yet.
    pub not_restored: Option<bool>,
}

/// Rows brought back in one table.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TableRowsDto {
    /// The table.
    pub table: String,
    /// The rows.
    pub rows: u64,
}

/// Links put back in one column.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LinksDto {
    /// The table.
    pub table: String,
    /// The column.
    pub column: String,
    /// The links.
    pub links: u64,
}

/// What a restore of an archive brought back.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RestoredDto {
    /// The archive.
    pub archive_id: i64,
    /// Rows per table.
    pub rows: Vec<TableRowsDto>,
    /// Links put back.
    pub links: Vec<LinksDto>,
    /// Rows in all tables.
    pub total_rows: u64,
}

impl RestoredDto {
    /// The restore of archive `id`.
    pub fn new(id: i64, r: &Restored) -> Self {
        RestoredDto {
            archive_id: id,
            rows: r
                .rows()
                .iter()
                .map(|(table, rows)| TableRowsDto {
                    table: table.to_string(),
                    rows: *rows,
                })
                .collect(),
            links: r
                .links()
                .iter()
                .map(|(table, column, links)| LinksDto {
                    table: table.to_string(),
                    column: (*column).to_owned(),
                    links: *links,
                })
                .collect(),
            total_rows: r.total_rows(),
        }
    }
}

/// Which deleted members a purge removes for good.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PurgeRequest {
    /// Members (and what cascades from them) deleted more than this many days ago; 0 to
    /// 36500.
    #[schema(minimum = 0, maximum = 36500)]
    pub older_than_days: u32,
}

/// The longest retention a purge takes, in days.
pub const MAX_RETENTION_DAYS: u32 = 36_500;

/// Rows a purge deleted and kept in one table.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PurgeTableDto {
    /// The table.
    pub table: String,
    /// Rows deleted (or, in a dry run, that would be).
    pub deleted: u64,
    /// Rows kept because something still references them.
    pub kept: u64,
}

/// What a purge did (or, dry, would do).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PurgeDto {
    /// Whether nothing was deleted.
    pub dry_run: bool,
    /// Rows deleted before this instant's deletion times.
    pub cutoff: DateTime<Utc>,
    /// Per table.
    pub tables: Vec<PurgeTableDto>,
    /// Rows deleted in all tables.
    pub deleted: u64,
    /// Rows kept in all tables.
    pub kept: u64,
    /// The report as text.
    pub report: String,
}

impl From<&PurgeReport> for PurgeDto {
    fn from(r: &PurgeReport) -> Self {
        PurgeDto {
            dry_run: r.dry_run,
            cutoff: r.cutoff.into(),
            tables: r
                .tables
                .iter()
                .map(|t| PurgeTableDto {
                    table: t.table.to_string(),
                    deleted: t.deleted,
                    kept: t.kept,
                })
                .collect(),
            deleted: r.deleted(),
            kept: r.kept(),
            report: r.to_string(),
        }
    }
}
