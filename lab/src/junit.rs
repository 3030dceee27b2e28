//! `cargo lab grade --format junit`: a grade as JUnit XML, for CI systems that show test
//! reports (GitLab, Jenkins, GitHub actions that read JUnit).
//!
//! One `<testsuite>` per lab part, one `<testcase>` per grader test with `classname` the lab and
//! part (`raft.2A`) and `time` its mean wall-clock seconds per run. A test that failed on any
//! seed, flaky or not, has a `<failure>` whose `message` is the replay command of its first
//! failing seed and whose text says the rest (verdict, seeds, diagnosis).

use crate::grade::{explain, Grade, TestGrade};

/// The grade as a JUnit XML document.
pub fn xml(grade: &Grade) -> String {
    let mut parts: Vec<(&str, &str)> = Vec::new();
    for t in &grade.tests {
        if !parts.contains(&(&t.lab, &t.part)) {
            parts.push((&t.lab, &t.part));
        }
    }
    let failures = grade.tests.iter().filter(|t| t.verdict != "pass").count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{:.3}\">\n",
        escape(&format!("cargo lab grade {}", grade.selection)),
        grade.tests.len(),
        grade.wall_secs
    ));
    for (lab, part) in parts {
        let tests: Vec<&TestGrade> = grade
            .tests
            .iter()
            .filter(|t| t.lab == lab && t.part == part)
            .collect();
        let failures = tests.iter().filter(|t| t.verdict != "pass").count();
        let time: f64 = tests.iter().map(|t| t.mean_wall_secs).sum();
        out.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" \
             skipped=\"0\" time=\"{time:.3}\">\n",
            escape(&format!("{lab} {part}")),
            tests.len()
        ));
        for t in tests {
            out.push_str(&testcase(t));
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

fn testcase(t: &TestGrade) -> String {
    let open = format!(
        "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\"",
        escape(&t.test),
        escape(&format!("{}.{}", t.lab, t.part)),
        t.mean_wall_secs
    );
    if t.verdict == "pass" {
        return open + "/>\n";
    }
    let message = t.replay.as_deref().unwrap_or(&t.verdict);
    format!(
        "{open}>\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>\n",
        escape(message),
        escape(&t.verdict),
        escape(&explain(t))
    )
}

/// A document for a grade that never ran: one errored test case saying why (the build failed).
pub fn not_graded(selection: &str, reason: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <testsuites name=\"{name}\" tests=\"1\" failures=\"0\" errors=\"1\">\n  \
         <testsuite name=\"{name}\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\">\n    \
         <testcase name=\"build\" classname=\"{sel}\">\n      \
         <error message=\"the graders could not be built\">{}</error>\n    \
         </testcase>\n  </testsuite>\n</testsuites>\n",
        escape(reason),
        name = escape(&format!("cargo lab grade {selection}")),
        sel = escape(selection),
    )
}

/// Escapes text for an XML attribute or element: the five special characters, line breaks and
/// tabs as character references (attribute values would otherwise fold them to spaces), and
/// characters XML 1.0 does not allow at all (terminal colour codes, say) as U+FFFD.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grade::tests::sample;

    #[test]
    fn parses_back_with_counts_classnames_and_failures() {
        let grade = sample();
        let text = xml(&grade);
        let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "testsuites");
        assert_eq!(root.attribute("tests"), Some("3"));
        assert_eq!(root.attribute("failures"), Some("2"));
        let suites: Vec<_> = root.children().filter(|n| n.is_element()).collect();
        let names: Vec<_> = suites
            .iter()
            .map(|s| s.attribute("name").unwrap())
            .collect();
        assert_eq!(names, ["raft 2A", "raft 2C"]);
        assert_eq!(suites[0].attribute("tests"), Some("2"));
        assert_eq!(suites[0].attribute("failures"), Some("1"));
        let cases: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        assert_eq!(cases.len(), 3);
        assert_eq!(cases[0].attribute("classname"), Some("raft.2A"));
        assert_eq!(cases[0].attribute("time"), Some("0.250"));
        assert_eq!(cases[0].children().filter(|n| n.is_element()).count(), 0);
        let failures: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("failure"))
            .collect();
        assert_eq!(failures.len(), 2);
        let flaky = failures[1];
        assert_eq!(flaky.attribute("type"), Some("flaky"));
        assert_eq!(
            flaky.attribute("message"),
            Some("LAB_SEED=2 cargo test -p raft --release --test grader part2c::figure8_2c -- --exact")
        );
        // What went in comes back out, special characters and line breaks included; the colour
        // code XML cannot carry is replaced.
        let body = flaky.text().unwrap();
        assert_eq!(body, explain(&grade.tests[2]).replace('\u{1b}', "\u{fffd}"));
        assert!(
            body.contains("got none <&\"'> \u{fffd}[31m\nreplay: "),
            "{body}"
        );
    }

    #[test]
    fn escapes_attributes_and_text() {
        let tricky = "a <b> & \"c\" 'd'\nline\u{1}";
        let text = format!("<x a=\"{0}\">{0}</x>", escape(tricky));
        let doc = roxmltree::Document::parse(&text).unwrap();
        let x = doc.root_element();
        assert_eq!(x.attribute("a"), Some("a <b> & \"c\" 'd'\nline\u{fffd}"));
        assert_eq!(x.text(), Some("a <b> & \"c\" 'd'\nline\u{fffd}"));
    }

    #[test]
    fn a_build_failure_is_one_errored_case() {
        let text = not_graded("2a", "error[E0425]: cannot find value `x` in <scope>");
        let doc = roxmltree::Document::parse(&text).unwrap();
        let error = doc.descendants().find(|n| n.has_tag_name("error")).unwrap();
        assert_eq!(
            error.text(),
            Some("error[E0425]: cannot find value `x` in <scope>")
        );
        assert_eq!(doc.root_element().attribute("errors"), Some("1"));
    }
}
