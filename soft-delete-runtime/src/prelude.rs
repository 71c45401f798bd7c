//! `use soft_delete_runtime::prelude::*;` brings the scopes, the alias predicates, the model
//! traits and the derive.

#[doc(no_inline)]
pub use crate::model::SoftDelete;
#[doc(no_inline)]
pub use crate::query::{SoftDeleteAliasDsl, SoftDeleteQueryDsl};
pub use crate::table::SoftDeleteTable;
#[doc(no_inline)]
pub use crate::unique::ActiveUnique;
#[doc(no_inline)]
pub use crate::write::Deletion;

#[cfg(feature = "derive")]
#[doc(no_inline)]
pub use soft_delete_derive::SoftDelete;
