//! Plan tests: every statement a scenario sends, explained by its backend's planner, and a
//! full scan of a large table reported.
//!
//! [`record_statements`](crate::record_statements) gives each statement as Diesel's
//! `debug_query` shows it: the SQL, then ` -- binds: [...]` with each bound value's `Debug`.
//! [`Recorded::parse`] reads that back, [`Recorded::render`] puts each value into the SQL as a
//! literal (quoted and escaped for the backend: for `EXPLAIN` only, never to run), and
//! [`Explain::explain`] asks the planner:
//!
//! - SQLite: `EXPLAIN QUERY PLAN`; `SCAN t` (also `USING [COVERING] INDEX`, which reads the
//!   whole index) and an `AUTOMATIC` index (built by a scan) are full scans;
//! - PostgreSQL: `EXPLAIN (FORMAT JSON)`; a `Seq Scan`, or an index scan with no index
//!   condition, is a full scan;
//! - MySQL/MariaDB: `EXPLAIN FORMAT=JSON`; access type `ALL` or `index` is a full scan.
//!
//! The planner sees the bound values as the real statement's custom plan would. A
//! [`PlanCheck`] names the large tables of a scenario (seeded with thousands of rows and
//! analyzed, so that a planner prefers an index for a few rows) and fails on a statement
//! that scans one of them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use diesel::RunQueryDsl;

use crate::{Backend, TestConnection};

/// A value bound to a recorded statement, read back from its `Debug`.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `None`.
    Null,
    /// An integer or a decimal number, as written.
    Number(String),
    /// `true` or `false`.
    Bool(bool),
    /// A string (unescaped).
    Text(String),
    /// A date, time or timestamp (chrono's `Debug`), or a UUID: written as a quoted string.
    Word(String),
    /// A list (PostgreSQL binds `= ANY($1)` as one array).
    Array(Vec<Literal>),
}

/// One recorded statement: its SQL with placeholders, and its bound values in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// The SQL as sent, with the backend's placeholders (`$1`, `?`).
    pub sql: String,
    /// The bound values.
    pub binds: Vec<Literal>,
}

impl Recorded {
    /// Reads what [`record_statements`](crate::record_statements) recorded.
    pub fn parse(recorded: &str) -> Result<Recorded, String> {
        // Transaction control (`BEGIN`, `SAVEPOINT`) is recorded without binds.
        let Some((sql, binds)) = recorded.rsplit_once(" -- binds: ") else {
            return Ok(Recorded {
                sql: recorded.to_owned(),
                binds: Vec::new(),
            });
        };
        Ok(Recorded {
            sql: sql.to_owned(),
            binds: parse_binds(binds)?,
        })
    }

    /// The statement's first word, upper-cased.
    pub fn verb(&self) -> String {
        crate::verb(&self.sql)
    }

    /// Whether a planner explains it: a `SELECT`, `INSERT`, `UPDATE`, `DELETE` or `WITH`.
    pub fn explainable(&self) -> bool {
        matches!(
            self.verb().as_str(),
            "SELECT" | "INSERT" | "UPDATE" | "DELETE" | "WITH" | "(SELECT"
        )
    }

    /// The SQL with every placeholder replaced by its value as a literal of `backend`.
    pub fn render(&self, backend: Backend) -> Result<String, String> {
        let literals: Vec<String> = self.binds.iter().map(|b| literal(backend, b)).collect();
        let mut out = String::with_capacity(self.sql.len());
        let mut next = 0;
        let mut chars = self.sql.char_indices().peekable();
        while let Some((_, c)) = chars.next() {
            match c {
                '\'' | '"' | '`' => {
                    out.push(c);
                    // Copy the quoted text as it is; a doubled quote stays inside. MySQL also
                    // escapes with a backslash inside string literals.
                    while let Some((_, inner)) = chars.next() {
                        out.push(inner);
                        if inner == '\\' && c == '\'' && backend == Backend::Mysql {
                            if let Some((_, escaped)) = chars.next() {
                                out.push(escaped);
                            }
                            continue;
                        }
                        if inner == c {
                            if chars.peek().is_some_and(|&(_, n)| n == c) {
                                let (_, n) = chars.next().unwrap_or((0, c));
                                out.push(n);
                                continue;
                            }
                            break;
                        }
                    }
                }
                '$' if backend == Backend::Postgres
                    && chars.peek().is_some_and(|(_, d)| d.is_ascii_digit()) =>
                {
                    let mut digits = String::new();
                    while let Some(&(_, d)) = chars.peek().filter(|(_, d)| d.is_ascii_digit()) {
                        digits.push(d);
                        chars.next();
                    }
                    let n: usize = digits.parse().map_err(|_| "a placeholder".to_owned())?;
                    let value = literals
                        .get(n.wrapping_sub(1))
                        .ok_or_else(|| format!("no bind ${n} in {}", self.sql))?;
                    out.push_str(value);
                }
                '?' if backend != Backend::Postgres => {
                    let value = literals
                        .get(next)
                        .ok_or_else(|| format!("no bind {} in {}", next + 1, self.sql))?;
                    next += 1;
                    out.push_str(value);
                }
                c => out.push(c),
            }
        }
        if backend != Backend::Postgres && next != literals.len() {
            return Err(format!(
                "{} binds for {next} placeholders in {}",
                literals.len(),
                self.sql
            ));
        }
        Ok(out)
    }
}

/// `value` as a literal of `backend`'s SQL.
fn literal(backend: Backend, value: &Literal) -> String {
    let quote = |text: &str| {
        let mut escaped = text.replace('\'', "''");
        if backend == Backend::Mysql {
            escaped = escaped.replace('\\', "\\\\");
        }
        format!("'{escaped}'")
    };
    match value {
        Literal::Null => "NULL".to_owned(),
        Literal::Number(n) => n.clone(),
        Literal::Bool(true) => "TRUE".to_owned(),
        Literal::Bool(false) => "FALSE".to_owned(),
        Literal::Text(text) => quote(text),
        Literal::Array(items) if items.is_empty() => "'{}'".to_owned(),
        Literal::Array(items) => format!(
            "ARRAY[{}]",
            items
                .iter()
                .map(|item| literal(backend, item))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Literal::Word(word) => {
            // chrono writes `2026-01-02T03:04:05.000001` (and `Z` for UTC): written as the
            // databases store it, with a space.
            let is_time = word.len() >= 19
                && word.as_bytes()[4] == b'-'
                && word.as_bytes()[10] == b'T'
                && word.as_bytes()[13] == b':';
            if is_time {
                let text = word.replacen('T', " ", 1);
                quote(text.trim_end_matches('Z'))
            } else {
                quote(word)
            }
        }
    }
}

/// Reads `[v1, v2, ...]` as `Debug` writes bound values.
fn parse_binds(text: &str) -> Result<Vec<Literal>, String> {
    let inner = text
        .trim()
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .ok_or_else(|| format!("binds are not a list: {text}"))?;
    let mut values = Vec::new();
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(values);
        }
        values.push(parse_value(&mut chars)?);
    }
}

fn parse_value(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<Literal, String> {
    if chars.peek() == Some(&'[') {
        chars.next();
        let mut items = Vec::new();
        loop {
            while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
                chars.next();
            }
            match chars.peek() {
                Some(']') => {
                    chars.next();
                    return Ok(Literal::Array(items));
                }
                Some(_) => items.push(parse_value(chars)?),
                None => return Err("unclosed list".into()),
            }
        }
    }
    if chars.peek() == Some(&'"') {
        chars.next();
        let mut text = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Ok(Literal::Text(text)),
                '\\' => match chars.next() {
                    Some('n') => text.push('\n'),
                    Some('t') => text.push('\t'),
                    Some('r') => text.push('\r'),
                    Some('0') => text.push('\0'),
                    Some('u') => {
                        let code: String = chars
                            .by_ref()
                            .skip_while(|c| *c == '{')
                            .take_while(|c| *c != '}')
                            .collect();
                        let c = u32::from_str_radix(&code, 16)
                            .ok()
                            .and_then(char::from_u32)
                            .ok_or_else(|| format!("bad escape \\u{{{code}}}"))?;
                        text.push(c);
                    }
                    Some(other) => text.push(other),
                    None => return Err("unterminated string".into()),
                },
                c => text.push(c),
            }
        }
        return Err("unterminated string".into());
    }
    let mut word = String::new();
    while let Some(&c) = chars.peek() {
        if c == ',' || c == ')' || c == '(' || c == ']' {
            break;
        }
        word.push(c);
        chars.next();
    }
    let word = word.trim().to_owned();
    if chars.peek() == Some(&'(') {
        chars.next();
        // `Some(v)`; or one of the owned SQLite values that diesel-async's
        // `SyncConnectionWrapper` binds (and so records) in place of the typed ones.
        if !["Some", "I32", "I64", "F64", "String"].contains(&word.as_str()) {
            return Err(format!("cannot read a bound `{word}(..)`"));
        }
        let value = parse_value(chars)?;
        if chars.next() != Some(')') {
            return Err(format!("unclosed {word}(..)"));
        }
        return Ok(value);
    }
    Ok(match word.as_str() {
        // (`Null`: the SQLite wrapper's NULL, as above.)
        "None" | "Null" => Literal::Null,
        "true" => Literal::Bool(true),
        "false" => Literal::Bool(false),
        w if !w.is_empty()
            && w.trim_start_matches('-')
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.')
            && w.chars().any(|c| c.is_ascii_digit()) =>
        {
            Literal::Number(w.to_owned())
        }
        "" => return Err("an empty bind".into()),
        w => Literal::Word(w.to_owned()),
    })
}

/// How the planner reads one table of a statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Access {
    /// The table (or alias, or derived table) as the plan names it.
    pub table: String,
    /// The plan's words for the access (`SCAN loans`, `Seq Scan`, `ALL`, `ref`, ...).
    pub method: String,
    /// Whether it reads the whole table (or a whole index of it).
    pub full_scan: bool,
    /// The planner's estimate of rows read, where the plan gives one.
    pub rows: Option<f64>,
}

/// A backend's `EXPLAIN`, read as [`Access`]es.
pub trait Explain: TestConnection {
    /// The plan of `sql` (a statement with literals, see [`Recorded::render`]), as the
    /// planner's own text, and read as accesses.
    fn explain(&mut self, sql: &str) -> Result<(String, Vec<Access>), String>;

    /// The rows of `table`.
    fn count_rows(&mut self, table: &str) -> Result<i64, String>;

    /// Refreshes the planner's statistics of `tables`.
    fn analyze(&mut self, tables: &[&str]) -> Result<(), String> {
        let sql = match Self::BACKEND {
            Backend::Sqlite => "ANALYZE".to_owned(),
            Backend::Postgres => format!("ANALYZE {}", tables.join(", ")),
            // `ANALYZE TABLE` returns a result set, which a batch consumes.
            Backend::Mysql => format!("ANALYZE TABLE {}", tables.join(", ")),
        };
        self.batch_execute(&sql).map_err(|e| e.to_string())
    }
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// `count_rows` of [`Explain`], the same on every backend.
macro_rules! count_rows {
    () => {
        fn count_rows(&mut self, table: &str) -> Result<i64, String> {
            // Every row, live or not: the size of the table the plan is checked against.
            let counted: Vec<Count> = soft_delete_runtime::guard::allow(|| {
                diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}")).load(self)
            })
            .map_err(|e| e.to_string())?;
            Ok(counted.first().map_or(0, |c| c.n))
        }
    };
}

#[derive(diesel::QueryableByName)]
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
struct SqlitePlanRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    detail: String,
}

#[cfg(feature = "sqlite")]
impl Explain for diesel::SqliteConnection {
    count_rows!();

    fn explain(&mut self, sql: &str) -> Result<(String, Vec<Access>), String> {
        let rows: Vec<SqlitePlanRow> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
            .load(self)
            .map_err(|e| format!("{e}: EXPLAIN QUERY PLAN {sql}"))?;
        let text = rows
            .iter()
            .map(|r| r.detail.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        let accesses = rows
            .iter()
            .filter_map(|r| sqlite_access(&r.detail))
            .collect();
        Ok((text, accesses))
    }
}

/// `SCAN t`, `SCAN t USING INDEX i`, `SEARCH t USING INDEX i (a=?)`, `SCAN TABLE t AS a`
/// (older versions), `SEARCH t USING AUTOMATIC COVERING INDEX (a=?)`.
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
fn sqlite_access(detail: &str) -> Option<Access> {
    let mut words = detail.split_whitespace();
    let verb = words.next()?;
    if verb != "SCAN" && verb != "SEARCH" {
        return None;
    }
    let mut table = words.next()?;
    if table == "TABLE" {
        table = words.next()?;
    }
    let rest: Vec<&str> = words.collect();
    let alias = match rest.as_slice() {
        ["AS", alias, ..] => Some(*alias),
        _ => None,
    };
    if table == "CONSTANT" {
        return None;
    }
    Some(Access {
        table: alias.unwrap_or(table).to_owned(),
        method: detail.to_owned(),
        full_scan: verb == "SCAN" || detail.contains("AUTOMATIC"),
        rows: None,
    })
}

#[derive(diesel::QueryableByName)]
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
struct PgPlanRow {
    // A `json` column, whose bytes are its text.
    #[diesel(sql_type = diesel::sql_types::Text)]
    #[diesel(column_name = "QUERY PLAN")]
    plan: String,
}

#[cfg(feature = "postgres")]
impl Explain for diesel::PgConnection {
    count_rows!();

    fn explain(&mut self, sql: &str) -> Result<(String, Vec<Access>), String> {
        let explain = format!("EXPLAIN (FORMAT JSON) {sql}");
        let rows: Vec<PgPlanRow> = diesel::sql_query(&explain)
            .load(self)
            .map_err(|e| format!("{e}: {explain}"))?;
        let text = rows
            .into_iter()
            .map(|r| r.plan)
            .collect::<Vec<_>>()
            .join("\n");
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
        let mut accesses = Vec::new();
        pg_accesses(&json, &mut accesses);
        let mut tree = String::new();
        pg_tree(&json, 0, &mut tree);
        Ok((tree, accesses))
    }
}

/// The plan's nodes, one a line, indented: node type, relation, index, conditions, rows.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
fn pg_tree(value: &serde_json::Value, depth: usize, out: &mut String) {
    match value {
        serde_json::Value::Array(items) => items.iter().for_each(|v| pg_tree(v, depth, out)),
        serde_json::Value::Object(map) => {
            if let Some(plan) = map.get("Plan") {
                return pg_tree(plan, depth, out);
            }
            let field = |k: &str| map.get(k).and_then(|v| v.as_str()).unwrap_or("");
            let mut line = format!("{}{}", "  ".repeat(depth), field("Node Type"));
            for key in [
                "Relation Name",
                "Index Name",
                "Index Cond",
                "Filter",
                "Join Filter",
                "Hash Cond",
            ] {
                if !field(key).is_empty() {
                    line += &format!(" [{key}: {}]", field(key));
                }
            }
            if let Some(rows) = map.get("Plan Rows") {
                line += &format!(" rows={rows}");
            }
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&line);
            if let Some(children) = map.get("Plans") {
                pg_tree(children, depth + 1, out);
            }
        }
        _ => {}
    }
}

#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
fn pg_accesses(value: &serde_json::Value, out: &mut Vec<Access>) {
    match value {
        serde_json::Value::Array(items) => items.iter().for_each(|v| pg_accesses(v, out)),
        serde_json::Value::Object(map) => {
            if let (Some(node), Some(relation)) = (
                map.get("Node Type").and_then(|v| v.as_str()),
                map.get("Relation Name").and_then(|v| v.as_str()),
            ) {
                if node != "ModifyTable" {
                    let full_scan = node == "Seq Scan"
                        || (node.starts_with("Index") && !map.contains_key("Index Cond"));
                    out.push(Access {
                        table: relation.to_owned(),
                        method: node.to_owned(),
                        full_scan,
                        rows: map.get("Plan Rows").and_then(|v| v.as_f64()),
                    });
                }
            }
            map.values().for_each(|v| pg_accesses(v, out));
        }
        _ => {}
    }
}

#[derive(diesel::QueryableByName)]
#[cfg_attr(not(feature = "mysql"), allow(dead_code))]
struct MysqlPlanRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    #[diesel(column_name = "EXPLAIN")]
    explain: String,
}

#[cfg(feature = "mysql")]
impl Explain for diesel::MysqlConnection {
    count_rows!();

    fn explain(&mut self, sql: &str) -> Result<(String, Vec<Access>), String> {
        let rows: Vec<MysqlPlanRow> = diesel::sql_query(format!("EXPLAIN FORMAT=JSON {sql}"))
            .load(self)
            .map_err(|e| format!("{e}: EXPLAIN FORMAT=JSON {sql}"))?;
        let text = rows
            .into_iter()
            .map(|r| r.explain)
            .collect::<Vec<_>>()
            .join("\n");
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
        let mut accesses = Vec::new();
        mysql_accesses(&json, &mut accesses);
        let summary = accesses
            .iter()
            .map(|a| format!("{} {} rows={:?}", a.table, a.method, a.rows))
            .collect::<Vec<_>>()
            .join("\n");
        Ok((summary, accesses))
    }
}

#[cfg_attr(not(feature = "mysql"), allow(dead_code))]
fn mysql_accesses(value: &serde_json::Value, out: &mut Vec<Access>) {
    match value {
        serde_json::Value::Array(items) => items.iter().for_each(|v| mysql_accesses(v, out)),
        serde_json::Value::Object(map) => {
            if let (Some(table), Some(access)) = (
                map.get("table_name").and_then(|v| v.as_str()),
                map.get("access_type").and_then(|v| v.as_str()),
            ) {
                let rows = ["rows", "rows_examined_per_scan"]
                    .iter()
                    .find_map(|k| map.get(*k).and_then(|v| v.as_f64()));
                let key = map.get("key").and_then(|v| v.as_str()).unwrap_or("-");
                out.push(Access {
                    table: table.to_owned(),
                    method: format!("{access} (key {key})"),
                    full_scan: access == "ALL" || access == "index",
                    rows,
                });
            }
            map.values().for_each(|v| mysql_accesses(v, out));
        }
        _ => {}
    }
}

/// What an alias in `sql` stands for: `<table> AS <alias>` (identifiers quoted or not), for
/// the tables in `tables`.
pub fn aliases(sql: &str, tables: &[&str]) -> BTreeMap<String, String> {
    let words = identifiers(sql);
    let mut map = BTreeMap::new();
    for (i, word) in words.iter().enumerate() {
        let Some(table) = tables.iter().find(|t| t.eq_ignore_ascii_case(word)) else {
            continue;
        };
        if let (Some(as_), Some(alias)) = (words.get(i + 1), words.get(i + 2)) {
            if as_.eq_ignore_ascii_case("AS") {
                map.insert(alias.to_ascii_lowercase(), (*table).to_owned());
            }
        }
    }
    map
}

/// The aliases in `sql` that stand for more than one of `tables` (`posts AS sd_r` in one
/// subquery, `tags AS sd_r` in the next): a plan that names one cannot say which table it read.
pub fn ambiguous_aliases(sql: &str, tables: &[&str]) -> BTreeSet<String> {
    let words = identifiers(sql);
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut ambiguous = BTreeSet::new();
    for (i, word) in words.iter().enumerate() {
        if let (Some(as_), Some(alias)) = (words.get(i + 1), words.get(i + 2)) {
            if as_.eq_ignore_ascii_case("AS") {
                let alias = alias.to_ascii_lowercase();
                let table = word.to_ascii_lowercase();
                match seen.get(&alias) {
                    Some(other) if *other != table => {
                        ambiguous.insert(alias);
                    }
                    _ => {
                        seen.insert(alias, table);
                    }
                }
            }
        }
    }
    ambiguous.retain(|alias| !tables.iter().any(|t| t.eq_ignore_ascii_case(alias)));
    ambiguous
}

/// The words of `sql`, quoted identifiers unquoted; string literals and punctuation left out.
fn identifiers(sql: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                while let Some(inner) = chars.next() {
                    if inner == '\'' {
                        if chars.peek() == Some(&'\'') {
                            chars.next();
                            continue;
                        }
                        break;
                    }
                }
            }
            '"' | '`' => {
                let mut word = String::new();
                for inner in chars.by_ref() {
                    if inner == c {
                        break;
                    }
                    word.push(inner);
                }
                words.push(word);
            }
            c if c.is_alphanumeric() || c == '_' => {
                let mut word = c.to_string();
                while let Some(&n) = chars.peek().filter(|n| n.is_alphanumeric() || **n == '_') {
                    word.push(n);
                    chars.next();
                }
                words.push(word);
            }
            _ => {}
        }
    }
    words
}

/// Reads the planner estimates below this are few, whatever the table's size.
pub const FEW_ROWS: f64 = 200.0;

/// A statement that reads a large table whole.
#[derive(Debug, Clone)]
pub struct Scan {
    /// The statement, with its binds as literals.
    pub sql: String,
    /// The large table it scans.
    pub table: String,
    /// The plan, in the planner's words.
    pub plan: String,
}

impl fmt::Display for Scan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "full scan of `{}`:\n  {}\n  plan: {}",
            self.table,
            self.sql,
            self.plan.replace('\n', "\n        ")
        )
    }
}

/// The large tables of a scenario, and the statements allowed to scan one (with the reason).
#[derive(Debug, Clone, Default)]
pub struct PlanCheck {
    large: Vec<&'static str>,
    allowed: Vec<(&'static str, &'static str, &'static str)>,
}

impl PlanCheck {
    /// A check over `large`: tables seeded with enough rows that a planner prefers an index.
    pub fn new(large: &[&'static str]) -> PlanCheck {
        PlanCheck {
            large: large.to_vec(),
            allowed: Vec::new(),
        }
    }

    /// Statements containing `fragment` may scan `table`, because of `reason` (say it: the
    /// test's output lists none of them, but the source should).
    #[must_use]
    pub fn allow(
        mut self,
        fragment: &'static str,
        table: &'static str,
        reason: &'static str,
    ) -> Self {
        self.allowed.push((fragment, table, reason));
        self
    }

    /// Explains every explainable statement of `recorded` (as
    /// [`record_statements`](crate::record_statements) gave them) on `conn`, and returns the
    /// full scans of large tables, with how many statements were explained.
    ///
    /// A read the planner estimates at more than a quarter of a large table's rows (and more
    /// than [`FEW_ROWS`]) counts as a full scan too: an index range that covers the table
    /// (`deleted_at IS NULL` over the live rows) reads it whole all the same. Only PostgreSQL
    /// and MySQL give the estimate.
    pub fn scans<C: Explain>(
        &self,
        conn: &mut C,
        recorded: &[String],
    ) -> Result<(usize, Vec<Scan>), String> {
        let mut sizes = BTreeMap::new();
        for table in &self.large {
            sizes.insert(table.to_ascii_lowercase(), conn.count_rows(table)?);
        }
        let mut scans = Vec::new();
        let mut explained = 0;
        for line in recorded {
            let statement = Recorded::parse(line)?;
            if !statement.explainable() {
                continue;
            }
            let sql = statement.render(C::BACKEND)?;
            let (plan, accesses) = conn.explain(&sql)?;
            explained += 1;
            let aliases = aliases(&statement.sql, &self.large);
            let ambiguous = ambiguous_aliases(&statement.sql, &self.large);
            for access in &accesses {
                let name = access.table.to_ascii_lowercase();
                // An alias of several tables (MySQL/MariaDB name the alias, not the table): a
                // full scan the planner expects to read a few rows is of a small one of them.
                if ambiguous.contains(&name) && access.rows.is_some_and(|rows| rows <= FEW_ROWS) {
                    continue;
                }
                let Some(table) = self
                    .large
                    .iter()
                    .find(|t| t.eq_ignore_ascii_case(&name))
                    .map(|t| (*t).to_owned())
                    .or_else(|| aliases.get(&name).cloned())
                else {
                    continue;
                };
                let size = sizes.get(&table.to_ascii_lowercase()).copied().unwrap_or(0);
                let wide = access
                    .rows
                    .is_some_and(|rows| rows > FEW_ROWS && rows * 4.0 > size as f64);
                if !access.full_scan && !wide {
                    continue;
                }
                let allowed = self
                    .allowed
                    .iter()
                    .any(|(fragment, t, _)| *t == table && statement.sql.contains(fragment));
                if !allowed {
                    scans.push(Scan {
                        sql: sql.clone(),
                        table,
                        plan: plan.clone(),
                    });
                }
            }
        }
        Ok((explained, scans))
    }

    /// [`scans`](Self::scans), as a test's result: an error listing every full scan.
    pub fn assert<C: Explain>(&self, conn: &mut C, recorded: &[String]) -> Result<usize, String> {
        let (explained, scans) = self.scans(conn, recorded)?;
        if scans.is_empty() {
            return Ok(explained);
        }
        let list: Vec<String> = scans.iter().map(ToString::to_string).collect();
        Err(format!(
            "{} of {explained} statements scan a large table on {:?}:\n{}",
            scans.len(),
            C::BACKEND,
            list.join("\n")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_are_read_back_from_debug() {
        let recorded = Recorded::parse(
            r#"UPDATE "t" SET "a" = $1, "b" = $2 WHERE "c" = $3 AND "d" IN ($4, $5) AND "e" = ANY($6) -- binds: [2026-01-02T03:04:05.000001, Some("it's, \"x\""), None, 7, -1.5, [1, 2]]"#,
        )
        .expect("parsed");
        assert_eq!(
            recorded.binds,
            [
                Literal::Word("2026-01-02T03:04:05.000001".into()),
                Literal::Text("it's, \"x\"".into()),
                Literal::Null,
                Literal::Number("7".into()),
                Literal::Number("-1.5".into()),
                Literal::Array(vec![
                    Literal::Number("1".into()),
                    Literal::Number("2".into())
                ]),
            ]
        );
        assert_eq!(
            recorded.render(Backend::Postgres).expect("rendered"),
            r#"UPDATE "t" SET "a" = '2026-01-02 03:04:05.000001', "b" = 'it''s, "x"' WHERE "c" = NULL AND "d" IN (7, -1.5) AND "e" = ANY(ARRAY[1, 2])"#
        );
    }

    #[test]
    fn the_sqlite_wrappers_owned_binds_are_read_back_too() {
        // diesel-async's `SyncConnectionWrapper` runs (and records) a statement with SQLite's
        // owned bind values.
        let recorded = Recorded::parse(
            r#"SELECT 1 FROM "t" WHERE "a" = ? AND "b" = ? AND "c" = ? AND "d" = ? AND "e" IS ? -- binds: [I32(1011), I64(-7), F64(1.5), String("it's"), Null]"#,
        )
        .expect("parsed");
        assert_eq!(
            recorded.binds,
            [
                Literal::Number("1011".into()),
                Literal::Number("-7".into()),
                Literal::Number("1.5".into()),
                Literal::Text("it's".into()),
                Literal::Null,
            ]
        );
        assert!(Recorded::parse("SELECT ? -- binds: [Binary([1, 2])]").is_err());
    }

    #[test]
    fn question_marks_inside_quotes_are_not_placeholders() {
        let recorded = Recorded {
            sql: "SELECT '?', `a?` FROM t WHERE x = ? AND y = 'it''s ?' AND z = ?".into(),
            binds: vec![Literal::Text("a\\b".into()), Literal::Bool(true)],
        };
        assert_eq!(
            recorded.render(Backend::Mysql).expect("rendered"),
            "SELECT '?', `a?` FROM t WHERE x = 'a\\\\b' AND y = 'it''s ?' AND z = TRUE"
        );
        assert!(Recorded {
            sql: "SELECT ?".into(),
            binds: vec![]
        }
        .render(Backend::Sqlite)
        .is_err());
    }

    #[test]
    fn aliases_are_found_by_table() {
        let map = aliases(
            "UPDATE `loans` AS sd_row JOIN `soft_delete_journal` AS sd_j ON 1 = 1 WHERE EXISTS (SELECT 1 FROM \"members\" AS sd_p)",
            &["loans", "members"],
        );
        assert_eq!(map.get("sd_row").map(String::as_str), Some("loans"));
        assert_eq!(map.get("sd_p").map(String::as_str), Some("members"));
        assert_eq!(map.get("sd_j"), None);
    }

    #[test]
    fn sqlite_details_are_read() {
        let scan = sqlite_access("SCAN loans").expect("an access");
        assert!(scan.full_scan);
        let covering = sqlite_access("SCAN sd_row USING COVERING INDEX x").expect("an access");
        assert!(covering.full_scan);
        assert_eq!(covering.table, "sd_row");
        let search = sqlite_access("SEARCH loans USING INDEX loans_member_id (member_id=?)")
            .expect("an access");
        assert!(!search.full_scan);
        assert!(
            sqlite_access("SEARCH t USING AUTOMATIC COVERING INDEX (a=?)")
                .expect("an access")
                .full_scan
        );
        assert_eq!(sqlite_access("LIST SUBQUERY 1"), None);
        assert_eq!(sqlite_access("SCAN CONSTANT ROW"), None);
    }
}
