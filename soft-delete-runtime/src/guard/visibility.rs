//! What counts as *stating visibility* for one table reference: the shapes of the live and
//! deleted predicates, and the `.with_deleted()` trace.
//!
//! Diesel renders the live predicate as `"t"."deleted_at" IS NULL` (timestamp),
//! `NOT ("t"."deleted")` (deleted flag) or `"t"."active"` (active flag), and the deleted
//! predicate as their opposites; hand-written SQL also says `deleted = FALSE`, `deleted = 0`,
//! `active IS TRUE` or compares the flag with a bound value (`deleted = $1`), and a timestamp
//! marker compared with a value (`deleted_at < $1`, a purge's cutoff, `deleted_at = $1`, an
//! archive batch's time) only holds for deleted rows. Each of these is accepted. Anything
//! else that mentions the marker (`deleted_at IS NULL OR id = 1`) is not a statement of
//! visibility.
//!
//! A table with several markers hides a row when any marker does. Its live predicate is the
//! conjunction of every marker's (`"t"."deleted_at" IS NULL AND NOT "t"."removed"`), so a read
//! states it by testing every marker; a test that keeps deleted rows only (of any one marker,
//! or the disjunction `.only_deleted()` renders, `("t"."deleted_at" IS NOT NULL OR
//! "t"."removed")`) states the deleted side. One marker's live predicate alone is not a
//! statement: it shows the rows another marker hides.

use sqlparser::ast::{BinaryOperator, Expr, UnaryOperator, Value};

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

/// `m IS [NOT] NULL`, `m <cmp> value`, `value <cmp> m`, `m [NOT] BETWEEN a AND b`: all but
/// `IS NULL` keep deleted rows only (a comparison is false on NULL).
fn timestamp_test(conjunct: &Expr) -> Option<(&Expr, Direction)> {
    match conjunct {
        Expr::IsNull(column) => Some((unnest(column), Direction::Live)),
        Expr::IsNotNull(column) => Some((unnest(column), Direction::Deleted)),
        Expr::BinaryOp { left, op, right } if is_comparison(op) => {
            pick_column(unnest(left), unnest(right)).map(|column| (column, Direction::Deleted))
        }
        Expr::Between {
            expr,
            negated: false,
            ..
        } => Some((unnest(expr), Direction::Deleted)),
        _ => None,
    }
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
        } => {
            let (left, right) = (unnest(left), unnest(right));
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
            Some((
                column,
                if *op == BinaryOperator::Eq {
                    set
                } else {
                    set.flip()
                },
            ))
        }
        _ => None,
    }
}

/// The truth of a literal flag value, `None` for a bind or another value. A number is true
/// unless it is zero, however written (`0`, `00`, `0.0`, `0e0`).
fn truth(value: &Expr) -> Option<bool> {
    match value {
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

/// A literal (boolean, number, string, NULL) or a bind placeholder.
fn is_value(expr: &Expr) -> bool {
    match expr {
        Expr::Value(value) => !matches!(value.value, Value::Null),
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => matches!(**expr, Expr::Value(_)),
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
