//! The checker: finds each read of a registered table that does not state its visibility.
//!
//! A statement is parsed with `sqlparser` in its dialect and walked scope by scope: each
//! `SELECT` (a top-level one, an arm of `UNION`/`INTERSECT`/`EXCEPT`, a CTE's body, a derived
//! table, a subquery in `WHERE`, `SELECT`, `HAVING`, `ON`, `EXISTS`, `IN (SELECT ...)`) is its
//! own scope, whose `FROM` clause names the table references and whose `WHERE` and `ON`
//! clauses may state their visibility:
//!
//! - a reference read as is (the first table, an inner join, a comma join, the preserved side of
//!   an outer join) states it with its live or deleted predicate as a conjunct of `WHERE`, or
//!   of the `ON` of an inner join it takes part in;
//! - the nullable side of an outer join (`LEFT JOIN t ON ...`) states it in that join's `ON`; a
//!   predicate on it in `WHERE` is reported as [`LeakKind::FilteredAfterOuterJoin`] (it drops
//!   the rows without a match, turning the outer join into an inner one);
//! - either may instead carry the `.with_deleted()` trace, `(<predicate> OR TRUE)`.
//!
//! Writes are checked for what they read: the source query of `INSERT ... SELECT`, every
//! subquery of a write (`WHERE id IN (SELECT ...)`), the other tables of `UPDATE ... FROM`,
//! `DELETE ... USING` and MySQL's multi-table `UPDATE` and `DELETE` (stated as a query's are:
//! in the write's `WHERE` or an inner join's `ON`), the source of a `MERGE`, and the table
//! `COPY t TO` copies out. The table a write changes is not a read and is not checked
//! (updating or deleting a soft-deleted row is a deliberate act: the library's own restore
//! does it). DDL is checked for the query it runs (`CREATE TABLE ... AS SELECT`, a view's
//! query) and is otherwise not checked.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::ops::ControlFlow;
use std::sync::OnceLock;

use sqlparser::ast::{
    AssignmentTarget, CopySource, Delete, Expr, FromTable, Ident, JoinConstraint, JoinOperator,
    Merge, MergeClauseKind, ObjectName, Query, Select, SetExpr, Statement, TableAlias, TableFactor,
    TableWithJoins, Update, UpdateTableFromKind, Visit, Visitor,
};
use sqlparser::dialect::{Dialect as SqlDialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Token, Tokenizer};

use super::registry::{registered, TableInfo};
use super::text::{
    known_lock_strengths, query_after_as, repaired, token_offsets, unicode_identifiers,
};
use super::visibility::{conjuncts, leaves, trace};

mod stated;
use crate::backend::{Dialect, TableName};
use stated::{marker_tests, states};

/// One read of a soft-deletable table that does not say which rows it means to see.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Leak {
    /// The table read.
    pub table: TableName,
    /// The name the statement reads it by: its alias, or the table's name.
    pub reference: String,
    /// What is wrong.
    pub kind: LeakKind,
}

/// What is wrong with a [`Leak`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeakKind {
    /// No live or deleted predicate and no `.with_deleted()` trace for this reference: the read
    /// sees deleted rows, maybe without meaning to.
    Unstated,
    /// The reference is the nullable side of an outer join and its predicate is in `WHERE`,
    /// which drops the rows the outer join keeps: put it in the join's `ON` clause.
    FilteredAfterOuterJoin,
}

impl fmt::Display for Leak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.table.to_string();
        let alias = if self.reference.eq_ignore_ascii_case(&self.table.name) {
            String::new()
        } else {
            format!(" (as `{}`)", self.reference)
        };
        match self.kind {
            LeakKind::Unstated => write!(
                f,
                "`{name}`{alias} is read without stating its visibility: add its live or deleted \
                 predicate (`.active()`, `.only_deleted()`, `dsl::live`), or say `.with_deleted()`"
            ),
            LeakKind::FilteredAfterOuterJoin => write!(
                f,
                "`{name}`{alias} is the nullable side of an outer join, but its predicate is in \
                 `WHERE`, which turns the join into an inner join: move it to the join's `ON`"
            ),
        }
    }
}

/// A statement the parser cannot read. The guard never lets one pass unchecked in
/// [`Mode::Panic`](super::Mode::Panic).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// The parser's message.
    pub error: String,
}

impl fmt::Display for Unreadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the visibility guard cannot parse this statement: {}",
            self.error
        )
    }
}

impl std::error::Error for Unreadable {}

/// Checks one SQL text in `dialect` against the tables of every `#[derive(SoftDelete)]` in the
/// program ([`registered`]), and returns each read that does not state its visibility.
///
/// ```
/// # use soft_delete_runtime::prelude::*;
/// use soft_delete_runtime::backend::Dialect;
/// use soft_delete_runtime::guard;
/// # diesel::table! { users (id) { id -> Integer, deleted_at -> Nullable<Timestamp> } }
/// # #[derive(diesel::Queryable, SoftDelete)]
/// # struct User { id: i32, deleted_at: Option<chrono::NaiveDateTime> }
/// let leaks = guard::check("SELECT id FROM users WHERE id = $1", Dialect::Postgres)?;
/// assert_eq!(leaks.len(), 1);
/// assert_eq!(leaks[0].table.name, "users");
///
/// let sql = r#"SELECT id FROM users u WHERE u.deleted_at IS NULL AND id = $1"#;
/// assert!(guard::check(sql, Dialect::Postgres)?.is_empty());
/// # Ok::<(), guard::Unreadable>(())
/// ```
pub fn check(sql: &str, dialect: Dialect) -> Result<Vec<Leak>, Unreadable> {
    Checker::registry().check(sql, dialect)
}

/// A checker over a given list of tables. [`check`] uses the one over the registry
/// ([`Checker::registry`]); build one with [`Checker::new`] to check against other tables
/// (a test of one schema in a program that links several).
#[derive(Debug, Clone, Default)]
pub struct Checker {
    /// By lowercase table name: every registration of that name.
    tables: HashMap<String, Vec<TableInfo>>,
}

impl Checker {
    /// A checker for `tables`. Several entries may share a name (registrations of different
    /// schemas, or of one table by different programs): a reference states its visibility
    /// when it uses the predicate of any of them.
    pub fn new(tables: impl IntoIterator<Item = TableInfo>) -> Checker {
        let mut by_name: HashMap<String, Vec<TableInfo>> = HashMap::new();
        for table in tables {
            let entries = by_name.entry(table.table.name.to_lowercase()).or_default();
            if !entries.contains(&table) {
                entries.push(table);
            }
        }
        Checker { tables: by_name }
    }

    /// The checker over [`registered`], built once.
    pub fn registry() -> &'static Checker {
        static REGISTRY: OnceLock<Checker> = OnceLock::new();
        REGISTRY.get_or_init(|| Checker::new(registered().iter().cloned()))
    }

    /// The tables this checker knows.
    pub fn tables(&self) -> impl Iterator<Item = &TableInfo> {
        self.tables.values().flatten()
    }

    /// Checks one SQL text (one statement or several separated by `;`) in `dialect`.
    pub fn check(&self, sql: &str, dialect: Dialect) -> Result<Vec<Leak>, Unreadable> {
        if !self.mentions_a_table(sql) {
            return Ok(Vec::new());
        }
        let parser_dialect = parser_dialect(dialect);
        let sql = &*known_lock_strengths(sql, parser_dialect);
        let sql = &*unicode_identifiers(sql, dialect, parser_dialect);
        let mut walk = Walk {
            checker: self,
            dialect,
            leaks: Vec::new(),
            seen: HashSet::new(),
        };
        match Parser::parse_sql(parser_dialect, sql) {
            Ok(statements) => {
                for statement in &statements {
                    walk.statement(statement, &[]);
                }
            }
            Err(error) => {
                // A text the backend reads but the parser refuses as written ([`repaired`]).
                let repaired = repaired(sql, dialect, parser_dialect);
                let sql = repaired.as_deref().unwrap_or(sql);
                match repaired
                    .as_deref()
                    .map(|sql| Parser::parse_sql(parser_dialect, sql))
                {
                    Some(Ok(statements)) => {
                        for statement in &statements {
                            walk.statement(statement, &[]);
                        }
                    }
                    _ => self.check_pieces(sql, parser_dialect, &mut walk, error.to_string())?,
                }
            }
        }
        Ok(walk.leaks)
    }

    /// Whether `sql` contains the name of a table this checker knows, or an identifier that
    /// may spell one without containing it (PostgreSQL's `U&"\0075sers"`); a statement that
    /// does not cannot read one and is not parsed.
    fn mentions_a_table(&self, sql: &str) -> bool {
        let lower = sql.to_lowercase();
        lower.contains("u&\"") || self.tables.keys().any(|name| lower.contains(name.as_str()))
    }

    /// The fallback for a text the parser refuses as a whole, statement by statement: a piece
    /// that parses on its own is checked; one that reads or writes (`SELECT`, `WITH`, `INSERT`,
    /// `UPDATE`, `DELETE`, `REPLACE`, `VALUES`, `TABLE`, `MERGE`, `(`) must parse, or the text
    /// is unreadable; any other piece it cannot read (DDL it does not know: trigger bodies,
    /// `plpgsql` functions, a backend's own column options, `REINDEX`; `CALL`, `DECLARE`) is
    /// skipped, but for the query it runs after
    /// `AS` ([`query_after_as`]: `CREATE TABLE t (a) AS SELECT ...`, `CREATE MATERIALIZED VIEW
    /// ... AS SELECT ... WITH DATA`), which must parse, up to what follows it.
    fn check_pieces(
        &self,
        sql: &str,
        dialect: &dyn SqlDialect,
        walk: &mut Walk<'_>,
        whole_error: String,
    ) -> Result<(), Unreadable> {
        let tokens = Tokenizer::new(dialect, sql)
            .tokenize_with_location()
            .map_err(|_| Unreadable {
                error: whole_error.clone(),
            })?;
        let offsets = token_offsets(sql, &tokens);
        let ends = (0..tokens.len()).filter(|&i| tokens[i].token == Token::SemiColon);
        let mut start = 0;
        for end in ends.chain([tokens.len()]) {
            let (from, piece) = (start, &tokens[start..end]);
            // The piece's own text, not its tokens written again (which undoes escapes).
            let text = &sql[offsets[from]..offsets[end]];
            start = end + 1;
            let first = piece
                .iter()
                .map(|token| &token.token)
                .find(|token| !matches!(token, Token::Whitespace(_)));
            let starts_a_read = match first {
                Some(Token::Word(word)) if word.quote_style.is_none() => matches!(
                    word.value.to_ascii_uppercase().as_str(),
                    "SELECT"
                        | "WITH"
                        | "INSERT"
                        | "UPDATE"
                        | "DELETE"
                        | "REPLACE"
                        | "VALUES"
                        | "TABLE"
                        | "MERGE"
                ),
                Some(Token::LParen) => true,
                _ => false,
            };
            let unreadable = |error: ParserError| Unreadable {
                error: format!("{whole_error}; its statement `{}`: {error}", text.trim()),
            };
            match Parser::parse_sql(dialect, text) {
                Ok(statements) => {
                    for statement in &statements {
                        walk.statement(statement, &[]);
                    }
                }
                Err(error) if starts_a_read => return Err(unreadable(error)),
                Err(_) => {
                    if let Some(at) = query_after_as(piece) {
                        let query = &sql[offsets[from + at]..offsets[end]];
                        let query = Parser::new(dialect)
                            .try_with_sql(query)
                            .and_then(|mut parser| parser.parse_query())
                            .map_err(unreadable)?;
                        walk.query(&query, &[]);
                    }
                }
            }
            // What was parsed is dropped: its addresses may come again.
            walk.seen.clear();
        }
        Ok(())
    }

    /// The registrations a table name in `FROM` may refer to: those of its name, and of its
    /// schema when both name one.
    fn lookup(&self, schema: Option<&Ident>, name: &Ident) -> Vec<&TableInfo> {
        let Some(entries) = self.tables.get(&name.value.to_lowercase()) else {
            return Vec::new();
        };
        entries
            .iter()
            .filter(|entry| match (&entry.table.schema, schema) {
                (Some(registered), Some(used)) => registered.eq_ignore_ascii_case(&used.value),
                _ => true,
            })
            .collect()
    }
}

fn parser_dialect(dialect: Dialect) -> &'static dyn SqlDialect {
    match dialect {
        Dialect::Sqlite => &SQLiteDialect {},
        Dialect::Postgres => &PostgreSqlDialect {},
        Dialect::Mysql => &MySqlDialect {},
    }
}

/// A place where a predicate may state a reference's visibility: the scope's `WHERE`
/// (always place 0) or one join's `ON`.
type Place = usize;
const WHERE: Place = 0;

/// The name a statement gives a CTE or a table reference (its alias, or the table's name), as
/// `dialect` compares it: PostgreSQL folds an unquoted name to lower case and keeps a quoted one
/// exact (`"U"` and `u` are two references, `"Users"` does not hide `users`); SQLite compares
/// names without case, quoted or not. MySQL and MariaDB compare table names and aliases with
/// case where `lower_case_table_names` is 0 (the default on Unix) and require one spelling
/// within a statement anyway, so the name is kept as written: a CTE spelled in another case
/// does not hide the table, and a qualifier spelled in another case states nothing (reported,
/// not passed).
fn name_key(ident: &Ident, dialect: Dialect) -> String {
    match dialect {
        Dialect::Postgres if ident.quote_style.is_some() => ident.value.clone(),
        Dialect::Mysql => ident.value.clone(),
        Dialect::Postgres | Dialect::Sqlite => ident.value.to_lowercase(),
    }
}

/// The name a [`Leak`] reports a reference by: as PostgreSQL compares it (where only quoting
/// tells `"U"` from `u`), in lower case elsewhere.
fn shown(ident: &Ident, dialect: Dialect) -> String {
    match dialect {
        Dialect::Postgres => name_key(ident, dialect),
        Dialect::Mysql | Dialect::Sqlite => ident.value.to_lowercase(),
    }
}

/// One reference to a registered table in a scope's `FROM`.
struct Reference<'c> {
    entries: Vec<&'c TableInfo>,
    /// What its columns are qualified by: the alias, or the table's name ([`name_key`]).
    exposed: String,
    /// How a leak names it ([`shown`]).
    shown: String,
    /// The dialect its qualifiers are compared in.
    dialect: Dialect,
    /// Whether its alias renames its columns (`users AS u(a, b, c)`): the checker does not
    /// know the table's column order, so no column of it is known to be its marker, and no
    /// predicate states its visibility (a derived table can: `(SELECT ... WHERE <live>) AS
    /// u(a, b, c)`).
    renamed: bool,
    /// Whether it is the nullable side of an outer join.
    nullable: bool,
    /// Where a predicate on it counts.
    places: Vec<Place>,
}

struct Walk<'c> {
    checker: &'c Checker,
    dialect: Dialect,
    leaks: Vec<Leak>,
    /// Queries already checked (by address): a derived table is reached both from its `FROM`
    /// and by the search for subqueries.
    seen: HashSet<usize>,
}

impl<'c> Walk<'c> {
    #[recursive::recursive]
    fn statement(&mut self, statement: &Statement, ctes: &[String]) {
        match statement {
            Statement::Query(query) => self.query(query, ctes),
            // `COPY t TO` (Diesel's `copy_to`) reads every row; `COPY t FROM` writes.
            Statement::Copy {
                source: CopySource::Table { table_name, .. },
                to: true,
                ..
            } => self.unfiltered(table_name, ctes),
            Statement::Update(update) => {
                self.update(update, ctes);
                self.subqueries(update, ctes);
            }
            Statement::Delete(delete) => {
                self.delete(delete, ctes);
                self.subqueries(delete, ctes);
            }
            Statement::Merge(merge) => {
                self.merge(merge, ctes);
                self.subqueries(merge, ctes);
            }
            // Any other write: what it reads is in its subqueries (`INSERT ... SELECT`).
            other => self.subqueries(other, ctes),
        }
    }

    /// An `UPDATE`'s reads: the tables of its `FROM` and those joined to its target (MySQL's
    /// multi-table form), whose visibility its `WHERE` and inner joins' `ON` may state. The
    /// tables it changes are not reads: its one target, or in the multi-table form those whose
    /// columns `SET` assigns by qualifier (for an unqualified column, the one table with such a
    /// marker, or else the first).
    fn update(&mut self, update: &Update, ctes: &[String]) {
        let from = match &update.from {
            Some(UpdateTableFromKind::BeforeSet(items) | UpdateTableFromKind::AfterSet(items)) => {
                items.as_slice()
            }
            None => &[],
        };
        let first = self.exposed(&update.table.relation);
        let mut written = Vec::new();
        if update.table.joins.is_empty() {
            written.extend(first);
        } else {
            let columns =
                update
                    .assignments
                    .iter()
                    .flat_map(|assignment| match &assignment.target {
                        AssignmentTarget::ColumnName(name) => std::slice::from_ref(name),
                        AssignmentTarget::Tuple(names) => names.as_slice(),
                    });
            let factors = std::iter::once(&update.table.relation)
                .chain(update.table.joins.iter().map(|join| &join.relation));
            let joined: Vec<Reference<'c>> = factors
                .flat_map(|factor| match factor {
                    TableFactor::Table {
                        name,
                        alias,
                        args: None,
                        ..
                    } => self.table(name, alias.as_ref(), ctes),
                    _ => Vec::new(),
                })
                .collect();
            for column in columns {
                let parts: Vec<&Ident> = column.0.iter().filter_map(|p| p.as_ident()).collect();
                match parts.split_last() {
                    Some((_, [.., qualifier])) => written.push(name_key(qualifier, self.dialect)),
                    // Unqualified: the one table with such a marker, or else the first.
                    Some((column, [])) => {
                        let owners: Vec<&Reference<'c>> = joined
                            .iter()
                            .filter(|reference| {
                                reference.entries.iter().any(|entry| {
                                    entry.markers.iter().any(|marker| {
                                        marker.name.eq_ignore_ascii_case(&column.value)
                                    })
                                })
                            })
                            .collect();
                        match owners.as_slice() {
                            [owner] => written.push(owner.exposed.clone()),
                            _ => written.extend(first.clone()),
                        }
                    }
                    None => written.extend(first.clone()),
                }
            }
        }
        let items = std::iter::once(&update.table).chain(from);
        self.scope(items, update.selection.as_ref(), &written, ctes);
    }

    /// A `DELETE`'s reads: the tables of its `USING` and those joined in its `FROM`, whose
    /// visibility its `WHERE` and inner joins' `ON` may state; not the tables it deletes from
    /// (those it lists before `FROM`, MySQL's multi-table form, or else those its `FROM` names).
    fn delete(&mut self, delete: &Delete, ctes: &[String]) {
        let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) = &delete.from;
        let written: Vec<String> = if delete.tables.is_empty() {
            from.iter()
                .filter_map(|item| self.exposed(&item.relation))
                .collect()
        } else {
            delete
                .tables
                .iter()
                .filter_map(|name| name.0.last()?.as_ident())
                .map(|name| name_key(name, self.dialect))
                .collect()
        };
        let using = delete.using.as_deref().unwrap_or_default();
        self.scope(
            from.iter().chain(using),
            delete.selection.as_ref(),
            &written,
            ctes,
        );
    }

    /// A `MERGE`'s read: its source (its target is what it changes). Its `ON` keeps a source
    /// row out only when no `WHEN NOT MATCHED` clause takes the rows it leaves out (such a
    /// clause inserts them), so it states the source's visibility only then; otherwise the
    /// source states it inside (`USING (SELECT ... WHERE <live>) AS s`).
    fn merge(&mut self, merge: &Merge, ctes: &[String]) {
        let mut places = vec![Vec::new()];
        let inserts = merge.clauses.iter().any(|clause| {
            matches!(
                clause.clause_kind,
                MergeClauseKind::NotMatched | MergeClauseKind::NotMatchedByTarget
            )
        });
        if !inserts {
            conjuncts(&merge.on, &mut places[WHERE]);
        }
        let mut references = self.factor(&merge.table, ctes, &mut places);
        references.extend(self.factor(&merge.source, ctes, &mut places));
        read_as_is(&mut references);
        let written: Vec<String> = self.exposed(&merge.table).into_iter().collect();
        self.judge_all(&references, &places, &written);
    }

    /// What the columns of `factor` are qualified by ([`name_key`]): its alias, or its table's
    /// name.
    fn exposed(&self, factor: &TableFactor) -> Option<String> {
        let name = match factor {
            TableFactor::Table {
                alias: Some(alias), ..
            } => &alias.name,
            TableFactor::Table { name, .. } => name.0.last()?.as_ident()?,
            _ => &factor_alias(factor)?.name,
        };
        Some(name_key(name, self.dialect))
    }

    #[recursive::recursive]
    fn query(&mut self, query: &Query, ctes: &[String]) {
        if !self.seen.insert(query as *const Query as usize) {
            return;
        }
        let mut scope = ctes.to_vec();
        if let Some(with) = &query.with {
            let names: Vec<String> = with
                .cte_tables
                .iter()
                .map(|cte| name_key(&cte.alias.name, self.dialect))
                .collect();
            for (i, cte) in with.cte_tables.iter().enumerate() {
                let mut visible = ctes.to_vec();
                // Each CTE sees those before it; `WITH RECURSIVE` lets a CTE see itself and,
                // on PostgreSQL and SQLite, those after it too (not on MySQL: "a CTE can refer
                // to CTEs defined earlier in the same WITH clause, but not those defined later").
                let known = match (with.recursive, self.dialect) {
                    (false, _) => i,
                    (true, Dialect::Mysql) => i + 1,
                    (true, Dialect::Postgres | Dialect::Sqlite) => names.len(),
                };
                visible.extend(names[..known].iter().cloned());
                self.query(&cte.query, &visible);
            }
            scope.extend(names);
        }
        self.set_expr(&query.body, &scope);
        self.subqueries(&query.order_by, &scope);
        self.subqueries(&query.limit_clause, &scope);
    }

    #[recursive::recursive]
    fn set_expr(&mut self, body: &SetExpr, ctes: &[String]) {
        match body {
            SetExpr::Select(select) => self.select(select, ctes),
            SetExpr::Query(query) => self.query(query, ctes),
            SetExpr::SetOperation { left, right, .. } => {
                self.set_expr(left, ctes);
                self.set_expr(right, ctes);
            }
            SetExpr::Insert(statement)
            | SetExpr::Update(statement)
            | SetExpr::Delete(statement)
            | SetExpr::Merge(statement) => self.statement(statement, ctes),
            SetExpr::Table(table) => {
                let Some(name) = &table.table_name else {
                    return;
                };
                let parts = table.schema_name.iter().chain([name]).cloned();
                self.unfiltered(&ObjectName::from(parts.collect::<Vec<_>>()), ctes);
            }
            other => self.subqueries(other, ctes),
        }
    }

    /// A read of every row of `name` with nowhere to state its visibility (`TABLE t`,
    /// `COPY t TO`): a
    /// leak if it names a registered table (and not a CTE in scope).
    fn unfiltered(&mut self, name: &ObjectName, ctes: &[String]) {
        for reference in self.table(name, None, ctes) {
            self.leaks.push(Leak {
                table: reference.entries[0].table.clone(),
                reference: reference.shown,
                kind: LeakKind::Unstated,
            });
        }
    }

    #[recursive::recursive]
    fn select(&mut self, select: &Select, ctes: &[String]) {
        self.scope(&select.from, select.selection.as_ref(), &[], ctes);
        // Everything else: subqueries in the select list, `WHERE`, `HAVING`, `ON`, ...
        self.subqueries(select, ctes);
    }

    /// Judges each reference `from` makes (but those a write changes, by [`name_key`] in
    /// `written`), whose visibility `filter` may state: a scope's `FROM` and `WHERE`, or a
    /// write's other tables and its `WHERE`.
    fn scope<'q>(
        &mut self,
        from: impl IntoIterator<Item = &'q TableWithJoins>,
        filter: Option<&'q Expr>,
        written: &[String],
        ctes: &[String],
    ) {
        let mut places: Vec<Vec<&Expr>> = vec![Vec::new()];
        if let Some(filter) = filter {
            conjuncts(filter, &mut places[WHERE]);
        }
        let mut references = Vec::new();
        for item in from {
            let mut joined = self.joined(item, ctes, &mut places);
            read_as_is(&mut joined);
            references.extend(joined);
        }
        self.judge_all(&references, &places, written);
    }

    /// [`judge`](Self::judge)s each of `references` but those in `written`: a write's targets
    /// still take part, so that an unqualified marker they share is no one's.
    fn judge_all(
        &mut self,
        references: &[Reference<'c>],
        places: &[Vec<&Expr>],
        written: &[String],
    ) {
        for index in 0..references.len() {
            if !written.contains(&references[index].exposed) {
                self.judge(index, references, places);
            }
        }
    }

    /// The references of one `FROM` item and its joins, each with the `ON` places that count
    /// for it (the caller adds `WHERE` for those not on a nullable side).
    #[recursive::recursive]
    fn joined<'q>(
        &mut self,
        item: &'q TableWithJoins,
        ctes: &[String],
        places: &mut Vec<Vec<&'q Expr>>,
    ) -> Vec<Reference<'c>> {
        let mut left = self.factor(&item.relation, ctes, places);
        for join in &item.joins {
            let mut right = self.factor(&join.relation, ctes, places);
            let (kind, constraint) = join_kind(&join.join_operator);
            let on = match constraint {
                Some(JoinConstraint::On(expr)) => {
                    let mut list = Vec::new();
                    conjuncts(expr, &mut list);
                    places.push(list);
                    Some(places.len() - 1)
                }
                _ => None,
            };
            match kind {
                JoinKind::Inner => {
                    for reference in left.iter_mut().chain(right.iter_mut()) {
                        if let (Some(on), false) = (on, reference.nullable) {
                            reference.places.push(on);
                        }
                    }
                }
                JoinKind::Left => nullable(&mut right, on),
                JoinKind::Right => nullable(&mut left, on),
                JoinKind::Full => {
                    nullable(&mut left, None);
                    nullable(&mut right, None);
                }
            }
            left.extend(right);
        }
        left
    }

    #[recursive::recursive]
    fn factor<'q>(
        &mut self,
        factor: &'q TableFactor,
        ctes: &[String],
        places: &mut Vec<Vec<&'q Expr>>,
    ) -> Vec<Reference<'c>> {
        match factor {
            TableFactor::Table {
                name,
                alias,
                args: None,
                ..
            } => self.table(name, alias.as_ref(), ctes),
            TableFactor::Derived { subquery, .. } => {
                self.query(subquery, ctes);
                Vec::new()
            }
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => self.joined(table_with_joins, ctes, places),
            other => {
                self.subqueries(other, ctes);
                Vec::new()
            }
        }
    }

    /// The reference a table name in `FROM` makes, if it names a registered table (and not a
    /// CTE in scope).
    fn table(
        &self,
        name: &ObjectName,
        alias: Option<&TableAlias>,
        ctes: &[String],
    ) -> Vec<Reference<'c>> {
        let parts: Vec<&Ident> = name.0.iter().filter_map(|part| part.as_ident()).collect();
        let Some((&table, qualifiers)) = parts.split_last() else {
            return Vec::new();
        };
        if qualifiers.is_empty() && ctes.contains(&name_key(table, self.dialect)) {
            return Vec::new();
        }
        let entries = self.checker.lookup(qualifiers.last().copied(), table);
        if entries.is_empty() {
            return Vec::new();
        }
        let exposed = alias.map_or(table, |alias| &alias.name);
        vec![Reference {
            entries,
            exposed: name_key(exposed, self.dialect),
            shown: shown(exposed, self.dialect),
            dialect: self.dialect,
            renamed: alias.is_some_and(|alias| !alias.columns.is_empty()),
            nullable: false,
            places: Vec::new(),
        }]
    }

    /// Records a leak for `references[index]` unless its places state its visibility.
    fn judge(&mut self, index: usize, references: &[Reference<'c>], places: &[Vec<&Expr>]) {
        let reference = &references[index];
        let own: Vec<&Expr> = reference
            .places
            .iter()
            .flat_map(|&place| places[place].iter().copied())
            .collect();
        if states(&own, index, references) {
            return;
        }
        let traced = |place: Place| {
            places[place].iter().any(|conjunct| {
                trace(conjunct).is_some_and(|predicate| {
                    let mut found = Vec::new();
                    leaves(predicate, &mut found);
                    found
                        .iter()
                        .any(|leaf| !marker_tests(leaf, index, references).is_empty())
                })
            })
        };
        if reference.places.iter().any(|&place| traced(place)) || traced(WHERE) {
            return;
        }
        let kind = if reference.nullable
            && places[WHERE]
                .iter()
                .any(|conjunct| !marker_tests(conjunct, index, references).is_empty())
        {
            LeakKind::FilteredAfterOuterJoin
        } else {
            LeakKind::Unstated
        };
        self.leaks.push(Leak {
            table: reference.entries[0].table.clone(),
            reference: reference.shown.clone(),
            kind,
        });
    }

    /// Checks every subquery under `node` (but not the subqueries of those: each checks its
    /// own), with the CTEs of the enclosing scope visible.
    #[recursive::recursive]
    fn subqueries<V: Visit>(&mut self, node: &V, ctes: &[String]) {
        struct Finder<'w, 'c> {
            walk: &'w mut Walk<'c>,
            ctes: &'w [String],
            depth: usize,
        }
        impl Visitor for Finder<'_, '_> {
            type Break = ();
            fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
                if self.depth == 0 {
                    self.walk.query(query, self.ctes);
                }
                self.depth += 1;
                ControlFlow::Continue(())
            }
            fn post_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
                self.depth -= 1;
                ControlFlow::Continue(())
            }
        }
        let _ = node.visit(&mut Finder {
            walk: self,
            ctes,
            depth: 0,
        });
    }
}

/// Lets `WHERE` state the visibility of those of `references` read as is (not on the nullable
/// side of an outer join).
fn read_as_is(references: &mut [Reference<'_>]) {
    for reference in references {
        if !reference.nullable {
            reference.places.push(WHERE);
        }
    }
}

/// The alias of a table factor that is not a table name (a derived table, a function, ...).
fn factor_alias(factor: &TableFactor) -> Option<&TableAlias> {
    match factor {
        TableFactor::Derived { alias, .. }
        | TableFactor::Function { alias, .. }
        | TableFactor::UNNEST { alias, .. }
        | TableFactor::TableFunction { alias, .. }
        | TableFactor::NestedJoin { alias, .. } => alias.as_ref(),
        _ => None,
    }
}

/// Marks `references` as the nullable side of an outer join whose `ON` is `on`: only that
/// `ON` (and places inside the side) state their visibility now.
fn nullable(references: &mut [Reference<'_>], on: Option<Place>) {
    for reference in references {
        reference.nullable = true;
        reference.places.retain(|&place| place != WHERE);
        reference.places.extend(on);
    }
}

enum JoinKind {
    Inner,
    Left,
    Right,
    Full,
}

fn join_kind(operator: &JoinOperator) -> (JoinKind, Option<&JoinConstraint>) {
    match operator {
        JoinOperator::Left(c) | JoinOperator::LeftOuter(c) => (JoinKind::Left, Some(c)),
        JoinOperator::Right(c) | JoinOperator::RightOuter(c) => (JoinKind::Right, Some(c)),
        JoinOperator::FullOuter(c) => (JoinKind::Full, Some(c)),
        JoinOperator::OuterApply | JoinOperator::LeftArrayJoin => (JoinKind::Left, None),
        JoinOperator::Join(c)
        | JoinOperator::Inner(c)
        | JoinOperator::CrossJoin(c)
        | JoinOperator::Semi(c)
        | JoinOperator::LeftSemi(c)
        | JoinOperator::RightSemi(c)
        | JoinOperator::Anti(c)
        | JoinOperator::LeftAnti(c)
        | JoinOperator::RightAnti(c)
        | JoinOperator::StraightJoin(c)
        | JoinOperator::AsOf { constraint: c, .. } => (JoinKind::Inner, Some(c)),
        JoinOperator::CrossApply | JoinOperator::ArrayJoin | JoinOperator::InnerArrayJoin => {
            (JoinKind::Inner, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::StrategyKind;

    fn checker() -> Checker {
        Checker::new([TableInfo::new(
            TableName {
                schema: None,
                name: "t".into(),
            },
            "deleted_at",
            StrategyKind::Timestamp,
        )])
    }

    /// The text parsed after a rewrite is the text written, escapes included: a quote doubled
    /// inside a literal must not end it (which would hide the subquery after it).
    #[test]
    fn rewritten_text_keeps_its_literals_as_written() {
        let postgres = parser_dialect(Dialect::Postgres);
        let sql = "SELECT 'a''' || (SELECT name FROM t) || '''b' AS x FROM t WHERE deleted_at IS NULL FOR KEY SHARE";
        assert_eq!(
            known_lock_strengths(sql, postgres),
            "SELECT 'a''' || (SELECT name FROM t) || '''b' AS x FROM t WHERE deleted_at IS NULL FOR  SHARE"
        );
        let leaks = checker().check(sql, Dialect::Postgres).expect("readable");
        assert_eq!(leaks.len(), 1, "the subquery's read of t: {leaks:?}");
        let lines = "SELECT 'é\n'';' FROM t\nWHERE deleted_at IS NULL FOR NO KEY UPDATE; SELECT 1";
        assert_eq!(
            known_lock_strengths(lines, postgres),
            "SELECT 'é\n'';' FROM t\nWHERE deleted_at IS NULL FOR   UPDATE; SELECT 1"
        );
        // A piece checked on its own (the whole text does not parse) is its text as written.
        let pieces = "CREATE TRIGGER x; SELECT 'a''' || (SELECT name FROM t) || '''b' FROM t WHERE deleted_at IS NULL";
        let leaks = checker()
            .check(pieces, Dialect::Postgres)
            .expect("readable");
        assert_eq!(leaks.len(), 1, "{leaks:?}");
    }

    /// A reassignment's MySQL statement joins thousands of `UNION ALL` arms: a tree as deep as
    /// it is long, which must not overflow a test thread's stack.
    #[test]
    fn deep_statements_are_checked_without_overflowing_the_stack() {
        let arms = vec!["SELECT ? AS k, ? AS v"; 8000].join(" UNION ALL ");
        let update = format!("UPDATE t INNER JOIN ({arms}) AS v ON t.id = v.k SET t.n = v.v");
        assert_eq!(checker().check(&update, Dialect::Mysql), Ok(Vec::new()));

        let conjuncts = vec!["id <> ?"; 8000].join(" AND ");
        let select = format!("SELECT id FROM t WHERE {conjuncts}");
        assert_eq!(
            checker().check(&select, Dialect::Sqlite).map(|l| l.len()),
            Ok(1)
        );
    }
}
