//! Reading key/value histories written in Jepsen's EDN style, as in porcupine's test data.
//!
//! One event per line: `{:process N, :type :invoke|:ok|:fail|:info, :f :get|:put|:append,
//! :key "K", :value "V"|nil}`. An `:invoke` opens a call of process N, the next `:ok`, `:fail` or
//! `:info` of that process closes it. Times are line numbers. An `:ok` get carries the value read
//! (nil reads as ""); a `:fail` means the call did not happen and drops it; an `:info` (or a call
//! still open at the end) has an unknown outcome.

use super::kv::{KvInput, KvOperation};
use super::Operation;
use std::collections::HashMap;
use std::path::PathBuf;

/// The directory of the known-answer key/value histories (`c01-ok.txt`, ...):
/// `tests/testdata/linearizability/kv/` (porcupine's test data; see the README there).
pub fn kv_testdata_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/linearizability/kv")
}

/// An EDN value of the subset used by the histories.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    Int(i64),
    Keyword(String),
    Str(String),
    Nil,
}

/// Parses one `{:k v, ...}` map.
fn parse_map(line: &str) -> Result<HashMap<String, Value>, String> {
    let body = line
        .trim()
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .ok_or("expected {...}")?;
    let mut chars = body.chars().peekable();
    let mut values: Vec<Value> = Vec::new();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() || c == ',' {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next().ok_or("unterminated string")? {
                    '"' => break,
                    '\\' => match chars.next().ok_or("unterminated string")? {
                        'n' => s.push('\n'),
                        't' => s.push('\t'),
                        other => s.push(other),
                    },
                    other => s.push(other),
                }
            }
            values.push(Value::Str(s));
        } else {
            let mut atom = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == ',' {
                    break;
                }
                atom.push(c);
                chars.next();
            }
            values.push(if let Some(k) = atom.strip_prefix(':') {
                Value::Keyword(k.to_owned())
            } else if atom == "nil" {
                Value::Nil
            } else {
                Value::Int(atom.parse().map_err(|_| format!("bad atom {atom:?}"))?)
            });
        }
    }
    if values.len() % 2 != 0 {
        return Err("odd number of map elements".into());
    }
    let mut map = HashMap::new();
    for pair in values.chunks(2) {
        match &pair[0] {
            Value::Keyword(k) => map.insert(k.clone(), pair[1].clone()),
            other => return Err(format!("map key {other:?} is not a keyword")),
        };
    }
    Ok(map)
}

/// Parses an EDN key/value history into operations (times are line numbers; see the module
/// docs). Errors name the offending line.
pub fn parse_edn(text: &str) -> Result<Vec<KvOperation>, String> {
    let mut ops: Vec<KvOperation> = Vec::new();
    let mut failed: Vec<bool> = Vec::new();
    let mut open: HashMap<i64, usize> = HashMap::new();
    let mut time = 0u64;
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let err = |e: String| format!("line {}: {e}: {line}", n + 1);
        let map = parse_map(line).map_err(err)?;
        let get = |k: &str| map.get(k).ok_or_else(|| err(format!("missing :{k}")));
        let process = match get("process")? {
            Value::Int(p) => *p,
            other => return Err(err(format!("bad :process {other:?}"))),
        };
        let kind = match get("type")? {
            Value::Keyword(k) => k.as_str(),
            other => return Err(err(format!("bad :type {other:?}"))),
        };
        let value = match map.get("value") {
            Some(Value::Str(s)) => Some(s.clone()),
            Some(Value::Nil) | None => None,
            Some(other) => return Err(err(format!("bad :value {other:?}"))),
        };
        time += 1;
        if kind == "invoke" {
            let key = match get("key")? {
                Value::Str(s) => s.clone(),
                other => return Err(err(format!("bad :key {other:?}"))),
            };
            let f = match get("f")? {
                Value::Keyword(k) => k.as_str(),
                other => return Err(err(format!("bad :f {other:?}"))),
            };
            let input = match f {
                "get" => KvInput::Get(key),
                "put" => KvInput::Put(key, value.unwrap_or_default()),
                "append" => KvInput::Append(key, value.unwrap_or_default()),
                other => return Err(err(format!("unknown :f {other}"))),
            };
            if open.insert(process, ops.len()).is_some() {
                return Err(err("process invoked twice without completing".into()));
            }
            ops.push(Operation::unknown(process as usize, input, time));
            failed.push(false);
            continue;
        }
        let i = open
            .remove(&process)
            .ok_or_else(|| err("completion without invocation".into()))?;
        match kind {
            "ok" => {
                let op = &mut ops[i];
                op.ret = time;
                op.output = Some(match op.input {
                    KvInput::Get(_) => value.unwrap_or_default(),
                    _ => String::new(),
                });
            }
            "fail" => failed[i] = true,
            "info" => {} // unknown outcome: stays open until the end
            other => return Err(err(format!("unknown :type {other}"))),
        }
    }
    Ok(ops
        .into_iter()
        .zip(failed)
        .filter(|(_, failed)| !failed)
        .map(|(op, _)| op)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_events() {
        let text = r#"{:process 0, :type :invoke, :f :put, :key "a", :value "x \"1\""}
{:process 1, :type :invoke, :f :get, :key "a", :value nil}
{:process 0, :type :ok, :f :put, :key "a", :value "x \"1\""}
{:process 2, :type :invoke, :f :append, :key "b", :value "y"}
{:process 1, :type :ok, :f :get, :key "a", :value "x \"1\""}
{:process 3, :type :invoke, :f :get, :key "b", :value nil}
{:process 3, :type :fail, :f :get, :key "b", :value nil}
"#;
        let ops = parse_edn(text).unwrap();
        assert_eq!(ops.len(), 3);
        assert_eq!(
            ops[0],
            Operation::new(
                0,
                KvInput::Put("a".into(), "x \"1\"".into()),
                String::new(),
                1,
                3
            )
        );
        assert_eq!(
            ops[1],
            Operation::new(1, KvInput::Get("a".into()), "x \"1\"".into(), 2, 5)
        );
        assert_eq!(ops[2].output, None);
        assert!(parse_edn("{:process 0, :type :ok}").is_err());
    }
}
