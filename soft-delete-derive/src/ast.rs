//! The model of the derive's input, read once and borrowing from syn.

use proc_macro2::Span;
use syn::ext::IdentExt as _;
use syn::spanned::Spanned as _;
use syn::{Data, DeriveInput, Fields, Generics, Ident, Path, Type};

use crate::attr::{self, EdgeAttr, Errors, FieldAttr, KeyAttr, Spanned, StructAttr};

/// The struct `#[derive(SoftDelete)]` is applied to.
pub(crate) struct Input<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) generics: &'a Generics,
    /// The Diesel table module, e.g. `users` or `crate::schema::users`.
    pub(crate) table: Path,
    /// Where the runtime crate is (`::soft_delete_runtime` unless `#[soft_delete(crate = ...)]`).
    pub(crate) krate: Path,
    pub(crate) fields: Vec<Field<'a>>,
    /// Every `#[active_unique(...)]` on the struct, in order.
    pub(crate) keys: Vec<KeyAttr>,
    /// The primary key's columns: `#[diesel(primary_key(...))]`, or `id` (as Diesel reads them).
    pub(crate) primary_key: Vec<Ident>,
    /// `#[soft_delete(children(...))]`: the edges, and the span of the `children` key.
    pub(crate) children: Option<Spanned<Vec<EdgeAttr>>>,
}

/// One named field of the struct.
pub(crate) struct Field<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) ty: &'a Type,
    /// The column, from `#[diesel(column_name = ...)]` or the field name.
    pub(crate) column: Ident,
    pub(crate) attrs: Vec<Spanned<FieldAttr>>,
}

impl<'a> Input<'a> {
    /// The field that reads column `column` (its `#[diesel(column_name = ...)]`, or its name),
    /// as Diesel's derives find the fields of `#[diesel(primary_key(...))]`.
    pub(crate) fn field_of_column(&self, column: &Ident) -> Option<&Field<'a>> {
        self.fields.iter().find(|f| f.column == *column)
    }

    /// Reads the input. Malformed attributes are reported in `errors` and the rest is still
    /// read, so every mistake is reported at once; `None` only for input that is not a
    /// struct with named fields.
    pub(crate) fn from_syn(input: &'a DeriveInput, errors: &mut Errors) -> Option<Self> {
        let fields = match &input.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(named) => named
                    .named
                    .iter()
                    .filter_map(|f| Field::from_syn(f, errors))
                    .collect(),
                Fields::Unnamed(_) | Fields::Unit => {
                    errors.error(
                        input.ident.span(),
                        "`#[derive(SoftDelete)]` needs a struct with named fields, one of which is the marker column\n\
                         help: write `struct Name { id: i32, deleted_at: Option<NaiveDateTime> }` (or time's `Option<PrimitiveDateTime>`)",
                    );
                    return None;
                }
            },
            Data::Enum(data) => {
                errors.error(
                    data.enum_token.span,
                    "`#[derive(SoftDelete)]` is for structs that model one table row, not enums",
                );
                return None;
            }
            Data::Union(data) => {
                errors.error(
                    data.union_token.span,
                    "`#[derive(SoftDelete)]` is for structs that model one table row, not unions",
                );
                return None;
            }
        };

        let mut krate = None;
        let mut children: Option<Spanned<Vec<EdgeAttr>>> = None;
        for attr in attr::parse_soft_delete::<Spanned<StructAttr>>(&input.attrs, errors) {
            match attr.item {
                StructAttr::Crate(path) if krate.is_none() => krate = Some(path),
                StructAttr::Crate(_) => errors.error(attr.span, "duplicate `crate` key"),
                // Several `children(...)` lists add up.
                StructAttr::Children(edges) => match &mut children {
                    Some(all) => all.item.extend(edges),
                    None => {
                        children = Some(Spanned {
                            item: edges,
                            span: attr.span,
                        })
                    }
                },
            }
        }

        let table = match attr::diesel_key(&input.attrs, "table_name") {
            Ok(Some(value)) => value.path,
            Ok(None) => Ident::new(
                &infer_table_name(&input.ident.unraw().to_string()),
                input.ident.span(),
            )
            .into(),
            Err(e) => {
                errors.push(e);
                Ident::new("__invalid_table_name", Span::call_site()).into()
            }
        };

        let keys = attr::parse_active_unique(&input.attrs, errors);
        let primary_key = match attr::diesel_primary_key(&input.attrs) {
            Ok(Some(fields)) => fields,
            Ok(None) => vec![Ident::new("id", Span::call_site())],
            Err(e) => {
                errors.push(e);
                Vec::new()
            }
        };

        let krate = krate.unwrap_or_else(|| syn::parse_quote!(::soft_delete_runtime));
        Some(Input {
            ident: &input.ident,
            generics: &input.generics,
            table,
            krate,
            fields,
            keys,
            primary_key,
            children,
        })
    }

    /// The path of a column of this model's table, e.g. `users::deleted_at`.
    pub(crate) fn column_path(&self, column: &Ident) -> Path {
        let mut path = self.table.clone();
        path.segments.push(column.clone().into());
        path
    }

    /// The path of the table type, e.g. `users::table`.
    pub(crate) fn table_type(&self) -> Path {
        self.column_path(&Ident::new("table", self.ident.span()))
    }
}

impl<'a> Field<'a> {
    fn from_syn(field: &'a syn::Field, errors: &mut Errors) -> Option<Self> {
        let ident = field.ident.as_ref()?;
        let column = match attr::diesel_key(&field.attrs, "column_name") {
            Ok(Some(value)) => match value.path.get_ident() {
                Some(column) => column.clone(),
                None => {
                    errors.error(value.path.span(), "expected a column name");
                    ident.clone()
                }
            },
            Ok(None) => ident.clone(),
            Err(e) => {
                errors.push(e);
                ident.clone()
            }
        };
        let attrs = attr::parse_soft_delete::<Spanned<FieldAttr>>(&field.attrs, errors);
        for misplaced in field
            .attrs
            .iter()
            .filter(|a| a.path().is_ident(attr::ACTIVE_UNIQUE))
        {
            errors.error(
                misplaced.path().span(),
                format!(
                    "`#[active_unique(...)]` belongs on the struct, not on a field\n\
                     help: write `#[active_unique(fields = \"{ident}, ...\")]` above the struct"
                ),
            );
        }
        Some(Field {
            ident,
            ty: &field.ty,
            column,
            attrs,
        })
    }
}

/// Diesel's rule for a model without `#[diesel(table_name = ...)]`: snake case plus `s`.
fn infer_table_name(name: &str) -> String {
    let mut result = String::with_capacity(name.len() + 1);
    for (i, ch) in name.char_indices() {
        if ch.is_uppercase() {
            if i > 0 {
                result.push('_');
            }
            result.extend(ch.to_lowercase());
        } else {
            result.push(ch);
        }
    }
    result.push('s');
    result
}

#[cfg(test)]
mod tests {
    use super::infer_table_name;

    #[test]
    fn table_name_follows_diesel() {
        assert_eq!(infer_table_name("User"), "users");
        assert_eq!(infer_table_name("ExamAttempt"), "exam_attempts");
        assert_eq!(infer_table_name("FooBarBaz"), "foo_bar_bazs");
    }
}
