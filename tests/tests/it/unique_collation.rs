//! Active-unique keys on a text column whose collation calls two spellings equal: SQLite's
//! `NOCASE`, a nondeterministic ICU collation on PostgreSQL, MariaDB's default
//! `utf8mb4_general_ci` (which also ignores trailing spaces). The database treats
//! `ann@example.com` and `Ann@Example.com` as one key (its index refuses a second live row), so
//! the operations do too: a key given in another spelling finds the live row, and a row written
//! for it keeps the stored spelling without being taken for a row of another key.

use diesel::prelude::*;
use soft_delete_runtime::backend::SupportedBackend;
use soft_delete_runtime::ddl;
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::unique::NoCounter;
use soft_delete_runtime::Error;
use soft_delete_tests::exec::{FindIn, KeysIn};
use soft_delete_tests::stamp::Stamp;
use soft_delete_tests::{backend_tests, Backend};

diesel::table! {
    handles (id) {
        id -> Integer,
        email -> Text,
        visits -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

/// One live handle per email, the email compared as its column's collation compares it.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = handles)]
#[active_unique(fields = "email")]
pub struct Handle {
    pub id: i32,
    pub email: String,
    pub visits: i32,
    pub deleted_at: Option<Stamp>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = handles)]
pub struct NewHandle {
    pub email: String,
    pub visits: i32,
    pub deleted_at: Option<Stamp>,
}

fn handle(email: &str, visits: i32) -> NewHandle {
    NewHandle {
        email: email.into(),
        visits,
        deleted_at: None,
    }
}

/// `handles` with a case-blind `email` column, and the key's DDL.
fn create_case_blind<C>(db: &mut soft_delete_tests::TestDb<C>) -> QueryResult<()>
where
    C: soft_delete_tests::TestConnection,
    C::Backend: SupportedBackend,
{
    let email = match db.backend() {
        Backend::Sqlite => "TEXT COLLATE NOCASE",
        Backend::Postgres => {
            db.conn().batch_execute(
                "CREATE COLLATION case_blind (provider = icu, locale = 'und-u-ks-level2', deterministic = false)",
            )?;
            "TEXT COLLATE case_blind"
        }
        Backend::Mysql => "VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci",
    };
    db.create(&format!(
        "CREATE TABLE handles (id {{pk}}, email {email} NOT NULL, visits {{int}} NOT NULL, deleted_at {{ts}} NULL);"
    ));
    for statement in ddl::active_unique::<Handle>(<C::Backend as SupportedBackend>::DIALECT) {
        db.conn().batch_execute(&statement)?;
    }
    Ok(())
}

backend_tests! {
    fn a_key_in_another_spelling_the_collation_calls_equal_is_the_same_key(db, x) {
        create_case_blind(db)?;
        let conn = db.conn();
        let ann = KeysIn::<_, Handle, _, _>::start(x, conn, "ann@example.com".into(), |NoCounter| handle("ann@example.com", 0))?;
        // The database's view: one key, whose live row is found in any spelling.
        let found = FindIn::<_, Handle, _>::find_live(x, conn, "Ann@Example.com".into())?;
        assert_eq!(found.as_ref().map(|h| h.id), Some(ann.id));
        let err = KeysIn::<_, Handle, _, _>::start(x, conn, "ANN@example.com".into(), |NoCounter| handle("ANN@example.com", 0)).unwrap_err();
        assert_eq!(err.conflict().and_then(|c| c.live_id().parse::<i32>().ok()), Some(ann.id), "{err}");

        // An upsert by another spelling updates the live row, whose email it leaves alone.
        let visited = KeysIn::<_, Handle, _, _>::upsert(x, conn, "Ann@Example.com".into(), |NoCounter| handle("Ann@Example.com", 0), |live: &Handle| {
            handles::visits.eq(live.visits + 1)
        })?;
        assert_eq!((visited.id, visited.email.as_str(), visited.visits), (ann.id, "ann@example.com", 1));

        // A retry by another spelling retires the live row; its successor copies the stored email.
        let next = KeysIn::<_, Handle, _, _>::retry(x, conn, "ANN@EXAMPLE.COM".into(), |old: &Handle, NoCounter| handle(&old.email, old.visits))?;
        assert_ne!(next.id, ann.id);
        assert_eq!((next.email.as_str(), next.visits), ("ann@example.com", 1));
        let history = FindIn::<_, Handle, _>::history(x, conn, "ann@example.com".into())?;
        assert_eq!(history.iter().map(|h| (h.id, h.deleted_at.is_none())).collect::<Vec<_>>(), [(next.id, true), (ann.id, false)]);

        // A row of another key is still refused, and nothing is written.
        let other = KeysIn::<_, Handle, _, _>::retry(x, conn, "Ann@Example.com".into(), |_, NoCounter| handle("bob@example.com", 0)).unwrap_err();
        assert!(matches!(other, Error::InvalidNewRow { .. }), "{other}");
        let off_key = KeysIn::<_, Handle, _, _>::upsert(x, conn, "Ann@Example.com".into(), |NoCounter| handle("ann@example.com", 0), |_: &Handle| {
            handles::email.eq("bob@example.com")
        }).unwrap_err();
        assert!(matches!(off_key, Error::InvalidNewRow { .. }), "{off_key}");
        assert_eq!(handles::table.with_deleted().count().get_result::<i64>(conn)?, 2);
        assert_eq!(FindIn::<_, Handle, _>::find_live(x, conn, "ann@example.com".into())?, Some(next));
        Ok(())
    }
}
