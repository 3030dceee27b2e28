//! The `LAB_*` variables a grader test reads (see the table in [`super`]).

use std::time::Duration;

/// The settings read from the environment.
pub(crate) struct Env {
    pub(crate) seed: Option<u64>,
    pub(crate) seeds: u64,
    pub(crate) check_determinism: bool,
    pub(crate) watchdog: Duration,
    /// `LAB_RESULT_LINES=1`: print a machine-readable line per seed (for `cargo lab`).
    pub(crate) result_lines: bool,
    pub(crate) trace: TraceMode,
}

/// What `LAB_TRACE` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TraceMode {
    /// Unset: a failed run is run again with a trace, and leaves its timeline.
    OnFailure,
    /// `LAB_TRACE=1`: print every event as it happens (and the timeline on failure).
    Print,
    /// `LAB_TRACE=html`: write the timeline of every run.
    Html,
    /// `LAB_TRACE=0`: no trace, not even on failure.
    Off,
}

impl Env {
    /// Reads the variables, or says which one is malformed and what it should look like.
    pub(crate) fn read() -> Result<Env, String> {
        Env::from(|name| std::env::var(name).ok())
    }

    /// Reads the variables through `lookup` (the environment, or a table in tests).
    fn from(lookup: impl Fn(&str) -> Option<String>) -> Result<Env, String> {
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let number = |name: &str| {
            var(name)
                .map(|v| {
                    v.trim().parse::<u64>().map_err(|_| {
                        format!("{name}={v:?} is not a number; expected e.g. {name}=1234")
                    })
                })
                .transpose()
        };
        let seeds = number("LAB_SEEDS")?.unwrap_or(1);
        if seeds == 0 {
            return Err("LAB_SEEDS=0 runs nothing; expected at least 1".into());
        }
        let check = var("LAB_CHECK_DETERMINISM");
        let watchdog = number("LAB_WATCHDOG_SECS")?.unwrap_or(5).max(1);
        Ok(Env {
            seed: number("LAB_SEED")?,
            seeds,
            check_determinism: matches!(check.as_deref(), Some(v) if v != "0"),
            watchdog: Duration::from_secs(watchdog),
            result_lines: var("LAB_RESULT_LINES").is_some_and(|v| v != "0"),
            trace: match var("LAB_TRACE").as_deref().map(str::trim) {
                None => TraceMode::OnFailure,
                Some("0" | "off") => TraceMode::Off,
                Some("html") => TraceMode::Html,
                Some(_) => TraceMode::Print,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Result<Env, String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Env::from(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn reads_the_defaults_and_each_variable() {
        let e = env(&[]).unwrap();
        assert_eq!((e.seed, e.seeds, e.check_determinism), (None, 1, false));
        assert_eq!(
            (e.watchdog, e.trace),
            (Duration::from_secs(5), TraceMode::OnFailure)
        );
        let e = env(&[
            ("LAB_SEED", " 42 "),
            ("LAB_SEEDS", "3"),
            ("LAB_CHECK_DETERMINISM", "1"),
            ("LAB_WATCHDOG_SECS", "0"),
            ("LAB_RESULT_LINES", "1"),
            ("LAB_TRACE", "html"),
        ])
        .unwrap();
        assert_eq!((e.seed, e.seeds, e.check_determinism), (Some(42), 3, true));
        assert_eq!(
            (e.watchdog, e.trace),
            (Duration::from_secs(1), TraceMode::Html)
        );
        assert!(e.result_lines);
        assert_eq!(env(&[("LAB_TRACE", "0")]).unwrap().trace, TraceMode::Off);
        assert_eq!(
            env(&[("LAB_TRACE", "yes")]).unwrap().trace,
            TraceMode::Print
        );
        assert!(
            !env(&[("LAB_CHECK_DETERMINISM", "0")])
                .unwrap()
                .check_determinism
        );
    }

    #[test]
    fn a_malformed_variable_says_what_it_expects() {
        let err = env(&[("LAB_SEED", "abc")]).err().unwrap();
        assert_eq!(
            err,
            "LAB_SEED=\"abc\" is not a number; expected e.g. LAB_SEED=1234"
        );
        assert!(env(&[("LAB_SEEDS", "0")]).is_err());
    }
}
