//! The schema check against each database's real foreign keys.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use soft_delete_runtime::backend::TableName;
use soft_delete_runtime::collector::{IndexUse, Rule, SchemaIssue, SchemaReport};
use soft_delete_runtime::prelude::*;
use soft_delete_tests::backend_tests;
use soft_delete_tests::exec::Exec;
use soft_delete_tests::stamp::Stamp;

use crate::collector_schema::*;

diesel::table! {
    shelves (id) {
        id -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    books (id) {
        id -> Integer,
        shelf_id -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    labels (id) {
        id -> Integer,
        shelf_id -> Integer,
    }
}

/// Declares `books.shelf_id` and `labels.shelf_id`; the database disagrees about both.
#[allow(dead_code)] // the models are here for their derive
#[derive(Queryable, SoftDelete)]
#[diesel(table_name = shelves)]
#[soft_delete(children(books::shelf_id = cascade, labels::shelf_id = do_nothing))]
struct Shelf {
    id: i32,
    deleted_at: Option<Stamp>,
}

#[allow(dead_code)] // the models are here for their derive
#[derive(Queryable, SoftDelete)]
struct Book {
    id: i32,
    shelf_id: i32,
    deleted_at: Option<Stamp>,
}

diesel::table! {
    accounts (id) {
        id -> Integer,
        tenant_id -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    bills (id) {
        id -> Integer,
        tenant_id -> Integer,
        account_id -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

/// A tenant's account: its bills reference it with the tenant, by a two-column key.
#[allow(dead_code)] // the models are here for their derive
#[derive(Queryable, SoftDelete)]
#[diesel(table_name = accounts)]
#[soft_delete(children(bills::account_id = cascade))]
struct Account {
    id: i32,
    tenant_id: i32,
    deleted_at: Option<Stamp>,
}

#[allow(dead_code)] // the models are here for their derive
#[derive(Queryable, SoftDelete)]
struct Bill {
    id: i32,
    tenant_id: i32,
    account_id: i32,
    deleted_at: Option<Stamp>,
}

/// The report's findings about foreign keys, leaving out the missing indexes.
fn key_issues(report: &SchemaReport) -> Vec<SchemaIssue> {
    report
        .issues
        .iter()
        .filter(|issue| !matches!(issue, SchemaIssue::MissingIndex { .. }))
        .cloned()
        .collect()
}

fn table(name: &str) -> TableName {
    TableName {
        schema: None,
        name: name.to_owned(),
    }
}

backend_tests! {
    fn the_declared_shop_matches_its_foreign_keys(db, x) {
        seed(db)?;
        db.create(crate::plans::SHOP_INDEXES);
        let conn = db.conn();
        let report = x.check_schema::<members::table>(conn)?;
        assert!(report.is_clean(), "{report}");
        assert_eq!(report.to_string(), "the declared relations match the database's foreign keys, and an index serves every column rows are found by");
        Ok(())
    }

    fn a_foreign_key_no_edge_declares_is_reported(db, x) {
        seed(db)?;
        // coupons reference members and order items; neither is declared
        db.create(
            "CREATE TABLE coupons (id {pk}, member_id {int} NOT NULL, item_id {int} NULL,
               FOREIGN KEY (member_id) REFERENCES members (id),
               FOREIGN KEY (item_id) REFERENCES order_items (id));",
        );
        let conn = db.conn();
        let report = x.check_schema::<members::table>(conn)?;
        let undeclared: Vec<(String, Vec<String>, String)> = key_issues(&report)
            .iter()
            .map(|issue| match issue {
                SchemaIssue::Undeclared(fk) => {
                    (fk.child.name.clone(), fk.columns.clone(), fk.parent.name.clone())
                }
                other => panic!("only undeclared keys expected, got {other}"),
            })
            .collect();
        assert_eq!(
            undeclared,
            [
                ("coupons".to_owned(), vec!["member_id".to_owned()], "members".to_owned()),
                ("coupons".to_owned(), vec!["item_id".to_owned()], "order_items".to_owned()),
            ]
        );
        let text = report.to_string();
        assert!(text.starts_with("undeclared: `"), "{text}");
        assert!(text.contains("add `coupons::member_id = <rule>` to the `children(...)` of its model"), "{text}");

        // A graph rooted lower down does not see the members key.
        let report = x.check_schema::<order_items::table>(conn)?;
        assert_eq!(key_issues(&report).len(), 1, "{report}");
        Ok(())
    }

    fn declared_edges_without_or_with_another_foreign_key_are_reported(db, x) {
        db.create(
            "CREATE TABLE rooms (id {pk});
             CREATE TABLE shelves (id {pk}, deleted_at {ts} NULL);
             CREATE TABLE books (id {pk}, shelf_id {int} NOT NULL, deleted_at {ts} NULL,
               FOREIGN KEY (shelf_id) REFERENCES rooms (id));
             CREATE TABLE labels (id {pk}, shelf_id {int} NOT NULL);",
        );
        let conn = db.conn();
        let report = x.check_schema::<shelves::table>(conn)?;
        let mut issues = key_issues(&report);
        for issue in &mut issues {
            // the catalog's schema name differs per backend; the test compares names
            if let SchemaIssue::WrongTarget { references, .. } = issue {
                references.0.schema = None;
            }
        }
        assert_eq!(
            issues,
            [
                SchemaIssue::WrongTarget {
                    parent: table("shelves"),
                    child: table("books"),
                    column: "shelf_id",
                    rule: Rule::Cascade,
                    references: (table("rooms"), Some("id".to_owned())),
                },
                SchemaIssue::NoForeignKey {
                    parent: table("shelves"),
                    child: table("labels"),
                    column: "shelf_id",
                    rule: Rule::DoNothing,
                },
            ]
        );
        assert_eq!(
            issues[1].to_string(),
            "declared `labels`.`shelf_id` = do_nothing under `shelves`, but the database has no foreign key on `labels`.`shelf_id`"
        );
        Ok(())
    }

    fn catalog_names_are_values_not_sql(db, x) {
        // A table whose name would break SQL if it were spliced into a statement.
        db.create("CREATE TABLE shelves (id {pk}, deleted_at {ts} NULL);");
        let quoted = match db.backend() {
            soft_delete_tests::Backend::Mysql => "CREATE TABLE `books` (id INTEGER PRIMARY KEY, shelf_id INTEGER NOT NULL, deleted_at DATETIME(6) NULL, FOREIGN KEY (shelf_id) REFERENCES shelves (id));
                 CREATE TABLE `we'ird; DROP TABLE shelves; --` (id INTEGER PRIMARY KEY, shelf_id INTEGER NOT NULL, FOREIGN KEY (shelf_id) REFERENCES shelves (id));
                 CREATE TABLE labels (id INTEGER PRIMARY KEY, shelf_id INTEGER NOT NULL, FOREIGN KEY (shelf_id) REFERENCES shelves (id));",
            _ => "CREATE TABLE books (id INTEGER PRIMARY KEY, shelf_id INTEGER NOT NULL, deleted_at TIMESTAMP NULL, FOREIGN KEY (shelf_id) REFERENCES shelves (id));
                 CREATE TABLE \"we'ird; DROP TABLE shelves; --\" (id INTEGER PRIMARY KEY, shelf_id INTEGER NOT NULL, FOREIGN KEY (shelf_id) REFERENCES shelves (id));
                 CREATE TABLE labels (id INTEGER PRIMARY KEY, shelf_id INTEGER NOT NULL, FOREIGN KEY (shelf_id) REFERENCES shelves (id));",
        };
        db.conn().batch_execute(quoted)?;
        let conn = db.conn();
        let report = x.check_schema::<shelves::table>(conn)?;
        let issues = key_issues(&report);
        assert_eq!(issues.len(), 1, "{report}");
        let SchemaIssue::Undeclared(fk) = &issues[0] else {
            panic!("expected an undeclared key, got {}", issues[0]);
        };
        assert_eq!(fk.child.name, "we'ird; DROP TABLE shelves; --");
        assert_eq!(shelves::table.with_deleted().count().get_result::<i64>(conn)?, 0);
        Ok(())
    }

    fn a_column_rows_are_found_by_without_an_index_is_reported(db, x) {
        db.create(
            "CREATE TABLE shelves (id {pk}, deleted_at {ts} NULL);
             CREATE TABLE books (id {pk}, shelf_id {int} NOT NULL, deleted_at {ts} NULL,
               FOREIGN KEY (shelf_id) REFERENCES shelves (id));
             CREATE TABLE labels (id {pk}, shelf_id {int} NOT NULL,
               FOREIGN KEY (shelf_id) REFERENCES shelves (id));",
        );
        let conn = db.conn();
        let report = x.check_schema::<shelves::table>(conn)?;
        let missing: Vec<(String, &str, IndexUse)> = report
            .issues
            .iter()
            .map(|issue| match issue {
                SchemaIssue::MissingIndex { table, column, used_by } => {
                    let mut used_by = used_by.clone();
                    if let IndexUse::Edge { parent, .. } = &mut used_by {
                        parent.schema = None;
                    }
                    (table.name.clone(), *column, used_by)
                }
                other => panic!("only missing indexes expected, got {other}"),
            })
            .collect();
        let edge = (
            "books".to_owned(),
            "shelf_id",
            IndexUse::Edge { parent: table("shelves"), rule: Rule::Cascade },
        );
        let stamps = [
            ("shelves".to_owned(), "deleted_at", IndexUse::Batch),
            ("books".to_owned(), "deleted_at", IndexUse::Batch),
        ];
        // InnoDB indexes a foreign key's column itself; `labels` is `do_nothing`, never read.
        let expected: Vec<_> = if db.backend() == soft_delete_tests::Backend::Mysql {
            stamps.to_vec()
        } else {
            std::iter::once(edge).chain(stamps).collect()
        };
        assert_eq!(missing, expected, "{report}");
        let text = report.to_string();
        assert!(
            text.contains("no index of `shelves` starts with `deleted_at`, by which a restore finds an archive's rows"),
            "{text}"
        );

        // A unique key or primary key that leads with the column serves as well; a
        // multi-column index serves only by its first column.
        db.create(
            "CREATE INDEX shelves_deleted_at ON shelves (deleted_at);
             CREATE INDEX books_shelf ON books (shelf_id, deleted_at);
             CREATE INDEX books_deleted_at_id ON books (deleted_at, id);",
        );
        let report = x.check_schema::<shelves::table>(db.conn())?;
        assert!(report.is_clean(), "{report}");
        Ok(())
    }

    fn a_two_column_key_whose_column_the_edge_declares_is_declared(db, x) {
        // A multi-tenant schema: a bill names its tenant and its account, and the key holds
        // both to the same tenant. The edge's column references the account's primary key.
        db.create(
            "CREATE TABLE accounts (id {pk}, tenant_id {int} NOT NULL, deleted_at {ts} NULL,
               UNIQUE (tenant_id, id));
             CREATE TABLE bills (id {pk}, tenant_id {int} NOT NULL, account_id {int} NOT NULL, deleted_at {ts} NULL,
               FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, id));",
        );
        let conn = db.conn();
        let report = x.check_schema::<accounts::table>(conn)?;
        assert_eq!(key_issues(&report), [], "{report}");
        Ok(())
    }
}
