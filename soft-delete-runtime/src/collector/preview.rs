//! The plan as a tree, the way Django admin's "Are you sure?" page lists what a delete
//! would take with it:
//!
//! ```text
//! archive 1 row of `users`
//! ├── `orders`.`user_id` cascade: 2 rows archived
//! │   └── `order_items`.`order_id` cascade: 5 rows archived
//! ├── `reviews`.`author_id` set_null: 3 links cut
//! └── `invoices`.`user_id` protect: 1 live row refuses: 7
//! refused: 1 live row protects what this archive would hide
//! ```
//!
//! Each line is one [`Step`](super::Step) of the [`Plan`], in the same order, with the rows
//! its edge reaches: a row that two edges reach is on both lines, and once in the total.

use std::fmt;

use super::plan::{Plan, Repeat, Step};
use crate::relations::Rule;

fn rows(n: u64) -> String {
    format!("{n} {}", if n == 1 { "row" } else { "rows" })
}

fn links(n: u64) -> String {
    format!("{n} {}", if n == 1 { "link" } else { "links" })
}

fn outcome(plan: &Plan, step: &Step) -> String {
    match step.rule {
        Rule::Cascade => format!("{} archived", rows(step.rows)),
        Rule::HardDelete => format!("{} deleted for good", rows(step.rows)),
        Rule::SetNull => format!("{} cut", links(step.rows)),
        Rule::SetDefault => format!("{} reset to the default", links(step.rows)),
        Rule::DoNothing => "left as they are".to_owned(),
        Rule::Protect => {
            match plan.blockers().iter().find(|b| {
                b.table == step.child && b.column == step.column && b.parent == step.parent
            }) {
                Some(blocker) => {
                    let mut text = format!(
                        "{} {}",
                        rows(blocker.count).replacen(' ', " live ", 1),
                        if blocker.count == 1 {
                            "refuses"
                        } else {
                            "refuse"
                        }
                    );
                    if !blocker.ids.is_empty() {
                        text.push_str(": ");
                        text.push_str(&crate::RowId::list(&blocker.ids));
                        if (blocker.ids.len() as u64) < blocker.count {
                            text.push_str(", ...");
                        }
                    }
                    text
                }
                None => "no live rows".to_owned(),
            }
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "archive {} of `{}`", rows(self.roots()), self.root())?;
        let steps = self.steps();
        // Whether a later step is a sibling at `depth`, i.e. whether the branch goes on.
        let continues = |from: usize, depth: usize| {
            steps[from..]
                .iter()
                .take_while(|s| s.depth >= depth)
                .any(|s| s.depth == depth)
        };
        for (i, step) in steps.iter().enumerate() {
            let mut line = String::new();
            for depth in 1..step.depth {
                line.push_str(if continues(i + 1, depth) {
                    "│   "
                } else {
                    "    "
                });
            }
            line.push_str(if continues(i + 1, step.depth) {
                "├── "
            } else {
                "└── "
            });
            line.push_str(&format!(
                "`{}`.`{}` {}: {}",
                step.child,
                step.column,
                step.rule,
                outcome(self, step)
            ));
            match step.repeat {
                Some(Repeat::Cycle) => line.push_str(&format!(
                    " (cycle back to `{}`, every level counted)",
                    step.child
                )),
                Some(Repeat::ListedAbove) => {
                    line.push_str(&format!(" (edges of `{}` listed above)", step.child))
                }
                None => {}
            }
            writeln!(f, "{line}")?;
        }
        if self.is_blocked() {
            let total: u64 = self.blockers().iter().map(|b| b.count).sum();
            write!(
                f,
                "refused: {} {} what this archive would hide",
                rows(total).replacen(' ', " live ", 1),
                if total == 1 { "protects" } else { "protect" }
            )?;
        } else {
            write!(f, "{} archived in all", rows(self.total_archived()))?;
        }
        Ok(())
    }
}
