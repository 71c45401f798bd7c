//! MySQL/MariaDB pieces of the generated DDL: string literals, catalog conditions, and a
//! statement chosen when the migration runs, since MySQL's DDL has no `IF` (MariaDB's
//! `ADD INDEX IF NOT EXISTS` is not MySQL's).

use crate::backend::TableName;

/// `text` as a string literal: `'it''s'`. Text holding a backslash, whose meaning in a literal
/// depends on the `NO_BACKSLASH_ESCAPES` mode, is written as hex instead:
/// `CONVERT(X'...' USING utf8mb4)`.
pub(crate) fn literal(text: &str) -> String {
    if text.contains('\\') {
        let hex: String = text.bytes().map(|b| format!("{b:02X}")).collect();
        format!("CONVERT(X'{hex}' USING utf8mb4)")
    } else {
        format!("'{}'", text.replace('\'', "''"))
    }
}

/// The catalog condition selecting `table` in `information_schema` views:
/// `TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 't'`.
pub(crate) fn catalog_table(table: &TableName) -> String {
    let schema = table
        .schema
        .as_deref()
        .map_or_else(|| "DATABASE()".to_owned(), literal);
    format!(
        "TABLE_SCHEMA = {schema} AND TABLE_NAME = {}",
        literal(&table.name)
    )
}

/// A script that runs `statement` only if `condition` holds when it runs:
/// `SET @sd_ddl = IF(<condition>, '<statement>', 'DO 0'); PREPARE sd_ddl FROM @sd_ddl;
/// EXECUTE sd_ddl; DEALLOCATE PREPARE sd_ddl`. Several statements: run it with
/// `batch_execute` (or in a migration file), not as one prepared statement.
pub(crate) fn when(condition: &str, statement: &str) -> String {
    format!(
        "SET @sd_ddl = IF({condition}, {}, 'DO 0'); PREPARE sd_ddl FROM @sd_ddl; EXECUTE sd_ddl; DEALLOCATE PREPARE sd_ddl",
        literal(statement)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_survive_any_quote_and_either_backslash_mode() {
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(literal(r"a\b"), "CONVERT(X'615C62' USING utf8mb4)");
        let table = TableName {
            schema: Some("app".into()),
            name: "t".into(),
        };
        assert_eq!(
            catalog_table(&table),
            "TABLE_SCHEMA = 'app' AND TABLE_NAME = 't'"
        );
    }
}
