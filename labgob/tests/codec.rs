//! Tests of the labs' codec: round trips (MIT's TestGOB, in spirit), `encoded_len`, and bad
//! input of every kind: garbage, truncated, trailing and wrong-typed bytes, and huge length
//! prefixes. Bad bytes must give a `DecodeError` naming the target type, and never a panic or a
//! huge allocation; a deterministic fuzz loop (splitmix64, fixed seeds) checks that over many
//! thousands of inputs.

use std::alloc::{GlobalAlloc, Layout, System};
use std::any::type_name;
use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::panic::{self, AssertUnwindSafe};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------------------------
// Allocation tracking: the largest single allocation made by the current thread.

struct Tracking;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Tracking = Tracking;

/// Runs `f` and returns its result with the largest single allocation it made.
fn largest_allocation<R>(f: impl FnOnce() -> R) -> (R, usize) {
    LARGEST.with(|l| l.set(0));
    let r = f();
    (r, LARGEST.with(|l| l.get()))
}

// ---------------------------------------------------------------------------------------------
// Types, after MIT's labgob test (T1, T2, T3), plus a Raft-like log entry.

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone, Default)]
struct T1 {
    t1int0: i64,
    t1int1: i64,
    t1string0: String,
    t1string1: String,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct T2 {
    t2slice: Vec<T1>,
    t2map: BTreeMap<i64, Box<T1>>,
    t2t3: Shape,
    t2opt: Option<Box<T3>>,
    t2hash: HashMap<String, Vec<u32>>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct T3 {
    t3int999: i64,
}

/// Go's `interface{}` field becomes an enum with every kind of variant.
#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
enum Shape {
    Unit,
    Newtype(T3),
    Tuple(i32, String),
    Struct { a: u8, b: Vec<i64> },
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Entry {
    term: u64,
    index: usize,
    command: Command,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
enum Command {
    Noop,
    Put { key: String, value: String },
    Append(String, String),
    Get(String),
    Config(BTreeMap<u32, Vec<u64>>),
}

// ---------------------------------------------------------------------------------------------
// A tiny deterministic PRNG (splitmix64) and value generators.

struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A byte, often one that means something to the varint encoding or to tags.
    fn byte(&mut self) -> u8 {
        const SPECIAL: [u8; 12] = [0, 1, 2, 3, 4, 0x7f, 0x80, 250, 251, 252, 253, 255];
        if self.below(3) == 0 {
            SPECIAL[self.below(SPECIAL.len() as u64) as usize]
        } else {
            self.next() as u8
        }
    }

    fn bytes(&mut self, max_len: u64) -> Vec<u8> {
        (0..self.below(max_len + 1)).map(|_| self.byte()).collect()
    }

    /// A number of any size, small ones more often.
    fn number(&mut self) -> u64 {
        self.next() >> (self.below(8) * 8)
    }

    fn string(&mut self) -> String {
        const PIECES: [&str; 6] = ["a", "xyz", "é", "日本", "🦀", " "];
        (0..self.below(6))
            .map(|_| PIECES[self.below(PIECES.len() as u64) as usize])
            .collect()
    }

    fn t1(&mut self) -> T1 {
        T1 {
            t1int0: self.number() as i64,
            t1int1: -(self.number() as i64),
            t1string0: self.string(),
            t1string1: self.string(),
        }
    }

    fn shape(&mut self) -> Shape {
        match self.below(4) {
            0 => Shape::Unit,
            1 => Shape::Newtype(T3 {
                t3int999: self.number() as i64,
            }),
            2 => Shape::Tuple(self.next() as i32, self.string()),
            _ => Shape::Struct {
                a: self.next() as u8,
                b: (0..self.below(4)).map(|_| self.number() as i64).collect(),
            },
        }
    }

    fn t2(&mut self) -> T2 {
        T2 {
            t2slice: (0..self.below(3)).map(|_| self.t1()).collect(),
            t2map: (0..self.below(3))
                .map(|_| (self.number() as i64, Box::new(self.t1())))
                .collect(),
            t2t3: self.shape(),
            t2opt: (self.below(2) == 0).then(|| {
                Box::new(T3 {
                    t3int999: self.number() as i64,
                })
            }),
            t2hash: (0..self.below(3))
                .map(|_| {
                    (
                        self.string(),
                        vec![self.next() as u32; self.below(3) as usize],
                    )
                })
                .collect(),
        }
    }

    fn entry(&mut self) -> Entry {
        let command = match self.below(5) {
            0 => Command::Noop,
            1 => Command::Put {
                key: self.string(),
                value: self.string(),
            },
            2 => Command::Append(self.string(), self.string()),
            3 => Command::Get(self.string()),
            _ => Command::Config(
                (0..self.below(4))
                    .map(|_| {
                        (
                            self.next() as u32,
                            vec![self.number(); self.below(3) as usize],
                        )
                    })
                    .collect(),
            ),
        };
        Entry {
            term: self.number(),
            index: self.number() as usize,
            command,
        }
    }

    fn strings(&mut self) -> Vec<String> {
        (0..self.below(5)).map(|_| self.string()).collect()
    }

    fn byte_map(&mut self) -> BTreeMap<u64, Vec<u8>> {
        (0..self.below(5))
            .map(|_| (self.number(), self.bytes(6)))
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Checks.

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(value: &T) {
    let bytes = labgob::encode(value).unwrap();
    assert_eq!(
        labgob::encoded_len(value).unwrap(),
        bytes.len(),
        "{value:?}"
    );
    let back: T = labgob::decode(&bytes).unwrap();
    assert_eq!(&back, value);
    // Appended after other bytes, the same bytes.
    let mut appended = vec![7, 7];
    assert_eq!(
        labgob::encode_append(value, &mut appended).unwrap(),
        bytes.len()
    );
    assert_eq!(
        (&appended[..2], &appended[2..]),
        (&[7u8, 7][..], &bytes[..])
    );
}

/// Decodes `bytes` as a `T`, failing the test (with the input in hex) if decoding panics or
/// returns an error that does not name `T`. Returns whether it decoded.
fn decode_checked<T: Serialize + DeserializeOwned>(bytes: &[u8]) -> bool {
    let decoded = panic::catch_unwind(AssertUnwindSafe(|| labgob::decode::<T>(bytes)));
    let result = decoded
        .unwrap_or_else(|_| panic!("decoding {} panicked on {:02x?}", type_name::<T>(), bytes));
    match result {
        Ok(value) => {
            // Whatever decodes must encode again, with a consistent length.
            let again = labgob::encode(&value).unwrap();
            assert_eq!(labgob::encoded_len(&value).unwrap(), again.len());
            true
        }
        Err(err) => {
            assert_eq!(err.type_name(), type_name::<T>());
            assert_eq!(err.input_len(), bytes.len());
            let message = err.to_string();
            assert!(message.contains(type_name::<T>()), "{message}");
            false
        }
    }
}

/// Every strict prefix of a valid encoding is an error naming `T`; the encoding plus one byte
/// too; the encoding itself decodes back to `value`.
fn check_truncations<T: Serialize + DeserializeOwned + PartialEq + Debug>(value: &T) {
    let bytes = labgob::encode(value).unwrap();
    for cut in 0..bytes.len() {
        assert!(
            !decode_checked::<T>(&bytes[..cut]),
            "{cut} of {} bytes of {value:?} decoded",
            bytes.len()
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    let err = labgob::decode::<T>(&longer).unwrap_err();
    assert!(err.to_string().contains("trailing"), "{err}");
    assert_eq!(labgob::decode::<T>(&bytes).unwrap(), *value);
}

/// Random bytes, and random mutations of valid encodings, decoded as `T`: never a panic, and
/// every error names `T`. Returns how many inputs decoded (a sanity figure).
fn fuzz<T: Serialize + DeserializeOwned>(
    rng: &mut SplitMix64,
    valid: &[Vec<u8>],
    rounds: usize,
) -> usize {
    let mut decoded = 0;
    for _ in 0..rounds {
        let input = if valid.is_empty() || rng.below(2) == 0 {
            rng.bytes(48)
        } else {
            let mut b = valid[rng.below(valid.len() as u64) as usize].clone();
            for _ in 0..=rng.below(3) {
                let at = rng.below(b.len() as u64 + 1) as usize;
                match rng.below(4) {
                    0 if at < b.len() => b[at] = rng.byte(),
                    1 => b.insert(at, rng.byte()),
                    2 if at < b.len() => {
                        b.remove(at);
                    }
                    _ => b.truncate(at),
                }
            }
            b
        };
        decoded += decode_checked::<T>(&input) as usize;
    }
    decoded
}

/// Generates `n` values, round-trips them, checks all their truncations, then fuzzes `T`.
fn exercise<T: Serialize + DeserializeOwned + PartialEq + Debug>(
    seed: u64,
    n: usize,
    generate: impl Fn(&mut SplitMix64) -> T,
) {
    let mut rng = SplitMix64(seed);
    let values: Vec<T> = (0..n).map(|_| generate(&mut rng)).collect();
    let mut valid = Vec::new();
    for v in &values {
        round_trip(v);
        check_truncations(v);
        valid.push(labgob::encode(v).unwrap());
    }
    fuzz::<T>(&mut rng, &valid, 5000);
}

// ---------------------------------------------------------------------------------------------
// Tests.

/// MIT's TestGOB: a round trip of nested structs, maps, an enum (Go's interface field),
/// options, vectors, strings and numbers, one value at a time and several in one encoding.
/// Lower-case (private) field names, which Go's gob drops, survive (MIT's TestCapital).
#[test]
fn gob_round_trip() {
    let t1 = T1 {
        t1int0: 1,
        t1int1: -1 << 40,
        t1string0: "6.824".into(),
        t1string1: "日本語 🦀".into(),
    };
    let mut t2map = BTreeMap::new();
    t2map.insert(99, Box::new(t1.clone()));
    t2map.insert(-7, Box::new(T1::default()));
    let t2 = T2 {
        t2slice: vec![t1.clone(), T1::default()],
        t2map,
        t2t3: Shape::Newtype(T3 { t3int999: 999 }),
        t2opt: Some(Box::new(T3 { t3int999: -999 })),
        t2hash: [("a".to_string(), vec![1, 2]), (String::new(), vec![])]
            .into_iter()
            .collect(),
    };
    round_trip(&t1);
    round_trip(&t2);
    for shape in [
        Shape::Unit,
        Shape::Tuple(i32::MIN, "t".into()),
        Shape::Struct {
            a: 255,
            b: vec![i64::MIN, 0, i64::MAX],
        },
    ] {
        round_trip(&T2 {
            t2t3: shape,
            t2opt: None,
            ..t2.clone()
        });
    }

    let m: BTreeMap<String, i64> = [("x".to_string(), 1), ("y".to_string(), 2)].into();
    let several = (
        1i64,
        -2i64,
        t1.clone(),
        t2.clone(),
        m,
        vec!["a".to_string(), String::new()],
        (true, 1.5f64, 'é', u64::MAX, u128::MAX, ()),
        None::<Vec<u8>>,
        Some(vec![0u8, 255]),
    );
    round_trip(&several);
    round_trip(&Entry {
        term: 3,
        index: 1 << 33,
        command: Command::Config([(1, vec![100, 101]), (2, vec![])].into()),
    });
    round_trip(&String::new());
    round_trip(&Vec::<T2>::new());
    round_trip(&());
}

/// `encoded_len` is exactly the length `encode` produces, for small and large values.
#[test]
fn encoded_len_equals_encode_len() {
    let mut rng = SplitMix64(1);
    for _ in 0..500 {
        let t2 = rng.t2();
        let entry = rng.entry();
        let strings = rng.strings();
        let n = rng.number();
        assert_eq!(
            labgob::encoded_len(&t2).unwrap(),
            labgob::encode(&t2).unwrap().len()
        );
        assert_eq!(
            labgob::encoded_len(&entry).unwrap(),
            labgob::encode(&entry).unwrap().len()
        );
        assert_eq!(
            labgob::encoded_len(&strings).unwrap(),
            labgob::encode(&strings).unwrap().len()
        );
        assert_eq!(
            labgob::encoded_len(&n).unwrap(),
            labgob::encode(&n).unwrap().len()
        );
    }
    let big = vec![7u64 << 50; 100_000];
    assert_eq!(
        labgob::encoded_len(&big).unwrap(),
        labgob::encode(&big).unwrap().len()
    );
    let text = "y".repeat(1 << 20);
    assert_eq!(labgob::encoded_len(&text).unwrap(), (1 << 20) + 5);
}

/// A value whose serde impl fails after its first field is written.
struct FailsHalfway;

impl Serialize for FailsHalfway {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeTuple};
        let mut fields = s.serialize_tuple(2)?;
        fields.serialize_element(&300u64)?;
        Err(S::Error::custom("no second field"))
    }
}

/// An append that fails takes back what it wrote: the buffer holds only whole values.
#[test]
fn a_failed_append_leaves_the_buffer_as_it_was() {
    let mut out = vec![1, 2];
    let err = labgob::encode_append(&FailsHalfway, &mut out).unwrap_err();
    assert!(err.to_string().contains("no second field"), "{err}");
    assert_eq!(out, vec![1, 2]);
}

/// Garbage, truncated, trailing and wrong-typed bytes each give a `DecodeError` that names the
/// target type and says how many bytes it got.
#[test]
fn bad_bytes_are_errors_naming_the_type() {
    fn expect_err<T: DeserializeOwned + Debug>(bytes: &[u8], says: &str) {
        let err = labgob::decode::<T>(bytes).unwrap_err();
        let message = err.to_string();
        assert_eq!(err.type_name(), type_name::<T>());
        assert_eq!(err.input_len(), bytes.len());
        assert!(message.contains(type_name::<T>()), "{message}");
        assert!(message.contains(says), "{message:?} does not say {says:?}");
    }
    // Garbage.
    expect_err::<T1>(&[0xff; 3], "T1");
    expect_err::<Entry>(&[0xfe; 40], "Entry");
    // Truncated.
    let t1 = labgob::encode(&T1 {
        t1string0: "hello".into(),
        ..T1::default()
    })
    .unwrap();
    expect_err::<T1>(&t1[..t1.len() - 1], "T1");
    expect_err::<Vec<String>>(&[], "Vec");
    // Trailing.
    let mut extra = t1.clone();
    extra.extend_from_slice(&[1, 2, 3]);
    expect_err::<T1>(&extra, "3 trailing bytes");
    // Wrong-typed.
    expect_err::<u64>(&labgob::encode("hello").unwrap(), "trailing");
    expect_err::<bool>(&labgob::encode(&5u8).unwrap(), "bool");
    expect_err::<T1>(&labgob::encode(&T3 { t3int999: 4 }).unwrap(), "T1");
    expect_err::<Command>(&[9], "Command"); // no variant 9
    expect_err::<Option<u8>>(&[2, 0], "Option");
    expect_err::<String>(&[2, 0xff, 0xfe], "String"); // not UTF-8
    expect_err::<char>(&[0xfc, 0x00, 0xd8, 0, 0], "char"); // a surrogate
    expect_err::<u8>(&labgob::encode(&300u64).unwrap(), "u8");
    expect_err::<Shape>(
        &labgob::encode(&Command::Config(BTreeMap::new())).unwrap(),
        "Shape",
    );
}

/// Every truncation of many valid encodings fails, naming the type; thousands of random and
/// mutated inputs never panic and every error names the type. Deterministic (fixed seeds).
#[test]
fn fuzz_never_panics_and_errors_name_the_type() {
    exercise(1, 200, |r| r.strings());
    exercise(2, 200, |r| r.byte_map());
    exercise(3, 200, |r| r.entry());
    exercise(4, 100, |r| r.t2());
    exercise(5, 100, |r| {
        (0..r.below(4))
            .map(|_| (r.string(), r.next() as u32))
            .collect::<HashMap<_, _>>()
    });
    exercise(6, 100, |r| {
        (r.below(2) == 0).then(|| (r.next() as i32, r.below(2) == 0, 'λ'))
    });
    exercise(7, 100, |r| {
        (
            r.next() as u8,
            r.next() as i16,
            f64::from_bits(r.next()).abs().min(1e300),
            { (r.below(2) == 0).then(|| u128::from(r.next()) << 64) },
        )
    });

    // Valid encodings of one type decoded as the others: errors name the target type.
    let mut rng = SplitMix64(8);
    let encodings: Vec<Vec<u8>> = (0..300)
        .map(|i| match i % 4 {
            0 => labgob::encode(&rng.strings()).unwrap(),
            1 => labgob::encode(&rng.byte_map()).unwrap(),
            2 => labgob::encode(&rng.entry()).unwrap(),
            _ => labgob::encode(&rng.t2()).unwrap(),
        })
        .collect();
    for bytes in &encodings {
        decode_checked::<Vec<String>>(bytes);
        decode_checked::<BTreeMap<u64, Vec<u8>>>(bytes);
        decode_checked::<Entry>(bytes);
        decode_checked::<T2>(bytes);
        decode_checked::<Shape>(bytes);
        decode_checked::<(u64, String)>(bytes);
    }

    // Pure random bytes for a few more types (20,000 inputs in all).
    let mut rng = SplitMix64(9);
    for _ in 0..5000 {
        let bytes = rng.bytes(64);
        decode_checked::<Vec<String>>(&bytes);
        decode_checked::<BTreeMap<u64, Vec<u8>>>(&bytes);
        decode_checked::<Entry>(&bytes);
        decode_checked::<Vec<Vec<u64>>>(&bytes);
    }
}

/// A length prefix that claims a huge container is an error, and nothing close to its size is
/// allocated (at most about the 1 MiB serde allows itself before seeing any element).
#[test]
fn huge_length_prefix_errors_without_allocating() {
    const LIMIT: usize = 4 << 20;
    fn claim(len: u64, tail: &[u8]) -> Vec<u8> {
        let mut bytes = vec![253]; // varint: a u64 follows, little-endian
        bytes.extend_from_slice(&len.to_le_bytes());
        bytes.extend_from_slice(tail);
        bytes
    }
    fn check<T: DeserializeOwned + Serialize>(bytes: &[u8]) {
        let (decoded, largest) = largest_allocation(|| decode_checked::<T>(bytes));
        assert!(!decoded, "{} decoded from {bytes:02x?}", type_name::<T>());
        assert!(
            largest <= LIMIT,
            "decoding {} allocated {largest} bytes at once",
            type_name::<T>()
        );
    }
    for len in [
        1 << 60,
        u64::MAX,
        1 << 40,
        (labgob::MAX_DECODE_BYTES as u64) + 1,
    ] {
        for tail in [&[][..], &[1, 2, 3][..]] {
            let bytes = claim(len, tail);
            check::<Vec<u64>>(&bytes);
            check::<Vec<u8>>(&bytes);
            check::<String>(&bytes);
            check::<Vec<String>>(&bytes);
            check::<BTreeMap<u64, Vec<u8>>>(&bytes);
            check::<HashMap<u64, u64>>(&bytes);
            check::<Vec<T2>>(&bytes);
            // Nested: a valid outer length, then a huge inner one.
            let mut nested = vec![1];
            nested.extend_from_slice(&bytes);
            check::<Vec<Vec<u64>>>(&nested);
            check::<Vec<String>>(&nested);
        }
    }
    // The 2^60-element Vec<u64> of the brief, spelled out.
    let mut bytes = vec![253];
    bytes.extend_from_slice(&(1u64 << 60).to_le_bytes());
    let (result, largest) = largest_allocation(|| labgob::decode::<Vec<u64>>(&bytes));
    let err = result.unwrap_err();
    assert!(err.to_string().contains("Vec<u64>"), "{err}");
    assert!(largest <= LIMIT, "allocated {largest} bytes");
}

/// Elements that encode to nothing take no input and no memory, so only the element limit stops
/// a corrupt length: 2^60 `()`s (or map entries, or a second huge nested length) must be an error
/// at once, not a loop of 2^60 steps. Up to the limit, such values still round-trip.
#[test]
fn zero_sized_elements_under_a_huge_length_are_an_error_at_once() {
    fn decode_in_time<T: DeserializeOwned + Send + 'static>(bytes: Vec<u8>) -> String {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            tx.send(labgob::decode::<T>(&bytes).err().map(|e| e.to_string()))
        });
        match rx.recv_timeout(std::time::Duration::from_secs(10)) {
            Ok(err) => err.unwrap_or_else(|| panic!("{} decoded", type_name::<T>())),
            Err(_) => panic!("decoding {} still running after 10 s", type_name::<T>()),
        }
    }
    let huge = labgob::encode(&(1u64 << 60)).unwrap(); // the same varint as a length prefix
    let err = decode_in_time::<Vec<()>>(huge.clone());
    assert!(err.contains("Vec<()>") && err.contains("limit"), "{err}");
    decode_in_time::<BTreeMap<(), ()>>(huge.clone());
    decode_in_time::<Vec<[u8; 0]>>(huge);
    // Each length alone is within the limit; together they are not.
    let half = labgob::MAX_DECODE_ELEMENTS as u64 / 2;
    let mut nested = labgob::encode(&half).unwrap();
    nested.extend(labgob::encode(&(half + 1)).unwrap());
    decode_in_time::<Vec<Vec<()>>>(nested);
    round_trip(&vec![(); 100_000]);
    round_trip(&vec![vec![(); 3]; 5]);
}
