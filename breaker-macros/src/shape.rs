//! Which shape of function the attribute is on, and the type its calls
//! produce.
//!
//! Four shapes run a call in three ways:
//!
//! - `fn f() -> Result<T, E>`: the call runs in the function.
//! - `async fn f() -> Result<T, E>`, and a method of an `#[async_trait]`
//!   impl: the call runs in the future, which asks for its permit when it
//!   is first polled. `async_trait` expands before the attribute on its
//!   methods, and hands over `fn f(..) -> Pin<Box<dyn Future<Output = R> +
//!   Send + 'async_trait>> { Box::pin(async move { .. }) }`: the attribute
//!   protects the inner `async move` block, as tracing-attributes'
//!   `#[instrument]` does.
//! - `fn f() -> impl Future<Output = Result<T, E>>`, `fn f() ->
//!   Pin<Box<dyn Future<Output = Result<T, E>>>>`: a function that builds
//!   its future itself, maybe from borrowed arguments it does not keep. The
//!   breaker decides when the function is called, as a tower service's
//!   `call` does: the body runs only for an admitted call, and the future
//!   it returns holds the permit.

use proc_macro2::{Group, TokenStream};
use quote::ToTokens;
use syn::{
    Attribute, Expr, GenericArgument, PathArguments, ReturnType, Signature, Stmt, Type,
    TypeParamBound,
};

pub(crate) enum Shape {
    Sync,
    Async,
    /// A method as `#[async_trait]` rewrote it.
    AsyncTrait {
        /// `Box::pin`, as `async_trait` wrote it.
        box_pin: TokenStream,
        /// The attributes of the `async move` block.
        attrs: Vec<Attribute>,
        /// The `async move` block's body, `{ .. }`.
        block: TokenStream,
    },
    /// A function that returns a future it builds itself.
    Future {
        /// `Pin<Box<dyn Future<..>>>`, rather than `impl Future<..>`.
        boxed: bool,
    },
}

impl Shape {
    /// The shape of a function with signature `sig` and body `body`.
    pub(crate) fn of(sig: &Signature, body: &Group) -> Shape {
        if sig.asyncness.is_some() {
            return Shape::Async;
        }
        let ReturnType::Type(_, ty) = &sig.output else {
            return Shape::Sync;
        };
        match future_output(ty) {
            Some(Output::Boxed {
                async_trait: true, ..
            }) => async_trait_body(body).unwrap_or(Shape::Future { boxed: true }),
            Some(Output::Boxed { .. }) => Shape::Future { boxed: true },
            Some(Output::Impl(_)) => Shape::Future { boxed: false },
            None => Shape::Sync,
        }
    }

    /// Whether the call runs in a future, where a `call_timeout` can bound
    /// it.
    pub(crate) fn is_async(&self) -> bool {
        !matches!(self, Shape::Sync)
    }

    /// The type a call produces, which must be a `Result`: the return
    /// type, or the `Output` of the future returned. `None` for a
    /// function without a return type.
    pub(crate) fn result_type<'a>(&self, sig: &'a Signature) -> Option<&'a Type> {
        let ReturnType::Type(_, ty) = &sig.output else {
            return None;
        };
        match self {
            Shape::Sync | Shape::Async => Some(ty),
            Shape::AsyncTrait { .. } | Shape::Future { .. } => match future_output(ty) {
                Some(Output::Impl(output) | Output::Boxed { output, .. }) => Some(output),
                None => Some(ty),
            },
        }
    }
}

/// A future's `Output`, as a return type names it.
enum Output<'a> {
    /// `impl Future<Output = R> + ..`.
    Impl(&'a Type),
    /// `Pin<Box<dyn Future<Output = R> + ..>>`; with `async_trait`'s
    /// lifetime `'async_trait` among the bounds, as that macro writes it.
    Boxed { output: &'a Type, async_trait: bool },
}

fn future_output(ty: &Type) -> Option<Output<'_>> {
    match ty {
        Type::Paren(inner) => future_output(&inner.elem),
        Type::Group(inner) => future_output(&inner.elem),
        Type::ImplTrait(bounds) => bounds_output(bounds.bounds.iter()).map(Output::Impl),
        Type::Path(_) => {
            let boxed = only_type_argument(ty, "Pin")?;
            let Type::TraitObject(object) = only_type_argument(boxed, "Box")? else {
                return None;
            };
            let output = bounds_output(object.bounds.iter())?;
            let async_trait = object.bounds.iter().any(|bound| {
                matches!(bound, TypeParamBound::Lifetime(lifetime) if lifetime.ident == "async_trait")
            });
            Some(Output::Boxed {
                output,
                async_trait,
            })
        }
        _ => None,
    }
}

/// `R` of the `Future<Output = R>` among `bounds`.
fn bounds_output<'a>(bounds: impl Iterator<Item = &'a TypeParamBound>) -> Option<&'a Type> {
    bounds.into_iter().find_map(|bound| {
        let TypeParamBound::Trait(bound) = bound else {
            return None;
        };
        let last = bound.path.segments.last()?;
        if last.ident != "Future" {
            return None;
        }
        let PathArguments::AngleBracketed(arguments) = &last.arguments else {
            return None;
        };
        arguments.args.iter().find_map(|argument| match argument {
            GenericArgument::AssocType(assoc) if assoc.ident == "Output" => Some(&assoc.ty),
            _ => None,
        })
    })
}

/// `T` of `ty` = `..::name<T>`.
fn only_type_argument<'a>(ty: &'a Type, name: &str) -> Option<&'a Type> {
    let Type::Path(path) = ty else {
        return None;
    };
    if path.qself.is_some() {
        return None;
    }
    let last = path.path.segments.last()?;
    if last.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(arguments) = &last.arguments else {
        return None;
    };
    let mut types = arguments.args.iter();
    match (types.next(), types.next()) {
        (Some(GenericArgument::Type(ty)), None) => Some(ty),
        _ => None,
    }
}

/// The body `async_trait` writes for a method: `{ Box::pin(async move {
/// .. }) }`, and nothing else.
fn async_trait_body(body: &Group) -> Option<Shape> {
    let block: syn::Block = syn::parse2(body.to_token_stream()).ok()?;
    let [Stmt::Expr(Expr::Call(call), None)] = block.stmts.as_slice() else {
        return None;
    };
    let Expr::Path(callee) = &*call.func else {
        return None;
    };
    let segments = &callee.path.segments;
    let mut names = segments.iter().rev().map(|segment| &segment.ident);
    if !(names.next()? == "pin" && names.next()? == "Box") || call.args.len() != 1 {
        return None;
    }
    let Expr::Async(future) = &call.args[0] else {
        return None;
    };
    future.capture?;
    Some(Shape::AsyncTrait {
        box_pin: callee.to_token_stream(),
        attrs: future.attrs.clone(),
        block: future.block.to_token_stream(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn shape_of(item: TokenStream) -> Shape {
        let item: syn::ItemFn = syn::parse2(item).expect("a function");
        let body = Group::new(
            proc_macro2::Delimiter::Brace,
            item.block
                .stmts
                .iter()
                .map(ToTokens::to_token_stream)
                .collect(),
        );
        Shape::of(&item.sig, &body)
    }

    fn result_type(item: TokenStream) -> String {
        let item: syn::ItemFn = syn::parse2(item).expect("a function");
        let body = Group::new(proc_macro2::Delimiter::Brace, TokenStream::new());
        let shape = Shape::of(&item.sig, &body);
        let ty = shape.result_type(&item.sig).expect("a return type");
        ty.to_token_stream().to_string()
    }

    #[test]
    fn async_trait_method_is_recognised_by_its_body_and_lifetime() {
        let shape = shape_of(quote! {
            fn get<'life0, 'async_trait>(&'life0 self) -> ::core::pin::Pin<Box<
                dyn ::core::future::Future<Output = Result<u8, E>> + ::core::marker::Send + 'async_trait
            >> {
                Box::pin(async move { Ok(1) })
            }
        });
        match shape {
            Shape::AsyncTrait { box_pin, block, .. } => {
                assert_eq!(box_pin.to_string(), "Box :: pin");
                assert_eq!(block.to_string(), "{ Ok (1) }");
            }
            _ => panic!("expected the async_trait shape"),
        }
    }

    #[test]
    fn boxed_future_written_by_hand_is_a_future_shape() {
        let shape = shape_of(quote! {
            fn get(&self) -> Pin<Box<dyn Future<Output = Result<u8, E>> + Send + '_>> {
                Box::pin(async move { Ok(1) })
            }
        });
        assert!(matches!(shape, Shape::Future { boxed: true }));
    }

    #[test]
    fn async_trait_lifetime_with_another_body_is_a_future_shape() {
        let shape = shape_of(quote! {
            fn get<'async_trait>(&self) -> Pin<Box<dyn Future<Output = Result<u8, E>> + 'async_trait>> {
                let future = Box::pin(async move { Ok(1) });
                future
            }
        });
        assert!(matches!(shape, Shape::Future { boxed: true }));
    }

    #[test]
    fn impl_future_is_a_future_shape() {
        let shape = shape_of(quote! {
            fn get(&self) -> impl Future<Output = Result<u8, E>> + Send {
                async move { Ok(1) }
            }
        });
        assert!(matches!(shape, Shape::Future { boxed: false }));
    }

    #[test]
    fn impl_trait_other_than_a_future_is_left_sync() {
        let shape = shape_of(quote! {
            fn get(&self) -> impl Iterator<Item = u8> {
                None.into_iter()
            }
        });
        assert!(matches!(shape, Shape::Sync));
    }

    #[test]
    fn result_type_is_the_futures_output() {
        assert_eq!(
            result_type(quote!(
                fn f() -> impl std::future::Future<Output = Result<u8, E>> + Send {}
            )),
            "Result < u8 , E >"
        );
        assert_eq!(
            result_type(quote!(
                fn f() -> Pin<Box<dyn Future<Output = io::Result<u8>> + Send + 'static>> {}
            )),
            "io :: Result < u8 >"
        );
        assert_eq!(
            result_type(quote!(
                async fn f() -> Result<u8, E> {}
            )),
            "Result < u8 , E >"
        );
    }
}
