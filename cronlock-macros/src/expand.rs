//! Turning a validated job into the fn plus its `inventory` registration.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ItemFn, ReturnType};

use crate::attr::JobAttr;
use crate::errors::Errors;
use crate::validate::{self, Param};

/// The macro's whole job: the user's fn always comes back, with either its
/// registration or every error found.
pub(crate) fn scheduled(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let attr = JobAttr::parse(args, &mut errors);
    let function: ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(_) => {
            errors.push(syn::Error::new(
                Span::call_site(),
                "#[scheduled] goes on an `async fn`",
            ));
            let compile_errors = errors.into_compile_errors();
            return quote! { #item #compile_errors };
        }
    };
    let params = validate::check_fn(&function, &mut errors);
    match errors.into_compile_errors() {
        Some(compile_errors) => quote! { #function #compile_errors },
        None => {
            let registration = registration(&attr, &function, &params);
            quote! { #function #registration }
        }
    }
}

fn registration(attr: &JobAttr, function: &ItemFn, params: &[Param]) -> TokenStream {
    let ident = &function.sig.ident;
    let name = attr.name.as_ref().map_or_else(
        || ident.to_string().trim_start_matches("r#").to_owned(),
        |n| n.value.clone(),
    );
    let spec = attr
        .cron
        .as_ref()
        .map(|c| c.value.as_str())
        .unwrap_or_default();
    let timeout_ms = attr.timeout.as_ref().map_or(0, |t| {
        u64::try_from(t.value.as_millis()).unwrap_or(u64::MAX)
    });
    let options = &attr.options;

    let bound: Vec<_> = (0..params.len())
        .map(|i| format_ident!("__cronlock_arg{i}"))
        .collect();
    let tys: Vec<_> = params.iter().map(|p| &p.ty).collect();
    let binds = bound.iter().zip(&tys).map(|(arg, ty)| {
        quote_spanned! {ty.span()=>
            let #arg = <#ty as ::cronlock::__private::JobParam>::bind(__cronlock_states)?;
        }
    });
    let extracts = bound.iter().zip(&tys).map(|(arg, ty)| {
        quote_spanned! {ty.span()=>
            <#ty as ::cronlock::__private::JobParam>::extract(&#arg, &__cronlock_ctx)
        }
    });
    let output_span = match &function.sig.output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => ident.span(),
    };
    let call = quote_spanned! {output_span=>
        ::cronlock::__private::box_job(#ident(#(#extracts),*))
    };
    let line = quote_spanned! {ident.span()=> ::core::line!() };

    quote! {
        const _: () = {
            fn __cronlock_bind(
                __cronlock_states: &::cronlock::__private::StateMap,
            ) -> ::core::result::Result<::cronlock::__private::RunFn, ::cronlock::__private::StateRequirement> {
                #(#binds)*
                ::core::result::Result::Ok(::cronlock::__private::run_fn(move |__cronlock_ctx| {
                    #call
                }))
            }
            ::cronlock::__private::inventory::submit! {
                ::cronlock::__private::Registration {
                    name: #name,
                    spec: #spec,
                    timeout: ::core::time::Duration::from_millis(#timeout_ms),
                    options: ::cronlock::__private::JobOptions::DEFAULT #(#options)*,
                    file: ::core::file!(),
                    line: #line,
                    bind: __cronlock_bind,
                }
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    #[test]
    fn expansion_is_readable() {
        let expanded = super::scheduled(
            quote! { cron = "0 */5 * * * *", timeout = "2m", retries = 3, backoff = "10s" },
            quote! { async fn refresh(ctx: JobContext) {} },
        );
        let expected = quote! {
            async fn refresh(ctx: JobContext) {}
            const _: () = {
                fn __cronlock_bind(
                    __cronlock_states: &::cronlock::__private::StateMap,
                ) -> ::core::result::Result<::cronlock::__private::RunFn, ::cronlock::__private::StateRequirement> {
                    let __cronlock_arg0 = <JobContext as ::cronlock::__private::JobParam>::bind(__cronlock_states)?;
                    ::core::result::Result::Ok(::cronlock::__private::run_fn(move |__cronlock_ctx| {
                        ::cronlock::__private::box_job(refresh(<JobContext as ::cronlock::__private::JobParam>::extract(&__cronlock_arg0, &__cronlock_ctx)))
                    }))
                }
                ::cronlock::__private::inventory::submit! {
                    ::cronlock::__private::Registration {
                        name: "refresh",
                        spec: "0 */5 * * * *",
                        timeout: ::core::time::Duration::from_millis(120000u64),
                        options: ::cronlock::__private::JobOptions::DEFAULT .retries(3u32) .backoff(::core::time::Duration::from_millis(10000u64)),
                        file: ::core::file!(),
                        line: ::core::line!(),
                        bind: __cronlock_bind,
                    }
                }
            };
        };
        assert_eq!(expanded.to_string(), expected.to_string());
    }

    #[test]
    fn on_error_the_fn_is_emitted_without_a_registration() {
        let expanded = super::scheduled(
            quote! { cron = "0 0 25 * * *", timeout = "2m" },
            quote! { async fn job() {} },
        )
        .to_string();
        assert!(expanded.starts_with("async fn job () { }"), "{expanded}");
        assert!(expanded.contains("compile_error !"), "{expanded}");
        assert!(!expanded.contains("Registration"), "{expanded}");
    }
}
