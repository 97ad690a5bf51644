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
    let tz = match &attr.tz {
        Some(tz) => {
            let tz = &tz.value;
            quote! { ::core::option::Option::Some(#tz) }
        }
        None => quote! { ::core::option::Option::None },
    };
    let millis = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let timeout_ms = attr.timeout.as_ref().map_or(0, |t| millis(t.value));
    let lock_ttl_ms = match &attr.lock_ttl {
        Some(ttl) => {
            let ttl = millis(ttl.value);
            quote! { ::core::option::Option::Some(#ttl) }
        }
        None => quote! { ::core::option::Option::None },
    };
    let overlap = match attr.overlap.as_ref().map(|o| o.value.as_str()) {
        Some("allow") => quote! { ::cronlock::__private::Overlap::Allow },
        _ => quote! { ::cronlock::__private::Overlap::Skip },
    };
    let catch_up = match attr.catch_up.as_ref().map(|c| c.value.as_str()) {
        Some("skip") => quote! { ::cronlock::__private::CatchUp::Skip },
        _ => quote! { ::cronlock::__private::CatchUp::Latest },
    };
    let retries = attr.retries.as_ref().map_or(0, |r| r.value);
    let backoff_ms = attr.backoff.as_ref().map_or(1_000, |b| millis(b.value));
    let enabled = attr.enabled.as_ref().is_none_or(|e| e.value);

    let args: Vec<_> = (0..params.len())
        .map(|i| format_ident!("__cronlock_arg{i}"))
        .collect();
    let tys: Vec<_> = params.iter().map(|p| &p.ty).collect();
    let extracts = args.iter().zip(&tys).map(|(arg, ty)| {
        quote_spanned! {ty.span()=>
            let #arg = <#ty as ::cronlock::__private::JobParam>::extract(&__cronlock_ctx, __cronlock_states)?;
        }
    });
    let output_span = match &function.sig.output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => ident.span(),
    };
    let call = quote_spanned! {output_span=>
        ::cronlock::__private::box_job(#ident(#(#args),*))
    };
    let line = quote_spanned! {ident.span()=> ::core::line!() };

    quote! {
        const _: () = {
            fn __cronlock_run(
                __cronlock_ctx: ::cronlock::__private::JobContext,
                __cronlock_states: &::cronlock::__private::StateMap,
            ) -> ::core::option::Option<::cronlock::__private::JobFuture> {
                #(#extracts)*
                ::core::option::Option::Some(#call)
            }
            fn __cronlock_requirements() -> ::std::vec::Vec<::cronlock::__private::StateRequirement> {
                let requirements: ::std::vec::Vec<::core::option::Option<::cronlock::__private::StateRequirement>> =
                    ::std::vec![#(<#tys as ::cronlock::__private::JobParam>::requirement()),*];
                requirements.into_iter().flatten().collect()
            }
            ::cronlock::__private::inventory::submit! {
                ::cronlock::__private::Registration {
                    name: #name,
                    spec: #spec,
                    tz: #tz,
                    timeout_ms: #timeout_ms,
                    lock_ttl_ms: #lock_ttl_ms,
                    overlap: #overlap,
                    catch_up: #catch_up,
                    retries: #retries,
                    backoff_ms: #backoff_ms,
                    enabled: #enabled,
                    file: ::core::file!(),
                    line: #line,
                    requirements: __cronlock_requirements,
                    run: __cronlock_run,
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
            quote! { cron = "0 */5 * * * *", timeout = "2m" },
            quote! { async fn refresh(ctx: JobContext) {} },
        );
        let expected = quote! {
            async fn refresh(ctx: JobContext) {}
            const _: () = {
                fn __cronlock_run(
                    __cronlock_ctx: ::cronlock::__private::JobContext,
                    __cronlock_states: &::cronlock::__private::StateMap,
                ) -> ::core::option::Option<::cronlock::__private::JobFuture> {
                    let __cronlock_arg0 = <JobContext as ::cronlock::__private::JobParam>::extract(&__cronlock_ctx, __cronlock_states)?;
                    ::core::option::Option::Some(::cronlock::__private::box_job(refresh(__cronlock_arg0)))
                }
                fn __cronlock_requirements() -> ::std::vec::Vec<::cronlock::__private::StateRequirement> {
                    let requirements: ::std::vec::Vec<::core::option::Option<::cronlock::__private::StateRequirement>> =
                        ::std::vec![<JobContext as ::cronlock::__private::JobParam>::requirement()];
                    requirements.into_iter().flatten().collect()
                }
                ::cronlock::__private::inventory::submit! {
                    ::cronlock::__private::Registration {
                        name: "refresh",
                        spec: "0 */5 * * * *",
                        tz: ::core::option::Option::None,
                        timeout_ms: 120000u64,
                        lock_ttl_ms: ::core::option::Option::None,
                        overlap: ::cronlock::__private::Overlap::Skip,
                        catch_up: ::cronlock::__private::CatchUp::Latest,
                        retries: 0u32,
                        backoff_ms: 1000u64,
                        enabled: true,
                        file: ::core::file!(),
                        line: ::core::line!(),
                        requirements: __cronlock_requirements,
                        run: __cronlock_run,
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
