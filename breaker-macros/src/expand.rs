//! Code generation: the annotated function rebuilt around its breaker.
//!
//! The signature is kept as written (visibility, attributes, generics,
//! where clause, `unsafe`, `async`); only the body changes. It runs under
//! a permit: as a closure (sync), an `async move` block (async, and the
//! block inside an `async_trait` method's `Box::pin`), or a closure that
//! builds the returned future (a function returning a future it builds;
//! see [`crate::shape`]):
//!
//! ```text
//! fn load(id: u64) -> Result<User, DbError> {
//!     static __BREAKER_SITE: Site = Site::new();
//!     fn __breaker_config() -> Config { Config::default().max_failures(5) }
//!     // Its type name is this function's path: the default name.
//!     fn __breaker_path() -> &'static str { type_name_of_val(&__breaker_path) }
//!     assert_result::<Result<User, DbError>>();
//!     // Where the breaker is used, and whether a `call_timeout` can be
//!     // enforced here (never in a sync fn; in an async fn, when the
//!     // error type has `From<TimedOut>`: asked by autoref specialization).
//!     let __breaker = __BREAKER_SITE.get(Some("db"), __breaker_config, At::new(__breaker_path, Some(SyncFn)));
//!     let __permit = match acquire(__breaker) {
//!         Ok(permit) => permit,
//!         Err(rejected) => return rejected(rejected),  // or the fallback
//!     };
//!     complete_sync::<Result<User, DbError>, _, _>(__permit, classify, move || { body })
//! }
//!
//! fn fetch(&self) -> impl Future<Output = Result<User, DbError>> {
//!     /* the same items, `assert_result` and `__breaker` */
//!     let __decided = match acquire(__breaker) {
//!         Ok(permit) => Decided::Admitted(complete(permit, classify, run_body(move || { body }))),
//!         Err(rejected) => Decided::Refused(rejected_future(rejected)),  // or the fallback's
//!     };
//!     __decided.run()
//! }
//! ```
//!
//! Generated locals use `Span::mixed_site()` so the body can neither see nor
//! shadow them. Code that involves the user's types carries the user's
//! spans, so a type error points at what the user wrote: the return type
//! for a non-`Result` or an error type without `From<Rejected>`, the
//! fallback path for a fallback that does not fit, the key for a setter.

use proc_macro2::{Delimiter, Group, Ident, Literal, Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Attribute, FnArg, Item, Pat, PatIdent, ReturnType, Signature, Token, Type, Visibility};

use crate::args::{Args, Value};
use crate::shape::Shape;

/// A function as the attribute receives it. The body is kept as raw tokens,
/// as tracing-attributes does: a syntax error inside it is then reported by
/// rustc alone, and the breaker is still generated around it, so the rest
/// of the user's crate type-checks as usual while they are typing.
pub(crate) struct FnItem {
    attrs: Vec<Attribute>,
    vis: Visibility,
    sig: Signature,
    body: Group,
}

impl Parse for FnItem {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        let sig: Signature = input.parse()?;
        if input.peek(Token![;]) {
            let semi: Token![;] = input.parse()?;
            return Err(syn::Error::new(
                semi.span,
                "`#[circuit_breaker]` needs a function with a body; in a trait, put it on the method of the impl instead",
            ));
        }
        let body: Group = input.parse()?;
        if body.delimiter() != Delimiter::Brace {
            return Err(syn::Error::new(
                body.span(),
                "expected the function body in `{ ... }`",
            ));
        }
        if !input.is_empty() {
            return Err(input.error("unexpected tokens after the function body"));
        }
        Ok(FnItem {
            attrs,
            vis,
            sig,
            body,
        })
    }
}

/// Parses the annotated item, or explains what the attribute goes on.
pub(crate) fn parse_item(item: TokenStream) -> syn::Result<FnItem> {
    syn::parse2::<FnItem>(item.clone()).map_err(|fn_error| match syn::parse2::<Item>(item) {
        Ok(other) => not_a_function(&other).unwrap_or(fn_error),
        Err(_) => fn_error,
    })
}

/// The error for an item that is not a function; `None` for a function
/// (or an item syn keeps as tokens), whose own parse error says more.
fn not_a_function(item: &Item) -> Option<syn::Error> {
    let (what, span) = match item {
        Item::Struct(s) => ("a struct", s.struct_token.span),
        Item::Enum(e) => ("an enum", e.enum_token.span),
        Item::Union(u) => ("a union", u.union_token.span),
        Item::Trait(t) => ("a trait", t.trait_token.span),
        Item::Impl(i) => {
            return Some(syn::Error::new(
                i.impl_token.span,
                "`#[circuit_breaker]` goes on a function, not on an impl block; put it on the methods inside",
            ))
        }
        Item::Mod(m) => ("a module", m.mod_token.span),
        Item::Const(c) => ("a constant", c.const_token.span),
        Item::Static(s) => ("a static", s.static_token.span),
        Item::Type(t) => ("a type alias", t.type_token.span),
        Item::Use(u) => ("a `use` declaration", u.use_token.span),
        Item::ForeignMod(f) => ("an `extern` block", f.abi.extern_token.span),
        Item::ExternCrate(e) => ("an `extern crate` declaration", e.extern_token.span),
        Item::Macro(m) => ("a macro", m.mac.path.span()),
        _ => return None,
    };
    Some(syn::Error::new(
        span,
        format!(
            "`#[circuit_breaker]` goes on a function that returns `Result<T, E>`, not on {what}"
        ),
    ))
}

/// The runtime crate's path as the user's manifest names it: `::breakerbox`,
/// or the name a renamed dependency gives it (`breaker = { package =
/// "breakerbox", .. }` makes it `::breaker`). Inside the runtime crate's own
/// package (its doctests, examples and tests are crates of their own that
/// depend on it) it is `::breakerbox` as well; the library itself declares
/// `extern crate self as breakerbox`. When the manifest cannot be read, or
/// names no such dependency (a crate that reaches the runtime through a
/// re-export should say `crate = "path"`), `::breakerbox` is the best guess,
/// and the compiler's error then names it.
fn runtime_crate() -> TokenStream {
    use proc_macro_crate::{crate_name, FoundCrate};
    match crate_name("breakerbox") {
        Ok(FoundCrate::Name(name)) => {
            let ident = syn::Ident::new(&name, proc_macro2::Span::call_site());
            quote!(::#ident)
        }
        Ok(FoundCrate::Itself) | Err(_) => quote!(::breakerbox),
    }
}

/// The function rebuilt around its breaker.
pub(crate) fn expand(args: Args, item: FnItem) -> syn::Result<TokenStream> {
    let FnItem {
        attrs,
        vis,
        mut sig,
        body,
    } = item;
    let shape = Shape::of(&sig, &body);
    check_signature(&args, &sig, &shape)?;

    let private = match &args.krate {
        Some(path) => quote!(#path::__private),
        None => {
            let root = runtime_crate();
            quote!(#root::__private)
        }
    };
    let result_type = match shape.result_type(&sig) {
        Some(ty) => ty.clone(),
        // `check_signature` refused a function without a return type.
        None => return Err(syn::Error::new(sig.ident.span(), "expected a return type")),
    };
    let declared_type = match &sig.output {
        ReturnType::Type(_, ty) => Some((**ty).clone()),
        ReturnType::Default => None,
    };
    let ret = RetCalls::new(&private, &result_type);
    let params = Params::rebind(&mut sig, args.fallback.is_some());
    let parts = Parts::new(&args, &private, &ret);

    // The block the permit guards: the function's body, or the `async
    // move` block inside an `async_trait` method's.
    let guarded = match &shape {
        Shape::AsyncTrait { block, .. } => block.clone(),
        _ => body.into_token_stream(),
    };
    let rebinds = &params.rebinds;
    let guarded = if rebinds.is_empty() {
        guarded
    } else {
        quote!({ #(#rebinds)* #guarded })
    };
    let fallback = args
        .fallback
        .as_ref()
        .map(|path| Fallback::new(path, &params.args));

    let items = parts.items();
    let run = match shape {
        Shape::Sync => parts.sync(&guarded, fallback.as_ref()),
        Shape::Async => parts.asynchronous(&guarded, fallback.as_ref()),
        Shape::AsyncTrait {
            box_pin,
            attrs: block_attrs,
            ..
        } => {
            let run = parts.asynchronous(&guarded, fallback.as_ref());
            quote!(#box_pin(#(#block_attrs)* async move { #run }))
        }
        Shape::Future { boxed } => {
            // A boxed future's body may return several types that the
            // declared `Pin<Box<dyn Future>>` unifies: the closure that
            // runs it says so too.
            let declared = declared_type.filter(|_| boxed).map(|ty| quote!(-> #ty));
            parts.future(&guarded, declared, boxed, fallback.as_ref())
        }
    };
    Ok(quote! {
        #(#attrs)*
        #vis #sig {
            #items
            #run
        }
    })
}

/// The names the generated code gives its own items and locals, at
/// `Span::mixed_site()`: the body can neither see nor shadow them.
struct Names {
    site: Ident,
    config_fn: Ident,
    marker: Ident,
    breaker: Ident,
    permit: Ident,
    rejected: Ident,
}

impl Names {
    fn new() -> Self {
        let name = |text: &str| Ident::new(text, Span::mixed_site());
        Names {
            site: name("__BREAKER_SITE"),
            config_fn: name("__breaker_config"),
            marker: name("__breaker_path"),
            breaker: name("__breaker"),
            permit: name("__permit"),
            rejected: name("__rejected"),
        }
    }
}

/// The fallback call, `fallback(args)`, its tokens located at the path's
/// last token: a fallback that does not fit is reported at its path.
struct Fallback {
    call: TokenStream,
    last: Span,
}

impl Fallback {
    fn new(path: &syn::ExprPath, args: &[Ident]) -> Self {
        let (_, last) = span_range(path.to_token_stream());
        let call_args = paren(relocate(quote!(#(#args),*), last), last);
        Fallback {
            call: quote!(#path #call_args),
            last,
        }
    }

    /// `fallback_future::<R, _, _>(fallback(args))`: the fallback's value as
    /// a future of `R`, whether it is sync or async.
    fn future(&self, private: &TokenStream, ret: &RetCalls) -> TokenStream {
        let open = relocate(quote!(::<), self.last);
        let close = relocate(quote!(, _, _>), self.last);
        // `R` keeps its own spans, for the message's `{R}`.
        let ty = match ret.nameable {
            true => ret.ty.to_token_stream(),
            false => relocate(quote!(_), self.last),
        };
        let helper = relocate(quote!(#private::fallback_future), self.last);
        let call = paren(self.call.clone(), self.last);
        quote!(#helper #open #ty #close #call)
    }
}

/// The parts of the expansion that every shape shares.
struct Parts<'a> {
    private: &'a TokenStream,
    ret: &'a RetCalls<'a>,
    names: Names,
    /// `Some("db")`, or `None` for the function's path.
    name: TokenStream,
    config: TokenStream,
    classify: TokenStream,
    /// The attribute sets `call_timeout`.
    call_timeout: bool,
}

impl<'a> Parts<'a> {
    fn new(args: &Args, private: &'a TokenStream, ret: &'a RetCalls<'a>) -> Self {
        let names = Names::new();
        let name = match &args.name {
            Some(name) => quote!(#private::Option::Some(#name)),
            None => quote!(#private::Option::None),
        };
        let mut config = quote!(#private::Config::default());
        for setting in &args.settings {
            let key = &setting.key;
            let span = setting.value_span;
            let value = match setting.value {
                Value::Off => {
                    // `max_failures = "off"`: `.without_max_failures()`.
                    let setter = format_ident!("without_{}", key, span = key.span());
                    config = quote!(#config.#setter());
                    continue;
                }
                Value::Count(n) => spanned_literal(Literal::u32_unsuffixed(n), span),
                Value::Float(x) => spanned_literal(Literal::f64_suffixed(x), span),
                Value::Duration(d) => {
                    let secs = spanned_literal(Literal::u64_unsuffixed(d.as_secs()), span);
                    let nanos = spanned_literal(Literal::u32_unsuffixed(d.subsec_nanos()), span);
                    quote_spanned!(span=> #private::Duration::new(#secs, #nanos))
                }
            };
            config = if key == "call_timeout" {
                // Through the runtime, which refuses it at the key when it
                // has no timer (no `tokio` feature).
                let setter = respan(
                    quote!(#private::call_timeout::<#private::Config>),
                    key.span(),
                );
                let arguments = paren(quote!(#config, #value), key.span());
                quote!(#setter #arguments)
            } else {
                quote!(#config.#key(#value))
            };
        }
        if let Some(store) = &args.store {
            config = quote!(#config.store(#store));
        }
        let classify = match &args.classify {
            Some(path) => {
                // Located at the path's last token, so that a classifier that
                // does not fit is reported at the path.
                let (_, last) = span_range(path.to_token_stream());
                let error = Ident::new("__error", Span::mixed_site());
                let closure = relocate(quote!(|#error| #private::Outcome::from), last);
                let arg = paren(relocate(quote!(#error), last), last);
                let call = paren(quote!(#path #arg), last);
                quote!(#closure #call)
            }
            None => quote!(#private::every_error_fails),
        };
        Parts {
            private,
            ret,
            names,
            name,
            config,
            classify,
            call_timeout: args.setting("call_timeout").is_some(),
        }
    }

    /// The site's static, the configuration's fn and the marker fn whose
    /// type name is the function's path.
    fn items(&self) -> TokenStream {
        let private = self.private;
        let Names {
            site,
            config_fn,
            marker,
            ..
        } = &self.names;
        let config = &self.config;
        quote! {
            static #site: #private::Site = #private::Site::new();
            fn #config_fn() -> #private::Config {
                #config
            }
            fn #marker() -> &'static str {
                ::core::any::type_name_of_val(&#marker)
            }
        }
    }

    /// `assert_result::<R>();`, if `R` can be named.
    fn assert_result(&self) -> Option<TokenStream> {
        self.ret.nameable.then(|| {
            let call = self.ret.call("assert_result", 0, TokenStream::new());
            quote!(#call;)
        })
    }

    /// `let __breaker = SITE.get(name, config, At::new(marker, why));`
    fn breaker(&self, no_call_timeout: &TokenStream) -> TokenStream {
        let private = self.private;
        let Names {
            site,
            config_fn,
            marker,
            breaker,
            ..
        } = &self.names;
        let name = &self.name;
        quote! {
            let #breaker = #site.get(
                #name,
                #config_fn,
                #private::At::new(#marker, #no_call_timeout).at_line(::core::line!()),
            );
        }
    }

    /// `let __permit = ..;`, returning the rejection (or the fallback's
    /// answer) when the breaker refuses the call; awaited in an async body.
    fn permit(&self, fallback: Option<&Fallback>, awaited: bool) -> TokenStream {
        let private = self.private;
        let Names {
            breaker,
            permit,
            rejected,
            ..
        } = &self.names;
        let Some(fallback) = fallback else {
            // At the return type: an error type without `From<Rejected>`
            // is reported where the user sees which type it is.
            let reject = self.ret.call("rejected", 0, quote!(#rejected));
            return quote! {
                let #permit = match #private::acquire(#breaker) {
                    #private::Result::Ok(#permit) => #permit,
                    #private::Result::Err(#rejected) => {
                        return #reject;
                    }
                };
            };
        };
        let on_reject = if awaited {
            let future = fallback.future(private, self.ret);
            let end = relocate(quote!(.await), fallback.last);
            quote!(return #future #end;)
        } else {
            let return_ = relocate(quote!(return), fallback.last);
            let call = &fallback.call;
            quote!(#return_ #call;)
        };
        // Acquire with `.ok()` so no `Rejected` stays alive while an async
        // fallback is awaited: the future stays `Send` whenever the body's
        // is.
        quote! {
            let #private::Option::Some(#permit) = #private::Result::ok(#private::acquire(#breaker)) else {
                #on_reject
            };
        }
    }

    /// A sync function's body.
    fn sync(&self, guarded: &TokenStream, fallback: Option<&Fallback>) -> TokenStream {
        let private = self.private;
        let permit = &self.names.permit;
        let classify = &self.classify;
        let assert_result = self.assert_result();
        let breaker =
            self.breaker(&quote!(#private::Option::Some(#private::NoCallTimeout::SyncFn)));
        let acquire = self.permit(fallback, false);
        let run = self.ret.call(
            "complete_sync",
            2,
            quote!(#permit, #classify, move || #guarded),
        );
        quote! {
            #assert_result
            #breaker
            #acquire
            #run
        }
    }

    /// An async body: an `async fn`'s, or the `async move` block of an
    /// `async_trait` method's.
    fn asynchronous(&self, guarded: &TokenStream, fallback: Option<&Fallback>) -> TokenStream {
        let assert_result = self.assert_result();
        let completion = self.completion();
        let imports = &completion.imports;
        let breaker = self.breaker(&completion.no_call_timeout);
        let acquire = self.permit(fallback, true);
        let call = self.complete(&completion, quote!(async move #guarded));
        let await_ = respan(quote!(.await), self.ret.last);
        quote! {
            #assert_result
            #imports
            #breaker
            #acquire
            #call #await_
        }
    }

    /// The body of a function that returns a future it builds: the breaker
    /// decides now; an admitted call runs the body and returns its future
    /// under the permit, a refused one the rejection or the fallback's
    /// answer, as a future of the same type.
    fn future(
        &self,
        guarded: &TokenStream,
        declared: Option<TokenStream>,
        boxed: bool,
        fallback: Option<&Fallback>,
    ) -> TokenStream {
        let private = self.private;
        let Names {
            breaker,
            permit,
            rejected,
            ..
        } = &self.names;
        let assert_result = self.assert_result();
        let completion = self.completion();
        let imports = &completion.imports;
        let get_breaker = self.breaker(&completion.no_call_timeout);
        let body = quote!(#private::run_body(move || #declared #guarded));
        let admitted = self.complete(&completion, body);
        let refused = match fallback {
            Some(fallback) => fallback.future(private, self.ret),
            None => self.ret.call("rejected_future", 0, quote!(#rejected)),
        };
        let decided = Ident::new("__decided", Span::mixed_site());
        let run = match boxed {
            true => quote!(#private::Box::pin(#decided.run())),
            false => quote!(#decided.run()),
        };
        quote! {
            #assert_result
            #imports
            #get_breaker
            #[allow(unused_variables)]
            let #decided = match #private::acquire(#breaker) {
                #private::Result::Ok(#permit) => #private::Decided::Admitted(#admitted),
                #private::Result::Err(#rejected) => #private::Decided::Refused(#refused),
            };
            #run
        }
    }

    /// How a call that runs in a future completes.
    ///
    /// A `call_timeout` may come from the attribute, `configure`, a file or
    /// the environment: every async site that can enforce one reads it from
    /// the breaker's configuration at run time. Whether it can is known
    /// here, at compile time: the registry refuses the setting for a site
    /// that cannot, and says why.
    fn completion(&self) -> Completion {
        let private = self.private;
        let ret = self.ret;
        if self.call_timeout {
            // Written in the attribute: `E: From<TimedOut>` is required, and
            // its absence a compile error at the return type.
            return Completion {
                imports: TokenStream::new(),
                no_call_timeout: quote!(#private::Option::None),
                probe: None,
            };
        }
        // `(&timeout_probe::<R>()).call_timeouts()`, made twice (a value of
        // no size): once to tell the registry, once to run the call.
        // Entirely at the return type, with no local of the expansion, so
        // that an unmet bound is reported there once, like the other
        // helpers'.
        let probe = if ret.nameable {
            let probe = ret.call("timeout_probe", 0, TokenStream::new());
            let mut probe = Group::new(Delimiter::Parenthesis, quote!(& #probe));
            probe.set_span(ret.first);
            let ask = respan(quote!(.call_timeouts()), ret.first);
            quote!(#probe #ask)
        } else {
            respan(
                quote!(#private::unbounded(#private::NoCallTimeout::UnnamedReturnType)),
                ret.first,
            )
        };
        let refusal = respan(quote!(.refusal()), ret.first);
        Completion {
            imports: quote! {
                #[allow(unused_imports)]
                use #private::{CanTimeOut as _, CannotTimeOut as _};
            },
            no_call_timeout: quote!(#probe #refusal),
            probe: Some(probe),
        }
    }

    /// The runtime's call that runs `future` under the permit (not
    /// awaited).
    fn complete(&self, completion: &Completion, future: TokenStream) -> TokenStream {
        let permit = &self.names.permit;
        let classify = &self.classify;
        let args = quote!(#permit, #classify, #future);
        match &completion.probe {
            None => self.ret.call("complete_async_timeout", 2, args),
            Some(probe) => self.ret.method_call(probe.clone(), "complete", 2, args),
        }
    }
}

/// How a call that runs in a future completes: see [`Parts::completion`].
struct Completion {
    /// What the call needs in scope.
    imports: TokenStream,
    /// Whether it can bound a call by `call_timeout`, for the registry.
    no_call_timeout: TokenStream,
    /// What `.complete(..)` is called on: the answer of the
    /// `timeout_probe`; `None` for `complete_async_timeout(..)`, when the
    /// attribute sets `call_timeout`.
    probe: Option<TokenStream>,
}

/// Refuses the shapes the attribute cannot wrap, each at its token.
fn check_signature(args: &Args, sig: &Signature, shape: &Shape) -> syn::Result<()> {
    if let Some(constness) = &sig.constness {
        return Err(syn::Error::new(
            constness.span,
            "`#[circuit_breaker]` cannot be applied to a `const fn`: the breaker is consulted at run time; remove `const`",
        ));
    }
    if let Some(abi) = &sig.abi {
        return Err(syn::Error::new_spanned(
            abi,
            "`#[circuit_breaker]` cannot be applied to an `extern` function; put it on a Rust function that calls this one",
        ));
    }
    if let Some(call_timeout) = args.setting("call_timeout") {
        if !shape.is_async() {
            return Err(syn::Error::new(
                call_timeout.key.span(),
                "`call_timeout` needs an `async fn` (or a function that returns a future): a sync call cannot be interrupted; use `slow_call_duration` to count slow calls instead",
            ));
        }
    }
    check_fallback_path(args, sig)?;
    let Some(ty) = shape.result_type(sig) else {
        return Err(syn::Error::new(
            sig.ident.span(),
            "`#[circuit_breaker]` functions must return `Result<T, E>`, and this one returns `()`; add a return type such as `-> Result<(), MyError>`",
        ));
    };
    // Types that can never be a `Result` are refused here, in one error.
    // Other types are left to `assert_result`, which knows about aliases.
    if !certainly_not_result(ty) {
        return Ok(());
    }
    let message = if matches!(shape, Shape::AsyncTrait { .. } | Shape::Future { .. }) {
        format!(
            "`#[circuit_breaker]` functions that return a future need a future of `Result<T, E>`, not of `{}`: a rejected call is returned as `Err(E::from(breakerbox::Rejected))`",
            render(ty)
        )
    } else {
        let hint = match ty {
            Type::ImplTrait(_) if sig.asyncness.is_none() => {
                "a function that returns a future returns `impl Future<Output = Result<T, E>>` (or is an `async fn` that returns a `Result`)"
            }
            _ => "a rejected call is returned as `Err(E::from(breakerbox::Rejected))`, so the function needs an error type",
        };
        format!(
            "`#[circuit_breaker]` functions must return `Result<T, E>`, not `{}`; {hint}",
            render(ty)
        )
    };
    Err(syn::Error::new_spanned(ty, message))
}

/// A method's fallback is called with the receiver first, so it is nearly
/// always another method of the type; a bare name cannot reach one (a
/// method is `Self::name`), and rustc's own advice for it, `self.name`,
/// cannot be written in the attribute. A bare name on a method is refused
/// with the two spellings that work.
fn check_fallback_path(args: &Args, sig: &Signature) -> syn::Result<()> {
    let Some(fallback) = &args.fallback else {
        return Ok(());
    };
    let has_receiver = matches!(sig.inputs.first(), Some(FnArg::Receiver(_)));
    let path = &fallback.path;
    let bare = fallback.qself.is_none()
        && path.leading_colon.is_none()
        && path.segments.len() == 1
        && path.segments[0].arguments.is_none();
    if !(has_receiver && bare) {
        return Ok(());
    }
    let name = &path.segments[0].ident;
    Err(syn::Error::new_spanned(
        fallback,
        format!(
            "a method's fallback is named with its type: write `fallback = Self::{name}`; it is called as `Self::{name}(self, ..)`, with the receiver first (for a free function of this module, write `fallback = self::{name}`)"
        ),
    ))
}

/// Whether `ty` is, whatever the names in scope, not a `Result`.
fn certainly_not_result(ty: &Type) -> bool {
    const NOT_RESULT: &[&str] = &[
        "bool", "char", "str", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32",
        "i64", "i128", "isize", "f32", "f64", "String", "Option", "Vec",
    ];
    match ty {
        Type::Paren(inner) => certainly_not_result(&inner.elem),
        Type::Group(inner) => certainly_not_result(&inner.elem),
        Type::Path(path) => {
            path.qself.is_none()
                && path.path.leading_colon.is_none()
                && path.path.segments.len() == 1
                && NOT_RESULT
                    .iter()
                    .any(|name| path.path.segments[0].ident == name)
        }
        Type::Array(_)
        | Type::BareFn(_)
        | Type::ImplTrait(_)
        | Type::Never(_)
        | Type::Ptr(_)
        | Type::Reference(_)
        | Type::Slice(_)
        | Type::TraitObject(_)
        | Type::Tuple(_) => true,
        _ => false,
    }
}

/// A type as a person writes it (`Option<u32>`), for error messages.
fn render(ty: &Type) -> String {
    let mut text = ty.to_token_stream().to_string();
    for (spaced, tight) in [
        (" <", "<"),
        ("< ", "<"),
        (" >", ">"),
        (" ,", ","),
        (" :: ", "::"),
        (":: ", "::"),
        ("& ", "&"),
        ("( ", "("),
        (" )", ")"),
        ("[ ", "["),
        (" ]", "]"),
        (" ;", ";"),
    ] {
        text = text.replace(spaced, tight);
    }
    text
}

/// The arguments as the fallback receives them, and the `let` statements
/// that restore pattern arguments inside the body.
struct Params {
    /// One per argument: `self`, or the name the value is bound to.
    args: Vec<Ident>,
    /// `let PATTERN = __argN;` for each argument renamed in the signature.
    rebinds: Vec<TokenStream>,
}

impl Params {
    /// With a fallback, every argument must have a name the fallback call
    /// can pass. Arguments written as patterns (`(a, b): (u32, u32)`, `_`,
    /// `ref x`) are renamed to `__argN` in the signature and destructured at
    /// the top of the body, where the pattern's bindings are needed.
    /// Without a fallback, the signature is left exactly as written.
    fn rebind(sig: &mut Signature, fallback: bool) -> Params {
        let mut params = Params {
            args: Vec::new(),
            rebinds: Vec::new(),
        };
        if !fallback {
            return params;
        }
        for (index, input) in sig.inputs.iter_mut().enumerate() {
            let typed = match input {
                FnArg::Receiver(receiver) => {
                    params
                        .args
                        .push(Ident::new("self", receiver.self_token.span));
                    continue;
                }
                FnArg::Typed(typed) => typed,
            };
            if let Pat::Ident(PatIdent {
                by_ref: None,
                subpat: None,
                ident,
                ..
            }) = &*typed.pat
            {
                params.args.push(ident.clone());
                continue;
            }
            let name = format_ident!("__arg{}", index, span = Span::mixed_site());
            let pattern = std::mem::replace(
                &mut *typed.pat,
                Pat::Ident(PatIdent {
                    attrs: Vec::new(),
                    by_ref: None,
                    mutability: None,
                    ident: name.clone(),
                    subpat: None,
                }),
            );
            // `_` binds nothing: the value stays in the outer function and
            // is dropped when it returns, as it would have been.
            if !matches!(pattern, Pat::Wild(_)) {
                params.rebinds.push(quote! {
                    #[allow(clippy::toplevel_ref_arg)]
                    let #pattern = #name;
                });
            }
            params.args.push(name);
        }
        params
    }
}

fn spanned_literal(mut literal: Literal, span: Span) -> TokenStream {
    literal.set_span(span);
    TokenTree::Literal(literal).into()
}

/// Calls to the runtime helpers that are generic over the return type `R`.
///
/// Each names the return type as written, with the user's spans, in a
/// turbofish, and the call's own tokens span the return type too. rustc
/// reports an unmet bound on `R` (not a `Result`, no `From<Rejected>`) at
/// the return type, where the user can fix it, and reports it once: the
/// same predicate at the same span is not repeated for every helper.
struct RetCalls<'a> {
    private: &'a TokenStream,
    ty: &'a Type,
    /// `impl Trait` cannot be named in a turbofish: the types are then left
    /// to inference, and the helpers' bounds still check them.
    nameable: bool,
    first: Span,
    last: Span,
}

impl<'a> RetCalls<'a> {
    fn new(private: &'a TokenStream, ty: &'a Type) -> Self {
        let tokens = ty.to_token_stream();
        let nameable = !mentions_impl(tokens.clone());
        let (first, last) = span_range(tokens);
        RetCalls {
            private,
            ty,
            nameable,
            first,
            last,
        }
    }

    /// `private::helper::<R, _, ..>(args)`, with `inferred` holes after `R`.
    fn call(&self, helper: &str, inferred: usize, args: TokenStream) -> TokenStream {
        let private = self.private;
        let helper = Ident::new(helper, self.first);
        let path = respan(quote!(#private::#helper), self.first);
        let turbofish = self.turbofish(inferred);
        let mut args = Group::new(Delimiter::Parenthesis, args);
        args.set_span(self.last);
        quote!(#path #turbofish #args)
    }

    /// `::<R, _, ..>` with `inferred` holes after `R`, if `R` can be named.
    fn turbofish(&self, inferred: usize) -> Option<TokenStream> {
        self.nameable.then(|| {
            let ty = self.ty;
            let open = respan(quote!(::<), self.first);
            let holes = (0..inferred).map(|_| quote!(, _));
            let close = respan(quote!(#(#holes)* >), self.last);
            quote!(#open #ty #close)
        })
    }

    /// `receiver.method::<R, _, ..>(args)`, spanned as [`call`](Self::call);
    /// `receiver` should be too.
    fn method_call(
        &self,
        receiver: TokenStream,
        method: &str,
        inferred: usize,
        args: TokenStream,
    ) -> TokenStream {
        let dot = respan(quote!(.), self.first);
        let method = Ident::new(method, self.first);
        let turbofish = self.turbofish(inferred);
        let mut args = Group::new(Delimiter::Parenthesis, args);
        args.set_span(self.last);
        quote!(#receiver #dot #method #turbofish #args)
    }
}

/// The spans of the first and last tokens: on stable, a span cannot be
/// joined, so an expression meant to cover user tokens starts at the first
/// and ends at the last.
fn span_range(tokens: TokenStream) -> (Span, Span) {
    let mut spans = tokens.into_iter().map(|tree| tree.span());
    let first = spans.next().unwrap_or_else(Span::call_site);
    let last = spans.last().unwrap_or(first);
    (first, last)
}

/// `( tokens )`, the parentheses located at `span`, the tokens untouched.
fn paren(tokens: TokenStream, span: Span) -> Group {
    let mut group = Group::new(Delimiter::Parenthesis, tokens);
    group.set_span(group.span().located_at(span));
    group
}

/// `tokens` (the macro's own, naming no local) entirely at `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tree| {
            if let TokenTree::Group(group) = &tree {
                tree =
                    TokenTree::Group(Group::new(group.delimiter(), respan(group.stream(), span)));
            }
            tree.set_span(span);
            tree
        })
        .collect()
}

/// `tokens` with every span moved to `span`'s location, keeping its
/// hygiene: names resolve as before, diagnostics point at `span`.
fn relocate(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tree| {
            if let TokenTree::Group(group) = &tree {
                let mut moved = Group::new(group.delimiter(), relocate(group.stream(), span));
                moved.set_span(group.span().located_at(span));
                tree = TokenTree::Group(moved);
            } else {
                tree.set_span(tree.span().located_at(span));
            }
            tree
        })
        .collect()
}

/// Whether `tokens` contain `impl` anywhere (e.g. `Result<impl Display, E>`).
fn mentions_impl(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|tree| match tree {
        TokenTree::Ident(ident) => ident == "impl",
        TokenTree::Group(group) => mentions_impl(group.stream()),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn expand_tokens(args: TokenStream, item: TokenStream) -> syn::Result<String> {
        let args = crate::args::parse(args)?;
        let item = parse_item(item)?;
        expand(args, item).map(|tokens| tokens.to_string())
    }

    fn refusal(args: TokenStream, item: TokenStream) -> String {
        match expand_tokens(args, item) {
            Ok(output) => panic!("expected an error, got `{output}`"),
            Err(e) => e.to_string(),
        }
    }

    fn expansion(args: TokenStream, item: TokenStream) -> String {
        match expand_tokens(args, item) {
            Ok(output) => output,
            Err(e) => panic!("expected an expansion, got: {e}"),
        }
    }

    #[test]
    fn struct_is_refused_as_not_a_function() {
        let message = refusal(
            quote!(),
            quote!(
                struct Client;
            ),
        );
        assert!(message.contains("not on a struct"), "{message}");
    }

    #[test]
    fn function_without_body_is_refused() {
        let message = refusal(
            quote!(),
            quote!(
                fn get(&self) -> Result<(), E>;
            ),
        );
        assert!(
            message.contains("needs a function with a body"),
            "{message}"
        );
    }

    #[test]
    fn const_fn_is_refused() {
        let message = refusal(
            quote!(),
            quote!(
                const fn f() -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        assert!(message.contains("`const fn`"), "{message}");
    }

    #[test]
    fn extern_fn_is_refused() {
        let message = refusal(
            quote!(),
            quote!(
                extern "C" fn f() -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        assert!(message.contains("`extern` function"), "{message}");
    }

    #[test]
    fn call_timeout_on_a_sync_fn_is_refused() {
        let message = refusal(
            quote!(call_timeout = "1s"),
            quote!(
                fn f() -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        assert!(
            message.contains("`call_timeout` needs an `async fn`"),
            "{message}"
        );
    }

    #[test]
    fn missing_return_type_is_refused() {
        let message = refusal(
            quote!(),
            quote!(
                fn f() {}
            ),
        );
        assert!(message.contains("this one returns `()`"), "{message}");
    }

    #[test]
    fn return_type_that_cannot_be_a_result_is_refused() {
        let message = refusal(
            quote!(),
            quote!(
                fn f() -> Option<u32> {
                    None
                }
            ),
        );
        assert!(message.contains("not `Option<u32>`"), "{message}");
        let message = refusal(
            quote!(),
            quote!(
                fn f() -> &'static str {
                    ""
                }
            ),
        );
        assert!(message.contains("not `&'static str`"), "{message}");
    }

    #[test]
    fn alias_return_type_is_left_to_the_type_check() {
        let output = expansion(
            quote!(),
            quote!(
                fn f() -> Count {
                    1
                }
            ),
        );
        assert!(output.contains("assert_result :: < Count >"), "{output}");
    }

    #[test]
    fn configuration_keys_become_setter_calls_in_written_order() {
        let output = expansion(
            quote!(timeout = "1m30s", max_failures = 3, failure_rate = 0.5),
            quote!(
                fn f() -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        let expected = ". timeout (:: breakerbox :: __private :: Duration :: new (90 , 0)) . max_failures (3) . failure_rate (0.5f64)";
        assert!(output.contains(expected), "{output}");
    }

    #[test]
    fn default_name_is_left_to_the_runtime_which_reads_the_functions_path() {
        let output = expansion(
            quote!(),
            quote!(
                fn load() -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        assert!(
            output.contains(
                "fn __breaker_path () -> & 'static str { :: core :: any :: type_name_of_val (& __breaker_path) }"
            ),
            "{output}"
        );
        assert!(
            output.contains(". get (:: breakerbox :: __private :: Option :: None , __breaker_config , :: breakerbox :: __private :: At :: new (__breaker_path ,"),
            "{output}"
        );
    }

    #[test]
    fn given_name_is_passed_as_written() {
        let output = expansion(
            quote!(name = "db"),
            quote!(
                fn load() -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        assert!(
            output.contains(". get (:: breakerbox :: __private :: Option :: Some (\"db\") ,"),
            "{output}"
        );
    }

    #[test]
    fn crate_override_replaces_the_runtime_path() {
        let output = expansion(
            quote!(crate = "my::breaker"),
            quote!(
                fn f() -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        assert!(
            output.contains("my :: breaker :: __private :: acquire"),
            "{output}"
        );
        // Every path to the runtime goes through the override.
        assert!(!output.contains("breakerbox"), "{output}");
        let all = output.matches(":: breaker :: __private").count();
        assert_eq!(
            output.matches("my :: breaker :: __private").count(),
            all,
            "{output}"
        );
    }

    #[test]
    fn signature_is_kept_as_written_without_a_fallback() {
        let output = expansion(
            quote!(),
            quote!(
                fn f((a, b): (u8, u8), _: u8) -> Result<u8, E> {
                    Ok(a + b)
                }
            ),
        );
        assert!(
            output.starts_with("fn f ((a , b) : (u8 , u8) , _ : u8) -> Result < u8 , E >"),
            "{output}"
        );
    }

    #[test]
    fn pattern_arguments_are_renamed_and_destructured_for_a_fallback() {
        let output = expansion(
            quote!(fallback = cached),
            quote!(
                fn f((a, b): (u8, u8), _: u8, mut c: u8) -> Result<u8, E> {
                    Ok(a + b + c)
                }
            ),
        );
        assert!(
            output.starts_with("fn f (__arg0 : (u8 , u8) , __arg1 : u8 , mut c : u8)"),
            "{output}"
        );
        assert!(output.contains("let (a , b) = __arg0 ;"), "{output}");
        assert!(!output.contains("let _ = __arg1"), "{output}");
        assert!(output.contains("cached (__arg0 , __arg1 , c)"), "{output}");
    }

    #[test]
    fn receiver_is_passed_first_to_the_fallback() {
        let output = expansion(
            quote!(fallback = Self::cached),
            quote!(
                fn get(&self, id: u64) -> Result<u8, E> {
                    Ok(1)
                }
            ),
        );
        assert!(output.contains("Self :: cached (self , id)"), "{output}");
    }

    #[test]
    fn async_fn_awaits_its_body_under_the_permit() {
        let output = expansion(
            quote!(),
            quote!(
                async fn f() -> Result<u8, E> {
                    Ok(1)
                }
            ),
        );
        assert!(
            output.contains(". call_timeouts () . complete :: < Result < u8 , E > , _ , _ >"),
            "{output}"
        );
        assert!(
            output.contains("async move { Ok (1) }) . await"),
            "{output}"
        );
    }

    #[test]
    fn async_fn_asks_its_return_type_whether_it_can_bound_a_call() {
        let output = expansion(
            quote!(),
            quote!(
                async fn f() -> Result<u8, E> {
                    Ok(1)
                }
            ),
        );
        let probe = "(& :: breakerbox :: __private :: timeout_probe :: < Result < u8 , E > > ()) . call_timeouts ()";
        assert!(
            output.contains(&format!(
                ":: breakerbox :: __private :: At :: new (__breaker_path , {probe} . refusal ())"
            )),
            "{output}"
        );
        assert!(
            output.contains(&format!(
                "{probe} . complete :: < Result < u8 , E > , _ , _ >"
            )),
            "{output}"
        );
    }

    #[test]
    fn sync_fn_tells_the_registry_it_cannot_bound_a_call() {
        let output = expansion(
            quote!(),
            quote!(
                fn f() -> Result<u8, E> {
                    Ok(1)
                }
            ),
        );
        assert!(
            output
                .contains("Option :: Some (:: breakerbox :: __private :: NoCallTimeout :: SyncFn)"),
            "{output}"
        );
        assert!(!output.contains("timeout_probe"), "{output}");
    }

    #[test]
    fn max_failures_off_becomes_without_max_failures() {
        let output = expansion(
            quote!(max_failures = "off", failure_rate = 0.5),
            quote!(
                fn f() -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        assert!(
            output
                .contains("Config :: default () . without_max_failures () . failure_rate (0.5f64)"),
            "{output}"
        );
    }

    #[test]
    fn call_timeout_selects_the_timeout_helper() {
        let output = expansion(
            quote!(call_timeout = "2s"),
            quote!(
                async fn f() -> Result<u8, E> {
                    Ok(1)
                }
            ),
        );
        assert!(output.contains("complete_async_timeout"), "{output}");
        assert!(
            output.contains(
                ":: breakerbox :: __private :: call_timeout :: < :: breakerbox :: __private :: Config > (:: breakerbox :: __private :: Config :: default () , :: breakerbox :: __private :: Duration :: new (2 , 0))"
            ),
            "{output}"
        );
    }

    #[test]
    fn impl_trait_in_the_return_type_is_left_to_inference() {
        let output = expansion(
            quote!(),
            quote!(
                fn f() -> Result<impl Display, E> {
                    Ok(1)
                }
            ),
        );
        assert!(!output.contains("assert_result"), "{output}");
        assert!(output.contains("complete_sync (__permit"), "{output}");
    }

    #[test]
    fn async_trait_method_guards_the_block_inside_box_pin() {
        let output = expansion(
            quote!(),
            quote!(
                fn get<'life0, 'async_trait>(
                    &'life0 self,
                ) -> ::core::pin::Pin<
                    Box<dyn ::core::future::Future<Output = Result<u8, E>> + Send + 'async_trait>,
                > {
                    Box::pin(async move { Ok(1) })
                }
            ),
        );
        assert!(output.contains("Box :: pin (async move {"), "{output}");
        assert!(
            output.contains(
                ". complete :: < Result < u8 , E > , _ , _ > (__permit , :: breakerbox :: __private :: every_error_fails , async move { Ok (1) }) . await })"
            ),
            "{output}"
        );
    }

    #[test]
    fn impl_future_fn_decides_when_called_and_returns_the_decision() {
        let output = expansion(
            quote!(),
            quote!(
                fn get(&self) -> impl Future<Output = Result<u8, E>> + '_ {
                    async move { Ok(1) }
                }
            ),
        );
        assert!(
            output.contains("Decided :: Admitted ((& :: breakerbox :: __private :: timeout_probe :: < Result < u8 , E > > ()) . call_timeouts () . complete :: < Result < u8 , E > , _ , _ > (__permit , :: breakerbox :: __private :: every_error_fails , :: breakerbox :: __private :: run_body (move || { async move { Ok (1) } })))"),
            "{output}"
        );
        assert!(
            output.contains("Decided :: Refused (:: breakerbox :: __private :: rejected_future :: < Result < u8 , E > > (__rejected))"),
            "{output}"
        );
        assert!(output.ends_with("__decided . run () }"), "{output}");
    }

    #[test]
    fn boxed_future_fn_boxes_the_decision_and_types_its_body() {
        let output = expansion(
            quote!(fallback = Self::cached),
            quote!(
                fn get(&self) -> Pin<Box<dyn Future<Output = Result<u8, E>> + Send>> {
                    Box::pin(async move { Ok(1) })
                }
            ),
        );
        assert!(
            output.contains("run_body (move || -> Pin < Box < dyn Future < Output = Result < u8 , E > > + Send > > {"),
            "{output}"
        );
        assert!(
            output.contains("Decided :: Refused (:: breakerbox :: __private :: fallback_future :: < Result < u8 , E > , _ , _ > (Self :: cached (self)))"),
            "{output}"
        );
        assert!(
            output.ends_with(":: breakerbox :: __private :: Box :: pin (__decided . run ()) }"),
            "{output}"
        );
    }

    #[test]
    fn call_timeout_on_a_function_returning_a_future_is_accepted() {
        let output = expansion(
            quote!(call_timeout = "2s"),
            quote!(
                fn get() -> impl Future<Output = Result<u8, E>> {
                    async move { Ok(1) }
                }
            ),
        );
        assert!(output.contains("complete_async_timeout"), "{output}");
    }

    #[test]
    fn bare_fallback_on_a_method_is_refused_with_the_path_to_write() {
        let message = refusal(
            quote!(fallback = last_known),
            quote!(
                fn get(&self, id: u64) -> Result<u8, E> {
                    Ok(1)
                }
            ),
        );
        assert!(
            message.contains("write `fallback = Self::last_known`"),
            "{message}"
        );
    }

    #[test]
    fn bare_fallback_without_a_receiver_is_accepted() {
        let output = expansion(
            quote!(fallback = cached),
            quote!(
                fn get(id: u64) -> Result<u8, E> {
                    Ok(1)
                }
            ),
        );
        assert!(output.contains("return cached (id) ;"), "{output}");
    }
}
