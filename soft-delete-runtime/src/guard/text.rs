//! The text of a statement around its parsing: rewrites the parser needs (row-lock strengths it
//! does not know, PostgreSQL's escaped identifiers, the repairs of a text it refuses but the
//! backend reads), and the positions of its tokens, by which
//! the checker's fallback cuts a text the parser refuses into its statements and finds the
//! query a DDL statement runs.

use std::borrow::Cow;

use sqlparser::dialect::Dialect as SqlDialect;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use crate::backend::Dialect;

/// `sql` with PostgreSQL's row-lock strengths the parser does not know, `FOR NO KEY UPDATE` and
/// `FOR KEY SHARE` (Diesel's `for_no_key_update` and `for_key_share`), written as those it
/// knows, `FOR UPDATE` and `FOR SHARE`: a lock's strength says nothing of the rows read. Only
/// unquoted words are read, so a literal or an identifier that spells them is left alone, and
/// only their bytes are cut out of the text, which is otherwise kept as it was written.
pub(super) fn known_lock_strengths<'s>(sql: &'s str, dialect: &dyn SqlDialect) -> Cow<'s, str> {
    if !sql.to_ascii_uppercase().contains("KEY") {
        return Cow::Borrowed(sql);
    }
    let Ok(tokens) = Tokenizer::new(dialect, sql).tokenize_with_location() else {
        return Cow::Borrowed(sql);
    };
    let is = |token: &Token, keyword: &str| {
        matches!(token, Token::Word(word)
            if word.quote_style.is_none() && word.value.eq_ignore_ascii_case(keyword))
    };
    let words: Vec<usize> = (0..tokens.len())
        .filter(|&i| !matches!(tokens[i].token, Token::Whitespace(_)))
        .collect();
    let spells = |at: usize, keywords: &[&str]| {
        keywords.iter().enumerate().all(|(k, keyword)| {
            words
                .get(at + k)
                .is_some_and(|&i| is(&tokens[i].token, keyword))
        })
    };
    let mut cut = Vec::new();
    for at in 0..words.len() {
        if spells(at, &["FOR", "NO", "KEY", "UPDATE"]) {
            cut.extend([words[at + 1], words[at + 2]]);
        } else if spells(at, &["FOR", "KEY", "SHARE"]) {
            cut.push(words[at + 1]);
        }
    }
    if cut.is_empty() {
        return Cow::Borrowed(sql);
    }
    let offsets = token_offsets(sql, &tokens);
    let mut kept = String::with_capacity(sql.len());
    let mut from = 0;
    for i in cut {
        kept.push_str(&sql[from..offsets[i]]);
        from = offsets[i + 1];
    }
    kept.push_str(&sql[from..]);
    Cow::Owned(kept)
}

/// Where the query a DDL statement runs starts among `tokens`: after an unquoted `AS`, at the
/// `SELECT`, `WITH`, `VALUES` or `TABLE` that follows it, or at the parentheses around one
/// (`AS (SELECT ...)`). `AS (` before anything else is an expression (a generated column's),
/// and `AS $$ ... $$` a function's body, one token.
pub(super) fn query_after_as(tokens: &[TokenWithSpan]) -> Option<usize> {
    let words: Vec<usize> = (0..tokens.len())
        .filter(|&i| !matches!(tokens[i].token, Token::Whitespace(_)))
        .collect();
    let is = |i: usize, keywords: &[&str]| {
        matches!(&tokens[i].token, Token::Word(word)
            if word.quote_style.is_none()
                && keywords.iter().any(|k| word.value.eq_ignore_ascii_case(k)))
    };
    words.iter().enumerate().find_map(|(k, &i)| {
        if !is(i, &["AS"]) {
            return None;
        }
        let start = *words.get(k + 1)?;
        let query = words[k + 1..]
            .iter()
            .find(|&&j| tokens[j].token != Token::LParen)?;
        is(*query, &["SELECT", "WITH", "VALUES", "TABLE"]).then_some(start)
    })
}

/// `sql` with PostgreSQL's Unicode-escaped identifiers (`U&"\0075sers"`, `U&"!0075sers"
/// UESCAPE '!'`), which the parser does not know, written as the quoted identifiers they spell
/// (`"users"`), so that the table one names is found. One whose escapes do not decode is left as
/// written (and the text is unreadable); other dialects have no such identifiers.
pub(super) fn unicode_identifiers<'s>(
    sql: &'s str,
    dialect: Dialect,
    parser: &dyn SqlDialect,
) -> Cow<'s, str> {
    if dialect != Dialect::Postgres || !sql.contains('&') {
        return Cow::Borrowed(sql);
    }
    let Ok(tokens) = Tokenizer::new(parser, sql).tokenize_with_location() else {
        return Cow::Borrowed(sql);
    };
    let offsets = token_offsets(sql, &tokens);
    let words: Vec<usize> = (0..tokens.len())
        .filter(|&i| !matches!(tokens[i].token, Token::Whitespace(_)))
        .collect();
    let mut kept = String::with_capacity(sql.len());
    let (mut from, mut changed) = (0, false);
    for (k, &i) in words.iter().enumerate() {
        if offsets[i] < from {
            continue;
        }
        // `U`, `&` and the quoted identifier, with nothing between them.
        let escaped = match tokens
            .get(i..i + 3)
            .map(|t| [&t[0].token, &t[1].token, &t[2].token])
        {
            Some([Token::Word(u), Token::Ampersand, Token::Word(name)])
                if u.quote_style.is_none()
                    && u.value.eq_ignore_ascii_case("u")
                    && name.quote_style == Some('"') =>
            {
                name
            }
            _ => continue,
        };
        let mut end = i + 3;
        let mut escape = '\\';
        if let (Some(&u), Some(&c)) = (words.get(k + 3), words.get(k + 4)) {
            if let (Token::Word(word), Token::SingleQuotedString(c)) =
                (&tokens[u].token, &tokens[c].token)
            {
                if word.quote_style.is_none() && word.value.eq_ignore_ascii_case("UESCAPE") {
                    let mut chars = c.chars();
                    if let (Some(c), None) = (chars.next(), chars.next()) {
                        escape = c;
                    }
                    end = words[k + 4] + 1;
                }
            }
        }
        if let Some(name) = unescape(&escaped.value, escape) {
            kept.push_str(&sql[from..offsets[i]]);
            kept.push('"');
            kept.push_str(&name.replace('"', "\"\""));
            kept.push('"');
            from = offsets[end];
            changed = true;
        }
    }
    if !changed {
        return Cow::Borrowed(sql);
    }
    kept.push_str(&sql[from..]);
    Cow::Owned(kept)
}

/// A Unicode-escaped identifier's text decoded: `<escape>XXXX` and `<escape>+XXXXXX` (hex
/// code points), `<escape><escape>` the escape itself; `None` if an escape is malformed.
fn unescape(value: &str, escape: char) -> Option<String> {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if c != escape {
            out.push(c);
            continue;
        }
        let digits = match chars.peek() {
            Some(&next) if next == escape => {
                chars.next();
                out.push(escape);
                continue;
            }
            Some('+') => {
                chars.next();
                6
            }
            _ => 4,
        };
        let hex: String = chars.by_ref().take(digits).collect();
        if hex.len() != digits || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
    }
    Some(out)
}

/// The byte offset in `sql` where each token starts, and `sql.len()` after the last: from each
/// token's location, in lines and characters from 1, as the tokenizer counts them.
pub(super) fn token_offsets(sql: &str, tokens: &[TokenWithSpan]) -> Vec<usize> {
    let mut offsets = Vec::with_capacity(tokens.len() + 1);
    let mut chars = sql.char_indices().peekable();
    let (mut line, mut column) = (1, 1);
    for token in tokens {
        let at = (token.span.start.line, token.span.start.column);
        while (line, column) < at {
            match chars.next() {
                Some((_, '\n')) => (line, column) = (line + 1, 1),
                Some(_) => column += 1,
                None => break,
            }
        }
        offsets.push(chars.peek().map_or(sql.len(), |&(i, _)| i));
    }
    offsets.push(sql.len());
    offsets
}

/// `sql` repaired for the parser, when it refuses the text as written but the backend reads
/// it: each rewrite keeps what the statement reads and where it states visibility, and is made
/// only where the parser failed (a text it reads is never rewritten). `None` if nothing applies.
///
/// - MySQL's multi-table `UPDATE a, b SET ...` (a comma list of tables, which the parser does
///   not know): each comma between `UPDATE` and its `SET`, outside parentheses, becomes
///   `CROSS JOIN`, which MySQL defines as the same join (a comma binds looser than `JOIN`, but
///   an inner join's `ON` may only name tables joined before it, so no predicate moves).
///   Its modifiers `LOW_PRIORITY` and `IGNORE` are dropped.
/// - MySQL's `LOCK IN SHARE MODE` (MariaDB's spelling of a shared lock): `FOR SHARE`.
/// - PostgreSQL's and SQLite's postfix `x ISNULL` (the parser knows `NOTNULL` only):
///   `x IS NULL`; `ISNULL(` is a function call, and `AS isnull` a name, both left alone.
pub(super) fn repaired(sql: &str, dialect: Dialect, parser: &dyn SqlDialect) -> Option<String> {
    let upper = sql.to_ascii_uppercase();
    let wanted = match dialect {
        Dialect::Mysql => upper.contains("UPDATE") || upper.contains("LOCK"),
        Dialect::Postgres | Dialect::Sqlite => upper.contains("ISNULL"),
    };
    if !wanted {
        return None;
    }
    let tokens = Tokenizer::new(parser, sql).tokenize_with_location().ok()?;
    let offsets = token_offsets(sql, &tokens);
    let words: Vec<usize> = (0..tokens.len())
        .filter(|&i| !matches!(tokens[i].token, Token::Whitespace(_)))
        .collect();
    let is = |k: usize, keyword: &str| {
        words.get(k).is_some_and(|&i| {
            matches!(&tokens[i].token, Token::Word(word)
            if word.quote_style.is_none() && word.value.eq_ignore_ascii_case(keyword))
        })
    };
    // Replacements, as (first token, token after the last, text).
    let mut edits: Vec<(usize, usize, &str)> = Vec::new();
    for k in 0..words.len() {
        match dialect {
            Dialect::Mysql
                if is(k, "UPDATE") && !(k > 0 && (is(k - 1, "KEY") || is(k - 1, "FOR"))) =>
            {
                // Its modifiers, which the parser does not know either, say nothing of reads.
                let mut at = k + 1;
                while is(at, "LOW_PRIORITY") || is(at, "IGNORE") {
                    edits.push((words[at], words[at] + 1, ""));
                    at += 1;
                }
                let mut depth = 0usize;
                let mut commas = Vec::new();
                for &i in &words[at..] {
                    match &tokens[i].token {
                        Token::LParen => depth += 1,
                        Token::RParen if depth == 0 => break,
                        Token::RParen => depth -= 1,
                        Token::SemiColon if depth == 0 => break,
                        Token::Comma if depth == 0 => commas.push(i),
                        Token::Word(word)
                            if depth == 0
                                && word.quote_style.is_none()
                                && word.value.eq_ignore_ascii_case("SET") =>
                        {
                            edits.extend(commas.iter().map(|&c| (c, c + 1, " CROSS JOIN ")));
                            break;
                        }
                        _ => {}
                    }
                }
            }
            Dialect::Mysql
                if is(k, "LOCK") && is(k + 1, "IN") && is(k + 2, "SHARE") && is(k + 3, "MODE") =>
            {
                edits.push((words[k], words[k + 3] + 1, "FOR SHARE"));
            }
            Dialect::Postgres | Dialect::Sqlite
                if is(k, "ISNULL")
                    && k > 0
                    && !is(k - 1, "AS")
                    && words
                        .get(k + 1)
                        .is_none_or(|&i| tokens[i].token != Token::LParen) =>
            {
                edits.push((words[k], words[k] + 1, "IS NULL"));
            }
            _ => {}
        }
    }
    if edits.is_empty() {
        return None;
    }
    edits.sort_unstable();
    let mut kept = String::with_capacity(sql.len() + 16 * edits.len());
    let mut from = 0;
    for (first, after, text) in edits {
        kept.push_str(&sql[from..offsets[first]]);
        kept.push_str(text);
        from = offsets[after];
    }
    kept.push_str(&sql[from..]);
    Some(kept)
}
