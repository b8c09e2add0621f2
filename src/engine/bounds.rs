//! What one render may allocate and how long it may run. Every operator and
//! filter that can make a value larger than its inputs is checked here
//! before it allocates, against the same bytes-per-value bound and the
//! request's deadline that bound rendered text:
//!
//! - `*`, `+` and `~` are rewritten, before a template is compiled, into
//!   calls of checked functions (minijinja evaluates them natively, with
//!   bounds far above ours, and folds constant operands while compiling);
//!   so are list, tuple and map literals and `dict()` and `namespace()`,
//!   which check how deeply values nest: a value nested thousands deep
//!   overflows the stack when it is printed or dropped;
//! - every filter is wrapped: its inputs are measured, its parameters that
//!   multiply (widths, indents, counts, replacements) are checked, and its
//!   result is measured before it is handed on;
//! - a whole-expression value is converted to JSON through a writer that
//!   stops at the bound.
//!
//! Measuring writes a value's text into a counter that stops at the bound,
//! so a value larger written out than held (a list holding one list many
//! times) is never expanded past it.

use std::fmt::{self, Write as _};
use std::time::{Duration, Instant};

use minijinja::value::{Value, ValueKind};
use minijinja::{Error, ErrorKind, State};

/// A limit a render ran into; carried as the source of the template error,
/// so the renderer reports it as a limit rather than as the template's fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit {
    /// A value or the output would pass the bytes bound.
    Size,
    /// The request's deadline passed.
    Time,
}

impl fmt::Display for Hit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Hit::Size => "size limit",
            Hit::Time => "time limit",
        })
    }
}

impl std::error::Error for Hit {}

/// Levels one value may nest: lists, maps and their items. Values from a
/// request (parameters, step outputs) nest less, as JSON decoding allows
/// 128 levels at most and YAML is read to 64.
pub const MAX_DEPTH: usize = 100;

/// Bytes a list item counts for at least, so a list of many small items is
/// bounded like the text it would print.
pub const BYTES_PER_ITEM: usize = 16;

/// The bounds every checked operation holds to.
#[derive(Clone, Copy, Debug)]
pub struct Guard {
    /// Bytes one value (or one rendered text) may hold.
    pub max_bytes: usize,
    /// When the request's time is up.
    pub deadline: Instant,
    /// The request's time, for messages.
    pub timeout: Duration,
}

impl Guard {
    /// Items one list may hold.
    pub fn max_items(&self) -> usize {
        self.max_bytes / BYTES_PER_ITEM
    }

    /// Fails once the deadline has passed.
    pub fn time(&self) -> Result<(), Error> {
        if Instant::now() > self.deadline {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!(
                    "rendering stopped after {:?}; the template takes too long",
                    self.timeout
                ),
            )
            .with_source(Hit::Time));
        }
        Ok(())
    }

    /// Fails when `what` would take `bytes` (None: more than fits a usize).
    pub fn bytes(&self, what: &str, bytes: Option<usize>) -> Result<(), Error> {
        match bytes {
            Some(bytes) if bytes <= self.max_bytes => Ok(()),
            _ => Err(self.too_large(what)),
        }
    }

    /// Fails when a list of `items` items would be longer than allowed.
    pub fn items(&self, what: &str, items: Option<usize>) -> Result<(), Error> {
        match items {
            Some(items) if items <= self.max_items() => Ok(()),
            _ => Err(Error::new(
                ErrorKind::InvalidOperation,
                format!(
                    "{what} would make a list of more than {} items; a list counts {BYTES_PER_ITEM} bytes \
                     per item toward the bound of {} bytes on one value",
                    self.max_items(),
                    self.max_bytes
                ),
            )
            .with_source(Hit::Size)),
        }
    }

    /// Fails when `value` nests more than [`MAX_DEPTH`] levels deep. Only
    /// the first levels past the bound are visited, so this never recurses
    /// deeper than the bound itself.
    pub fn depth(&self, what: &str, value: &Value) -> Result<(), Error> {
        fn deeper_than(value: &Value, levels: usize) -> bool {
            if !matches!(
                value.kind(),
                ValueKind::Seq | ValueKind::Map | ValueKind::Iterable
            ) {
                return false;
            }
            if levels == 0 {
                return true;
            }
            let Ok(items) = value.try_iter() else {
                return false;
            };
            let is_map = value.kind() == ValueKind::Map;
            for item in items {
                let item = if is_map {
                    value.get_item(&item).unwrap_or_default()
                } else {
                    item
                };
                if deeper_than(&item, levels - 1) {
                    return true;
                }
            }
            false
        }
        if deeper_than(value, MAX_DEPTH) {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("{what} would nest values more than {MAX_DEPTH} levels deep"),
            )
            .with_source(Hit::Size));
        }
        Ok(())
    }

    /// Bytes one render may write in all, into `{% set %}` blocks, macro
    /// calls and `{% filter %}` blocks included: those collect their output
    /// where the bound on the rendered file does not see it. Text a macro
    /// returns counts once when the macro writes it and again when it is
    /// written out.
    pub fn max_written(&self) -> usize {
        self.max_bytes
    }

    /// Counts `bytes` toward what the render of `state` has written.
    pub fn written(&self, state: &mut State, bytes: usize) -> Result<(), Error> {
        const KEY: &str = "__goldpath_written";
        let so_far = state.get_temp(KEY).and_then(|v| v.as_usize()).unwrap_or(0);
        let total = so_far.saturating_add(bytes);
        if total > self.max_written() {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!(
                    "rendering stopped at {} bytes of output, counting what {{% set %}} blocks, \
                     macros and {{% filter %}} blocks collect; the template produces too much",
                    self.max_written()
                ),
            )
            .with_source(Hit::Size));
        }
        state.set_temp(KEY, Value::from(total));
        Ok(())
    }

    fn too_large(&self, what: &str) -> Error {
        Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "{what} would produce more than {} bytes, the bound on one value",
                self.max_bytes
            ),
        )
        .with_source(Hit::Size)
    }

    /// The bytes `value` takes as text, or an error past the bound. Lists
    /// count [`BYTES_PER_ITEM`] per item at least.
    pub fn measure(&self, what: &str, value: &Value) -> Result<usize, Error> {
        match value.kind() {
            ValueKind::String => {
                let len = value.as_str().map_or(0, str::len);
                self.bytes(what, Some(len))?;
                Ok(len)
            }
            ValueKind::Undefined
            | ValueKind::None
            | ValueKind::Bool
            | ValueKind::Number
            | ValueKind::Invalid => Ok(0),
            _ => {
                self.time()?;
                if let Some(len) = value.len() {
                    self.items(what, Some(len))?;
                }
                let mut counter = Counter {
                    bytes: 0,
                    limit: self.max_bytes,
                };
                if write!(counter, "{value}").is_err() {
                    return Err(self.too_large(what));
                }
                Ok(counter.bytes)
            }
        }
    }
}

/// Counts text written to it, refusing past a limit.
struct Counter {
    bytes: usize,
    limit: usize,
}

impl fmt::Write for Counter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.bytes += s.len();
        if self.bytes > self.limit {
            return Err(fmt::Error);
        }
        Ok(())
    }
}

/// Collects bytes up to a limit, checking the deadline every 64 KiB.
pub struct BoundedWriter {
    /// What was written so far.
    pub bytes: Vec<u8>,
    limit: usize,
    deadline: Instant,
    /// Which limit stopped the writing, if one did.
    pub stopped: Option<Hit>,
}

const CLOCK_CHECK_BYTES: usize = 64 << 10;

impl BoundedWriter {
    /// A writer that takes at most `limit` bytes, until `deadline`.
    pub fn new(limit: usize, deadline: Instant) -> Self {
        BoundedWriter {
            bytes: Vec::new(),
            limit,
            deadline,
            stopped: None,
        }
    }
}

impl std::io::Write for BoundedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > self.limit {
            self.stopped = Some(Hit::Size);
            return Err(std::io::Error::other(Hit::Size));
        }
        // Reading the clock on every small write would cost more than the
        // writes; once per 64 KiB bounds the time just as well.
        let crossed =
            self.bytes.len() / CLOCK_CHECK_BYTES != (self.bytes.len() + buf.len()) / CLOCK_CHECK_BYTES;
        if (crossed || self.bytes.is_empty()) && Instant::now() > self.deadline {
            self.stopped = Some(Hit::Time);
            return Err(std::io::Error::other(Hit::Time));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `value` as JSON, written through a [`BoundedWriter`] so that a value
/// that expands (a repeated list of long strings) stops at the bound.
pub fn to_json(guard: &Guard, value: &Value) -> Result<serde_json::Value, ToJsonError> {
    let mut writer = BoundedWriter::new(guard.max_bytes, guard.deadline);
    if let Err(error) = serde_json::to_writer(&mut writer, value) {
        return Err(match writer.stopped {
            Some(hit) => ToJsonError::Limit(hit),
            None => ToJsonError::Invalid(error.to_string()),
        });
    }
    serde_json::from_slice(&writer.bytes).map_err(|e| ToJsonError::Invalid(e.to_string()))
}

/// Why a value did not become JSON.
#[derive(Debug)]
pub enum ToJsonError {
    /// It is larger than the bound, or took past the deadline.
    Limit(Hit),
    /// It has no JSON form.
    Invalid(String),
}

mod checks;
mod operators;
mod rewrite;

pub use checks::*;
pub use operators::register_operators;
pub use rewrite::{MAX_CHAIN, is_checked_function, overlong_chain, rewrite};
