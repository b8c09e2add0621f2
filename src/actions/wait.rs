//! `debug:wait`: a pause of `minutes`, `seconds` and `milliseconds`, as
//! Backstage's, up to the configured maximum. Where it waits is the
//! caller's: the operator requeues the request with the time left, the CLI
//! sleeps, `goldpath render` does not run it.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::ActionError;

/// The input of `debug:wait`; the parts add up.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default)]
pub struct WaitInput {
    /// Minutes to wait.
    pub minutes: Option<f64>,
    /// Seconds to wait.
    pub seconds: Option<f64>,
    /// Milliseconds to wait.
    pub milliseconds: Option<f64>,
}

/// How long `input` asks to wait: each part a number of zero or more.
pub fn duration(input: &WaitInput) -> Result<Duration, ActionError> {
    let mut total = 0.0;
    for (name, value, unit) in [
        ("minutes", input.minutes, 60.0),
        ("seconds", input.seconds, 1.0),
        ("milliseconds", input.milliseconds, 0.001),
    ] {
        let Some(value) = value else { continue };
        if !value.is_finite() || value < 0.0 {
            return Err(ActionError::permanent(format!(
                "input.{name} must be a number of zero or more, not {value}"
            )));
        }
        total += value * unit;
    }
    // Past a year the figure only matters for the maximum check.
    Ok(Duration::from_secs_f64(total.min(365.0 * 24.0 * 3600.0)))
}

/// How long a `debug:wait` step that ran with `input` (its rendered
/// input, or a list of them with `each`) waits in all. The run has
/// already refused an input that does not read.
pub fn total(input: Option<&Value>) -> Duration {
    let one = |input: &Value| {
        super::input::decode::<WaitInput>(input)
            .and_then(|input| duration(&input))
            .unwrap_or_default()
    };
    match input {
        Some(Value::Array(inputs)) => inputs.iter().map(one).sum(),
        Some(input) => one(input),
        None => Duration::ZERO,
    }
}

/// `duration`, refused past `max` (`debugWaitMaxSeconds`), as Backstage
/// refuses a wait past its threshold.
pub fn within(duration: Duration, max: Duration) -> Result<Duration, ActionError> {
    if duration > max {
        return Err(ActionError::permanent(format!(
            "debug:wait of {:.3}s is longer than the maximum of {}s (debugWaitMaxSeconds)",
            duration.as_secs_f64(),
            max.as_secs()
        )));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parts_add_up_and_bad_ones_are_named() {
        let input = WaitInput {
            minutes: Some(1.0),
            seconds: Some(2.5),
            milliseconds: Some(250.0),
        };
        assert_eq!(duration(&input), Ok(Duration::from_millis(62_750)));
        assert_eq!(duration(&WaitInput::default()), Ok(Duration::ZERO));
        let negative = WaitInput {
            seconds: Some(-1.0),
            ..WaitInput::default()
        };
        assert!(duration(&negative).unwrap_err().message.contains("input.seconds"));
        // An enormous figure is capped, not overflowed, and then refused.
        let huge = WaitInput {
            minutes: Some(1e300),
            ..WaitInput::default()
        };
        let capped = duration(&huge).unwrap();
        let refused = within(capped, Duration::from_secs(600)).unwrap_err();
        assert!(
            refused.message.contains("longer than the maximum of 600s"),
            "{refused}"
        );
        assert_eq!(
            within(Duration::from_secs(600), Duration::from_secs(600)),
            Ok(Duration::from_secs(600))
        );
    }
}
