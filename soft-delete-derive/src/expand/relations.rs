//! The `Archivable` impl: how an archive writes this table's rows, the active-unique keys a
//! restore checks, and the edges of `children(...)`. Code generation only, every decision was made in [`crate::valid`].
//!
//! Each edge becomes one call on the runtime's `Relations`, spanned at the rule the user
//! wrote, so what the rule needs of the child (a soft-deletable table for `cascade`, a
//! nullable column for `set_null`, the parent's key type) is reported there; the table and
//! column keep their own spans, so a misspelling is reported on the misspelled name.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned as _;
use syn::Path;

use crate::attr::{EdgeAttr, RuleName};
use crate::valid::Model;

pub(crate) fn expand(model: &Model<'_>) -> TokenStream {
    let input = model.input;
    let krate = &input.krate;
    let table = input.table_type();
    let graph = quote!(#krate::__private::graph);

    // Where the batch's timestamp goes: the primary marker if it is a timestamp, or its
    // `deleted_at`.
    // Its type is checked where a collector uses the table, not here: a marker of the wrong
    // type is already reported by the `SoftDeleteTable` impl, once.
    let stamp_field = model.primary().stamp();
    let stamp = match stamp_field {
        Some(field) => {
            let column = input.column_path(&field.column);
            quote!(#graph::Stamped<#column>)
        }
        None => quote!(#graph::NoStamp),
    };
    let batch = match model.batch {
        Some(field) => {
            // Spanned at the field's type: a column of the wrong type is reported there.
            let column = respan(input.column_path(&field.column), field.ty.span());
            quote_spanned!(field.ty.span()=>
                ::core::option::Option::Some(#graph::ArchiveColumns::batch_column::<#column>()))
        }
        None => quote!(::core::option::Option::None),
    };

    let keys = super::active_unique::key_infos(model);
    let edges = model.children.iter().map(|edge| expand_edge(model, edge));
    let relations = if model.children.is_empty() {
        quote!(_: &mut #graph::Relations<Self>)
    } else {
        quote!(relations: &mut #graph::Relations<Self>)
    };

    quote! {
        #[doc(hidden)]
        #[allow(unused_qualifications)]
        const _: () = {
            #[automatically_derived]
            impl #krate::collector::Archivable for #table {
                type Stamp = #stamp;

                const ACTIVE_UNIQUE_KEYS: &'static [#krate::unique::KeyInfo] = #keys;

                fn batch_column() -> ::core::option::Option<&'static str> {
                    #batch
                }

                fn relations(#relations) {
                    #(#edges)*
                }
            }
        };
    }
}

fn expand_edge(model: &Model<'_>, edge: &EdgeAttr) -> TokenStream {
    let krate = &model.input.krate;
    let span = edge.rule.span;
    let child_module = &edge.table;
    let column = &edge.column;
    // `table` takes the span of the child's module, so "not soft-deletable" points at it.
    let table_span = child_module
        .segments
        .last()
        .map_or(span, |segment| segment.ident.span());
    let table = syn::Ident::new("table", table_span);
    let child = quote!(#child_module::#table);
    let column = quote!(#child_module::#column);
    let method = match edge.rule.item {
        RuleName::Cascade => {
            return quote_spanned!(span=> relations.cascade::<#child, #column>(););
        }
        RuleName::HardDelete => quote_spanned!(span=> cascade_hard_delete),
        RuleName::Protect => quote_spanned!(span=> protect),
        RuleName::SetNull => quote_spanned!(span=> set_null),
        RuleName::SetDefault => quote_spanned!(span=> set_default),
        RuleName::DoNothing => quote_spanned!(span=> do_nothing),
    };
    // The child may or may not be soft-deletable; the probe picks its description.
    quote_spanned! {span=>
        relations.#method::<#child, #column>({
            #[allow(unused_imports)]
            use #krate::__private::{ViaArchivable as _, ViaPlain as _};
            (&#krate::__private::Probe::<#child>::new()).node()
        });
    }
}

/// `path` with every identifier spanned at `span`.
fn respan(mut path: Path, span: Span) -> Path {
    for segment in &mut path.segments {
        segment.ident.set_span(span);
    }
    path
}
