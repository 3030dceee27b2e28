//! The network's fixed numbers.

/// The largest message, arguments or reply, the network carries: 64 MiB. No lab needs more
/// than a few megabytes (the largest snapshots are kilobytes); a message past this is a log or a
/// store sent whole by mistake, which MIT's Go labs would carry slowly for seconds.
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// How long a request on the reliable network travels before its handler runs, unless the
/// tester says otherwise (see [`Network::set_latency`](crate::Network::set_latency)).
pub const DEFAULT_LATENCY_MS: u64 = 5;
