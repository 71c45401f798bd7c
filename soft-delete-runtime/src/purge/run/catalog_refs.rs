//! What a purge makes of the catalog: the references into a table (declared edges and the
//! database's foreign keys), and the order of the tables that follows from them. The
//! catalog reads themselves are the SQL layer's ([`crate::sql::catalog`]).

use std::collections::HashSet;

use super::{Reference, Target};
use crate::backend::TableName;
use crate::purge::report::Via;
use crate::relations::{Node, SoftInfo};
use crate::sql::catalog::CatalogForeignKey;

/// Adds the database's foreign keys `keys` (from the catalog) into `node`, whose table the
/// database resolves as `parent`, to its references: a key that matches a declared edge is
/// named on it, the others become references of their own, with the soft-delete columns
/// `soft_of` gives their table (a table a model of the graph describes).
pub(super) fn add_foreign_keys(
    keys: Vec<CatalogForeignKey>,
    node: &Node,
    parent: &TableName,
    soft_of: impl Fn(&TableName) -> Option<SoftInfo>,
    references: &mut Vec<Reference>,
) {
    let into_node: Vec<_> = keys.into_iter().filter(|fk| fk.parent == *parent).collect();
    let mut seen = HashSet::new();
    for fk in &into_node {
        if !seen.insert((fk.child.clone(), fk.constraint.clone())) {
            continue;
        }
        let mut columns: Vec<(i64, String, String)> = into_node
            .iter()
            .filter(|other| other.child == fk.child && other.constraint == fk.constraint)
            .map(|other| {
                let parent = other
                    .parent_column
                    .clone()
                    .unwrap_or_else(|| node.key.to_owned());
                (other.position, other.column.clone(), parent)
            })
            .collect();
        columns.sort();
        let columns: Vec<(String, String)> = columns.into_iter().map(|(_, c, p)| (c, p)).collect();
        let declared = references.iter_mut().find(|r| {
            r.via.foreign_key.is_none() && r.resolved == fk.child && r.columns == columns
        });
        match declared {
            Some(reference) => reference.via.foreign_key = Some(fk.constraint.clone()),
            None => references.push(Reference {
                child_soft: soft_of(&fk.child),
                child_every_row: None,
                child: fk.child.clone(),
                resolved: fk.child.clone(),
                columns,
                via: Via {
                    rule: None,
                    foreign_key: Some(fk.constraint.clone()),
                },
            }),
        }
    }
}

/// Orders the targets so that a table comes after every other target that references it
/// (children first); in a cycle the earlier-declared table goes first. Returns whether some
/// reference comes from a table purged later (a cycle between tables; a table referencing
/// itself repeats on its own), so that a pass can leave rows a later pass deletes.
pub(super) fn children_first(mut targets: Vec<Target>) -> (Vec<Target>, bool) {
    let references = |parent: &Target, child: &Target| {
        parent
            .references
            .iter()
            .any(|r| r.resolved == child.resolved)
    };
    let mut ordered = Vec::with_capacity(targets.len());
    while !targets.is_empty() {
        // A table no other remaining target references, or else (a cycle) the first one.
        let next = (0..targets.len())
            .find(|&i| (0..targets.len()).all(|j| j == i || !references(&targets[i], &targets[j])))
            .unwrap_or(0);
        ordered.push(targets.remove(next));
    }
    let repeats = ordered.iter().enumerate().any(|(i, parent)| {
        ordered[i + 1..]
            .iter()
            .any(|child| references(parent, child))
    });
    (ordered, repeats)
}
