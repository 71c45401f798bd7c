//! The admin page, rendered on the server (HTML forms, no JavaScript): the trash, the live
//! members with a link to each one's "are you sure?" page (the cascade preview as a tree),
//! the archive log with a restore button per archive.
//!
//! A browser has no proxy to set `x-user` / `x-role`: the page's sign-in form sets them as
//! cookies ([`crate::identity`]).

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Deserialize;
use soft_delete_runtime::prelude::*;

use crate::api::archives::{archive_member, list_archives, plan, restore_archive};
use crate::error::{ApiError, Path, Query};
use crate::identity::{Identity, ROLE_COOKIE, USER_COOKIE};
use crate::models::Member;
use crate::schema::members;
use crate::{with_conn, AppState};

/// The admin routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(index))
        .route("/admin/sign-in", post(sign_in))
        .route("/admin/members/{id}/archive", get(confirm).post(archive))
        .route("/admin/archives/{id}/restore", post(restore))
}

/// An error of a page: the API's error, shown as HTML.
pub struct PageError(ApiError);

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        PageError(error)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let body = layout(
            "Error",
            &format!(
                "<p class=\"error\">{}: {}</p><p><a href=\"/admin\">Back</a></p>",
                status.as_u16(),
                escape(&self.0.to_string())
            ),
        );
        (status, Html(body)).into_response()
    }
}

/// `text` with `&`, `<`, `>`, `"` and `'` escaped for HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} - soft-delete admin</title>\
         <style>body{{font-family:sans-serif;margin:2em;max-width:60em}}pre{{background:#f4f4f4;padding:1em}}\
         table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.2em .5em}}.error{{color:#a00}}.notice{{color:#070}}</style>\
         </head><body><h1>{}</h1>{body}</body></html>",
        escape(title),
        escape(title)
    )
}

/// `?archived=` / `?restored=`: what the last form did.
#[derive(Debug, Deserialize)]
pub struct Notice {
    archived: Option<i64>,
    restored: Option<i64>,
}

async fn index(
    State(state): State<AppState>,
    identity: Identity,
    Query(notice): Query<Notice>,
) -> Result<Html<String>, PageError> {
    let (live, trash) = live_and_trash(&state).await?;
    let archives = list_archives(&state, None, 20, false).await?;
    let mut body = String::new();
    let role = if identity.admin { "admin" } else { "no role" };
    let _ = write!(
        body,
        "<form method=\"post\" action=\"/admin/sign-in\"><p id=\"identity\">Signed in as {} ({role}). \
         <label>user <input name=\"user\" value=\"{}\"></label> \
         <label><input type=\"checkbox\" name=\"admin\" value=\"on\"{}> admin</label> \
         <button id=\"sign-in\">Sign in</button></p></form>",
        escape(&identity.user),
        escape(&identity.user),
        if identity.admin { " checked" } else { "" }
    );
    if let Some(id) = notice.archived {
        let _ = write!(
            body,
            "<p class=\"notice\" id=\"notice\">Archived: archive #{id}.</p>"
        );
    }
    if let Some(id) = notice.restored {
        let _ = write!(
            body,
            "<p class=\"notice\" id=\"notice\">Restored archive #{id}.</p>"
        );
    }
    body.push_str("<h2>Members</h2><table id=\"members\"><tr><th>id</th><th>name</th><th>email</th><th></th></tr>");
    for m in &live {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><a id=\"archive-{}\" href=\"/admin/members/{}/archive\">Archive...</a></td></tr>",
            m.id, escape(&m.name), escape(&m.email), m.id, m.id
        );
    }
    body.push_str("</table><h2>Trash</h2><table id=\"trash\"><tr><th>id</th><th>name</th><th>deleted</th><th>by</th><th>why</th><th>archive</th></tr>");
    for m in &trash {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            m.id,
            escape(&m.name),
            m.deleted_at
                .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_default(),
            escape(m.deleted_by.as_deref().unwrap_or("")),
            escape(m.deletion_reason.as_deref().unwrap_or("")),
            m.archive_batch.map(|b| format!("#{b}")).unwrap_or_default(),
        );
    }
    body.push_str("</table><h2>Archive log</h2><table id=\"archives\"><tr><th>#</th><th>root</th><th>by</th><th>why</th><th>rows</th><th></th></tr>");
    for a in &archives {
        let rows: u64 = a
            .counts
            .iter()
            .filter(|c| c.rule == "cascade")
            .map(|c| c.rows)
            .sum();
        let action = match (&a.restored_at, a.root_table == "members") {
            (Some(at), _) => format!("restored {}", at.format("%Y-%m-%d %H:%M:%S")),
            (None, true) => format!(
                "<form method=\"post\" action=\"/admin/archives/{}/restore\"><button id=\"restore-{}\">Restore</button></form>",
                a.id, a.id
            ),
            (None, false) => String::new(),
        };
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td><td>{action}</td></tr>",
            a.id,
            escape(&a.root_table),
            escape(a.root_key.as_deref().unwrap_or("")),
            escape(a.by.as_deref().unwrap_or("")),
            escape(a.reason.as_deref().unwrap_or("")),
            rows,
        );
    }
    body.push_str("</table>");
    Ok(Html(layout("Admin", &body)))
}

async fn live_and_trash(state: &AppState) -> Result<(Vec<Member>, Vec<Member>), ApiError> {
    Ok(with_conn!(&state.db, conn => {
        let live = members::table.active().order(members::id).limit(50).select(Member::as_select()).load(conn).await?;
        let trash = members::table.only_deleted().order(members::id).limit(50).select(Member::as_select()).load(conn).await?;
        (live, trash)
    }))
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct SignIn {
    user: String,
    admin: Option<String>,
}

async fn sign_in(Form(form): Form<SignIn>) -> Result<Response, PageError> {
    let user = form.user.trim();
    crate::dto::check_text("user", user)?;
    if !user
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c))
    {
        return Err(ApiError::Invalid("user: letters, digits and - _ . @ only".into()).into());
    }
    let role = if form.admin.is_some() { "admin" } else { "" };
    let mut response = Redirect::to("/admin").into_response();
    let headers = response.headers_mut();
    for cookie in [
        format!("{USER_COOKIE}={user}; Path=/; SameSite=Strict; HttpOnly"),
        format!("{ROLE_COOKIE}={role}; Path=/; SameSite=Strict; HttpOnly"),
    ] {
        if let Ok(value) = cookie.parse() {
            headers.append(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

async fn confirm(
    State(state): State<AppState>,
    Path(id): Path<i32>,
) -> Result<Html<String>, PageError> {
    let member = crate::api::members::find(&state, id, false).await?;
    let plan = plan(&state, id).await?;
    let mut body = format!(
        "<p>Archiving <b>{}</b> ({}) will also:</p><pre id=\"plan\">{}</pre>",
        escape(&member.name),
        escape(&member.email),
        escape(&plan.tree)
    );
    if plan.blocked {
        body.push_str("<p class=\"error\" id=\"blocked\">This archive is refused: live rows protect it (see above).</p>");
    } else {
        let _ = write!(
            body,
            "<form method=\"post\" action=\"/admin/members/{id}/archive\"><label>Why <input name=\"reason\" id=\"reason\"></label> \
             <button id=\"confirm\">Yes, archive</button></form>"
        );
    }
    body.push_str("<p><a href=\"/admin\">No, back</a></p>");
    Ok(Html(layout("Are you sure?", &body)))
}

/// The archive form.
#[derive(Debug, Deserialize)]
pub struct ArchiveForm {
    reason: Option<String>,
}

async fn archive(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<i32>,
    Form(form): Form<ArchiveForm>,
) -> Result<Redirect, PageError> {
    let reason = form.reason.filter(|r| !r.trim().is_empty());
    if let Some(reason) = &reason {
        crate::dto::check_text("reason", reason)?;
    }
    let archived = archive_member(&state, id, identity.user, reason).await?;
    Ok(Redirect::to(&format!(
        "/admin?archived={}",
        archived.archive_id
    )))
}

async fn restore(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    identity.require_admin("restoring an archive")?;
    restore_archive(&state, id, identity.user).await?;
    Ok((
        StatusCode::SEE_OTHER,
        [(header::LOCATION, format!("/admin?restored={id}"))],
    )
        .into_response())
}
