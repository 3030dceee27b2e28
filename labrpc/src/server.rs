//! Servers and services: typed handlers behind MIT's "Service.Method" names.

use std::any::{type_name, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::de::DeserializeOwned;
use serde::Serialize;

use labsim::layer::{self, NodeId};

use crate::error::RpcError;
use crate::limits::MAX_MESSAGE_BYTES;

/// One RPC: the argument type names its method and its reply type.
///
/// ```
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// pub struct RequestVoteArgs { pub term: u64, pub candidate: usize }
///
/// #[derive(Serialize, Deserialize)]
/// pub struct RequestVoteReply { pub term: u64, pub granted: bool }
///
/// impl labrpc::Rpc for RequestVoteArgs {
///     type Reply = RequestVoteReply;
///     const NAME: &'static str = "Raft.RequestVote";
/// }
/// ```
///
/// Then `end.call(&args).await` returns `Result<RequestVoteReply, RpcError>`, and the server
/// registers `Service::new("Raft").handle(|args: RequestVoteArgs| async move { ... })`.
pub trait Rpc: Serialize + DeserializeOwned + Send + 'static {
    /// What the handler answers.
    type Reply: Serialize + DeserializeOwned + Send + 'static;
    /// `"Service.Method"`, as in MIT's labrpc: the service's name, a dot, the method's name.
    const NAME: &'static str;
}

/// A request as it travels: encoded arguments plus the caller's type, for a clear error when the
/// handler expects another one.
pub(crate) struct Request {
    pub(crate) method: &'static str,
    pub(crate) arg_type: TypeId,
    pub(crate) arg_type_name: &'static str,
    pub(crate) bytes: Vec<u8>,
}

type HandlerResult = Result<Vec<u8>, RpcError>;
type Handler = Box<dyn Fn(Request) -> BoxFuture<'static, HandlerResult> + Send + Sync>;

/// Encodes the `what` ("arguments" or "reply") of `method`, failing the run when the message is
/// larger than the network carries.
pub(crate) fn encode_message<T: Serialize>(
    method: &'static str,
    what: &'static str,
    value: &T,
) -> Result<Vec<u8>, RpcError> {
    labgob::encode_at_most(value, MAX_MESSAGE_BYTES).map_err(|e| match e.oversized() {
        Some(bytes) => {
            let error = RpcError::TooLarge {
                method,
                what,
                bytes,
            };
            layer::fail_rule(
                "messages stay under labrpc::MAX_MESSAGE_BYTES",
                format!(
                    "{error}. Send what the peer needs (entries from its next index, a \
                     snapshot), not everything"
                ),
            );
            error
        }
        None => RpcError::Encode(e.to_string()),
    })
}

/// A named set of handlers, like the methods of one Go object registered with MIT's labrpc.
pub struct Service {
    name: String,
    handlers: Vec<(&'static str, Handler)>,
}

impl Service {
    /// An empty service. Its name is the part of each method name before the dot.
    pub fn new(name: impl Into<String>) -> Service {
        Service {
            name: name.into(),
            handlers: Vec::new(),
        }
    }

    /// Adds the handler of RPC `R`. The handler runs on the server's node (a crash aborts it)
    /// and may await, for example until an operation commits.
    ///
    /// # Panics
    /// If `R::NAME` does not start with this service's name and a dot, or the method is already
    /// registered: both are bugs in the service's setup, found when it starts.
    pub fn handle<R, F, Fut>(mut self, handler: F) -> Service
    where
        R: Rpc,
        F: Fn(R) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R::Reply> + Send + 'static,
    {
        let method = R::NAME;
        let prefix_ok = method.strip_prefix(self.name.as_str()).is_some_and(|rest| {
            rest.starts_with('.') && rest.len() > 1 && !rest[1..].contains('.')
        });
        assert!(
            prefix_ok,
            "labrpc: {}::NAME is {method:?}, which is not a method of service {:?} \
             (expected \"{}.Method\")",
            type_name::<R>(),
            self.name,
            self.name
        );
        assert!(
            self.handlers.iter().all(|(m, _)| *m != method),
            "labrpc: {method} registered twice in service {:?}",
            self.name
        );
        let erased: Handler = Box::new(move |request: Request| {
            if request.arg_type != TypeId::of::<R>() {
                let err = RpcError::TypeMismatch {
                    method: request.method,
                    expected: type_name::<R>(),
                    got: request.arg_type_name,
                };
                return futures::future::ready(Err(err)).boxed();
            }
            let args: R = match labgob::decode(&request.bytes) {
                Ok(args) => args,
                Err(e) => {
                    return futures::future::ready(Err(RpcError::Decode(e.to_string()))).boxed()
                }
            };
            let reply = handler(args);
            let method = request.method;
            async move { encode_message(method, "reply", &reply.await) }.boxed()
        });
        self.handlers.push((method, erased));
        self
    }

    /// The service's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// A server: the services one machine offers under one server name, and a count of the
/// requests that reached it.
pub struct Server {
    node: NodeId,
    services: Vec<String>,
    handlers: HashMap<&'static str, Handler>,
    count: AtomicU64,
}

impl Server {
    /// An empty server whose handlers run on the node the caller runs on (use
    /// [`Node::enter`](crate::sim::Node::enter) to build a server for another node).
    pub fn new() -> Server {
        Server {
            node: layer::current_node("labrpc::Server::new"),
            services: Vec::new(),
            handlers: HashMap::new(),
            count: AtomicU64::new(0),
        }
    }

    /// Adds `service`, e.g. both a KV service and its Raft on one kvraft server.
    ///
    /// # Panics
    /// If a service of that name is already present.
    pub fn add_service(&mut self, service: Service) {
        assert!(
            !self.services.contains(&service.name),
            "labrpc: service {:?} added twice to one server",
            service.name
        );
        for (method, handler) in service.handlers {
            self.handlers.insert(method, handler);
        }
        self.services.push(service.name);
    }

    /// How many requests reached this server's dispatch (MIT's `GetCount`), including those
    /// whose reply was later lost.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub(crate) fn node(&self) -> NodeId {
        self.node
    }

    /// Counts the request and starts its handler, or says why there is none.
    pub(crate) fn dispatch(
        &self,
        request: Request,
    ) -> Result<BoxFuture<'static, HandlerResult>, RpcError> {
        self.count.fetch_add(1, Ordering::Relaxed);
        match self.handlers.get(request.method) {
            Some(handler) => Ok(handler(request)),
            None => {
                let service = request.method.rsplit_once('.').map_or("", |(s, _)| s);
                if self.services.iter().any(|s| s == service) {
                    Err(RpcError::UnknownMethod {
                        method: request.method,
                    })
                } else {
                    Err(RpcError::UnknownService {
                        method: request.method,
                        available: self.services.clone(),
                    })
                }
            }
        }
    }
}

impl Default for Server {
    fn default() -> Self {
        Server::new()
    }
}
