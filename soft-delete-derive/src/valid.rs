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
//! - each child column appears once in `children(...)`;
//! - `#[active_unique(fields = "...")]`: every listed field exists, none twice, at least one,
//!   not the marker (the key already applies to live rows only); the `counter` field exists
//!   and is neither in the key nor the marker; no two keys list the same fields; key names are
//!   unique; a model with keys has its primary key's fields. A key field typed `Option<...>`
//!   is a nullable part of the key (its `NULL`s distinct, or with `nulls = not_distinct` a value
//!   of the key); `nulls` is only for keys with such a field; every other key field's column
//!   must be `NOT NULL`, which the generated code asks of the compiler.
//!
//! Types are checked by the compiler, not here: the generated code asks for
//! `TimestampField`, `FlagField` or `AuditField` on the field's type, spanned at that type,
//! so a type alias is judged by what it stands for.

use proc_macro2::Span;
use syn::{Ident, Type};

use crate::ast::{Field, Input};
use crate::attr::{EdgeAttr, Errors, FieldAttr, KeyAttr, NullsMode, Spanned, StrategyName};

/// The validated model: which field plays which role.
pub(crate) struct Model<'a> {
    pub(crate) input: &'a Input<'a>,
    pub(crate) marker: Marker<'a>,
    pub(crate) deleted_by: Option<&'a Field<'a>>,
    pub(crate) reason: Option<&'a Field<'a>>,
    /// When the row was deleted, for flag markers.
    pub(crate) deleted_at: Option<&'a Field<'a>>,
    /// The active-unique keys, in declaration order.
    pub(crate) keys: Vec<Key<'a>>,
    /// The primary key's fields; resolved only when there are keys (empty otherwise).
    pub(crate) primary_key: Vec<&'a Field<'a>>,
    /// The archive batch's id.
    pub(crate) batch: Option<&'a Field<'a>>,
    /// The edges of `children(...)`.
    pub(crate) children: &'a [EdgeAttr],
}

/// One `#[active_unique(...)]` key, resolved to the model's fields.
pub(crate) struct Key<'a> {
    pub(crate) fields: Vec<&'a Field<'a>>,
    /// The span of the `fields = "..."` literal: generated references to the key's columns
    /// carry it, so a column missing from the table is reported there.
    pub(crate) span: Span,
    pub(crate) counter: Option<&'a Field<'a>>,
    /// The index (or constraint) name in the DDL.
    pub(crate) name: String,
    /// The key's fields whose type is written `Option<...>`.
    pub(crate) nullable: Vec<&'a Field<'a>>,
    /// `nulls = not_distinct`: `None` is a value of the key in the `nullable` fields. Else
    /// (`distinct`, the default) a row with a `NULL` there is not unique, as in a unique index.
    pub(crate) nulls_not_distinct: bool,
}

/// PostgreSQL truncates identifiers at 63 bytes, MySQL refuses more than 64.
const MAX_NAME_LEN: usize = 63;

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
    let keys = active_unique_keys(input, marker.field, errors);
    let primary_key = if keys.is_empty() {
        Vec::new()
    } else {
        primary_key_fields(input, errors)
    };
    let children = check_children(input, &marker, deleted_at, batch, errors);
    Some(Model {
        input,
        marker,
        deleted_by,
        reason,
        deleted_at,
        keys,
        primary_key,
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

fn field_named<'a>(input: &'a Input<'a>, ident: &Ident) -> Option<&'a Field<'a>> {
    input.fields.iter().find(|f| f.ident == ident)
}

fn field_names(input: &Input<'_>) -> String {
    let names: Vec<String> = input
        .fields
        .iter()
        .map(|f| format!("`{}`", f.ident))
        .collect();
    names.join(", ")
}

fn active_unique_keys<'a>(
    input: &'a Input<'a>,
    marker: &'a Field<'a>,
    errors: &mut Errors,
) -> Vec<Key<'a>> {
    let mut keys: Vec<Key<'a>> = Vec::new();
    for decl in &input.keys {
        if let Some(key) = active_unique_key(input, marker, decl, errors) {
            let same_fields = |other: &Key<'_>| {
                let mut a: Vec<String> = other.fields.iter().map(|f| f.ident.to_string()).collect();
                let mut b: Vec<String> = key.fields.iter().map(|f| f.ident.to_string()).collect();
                a.sort();
                b.sort();
                a == b
            };
            if keys.iter().any(same_fields) {
                errors.error(
                    key.span,
                    "another `#[active_unique(...)]` already lists these fields; a key is declared once",
                );
            } else if let Some(other) = keys.iter().find(|k| k.name == key.name) {
                errors.error(
                    decl.name.as_ref().map_or(decl.span, |n| n.span()),
                    format!(
                        "two keys are named `{}`; each key needs its own index name\n\
                         help: give one of them `name = \"...\"`",
                        other.name
                    ),
                );
            } else {
                keys.push(key);
            }
        }
    }
    keys
}

fn active_unique_key<'a>(
    input: &'a Input<'a>,
    marker: &'a Field<'a>,
    decl: &KeyAttr,
    errors: &mut Errors,
) -> Option<Key<'a>> {
    let list = decl.fields.as_ref()?;
    let mut ok = true;
    if list.idents.is_empty() {
        errors.error(
            list.span,
            "`fields` lists no field; a key needs at least one\n\
             help: the correct format looks like `#[active_unique(fields = \"exam_id, learner_id\")]`",
        );
        return None;
    }
    let mut fields: Vec<&'a Field<'a>> = Vec::new();
    for ident in &list.idents {
        let Some(field) = field_named(input, ident) else {
            errors.error(
                list.span,
                format!(
                    "no field `{ident}` on `{}`; `fields` names fields of this struct: {}",
                    input.ident,
                    field_names(input)
                ),
            );
            ok = false;
            continue;
        };
        if fields.iter().any(|f| f.ident == field.ident) {
            errors.error(
                list.span,
                format!("`{ident}` is listed twice in `fields`; list each field once"),
            );
            ok = false;
            continue;
        }
        if field.ident == marker.ident {
            errors.error(
                list.span,
                format!(
                    "`{ident}` is the marker column and cannot be part of the key\n\
                     help: leave it out: an active-unique key already applies to live rows only"
                ),
            );
            ok = false;
            continue;
        }
        fields.push(field);
    }
    let counter = match &decl.counter {
        None => None,
        Some(ident) => match field_named(input, ident) {
            None => {
                errors.error(
                    ident.span(),
                    format!(
                        "no field `{ident}` on `{}` for the counter; fields: {}",
                        input.ident,
                        field_names(input)
                    ),
                );
                ok = false;
                None
            }
            Some(field) if field.ident == marker.ident => {
                errors.error(
                    ident.span(),
                    format!("`{ident}` is the marker column; the counter is another field, e.g. `retry: i32`"),
                );
                ok = false;
                None
            }
            Some(field) if fields.iter().any(|f| f.ident == field.ident) => {
                errors.error(
                    ident.span(),
                    format!("`{ident}` is part of the key; the counter numbers the key's rows and is another field"),
                );
                ok = false;
                None
            }
            Some(field) => Some(field),
        },
    };
    let name = match &decl.name {
        Some(lit) => {
            let name = lit.value();
            if name.is_empty() || name.len() > MAX_NAME_LEN {
                errors.error(
                    lit.span(),
                    format!("a key's name must have 1 to {MAX_NAME_LEN} bytes, the longest name every backend keeps"),
                );
                ok = false;
            }
            name
        }
        None => default_name(input, &fields),
    };
    let nullable: Vec<&Field<'_>> = fields.iter().copied().filter(|f| is_option(f.ty)).collect();
    let nulls_not_distinct = match &decl.nulls {
        Some(nulls) if nullable.is_empty() => {
            errors.error(
                nulls.span,
                "`nulls` says how the `NULL`s of the key's `Option` fields compare, and this key has none\n\
                 help: leave it out, or list the `Option` field in `fields`",
            );
            ok = false;
            false
        }
        Some(nulls) => nulls.item == NullsMode::NotDistinct,
        None => false,
    };
    ok.then_some(Key {
        fields,
        span: list.span,
        counter,
        name,
        nullable,
        nulls_not_distinct,
    })
}

/// Whether `ty` is written `Option<T>` (or `std::option::Option<T>`, `core::option::Option<T>`),
/// the way Diesel's own derives recognise an optional field. A nullable column behind an alias
/// is caught by the compiler instead: the generated code asks every other key column to be
/// `NOT NULL`.
fn is_option(ty: &Type) -> bool {
    match ty {
        Type::Group(group) => is_option(&group.elem),
        Type::Paren(paren) => is_option(&paren.elem),
        Type::Path(path) if path.qself.is_none() => {
            path.path.segments.last().is_some_and(|last| {
                last.ident == "Option"
                    && matches!(&last.arguments, syn::PathArguments::AngleBracketed(args) if args.args.len() == 1)
            })
        }
        _ => false,
    }
}

/// `<table>_<column>_..._live_key`, shortened with a hash past the identifier limit.
fn default_name(input: &Input<'_>, fields: &[&Field<'_>]) -> String {
    let table = input
        .table
        .segments
        .last()
        .map(|s| s.ident.to_string())
        .unwrap_or_default();
    let mut name = table;
    for field in fields {
        name.push('_');
        name.push_str(&field.column.to_string());
    }
    name.push_str("_live_key");
    if name.len() > MAX_NAME_LEN {
        // FNV-1a: stable across compilers and runs, unlike std's hasher.
        let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        let mut cut = MAX_NAME_LEN - 9;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        name.truncate(cut);
        name.push_str(&format!("_{:08x}", hash as u32));
    }
    name
}

fn primary_key_fields<'a>(input: &'a Input<'a>, errors: &mut Errors) -> Vec<&'a Field<'a>> {
    let mut fields = Vec::new();
    for ident in &input.primary_key {
        match field_named(input, ident) {
            Some(field) => fields.push(field),
            None => {
                let span = input.keys.first().map_or(input.ident.span(), |k| k.span);
                errors.error(
                    span,
                    format!(
                        "`#[active_unique(...)]` needs the primary key field `{ident}` on `{}` to name rows in errors and order the history\n\
                         help: add the field, or declare the key with `#[diesel(primary_key(...))]`",
                        input.ident
                    ),
                );
            }
        }
    }
    fields
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
