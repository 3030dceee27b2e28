//! `cargo lab grade --format gradescope`: a grade as Gradescope's autograder `results.json`.
//!
//! The format is Gradescope's documented one ("Autograder Specifications", output format): a
//! top-level `score`, `execution_time` (seconds), `output`, `visibility`, `stdout_visibility`,
//! and one entry per grader test in `tests`, each with `name`, `number`, `score`, `max_score`,
//! `status` (`passed` or `failed`), `output` and `visibility`. Every test is visible: a student
//! must see which test failed, on which seed, and the command that replays it.

use serde::Serialize;

use crate::grade::{explain, Grade};

/// Gradescope's `results.json`.
#[derive(Serialize)]
pub struct Results {
    pub score: f64,
    pub execution_time: u64,
    pub output: String,
    pub visibility: &'static str,
    pub stdout_visibility: &'static str,
    pub tests: Vec<TestResult>,
}

/// One test case of `results.json`.
#[derive(Serialize)]
pub struct TestResult {
    pub name: String,
    pub number: String,
    pub score: f64,
    pub max_score: f64,
    pub status: &'static str,
    pub output: String,
    pub visibility: &'static str,
}

/// The results of a grade.
pub fn results(grade: &Grade) -> Results {
    let tests: Vec<TestResult> = grade
        .tests
        .iter()
        .enumerate()
        .map(|(i, t)| TestResult {
            name: format!("{}: {}", t.part, t.test),
            number: (i + 1).to_string(),
            score: t.earned.into(),
            max_score: t.points.into(),
            status: if t.verdict == "pass" {
                "passed"
            } else {
                "failed"
            },
            output: explain(t),
            visibility: "visible",
        })
        .collect();
    Results {
        score: grade.earned.into(),
        execution_time: grade.wall_secs.ceil() as u64,
        output: overview(grade),
        visibility: "visible",
        stdout_visibility: "hidden",
        tests,
    }
}

/// `results.json` for a submission that could not be graded at all (a missing file, a build
/// failure): score 0 and the reason.
pub fn not_graded(reason: &str) -> Results {
    Results {
        score: 0.0,
        execution_time: 0,
        output: reason.to_string(),
        visibility: "visible",
        stdout_visibility: "hidden",
        tests: Vec::new(),
    }
}

/// The text shown above the tests: the score, the seeds, and how a grade is earned.
fn overview(grade: &Grade) -> String {
    let failing = grade.tests.iter().filter(|t| t.verdict != "pass").count();
    let seeds = match (grade.seeds.first(), grade.seeds.last()) {
        (Some(first), Some(last)) if first != last => format!("seeds {first} to {last}"),
        (Some(first), _) => format!("seed {first}"),
        _ => "no seeds".into(),
    };
    format!(
        "score: {}/{} points; {} of {} tests failed on some seed ({seeds}). A test earns its \
         points only if it passes on every seed; each failure names its seed and the command \
         that replays exactly that run.",
        grade.earned,
        grade.points,
        failing,
        grade.tests.len()
    )
}

/// The results as JSON text.
pub fn to_json(results: &Results) -> String {
    serde_json::to_string_pretty(results).expect("results serialize") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grade::tests::sample;
    use serde_json::Value;

    fn parsed(results: &Results) -> Value {
        serde_json::from_str(&to_json(results)).unwrap()
    }

    #[test]
    fn fields_have_gradescopes_types_and_scores_add_up() {
        let grade = sample();
        let json = parsed(&results(&grade));
        let top = json.as_object().unwrap();
        assert_eq!(json["score"].as_f64(), Some(1.0));
        assert!(json["execution_time"].is_u64());
        assert_eq!(json["execution_time"], 13);
        assert!(json["output"]
            .as_str()
            .unwrap()
            .starts_with("score: 1/5 points; 2 of 3"));
        for key in ["visibility", "stdout_visibility"] {
            let v = json[key].as_str().unwrap();
            assert!(
                ["hidden", "after_due_date", "after_published", "visible"].contains(&v),
                "{key}: {v}"
            );
        }
        for key in top.keys() {
            assert!(
                [
                    "score",
                    "execution_time",
                    "output",
                    "visibility",
                    "stdout_visibility",
                    "tests"
                ]
                .contains(&key.as_str()),
                "not a results.json field: {key}"
            );
        }
        let tests = json["tests"].as_array().unwrap();
        assert_eq!(tests.len(), 3);
        let (mut score, mut max) = (0.0, 0.0);
        for (i, t) in tests.iter().enumerate() {
            assert_eq!(t.as_object().unwrap().len(), 7, "{t}");
            assert!(t["name"].is_string() && t["output"].is_string());
            assert_eq!(t["number"].as_str(), Some((i + 1).to_string().as_str()));
            assert_eq!(t["visibility"], "visible");
            let (s, m) = (
                t["score"].as_f64().unwrap(),
                t["max_score"].as_f64().unwrap(),
            );
            assert!((0.0..=m).contains(&s), "{t}");
            let status = t["status"].as_str().unwrap();
            assert_eq!(status, if s == m { "passed" } else { "failed" }, "{t}");
            score += s;
            max += m;
        }
        assert_eq!((score, max), (1.0, 5.0));
        assert_eq!(json["score"].as_f64(), Some(score));
        assert_eq!(tests[0]["name"], "2A: initial_election_2a");
        let flaky = tests[2]["output"].as_str().unwrap();
        assert!(flaky.starts_with("flaky: passed 2 of 3 seeds"), "{flaky}");
        assert!(flaky.contains("failing seeds: [2]"), "{flaky}");
        assert!(flaky.contains("expected one leader, got none"), "{flaky}");
        assert!(
            flaky.contains("\nreplay: LAB_SEED=2 cargo test -p raft"),
            "{flaky}"
        );
    }

    #[test]
    fn a_submission_that_cannot_be_graded_scores_zero_with_the_reason() {
        let json = parsed(&not_graded("missing raft/src/raft.rs"));
        assert_eq!(json["score"].as_f64(), Some(0.0));
        assert_eq!(json["output"], "missing raft/src/raft.rs");
        assert_eq!(json["tests"].as_array().map(Vec::len), Some(0));
    }
}
