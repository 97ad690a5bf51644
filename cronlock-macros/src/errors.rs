//! Collecting every mistake so the user sees them all at once.

use proc_macro2::TokenStream;

/// All errors found so far, merged with `syn::Error::combine`.
#[derive(Default)]
pub(crate) struct Errors {
    combined: Option<syn::Error>,
    keys_with_errors: Vec<&'static str>,
}

impl Errors {
    pub(crate) fn push(&mut self, err: syn::Error) {
        match &mut self.combined {
            Some(combined) => combined.combine(err),
            None => self.combined = Some(err),
        }
    }

    /// Records that `key` had a bad value, so it is not also reported missing.
    pub(crate) fn mark_key(&mut self, key: &'static str) {
        self.keys_with_errors.push(key);
    }

    pub(crate) fn has_key_error(&self, key: &str) -> bool {
        self.keys_with_errors.contains(&key)
    }

    pub(crate) fn into_compile_errors(self) -> Option<TokenStream> {
        self.combined.map(|err| err.to_compile_error())
    }
}
