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

use sqlparser::ast::{BinaryOperator, Expr, UnaryOperator, Value};

use super::registry::TableInfo;
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

/// How a conjunct mentions a column: the column expression it tests, if it is one of the
/// shapes a statement of visibility takes for `table`'s strategy.
#[recursive::recursive]
pub(super) fn tested_column<'e>(conjunct: &'e Expr, table: &TableInfo) -> Option<&'e Expr> {
    let conjunct = unnest(conjunct);
    let direct = match table.strategy {
        StrategyKind::Timestamp => timestamp_test(conjunct),
        StrategyKind::DeletedFlag | StrategyKind::ActiveFlag => flag_test(conjunct),
    };
    // `NOT (<a statement of visibility>)` states the opposite one.
    direct.or_else(|| match conjunct {
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr,
        } => tested_column(expr, table),
        _ => None,
    })
}

/// `m IS [NOT] NULL`, `m <cmp> value`, `value <cmp> m`, `m [NOT] BETWEEN a AND b`.
fn timestamp_test(conjunct: &Expr) -> Option<&Expr> {
    match conjunct {
        Expr::IsNull(column) | Expr::IsNotNull(column) => Some(unnest(column)),
        Expr::BinaryOp { left, op, right } if is_comparison(op) => {
            pick_column(unnest(left), unnest(right))
        }
        Expr::Between {
            expr,
            negated: false,
            ..
        } => Some(unnest(expr)),
        _ => None,
    }
}

/// `m`, `NOT m`, `m IS [NOT] TRUE/FALSE`, `m = <literal or bind>`, `<literal or bind> = m`.
fn flag_test(conjunct: &Expr) -> Option<&Expr> {
    match conjunct {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => Some(conjunct),
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr,
        } => {
            let inner = unnest(expr);
            matches!(inner, Expr::Identifier(_) | Expr::CompoundIdentifier(_)).then_some(inner)
        }
        Expr::IsTrue(column)
        | Expr::IsFalse(column)
        | Expr::IsNotTrue(column)
        | Expr::IsNotFalse(column) => Some(unnest(column)),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq | BinaryOperator::NotEq,
            right,
        } => {
            let (left, right) = (unnest(left), unnest(right));
            if is_value(right) {
                Some(left)
            } else if is_value(left) {
                Some(right)
            } else {
                None
            }
        }
        _ => None,
    }
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
