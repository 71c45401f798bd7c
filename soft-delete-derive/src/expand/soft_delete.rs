//! The `SoftDeleteTable` and `SoftDelete` impls: code generation only, every decision was
//! made in [`crate::valid`].

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned as _;

use crate::ast::{Field, Input};
use crate::attr::StrategyName;
use crate::valid::{Marker, Model};

/// One column a soft delete and a restore write: its changeset type, and the two
/// expressions that build it (`at`, `by` and `reason` are in scope in the first).
struct Assignment {
    ty: TokenStream,
    soft_delete: TokenStream,
    restore: TokenStream,
}

pub(crate) fn expand(model: &Model<'_>) -> TokenStream {
    let input = model.input;
    let krate = &input.krate;
    let table = input.table_type();
    let primary = input.column_path(&model.primary().field.column);
    let marker_impls = model
        .markers
        .iter()
        .enumerate()
        .map(|(i, marker)| expand_marker(model, marker, i == model.primary));
    let markers = model.markers.iter().rev().fold(quote!(()), |rest, marker| {
        let column = input.column_path(&marker.field.column);
        quote!((#column, #rest))
    });
    let hidden_by = model.markers.iter().map(|marker| {
        let f = marker.field.ident;
        let column = input.column_path(&marker.field.column);
        let live = live_value(model, marker);
        let diesel = diesel(input);
        quote! {
            if !::core::cmp::PartialEq::eq(&self.#f, &#live) {
                hidden.push(<#column as #diesel::Column>::NAME);
            }
        }
    });

    let keys = super::active_unique::key_list(model);
    let id_fields = model.primary_key.iter().map(|field| {
        let ty = field.ty;
        quote_spanned!(ty.span()=> #ty)
    });
    let ident = input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();

    quote! {
        #[doc(hidden)]
        #[allow(unused_qualifications)]
        const _: () = {
            #(#marker_impls)*

            #[automatically_derived]
            impl #krate::SoftDeleteTable for #table {
                type Marker = #primary;
                type Markers = #markers;
            }

            #[automatically_derived]
            impl #impl_generics #krate::SoftDelete for #ident #ty_generics #where_clause {
                type Table = #table;
                type ActiveUniqueKeys = #keys;
                type IdFields = (#(#id_fields,)*);

                fn hidden_by(&self) -> ::std::vec::Vec<&'static str> {
                    #[allow(unused_mut)]
                    let mut hidden = ::std::vec::Vec::new();
                    #(#hidden_by)*
                    hidden
                }
            }

            // The visibility guard's registry (`guard::registered`), filled at link time.
            #krate::__private::inventory::submit! {
                #krate::guard::Registration::of::<#table>()
            }
        };
    }
}

/// The `SoftDeleteMarker` impl of one marker: its strategy, and what hiding a row through it
/// and bringing the row back write (the marker, its own columns and, for the primary marker,
/// the batch column).
fn expand_marker(model: &Model<'_>, marker: &Marker<'_>, primary: bool) -> TokenStream {
    let input = model.input;
    let krate = &input.krate;
    let column = input.column_path(&marker.field.column);

    // Spanned at the marker's type: a column that does not suit the strategy is reported there.
    let marker_span = marker.field.ty.span();
    let strategy = match marker.strategy {
        StrategyName::Timestamp => quote!(Timestamp),
        StrategyName::Deleted => quote!(DeletedFlag),
        StrategyName::Active => quote!(ActiveFlag),
    };
    let strategy = quote_spanned!(marker_span=> type Strategy = #krate::table::#strategy;);

    let mut assignments = vec![marker_assignment(model, marker)];
    if let Some(field) = marker.deleted_at {
        assignments.push(timestamp_assignment(input, field));
    }
    let deleted_by = match marker.deleted_by {
        Some(field) => {
            assignments.push(audit_assignment(input, field, &quote!(by)));
            let value = audit_value_type(input, field);
            quote_spanned!(field.ty.span()=> type DeletedBy = #value;)
        }
        None => quote!(type DeletedBy = #krate::table::NoDeletedByColumn;),
    };
    let reason = match marker.reason {
        Some(field) => {
            assignments.push(audit_assignment(input, field, &quote!(reason)));
            let value = audit_value_type(input, field);
            quote_spanned!(field.ty.span()=> type Reason = #value;)
        }
        None => quote!(type Reason = #krate::table::NoReasonColumn;),
    };

    // Both writes of the primary marker (the one archives set) clear the batch column: a row
    // hidden or brought back on its own no longer belongs to the archive that once hid it, so
    // restoring that archive leaves it alone. Another marker's writes leave it as it is.
    if let Some(field) = model.batch.filter(|_| primary) {
        assignments.push(batch_assignment(input, field));
    }

    let types = tuple(assignments.iter().map(|a| &a.ty));
    let soft_delete = tuple(assignments.iter().map(|a| &a.soft_delete));
    let restore = tuple(assignments.iter().map(|a| &a.restore));

    quote! {
        #[automatically_derived]
        impl #krate::table::SoftDeleteMarker for #column {
            #strategy
            #deleted_by
            #reason
            type SoftDeleteChanges = #types;
            type RestoreChanges = #types;

            fn soft_delete_changes(
                deletion: #krate::Deletion<Self::DeletedBy, Self::Reason>,
            ) -> Self::SoftDeleteChanges {
                #[allow(unused_variables)]
                let (at, by, reason) = deletion.into_parts();
                #soft_delete
            }

            fn restore_changes() -> Self::RestoreChanges {
                #restore
            }
        }
    }
}

/// The value of `marker`'s field on a live row, through the trait of the field's type.
pub(crate) fn live_value(model: &Model<'_>, marker: &Marker<'_>) -> TokenStream {
    let krate = &model.input.krate;
    let ty = marker.field.ty;
    match marker.strategy {
        StrategyName::Timestamp => {
            quote_spanned!(ty.span()=> <#ty as #krate::table::TimestampField>::live())
        }
        StrategyName::Deleted => {
            quote_spanned!(ty.span()=> <#ty as #krate::table::FlagField>::flag(false))
        }
        StrategyName::Active => {
            quote_spanned!(ty.span()=> <#ty as #krate::table::FlagField>::flag(true))
        }
    }
}

/// The marker: a timestamp (deletion time / `None`), or a flag (`true`/`false`).
fn marker_assignment(model: &Model<'_>, marker: &Marker<'_>) -> Assignment {
    let input = model.input;
    let field = marker.field;
    let (deleted, live) = match marker.strategy {
        StrategyName::Timestamp => return timestamp_assignment(input, field),
        StrategyName::Deleted => (quote!(true), quote!(false)),
        StrategyName::Active => (quote!(false), quote!(true)),
    };
    let convert = field_trait(input, field, quote!(FlagField));
    assignment(
        input,
        field,
        quote!(#convert::flag(#deleted)),
        quote!(#convert::flag(#live)),
    )
}

/// A timestamp column: the deletion time, or `None` on restore.
fn timestamp_assignment(input: &Input<'_>, field: &Field<'_>) -> Assignment {
    let convert = field_trait(input, field, quote!(TimestampField));
    assignment(
        input,
        field,
        quote!(#convert::deleted_at(at)),
        quote!(#convert::live()),
    )
}

/// An audit column (`deleted_by`, `reason`): the recorded value, or `None` on restore.
fn audit_assignment(input: &Input<'_>, field: &Field<'_>, value: &TokenStream) -> Assignment {
    let convert = field_trait(input, field, quote!(AuditField));
    assignment(
        input,
        field,
        quote!(#convert::recorded(#value)),
        quote!(#convert::recorded(::core::option::Option::None)),
    )
}

/// The `#[soft_delete(batch)]` column: `None` on both writes (only an archive sets it).
fn batch_assignment(input: &Input<'_>, field: &Field<'_>) -> Assignment {
    let convert = field_trait(input, field, quote!(BatchField));
    assignment(
        input,
        field,
        quote!(#convert::detached()),
        quote!(#convert::detached()),
    )
}

/// `column = <value of the field's type>`. Every value goes through a trait of the field's
/// type, so the changeset is typed by the field and a field of the wrong type is reported
/// once, by that trait, at the field.
fn assignment(
    input: &Input<'_>,
    field: &Field<'_>,
    soft_delete: TokenStream,
    restore: TokenStream,
) -> Assignment {
    let diesel = diesel(input);
    let column = input.column_path(&field.column);
    let ty = field.ty;
    Assignment {
        ty: quote_spanned!(ty.span()=> #diesel::dsl::Eq<#column, #ty>),
        soft_delete: quote!(#diesel::ExpressionMethods::eq(#column, #soft_delete)),
        restore: quote!(#diesel::ExpressionMethods::eq(#column, #restore)),
    }
}

/// `<FieldType as runtime::table::Trait>`, spanned at the field's type.
fn field_trait(input: &Input<'_>, field: &Field<'_>, name: TokenStream) -> TokenStream {
    let krate = &input.krate;
    let ty = field.ty;
    quote_spanned!(ty.span()=> <#ty as #krate::table::#name>)
}

/// The type inside an audit field's `Option`, spanned at the field's type.
fn audit_value_type(input: &Input<'_>, field: &Field<'_>) -> TokenStream {
    let convert = field_trait(input, field, quote!(AuditField));
    quote!(#convert::Value)
}

fn diesel(input: &Input<'_>) -> TokenStream {
    let krate = &input.krate;
    quote!(#krate::__private::diesel)
}

/// `a` alone, or `(a, b, ...)`.
fn tuple<'a>(items: impl Iterator<Item = &'a TokenStream>) -> TokenStream {
    let items: Vec<&TokenStream> = items.collect();
    match items.as_slice() {
        [single] => (*single).clone(),
        _ => quote!((#(#items,)*)),
    }
}
