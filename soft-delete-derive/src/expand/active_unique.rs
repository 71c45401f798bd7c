//! One `ActiveUnique<Key>` impl per `#[active_unique(...)]` key, the list of keys the
//! `SoftDelete` impl names, and the same keys as `KeyInfo` values for the `Archivable` impl
//! (the collector's graph, which a batch restore checks them through). Code generation only: every decision was made in
//! [`crate::valid`].
//!
//! A key is named by the type of its columns: `attempts::email` for one field,
//! `(attempts::exam_id, attempts::learner_id)` for several. Those paths carry the span of the
//! user's `fields = "..."` literal, so a field whose column is missing from the table is
//! reported there.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned as _;
use syn::Ident;

use crate::ast::Field;
use crate::valid::{Key, Model};

/// The `ActiveUnique` impls of every key.
pub(crate) fn expand(model: &Model<'_>) -> TokenStream {
    model
        .keys
        .iter()
        .map(|key| expand_key(model, key))
        .collect()
}

/// `Archivable::ACTIVE_UNIQUE_KEYS`: `&[KeyInfo { name, columns, counter }, ...]`, the same
/// name, columns and counter as each key's `ActiveUnique` impl, for the collector's graph.
pub(crate) fn key_infos(model: &Model<'_>) -> TokenStream {
    let krate = &model.input.krate;
    let infos = model.keys.iter().map(|key| {
        let KeyConsts {
            name,
            columns,
            nulls_not_distinct,
            counter_column,
        } = key_consts(model, key);
        quote! {
            #krate::unique::KeyInfo {
                name: #name,
                columns: &[#(#columns),*],
                nulls_not_distinct: &[#(#nulls_not_distinct),*],
                counter: #counter_column,
            }
        }
    });
    quote!(&[#(#infos),*])
}

/// What names a key in SQL: its name, its columns' names (all, and those where `NULL` is a
/// value of the key) and its counter column's name.
struct KeyConsts<'k> {
    name: &'k str,
    columns: Vec<TokenStream>,
    nulls_not_distinct: Vec<TokenStream>,
    counter_column: TokenStream,
}

fn key_consts<'k>(model: &Model<'_>, key: &'k Key<'_>) -> KeyConsts<'k> {
    let krate = &model.input.krate;
    let diesel = quote!(#krate::__private::diesel);
    let name_of = |f: &Field<'_>| {
        let column = column_at(model, f, key.span);
        quote!(<#column as #diesel::Column>::NAME)
    };
    let columns = key.fields.iter().map(|f| name_of(f)).collect();
    let nulls_not_distinct = match key.nulls_not_distinct {
        true => key.nullable.iter().map(|f| name_of(f)).collect(),
        false => Vec::new(),
    };
    let counter_column = match key.counter {
        Some(field) => {
            let column = column(model, field);
            quote!(::core::option::Option::Some(<#column as #diesel::Column>::NAME))
        }
        None => quote!(::core::option::Option::None),
    };
    KeyConsts {
        name: &key.name,
        columns,
        nulls_not_distinct,
        counter_column,
    }
}

/// The type of `SoftDelete::ActiveUniqueKeys`: `(K1, (K2, ()))`, or `()` without keys.
pub(crate) fn key_list(model: &Model<'_>) -> TokenStream {
    model.keys.iter().rev().fold(quote!(()), |rest, key| {
        let key = key_type(model, key);
        quote!((#key, #rest))
    })
}

/// `table::column`, spanned at `span`.
fn column_at(model: &Model<'_>, field: &Field<'_>, span: Span) -> TokenStream {
    // The column's own ident respanned: rebuilding it from its text would lose `r#`.
    let mut column = field.column.clone();
    column.set_span(span);
    let path = model.input.column_path(&column);
    quote!(#path)
}

/// `table::column` with the spans of the field's own tokens.
fn column(model: &Model<'_>, field: &Field<'_>) -> TokenStream {
    let path = model.input.column_path(&field.column);
    quote!(#path)
}

/// The key's type: its column, or the tuple of its columns.
fn key_type(model: &Model<'_>, key: &Key<'_>) -> TokenStream {
    let columns: Vec<TokenStream> = key
        .fields
        .iter()
        .map(|f| column_at(model, f, key.span))
        .collect();
    one_or_tuple(&columns)
}

fn one_or_tuple(items: &[TokenStream]) -> TokenStream {
    match items {
        [single] => single.clone(),
        _ => quote!((#(#items,)*)),
    }
}

fn expand_key(model: &Model<'_>, key: &Key<'_>) -> TokenStream {
    let input = model.input;
    let krate = &input.krate;
    let diesel = quote!(#krate::__private::diesel);
    let ident = input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let key_ty = key_type(model, key);

    // The key's values and the filter `a = $1 AND b = $2` they make.
    let value_types: Vec<TokenStream> = key.fields.iter().map(|f| field_type(f)).collect();
    let value_ty = one_or_tuple(&value_types);
    let field_idents: Vec<&Ident> = key.fields.iter().map(|f| f.ident).collect();
    let key_value = match field_idents.as_slice() {
        [single] => quote!(::core::clone::Clone::clone(&self.#single)),
        _ => quote!((#(::core::clone::Clone::clone(&self.#field_idents),)*)),
    };
    let bindings: Vec<Ident> = (0..key.fields.len())
        .map(|i| Ident::new(&format!("__value{i}"), Span::call_site()))
        .collect();
    let destructure = match bindings.as_slice() {
        [single] => quote!(let #single = value;),
        _ => quote!(let (#(#bindings,)*) = value;),
    };
    // `a = $1`, or for an `Option` field `b IS NULL` / `b = $2` as the value says; every
    // other field's column must be `NOT NULL`, asked of the compiler at the field's type.
    let mut filter_ty = TokenStream::new();
    let mut filter = TokenStream::new();
    let mut not_null = TokenStream::new();
    for ((field, value_ty), binding) in key.fields.iter().zip(&value_types).zip(&bindings) {
        let column = column_at(model, field, key.span);
        let nullable = key.nullable.iter().any(|f| f.ident == field.ident);
        let (eq_ty, eq) = if nullable {
            (
                quote_spanned!(field.ty.span()=> #krate::unique::NullSafeEq<#column, #value_ty>),
                quote_spanned!(field.ty.span()=> #krate::unique::NullSafeEq::new(#column, #binding)),
            )
        } else {
            not_null.extend(quote_spanned!(field.ty.span()=>
                __not_null::<<<#column as #diesel::Expression>::SqlType as #diesel::sql_types::SqlType>::IsNull>();
            ));
            (
                quote_spanned!(field.ty.span()=> #diesel::dsl::Eq<#column, #value_ty>),
                quote_spanned!(field.ty.span()=> #diesel::ExpressionMethods::eq(#column, #binding)),
            )
        };
        if filter.is_empty() {
            filter_ty = eq_ty;
            filter = eq;
        } else {
            filter_ty = quote!(#diesel::dsl::And<#filter_ty, #eq_ty>);
            filter = quote!(#diesel::BoolExpressionMethods::and(#filter, #eq));
        }
    }
    let KeyConsts {
        name,
        columns,
        nulls_not_distinct,
        counter_column,
    } = key_consts(model, key);

    // With distinct `NULL`s, the first `Option` field of a key value that is `None`: such a
    // value has no one live row.
    let null_part: TokenStream = match key.nulls_not_distinct {
        true => TokenStream::new(),
        false => key
            .fields
            .iter()
            .enumerate()
            .filter(|(_, f)| key.nullable.iter().any(|n| n.ident == f.ident))
            .map(|(i, f)| {
                let part = match key.fields.len() {
                    1 => quote!(value),
                    _ => {
                        let i = syn::Index::from(i);
                        quote!(&value.#i)
                    }
                };
                let column = column_at(model, f, key.span);
                quote! {
                    if ::core::option::Option::is_none(#part) {
                        return ::core::option::Option::Some(<#column as #diesel::Column>::NAME);
                    }
                }
            })
            .collect(),
    };

    let value_param = match null_part.is_empty() {
        true => quote!(_),
        false => quote!(value),
    };

    // The primary key: its value names rows in errors; it orders the history.
    let id_types: Vec<TokenStream> = model.primary_key.iter().map(|f| field_type(f)).collect();
    let id_ty = one_or_tuple(&id_types);
    let id_idents: Vec<&Ident> = model.primary_key.iter().map(|f| f.ident).collect();
    let row_id = match id_idents.as_slice() {
        [single] => quote!(::core::clone::Clone::clone(&self.#single)),
        _ => quote!((#(::core::clone::Clone::clone(&self.#id_idents),)*)),
    };
    let id_columns: Vec<TokenStream> = model.primary_key.iter().map(|f| column(model, f)).collect();
    let id_names = id_columns
        .iter()
        .map(|column| quote!(<#column as #diesel::Column>::NAME));

    // The counter, and the history's order: newest first by the counter, then by id.
    let (counter_ty, counter, mut order_types, mut order) = match key.counter {
        Some(field) => {
            let ty = field.ty;
            let f = field.ident;
            let column = column(model, field);
            (
                quote_spanned!(ty.span()=> #ty),
                quote!(::core::clone::Clone::clone(&self.#f)),
                vec![quote!(#diesel::dsl::Desc<#column>)],
                vec![quote!(#diesel::ExpressionMethods::desc(#column))],
            )
        }
        None => (
            quote!(#krate::unique::NoCounter),
            quote!(#krate::unique::NoCounter),
            Vec::new(),
            Vec::new(),
        ),
    };
    for column in &id_columns {
        order_types.push(quote!(#diesel::dsl::Desc<#column>));
        order.push(quote!(#diesel::ExpressionMethods::desc(#column)));
    }
    let order_ty = one_or_tuple(&order_types);
    let order = one_or_tuple(&order);

    let is_live = is_live(model);

    quote! {
        #[doc(hidden)]
        #[allow(unused_qualifications)]
        const _: () = {
            #[allow(dead_code)]
            fn __not_null<T: #krate::unique::NotNullKeyColumn>() {}
            #[allow(dead_code)]
            fn __key_columns_not_null() {
                #not_null
            }

            #[automatically_derived]
            impl #impl_generics #krate::unique::ActiveUnique<#key_ty> for #ident #ty_generics #where_clause {
                type Value = #value_ty;
                type Filter = #filter_ty;
                type Counter = #counter_ty;
                type HistoryOrder = #order_ty;
                type Id = #id_ty;

                const NAME: &'static str = #name;
                const COLUMNS: &'static [&'static str] = &[#(#columns),*];
                const NULLS_NOT_DISTINCT: &'static [&'static str] = &[#(#nulls_not_distinct),*];
                const COUNTER_COLUMN: ::core::option::Option<&'static str> = #counter_column;
                const ID_COLUMNS: &'static [&'static str] = &[#(#id_names),*];

                fn key(&self) -> Self::Value {
                    #key_value
                }

                fn row_id(&self) -> Self::Id {
                    #row_id
                }

                fn is_live(&self) -> bool {
                    #is_live
                }

                fn counter(&self) -> Self::Counter {
                    #counter
                }

                fn null_part(#value_param: &Self::Value) -> ::core::option::Option<&'static str> {
                    #null_part
                    ::core::option::Option::None
                }

                fn key_filter(value: Self::Value) -> Self::Filter {
                    #destructure
                    #filter
                }

                fn history_order() -> Self::HistoryOrder {
                    #order
                }
            }
        };
    }
}

/// Whether `self` is live: no marker hides it.
fn is_live(model: &Model<'_>) -> TokenStream {
    let krate = &model.input.krate;
    quote!(<Self as #krate::SoftDelete>::hidden_by(self).is_empty())
}

/// The field's type, spanned at it.
fn field_type(field: &Field<'_>) -> TokenStream {
    let ty = field.ty;
    quote_spanned!(ty.span()=> #ty)
}
