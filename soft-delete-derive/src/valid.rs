//! Every rule that involves more than one attribute or field, in one place. All violations
//! are collected and reported together.
//!
//! The rules:
//! - a model has at least one marker: the fields marked `#[soft_delete(marker ...)]`, or else
//!   the field named `deleted_at` (timestamp) or `deleted` (deleted flag);
//! - a bare `marker` on a `bool` must say what `true` means (`deleted` or `active`);
//! - a model with several markers marks exactly one of them `primary` (what the plain writes,
//!   archives and purges use); `primary` goes with `marker`;
//! - `deleted_by`, `reason` and `deleted_at` belong to a marker: on a model with several they
//!   name it (`deleted_by(removed)`), which must be a marker field; each marker has at most one
//!   of each, and a field has at most one role;
//! - `deleted_at` is only for markers that are flags (a timestamp marker already records
//!   when); a single flag marker's field named `deleted_at` takes that role by itself, and on a
//!   model with several markers such a field must say whose it is;
//! - `batch` names at most one field, and belongs to the primary marker (archives set it);
//! - a model that declares `children(...)` can tell the rows of one archive batch from
//!   another's: its primary marker is a timestamp or has a `deleted_at` column, or the model has a
//!   `batch` column (an archive follows the edges from the rows it archived, found by their
//!   batch);
//! - each child column appears once in `children(...)`;
//! - `#[active_unique(fields = "...")]`: every listed field exists, none twice, at least one,
//!   no marker (the key already applies to live rows only); the `counter` field exists
//!   and is neither in the key nor a marker; no two keys list the same fields; key names are
//!   unique; a model with keys has its primary key's fields. A key field typed `Option<...>`
//!   is a nullable part of the key (its `NULL`s distinct, or with `nulls = not_distinct` a value
//!   of the key); `nulls` is only for keys with such a field; every other key field's column
//!   must be `NOT NULL`, which the generated code asks of the compiler.
//!
//! Types are checked by the compiler, not here: the generated code asks for
//! `TimestampField`, `FlagField` or `AuditField` on the field's type, spanned at that type,
//! so a type alias is judged by what it stands for.

use proc_macro2::Span;
use syn::ext::IdentExt as _;
use syn::{Ident, Type};

use crate::ast::{Field, Input};
use crate::attr::{EdgeAttr, Errors, FieldAttr, KeyAttr, NullsMode, Spanned, StrategyName};

/// The validated model: which field plays which role.
pub(crate) struct Model<'a> {
    pub(crate) input: &'a Input<'a>,
    /// Every marker, in declaration order.
    pub(crate) markers: Vec<Marker<'a>>,
    /// The index in `markers` of the primary marker.
    pub(crate) primary: usize,
    /// The active-unique keys, in declaration order.
    pub(crate) keys: Vec<Key<'a>>,
    /// The primary key's fields, which name the table's id type; empty when the struct lacks
    /// one of them (an error only for a model with active-unique keys, which name rows by them).
    pub(crate) primary_key: Vec<&'a Field<'a>>,
    /// The archive batch's id (written with the primary marker).
    pub(crate) batch: Option<&'a Field<'a>>,
    /// The edges of `children(...)`.
    pub(crate) children: &'a [EdgeAttr],
}

impl<'a> Model<'a> {
    /// The primary marker: what plain writes, archives and purges use.
    pub(crate) fn primary(&self) -> &Marker<'a> {
        &self.markers[self.primary]
    }

    /// Whether `field` is one of the markers.
    fn is_marker(&self, field: &Field<'_>) -> bool {
        self.markers.iter().any(|m| m.field.ident == field.ident)
    }
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

/// A marker field, its strategy, and the columns that belong to it.
pub(crate) struct Marker<'a> {
    pub(crate) field: &'a Field<'a>,
    pub(crate) strategy: StrategyName,
    /// When the row was deleted through this marker, for a flag marker.
    pub(crate) deleted_at: Option<&'a Field<'a>>,
    pub(crate) deleted_by: Option<&'a Field<'a>>,
    pub(crate) reason: Option<&'a Field<'a>>,
}

impl Marker<'_> {
    /// The column that records when a row was deleted through this marker: the marker itself
    /// for a timestamp, else its `deleted_at`.
    pub(crate) fn stamp(&self) -> Option<&Field<'_>> {
        match self.strategy {
            StrategyName::Timestamp => Some(self.field),
            StrategyName::Deleted | StrategyName::Active => self.deleted_at,
        }
    }
}

/// The names that make a field the marker without an attribute.
const CONVENTIONAL_MARKERS: &[(&str, StrategyName)] = &[
    ("deleted_at", StrategyName::Timestamp),
    ("deleted", StrategyName::Deleted),
];

/// Resolves the roles of the fields. Every violation is pushed to `errors`; `None` only
/// when there is no marker at all (which is one of them).
pub(crate) fn validate<'a>(input: &'a Input<'a>, errors: &mut Errors) -> Option<Model<'a>> {
    // One role per field, each key once per field; `primary` goes with `marker`.
    for field in &input.fields {
        let mut first: Option<&Spanned<FieldAttr>> = None;
        for attr in field.attrs.iter().filter(|a| a.item != FieldAttr::Primary) {
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
        let mut primaries = field.attrs.iter().filter(|a| a.item == FieldAttr::Primary);
        if let Some(primary) = primaries.next() {
            if let Some(again) = primaries.next() {
                errors.error(
                    again.span,
                    format!("duplicate `primary` on field `{}`", field.ident),
                );
            }
            if !field
                .attrs
                .iter()
                .any(|a| matches!(a.item, FieldAttr::Marker(_)))
            {
                errors.error(
                    primary.span,
                    format!(
                        "`primary` marks the primary one of several markers, and `{}` is not a marker\n\
                         help: write `#[soft_delete(marker = deleted, primary)]` on the marker plain writes and archives set",
                        field.ident
                    ),
                );
            }
        }
    }

    let mut markers = find_markers(input, errors);
    if markers.is_empty() {
        if !errors.any() {
            errors.push(no_marker_error(input));
        }
        return None;
    }
    let primary = primary_marker(input, &markers, errors);
    assign_marker_columns(input, &mut markers, errors);
    let batch = single_role(input, &FieldAttr::Batch, errors);

    let mut model = Model {
        input,
        markers,
        primary,
        keys: Vec::new(),
        primary_key: Vec::new(),
        batch,
        children: &[],
    };
    model.keys = active_unique_keys(&model, errors);
    model.primary_key = primary_key_fields(input, !model.keys.is_empty(), errors);
    model.children = check_children(&model, errors);
    Some(model)
}

/// The index of the primary marker: the only one, or the one marked `primary`.
fn primary_marker(input: &Input<'_>, markers: &[Marker<'_>], errors: &mut Errors) -> usize {
    let primary_span = |marker: &Marker<'_>| {
        marker
            .field
            .attrs
            .iter()
            .find(|a| a.item == FieldAttr::Primary)
            .map(|a| a.span)
    };
    let marked: Vec<usize> = (0..markers.len())
        .filter(|&i| primary_span(&markers[i]).is_some())
        .collect();
    match marked.as_slice() {
        [] if markers.len() > 1 => {
            let names: Vec<String> = markers
                .iter()
                .map(|m| format!("`{}`", m.field.ident))
                .collect();
            errors.error(
                role_span(markers[1].field, "marker"),
                format!(
                    "`{}` has several markers ({}), so it names the primary one: the marker `soft_delete`, \
                     `restore`, cascade archives and purges set and read\n\
                     help: add `primary` to one of them, e.g. `#[soft_delete(marker = deleted, primary)]` on `{}`",
                    input.ident,
                    names.join(", "),
                    markers[0].field.ident
                ),
            );
            0
        }
        [] => 0,
        [only] => *only,
        [first, rest @ ..] => {
            for &i in rest {
                if let Some(span) = primary_span(&markers[i]) {
                    errors.error(
                        span,
                        format!(
                            "`{}` is already the primary marker; a model has one\n\
                             help: remove `primary` here",
                            markers[*first].field.ident
                        ),
                    );
                }
            }
            *first
        }
    }
}

/// Gives each marker its `deleted_at`, `deleted_by` and `reason` columns.
fn assign_marker_columns<'a>(
    input: &'a Input<'a>,
    markers: &mut [Marker<'a>],
    errors: &mut Errors,
) {
    let names = || {
        markers
            .iter()
            .map(|m| format!("`{}`", m.field.ident))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let names = names();
    for field in &input.fields {
        for attr in &field.attrs {
            let Some(owner) = attr.item.owner() else {
                continue;
            };
            let key = attr.item.key();
            let index = match owner {
                Some(owner) => match markers
                    .iter()
                    .position(|m| m.field.ident.unraw() == owner.unraw())
                {
                    Some(index) => index,
                    None => {
                        errors.error(
                            owner.span(),
                            format!(
                                "`{key}({owner})` names no marker: the markers of `{}` are {names}\n\
                                 help: name the marker field this column belongs to",
                                input.ident
                            ),
                        );
                        continue;
                    }
                },
                None if markers.len() == 1 => 0,
                None => {
                    errors.error(
                        attr.span,
                        format!(
                            "`{}` has several markers ({names}), so `{key}` says whose column `{}` is\n\
                             help: write `#[soft_delete({key}({}))]` for the marker field it belongs to",
                            input.ident, field.ident, markers[0].field.ident
                        ),
                    );
                    continue;
                }
            };
            let marker = &mut markers[index];
            let slot = match attr.item {
                FieldAttr::DeletedBy(_) => &mut marker.deleted_by,
                FieldAttr::Reason(_) => &mut marker.reason,
                _ => &mut marker.deleted_at,
            };
            match slot {
                Some(first) if first.ident != field.ident => errors.error(
                    attr.span,
                    format!(
                        "`{}` is already the `{key}` column of the marker `{}`; a marker has at most one",
                        first.ident, marker.field.ident
                    ),
                ),
                Some(_) => {}
                None => *slot = Some(field),
            }
        }
    }

    for marker in markers
        .iter()
        .filter(|m| m.strategy == StrategyName::Timestamp)
    {
        if let Some(field) = marker.deleted_at {
            errors.error(
                role_span(field, "deleted_at"),
                format!(
                    "`deleted_at` is for markers that are flags; the timestamp marker `{}` already records when a row was deleted",
                    marker.field.ident
                ),
            );
        }
    }

    // A field named `deleted_at` with no attribute: a single flag marker's deletion time.
    let conventional = input.fields.iter().find(|f| {
        f.attrs.is_empty()
            && f.ident == "deleted_at"
            && !markers.iter().any(|m| m.field.ident == f.ident)
    });
    if let Some(field) = conventional {
        match markers {
            [marker] => {
                if marker.strategy != StrategyName::Timestamp && marker.deleted_at.is_none() {
                    marker.deleted_at = Some(field);
                }
            }
            _ => errors.error(
                field.ident.span(),
                format!(
                    "`{}` has several markers ({names}), so a field named `deleted_at` says whose deletion time it is\n\
                     help: write `#[soft_delete(deleted_at({}))]` on it for the marker it belongs to",
                    input.ident,
                    markers
                        .iter()
                        .find(|m| m.strategy != StrategyName::Timestamp)
                        .map_or(&markers[0].field.ident, |m| &m.field.ident)
                ),
            ),
        }
    }
}

/// The rules of `children(...)`: the model can tell its batches apart, and no child column
/// is listed twice.
fn check_children<'a>(model: &Model<'a>, errors: &mut Errors) -> &'a [EdgeAttr] {
    let Some(children) = &model.input.children else {
        return &[];
    };
    let primary = model.primary();
    let identified = primary.stamp().is_some() || model.batch.is_some();
    if !identified && !children.item.is_empty() {
        let deleted_at = match model.markers.len() {
            1 => "deleted_at".to_owned(),
            _ => format!("deleted_at({})", primary.field.ident),
        };
        errors.error(
            children.span,
            format!(
                "`children(...)` needs to find the rows one archive hid, but the marker `{}` is a flag \
                 and the model records neither when nor by which archive a row was hidden\n\
                 help: add a deletion time, `#[soft_delete({deleted_at})] deleted_at: Option<NaiveDateTime>` (or `Option<PrimitiveDateTime>`), \
                 or a batch column, `#[soft_delete(batch)] archive_batch: Option<i64>`",
                primary.field.ident
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

/// The field named `ident`, written raw or not (`r#type` or `type` for the field `r#type`).
fn field_named<'a>(input: &'a Input<'a>, ident: &Ident) -> Option<&'a Field<'a>> {
    let ident = ident.unraw();
    input.fields.iter().find(|f| f.ident.unraw() == ident)
}

fn field_names(input: &Input<'_>) -> String {
    let names: Vec<String> = input
        .fields
        .iter()
        .map(|f| format!("`{}`", f.ident))
        .collect();
    names.join(", ")
}

fn active_unique_keys<'a>(model: &Model<'a>, errors: &mut Errors) -> Vec<Key<'a>> {
    let mut keys: Vec<Key<'a>> = Vec::new();
    for decl in &model.input.keys {
        if let Some(key) = active_unique_key(model, decl, errors) {
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
    model: &Model<'a>,
    decl: &KeyAttr,
    errors: &mut Errors,
) -> Option<Key<'a>> {
    let input = model.input;
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
        if model.is_marker(field) {
            errors.error(
                list.span,
                format!(
                    "`{ident}` is a marker column and cannot be part of the key\n\
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
            Some(field) if model.is_marker(field) => {
                errors.error(
                    ident.span(),
                    format!("`{ident}` is a marker column; the counter is another field, e.g. `retry: i32`"),
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
        .map(|s| s.ident.unraw().to_string())
        .unwrap_or_default();
    let mut name = table;
    for field in fields {
        name.push('_');
        name.push_str(&field.column.unraw().to_string());
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

/// The primary key's fields, all of them or none. A missing one is an error when `required`
/// (active-unique keys name rows by them); otherwise the table just has no id type.
fn primary_key_fields<'a>(
    input: &'a Input<'a>,
    required: bool,
    errors: &mut Errors,
) -> Vec<&'a Field<'a>> {
    let mut fields = Vec::new();
    for ident in &input.primary_key {
        match input.field_of_column(ident) {
            Some(field) => fields.push(field),
            None if !required => return Vec::new(),
            None => {
                let span = input.keys.first().map_or(input.ident.span(), |k| k.span);
                errors.error(
                    span,
                    format!(
                        "`#[active_unique(...)]` needs a field of the primary key column `{ident}` on `{}` to name rows in errors and order the history\n\
                         help: add the field, or declare the key's columns with `#[diesel(primary_key(...))]`",
                        input.ident
                    ),
                );
            }
        }
    }
    fields
}

/// The markers, in declaration order: the fields marked `#[soft_delete(marker ...)]`, or else
/// the one field with a conventional name.
fn find_markers<'a>(input: &'a Input<'a>, errors: &mut Errors) -> Vec<Marker<'a>> {
    let marker = |field, strategy| Marker {
        field,
        strategy,
        deleted_at: None,
        deleted_by: None,
        reason: None,
    };
    let explicit: Vec<Marker<'a>> = input
        .fields
        .iter()
        .filter_map(|field| {
            let attr = field
                .attrs
                .iter()
                .find(|a| matches!(a.item, FieldAttr::Marker(_)))?;
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
            Some(marker(field, strategy))
        })
        .collect();
    if !explicit.is_empty() {
        return explicit;
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
        [] => Vec::new(),
        [(field, strategy)] => vec![marker(field, *strategy)],
        [(first, _), (second, _), ..] => {
            errors.error(
                second.ident.span(),
                format!(
                    "both `{}` and `{}` could be the marker column\n\
                     help: mark the one that decides visibility, e.g. `#[soft_delete(marker = timestamp)]`; \
                     for several reasons to hide a row, mark each and make one `primary`",
                    first.ident, second.ident
                ),
            );
            vec![marker(first, StrategyName::Timestamp)]
        }
    }
}

fn single_role<'a>(
    input: &'a Input<'a>,
    role: &FieldAttr,
    errors: &mut Errors,
) -> Option<&'a Field<'a>> {
    let mut found: Option<&'a Field<'a>> = None;
    for field in &input.fields {
        for attr in field.attrs.iter().filter(|a| a.item == *role) {
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
             help: add a marker field, e.g. `deleted_at: Option<NaiveDateTime>` (or `Option<PrimitiveDateTime>`), or mark an existing one:\n\
             `#[soft_delete(marker = timestamp)]` (NULL = live), `#[soft_delete(marker = deleted)]` (false = live), \
             `#[soft_delete(marker = active)]` (true = live)",
            input.ident
        ),
    )
}

/// Whether `ty` is `bool` however it is written: `bool`, `std::primitive::bool`,
/// `::core::primitive::bool`, in parentheses, or as a `macro_rules!` hands on its `$ty`.
fn is_bool(ty: &Type) -> bool {
    match ty {
        Type::Group(group) => is_bool(&group.elem),
        Type::Paren(paren) => is_bool(&paren.elem),
        Type::Path(p) if p.qself.is_none() => {
            let segments: Vec<String> = p
                .path
                .segments
                .iter()
                .filter(|s| s.arguments.is_none())
                .map(|s| s.ident.to_string())
                .collect();
            segments.len() == p.path.segments.len()
                && matches!(
                    segments.iter().map(String::as_str).collect::<Vec<_>>()[..],
                    ["bool"] | ["std" | "core", "primitive", "bool"]
                )
                && (segments.len() == 3 || p.path.leading_colon.is_none())
        }
        _ => false,
    }
}
