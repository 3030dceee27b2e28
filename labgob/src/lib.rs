//! The labs' codec: turns any serde value into bytes and back.
//!
//! MIT's labs use `labgob`, a checked wrapper around Go's `encoding/gob`, for RPC arguments,
//! replies, persisted Raft state and snapshots. This crate plays the same part for the Rust labs,
//! on top of [bincode] 2 (compact, varint-encoded, not self-describing):
//!
//! ```
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! struct Persistent {
//!     current_term: u64,
//!     voted_for: Option<usize>,
//!     log: Vec<(u64, String)>,
//! }
//!
//! let state = Persistent { current_term: 3, voted_for: Some(1), log: vec![(1, "x".into())] };
//! let bytes = labgob::encode(&state).unwrap();
//! assert_eq!(labgob::encoded_len(&state).unwrap(), bytes.len());
//! let back: Persistent = labgob::decode(&bytes).unwrap();
//! assert_eq!(back, state);
//!
//! // Garbage is an error that names the type it was meant to be, never a panic.
//! let err = labgob::decode::<Persistent>(&[0xff; 3]).unwrap_err();
//! assert!(err.to_string().contains("Persistent"), "{err}");
//! ```
//!
//! What Go's labgob had to warn about cannot happen here: serde encodes private fields, and
//! [`decode`] returns a fresh value instead of filling in one that may hold stale data. What is
//! left to check is the bytes themselves, and that is what the errors are for:
//!
//! * decoding truncated, garbage or wrong-typed bytes returns a [`DecodeError`] naming the target
//!   type; bytes left over after the value count as wrong-typed input;
//! * a length prefix larger than [`MAX_DECODE_BYTES`] is refused before anything is allocated;
//! * all the sequences and maps of one value hold at most [`MAX_DECODE_ELEMENTS`] elements,
//!   checked as each length is read, so that a corrupt length cannot keep a decode busy for ever
//!   on elements that take no bytes (a `Vec<()>`);
//! * serde features that need a self-describing format (`#[serde(untagged)]`, `flatten`,
//!   `deserialize_any`) are reported as errors too.
//!
//! The encoding is stable for a given type: the same value always gives the same bytes, which the
//! simulation's byte counters and determinism checks rely on.

mod budget;

use std::fmt;

use bincode::config::{Configuration, Limit, LittleEndian, Varint};
use bincode::de::read::Reader;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::budget::{Budget, Limited};

/// The most memory a single [`decode`] may claim for the value it builds (256 MiB). A corrupt
/// length prefix beyond this is an error instead of an allocation that takes the machine down.
pub const MAX_DECODE_BYTES: usize = 256 << 20;

/// The most elements all the sequences and maps of one decoded value may hold together (2^28;
/// the fields of structs and tuples count too, as bincode reads them as sequences). Memory does
/// not bound them: elements of a type that encodes to nothing (`()`, a unit struct) take none,
/// yet each costs time to decode. Every other element takes at least one byte of input, so only
/// an input of hundreds of MiB could reach this honestly.
pub const MAX_DECODE_ELEMENTS: usize = 1 << 28;

type Config = Configuration<LittleEndian, Varint, Limit<MAX_DECODE_BYTES>>;

const CONFIG: Config = bincode::config::standard().with_limit::<MAX_DECODE_BYTES>();

/// A value could not be encoded (in practice: a serde impl that reports an error, or a map or
/// sequence whose length serde does not know in advance).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError {
    type_name: &'static str,
    reason: String,
    oversized: Option<usize>,
}

impl EncodeError {
    /// The Rust type that was being encoded.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// From [`encode_at_most`]: the size the value would have taken, past the limit.
    pub fn oversized(&self) -> Option<usize> {
        self.oversized
    }

    fn new<T: ?Sized>(reason: String) -> Self {
        EncodeError {
            type_name: std::any::type_name::<T>(),
            reason,
            oversized: None,
        }
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "labgob: cannot encode {}: {}",
            self.type_name, self.reason
        )
    }
}

impl std::error::Error for EncodeError {}

/// Bytes that are not a valid encoding of the requested type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    type_name: &'static str,
    len: usize,
    reason: String,
}

impl DecodeError {
    /// The Rust type the bytes were decoded as.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// How many bytes were offered.
    pub fn input_len(&self) -> usize {
        self.len
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "labgob: {} bytes are not a valid {}: {}",
            self.len, self.type_name, self.reason
        )
    }
}

impl std::error::Error for DecodeError {}

/// Encodes `value`.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, EncodeError> {
    encode_at_most(value, usize::MAX)
}

/// Encodes `value` if it takes at most `max` bytes. A larger value is an error that says its
/// size ([`EncodeError::oversized`]), found without allocating or writing anything: a message
/// of hundreds of megabytes is refused in the time it takes to measure it.
///
/// ```
/// let log = vec![7u64; 1000];
/// assert_eq!(labgob::encode_at_most(&log, 1003).unwrap(), labgob::encode(&log).unwrap());
/// let err = labgob::encode_at_most(&log, 1002).unwrap_err();
/// assert_eq!(err.oversized(), Some(1003)); // a 3-byte length, then one byte per small u64
/// ```
pub fn encode_at_most<T: Serialize + ?Sized>(
    value: &T,
    max: usize,
) -> Result<Vec<u8>, EncodeError> {
    // Measuring first and writing into a buffer of the right size is cheaper than growing one:
    // a log entry batch would otherwise be copied several times on its way out.
    let len = encoded_len(value)?;
    if len > max {
        return Err(EncodeError {
            oversized: Some(len),
            ..EncodeError::new::<T>(format!("{len} bytes, more than the limit of {max}"))
        });
    }
    let mut buffer = vec![0u8; len];
    let written = bincode::serde::encode_into_slice(value, &mut buffer, CONFIG)
        .map_err(|e| EncodeError::new::<T>(e.to_string()))?;
    buffer.truncate(written);
    Ok(buffer)
}

/// Encodes `value` at the end of `out` and returns how many bytes it took: the same bytes as
/// [`encode`], without a buffer of their own. For values kept back to back in one buffer (the
/// reference Raft keeps its log's entries encoded so, one append per entry, and builds its
/// persisted state's header so), where [`encode`]'s measuring, allocating and copying would
/// cost more than the encoding. On an error `out` is left as it was.
pub fn encode_append<T: Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
) -> Result<usize, EncodeError> {
    let start = out.len();
    match bincode::serde::encode_into_writer(value, Appender(out), CONFIG) {
        Ok(()) => Ok(out.len() - start),
        Err(e) => {
            out.truncate(start);
            Err(EncodeError::new::<T>(e.to_string()))
        }
    }
}

/// bincode's output for [`encode_append`]: the end of a `Vec`.
struct Appender<'a>(&'a mut Vec<u8>);

impl bincode::enc::write::Writer for Appender<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), bincode::error::EncodeError> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }
}

/// The number of bytes [`encode`] would produce for `value`, computed without allocating.
pub fn encoded_len<T: Serialize + ?Sized>(value: &T) -> Result<usize, EncodeError> {
    let mut counter = bincode::enc::write::SizeWriter::default();
    bincode::serde::encode_into_writer(value, &mut counter, CONFIG)
        .map_err(|e| EncodeError::new::<T>(e.to_string()))?;
    Ok(counter.bytes_written)
}

/// Decodes a `T` from exactly `bytes`.
///
/// Fails, naming `T`, if the bytes are truncated, malformed, or longer than one `T`.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    let error = |reason: String| DecodeError {
        type_name: std::any::type_name::<T>(),
        len: bytes.len(),
        reason,
    };
    let mut input = Input { rest: bytes };
    let budget = Budget::new(MAX_DECODE_ELEMENTS);
    let value = {
        let mut decoder = bincode::serde::OwnedSerdeDecoder::from_reader(&mut input, CONFIG);
        T::deserialize(Limited::new(decoder.as_deserializer(), &budget))
    }
    .map_err(|e| error(e.to_string()))?;
    if !input.rest.is_empty() {
        return Err(error(format!(
            "{} trailing bytes after the value (wrong type?)",
            input.rest.len()
        )));
    }
    Ok(value)
}

/// The bytes [`decode`] has not read yet. bincode's own slice reader does not say how far it
/// got once it is inside a decoder, and the trailing-bytes check needs to know.
struct Input<'a> {
    rest: &'a [u8],
}

impl Reader for Input<'_> {
    fn read(&mut self, out: &mut [u8]) -> Result<(), bincode::error::DecodeError> {
        let Some((head, tail)) = self.rest.split_at_checked(out.len()) else {
            return Err(bincode::error::DecodeError::UnexpectedEnd {
                additional: out.len() - self.rest.len(),
            });
        };
        out.copy_from_slice(head);
        self.rest = tail;
        Ok(())
    }

    fn peek_read(&mut self, n: usize) -> Option<&[u8]> {
        self.rest.get(..n)
    }

    fn consume(&mut self, n: usize) {
        self.rest = self.rest.get(n..).unwrap_or_default();
    }
}
