//! Parsing `#[scheduled(...)]` arguments into a typed, validated configuration.

use std::time::Duration;

use cronlock_spec::{ParsedSpec, SpecError};
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned as _;
use syn::{Expr, ExprLit, Lit, LitStr, MetaNameValue, Token};

use crate::errors::Errors;

pub(crate) const KEYS: [&str; 14] = [
    "cron",
    "timeout",
    "name",
    "tz",
    "lock_ttl",
    "overlap",
    "retries",
    "backoff",
    "catch_up",
    "catch_up_window",
    "enabled",
    "jitter",
    "history_len",
    "pause_after_failures",
];

/// A value with the span of the user's literal, so errors point at it.
pub(crate) struct Spanned<T> {
    pub(crate) value: T,
    pub(crate) span: Span,
}

/// The attribute's keys, each recorded once with the span of its value.
#[derive(Default)]
pub(crate) struct JobAttr {
    pub(crate) cron: Option<Spanned<String>>,
    pub(crate) timeout: Option<Spanned<Duration>>,
    pub(crate) name: Option<Spanned<String>>,
    tz: Option<Spanned<String>>,
    lock_ttl: Option<Spanned<Duration>>,
    retries: Option<Spanned<u32>>,
    backoff: Option<Spanned<Duration>>,
    catch_up_skip: bool,
    catch_up_window: Option<Spanned<Duration>>,
    /// The option keys given, each as the `JobOptions` setter call it
    /// becomes (`.retries(3u32)`), in the order written.
    pub(crate) options: Vec<TokenStream>,
    /// The parsed spec, kept for cross-key checks.
    parsed: Option<ParsedSpec>,
    /// Keys seen so far, for duplicates.
    seen: Vec<String>,
}

impl JobAttr {
    /// Parses and validates every key, collecting all errors.
    pub(crate) fn parse(args: TokenStream, errors: &mut Errors) -> JobAttr {
        let mut attr = JobAttr::default();
        let pairs = match Punctuated::<MetaNameValue, Token![,]>::parse_terminated.parse2(args) {
            Ok(pairs) => pairs,
            Err(err) => {
                errors.push(syn::Error::new(
                    err.span(),
                    format!("{err}: #[scheduled] takes `key = value` pairs, such as #[scheduled(cron = \"0 */5 * * * *\", timeout = \"2m\")]"),
                ));
                return attr;
            }
        };
        for pair in &pairs {
            attr.set(pair, errors);
        }
        attr.check_together(errors);
        attr
    }

    fn set(&mut self, pair: &MetaNameValue, errors: &mut Errors) {
        let Some(key) = pair.path.get_ident() else {
            errors.push(syn::Error::new_spanned(
                &pair.path,
                "expected a key such as `cron` or `timeout`",
            ));
            return;
        };
        let key_name = key.to_string();
        if !KEYS.contains(&key_name.as_str()) {
            let mut message = format!("unknown key `{key_name}`");
            if let Some(close) = cronlock_spec::closest_word(&key_name, &KEYS) {
                message.push_str(&format!(": did you mean `{close}`?"));
                // The misspelt key is that key: do not also report it missing.
                if let Some(known) = KEYS.iter().find(|known| **known == close) {
                    errors.mark_key(known);
                }
            }
            message.push_str(&format!("\nvalid keys are {}", KEYS.join(", ")));
            errors.push(syn::Error::new(key.span(), message));
            return;
        }
        if self.seen.contains(&key_name) {
            errors.push(syn::Error::new(
                key.span(),
                format!("duplicate key `{key_name}`: each key may be given once"),
            ));
            return;
        }
        self.seen.push(key_name.clone());
        let value = &pair.value;
        let result = match key_name.as_str() {
            "cron" => {
                string(value, "cron", "\"0 */5 * * * *\"").and_then(|lit| self.set_cron(&lit))
            }
            "timeout" => string(value, "timeout", "\"2m\"").and_then(|lit| {
                let duration = duration(&lit, "timeout")?;
                cronlock_spec::check_timeout(duration)
                    .map_err(|message| syn::Error::new(lit.span(), message))?;
                self.timeout = Some(Spanned {
                    value: duration,
                    span: lit.span(),
                });
                Ok(())
            }),
            "name" => string(value, "name", "\"refresh_cache\"").and_then(|lit| {
                self.name = Some(Spanned {
                    value: job_name(&lit)?,
                    span: lit.span(),
                });
                Ok(())
            }),
            "tz" => string(value, "tz", "\"Europe/Berlin\"").and_then(|lit| {
                let zone = cronlock_spec::parse_time_zone(&lit.value())
                    .map_err(|err| spec_error(&err, lit.span(), "tz"))?;
                let index = cronlock_spec::zone_index(zone);
                self.option(quote_spanned! {lit.span()=> .tz(::cronlock::__private::zone(#index)) });
                self.tz = Some(Spanned {
                    value: lit.value(),
                    span: lit.span(),
                });
                Ok(())
            }),
            "lock_ttl" => string(value, "lock_ttl", "\"5m\"").and_then(|lit| {
                let ttl = duration(&lit, "lock_ttl")?;
                self.option(duration_setter("lock_ttl", ttl, lit.span()));
                self.lock_ttl = Some(Spanned {
                    value: ttl,
                    span: lit.span(),
                });
                Ok(())
            }),
            "overlap" => string(value, "overlap", "\"skip\"").and_then(|lit| {
                let variant = match one_of(&lit, "overlap", &["skip", "allow", "buffer_one", "replace"])?.as_str()
                {
                    "allow" => quote! { Allow },
                    "buffer_one" => quote! { BufferOne },
                    "replace" => quote! { Replace },
                    _ => quote! { Skip },
                };
                self.option(quote_spanned! {lit.span()=> .overlap(::cronlock::__private::Overlap::#variant) });
                Ok(())
            }),
            "catch_up" => string(value, "catch_up", "\"latest\"").and_then(|lit| {
                let variant = match one_of(&lit, "catch_up", &["latest", "all", "skip"])?.as_str() {
                    "skip" => {
                        self.catch_up_skip = true;
                        quote! { Skip }
                    }
                    "all" => quote! { All },
                    _ => quote! { Latest },
                };
                self.option(quote_spanned! {lit.span()=> .catch_up(::cronlock::__private::CatchUp::#variant) });
                Ok(())
            }),
            "backoff" => string(value, "backoff", "\"10s\"").and_then(|lit| {
                let backoff = duration(&lit, "backoff")?;
                cronlock_spec::check_backoff(backoff)
                    .map_err(|message| syn::Error::new(lit.span(), message))?;
                self.option(duration_setter("backoff", backoff, lit.span()));
                self.backoff = Some(Spanned {
                    value: backoff,
                    span: lit.span(),
                });
                Ok(())
            }),
            "jitter" => string(value, "jitter", "\"30s\"").and_then(|lit| {
                let jitter = duration(&lit, "jitter")?;
                cronlock_spec::check_jitter(jitter)
                    .map_err(|message| syn::Error::new(lit.span(), message))?;
                self.option(duration_setter("jitter", jitter, lit.span()));
                Ok(())
            }),
            "catch_up_window" => string(value, "catch_up_window", "\"1h\"").and_then(|lit| {
                let window = duration(&lit, "catch_up_window")?;
                self.option(duration_setter("catch_up_window", window, lit.span()));
                self.catch_up_window = Some(Spanned {
                    value: window,
                    span: lit.span(),
                });
                Ok(())
            }),
            "retries" => whole_number(value, "retries", 3, cronlock_spec::check_retries).map(
                |(retries, span)| {
                    self.option(quote_spanned! {span=> .retries(#retries) });
                    self.retries = Some(Spanned {
                        value: retries,
                        span,
                    });
                },
            ),
            "history_len" => {
                whole_number(value, "history_len", 50, cronlock_spec::check_history_len).map(
                    |(runs, span)| self.option(quote_spanned! {span=> .history_len(#runs) }),
                )
            }
            "pause_after_failures" => whole_number(
                value,
                "pause_after_failures",
                5,
                cronlock_spec::check_pause_after_failures,
            )
            .map(|(failures, span)| {
                self.option(quote_spanned! {span=> .pause_after_failures(#failures) });
            }),
            "enabled" => match literal(value) {
                Some(Lit::Bool(flag)) => {
                    let enabled = flag.value;
                    self.option(quote_spanned! {flag.span()=> .enabled(#enabled) });
                    Ok(())
                }
                _ => Err(syn::Error::new(
                    value.span(),
                    "`enabled` expects `true` or `false`, without quotes",
                )),
            },
            _ => Ok(()),
        };
        if let Err(err) = result {
            if let Some(known) = KEYS.iter().find(|known| **known == key_name) {
                errors.mark_key(known);
            }
            errors.push(err);
        }
    }

    fn option(&mut self, setter: TokenStream) {
        self.options.push(setter);
    }

    fn set_cron(&mut self, lit: &LitStr) -> syn::Result<()> {
        let spec = lit.value();
        let parsed =
            cronlock_spec::parse_spec(&spec).map_err(|err| spec_error(&err, lit.span(), "cron"))?;
        self.parsed = Some(parsed);
        self.cron = Some(Spanned {
            value: spec,
            span: lit.span(),
        });
        Ok(())
    }

    /// Checks that involve more than one key.
    fn check_together(&self, errors: &mut Errors) {
        let call_site = Span::call_site();
        if self.cron.is_none() && !errors.has_key_error("cron") {
            errors.push(syn::Error::new(call_site, "missing `cron` key: add cron = \"<second minute hour day-of-month month day-of-week>\", such as cron = \"0 */5 * * * *\""));
        }
        if self.timeout.is_none() && !errors.has_key_error("timeout") {
            errors.push(syn::Error::new(
                call_site,
                "missing `timeout` key: every run needs a limit, such as timeout = \"2m\"",
            ));
        }
        if let Some(ttl) = &self.lock_ttl
            && let Err(message) = cronlock_spec::check_lock_ttl(
                ttl.value,
                self.timeout.as_ref().map_or(Duration::ZERO, |t| t.value),
            )
        {
            errors.push(syn::Error::new(ttl.span, message));
        }
        if let (Some(backoff), None | Some(Spanned { value: 0, .. })) =
            (&self.backoff, &self.retries)
        {
            errors.push(syn::Error::new(
                backoff.span,
                "backoff has no effect without retries: add retries = N, or remove backoff",
            ));
        }
        if let Some(window) = &self.catch_up_window
            && let Err(message) =
                cronlock_spec::check_catch_up_window(window.value, self.catch_up_skip)
        {
            errors.push(syn::Error::new(window.span, message));
        }
        if let (
            Some(tz),
            Some(ParsedSpec {
                tz: Some(prefix), ..
            }),
        ) = (&self.tz, &self.parsed)
            && prefix.name() != tz.value
        {
            errors.push(syn::Error::new(
                tz.span,
                format!(
                    "tz \"{}\" conflicts with the spec's CRON_TZ={} prefix: keep one of them",
                    tz.value,
                    prefix.name()
                ),
            ));
        }
    }
}

fn literal(value: &Expr) -> Option<&Lit> {
    match value {
        Expr::Lit(ExprLit { lit, .. }) => Some(lit),
        _ => None,
    }
}

fn string(value: &Expr, key: &str, example: &str) -> syn::Result<LitStr> {
    match literal(value) {
        Some(Lit::Str(lit)) => Ok(lit.clone()),
        _ => Err(syn::Error::new(
            value.span(),
            format!("`{key}` expects a string literal, such as {key} = {example}"),
        )),
    }
}

fn duration(lit: &LitStr, key: &str) -> syn::Result<Duration> {
    cronlock_spec::parse_duration(&lit.value()).map_err(|err| spec_error(&err, lit.span(), key))
}

/// A `JobOptions` setter taking a duration, in whole milliseconds.
fn duration_setter(setter: &str, duration: Duration, span: Span) -> TokenStream {
    let setter = syn::Ident::new(setter, span);
    let millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    quote_spanned! {span=> .#setter(::core::time::Duration::from_millis(#millis)) }
}

fn one_of(lit: &LitStr, key: &str, allowed: &[&str]) -> syn::Result<String> {
    let value = lit.value();
    if allowed.contains(&value.as_str()) {
        Ok(value)
    } else {
        let quoted: Vec<String> = allowed.iter().map(|v| format!("\"{v}\"")).collect();
        // "a" or "b"; "a", "b" or "c"
        let expected = match quoted.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => quoted.concat(),
        };
        Err(syn::Error::new(
            lit.span(),
            format!("unknown {key} \"{value}\": expected {expected}"),
        ))
    }
}

fn job_name(lit: &LitStr) -> syn::Result<String> {
    let name = lit.value();
    if name.is_empty() {
        return Err(syn::Error::new(lit.span(), "job name must not be empty"));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '{' | '}'))
    {
        return Err(syn::Error::new(
            lit.span(),
            format!(
                "job name {name:?} contains {bad:?}: names are lock keys, so white space, control characters and braces are not allowed"
            ),
        ));
    }
    Ok(name)
}

/// A spec, duration or zone error as a compile error: message, the value with
/// a caret under the mistake, and the hint.
pub(crate) fn spec_error(err: &SpecError, span: Span, key: &str) -> syn::Error {
    let mut message = format!("{}\n\n  {key} = \"{}\"\n", err.message(), err.input());
    let caret = err.caret();
    let caret_line = caret.lines().nth(1).unwrap_or("^");
    message.push_str(&format!("  {}{caret_line}", " ".repeat(key.len() + 4)));
    if let Some(hint) = err.hint() {
        message.push_str(&format!("\n\nhint: {hint}"));
    }
    syn::Error::new(span, message)
}

/// A key whose value is a whole number, checked by `check`: the number and
/// the span of its literal.
fn whole_number(
    value: &Expr,
    key: &str,
    example: u32,
    check: fn(u32) -> Result<(), String>,
) -> syn::Result<(u32, Span)> {
    let Some(Lit::Int(int)) = literal(value) else {
        return Err(syn::Error::new(
            value.span(),
            format!("`{key}` expects a whole number, such as `{key} = {example}`"),
        ));
    };
    let number = int.base10_parse::<u32>().unwrap_or(u32::MAX);
    check(number).map_err(|message| syn::Error::new(int.span(), message))?;
    Ok((number, int.span()))
}
