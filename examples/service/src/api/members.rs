//! Members: the active list, one member (`?include_deleted=true`), delete with who and why,
//! restore (admins), the trash.

use axum::extract::State;
use axum::http::StatusCode;
use diesel::prelude::*;
use diesel::result::DatabaseErrorKind;
use diesel_async::RunQueryDsl;
use soft_delete_runtime::asynchronous::*;
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::{soft_delete_with, Deletion};

use crate::dto::{
    check_text, GetParams, MemberDto, MemberPage, NewMemberDto, PageParams, ReasonParams,
};
use crate::error::{ApiError, ErrorBody, Json, Path, Query};
use crate::identity::Identity;
use crate::models::{Member, NewMember};
use crate::schema::{invoices, members, order_items, orders, posts, reviews};
use crate::{with_conn, with_write_transaction, AppState};

/// Which members a list shows.
#[derive(Debug, Clone, Copy)]
enum Scope {
    Active,
    OnlyDeleted,
}

async fn page(state: &AppState, scope: Scope, params: PageParams) -> Result<MemberPage, ApiError> {
    let (page, per_page, offset) = params.resolve()?;
    let (items, total) = with_conn!(&state.db, conn => {
        let rows = match scope {
            Scope::Active => members::table.active().order(members::id).limit(i64::from(per_page)).offset(offset).select(Member::as_select()).load(conn).await?,
            Scope::OnlyDeleted => members::table.only_deleted().order(members::id).limit(i64::from(per_page)).offset(offset).select(Member::as_select()).load(conn).await?,
        };
        let total: i64 = match scope {
            Scope::Active => members::table.active().count().get_result(conn).await?,
            Scope::OnlyDeleted => members::table.only_deleted().count().get_result(conn).await?,
        };
        (rows, total)
    });
    Ok(MemberPage {
        items: items.into_iter().map(MemberDto::from).collect(),
        page,
        per_page,
        total,
    })
}

/// The live members, a page at a time.
#[utoipa::path(get, path = "/api/members", tag = "members", params(PageParams),
    responses((status = 200, body = MemberPage), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Query(params): Query<PageParams>,
) -> Result<Json<MemberPage>, ApiError> {
    Ok(Json(page(&state, Scope::Active, params).await?))
}

/// The trash: deleted and archived members only, a page at a time.
#[utoipa::path(get, path = "/api/trash", tag = "members", params(PageParams),
    responses((status = 200, body = MemberPage), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn trash(
    State(state): State<AppState>,
    Query(params): Query<PageParams>,
) -> Result<Json<MemberPage>, ApiError> {
    Ok(Json(page(&state, Scope::OnlyDeleted, params).await?))
}

/// Creates a member with their orders (and items), posts, reviews and unpaid invoices, in
/// one transaction.
#[utoipa::path(post, path = "/api/members", tag = "members", request_body = NewMemberDto,
    responses((status = 201, body = MemberDto), (status = 400, body = ErrorBody), (status = 409, description = "a live member has the email", body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Json(new): Json<NewMemberDto>,
) -> Result<(StatusCode, Json<MemberDto>), ApiError> {
    new.check()?;
    let new = &new;
    let member: Member = with_write_transaction!(&state.db, conn => {
        {
            let taken: i64 = members::table.active().filter(members::email.eq(&new.email)).count().get_result(conn).await?;
            if taken > 0 {
                return Err(ApiError::State(format!("a live member has the email {}", new.email)));
            }
            // A create that passed the check beside another one with the email meets the
            // unique index: it answers as if it had come after it.
            let member: Member = diesel::insert_into(members::table)
                .values(NewMember { name: &new.name, email: &new.email })
                .returning(Member::as_returning())
                .get_result(conn)
                .await
                .map_err(|error| match error {
                    diesel::result::Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                        ApiError::State(format!("a live member has the email {}", new.email))
                    }
                    error => error.into(),
                })?;
            for order in &new.orders {
                let order_id: i32 = diesel::insert_into(orders::table)
                    .values((orders::member_id.eq(member.id), orders::code.eq(&order.code)))
                    .returning(orders::id)
                    .get_result(conn)
                    .await?;
                for sku in &order.items {
                    diesel::insert_into(order_items::table)
                        .values((order_items::order_id.eq(order_id), order_items::sku.eq(sku)))
                        .execute(conn)
                        .await?;
                }
            }
            for title in &new.posts {
                diesel::insert_into(posts::table)
                    .values((posts::member_id.eq(member.id), posts::title.eq(title)))
                    .execute(conn)
                    .await?;
            }
            for body in &new.reviews {
                diesel::insert_into(reviews::table)
                    .values((reviews::author_id.eq(member.id), reviews::body.eq(body)))
                    .execute(conn)
                    .await?;
            }
            for total in &new.invoices {
                diesel::insert_into(invoices::table)
                    .values((invoices::member_id.eq(member.id), invoices::total.eq(total)))
                    .execute(conn)
                    .await?;
            }
            Ok(member)
        }
    });
    Ok((StatusCode::CREATED, Json(member.into())))
}

/// Member `id`, live, or any with `?include_deleted=true`.
pub async fn find(state: &AppState, id: i32, include_deleted: bool) -> Result<Member, ApiError> {
    let found = with_conn!(&state.db, conn => {
        if include_deleted {
            members::table.find(id).with_deleted().select(Member::as_select()).first(conn).await.optional()?
        } else {
            members::table.find(id).active().select(Member::as_select()).first(conn).await.optional()?
        }
    });
    found.ok_or_else(|| {
        ApiError::NotFound(if include_deleted {
            format!("no member {id}")
        } else {
            format!("no live member {id} (add ?include_deleted=true for deleted ones)")
        })
    })
}

/// One member.
#[utoipa::path(get, path = "/api/members/{id}", tag = "members", params(("id" = i32, Path), GetParams),
    responses((status = 200, body = MemberDto), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<i32>,
    Query(params): Query<GetParams>,
) -> Result<Json<MemberDto>, ApiError> {
    let member = find(&state, id, params.include_deleted.unwrap_or(false)).await?;
    Ok(Json(member.into()))
}

/// Soft-deletes a live member, recording who (`x-user`) and why (`?reason=`).
#[utoipa::path(delete, security(("x-user" = [])), path = "/api/members/{id}", tag = "members", params(("id" = i32, Path), ReasonParams),
    responses((status = 200, body = MemberDto), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<i32>,
    Query(params): Query<ReasonParams>,
) -> Result<Json<MemberDto>, ApiError> {
    let mut deletion = Deletion::now().by(identity.user.clone());
    if let Some(reason) = &params.reason {
        check_text("reason", reason)?;
        deletion = deletion.reason(reason.clone());
    }
    let deleted = with_conn!(&state.db, conn => {
        soft_delete_with(members::table.filter(members::id.eq(id)), deletion).execute(conn).await?
    });
    if deleted == 0 {
        return Err(ApiError::NotFound(format!("no live member {id}")));
    }
    Ok(Json(find(&state, id, true).await?.into()))
}

/// Restores a deleted member (admins only). A member an archive hid comes back with the
/// archive (`POST /api/archives/{id}/restore`); a live member holding the email refuses it
/// with 409 and that member's id.
#[utoipa::path(post, security(("x-user" = [], "x-role" = [])), path = "/api/members/{id}/restore", tag = "members", params(("id" = i32, Path)),
    responses((status = 200, body = MemberDto), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 409, description = "archived, or a live member holds the email (`live_id`)", body = ErrorBody)))]
pub async fn restore(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<i32>,
) -> Result<Json<MemberDto>, ApiError> {
    identity.require_admin("restoring a member")?;
    let member = find(&state, id, true).await?;
    if member.deleted_at.is_none() {
        return Err(ApiError::NotFound(format!("member {id} is not deleted")));
    }
    if let Some(batch) = member.archive_batch {
        return Err(ApiError::State(format!(
            "member {id} was archived by archive {batch}: restore the archive"
        )));
    }
    let restored = with_conn!(&state.db, conn => member.restore_async(conn).await?);
    if restored == 0 {
        return Err(ApiError::NotFound(format!("member {id} is not deleted")));
    }
    Ok(Json(find(&state, id, false).await?.into()))
}
