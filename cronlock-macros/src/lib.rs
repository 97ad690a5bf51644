//! The `#[scheduled]` attribute of cronlock. Use it through the `cronlock` crate.

use proc_macro::TokenStream;

/// Marks an async fn as a scheduled job (validation and registration come with the macro issue).
#[proc_macro_attribute]
pub fn scheduled(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}
