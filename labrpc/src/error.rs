//! What a call can return instead of a reply.

use std::fmt;

use crate::limits::MAX_MESSAGE_BYTES;

/// Why a call returned no reply.
///
/// The first four are the network's doing and mean exactly what MIT's `Call` returning `false`
/// means: no reply, and no way to know whether the handler ran. Code should treat them alike
/// (retry, or give up on that peer for now). The rest are bugs in the caller or the server, which
/// MIT's labrpc answers by killing the test process; here they come back as errors naming the
/// problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RpcError {
    /// The end is disabled or unconnected, or its server is gone; the handler did not run.
    Unreachable,
    /// The unreliable network lost the request; the handler did not run.
    RequestLost,
    /// The unreliable network lost the reply; the handler ran.
    ReplyLost,
    /// The server was deleted (crashed) or the end disabled while the call was in flight; the
    /// handler may have run, and its reply was thrown away.
    ServerKilled,
    /// The server has no service of that name.
    UnknownService {
        /// The full method name called.
        method: &'static str,
        /// The services the server has.
        available: Vec<String>,
    },
    /// The service has no method of that name.
    UnknownMethod {
        /// The full method name called.
        method: &'static str,
    },
    /// The server's handler for this method takes a different argument type.
    TypeMismatch {
        /// The full method name called.
        method: &'static str,
        /// The argument type the handler was registered with.
        expected: &'static str,
        /// The argument type the caller sent.
        got: &'static str,
    },
    /// The arguments or the reply could not be encoded.
    Encode(String),
    /// The arguments or the reply encode to more than [`MAX_MESSAGE_BYTES`]: a bug
    /// (a whole log or store in one message), which also fails the run.
    TooLarge {
        /// The full method name called.
        method: &'static str,
        /// `"arguments"` or `"reply"`.
        what: &'static str,
        /// The encoded size.
        bytes: usize,
    },
    /// The arguments or the reply could not be decoded.
    Decode(String),
}

impl RpcError {
    /// Whether this is an ordinary network failure (no reply), as opposed to a bug.
    pub fn is_network(&self) -> bool {
        matches!(
            self,
            RpcError::Unreachable
                | RpcError::RequestLost
                | RpcError::ReplyLost
                | RpcError::ServerKilled
        )
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RpcError::Unreachable => write!(f, "no reply: peer unreachable"),
            RpcError::RequestLost => write!(f, "no reply: request lost"),
            RpcError::ReplyLost => write!(f, "no reply: reply lost"),
            RpcError::ServerKilled => write!(f, "no reply: server killed or disconnected mid-call"),
            RpcError::UnknownService { method, available } => write!(
                f,
                "labrpc: no service for {method}; the server has {available:?} \
                 (did you add the service to the server, under the name before the dot?)"
            ),
            RpcError::UnknownMethod { method } => write!(
                f,
                "labrpc: unknown method {method} (no handler registered for it in its service)"
            ),
            RpcError::TypeMismatch { method, expected, got } => write!(
                f,
                "labrpc: {method} called with arguments of type {got}, but its handler takes {expected}"
            ),
            RpcError::Encode(e) => write!(f, "labrpc: {e}"),
            RpcError::TooLarge { method, what, bytes } => write!(
                f,
                "labrpc: {method}'s {what} take {bytes} bytes encoded, more than the \
                 network's limit of {} bytes per message",
                MAX_MESSAGE_BYTES
            ),
            RpcError::Decode(e) => write!(f, "labrpc: {e}"),
        }
    }
}

impl std::error::Error for RpcError {}
