//! Every endpoint over real HTTP, success and error paths, on SQLite and PostgreSQL: the
//! service on `127.0.0.1:0` in this process, a reqwest client, the visibility guard in panic
//! mode.

mod common;

use common::{json, Server};
use reqwest::Method;
use serde_json::{json, Value};

const ADMIN: (&str, &str) = ("x-role", "admin");

async fn call(
    server: &Server,
    method: Method,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let mut request = server.request(method, path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    json(request.send().await.expect("the request is answered")).await
}

async fn get(server: &Server, path: &str) -> (u16, Value) {
    call(server, Method::GET, path, None, &[]).await
}

async fn post(server: &Server, path: &str, body: Value, headers: &[(&str, &str)]) -> (u16, Value) {
    call(server, Method::POST, path, Some(body), headers).await
}

/// A member with an order of two items, a post, a review; and `invoices` unpaid invoices.
async fn member(server: &Server, name: &str, invoices: &[i32]) -> i64 {
    let (status, body) = post(
        server,
        "/api/members",
        json!({
            "name": name,
            "email": format!("{name}@example.com"),
            "orders": [{"code": format!("{name}-1"), "items": ["pen", "ink"]}],
            "posts": [format!("{name} says hi")],
            "reviews": ["great pens"],
            "invoices": invoices,
        }),
        &[],
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_i64().expect("an id")
}

/// A raw request with a body and a content type, for malformed input.
async fn raw(
    server: &Server,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> (u16, Value) {
    let mut request = server.request(method, path).body(body.to_owned());
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    json(request.send().await.expect("answered")).await
}

backend_tests!(members_list_get_delete_restore_trash, |server| async {
    let ann = member(server, "ann", &[]).await;
    let bob = member(server, "bob", &[]).await;
    let _cy = member(server, "cy", &[]).await;

    // the active list, paged
    let (status, page) = get(server, "/api/members?page=1&per_page=2").await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            page["total"].as_i64(),
            page["items"].as_array().map(Vec::len)
        ),
        (Some(3), Some(2))
    );
    let (_, page2) = get(server, "/api/members?page=2&per_page=2").await;
    assert_eq!(page2["items"][0]["name"], "cy");

    // delete: who from x-user, why from ?reason=
    let (status, deleted) = call(
        server,
        Method::DELETE,
        &format!("/api/members/{bob}?reason=left"),
        None,
        &[("x-user", "sue")],
    )
    .await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(
        (
            deleted["deleted_by"].as_str(),
            deleted["deletion_reason"].as_str()
        ),
        (Some("sue"), Some("left"))
    );
    assert!(deleted["deleted_at"].is_string());
    let (status, again) = call(
        server,
        Method::DELETE,
        &format!("/api/members/{bob}"),
        None,
        &[],
    )
    .await;
    assert_eq!((status, again["error"].as_str()), (404, Some("not_found")));

    // get: live only unless ?include_deleted=true
    assert_eq!(get(server, &format!("/api/members/{bob}")).await.0, 404);
    let (status, found) = get(server, &format!("/api/members/{bob}?include_deleted=true")).await;
    assert_eq!((status, found["name"].as_str()), (200, Some("bob")));
    assert_eq!(get(server, &format!("/api/members/{ann}")).await.0, 200);
    assert_eq!(
        get(server, &format!("/api/members/{ann}?include_deleted=false"))
            .await
            .0,
        200
    );
    assert_eq!(get(server, "/api/members/424242").await.0, 404);

    // the list and the trash
    let (_, page) = get(server, "/api/members").await;
    assert_eq!(page["total"], 2);
    let (status, trash) = get(server, "/api/trash").await;
    assert_eq!((status, trash["total"].as_i64()), (200, Some(1)));
    assert_eq!(trash["items"][0]["id"].as_i64(), Some(bob));

    // restore: admins only
    let (status, denied) = post(
        server,
        &format!("/api/members/{bob}/restore"),
        json!(null),
        &[("x-user", "sue")],
    )
    .await;
    assert_eq!((status, denied["error"].as_str()), (403, Some("forbidden")));
    let (status, restored) = post(
        server,
        &format!("/api/members/{bob}/restore"),
        json!(null),
        &[ADMIN],
    )
    .await;
    assert_eq!(status, 200, "{restored}");
    assert!(restored["deleted_at"].is_null() && restored["deleted_by"].is_null());
    assert_eq!(
        post(
            server,
            &format!("/api/members/{bob}/restore"),
            json!(null),
            &[ADMIN]
        )
        .await
        .0,
        404
    );
    assert_eq!(
        post(server, "/api/members/424242/restore", json!(null), &[ADMIN])
            .await
            .0,
        404
    );
    assert_eq!(get(server, "/api/trash").await.1["total"], 0);

    // a restore that would give the email a second live member: 409 with the holder's id
    call(
        server,
        Method::DELETE,
        &format!("/api/members/{ann}"),
        None,
        &[],
    )
    .await;
    let (status, taken) = post(
        server,
        "/api/members",
        json!({"name": "ann2", "email": "ann@example.com"}),
        &[],
    )
    .await;
    assert_eq!(status, 201, "{taken}");
    let (status, conflict) = post(
        server,
        &format!("/api/members/{ann}/restore"),
        json!(null),
        &[ADMIN],
    )
    .await;
    assert_eq!(
        (status, conflict["error"].as_str()),
        (409, Some("conflict")),
        "{conflict}"
    );
    assert_eq!(
        conflict["live_id"].as_str().map(str::to_owned),
        Some(taken["id"].to_string())
    );
    // and a new member with a live member's email
    let (status, dup) = post(
        server,
        "/api/members",
        json!({"name": "x", "email": "bob@example.com"}),
        &[],
    )
    .await;
    assert_eq!((status, dup["error"].as_str()), (409, Some("state")));
});

backend_tests!(bad_input_is_4xx_with_a_json_body, |server| async {
    let ann = member(server, "ann", &[]).await;
    let cases: Vec<(u16, (u16, Value))> = vec![
        (
            400,
            raw(
                server,
                Method::POST,
                "/api/members",
                Some("application/json"),
                "{\"name\": \"a",
            )
            .await,
        ),
        (
            415,
            raw(server, Method::POST, "/api/members", None, "{}").await,
        ),
        (
            422,
            raw(
                server,
                Method::POST,
                "/api/members",
                Some("application/json"),
                "{\"name\": 7}",
            )
            .await,
        ),
        (
            422,
            raw(
                server,
                Method::POST,
                "/api/members",
                Some("application/json"),
                "{\"name\": \"a\", \"email\": \"b\", \"extra\": 1}",
            )
            .await,
        ),
        (
            422,
            post(
                server,
                "/api/members",
                json!({"name": "a\u{0}b", "email": "nul@example.com"}),
                &[],
            )
            .await,
        ),
        (
            422,
            post(
                server,
                "/api/members",
                json!({"name": "  ", "email": "e@example.com"}),
                &[],
            )
            .await,
        ),
        (
            422,
            post(
                server,
                "/api/members",
                json!({"name": "x".repeat(501), "email": "e@example.com"}),
                &[],
            )
            .await,
        ),
        (
            422,
            post(
                server,
                "/api/members",
                json!({"name": "a", "email": "e@example.com", "posts": vec!["p"; 51]}),
                &[],
            )
            .await,
        ),
        (
            422,
            post(
                server,
                "/api/members",
                json!({"name": "a", "email": "e@example.com", "invoices": [99999999999i64]}),
                &[],
            )
            .await,
        ),
        (400, get(server, "/api/members/abc").await),
        (400, get(server, "/api/members/99999999999999999999").await),
        (400, get(server, "/api/members?page=-1").await),
        (400, get(server, "/api/members?page=99999999999").await),
        (422, get(server, "/api/members?page=0").await),
        (422, get(server, "/api/members?per_page=0").await),
        (422, get(server, "/api/members?per_page=101").await),
        (
            400,
            get(server, &format!("/api/members/{ann}?include_deleted=maybe")).await,
        ),
        (
            422,
            call(
                server,
                Method::DELETE,
                &format!("/api/members/{ann}?reason=%00"),
                None,
                &[],
            )
            .await,
        ),
        (400, get(server, "/api/archives/1.5").await),
        (422, get(server, "/api/archives?limit=0").await),
        (400, get(server, "/api/archives?before=x").await),
        (
            422,
            post(
                server,
                "/api/exams/1/attempts",
                json!({"member_id": "one"}),
                &[],
            )
            .await,
        ),
        (
            400,
            post(
                server,
                "/api/exams/99999999999/attempts",
                json!({"member_id": 1}),
                &[],
            )
            .await,
        ),
        (
            422,
            post(
                server,
                "/api/purge",
                json!({"older_than_days": 100000}),
                &[ADMIN],
            )
            .await,
        ),
        (
            422,
            post(
                server,
                "/api/purge/dry-run",
                json!({"older_than_days": -1}),
                &[ADMIN],
            )
            .await,
        ),
        (
            422,
            post(
                server,
                &format!("/api/members/{ann}/archive"),
                json!({"reason": ""}),
                &[],
            )
            .await,
        ),
    ];
    for (i, (expected, (status, body))) in cases.iter().enumerate() {
        assert_eq!(status, expected, "case {i}: {body}");
        assert!(
            body["error"].is_string() && body["message"].is_string(),
            "case {i}: not a JSON error: {body}"
        );
    }
    // a header that is not visible ASCII
    let response = server
        .request(Method::DELETE, &format!("/api/members/{ann}"))
        .header(
            "x-user",
            reqwest::header::HeaderValue::from_bytes(b"\xe9t\xe9").expect("bytes"),
        )
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status().as_u16(), 422);
    assert_eq!(
        get(server, &format!("/api/members/{ann}")).await.0,
        200,
        "nothing was deleted"
    );
});

backend_tests!(exam_attempts_start_retry_history, |server| async {
    let ann = member(server, "ann", &[]).await;
    let (status, first) = post(
        server,
        "/api/exams/1/attempts",
        json!({"member_id": ann}),
        &[],
    )
    .await;
    assert_eq!(
        (status, first["retry"].as_i64(), first["active"].as_bool()),
        (201, Some(0), Some(true)),
        "{first}"
    );
    // a second start: 409 with the live attempt's id
    let (status, conflict) = post(
        server,
        "/api/exams/1/attempts",
        json!({"member_id": ann}),
        &[],
    )
    .await;
    assert_eq!(
        (status, conflict["error"].as_str()),
        (409, Some("conflict"))
    );
    assert_eq!(
        conflict["live_id"].as_str().map(str::to_owned),
        Some(first["id"].to_string())
    );
    // retries: the counter goes up by one, one live attempt
    for expected in 1..=2 {
        let (status, next) = post(
            server,
            "/api/exams/1/attempts/retry",
            json!({"member_id": ann}),
            &[],
        )
        .await;
        assert_eq!(
            (status, next["retry"].as_i64()),
            (200, Some(expected)),
            "{next}"
        );
    }
    let (status, history) = get(server, &format!("/api/exams/1/attempts?member_id={ann}")).await;
    assert_eq!(status, 200);
    let retries: Vec<(i64, bool)> = history
        .as_array()
        .expect("a list")
        .iter()
        .map(|a| {
            (
                a["retry"].as_i64().unwrap_or(-1),
                a["active"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(retries, [(2, true), (1, false), (0, false)]);
    // no live attempt to retry; no such member to start
    let (status, none) = post(
        server,
        "/api/exams/2/attempts/retry",
        json!({"member_id": ann}),
        &[],
    )
    .await;
    assert_eq!((status, none["error"].as_str()), (404, Some("no_live_row")));
    assert_eq!(
        post(
            server,
            "/api/exams/1/attempts",
            json!({"member_id": 424242}),
            &[]
        )
        .await
        .0,
        404
    );
    assert_eq!(get(server, "/api/exams/1/attempts").await.0, 400);
});

backend_tests!(cascade_preview_archive_log_restore, |server| async {
    let ann = member(server, "ann", &[]).await;
    let bob = member(server, "bob", &[42]).await;

    // the preview: the plan as data and as the tree
    let (status, plan) = get(server, &format!("/api/members/{ann}/archive/preview")).await;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(
        (
            plan["roots"].as_i64(),
            plan["total_archived"].as_i64(),
            plan["blocked"].as_bool()
        ),
        (Some(1), Some(5), Some(false))
    );
    let tree = plan["tree"].as_str().expect("a tree");
    assert!(
        tree.contains("`order_items`.`order_id` cascade: 2 rows archived"),
        "{tree}"
    );
    assert!(
        tree.contains("`reviews`.`author_id` set_null: 1 link cut"),
        "{tree}"
    );
    assert_eq!(
        get(server, "/api/members/424242/archive/preview").await.0,
        404
    );

    // an unpaid invoice protects bob: 409 naming it, nothing written
    let (_, bob_plan) = get(server, &format!("/api/members/{bob}/archive/preview")).await;
    assert_eq!(bob_plan["blocked"], true);
    let (status, refused) = post(
        server,
        &format!("/api/members/{bob}/archive"),
        json!({}),
        &[],
    )
    .await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (409, Some("protected")),
        "{refused}"
    );
    assert_eq!(refused["blockers"][0]["table"], "invoices");
    assert_eq!(get(server, &format!("/api/members/{bob}")).await.0, 200);

    // the archive
    let (status, archived) = post(
        server,
        &format!("/api/members/{ann}/archive"),
        json!({"reason": "closed"}),
        &[("x-user", "sue")],
    )
    .await;
    assert_eq!(status, 201, "{archived}");
    let id = archived["archive_id"].as_i64().expect("an archive id");
    assert_eq!(archived["plan"]["total_archived"], 5);
    assert_eq!(get(server, &format!("/api/members/{ann}")).await.0, 404);
    let (_, shown) = get(server, &format!("/api/members/{ann}?include_deleted=true")).await;
    assert_eq!(shown["archive_id"].as_i64(), Some(id));
    let (status, again) = post(
        server,
        &format!("/api/members/{ann}/archive"),
        json!({}),
        &[],
    )
    .await;
    assert_eq!((status, again["error"].as_str()), (404, Some("not_found")));
    // one member of an archive comes back with the archive, not alone
    let (status, alone) = post(
        server,
        &format!("/api/members/{ann}/restore"),
        json!(null),
        &[ADMIN],
    )
    .await;
    assert_eq!((status, alone["error"].as_str()), (409, Some("state")));

    // the archive log
    let (status, log) = get(server, "/api/archives").await;
    assert_eq!(status, 200);
    assert_eq!(log[0]["id"].as_i64(), Some(id));
    assert_eq!(
        (
            log[0]["by"].as_str(),
            log[0]["reason"].as_str(),
            log[0]["root_key"].as_str()
        ),
        (Some("sue"), Some("closed"), Some(ann.to_string().as_str()))
    );
    assert!(log[0]["restored_at"].is_null());
    let (status, entry) = get(server, &format!("/api/archives/{id}")).await;
    assert_eq!((status, entry["id"].as_i64()), (200, Some(id)));
    assert_eq!(get(server, "/api/archives/424242").await.0, 404);
    assert_eq!(
        get(server, &format!("/api/archives?before={id}")).await.1,
        json!([])
    );
    assert_eq!(
        get(server, "/api/archives?not_restored=true&limit=1")
            .await
            .1[0]["id"]
            .as_i64(),
        Some(id)
    );

    // restore by archive id: admins only, once, exactly what was archived
    assert_eq!(
        post(
            server,
            &format!("/api/archives/{id}/restore"),
            json!(null),
            &[]
        )
        .await
        .0,
        403
    );
    let (status, restored) = post(
        server,
        &format!("/api/archives/{id}/restore"),
        json!(null),
        &[ADMIN, ("x-user", "root")],
    )
    .await;
    assert_eq!(status, 200, "{restored}");
    assert_eq!(restored["total_rows"], 5);
    assert_eq!(restored["links"][0]["links"], 1);
    let (status, twice) = post(
        server,
        &format!("/api/archives/{id}/restore"),
        json!(null),
        &[ADMIN],
    )
    .await;
    assert_eq!(
        (status, twice["error"].as_str()),
        (409, Some("already_restored"))
    );
    assert_eq!(
        post(
            server,
            "/api/archives/424242/restore",
            json!(null),
            &[ADMIN]
        )
        .await
        .0,
        404
    );
    let (_, entry) = get(server, &format!("/api/archives/{id}")).await;
    assert_eq!(entry["restored_by"], "root");
    assert_eq!(get(server, &format!("/api/members/{ann}")).await.0, 200);

    // an archive whose member's email was taken meanwhile: 409 with the holder's id
    let (_, archived) = post(
        server,
        &format!("/api/members/{ann}/archive"),
        json!({}),
        &[],
    )
    .await;
    let id = archived["archive_id"].as_i64().expect("an archive id");
    let (_, taken) = post(
        server,
        "/api/members",
        json!({"name": "ann2", "email": "ann@example.com"}),
        &[],
    )
    .await;
    let (status, conflict) = post(
        server,
        &format!("/api/archives/{id}/restore"),
        json!(null),
        &[ADMIN],
    )
    .await;
    assert_eq!(
        (status, conflict["error"].as_str()),
        (409, Some("conflict")),
        "{conflict}"
    );
    assert_eq!(
        conflict["live_id"].as_str().map(str::to_owned),
        Some(taken["id"].to_string())
    );
});

backend_tests!(purge_dry_run_and_run, |server| async {
    let ann = member(server, "ann", &[]).await;
    let bob = member(server, "bob", &[]).await;
    // bob has an exam attempt: the database's foreign key keeps him
    assert_eq!(
        post(
            server,
            "/api/exams/1/attempts",
            json!({"member_id": bob}),
            &[]
        )
        .await
        .0,
        201
    );
    let (status, archived) = post(
        server,
        &format!("/api/members/{ann}/archive"),
        json!({}),
        &[],
    )
    .await;
    assert_eq!(status, 201, "{archived}");
    call(
        server,
        Method::DELETE,
        &format!("/api/members/{bob}"),
        None,
        &[],
    )
    .await;

    let (status, denied) = post(
        server,
        "/api/purge/dry-run",
        json!({"older_than_days": 0}),
        &[],
    )
    .await;
    assert_eq!((status, denied["error"].as_str()), (403, Some("forbidden")));
    assert_eq!(
        post(server, "/api/purge", json!({"older_than_days": 0}), &[])
            .await
            .0,
        403
    );
    // a year: nothing is that old
    let (status, none) = post(
        server,
        "/api/purge/dry-run",
        json!({"older_than_days": 365}),
        &[ADMIN],
    )
    .await;
    assert_eq!((status, none["deleted"].as_i64()), (200, Some(0)), "{none}");

    let (status, dry) = post(
        server,
        "/api/purge/dry-run",
        json!({"older_than_days": 0}),
        &[ADMIN],
    )
    .await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(
        (
            dry["dry_run"].as_bool(),
            dry["deleted"].as_i64(),
            dry["kept"].as_i64()
        ),
        (Some(true), Some(5), Some(1)),
        "{dry}"
    );
    assert_eq!(
        get(server, "/api/trash").await.1["total"],
        2,
        "a dry run deletes nothing"
    );
    let (status, run) = post(
        server,
        "/api/purge",
        json!({"older_than_days": 0}),
        &[ADMIN],
    )
    .await;
    assert_eq!(
        (status, run["dry_run"].as_bool(), run["deleted"].as_i64()),
        (200, Some(false), Some(5)),
        "{run}"
    );
    let (_, trash) = get(server, "/api/trash").await;
    assert_eq!(
        (trash["total"].as_i64(), trash["items"][0]["id"].as_i64()),
        (Some(1), Some(bob))
    );
    assert_eq!(
        get(server, &format!("/api/members/{ann}?include_deleted=true"))
            .await
            .0,
        404
    );
});

backend_tests!(openapi_and_admin_page, |server| async {
    let (status, doc) = get(server, "/openapi.json").await;
    assert_eq!(status, 200);
    for path in [
        "/api/members",
        "/api/members/{id}",
        "/api/members/{id}/restore",
        "/api/trash",
        "/api/exams/{exam_id}/attempts",
        "/api/exams/{exam_id}/attempts/retry",
        "/api/members/{id}/archive/preview",
        "/api/members/{id}/archive",
        "/api/archives",
        "/api/archives/{id}",
        "/api/archives/{id}/restore",
        "/api/purge/dry-run",
        "/api/purge",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is not documented");
    }
    let ann = member(server, "ann", &[]).await;
    let page = |path: String, cookie: Option<&'static str>| {
        let mut request = server.request(Method::GET, &path);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        async move {
            let response = request.send().await.expect("answered");
            (
                response.status().as_u16(),
                response.text().await.expect("text"),
            )
        }
    };
    let (status, html) = page("/admin".into(), None).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Signed in as anonymous")
            && html.contains(&format!("href=\"/admin/members/{ann}/archive\"")),
        "{html}"
    );
    let (status, html) = page(format!("/admin/members/{ann}/archive"), None).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Are you sure?") && html.contains("cascade: 2 rows archived"),
        "{html}"
    );
    assert_eq!(
        page("/admin/members/424242/archive".into(), None).await.0,
        404
    );
    // the forms: archive, then restore as an admin (the sign-in cookies)
    let response = server
        .request(Method::POST, &format!("/admin/members/{ann}/archive"))
        .form(&[("reason", "<b>closed</b>")])
        .send()
        .await
        .expect("answered");
    assert_eq!(
        response.status().as_u16(),
        200,
        "followed the redirect to /admin"
    );
    let html = response.text().await.expect("text");
    assert!(
        html.contains("Archived: archive #") && html.contains("&lt;b&gt;closed&lt;/b&gt;"),
        "{html}"
    );
    let (_, log) = get(server, "/api/archives").await;
    let id = log[0]["id"].as_i64().expect("an id");
    let denied = server
        .request(Method::POST, &format!("/admin/archives/{id}/restore"))
        .send()
        .await
        .expect("answered");
    assert_eq!(denied.status().as_u16(), 403);
    let restored = server
        .request(Method::POST, &format!("/admin/archives/{id}/restore"))
        .header("cookie", "sd_user=root; sd_role=admin")
        .send()
        .await
        .expect("answered");
    assert_eq!(restored.status().as_u16(), 200);
    assert!(restored
        .text()
        .await
        .expect("text")
        .contains(&format!("Restored archive #{id}.")));
    assert_eq!(get(server, &format!("/api/members/{ann}")).await.0, 200);
});

/// The statuses of `n` requests sent at once: `make(i)` gives request `i`'s method, path and
/// body.
async fn at_once(
    server: &Server,
    n: usize,
    make: impl Fn(usize) -> (Method, String, Value),
) -> Vec<(u16, Value)> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (method, path, body) = make(i);
            let request = server
                .request(method, &path)
                .header("x-user", "sue")
                .header("x-role", "admin")
                .json(&body);
            tokio::spawn(async move { json(request.send().await.expect("answered")).await })
        })
        .collect();
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.expect("the request task"));
    }
    out
}

backend_tests!(concurrent_writes_are_not_5xx, |server| async {
    // members created at once, each with children: every one is created
    let created = at_once(server, 16, |i| {
        (
            Method::POST,
            "/api/members".into(),
            json!({"name": format!("m{i}"), "email": format!("m{i}@example.com"),
                   "orders": [{"code": "o", "items": ["a", "b"]}], "posts": ["p"], "reviews": ["r"]}),
        )
    })
    .await;
    let server_errors: Vec<_> = created.iter().filter(|(s, _)| *s >= 500).collect();
    assert!(server_errors.is_empty(), "creates: {server_errors:?}");
    let ids: Vec<i64> = created
        .iter()
        .map(|(_, body)| body["id"].as_i64().expect("an id"))
        .collect();
    // archives of them at once, beside more creates
    let mixed = at_once(server, 16, |i| {
        if i % 2 == 0 {
            (
                Method::POST,
                format!("/api/members/{}/archive", ids[i]),
                json!({}),
            )
        } else {
            (
                Method::POST,
                "/api/members".into(),
                json!({"name": format!("n{i}"), "email": format!("n{i}@example.com"), "posts": ["p"]}),
            )
        }
    })
    .await;
    let server_errors: Vec<_> = mixed.iter().filter(|(s, _)| *s >= 500).collect();
    assert!(
        server_errors.is_empty(),
        "archives and creates: {server_errors:?}"
    );
    assert!(mixed.iter().all(|(s, _)| *s == 201), "{mixed:?}");
});

backend_tests!(no_attempt_retry_for_a_deleted_member, |server| async {
    // start refuses a deleted member (404); retry must too, and write nothing
    let ann = member(server, "ann", &[]).await;
    let (status, first) = post(
        server,
        "/api/exams/1/attempts",
        json!({"member_id": ann}),
        &[],
    )
    .await;
    assert_eq!(status, 201, "{first}");
    let (status, _) = call(
        server,
        Method::DELETE,
        &format!("/api/members/{ann}"),
        None,
        &[],
    )
    .await;
    assert_eq!(status, 200);
    let (status, retried) = post(
        server,
        "/api/exams/1/attempts/retry",
        json!({"member_id": ann}),
        &[],
    )
    .await;
    assert_eq!(
        (status, retried["error"].as_str()),
        (404, Some("not_found")),
        "{retried}"
    );
    let (_, history) = get(server, &format!("/api/exams/1/attempts?member_id={ann}")).await;
    assert_eq!(history.as_array().map(Vec::len), Some(1), "{history}");
    assert_eq!(history[0]["id"], first["id"]);
    assert_eq!(history[0]["active"], true);
});

backend_tests!(restoring_a_purged_archive_is_refused, |server| async {
    let ann = member(server, "ann", &[]).await;
    let (status, archived) = post(
        server,
        &format!("/api/members/{ann}/archive"),
        json!({}),
        &[],
    )
    .await;
    assert_eq!(status, 201, "{archived}");
    let id = archived["archive_id"].as_i64().expect("an archive id");
    let (status, purged) = post(
        server,
        "/api/purge",
        json!({"older_than_days": 0}),
        &[ADMIN],
    )
    .await;
    assert_eq!(
        (status, purged["deleted"].as_i64()),
        (200, Some(5)),
        "{purged}"
    );
    // the archive's rows are gone for good: a restore has nothing to bring back, and must
    // not answer 200 and mark the archive restored
    let (status, restored) = post(
        server,
        &format!("/api/archives/{id}/restore"),
        json!(null),
        &[ADMIN],
    )
    .await;
    assert_eq!(
        (status, restored["error"].as_str()),
        (409, Some("state")),
        "{restored}"
    );
    let (_, entry) = get(server, &format!("/api/archives/{id}")).await;
    assert!(entry["restored_at"].is_null(), "{entry}");
});

backend_tests!(an_email_with_spaces_around_is_refused, |server| async {
    // " ann@example.com" is ann's email to a person; stored as given it would slip past the
    // one-live-member-per-email rule
    member(server, "ann", &[]).await;
    for email in [" ann@example.com", "ann@example.com ", "ann@example.com\n"] {
        let (status, body) = post(
            server,
            "/api/members",
            json!({"name": "ann2", "email": email}),
            &[],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (422, Some("invalid")),
            "{email:?}: {body}"
        );
    }
    assert_eq!(get(server, "/api/members").await.1["total"], 1);
});

/// Every pooled connection busy (8 requests waiting on a lock held outside the service): the
/// next request answers 503 `unavailable` after a bounded wait, as the error type promises for
/// an exhausted pool, instead of hanging until a connection frees up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_pool_answers_503() {
    use diesel::connection::SimpleConnection;
    let Some(server) = Server::start(common::Backend::Postgres, "exhausted_pool").await else {
        return;
    };
    member(&server, "ann", &[]).await;
    let mut locker = server.db.pg();
    locker
        .batch_execute("BEGIN; LOCK TABLE members IN ACCESS EXCLUSIVE MODE")
        .expect("lock members");
    let waiting: Vec<_> = (0..8)
        .map(|_| tokio::spawn(server.request(Method::GET, "/api/members").send()))
        .collect();
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let next = server
        .request(Method::GET, "/api/members")
        .timeout(std::time::Duration::from_secs(20))
        .send()
        .await;
    locker.batch_execute("ROLLBACK").expect("unlock");
    for request in waiting {
        let response = request.await.expect("task").expect("answered");
        assert_eq!(response.status().as_u16(), 200);
    }
    let (status, body) = json(next.expect("answered within 20 s, not hung")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("unavailable")),
        "{body}"
    );
    server.stop().await;
}

/// The SQLite file's write lock held outside the service for longer than the busy timeout:
/// a write gives up with "database is locked", which is the database being busy (503
/// `unavailable`, try again), not a failure of the service (500), and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_sqlite_file_answers_503() {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let Some(server) = Server::start(common::Backend::Sqlite, "locked_sqlite").await else {
        return;
    };
    let mut locker = diesel::SqliteConnection::establish(&server.db.url).expect("open the file");
    locker
        .batch_execute("BEGIN IMMEDIATE")
        .expect("take the write lock");
    let (status, body) = post(
        &server,
        "/api/members",
        json!({"name": "ann", "email": "ann@example.com"}),
        &[],
    )
    .await;
    locker.batch_execute("ROLLBACK").expect("unlock");
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("unavailable")),
        "{body}"
    );
    assert_eq!(get(&server, "/api/members").await.1["total"], 0);
    server.stop().await;
}

backend_tests!(
    creates_with_one_email_at_once_answer_one_error_code,
    |server| async {
        // one is created; every other answers what a create after it answers (409 `state`),
        // whichever way the race went (the check, or the unique index under it)
        let answers = at_once(server, 8, |_| {
            (
                Method::POST,
                "/api/members".into(),
                json!({"name": "ann", "email": "ann@example.com"}),
            )
        })
        .await;
        let mut statuses: Vec<(u16, Option<&str>)> = answers
            .iter()
            .map(|(status, body)| (*status, body["error"].as_str()))
            .collect();
        statuses.sort_unstable();
        let mut expected = vec![(409, Some("state")); 7];
        expected.insert(0, (201, None));
        assert_eq!(statuses, expected, "{answers:?}");
    }
);

backend_tests!(
    unknown_routes_and_methods_answer_a_json_error,
    |server| async {
        // a client reads every error answer of the API as ErrorBody
        for (method, path, expected) in [
            (Method::PUT, "/api/members", 405),
            (Method::DELETE, "/api/archives/1", 405),
            (Method::GET, "/api/nothing-here", 404),
            (Method::GET, "/api/members/1/nothing", 404),
        ] {
            let (status, body) = call(server, method.clone(), path, None, &[]).await;
            assert_eq!(status, expected, "{method} {path}: {body}");
            assert!(
                body["error"].is_string() && body["message"].is_string(),
                "{method} {path}: not a JSON error: {body}"
            );
        }
    }
);
