//! `#[derive(SoftDelete)]`: the derive behind [`soft-delete-runtime`](https://docs.rs/soft-delete-runtime).
//!
//! Use it through the runtime crate, which re-exports it and provides every item the
//! generated code refers to. The attribute grammar and the compile-time errors are documented
//! on [`derive@SoftDelete`].
//!
//! For contributors: the pipeline is the one thiserror and diesel_derives use:
//! `ast` reads the input once, `valid` applies the rules that span several
//! attributes or fields (reporting every mistake at once), and `expand` only generates.
//! When the input has mistakes, `fallback` emits the errors together with stub impls so
//! the rest of the user's code still type-checks and the mistake is reported once.
#![warn(missing_docs)]

mod ast;
mod attr;
mod expand;
mod fallback;
mod valid;

#[cfg(test)]
mod tests;

use proc_macro::TokenStream;
use syn::DeriveInput;

#[doc = include_str!("../docs/derive.md")]
#[proc_macro_derive(SoftDelete, attributes(soft_delete, active_unique, diesel))]
pub fn derive_soft_delete(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as DeriveInput);
    expand::derive(&input).into()
}
