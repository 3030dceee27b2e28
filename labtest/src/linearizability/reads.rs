//! The values a history's Gets read, stored once: each read is a prefix of a text of its key.
//!
//! A key/value service's values mostly grow by appends, so a value read is mostly the value read
//! before with something appended, and a whole history of reads is a few texts per key and one
//! prefix of one of them per Get. Stored as plain strings, a kvraft test with 20 clients
//! appending to their own keys held 8 MB of reads, each Get a fresh copy of its key's value;
//! as prefixes, it holds what the keys finally contain. Every read is still kept exactly (a
//! prefix is the very bytes read), so the check sees the same history.

use std::collections::BTreeMap;

/// A store of reads; [`Reads::add`] keeps one and gives its handle, [`Reads::get`] gives it
/// back.
#[derive(Clone, Debug, Default)]
pub struct Reads {
    /// The texts, each only ever appended to, so that a prefix once handed out never changes.
    texts: Vec<String>,
    /// For each key, the text its last read went to.
    latest: BTreeMap<String, usize>,
}

/// A read kept in [`Reads`]: the first `len` bytes of text `text`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadId {
    text: usize,
    len: usize,
}

impl Reads {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps `value`, read from `key`. It goes to the text of the key's last read when it is a
    /// prefix of that text, or extends it (then the text grows); otherwise (a Put replaced the
    /// value, or a read saw another order of appends) it starts a new text for the key.
    pub fn add(&mut self, key: &str, value: &str) -> ReadId {
        if let Some(&t) = self.latest.get(key) {
            let text = &mut self.texts[t];
            if text.starts_with(value) {
                return ReadId {
                    text: t,
                    len: value.len(),
                };
            }
            if let Some(rest) = value.strip_prefix(text.as_str()) {
                text.push_str(rest);
                return ReadId {
                    text: t,
                    len: value.len(),
                };
            }
        }
        let t = self.texts.len();
        self.texts.push(value.to_owned());
        match self.latest.get_mut(key) {
            Some(latest) => *latest = t,
            None => {
                self.latest.insert(key.to_owned(), t);
            }
        }
        ReadId {
            text: t,
            len: value.len(),
        }
    }

    /// The value kept as `id`.
    pub fn get(&self, id: ReadId) -> &str {
        &self.texts[id.text][..id.len]
    }

    /// The bytes of text held (not counting spare capacity).
    pub fn text_bytes(&self) -> usize {
        self.texts.iter().map(String::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_read_comes_back_exactly() {
        let mut reads = Reads::new();
        let values = [
            ("a", ""),
            ("a", "x 0 0 y"),
            ("b", "x 1 0 y"),
            ("a", "x 0 0 y"),
            ("a", "x 0 0 yx 0 1 y"),
            ("a", "x 0 0 y"),
            ("a", "replaced"),
            ("a", "x 0 0 yx 0 1 y"),
            ("b", "x 1 0 yx 1 1 y"),
            ("a", "replacedx"),
            ("b", "é"),
            ("b", "éé"),
        ];
        let ids: Vec<ReadId> = values.iter().map(|(k, v)| reads.add(k, v)).collect();
        for ((_, v), id) in values.iter().zip(ids) {
            assert_eq!(reads.get(id), *v);
        }
    }

    #[test]
    fn growing_reads_of_a_key_share_one_text() {
        let mut reads = Reads::new();
        let mut value = String::new();
        let mut ids = Vec::new();
        for j in 0..500 {
            value += &format!("x 0 {j} y");
            ids.push(reads.add("0", &value));
        }
        assert_eq!(reads.text_bytes(), value.len());
        assert_eq!(reads.get(ids[0]), "x 0 0 y");
        assert_eq!(reads.get(ids[499]), value);
    }
}
