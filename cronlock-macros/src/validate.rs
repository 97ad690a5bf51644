//! Checks on the annotated fn: async, no generics or `self`, parameters that
//! the runtime can supply, and a return type it can read.

use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, ItemFn, PathArguments, ReturnType, Type};

use crate::errors::Errors;

/// A parameter the runtime supplies.
pub(crate) struct Param {
    pub(crate) ty: Type,
}

pub(crate) fn check_fn(item: &ItemFn, errors: &mut Errors) -> Vec<Param> {
    let sig = &item.sig;
    if sig.asyncness.is_none() {
        errors.push(syn::Error::new(
            sig.fn_token.span,
            "#[scheduled] fn must be async: write `async fn`",
        ));
    }
    if let Some(constness) = &sig.constness {
        errors.push(syn::Error::new(
            constness.span,
            "#[scheduled] fn cannot be const",
        ));
    }
    if let Some(unsafety) = &sig.unsafety {
        errors.push(syn::Error::new(
            unsafety.span,
            "#[scheduled] fn cannot be unsafe",
        ));
    }
    if let Some(abi) = &sig.abi {
        errors.push(syn::Error::new_spanned(
            abi,
            "#[scheduled] fn cannot have an extern ABI",
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.push(syn::Error::new_spanned(
            &sig.generics,
            "#[scheduled] fn cannot be generic: the scheduler calls it with no type arguments\nhint: take shared values as State<T> parameters instead",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        errors.push(syn::Error::new_spanned(
            variadic,
            "#[scheduled] fn cannot be variadic",
        ));
    }

    let mut params = Vec::new();
    let mut context_seen = false;
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(receiver) => errors.push(syn::Error::new_spanned(
                receiver,
                "#[scheduled] fn cannot take `self`: jobs are free functions\nhint: register the value with .state(..) and take it as a State<T> parameter",
            )),
            FnArg::Typed(typed) => match classify(&typed.ty) {
                Ok(ParamKind::Context) if context_seen => errors.push(syn::Error::new_spanned(
                    &typed.ty,
                    "JobContext is taken twice: one JobContext parameter is enough (it is cheap to clone)",
                )),
                Ok(kind) => {
                    context_seen |= kind == ParamKind::Context;
                    params.push(Param { ty: (*typed.ty).clone() });
                }
                Err(err) => errors.push(err),
            },
        }
    }

    check_return(&sig.output, errors);
    params
}

#[derive(PartialEq, Eq)]
enum ParamKind {
    Context,
    State,
}

fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(path) if path.qself.is_none() => path.path.segments.last(),
        _ => None,
    }
}

fn classify(ty: &Type) -> syn::Result<ParamKind> {
    let unsupported = |detail: &str| {
        syn::Error::new_spanned(
            ty,
            format!(
                "unsupported parameter type: a #[scheduled] fn takes JobContext and State<T> parameters{detail}"
            ),
        )
    };
    if let Type::Reference(reference) = ty
        && last_segment(&reference.elem)
            .is_some_and(|s| s.ident == "JobContext" || s.ident == "State")
    {
        return Err(unsupported(
            "\nhint: take it by value; JobContext and State<T> are cheap to clone",
        ));
    }
    let Some(segment) = last_segment(ty) else {
        return Err(unsupported(""));
    };
    if segment.ident == "JobContext" && segment.arguments.is_empty() {
        return Ok(ParamKind::Context);
    }
    if segment.ident == "State" {
        if let PathArguments::AngleBracketed(args) = &segment.arguments
            && args.args.len() == 1
            && matches!(args.args.first(), Some(GenericArgument::Type(_)))
        {
            return Ok(ParamKind::State);
        }
        return Err(unsupported(
            "\nhint: State takes one type, such as State<Db>",
        ));
    }
    Err(unsupported(
        "\nhint: to inject a value, register it with Scheduler::builder().state(value) and take State<YourType>",
    ))
}

fn check_return(output: &ReturnType, errors: &mut Errors) {
    let ReturnType::Type(_, ty) = output else {
        return;
    };
    let ok = match &**ty {
        Type::Tuple(tuple) => tuple.elems.is_empty(),
        other => last_segment(other).is_some_and(|s| s.ident == "Result"),
    };
    if ok {
        return;
    }
    let detail = if matches!(**ty, Type::ImplTrait(_)) {
        "\nhint: `impl Trait` cannot be checked here; return Result<(), E> with a concrete E"
    } else {
        ""
    };
    errors.push(syn::Error::new(
        ty.span(),
        format!("a #[scheduled] fn returns () or Result<(), E> where E: Display{detail}"),
    ));
}
