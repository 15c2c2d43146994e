//! The ports as trait objects, generated from each port's one declaration by `port!`.
//!
//! `MetadataRepo` and `TimeSeriesSource` return `impl Future`, which keeps them free of
//! allocation but out of `dyn`. Each has a boxed twin with a blanket impl for every
//! implementation, and the twin's trait object implements the port again, so an application
//! can hold `Arc<dyn DynMetadataRepo>` and `Arc<dyn DynTimeSeriesSource>`, pick its stores at
//! run time, and still call the use cases on them, with no dispatch enum. A call through the
//! trait object boxes one future, the implementation's own.

use std::future::Future;
use std::pin::Pin;

/// A future on the heap, as trait objects return them.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Declares a port once and derives from that declaration everything that must list its
/// methods again: the `Send + Sync` trait itself, its impl for `Arc<P>`, the boxed twin for
/// trait objects with its blanket impl, the twin's trait object as the port again, and the
/// list of the methods' names.
///
/// The port's methods have no default bodies (the matcher accepts none), so an implementation
/// or a hand-written forwarder that leaves one out does not compile: none can fall back, unseen,
/// on a slow path. Each method names its one lifetime, `'a`, on `self` and on every borrowed
/// argument, so that the twin's boxed future can borrow them all; an implementation may still
/// elide it.
macro_rules! port {
    (
        $(#[$port_doc:meta])*
        $vis:vis trait $port:ident, dyn $twin:ident, methods $method_names:ident {
            $(
                $(#[$method_doc:meta])*
                fn $method:ident<$a:lifetime>(
                    &$self_a:lifetime self $(, $arg:ident: $arg_ty:ty)* $(,)?
                ) -> $output:ty, boxed as $boxed:ident;
            )*
        }
    ) => {
        $(#[$port_doc])*
        $vis trait $port: Send + Sync {
            $(
                $(#[$method_doc])*
                fn $method<$a>(&$self_a self $(, $arg: $arg_ty)*)
                    -> impl ::std::future::Future<Output = $output> + Send;
            )*
        }

        #[doc = concat!("The name of every method of [`", stringify!($port), "`], in order.")]
        $vis const $method_names: &[&str] = &[$(stringify!($method)),*];

        /// A shared implementation answers like the implementation itself.
        impl<P: $port + ?Sized> $port for ::std::sync::Arc<P> {
            $(
                fn $method<$a>(&$self_a self $(, $arg: $arg_ty)*)
                    -> impl ::std::future::Future<Output = $output> + Send {
                    P::$method(self $(, $arg)*)
                }
            )*
        }

        #[doc = concat!(
            "[`", stringify!($port), "`] with boxed futures, so that it can be a trait object; ",
            "every `", stringify!($port), "` is one, with all its own methods."
        )]
        $vis trait $twin: Send + Sync {
            $(
                #[doc = concat!("[`", stringify!($port), "::", stringify!($method), "`], boxed.")]
                fn $boxed<$a>(&$self_a self $(, $arg: $arg_ty)*)
                    -> $crate::BoxFuture<$a, $output>;
            )*
        }

        impl<P: $port> $twin for P {
            $(
                fn $boxed<$a>(&$self_a self $(, $arg: $arg_ty)*)
                    -> $crate::BoxFuture<$a, $output> {
                    ::std::boxed::Box::pin(<P as $port>::$method(self $(, $arg)*))
                }
            )*
        }

        /// An implementation behind a trait object answers like the implementation.
        impl $port for dyn $twin + '_ {
            $(
                fn $method<$a>(&$self_a self $(, $arg: $arg_ty)*)
                    -> impl ::std::future::Future<Output = $output> + Send {
                    <Self as $twin>::$boxed(self $(, $arg)*)
                }
            )*
        }
    };
}

pub(crate) use port;
