//! Reading YAML that users and templates write (manifests, catalog-info
//! files, values): bounded in size and nesting before the parser sees it,
//! stopping at the first broken document, and with every error naming the
//! document and line.
//!
//! The YAML parser takes time quadratic in the nesting of flow collections
//! (`[[[[...`), repeats a syntax error forever when asked for the documents
//! after it, and panics on an alias to no anchor; the scan here refuses
//! all three before parsing.

use serde::de::DeserializeOwned;

/// How much YAML one read accepts.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// Bytes of text.
    pub max_bytes: usize,
    /// Levels of nested collections, block and flow together.
    pub max_depth: usize,
}

/// The bounds of every read: 16 MiB (what one rendered file may hold) and
/// 64 levels (deeper than any Kubernetes object or Backstage entity needs,
/// and well within the 128 levels JSON decoding allows).
pub const BOUNDS: Bounds = Bounds {
    max_bytes: 16 << 20,
    max_depth: 64,
};

/// Why YAML was refused, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("document {document}{}: {message}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
pub struct YamlError {
    /// The document of the stream, from 1.
    pub document: usize,
    /// The line of the text, from 1, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

/// Every document of a YAML stream, empty ones as `null`.
pub fn documents<T: DeserializeOwned>(text: &str) -> Result<Vec<T>, YamlError> {
    scan(text, BOUNDS)?;
    let mut out = Vec::new();
    for (i, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        // After a syntax error the parser yields the same error forever.
        let value = T::deserialize(document).map_err(|e| from_parser(i + 1, &e))?;
        out.push(value);
    }
    Ok(out)
}

/// The one document of `text`.
pub fn document<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    scan(text, BOUNDS)?;
    serde_yaml_ng::from_str(text).map_err(|e| from_parser(1, &e))
}

/// A YAML file's text; past the size bound only as much as shows it is
/// too large, so a huge file is not read whole.
pub fn read_file(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(BOUNDS.max_bytes as u64 + 1)
        .read_to_string(&mut text)?;
    Ok(text)
}

fn from_parser(document: usize, error: &serde_yaml_ng::Error) -> YamlError {
    YamlError {
        document,
        line: error.location().map(|l| l.line()),
        message: error.to_string(),
    }
}

/// Refuses text larger than `bounds`, nested deeper, or with an alias to
/// no anchor, without parsing it: one pass, constant memory per level.
pub fn scan(text: &str, bounds: Bounds) -> Result<(), YamlError> {
    let mut scanner = Scanner {
        bounds,
        document: 1,
        line: 0,
        indents: Vec::new(),
        flow: 0,
        quote: None,
        block_scalar: None,
        anchors: std::collections::HashSet::new(),
        content: false,
    };
    if text.len() > bounds.max_bytes {
        return Err(scanner.error(format!(
            "{} bytes of YAML; at most {} are read",
            text.len(),
            bounds.max_bytes
        )));
    }
    for line in text.split('\n') {
        scanner.line += 1;
        scanner.scan_line(line.strip_suffix('\r').unwrap_or(line))?;
    }
    Ok(())
}

struct Scanner<'a> {
    bounds: Bounds,
    document: usize,
    line: usize,
    /// Indentation of the enclosing block collections.
    indents: Vec<usize>,
    /// Open `[` and `{`.
    flow: usize,
    /// The quote a scalar spanning lines is open with.
    quote: Option<char>,
    /// Indentation of the line that opened a `|` or `>` scalar.
    block_scalar: Option<usize>,
    anchors: std::collections::HashSet<&'a str>,
    /// Whether the current document has content yet: a `---` before any
    /// starts the first document rather than a second.
    content: bool,
}

impl<'a> Scanner<'a> {
    fn error(&self, message: String) -> YamlError {
        YamlError {
            document: self.document,
            line: Some(self.line),
            message,
        }
    }

    fn check_depth(&self, depth: usize) -> Result<(), YamlError> {
        if depth > self.bounds.max_depth {
            return Err(self.error(format!(
                "collections nested deeper than {} levels",
                self.bounds.max_depth
            )));
        }
        Ok(())
    }

    fn scan_line(&mut self, line: &'a str) -> Result<(), YamlError> {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let content = &line[indent..];
        if let Some(parent) = self.block_scalar {
            if content.trim().is_empty() || indent > parent {
                return Ok(());
            }
            self.block_scalar = None;
        }
        let mut rest = content;
        if self.quote.is_none() && self.flow == 0 {
            if indent == 0 && (line == "---" || line.starts_with("--- ") || line == "...") {
                if self.content && line != "..." {
                    self.document += 1;
                }
                self.content = false;
                self.indents.clear();
                self.anchors.clear();
                rest = line.get(4..).unwrap_or_default();
            } else if content.is_empty()
                || content.starts_with('#')
                || (indent == 0 && content.starts_with('%'))
            {
                return Ok(());
            } else {
                while self.indents.last().is_some_and(|&top| top >= indent) {
                    self.indents.pop();
                }
                self.indents.push(indent);
                self.check_depth(self.indents.len())?;
                self.content = true;
            }
        }
        self.scan_content(rest, indent)
    }

    /// An anchor (`&name`, recorded), an alias (`*name`, which must name an
    /// anchor before it) or a tag (`!name`) at `i`; returns where it ends.
    fn node_property(&mut self, text: &'a str, i: usize) -> Result<usize, YamlError> {
        let bytes = text.as_bytes();
        let name_end = bytes[i + 1..]
            .iter()
            .position(|b| b" \t,[]{}".contains(b))
            .map_or(bytes.len(), |p| i + 1 + p);
        let name = &text[i + 1..name_end];
        match bytes[i] {
            b'&' => {
                self.anchors.insert(name);
            }
            b'*' if !self.anchors.contains(name) => {
                return Err(self.error(format!("alias *{name} refers to no anchor before it")));
            }
            _ => {}
        }
        Ok(name_end)
    }

    /// Scans the part of a line after its indentation.
    fn scan_content(&mut self, text: &'a str, indent: usize) -> Result<(), YamlError> {
        let bytes = text.as_bytes();
        // Whether the next character may start a node: quotes, flow
        // collections, anchors and aliases only count there.
        let mut node_start = true;
        let mut depth = self.indents.len() + self.flow;
        let mut last_token = "";
        let mut i = 0;
        while i < bytes.len() {
            let c = bytes[i];
            if let Some(quote) = self.quote {
                let (next, closed) = quoted_step(bytes, i, quote);
                if closed {
                    self.quote = None;
                    node_start = false;
                }
                i = next;
                continue;
            }
            match c {
                b' ' | b'\t' => {}
                b'#' if i == 0 || bytes[i - 1] == b' ' || bytes[i - 1] == b'\t' => break,
                b'"' | b'\'' if node_start => {
                    self.quote = Some(c as char);
                    last_token = "quote";
                }
                b'[' | b'{' if node_start || self.flow > 0 => {
                    self.flow += 1;
                    depth += 1;
                    self.check_depth(depth)?;
                    node_start = true;
                    last_token = "flow";
                }
                b']' | b'}' if self.flow > 0 => {
                    self.flow -= 1;
                    depth = depth.saturating_sub(1);
                    node_start = false;
                }
                b',' if self.flow > 0 => node_start = true,
                b'-' | b'?' | b':' if bytes.get(i + 1).is_none_or(|n| *n == b' ' || *n == b'\t') => {
                    // A block entry or key opens a level below this line's.
                    if c != b':' && self.flow == 0 {
                        depth += 1;
                        self.check_depth(depth)?;
                    }
                    node_start = true;
                    last_token = "indicator";
                }
                b'&' | b'*' | b'!' if node_start => {
                    i = self.node_property(text, i)?;
                    // A node's properties come before the node itself.
                    node_start = c != b'*';
                    continue;
                }
                b'|' | b'>' if node_start && self.flow == 0 => {
                    last_token = "block";
                    node_start = false;
                }
                _ => {
                    if node_start {
                        last_token = "scalar";
                    }
                    node_start = false;
                }
            }
            i += 1;
        }
        if last_token == "block" && self.quote.is_none() {
            self.block_scalar = Some(indent);
        }
        Ok(())
    }
}

/// One step inside a scalar quoted with `quote`, at `i`: where the next step
/// starts, and whether this one closed the quote (an escape in double quotes
/// and a doubled single quote do not).
fn quoted_step(bytes: &[u8], i: usize, quote: char) -> (usize, bool) {
    let c = bytes[i];
    if c == b'\\' && quote == '"' {
        return (i + 2, false);
    }
    if c == quote as u8 {
        if quote == '\'' && bytes.get(i + 1) == Some(&b'\'') {
            return (i + 2, false);
        }
        return (i + 1, true);
    }
    (i + 1, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn ordinary_yaml_reads_as_the_parser_reads_it() {
        let text = "a: 1\nb:\n  - [x, {y: 'z # not a comment'}]\n  - \"q: [\"\n  - &k v\n  - *k\nc: |\n  text\n      [[[[\nd: it's [fine] # comment\n---\n- - - deep\n";
        let docs: Vec<Value> = documents(text).unwrap();
        assert_eq!(
            docs,
            vec![
                json!({"a": 1, "b": [["x", {"y": "z # not a comment"}], "q: [", "v", "v"], "c": "text\n    [[[[\n", "d": "it's [fine]"}),
                json!([[["deep"]]]),
            ]
        );
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        let flow = "[".repeat(1 << 20);
        let error = documents::<Value>(&flow).unwrap_err();
        assert_eq!(error.line, Some(1));
        assert!(error.message.contains("nested deeper than 64 levels"), "{error}");
        let mut block = String::new();
        for level in 0..100 {
            block.push_str(&format!("{}k{level}:\n", " ".repeat(level)));
        }
        let error = documents::<Value>(&block).unwrap_err();
        assert!(error.message.contains("nested deeper"), "{error}");
        let dashes = format!("---\na: 1\n---\n{}x\n", "- ".repeat(100));
        let error = documents::<Value>(&dashes).unwrap_err();
        assert_eq!((error.document, error.line), (2, Some(4)), "{error}");
    }

    #[test]
    fn a_syntax_error_stops_the_stream_and_names_its_document() {
        let error = documents::<Value>("a: 1\n---\nb: [unclosed\nc: 2\n---\nd: 3\n").unwrap_err();
        assert_eq!(error.document, 2, "{error}");
        let error = documents::<Value>("kind: Component\nmetadata:\n  name: *nope\n").unwrap_err();
        assert_eq!((error.document, error.line), (1, Some(3)));
        assert!(error.message.contains("*nope"), "{error}");
        // From the catalog_import fuzz target: a lone NUL made the stream
        // repeat its error forever; text that cannot continue a document
        // is reported as the next one.
        for text in ["\0", "$\n:"] {
            let error = documents::<Value>(text).unwrap_err();
            assert!((1..=2).contains(&error.document), "{text:?}: {error}");
        }
    }

    #[test]
    fn oversized_text_is_refused() {
        let big = "a".repeat(BOUNDS.max_bytes + 1);
        assert!(
            document::<Value>(&big)
                .unwrap_err()
                .message
                .contains("bytes of YAML")
        );
    }
}
