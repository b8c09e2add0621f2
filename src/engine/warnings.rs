//! Warnings: input Backstage accepts and renders, but that is almost
//! certainly a mistake (a duplicate step id, an expression nunjucks cannot
//! parse, `undefined` in arithmetic). goldpath renders what Backstage
//! renders and says so; callers show the warnings (the CLI on stderr, a
//! Template in its status) and `--strict` turns them into errors.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

/// How many warnings one template or request keeps; the rest are counted.
pub const MAX_WARNINGS: usize = 100;

/// Bytes a warning's location and message keep each.
const MAX_TEXT: usize = 1024;

/// One warning, naming where the author looks.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Warning {
    /// The step and field, or the file, e.g. `step fetch: input.url`.
    pub location: String,
    /// The line within a file or field, when known.
    pub line: Option<usize>,
    /// What is likely wrong and what goldpath does with it.
    pub message: String,
}

impl Warning {
    /// A warning about `location`, its texts cut to a bounded length.
    pub fn new(location: impl Into<String>, line: Option<usize>, message: impl Into<String>) -> Self {
        Warning {
            location: cut(location.into()),
            line,
            message: cut(message.into()),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}, line {line}: {}", self.location, self.message),
            None => write!(f, "{}: {}", self.location, self.message),
        }
    }
}

fn cut(mut text: String) -> String {
    if text.len() > MAX_TEXT {
        let mut end = MAX_TEXT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// The warnings of one template or request, in the order found, at most
/// [`MAX_WARNINGS`]; a warning already present is not repeated (a step run
/// once per item warns once).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Warnings {
    kept: Vec<Warning>,
    dropped: usize,
}

impl Warnings {
    /// No warnings.
    pub fn new() -> Self {
        Warnings::default()
    }

    /// Adds `warning` unless it is already here.
    pub fn push(&mut self, warning: Warning) {
        if self.kept.contains(&warning) {
            return;
        }
        if self.kept.len() < MAX_WARNINGS {
            self.kept.push(warning);
        } else {
            self.dropped += 1;
        }
    }

    /// Adds every warning of `other`.
    pub fn extend(&mut self, other: Warnings) {
        for warning in other.kept {
            self.push(warning);
        }
        self.dropped += other.dropped;
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    /// The warnings kept.
    pub fn iter(&self) -> impl Iterator<Item = &Warning> {
        self.kept.iter()
    }

    /// The same warnings with `mask` applied to every text, e.g. to hide
    /// secrets a message quotes.
    pub fn masked(self, mask: impl Fn(&str) -> String) -> Warnings {
        Warnings {
            kept: self
                .kept
                .into_iter()
                .map(|w| Warning {
                    location: mask(&w.location),
                    line: w.line,
                    message: mask(&w.message),
                })
                .collect(),
            dropped: self.dropped,
        }
    }

    /// Each warning as one line, and a last line counting those not kept.
    pub fn lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self.kept.iter().map(ToString::to_string).collect();
        if self.dropped > 0 {
            lines.push(format!("{} more warnings not shown", self.dropped));
        }
        lines
    }
}

/// Where rendering reports warnings: shared by every clone of a renderer
/// and by the functions its environments call, so a warning raised deep in
/// an expression reaches whoever runs the request.
#[derive(Clone, Default)]
pub struct Sink {
    inner: Arc<Mutex<SinkState>>,
}

#[derive(Default)]
struct SinkState {
    warnings: Warnings,
    /// What is being rendered now, for warnings raised without a location.
    location: String,
}

impl Sink {
    /// Names what is rendered from now on.
    pub fn rendering(&self, location: &str) {
        let mut state = self.lock();
        if state.location != location {
            state.location = location.to_string();
        }
    }

    /// Warns about what is being rendered now.
    pub fn warn(&self, line: Option<usize>, message: impl Into<String>) {
        let mut state = self.lock();
        let warning = Warning::new(state.location.clone(), line, message);
        state.warnings.push(warning);
    }

    /// Adds a warning with its own location.
    pub fn push(&self, warning: Warning) {
        self.lock().warnings.push(warning);
    }

    /// The warnings so far, leaving none behind.
    pub fn take(&self) -> Warnings {
        std::mem::take(&mut self.lock().warnings)
    }

    /// A poisoned lock only means a render panicked; the list is still sound.
    fn lock(&self) -> MutexGuard<'_, SinkState> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_are_bounded_in_number_and_length_and_not_repeated() {
        let mut warnings = Warnings::new();
        for _ in 0..3 {
            warnings.push(Warning::new("step a: input.x", Some(2), "same"));
        }
        assert_eq!(warnings.lines(), ["step a: input.x, line 2: same"]);
        for i in 0..(MAX_WARNINGS * 3) {
            warnings.push(Warning::new(format!("step {i}"), None, "x".repeat(10 * MAX_TEXT)));
        }
        let lines = warnings.lines();
        assert_eq!(lines.len(), MAX_WARNINGS + 1);
        assert_eq!(
            lines.last().map(String::as_str),
            Some(format!("{} more warnings not shown", 2 * MAX_WARNINGS + 1).as_str())
        );
        assert!(
            lines.iter().all(|line| line.len() < 3 * MAX_TEXT),
            "a warning is cut"
        );
    }

    #[test]
    fn the_sink_names_what_is_being_rendered() {
        let sink = Sink::default();
        sink.rendering("skeleton/ci.yaml");
        sink.clone().warn(Some(4), "undefined");
        sink.push(Warning::new("step b: output", None, "raw"));
        assert_eq!(
            sink.take().lines(),
            ["skeleton/ci.yaml, line 4: undefined", "step b: output: raw"]
        );
        assert!(sink.take().is_empty());
    }
}
