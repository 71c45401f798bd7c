//! Every rule that involves more than one attribute or field, in one place. All violations
//! are collected and reported together.
//!
//! The rules:
//! - a model has exactly one marker: the field marked `#[soft_delete(marker ...)]`, or else
//!   the field named `deleted_at` (timestamp) or `deleted` (deleted flag);
//! - a bare `marker` on a `bool` must say what `true` means (`deleted` or `active`);
//! - `deleted_by`, `reason` and `deleted_at` each name at most one field, and a field has at
//!   most one role;
//! - `deleted_at` is only for models whose marker is a flag (a timestamp marker already
//!   records when); a flag model's field named `deleted_at` takes that role by itself;
//! - `batch` names at most one field;
//! - a model that declares `children(...)` can tell the rows of one archive batch from
//!   another's: it has a timestamp marker, a `deleted_at` column or a `batch` column (an
//!   archive follows the edges from the rows it archived, found by their batch);
//! - each child column appears once in `children(...)`.
//!
//! Types are checked by the compiler, not here: the generated code asks for
//! `TimestampField`, `FlagField` or `AuditField` on the field's type, spanned at that type,
//! so a type alias is judged by what it stands for.

use syn::Type;

use crate::ast::{Field, Input};
use crate::attr::{EdgeAttr, Errors, FieldAttr, Spanned, StrategyName};

/// The validated model: which field plays which role.
pub(crate) struct Model<'a> {
    pub(crate) input: &'a Input<'a>,
    pub(crate) marker: Marker<'a>,
    pub(crate) deleted_by: Option<&'a Field<'a>>,
    pub(crate) reason: Option<&'a Field<'a>>,
    /// When the row was deleted, for flag markers.
    pub(crate) deleted_at: Option<&'a Field<'a>>,
    /// The archive batch's id.
    pub(crate) batch: Option<&'a Field<'a>>,
    /// The edges of `children(...)`.
    pub(crate) children: &'a [EdgeAttr],
}

/// The marker field and its strategy.
pub(crate) struct Marker<'a> {
    pub(crate) field: &'a Field<'a>,
    pub(crate) strategy: StrategyName,
}

/// The names that make a field the marker without an attribute.
const CONVENTIONAL_MARKERS: &[(&str, StrategyName)] = &[
    ("deleted_at", StrategyName::Timestamp),
    ("deleted", StrategyName::Deleted),
];

/// Resolves the roles of the fields. Every violation is pushed to `errors`; `None` only
/// when there is no marker at all (which is one of them).
pub(crate) fn validate<'a>(input: &'a Input<'a>, errors: &mut Errors) -> Option<Model<'a>> {
    // One role per field, each key once per field.
    for field in &input.fields {
        let mut first: Option<&Spanned<FieldAttr>> = None;
        for attr in &field.attrs {
            match first {
                None => first = Some(attr),
                Some(seen) if seen.item.key() == attr.item.key() => errors.error(
                    attr.span,
                    format!("duplicate `{}` on field `{}`", attr.item.key(), field.ident),
                ),
                Some(seen) => errors.error(
                    attr.span,
                    format!(
                        "field `{}` is already the `{}` column; one field plays one role\n\
                         help: remove `{}` or move it to the field it describes",
                        field.ident,
                        seen.item.key(),
                        attr.item.key()
                    ),
                ),
            }
        }
    }

    let marker = find_marker(input, errors);
    let deleted_by = single_role(input, FieldAttr::DeletedBy, errors);
    let reason = single_role(input, FieldAttr::Reason, errors);
    let mut deleted_at = single_role(input, FieldAttr::DeletedAt, errors);
    let batch = single_role(input, FieldAttr::Batch, errors);

    if let Some(marker) = &marker {
        match marker.strategy {
            StrategyName::Timestamp => {
                if let Some(field) = deleted_at {
                    let span = role_span(field, "deleted_at");
                    errors.error(
                        span,
                        format!(
                            "`deleted_at` is for models whose marker is a flag; the timestamp marker `{}` already records when a row was deleted",
                            marker.field.ident
                        ),
                    );
                }
            }
            StrategyName::Deleted | StrategyName::Active => {
                if deleted_at.is_none() {
                    deleted_at = input
                        .fields
                        .iter()
                        .find(|f| f.attrs.is_empty() && f.ident == "deleted_at");
                }
            }
        }
    }

    let Some(marker) = marker else {
        if !errors.any() {
            errors.push(no_marker_error(input));
        }
        return None;
    };
    let children = check_children(input, &marker, deleted_at, batch, errors);
    Some(Model {
        input,
        marker,
        deleted_by,
        reason,
        deleted_at,
        batch,
        children,
    })
}

/// The rules of `children(...)`: the model can tell its batches apart, and no child column
/// is listed twice.
fn check_children<'a>(
    input: &'a Input<'a>,
    marker: &Marker<'a>,
    deleted_at: Option<&'a Field<'a>>,
    batch: Option<&'a Field<'a>>,
    errors: &mut Errors,
) -> &'a [EdgeAttr] {
    let Some(children) = &input.children else {
        return &[];
    };
    let identified =
        marker.strategy == StrategyName::Timestamp || deleted_at.is_some() || batch.is_some();
    if !identified && !children.item.is_empty() {
        errors.error(
            children.span,
            format!(
                "`children(...)` needs to find the rows one archive hid, but the marker `{}` is a flag \
                 and the model records neither when nor by which archive a row was hidden\n\
                 help: add a deletion time, `#[soft_delete(deleted_at)] deleted_at: Option<NaiveDateTime>`, \
                 or a batch column, `#[soft_delete(batch)] archive_batch: Option<i64>`",
                marker.field.ident
            ),
        );
    }
    for (i, edge) in children.item.iter().enumerate() {
        let same = |other: &EdgeAttr| {
            other.column == edge.column && other.table.segments.last() == edge.table.segments.last()
        };
        if children.item[..i].iter().any(same) {
            errors.error(
                edge.column.span(),
                format!(
                    "`{}::{}` is already an edge of this model; a column has one rule",
                    edge.table
                        .segments
                        .last()
                        .map_or_else(String::new, |s| s.ident.to_string()),
                    edge.column
                ),
            );
        }
    }
    &children.item
}

fn find_marker<'a>(input: &'a Input<'a>, errors: &mut Errors) -> Option<Marker<'a>> {
    let explicit: Vec<(&Field<'a>, &Spanned<FieldAttr>)> = input
        .fields
        .iter()
        .flat_map(|f| f.attrs.iter().map(move |a| (f, a)))
        .filter(|(_, a)| matches!(a.item, FieldAttr::Marker(_)))
        .collect();

    if let Some(((first, _), rest)) = explicit.split_first() {
        for (field, attr) in rest {
            errors.error(
                attr.span,
                format!(
                    "a model has one marker column, and `{}` is already the marker; `{}` cannot be a second one",
                    first.ident, field.ident
                ),
            );
        }
        let (field, attr) = explicit[0];
        let FieldAttr::Marker(strategy) = &attr.item else {
            return None;
        };
        let strategy = match strategy {
            Some(named) => named.item,
            None if is_bool(field.ty) => {
                errors.error(
                    attr.span,
                    format!(
                        "a bool marker must say what `true` means\n\
                         help: write `#[soft_delete(marker = deleted)]` if `{0} = true` means deleted, \
                         or `#[soft_delete(marker = active)]` if `{0} = true` means live",
                        field.ident
                    ),
                );
                StrategyName::Deleted
            }
            None => StrategyName::Timestamp,
        };
        return Some(Marker { field, strategy });
    }

    let conventional: Vec<(&Field<'a>, StrategyName)> = input
        .fields
        .iter()
        .filter(|f| f.attrs.is_empty())
        .filter_map(|f| {
            CONVENTIONAL_MARKERS
                .iter()
                .find(|(name, _)| f.ident == name)
                .map(|(_, strategy)| (f, *strategy))
        })
        .collect();
    match conventional.as_slice() {
        [] => None,
        [(field, strategy)] => Some(Marker {
            field,
            strategy: *strategy,
        }),
        [(first, _), (second, _), ..] => {
            errors.error(
                second.ident.span(),
                format!(
                    "both `{}` and `{}` could be the marker column, and a model has one\n\
                     help: mark the one that decides visibility, e.g. `#[soft_delete(marker = timestamp)]`",
                    first.ident, second.ident
                ),
            );
            Some(Marker {
                field: first,
                strategy: StrategyName::Timestamp,
            })
        }
    }
}

fn single_role<'a>(
    input: &'a Input<'a>,
    role: FieldAttr,
    errors: &mut Errors,
) -> Option<&'a Field<'a>> {
    let mut found: Option<&'a Field<'a>> = None;
    for field in &input.fields {
        for attr in field.attrs.iter().filter(|a| a.item == role) {
            match found {
                None => found = Some(field),
                Some(first) if first.ident != field.ident => errors.error(
                    attr.span,
                    format!(
                        "`{}` is already the `{}` column; a model has at most one",
                        first.ident,
                        role.key()
                    ),
                ),
                Some(_) => {}
            }
        }
    }
    found
}

fn role_span(field: &Field<'_>, key: &str) -> proc_macro2::Span {
    field
        .attrs
        .iter()
        .find(|a| a.item.key() == key)
        .map_or_else(|| field.ident.span(), |a| a.span)
}

fn no_marker_error(input: &Input<'_>) -> syn::Error {
    syn::Error::new(
        input.ident.span(),
        format!(
            "`{}` has no marker column: no field is marked `#[soft_delete(marker ...)]` and none is named `deleted_at` or `deleted`\n\
             help: add a marker field, e.g. `deleted_at: Option<NaiveDateTime>`, or mark an existing one:\n\
             `#[soft_delete(marker = timestamp)]` (NULL = live), `#[soft_delete(marker = deleted)]` (false = live), \
             `#[soft_delete(marker = active)]` (true = live)",
            input.ident
        ),
    )
}

fn is_bool(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none() && p.path.is_ident("bool"))
}
