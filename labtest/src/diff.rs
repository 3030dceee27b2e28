//! A wrong value, said briefly: where two long strings part ways, not both of them whole.
//!
//! Key/value values in the graders grow by appends to hundreds of characters; printing the
//! expected and the received value in full (twice, with `assert_eq!`) hides the one place they
//! differ.

/// How many characters of context to show around the first difference.
const CONTEXT: usize = 24;

/// A one-line account of how `received` differs from `expected`, e.g.
/// `expected 612 chars, received 598: same first 403, then expected "…x5y7…", received "…x6y…"`.
/// Short values are shown whole.
pub fn describe_mismatch(expected: &str, received: &str) -> String {
    if expected.chars().count() <= 2 * CONTEXT && received.chars().count() <= 2 * CONTEXT {
        return format!("expected {expected:?}, received {received:?}");
    }
    let (e, r): (Vec<char>, Vec<char>) = (expected.chars().collect(), received.chars().collect());
    let same = e.iter().zip(&r).take_while(|(a, b)| a == b).count();
    let window = |s: &[char]| {
        let from = same.saturating_sub(CONTEXT / 2);
        let to = (same + CONTEXT).min(s.len());
        let mut w: String = s[from..to].iter().collect();
        if from > 0 {
            w.insert(0, '…');
        }
        if to < s.len() {
            w.push('…');
        }
        w
    };
    format!(
        "expected {} chars, received {}: same first {same}, then expected {:?}, received {:?}",
        e.len(),
        r.len(),
        window(&e),
        window(&r)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_whole_long_ones_around_the_first_difference() {
        assert_eq!(describe_mismatch("x", "y"), r#"expected "x", received "y""#);
        let expected = "a".repeat(400) + "XYZ" + &"b".repeat(200);
        let received = "a".repeat(400) + "XQZ" + &"b".repeat(190);
        let d = describe_mismatch(&expected, &received);
        assert!(
            d.starts_with("expected 603 chars, received 593: same first 401"),
            "{d}"
        );
        assert!(d.contains(r#"then expected "…aaaaaaaaaaaXYZbbb"#), "{d}");
        assert!(d.contains(r#"received "…aaaaaaaaaaaXQZbbb"#), "{d}");
        assert!(d.len() < 200, "{d}");
        let prefix = describe_mismatch(&"c".repeat(100), &"c".repeat(60));
        assert!(prefix.contains("same first 60"), "{prefix}");
    }
}
