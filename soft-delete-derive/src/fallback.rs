//! What the derive emits when the input has mistakes: the errors, plus stub impls of the
//! traits, so the user's other code (`.active()`, `user.soft_delete(conn)`) still type-checks
//! and each mistake is reported once instead of at every use.

use proc_macro2::TokenStream;
use quote::quote;

use crate::ast::Input;

pub(crate) fn expand(ast: Option<&Input<'_>>, error: syn::Error) -> TokenStream {
    let errors = error.into_compile_error();
    // Without a struct or a column to stand in for the marker there is nothing to stub.
    let Some((ast, first)) = ast.and_then(|ast| Some((ast, ast.fields.first()?))) else {
        return errors;
    };
    let krate = &ast.krate;
    let table = ast.table_type();
    let stand_in = ast.column_path(&first.column);
    let ident = ast.ident;
    // The id's types when every primary-key column has its field, so a `RowId::typed` elsewhere
    // still type-checks; `()` (no id type) otherwise.
    let id_fields: Vec<_> = ast
        .primary_key
        .iter()
        .map(|column| ast.field_of_column(column).map(|f| f.ty))
        .collect::<Option<_>>()
        .unwrap_or_default();
    let (impl_generics, ty_generics, where_clause) = ast.generics.split_for_impl();

    quote! {
        #errors

        #[doc(hidden)]
        const _: () = {
            #[automatically_derived]
            impl #krate::table::SoftDeleteMarker for #stand_in {
                type Strategy = #krate::__private::Fallback;
                type DeletedBy = #krate::table::NoDeletedByColumn;
                type Reason = #krate::table::NoReasonColumn;
                type SoftDeleteChanges = #krate::__private::FallbackChanges<#table>;
                type RestoreChanges = #krate::__private::FallbackChanges<#table>;

                fn soft_delete_changes(
                    _: #krate::Deletion<Self::DeletedBy, Self::Reason>,
                ) -> Self::SoftDeleteChanges {
                    #krate::__private::FallbackChanges::default()
                }

                fn restore_changes() -> Self::RestoreChanges {
                    #krate::__private::FallbackChanges::default()
                }
            }

            #[automatically_derived]
            impl #krate::SoftDeleteTable for #table {
                type Marker = #stand_in;
                type Markers = (#stand_in, ());
            }

            #[automatically_derived]
            impl #impl_generics #krate::SoftDelete for #ident #ty_generics #where_clause {
                type Table = #table;
                type ActiveUniqueKeys = ();
                type IdFields = (#(#id_fields,)*);

                fn hidden_by(&self) -> ::std::vec::Vec<&'static str> {
                    ::std::vec::Vec::new()
                }
            }

            #[automatically_derived]
            impl #krate::collector::Archivable for #table {
                type Stamp = #krate::__private::graph::NoStamp;

                const ACTIVE_UNIQUE_KEYS: &'static [#krate::unique::KeyInfo] = &[];

                fn batch_column() -> ::core::option::Option<&'static str> {
                    ::core::option::Option::None
                }

                fn relations(_: &mut #krate::__private::graph::Relations<Self>) {}
            }
        };
    }
}
