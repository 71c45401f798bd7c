//! The models and their soft-delete declarations: what is live, what cascades, which keys
//! are unique among live rows.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use soft_delete_runtime::SoftDelete;

use crate::schema::{attempts, invoices, members, order_items, orders, posts, reviews};

/// A member. Deleting one records who and why; archiving one also archives their orders
/// (with their items) and posts, cuts the author link of their reviews, and is refused while
/// an unpaid invoice is live. Emails are unique among live members.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = members)]
#[soft_delete(children(
    orders::member_id = cascade,
    posts::member_id = cascade,
    reviews::author_id = set_null,
    invoices::member_id = protect,
))]
#[active_unique(fields = "email", name = "one_live_member_email")]
pub struct Member {
    /// The id.
    pub id: i32,
    /// The name.
    pub name: String,
    /// The email, unique among live members.
    pub email: String,
    /// When the member was deleted or archived; `None` while live.
    pub deleted_at: Option<NaiveDateTime>,
    /// Who deleted them.
    #[soft_delete(deleted_by)]
    pub deleted_by: Option<String>,
    /// Why.
    #[soft_delete(reason)]
    pub deletion_reason: Option<String>,
    /// The archive that hid them, if one did.
    #[soft_delete(batch)]
    pub archive_batch: Option<i64>,
}

/// A member's order.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = orders)]
#[soft_delete(children(order_items::order_id = cascade))]
pub struct Order {
    /// The id.
    pub id: i32,
    /// The member who ordered.
    pub member_id: i32,
    /// The order's code.
    pub code: String,
    /// When it was archived.
    pub deleted_at: Option<NaiveDateTime>,
    /// The archive that hid it.
    #[soft_delete(batch)]
    pub archive_batch: Option<i64>,
}

/// A line of an order.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = order_items)]
pub struct OrderItem {
    /// The id.
    pub id: i32,
    /// The order.
    pub order_id: i32,
    /// What was ordered.
    pub sku: String,
    /// When it was archived.
    pub deleted_at: Option<NaiveDateTime>,
    /// The archive that hid it.
    #[soft_delete(batch)]
    pub archive_batch: Option<i64>,
}

/// A member's post.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = posts)]
pub struct Post {
    /// The id.
    pub id: i32,
    /// The author.
    pub member_id: i32,
    /// The title.
    pub title: String,
    /// When it was archived.
    pub deleted_at: Option<NaiveDateTime>,
    /// The archive that hid it.
    #[soft_delete(batch)]
    pub archive_batch: Option<i64>,
}

/// An invoice: while live (unpaid) it protects its member from an archive.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = invoices)]
pub struct Invoice {
    /// The id.
    pub id: i32,
    /// The member billed.
    pub member_id: i32,
    /// The amount.
    pub total: i32,
    /// When it was settled.
    pub deleted_at: Option<NaiveDateTime>,
}

/// An exam attempt: one live attempt per exam and member; a retry retires it and starts the
/// next with the counter + 1, atomically.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = attempts)]
#[active_unique(fields = "exam_id, member_id", counter = retry, name = "one_live_attempt")]
pub struct Attempt {
    /// The id.
    pub id: i32,
    /// The exam.
    pub exam_id: i32,
    /// The member taking it.
    pub member_id: i32,
    /// When it started.
    pub started: NaiveDateTime,
    /// Whether it is the live attempt.
    #[soft_delete(marker = active)]
    pub active: bool,
    /// 0 for the first attempt, + 1 per retry.
    pub retry: i32,
}

/// A new live attempt, as `start` and `retry` insert it.
#[derive(Debug, Insertable)]
#[diesel(table_name = attempts)]
pub struct NewAttempt {
    /// The exam.
    pub exam_id: i32,
    /// The member.
    pub member_id: i32,
    /// Now.
    pub started: NaiveDateTime,
    /// Live.
    pub active: bool,
    /// The counter the library gives it.
    pub retry: i32,
}

impl NewAttempt {
    /// The live attempt number `retry` of `member_id` at `exam_id`, started now.
    pub fn live(exam_id: i32, member_id: i32, retry: i32) -> Self {
        NewAttempt {
            exam_id,
            member_id,
            started: chrono::Utc::now().naive_utc(),
            active: true,
            retry,
        }
    }
}

/// A new member.
#[derive(Debug, Insertable)]
#[diesel(table_name = members)]
pub struct NewMember<'a> {
    /// The name.
    pub name: &'a str,
    /// The email.
    pub email: &'a str,
}

/// A review (not soft-deletable: it loses its author when the author is archived).
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = reviews)]
pub struct Review {
    /// The id.
    pub id: i32,
    /// The author, `None` while the author is archived.
    pub author_id: Option<i32>,
    /// The text.
    pub body: String,
}
