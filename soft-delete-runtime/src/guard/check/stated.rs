//! When the predicates that count for a reference state its visibility: the side each
//! conjunct (or disjunction of arms) keeps, by the reference's registrations, and the markers
//! of the reference a predicate tests (a column resolved by qualifier, or unqualified when no
//! other reference in scope has such a marker).

use sqlparser::ast::Expr;

use super::super::visibility::{conjuncts, disjuncts, marker_test, Direction};
use super::{name_key, Reference};

/// Whether `conjuncts` (of the places that count for `references[index]`) state its
/// visibility, by one of its registrations ([`stated_side`]).
pub(super) fn states(conjuncts: &[&Expr], index: usize, references: &[Reference<'_>]) -> bool {
    (0..references[index].entries.len())
        .any(|entry| stated_side(conjuncts, entry, index, references).is_some())
}

/// Which rows `filter` (conjuncts) keeps of `references[index]` by its registration `entry`, if they
/// state it: deleted rows only (a test of one marker that keeps deleted rows only, or a
/// disjunction of such: the deleted predicate of several markers), live rows (every marker
/// tested live), or either by a bound value (`deleted = $1`). A disjunction states it when its
/// every arm does, on one side: every arm live, or every arm deleted or bound (`(<live> AND
/// a) OR (<live> AND b)`); an arm that states nothing, or arms of both sides, keep deleted
/// rows and live ones alike.
fn stated_side(
    filter: &[&Expr],
    entry: usize,
    index: usize,
    references: &[Reference<'_>],
) -> Option<Direction> {
    let info = references[index].entries[entry];
    let mut tested = vec![false; info.markers.len()];
    let mut bound = false;
    for conjunct in filter {
        for (e, marker, direction) in marker_tests(conjunct, index, references) {
            if e != entry {
                continue;
            }
            match direction {
                Direction::Deleted => return Some(Direction::Deleted),
                Direction::Either => bound = true,
                Direction::Live => {}
            }
            tested[marker] = true;
        }
        let Some(arms) = disjuncts(conjunct) else {
            continue;
        };
        let sides: Option<Vec<Direction>> = arms
            .iter()
            .map(|arm| {
                // One marker's test that keeps deleted rows or a bound side, as in
                // `.only_deleted()`'s disjunction of several markers.
                let tests = marker_tests(arm, index, references);
                if tests
                    .iter()
                    .any(|&(e, _, d)| e == entry && d != Direction::Live)
                {
                    return Some(Direction::Either);
                }
                let mut inner = Vec::new();
                conjuncts(arm, &mut inner);
                stated_side(&inner, entry, index, references)
            })
            .collect();
        match sides {
            Some(sides) if sides.iter().all(|&side| side != Direction::Live) => {
                return Some(Direction::Deleted);
            }
            Some(sides) if sides.iter().all(|&side| side == Direction::Live) => {
                tested.iter_mut().for_each(|t| *t = true);
            }
            _ => {}
        }
    }
    tested.iter().all(|&t| t).then_some(if bound {
        Direction::Either
    } else {
        Direction::Live
    })
}

/// The markers of `references[index]` that `predicate` tests, as `(registration, marker,
/// direction)`: one of the predicate shapes of the marker's strategy, on a column that resolves
/// to that reference's marker.
pub(super) fn marker_tests(
    predicate: &Expr,
    index: usize,
    references: &[Reference<'_>],
) -> Vec<(usize, usize, Direction)> {
    let reference = &references[index];
    let mut found = Vec::new();
    if reference.renamed {
        return found;
    }
    for (e, entry) in reference.entries.iter().enumerate() {
        for (m, marker) in entry.markers.iter().enumerate() {
            let Some((column, direction)) = marker_test(predicate, marker.kind) else {
                continue;
            };
            let resolves = match column {
                Expr::CompoundIdentifier(parts) => match parts.split_last() {
                    Some((column, [.., qualifier])) => {
                        column.value.eq_ignore_ascii_case(marker.name)
                            && name_key(qualifier, reference.dialect) == reference.exposed
                    }
                    _ => false,
                },
                // Unqualified: it must be the only reference in scope with such a marker.
                Expr::Identifier(column) => {
                    column.value.eq_ignore_ascii_case(marker.name)
                        && references
                            .iter()
                            .enumerate()
                            .filter(|(_, other)| {
                                other.entries.iter().any(|e| {
                                    e.markers
                                        .iter()
                                        .any(|m| m.name.eq_ignore_ascii_case(&column.value))
                                })
                            })
                            .all(|(i, _)| i == index)
                }
                _ => false,
            };
            if resolves {
                found.push((e, m, direction));
            }
        }
    }
    found
}
