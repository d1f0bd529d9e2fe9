//! The operations layer: publishing and subscribing, decided once for every transport.
//!
//! A transport (the publish form, a WebSocket, the event-stream and Comet transports, Bayeux)
//! only parses its input into an [`Update`](herald_core::Update) or a
//! [`SubscribeRequest`], calls [`publish`] or [`subscribe`], and maps the typed failure to its
//! own terms once (an HTTP status, a WebSocket error message or close code, a Bayeux error
//! string). The checks always run in the same order: authorization, rate, limits, validation,
//! rights; so every transport gives the same answer to the same request.
//!
//! Publishing is two steps so that a transport can refuse an unauthorized or too-fast
//! publisher before reading its input: [`publish::admit`] (authorization and rate), then
//! [`publish::Admitted::publish`] (limits, validation, rights, then the hub).

mod failure;
pub(crate) mod publish;
pub(crate) mod subscribe;

pub(crate) use failure::{FailureKind, Limit, PublishFailure, SubscribeFailure};
pub(crate) use publish::{admit, Publisher};
pub(crate) use subscribe::{subscribe, MatchKind, MatcherSpec, SubscribeRequest, Subscriber};
