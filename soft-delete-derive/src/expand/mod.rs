//! Code generation only: every decision was made in [`crate::valid`]. One file per
//! capability; [`derive`] runs the pipeline and puts their output together.

mod active_unique;
mod relations;
mod soft_delete;

use proc_macro2::TokenStream;
use syn::DeriveInput;

use crate::ast::Input;
use crate::attr::Errors;
use crate::fallback;
use crate::valid;

/// The derive: parse, validate, expand; on mistakes, the errors plus stub impls.
pub(crate) fn derive(input: &DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let ast = Input::from_syn(input, &mut errors);
    let model = ast
        .as_ref()
        .and_then(|ast| valid::validate(ast, &mut errors));
    match (errors.finish(()), model) {
        (Ok(()), Some(model)) => {
            let mut tokens = soft_delete::expand(&model);
            tokens.extend(active_unique::expand(&model));
            tokens.extend(relations::expand(&model));
            tokens
        }
        (Err(error), _) => fallback::expand(ast.as_ref(), error),
        // `validate` reports why it found no model; this arm is for completeness.
        (Ok(()), None) => fallback::expand(
            ast.as_ref(),
            syn::Error::new(
                input.ident.span(),
                "`#[derive(SoftDelete)]` could not read this struct",
            ),
        ),
    }
}
