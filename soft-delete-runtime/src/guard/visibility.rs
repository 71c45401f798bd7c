//! What counts as *stating visibility* for one table reference: the shapes of the live and
//! deleted predicates, and the `.with_deleted()` trace.
//!
//! Diesel renders the live predicate as `"t"."deleted_at" IS NULL` (timestamp),
//! `NOT ("t"."deleted")` (deleted flag) or `"t"."active"` (active flag), and the deleted
//! predicate as their opposites; hand-written SQL also says `deleted = FALSE`, `deleted = 0`,
//! `active IS TRUE` or compares the flag with a bound value (`deleted = $1`), and a timestamp
//! marker compared with a value (`deleted_at < $1`, a purge's cutoff, `deleted_at = $1`, an
//! archive batch's time) only holds for deleted rows, as does one listed in `IN (...)` or
//! `= ANY(...)`; MySQL's `ISNULL(m)` is `m IS NULL`. `IS [NOT] DISTINCT FROM` (MySQL's `<=>`, SQLite's `IS [NOT]`) compares a flag as
//! `=` (`<>`) does and a timestamp with NULL as `IS [NOT] NULL`; a flag listed in `IN (...)`
//! states the side its values all keep; a value under a cast (`$1::bool`) is still a value.
//! Each of these is accepted. Anything
//! else that mentions the marker (`deleted_at IS NULL OR id = 1`) is not a statement of
//! visibility.
//!
//! A table with several markers hides a row when any marker does. Its live predicate is the
//! conjunction of every marker's (`"t"."deleted_at" IS NULL AND NOT "t"."removed"`), so a read
//! states it by testing every marker; a test that keeps deleted rows only (of any one marker,
//! or the disjunction `.only_deleted()` renders, `("t"."deleted_at" IS NOT NULL OR
//! "t"."removed")`) states the deleted side. One marker's live predicate alone is not a
//! statement: it shows the rows another marker hides.

use sqlparser::ast::{
    BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, InTarget, UnaryOperator,
    Value,
};

use crate::table::StrategyKind;

/// The conjuncts of `expr`: `a AND (b AND c)` is `[a, b, c]`, parentheses removed.
#[recursive::recursive]
pub(super) fn conjuncts<'e>(expr: &'e Expr, out: &mut Vec<&'e Expr>) {
    match expr {
        Expr::Nested(inner) => conjuncts(inner, out),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            conjuncts(left, out);
            conjuncts(right, out);
        }
        other => out.push(other),
    }
}

/// `expr` without its parentheses.
pub(super) fn unnest(mut expr: &Expr) -> &Expr {
    while let Expr::Nested(inner) = expr {
        expr = inner;
    }
    expr
}

/// Which rows a test of one marker keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Direction {
    /// The rows the marker leaves live (`deleted_at IS NULL`, `NOT deleted`, `active`).
    Live,
    /// Rows the marker hides (`deleted_at IS NOT NULL`, `deleted_at < $1`, `deleted`).
    Deleted,
    /// Either, by a bound value (`deleted = $1`).
    Either,
}

impl Direction {
    fn flip(self) -> Direction {
        match self {
            Direction::Live => Direction::Deleted,
            Direction::Deleted => Direction::Live,
            Direction::Either => Direction::Either,
        }
    }
}

/// How a conjunct tests a marker of strategy `kind`: the column expression it tests and which
/// rows it keeps, if it is one of the shapes a statement of visibility takes.
#[recursive::recursive]
pub(super) fn marker_test(conjunct: &Expr, kind: StrategyKind) -> Option<(&Expr, Direction)> {
    let conjunct = unnest(conjunct);
    let direct = match kind {
        StrategyKind::Timestamp => timestamp_test(conjunct),
        StrategyKind::DeletedFlag => flag_test(conjunct),
        StrategyKind::ActiveFlag => flag_test(conjunct).map(|(column, set)| (column, set.flip())),
    };
    // `NOT (<a statement of visibility>)` states the opposite one.
    direct.or_else(|| match conjunct {
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr,
        } => marker_test(expr, kind).map(|(column, direction)| (column, direction.flip())),
        _ => None,
    })
}

/// `m IS [NOT] NULL` (MySQL's `ISNULL(m)` too), `m <cmp> value`, `value <cmp> m` (`<>` too), `m [NOT] BETWEEN a AND b`,
/// `m IN (...)`, `m = ANY(...)`: all but `IS NULL` keep deleted rows only (a comparison is
/// false on NULL). `m IS [NOT] DISTINCT FROM x` (MySQL's `m <=> x`, SQLite's `m IS [NOT] x`)
/// compares NULL too: with NULL it is `IS [NOT] NULL`; `IS NOT DISTINCT FROM` a literal keeps
/// deleted rows only, from a bind either side (the bind may be NULL).
fn timestamp_test(conjunct: &Expr) -> Option<(&Expr, Direction)> {
    match conjunct {
        Expr::IsNull(column) => Some((unnest(column), Direction::Live)),
        Expr::IsNotNull(column) => Some((unnest(column), Direction::Deleted)),
        Expr::Function(_) => isnull_argument(conjunct).map(|column| (column, Direction::Live)),
        Expr::BinaryOp { left, op, right } if is_comparison(op) => {
            pick_column(unnest(left), unnest(right)).map(|column| (column, Direction::Deleted))
        }
        Expr::Between {
            expr,
            negated: false,
            ..
        } => Some((unnest(expr), Direction::Deleted)),
        Expr::In {
            expr,
            target: InTarget::List(list),
            negated: false,
            ..
        } if !list.is_empty() => Some((unnest(expr), Direction::Deleted)),
        Expr::AnyOp {
            left,
            compare_op: BinaryOperator::Eq,
            ..
        } => Some((unnest(left), Direction::Deleted)),
        _ => {
            let (left, right, same) = null_safe_comparison(conjunct)?;
            let (column, value) = column_and_other(left, right)?;
            let direction = match (same, value) {
                (true, Expr::Value(v)) if v.value == Value::Null => Direction::Live,
                (false, Expr::Value(v)) if v.value == Value::Null => Direction::Deleted,
                (true, value) if is_bind(value) => Direction::Either,
                (true, value) if is_value(value) => Direction::Deleted,
                _ => return None,
            };
            Some((column, direction))
        }
    }
}

/// The argument of MySQL's `ISNULL(m)` (`m IS NULL`; PostgreSQL and SQLite have no such
/// function, so a call of one by that name fails there).
fn isnull_argument(expr: &Expr) -> Option<&Expr> {
    let Expr::Function(function) = expr else {
        return None;
    };
    let [name] = function.name.0.as_slice() else {
        return None;
    };
    let name = name.as_ident()?;
    if name.quote_style.is_some() || !name.value.eq_ignore_ascii_case("isnull") {
        return None;
    }
    let FunctionArguments::List(list) = &function.args else {
        return None;
    };
    match (
        list.duplicate_treatment.is_none() && list.clauses.is_empty(),
        list.args.as_slice(),
    ) {
        (true, [FunctionArg::Unnamed(FunctionArgExpr::Expr(argument))]) => Some(unnest(argument)),
        _ => None,
    }
}

/// `a IS NOT DISTINCT FROM b`, MySQL's `a <=> b` and SQLite's `a IS b` (`same`), or
/// `a IS DISTINCT FROM b` and SQLite's `a IS NOT b`: comparisons where NULL equals NULL.
fn null_safe_comparison(expr: &Expr) -> Option<(&Expr, &Expr, bool)> {
    let (left, right, same) = match expr {
        Expr::IsNotDistinctFrom(left, right) => (left, right, true),
        Expr::IsDistinctFrom(left, right) => (left, right, false),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Spaceship | BinaryOperator::Is,
            right,
        } => (left, right, true),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::IsNot,
            right,
        } => (left, right, false),
        _ => return None,
    };
    Some((unnest(left), unnest(right), same))
}

/// Of two operands, the column and the other, when exactly one is a column.
fn column_and_other<'e>(left: &'e Expr, right: &'e Expr) -> Option<(&'e Expr, &'e Expr)> {
    let column = pick_column(left, right)?;
    Some(if std::ptr::eq(column, left) {
        (left, right)
    } else {
        (right, left)
    })
}

/// `m`, `NOT m`, `m IS [NOT] TRUE/FALSE`, `m = <literal or bind>`, `<literal or bind> = m`;
/// the direction says whether it keeps the rows where the flag is set (`Deleted`) or clear
/// (`Live`), for a deleted flag (the caller flips it for an active flag).
fn flag_test(conjunct: &Expr) -> Option<(&Expr, Direction)> {
    match conjunct {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => Some((conjunct, Direction::Deleted)),
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr,
        } => {
            let inner = unnest(expr);
            matches!(inner, Expr::Identifier(_) | Expr::CompoundIdentifier(_))
                .then_some((inner, Direction::Live))
        }
        Expr::IsTrue(column) | Expr::IsNotFalse(column) => {
            Some((unnest(column), Direction::Deleted))
        }
        Expr::IsFalse(column) | Expr::IsNotTrue(column) => Some((unnest(column), Direction::Live)),
        Expr::BinaryOp {
            left,
            op: op @ (BinaryOperator::Eq | BinaryOperator::NotEq),
            right,
        } => flag_compared(unnest(left), unnest(right), *op == BinaryOperator::Eq),
        // `m IN (FALSE)`: every value listed must keep the same rows (`IN (FALSE, TRUE)` is
        // every row); one bind keeps either.
        Expr::In {
            expr,
            target: InTarget::List(list),
            negated,
            ..
        } => {
            let column = unnest(expr);
            if !is_column(column) || list.is_empty() || !list.iter().all(|v| is_value(unnest(v))) {
                return None;
            }
            let truths: Vec<Option<bool>> = list.iter().map(|v| truth(unnest(v))).collect();
            let set = match truths.as_slice() {
                [None] => Direction::Either,
                [first @ Some(_), rest @ ..] if rest.iter().all(|t| t == first) => {
                    if *first == Some(true) {
                        Direction::Deleted
                    } else {
                        Direction::Live
                    }
                }
                _ => return None,
            };
            Some((column, if *negated { set.flip() } else { set }))
        }
        // A flag is never NULL: `IS [NOT] DISTINCT FROM` a value compares as `=` (`<>`) does.
        other => {
            let (left, right, same) = null_safe_comparison(other)?;
            flag_compared(left, right, same)
        }
    }
}

/// A flag compared with a literal or a bind by `=` (`equal`) or `<>`.
fn flag_compared<'e>(
    left: &'e Expr,
    right: &'e Expr,
    equal: bool,
) -> Option<(&'e Expr, Direction)> {
    let (column, value) = if is_value(right) {
        (left, right)
    } else if is_value(left) {
        (right, left)
    } else {
        return None;
    };
    let set = match truth(value) {
        Some(true) => Direction::Deleted,
        Some(false) => Direction::Live,
        None => Direction::Either,
    };
    Some((column, if equal { set } else { set.flip() }))
}

/// The truth of a literal flag value, `None` for a bind or another value. A number is true
/// unless it is zero, however written (`0`, `00`, `0.0`, `0e0`).
fn truth(value: &Expr) -> Option<bool> {
    match value {
        Expr::Cast { expr, .. } => truth(unnest(expr)),
        Expr::Value(value) => match &value.value {
            Value::Boolean(b) => Some(*b),
            Value::Number(n, _) => n.parse::<f64>().ok().map(|n| n != 0.0),
            _ => None,
        },
        _ => None,
    }
}

/// The leaves of `expr` under `AND` and `OR`, parentheses removed.
#[recursive::recursive]
pub(super) fn leaves<'e>(expr: &'e Expr, out: &mut Vec<&'e Expr>) {
    match expr {
        Expr::Nested(inner) => leaves(inner, out),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And | BinaryOperator::Or,
            right,
        } => {
            leaves(left, out);
            leaves(right, out);
        }
        other => out.push(other),
    }
}

/// The disjuncts of `expr`, if it is an `OR`: `a OR (b OR c)` is `[a, b, c]`.
pub(super) fn disjuncts(expr: &Expr) -> Option<Vec<&Expr>> {
    #[recursive::recursive]
    fn walk<'e>(expr: &'e Expr, out: &mut Vec<&'e Expr>) {
        match expr {
            Expr::Nested(inner) => walk(inner, out),
            Expr::BinaryOp {
                left,
                op: BinaryOperator::Or,
                right,
            } => {
                walk(left, out);
                walk(right, out);
            }
            other => out.push(other),
        }
    }
    let mut out = Vec::new();
    walk(expr, &mut out);
    (out.len() > 1).then_some(out)
}

fn is_comparison(op: &BinaryOperator) -> bool {
    matches!(
        op,
        BinaryOperator::Eq
            | BinaryOperator::NotEq
            | BinaryOperator::Lt
            | BinaryOperator::LtEq
            | BinaryOperator::Gt
            | BinaryOperator::GtEq
    )
}

/// Of two operands, the one that is a column (the other may be anything but a column, so
/// that `a.deleted_at = b.deleted_at` counts for neither).
fn pick_column<'e>(left: &'e Expr, right: &'e Expr) -> Option<&'e Expr> {
    match (is_column(left), is_column(right)) {
        (true, false) => Some(left),
        (false, true) => Some(right),
        _ => None,
    }
}

fn is_column(expr: &Expr) -> bool {
    matches!(expr, Expr::Identifier(_) | Expr::CompoundIdentifier(_))
}

/// A literal (boolean, number, string; not NULL) or a bind placeholder, maybe under a cast.
fn is_value(expr: &Expr) -> bool {
    match expr {
        // `$1::bool`, `CAST(? AS BOOLEAN)`, `'f'::boolean`.
        Expr::Cast { expr, .. } => is_value(unnest(expr)),
        Expr::Value(value) => !matches!(value.value, Value::Null),
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => matches!(**expr, Expr::Value(_)),
        _ => false,
    }
}

/// A bind placeholder, maybe under a cast.
fn is_bind(expr: &Expr) -> bool {
    match expr {
        Expr::Cast { expr, .. } => is_bind(unnest(expr)),
        Expr::Value(value) => matches!(value.value, Value::Placeholder(_)),
        _ => false,
    }
}

/// The `.with_deleted()` trace: `(<predicate> OR TRUE)`, where the predicate names the
/// reference's marker. Returns the predicate.
pub(super) fn trace(conjunct: &Expr) -> Option<&Expr> {
    match unnest(conjunct) {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Or,
            right,
        } => match (unnest(left), unnest(right)) {
            (predicate, other) | (other, predicate) if is_true(other) => Some(predicate),
            _ => None,
        },
        _ => None,
    }
}

fn is_true(expr: &Expr) -> bool {
    match expr {
        Expr::Value(value) => match &value.value {
            Value::Boolean(b) => *b,
            Value::Number(n, _) => n == "1",
            _ => false,
        },
        // MySQL and SQLite parse `TRUE` as a boolean; an identifier `TRUE` is the same word.
        Expr::Identifier(ident) => {
            ident.quote_style.is_none() && ident.value.eq_ignore_ascii_case("true")
        }
        _ => false,
    }
}
