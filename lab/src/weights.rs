//! `cargo lab grade --weights FILE`: points per test, as a JSON object of test name to points
//! (`{"figure8_2c": 3}`); a test the file does not name is worth 1 point.
//!
//! A name that is not a test must be an error, not a line that does nothing: a typo
//! (`figure_8_2c`) would otherwise leave the real test at 1 point and nobody would know. So is a
//! name given twice, which JSON parsers settle silently by keeping the last.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::de::{Deserializer, MapAccess, Visitor};

use crate::suite::{GraderTest, LABS};

/// Points per test (short names, e.g. `figure8_2c`).
#[derive(Default)]
pub struct Weights(BTreeMap<String, u32>);

/// The entries of a JSON object in file order, duplicates kept.
struct Entries(Vec<(String, u32)>);

impl<'de> serde::Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object of test name to points")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        d.deserialize_map(EntriesVisitor)
    }
}

impl Weights {
    /// Reads a weights file.
    pub fn load(path: &Path) -> Result<Weights, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read weights file {}: {e}", path.display()))?;
        Weights::parse(&text).map_err(|e| format!("weights file {}: {e}", path.display()))
    }

    fn parse(text: &str) -> Result<Weights, String> {
        let Entries(entries) = serde_json::from_str(text).map_err(|e| {
            format!(
                "{e} (expected a JSON object of test name to points, e.g. {{\"figure8_2c\": 3}})"
            )
        })?;
        let mut map = BTreeMap::new();
        for (name, points) in entries {
            if let Some(before) = map.insert(name.clone(), points) {
                return Err(format!(
                    "{name} is given twice ({before} and {points} points)"
                ));
            }
        }
        Ok(Weights(map))
    }

    /// Checks every name against `known`, every grader test of the labs this run built; the
    /// error, to follow the file's name, lists the names that are not tests and the nearest
    /// test names. A name whose part belongs to a lab not built here (a course-wide file,
    /// graded one lab at a time) cannot be checked in this run and is returned, for the caller
    /// to say so.
    pub fn check(&self, known: &[GraderTest]) -> Result<Vec<String>, String> {
        let labs: Vec<&str> = known.iter().map(|t| t.lab.as_str()).collect();
        let mut unknown = Vec::new();
        let mut elsewhere = Vec::new();
        for name in self.0.keys() {
            if known.iter().any(|t| t.short_name() == name) {
                continue;
            }
            let part = name.rsplit_once('_').map_or("", |(_, part)| part);
            match LABS.iter().find(|(_, parts)| parts.contains(&part)) {
                Some((lab, _)) if !labs.contains(lab) => elsewhere.push(name.clone()),
                _ => unknown.push(name),
            }
        }
        if unknown.is_empty() {
            return Ok(elsewhere);
        }
        let names: Vec<&str> = known.iter().map(GraderTest::short_name).collect();
        let mut message = format!(
            "has names that are not tests of the {} grader:",
            dedup(&labs).join(", ")
        );
        for name in unknown {
            let close = closest(name, &names);
            message.push_str(&format!("\n  {name}"));
            if !close.is_empty() {
                message.push_str(&format!(" (did you mean {}?)", close.join(" or ")));
            }
        }
        message.push_str(&format!("\nthe tests are: {}", names.join(", ")));
        Err(message)
    }

    /// The points `test` is worth.
    pub fn points(&self, test: &GraderTest) -> u32 {
        self.0.get(test.short_name()).copied().unwrap_or(1)
    }

    /// The tests of `tests` the file does not name (they are worth 1 point each).
    pub fn unnamed<'t>(&self, tests: &'t [GraderTest]) -> Vec<&'t str> {
        tests
            .iter()
            .map(GraderTest::short_name)
            .filter(|name| !self.0.contains_key(*name))
            .collect()
    }
}

fn dedup<'a>(labs: &[&'a str]) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for lab in labs {
        if !out.contains(lab) {
            out.push(lab);
        }
    }
    out
}

/// Up to three of `names` nearest to `name` by edit distance, if near enough to be a typo.
fn closest<'a>(name: &str, names: &[&'a str]) -> Vec<&'a str> {
    let limit = (name.chars().count() / 3).max(2);
    let mut scored: Vec<(usize, &str)> = names
        .iter()
        .map(|n| (edit_distance(name, n), *n))
        .filter(|(d, _)| *d <= limit)
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, n)| n).collect()
}

/// Levenshtein distance, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn raft(names: &[&str]) -> Vec<GraderTest> {
        names
            .iter()
            .map(|n| GraderTest {
                lab: "raft".into(),
                binary: PathBuf::new(),
                name: format!("part::{n}"),
            })
            .collect()
    }

    #[test]
    fn a_name_that_is_no_test_is_an_error_naming_the_closest() {
        let known = raft(&["figure8_2c", "figure8_unreliable_2c", "initial_election_2a"]);
        let w = Weights::parse(r#"{"figure_8_2c": 3, "initial_election_2a": 2}"#).unwrap();
        let err = w.check(&known).unwrap_err();
        assert!(
            err.contains("figure_8_2c (did you mean figure8_2c?)"),
            "{err}"
        );
        assert!(!err.contains("\n  initial_election_2a"), "{err}");
        // A name like no test at all: the list of tests.
        let err = Weights::parse(r#"{"bogus": 1}"#)
            .unwrap()
            .check(&known)
            .unwrap_err();
        assert!(
            err.contains("  bogus\nthe tests are: figure8_2c, "),
            "{err}"
        );
        // A name of another part of this lab is checked too.
        let w = Weights::parse(r#"{"initial_election_2b": 1}"#).unwrap();
        assert!(w.check(&known).is_err());
    }

    #[test]
    fn names_of_labs_not_built_are_returned_unchecked() {
        let known = raft(&["figure8_2c"]);
        let w = Weights::parse(r#"{"figure8_2c": 3, "basic_3a": 2, "multi_4a": 1}"#).unwrap();
        assert_eq!(w.check(&known).unwrap(), ["basic_3a", "multi_4a"]);
        assert_eq!(w.points(&known[0]), 3);
        let both = raft(&["figure8_2c", "late_vote_2a"]);
        assert_eq!(w.unnamed(&both), ["late_vote_2a"]);
    }

    #[test]
    fn duplicates_and_bad_points_are_errors() {
        let err = Weights::parse(r#"{"figure8_2c": 3, "figure8_2c": 5}"#)
            .err()
            .unwrap();
        assert_eq!(err, "figure8_2c is given twice (3 and 5 points)");
        for bad in [r#"{"figure8_2c": -1}"#, r#"{"figure8_2c": 1.5}"#, "[1]", ""] {
            let err = Weights::parse(bad).err().unwrap();
            assert!(err.contains("e.g. {\"figure8_2c\": 3}"), "{bad}: {err}");
        }
    }

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("figure8_2c", "figure8_2c"), 0);
        assert_eq!(edit_distance("figure_8_2c", "figure8_2c"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
