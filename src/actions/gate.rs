//! Gated steps: an action that waits for something outside goldpath (an
//! Argo CD Application to be healthy, an object's condition) answers
//! "waiting" instead of succeeding or failing, with what it waits for and
//! when to look again. The step loop records that and requeues the request,
//! so no thread waits; a step that is still waiting at its deadline (its
//! `timeout`, else the configured default) ends `Stalled`.
//!
//! This module owns the answer and the `timeout` format:
//! a sequence of whole numbers with units, `d`, `h`, `m`, `s`, e.g. `90s`,
//! `10m`, `1h30m`, `2d`.

use std::time::Duration;

use super::ActionError;

/// The longest timeout a step may ask for.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(crate::config::MAX_STEP_TIMEOUT_SECONDS);

/// The shortest time between two looks at what a step waits for, so an
/// action that asks for less cannot make a hot loop.
pub const MIN_RECHECK: Duration = Duration::from_secs(1);

/// The longest `timeout` text read: more is refused unread.
const MAX_TIMEOUT_TEXT: usize = 32;

impl ActionError {
    /// Not a failure: the step waits for `what` (e.g. "Application
    /// argocd/web to be Synced and Healthy; it is OutOfSync, Progressing")
    /// and is looked at again after `recheck` (at least [`MIN_RECHECK`]).
    pub fn waiting(what: impl Into<String>, recheck: Duration) -> Self {
        ActionError {
            message: what.into(),
            transient: false,
            retry_after: Some(recheck.max(MIN_RECHECK)),
            waiting: true,
        }
    }
}

/// Reads a step's `timeout`: whole numbers with units `d`, `h`, `m`, `s`
/// (e.g. `10m`, `1h30m`), more than zero and at most [`MAX_TIMEOUT`].
/// The error names what is wrong, for the Template's check.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    let expected = "is a duration of whole numbers with units d, h, m, s (e.g. 90s, 10m, 1h30m)";
    if text.len() > MAX_TIMEOUT_TEXT {
        return Err(format!(
            "timeout is longer than {MAX_TIMEOUT_TEXT} characters; it {expected}"
        ));
    }
    let mut total: u64 = 0;
    let mut number: Option<u64> = None;
    for c in text.chars() {
        if let Some(digit) = c.to_digit(10) {
            // At most 32 characters: a number past 10^20 overflows, refused.
            number = number
                .unwrap_or(0)
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(digit)))
                .or(Some(u64::MAX));
            continue;
        }
        let unit = match c {
            'd' => 24 * 3600,
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(format!("timeout {text:?} has {c:?}; it {expected}")),
        };
        let Some(n) = number.take() else {
            return Err(format!(
                "timeout {text:?} has a unit without a number; it {expected}"
            ));
        };
        total = total.saturating_add(n.saturating_mul(unit));
    }
    if number.is_some() || text.is_empty() {
        return Err(format!("timeout {text:?} ends without a unit; it {expected}"));
    }
    let timeout = Duration::from_secs(total);
    if timeout.is_zero() {
        return Err(format!("timeout {text:?} is zero; a step needs time to wait"));
    }
    if timeout > MAX_TIMEOUT {
        return Err(format!(
            "timeout {text:?} is longer than the maximum of {}d",
            MAX_TIMEOUT.as_secs() / (24 * 3600)
        ));
    }
    Ok(timeout)
}

/// A duration as a step's messages show it, e.g. `1h30m`, `45s`.
pub fn show(duration: Duration) -> String {
    let mut left = duration.as_secs();
    if left == 0 {
        return "0s".into();
    }
    let mut text = String::new();
    for (unit, seconds) in [("d", 24 * 3600), ("h", 3600), ("m", 60), ("s", 1)] {
        if left >= seconds {
            text.push_str(&format!("{}{unit}", left / seconds));
            left %= seconds;
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_read_as_units_and_bad_ones_are_named() {
        assert_eq!(parse_timeout("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_timeout("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_timeout("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_timeout("2d"), Ok(Duration::from_secs(2 * 86400)));
        for (bad, says) in [
            ("", "ends without a unit"),
            ("10", "ends without a unit"),
            ("m", "a unit without a number"),
            ("10 m", "has ' '"),
            ("1w", "has 'w'"),
            ("0s", "is zero"),
            ("31d", "longer than the maximum of 30d"),
            ("99999999999999999999999d", "longer than the maximum"),
            (&"1s".repeat(20), "longer than 32 characters"),
        ] {
            let error = parse_timeout(bad).unwrap_err();
            assert!(error.contains(says), "{bad:?}: {error}");
        }
    }

    #[test]
    fn durations_show_in_the_timeout_format() {
        for text in ["1h30m", "45s", "2d", "1d1h1m1s"] {
            assert_eq!(show(parse_timeout(text).unwrap()), text);
        }
        assert_eq!(show(Duration::ZERO), "0s");
    }

    #[test]
    fn a_waiting_answer_is_not_a_failure_and_never_rechecks_at_once() {
        let answer = ActionError::waiting("the Application to be Healthy", Duration::ZERO);
        assert!(answer.waiting && !answer.transient);
        assert_eq!(answer.retry_after, Some(MIN_RECHECK));
    }
}
