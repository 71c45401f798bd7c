//! [`Schema::verify`]: the catalog compared with what the DDL creates.
//!
//! A key's objects are the ones its DDL is rendered from ([`KeyObject`]), so the check and the
//! migration cannot drift apart. Conditions and expressions are compared as the catalogs write
//! them back, which is not as they were written: PostgreSQL drops the quotes and adds
//! parentheses (`(deleted_at IS NULL)`), MariaDB writes lower case and a flag's negation as a
//! comparison (`` `deleted` = 0 ``). Both sides are parsed and compared as expressions, with
//! identifiers unquoted and in lower case, parentheses dropped (the grouping they made stays in
//! the tree) and `NOT x` read as `x = 0`; a text the parser cannot read is compared as tokens,
//! lower case, without quotes and parentheses.

use std::ops::ControlFlow;

use sqlparser::ast::{visit_expressions_mut, BinaryOperator, Expr, Ident, UnaryOperator, Value};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

use super::report::{IndexKind, Issue, KeyProblem, Report};
use super::Schema;
use crate::backend::{SupportedBackend, TableName};
use crate::collector::graph_report;
use crate::ddl::{archive_log, journal, Deferral, KeyObject};
use crate::exec::BackendOf;
use crate::exec::SqlConnection;
use crate::relations::Graph;
use crate::sql::catalog::{self, CatalogIndex};
use crate::trace;
use crate::Error;

#[cfg_attr(feature = "tracing", tracing::instrument(name = "verify", level = "info", skip_all,
    fields(issues = tracing::field::Empty)))]
pub(super) async fn run<Mo, C: SqlConnection<Mo>>(
    schema: &Schema,
    conn: &mut C,
) -> Result<Report, Error> {
    let dialect = <BackendOf<Mo, C> as SupportedBackend>::DIALECT;
    let mut report = Report::default();
    for model in &schema.models {
        let objects = (model.objects)(dialect, model.form)?;
        if catalog::columns(conn, &model.table).await?.is_empty() {
            report.issues.push(Issue::MissingTable {
                table: model.table.clone(),
            });
            continue;
        }
        if objects.is_empty() {
            continue;
        }
        let indexes = catalog::indexes(conn, &model.table).await?;
        for object in &objects {
            let found = indexes.iter().find(|index| index.name == object.name);
            report.issues.extend(compare(&model.table, object, found));
        }
    }

    let mut log_needed_by = None;
    let mut journal_needed_by = None;
    let mut relations = Vec::new();
    for node in &schema.archives {
        let graph = Graph::build(node())?;
        let root = &graph.nodes[0].name;
        log_needed_by.get_or_insert_with(|| root.clone());
        if graph.needs_journal() {
            journal_needed_by.get_or_insert_with(|| root.clone());
        }
        for issue in graph_report(conn, &graph).await?.issues {
            if !relations.contains(&issue) {
                relations.push(issue);
            }
        }
    }
    if let Some(needed_by) = log_needed_by {
        match missing_columns(conn, archive_log::TABLE, archive_log::COLUMNS).await? {
            Some(issues) => {
                report.issues.extend(issues);
                if !stamp_is_unique(conn).await? {
                    report.issues.push(Issue::ArchiveStampNotUnique);
                }
            }
            None => report.issues.push(Issue::MissingArchiveLog { needed_by }),
        }
    }
    if let Some(needed_by) = journal_needed_by {
        match missing_columns(conn, journal::TABLE, journal::COLUMNS).await? {
            Some(issues) => {
                report.issues.extend(issues);
                if !links_are_indexed(conn).await? {
                    report
                        .issues
                        .push(Issue::MissingJournalLinkIndex { needed_by });
                }
            }
            None => report.issues.push(Issue::MissingJournal { needed_by }),
        }
    }
    report
        .issues
        .extend(relations.into_iter().map(Issue::Relations));
    trace::record!(issues = report.issues.len());
    Ok(report)
}

/// Whether the archive log has a valid unique index on `archived_at` alone (its `UNIQUE`
/// constraint, by whatever name).
async fn stamp_is_unique<Mo, C: SqlConnection<Mo>>(conn: &mut C) -> Result<bool, Error> {
    let indexes = catalog::indexes(conn, &TableName::from(archive_log::TABLE)).await?;
    Ok(indexes.iter().any(|index| {
        index.unique
            && !index.invalid
            && index.condition.is_none()
            && matches!(&index.elements[..], [Some(column)] if unquoted(column) == archive_log::ARCHIVED_AT)
    }))
}

/// Whether the journal has a valid index over all its rows that begins with the link's columns
/// (`table_name`, `column_name`, `row_key`), as [`journal::create_link_index`] makes it, by
/// whatever name: the one a restore's check of later cuts reads by.
async fn links_are_indexed<Mo, C: SqlConnection<Mo>>(conn: &mut C) -> Result<bool, Error> {
    let indexes = catalog::indexes(conn, &TableName::from(journal::TABLE)).await?;
    let link = [journal::TABLE_NAME, journal::COLUMN_NAME, journal::ROW_KEY];
    Ok(indexes.iter().any(|index| {
        !index.invalid
            && index.condition.is_none()
            && index.elements.len() >= link.len()
            && index.elements.iter().zip(link).all(
                |(element, column)| matches!(element, Some(found) if unquoted(found) == column),
            )
    }))
}

/// The columns of `columns` that table `name` (the archive log or the journal, on the
/// connection's search path or database) lacks, or `None` when the table does not exist.
async fn missing_columns<Mo, C: SqlConnection<Mo>>(
    conn: &mut C,
    name: &str,
    columns: &'static [&'static str],
) -> Result<Option<Vec<Issue>>, Error> {
    let table = TableName::from(name);
    let found = catalog::columns(conn, &table).await?;
    if found.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        columns
            .iter()
            .filter(|column| !found.iter().any(|f| f == *column))
            .map(|column| Issue::MissingColumn {
                table: table.clone(),
                column,
            })
            .collect(),
    ))
}

/// The differences between key object `object` of `table` and the index the catalog has of its
/// name, if any.
fn compare(table: &TableName, object: &KeyObject, found: Option<&CatalogIndex>) -> Vec<Issue> {
    let Some(index) = found else {
        return vec![Issue::MissingKey {
            table: table.clone(),
            key: object.key,
            index: object.name.clone(),
        }];
    };
    let mut problems = Vec::new();
    if index.invalid {
        problems.push(KeyProblem::Invalid);
    }
    let expected = match object.exclusion {
        Some(_) => IndexKind::Exclusion,
        None => IndexKind::Unique,
    };
    let kind = match (index.exclusion, index.unique) {
        (true, _) => IndexKind::Exclusion,
        (false, true) => IndexKind::Unique,
        (false, false) => IndexKind::NotUnique,
    };
    if kind != expected {
        problems.push(KeyProblem::Kind {
            expected,
            found: kind,
        });
    }
    if let (Some(expected), IndexKind::Exclusion) = (object.exclusion, kind) {
        let found = match index.deferrable {
            (false, _) => None,
            (true, false) => Some(Deferral::InitiallyImmediate),
            (true, true) => Some(Deferral::InitiallyDeferred),
        };
        if found != Some(expected) {
            problems.push(KeyProblem::Deferral { expected, found });
        }
    }
    let same_elements = index.elements.len() == object.elements.len()
        && index
            .elements
            .iter()
            .zip(&object.elements)
            .all(|(found, expected)| match found {
                Some(found) => same_sql(found, expected),
                // An expression the catalog does not write out.
                None => expected.starts_with('('),
            });
    if !same_elements {
        problems.push(KeyProblem::Columns {
            expected: object.elements.iter().map(|e| unquoted(e)).collect(),
            found: index
                .elements
                .iter()
                .map(|e| e.clone().unwrap_or_else(|| "?".to_owned()))
                .collect(),
        });
    }
    if !index
        .condition
        .as_deref()
        .is_some_and(|found| same_sql(found, &object.condition))
    {
        problems.push(KeyProblem::Condition {
            expected: object.condition.clone(),
            found: index.condition.clone(),
        });
    }
    if index.nulls_not_distinct != object.nulls_not_distinct {
        problems.push(KeyProblem::NullsNotDistinct {
            expected: object.nulls_not_distinct,
        });
    }
    problems
        .into_iter()
        .map(|problem| Issue::KeyMismatch {
            table: table.clone(),
            key: object.key,
            index: index.name.clone(),
            problem,
        })
        .collect()
}

/// Whether two SQL conditions say the same: parsed ([`expression`]), the same expression; a
/// text the parser cannot read is compared as [`tokens`].
fn same_sql(a: &str, b: &str) -> bool {
    match (expression(a), expression(b)) {
        (Some(a), Some(b)) => a == b,
        _ => tokens(a) == tokens(b),
    }
}

/// `sql` parsed as one expression, written the same way whichever catalog wrote it:
/// identifiers unquoted and in lower case, parentheses gone (the tree keeps the grouping they
/// made), a flag's negation `NOT x` as `x = 0` (MariaDB's form), a chain of `AND`s (or `OR`s)
/// grouped from the left. `None` when the parser cannot read all of it.
fn expression(sql: &str) -> Option<Expr> {
    let mut parser = Parser::new(&GenericDialect {}).try_with_sql(sql).ok()?;
    let mut expr = parser.parse_expr().ok()?;
    if parser.peek_token().token != Token::EOF {
        return None;
    }
    let _ = visit_expressions_mut(&mut expr, |expr| {
        match expr {
            Expr::Nested(inner) => {
                *expr = std::mem::replace(&mut **inner, Expr::value(Value::Null))
            }
            Expr::Identifier(ident) => lower(ident),
            Expr::CompoundIdentifier(idents) => idents.iter_mut().for_each(lower),
            Expr::UnaryOp {
                op: UnaryOperator::Not,
                expr: operand,
            } if matches!(**operand, Expr::Identifier(_)) => {
                let flag = std::mem::replace(&mut **operand, Expr::value(Value::Null));
                *expr = Expr::BinaryOp {
                    left: Box::new(flag),
                    op: BinaryOperator::Eq,
                    right: Box::new(Expr::value(Value::Number("0".into(), false))),
                };
            }
            Expr::BinaryOp {
                op: op @ (BinaryOperator::And | BinaryOperator::Or),
                ..
            } => {
                let op = op.clone();
                let mut operands = Vec::new();
                chain(
                    std::mem::replace(expr, Expr::value(Value::Null)),
                    &op,
                    &mut operands,
                );
                *expr = operands
                    .into_iter()
                    .reduce(|left, right| Expr::BinaryOp {
                        left: Box::new(left),
                        op: op.clone(),
                        right: Box::new(right),
                    })
                    .unwrap_or(Expr::value(Value::Null));
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    Some(expr)
}

/// The operands of a chain of `op` (`AND` or `OR`) however it is grouped, in order: `a AND
/// (b AND c)` and `(a AND b) AND c` are both `[a, b, c]`.
fn chain(expr: Expr, op: &BinaryOperator, operands: &mut Vec<Expr>) {
    match expr {
        Expr::BinaryOp {
            left,
            op: inner,
            right,
        } if inner == *op => {
            chain(*left, op, operands);
            chain(*right, op, operands);
        }
        other => operands.push(other),
    }
}

/// An identifier as a catalog may write it: unquoted, in lower case.
fn lower(ident: &mut Ident) {
    ident.value = ident.value.to_lowercase();
    ident.quote_style = None;
}

/// `sql` without its identifiers' quotes.
fn unquoted(sql: &str) -> String {
    sql.chars().filter(|c| !matches!(c, '"' | '`')).collect()
}

/// `sql` as the words and operators that carry its meaning: lower case, without quotes,
/// parentheses and white space, `NOT x` (a flag's negation) as `x = 0`.
fn tokens(sql: &str) -> Vec<String> {
    let mut tokens: Vec<String> = Vec::new();
    let mut word = String::new();
    for c in sql.chars() {
        if c.is_alphanumeric() || c == '_' || c == '$' {
            word.extend(c.to_lowercase());
            continue;
        }
        if !word.is_empty() {
            tokens.push(std::mem::take(&mut word));
        }
        if !c.is_whitespace() && !matches!(c, '"' | '`' | '(' | ')') {
            tokens.push(c.to_string());
        }
    }
    if !word.is_empty() {
        tokens.push(word);
    }
    let mut read = Vec::with_capacity(tokens.len());
    let mut rest = tokens.into_iter().peekable();
    while let Some(token) = rest.next() {
        let negated = rest
            .peek()
            .filter(|next| token == "not" && is_identifier(next))
            .cloned();
        match negated {
            Some(flag) => {
                rest.next();
                read.extend([flag, "=".to_owned(), "0".to_owned()]);
            }
            None => read.push(token),
        }
    }
    read
}

/// Whether `token` can be a column (not `NULL`, a number or an operator).
fn is_identifier(token: &str) -> bool {
    token != "null"
        && token
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_read_the_same_as_each_catalog_writes_them() {
        // PostgreSQL
        assert!(same_sql(r#""deleted_at" IS NULL"#, "(deleted_at IS NULL)"));
        assert!(same_sql(r#"NOT "deleted""#, "(NOT deleted)"));
        assert!(same_sql(
            r#"("deleted_at" IS NULL) AND "folder_id" IS NULL"#,
            "((deleted_at IS NULL) AND (folder_id IS NULL))"
        ));
        // MariaDB
        assert!(same_sql(
            "CASE WHEN (NOT `deleted` AND NOT `removed`) THEN 1 END",
            "case when `deleted` = 0 and `removed` = 0 then 1 end"
        ));
        assert!(same_sql(
            "CASE WHEN `active` THEN 1 END",
            "case when `active` then 1 end"
        ));
        // SQLite keeps a condition as written: grouped otherwise, a chain of ANDs is the same
        assert!(same_sql(
            r#""a" IS NULL AND ("b" IS NULL AND "c" IS NULL)"#,
            "(a IS NULL AND b IS NULL) AND c IS NULL"
        ));
        // what differs stays different
        assert!(!same_sql(
            r#""deleted_at" IS NULL"#,
            "deleted_at IS NOT NULL"
        ));
        assert!(!same_sql(r#"NOT "deleted""#, "deleted"));
        assert!(!same_sql("`a`", "`b`"));
    }

    #[test]
    fn conditions_grouped_otherwise_differ() {
        // Two flags, live when `deleted` is false and `active` true: an index on `NOT (deleted
        // AND active)` also covers dead rows, and refuses two of them sharing a key.
        assert!(!same_sql(
            r#"(NOT "deleted" AND "active")"#,
            "NOT (deleted AND active)"
        ));
        assert!(!same_sql(
            r#"(NOT "deleted" AND NOT "removed")"#,
            "NOT (deleted AND NOT removed)"
        ));
        assert!(!same_sql(
            "CASE WHEN (NOT `deleted` AND NOT `removed`) THEN 1 END",
            "case when not (`deleted` = 1 and `removed` = 0) then 1 end"
        ));
    }

    #[test]
    fn an_index_is_compared_element_by_element() {
        let object = KeyObject {
            key: "k",
            name: "k".to_owned(),
            elements: vec![r#""a""#.to_owned(), r#"("b" IS NULL)"#.to_owned()],
            condition: r#""deleted_at" IS NULL"#.to_owned(),
            nulls_not_distinct: false,
            exclusion: None,
        };
        let table = TableName::from("t");
        let index = CatalogIndex {
            name: "k".to_owned(),
            unique: true,
            exclusion: false,
            nulls_not_distinct: false,
            invalid: false,
            deferrable: (false, false),
            elements: vec![Some("a".to_owned()), None],
            condition: Some("deleted_at IS NULL".to_owned()),
        };
        assert_eq!(compare(&table, &object, Some(&index)), []);
        let plain = CatalogIndex {
            unique: false,
            elements: vec![Some("a".to_owned())],
            condition: None,
            ..index
        };
        let problems: Vec<KeyProblem> = compare(&table, &object, Some(&plain))
            .into_iter()
            .map(|issue| match issue {
                Issue::KeyMismatch { problem, .. } => problem,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            problems,
            [
                KeyProblem::Kind {
                    expected: IndexKind::Unique,
                    found: IndexKind::NotUnique
                },
                KeyProblem::Columns {
                    expected: vec!["a".to_owned(), "(b IS NULL)".to_owned()],
                    found: vec!["a".to_owned()]
                },
                KeyProblem::Condition {
                    expected: r#""deleted_at" IS NULL"#.to_owned(),
                    found: None
                },
            ]
        );
        assert!(matches!(
            compare(&table, &object, None)[..],
            [Issue::MissingKey { key: "k", .. }]
        ));

        // An exclusion constraint that cannot be deferred, for a key declared deferred.
        let deferred = KeyObject {
            exclusion: Some(Deferral::InitiallyDeferred),
            ..object
        };
        let constraint = CatalogIndex {
            unique: false,
            exclusion: true,
            deferrable: (false, false),
            condition: Some("deleted_at IS NULL".to_owned()),
            elements: vec![Some("a".to_owned()), None],
            ..plain
        };
        assert!(matches!(
            &compare(&table, &deferred, Some(&constraint))[..],
            [Issue::KeyMismatch {
                problem: KeyProblem::Deferral {
                    expected: Deferral::InitiallyDeferred,
                    found: None
                },
                ..
            }]
        ));
        let as_declared = CatalogIndex {
            deferrable: (true, true),
            ..constraint
        };
        assert_eq!(compare(&table, &deferred, Some(&as_declared)), []);
    }
}
