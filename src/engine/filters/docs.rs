//! What each filter and global function a Template's expressions may call
//! does, in the shape Backstage's `GET /v2/templating-extensions` answers
//! (`description`, `schema` with `input`, `arguments` and `output`, and
//! `examples`). Each entry's example is an expression with the output it
//! renders to; a test renders every one through the engine and holds the
//! entries to exactly the names the engine registers.

use serde_json::{Value, json};

/// One filter's or function's documentation.
struct Doc {
    name: &'static str,
    description: &'static str,
    /// The JSON Schema of the value piped in; `""` for a function.
    input: &'static str,
    /// The JSON Schemas of the arguments, as a JSON array.
    arguments: &'static str,
    /// The JSON Schema of what it gives.
    output: &'static str,
    /// An expression that calls it.
    example: &'static str,
    /// What `example` renders to.
    gives: &'static str,
}

const TEXT: &str = r#"{"type": "string"}"#;
const LIST: &str = r#"{"type": "array"}"#;
const OBJECT: &str = r#"{"type": "object"}"#;
const NUMBER: &str = r#"{"type": "number"}"#;
const ANY: &str = "{}";
const NONE: &str = "[]";
const REPO_URL: &str =
    r#"{"type": "string", "description": "a repository URL as the RepoUrlPicker gives it"}"#;

const fn doc(
    name: &'static str,
    description: &'static str,
    (input, arguments, output): (&'static str, &'static str, &'static str),
    example: &'static str,
    gives: &'static str,
) -> Doc {
    Doc {
        name,
        description,
        input,
        arguments,
        output,
        example,
        gives,
    }
}

const FILTERS: &[Doc] = &[
    doc(
        "parseRepoUrl",
        "The parts of a repository URL: host, owner, repo and, where the host has them, organization, workspace and project.",
        (
            REPO_URL,
            NONE,
            r#"{"type": "object", "required": ["host", "repo"], "properties": {"host": {"type": "string"}, "repo": {"type": "string"}, "owner": {"type": "string"}, "organization": {"type": "string"}, "workspace": {"type": "string"}, "project": {"type": "string"}}}"#,
        ),
        "${{ ('github.com?owner=acme&repo=shop' | parseRepoUrl).owner }}",
        "acme",
    ),
    doc(
        "parseEntityRef",
        "The kind, namespace and name of an entity reference, with defaults for the parts it leaves out.",
        (
            r#"{"type": "string", "description": "an entity reference, [kind:][namespace/]name"}"#,
            r#"[{"type": "object", "properties": {"defaultKind": {"type": "string", "description": "the kind when the reference has none"}, "defaultNamespace": {"type": "string", "description": "the namespace when the reference has none"}}}]"#,
            r#"{"type": "object", "required": ["kind", "namespace", "name"], "properties": {"kind": {"type": "string"}, "namespace": {"type": "string"}, "name": {"type": "string"}}}"#,
        ),
        "${{ ('team-a' | parseEntityRef({'defaultKind': 'group'})).kind }}",
        "group",
    ),
    doc(
        "pick",
        "One property of an object.",
        (
            OBJECT,
            r#"[{"type": "string", "description": "the property"}]"#,
            r#"{"description": "the property's value"}"#,
        ),
        "${{ 'group:default/team-a' | parseEntityRef | pick('name') }}",
        "team-a",
    ),
    doc(
        "projectSlug",
        "The owner/repo slug of a repository URL.",
        (REPO_URL, NONE, TEXT),
        "${{ 'github.com?owner=acme&repo=shop' | projectSlug }}",
        "acme/shop",
    ),
    doc(
        "dump",
        "The value as JSON (nunjucks' dump, JavaScript's JSON.stringify); an argument indents it.",
        (
            ANY,
            r#"[{"type": "integer", "description": "spaces to indent by"}]"#,
            TEXT,
        ),
        "${{ {'a': 1} | dump }}",
        r#"{"a":1}"#,
    ),
    doc(
        "jsonify",
        "The value as JSON, as dump.",
        (
            ANY,
            r#"[{"type": "integer", "description": "spaces to indent by"}]"#,
            TEXT,
        ),
        "${{ ['x', 2] | jsonify }}",
        r#"["x",2]"#,
    ),
    doc(
        "truncate",
        "The text cut to a length, at a word's end unless told to cut words, with an ending added when cut (nunjucks' truncate).",
        (
            TEXT,
            r#"[{"type": "integer", "description": "the length, 255 if not given"}, {"type": "boolean", "description": "cut inside a word"}, {"type": "string", "description": "the ending, ... if not given"}]"#,
            TEXT,
        ),
        "${{ 'a long description of the service' | truncate(12) }}",
        "a long...",
    ),
    doc(
        "wordcount",
        "The number of words in the text.",
        (TEXT, NONE, NUMBER),
        "${{ 'one two three' | wordcount }}",
        "3",
    ),
    doc(
        "center",
        "The text centred in a width, padded with spaces.",
        (
            TEXT,
            r#"[{"type": "integer", "description": "the width, 80 if not given"}]"#,
            TEXT,
        ),
        "${{ 'ab' | center(6) }}",
        "  ab  ",
    ),
    doc(
        "striptags",
        "The text without its HTML tags, spaces collapsed.",
        (TEXT, NONE, TEXT),
        "${{ '<p>Hello <b>you</b></p>' | striptags }}",
        "Hello you",
    ),
    doc(
        "nl2br",
        "The text with each line break preceded by <br />.",
        (TEXT, NONE, TEXT),
        "${{ 'a\\nb' | nl2br }}",
        "a<br />\nb",
    ),
    doc(
        "default",
        "The value, or the argument when the value is undefined (or, with a second argument true, also when it is false or empty), as nunjucks' default.",
        (
            ANY,
            r#"[{"description": "the value to use instead"}, {"type": "boolean", "description": "also replace false and empty values"}]"#,
            ANY,
        ),
        "${{ parameters.missing | default('none') }}",
        "none",
    ),
    doc(
        "d",
        "The same as default.",
        (
            ANY,
            r#"[{"description": "the value to use instead"}, {"type": "boolean", "description": "also replace false and empty values"}]"#,
            ANY,
        ),
        "${{ '' | d('none', true) }}",
        "none",
    ),
    doc(
        "safe",
        "The text marked as safe, so it is not escaped.",
        (TEXT, NONE, TEXT),
        "${{ '<b>' | safe }}",
        "<b>",
    ),
    doc(
        "escape",
        "The text with HTML's special characters escaped.",
        (TEXT, NONE, TEXT),
        "${{ '<b>' | escape }}",
        "&lt;b&gt;",
    ),
    doc(
        "e",
        "The same as escape.",
        (TEXT, NONE, TEXT),
        "${{ 'a & b' | e }}",
        "a &amp; b",
    ),
    doc(
        "forceescape",
        "The same as escape.",
        (TEXT, NONE, TEXT),
        "${{ '<b>' | forceescape }}",
        "&lt;b&gt;",
    ),
    doc(
        "lower",
        "The text in lower case.",
        (TEXT, NONE, TEXT),
        "${{ 'Shop' | lower }}",
        "shop",
    ),
    doc(
        "upper",
        "The text in upper case.",
        (TEXT, NONE, TEXT),
        "${{ 'Shop' | upper }}",
        "SHOP",
    ),
    doc(
        "title",
        "The text with each word capitalised.",
        (TEXT, NONE, TEXT),
        "${{ 'my shop' | title }}",
        "My Shop",
    ),
    doc(
        "capitalize",
        "The text with its first letter in upper case and the rest in lower case.",
        (TEXT, NONE, TEXT),
        "${{ 'my Shop' | capitalize }}",
        "My shop",
    ),
    doc(
        "replace",
        "The text with each occurrence of the first argument replaced by the second (at most a count when given).",
        (
            TEXT,
            r#"[{"type": "string", "description": "what to replace"}, {"type": "string", "description": "the replacement"}, {"type": "integer", "description": "how many to replace"}]"#,
            TEXT,
        ),
        "${{ 'a-b-c' | replace('-', '_') }}",
        "a_b_c",
    ),
    doc(
        "length",
        "The number of characters of a text, items of a list or keys of an object.",
        (ANY, NONE, NUMBER),
        "${{ [1, 2, 3] | length }}",
        "3",
    ),
    doc(
        "count",
        "The same as length.",
        (ANY, NONE, NUMBER),
        "${{ 'abc' | count }}",
        "3",
    ),
    doc(
        "dictsort",
        "An object's [key, value] pairs sorted by key.",
        (OBJECT, NONE, LIST),
        "${{ {'b': 1, 'a': 2} | dictsort | first | first }}",
        "a",
    ),
    doc(
        "items",
        "An object's [key, value] pairs.",
        (OBJECT, NONE, LIST),
        "${{ {'a': 1} | items | first | last }}",
        "1",
    ),
    doc(
        "reverse",
        "A list's items or a text's characters in reverse order.",
        (ANY, NONE, ANY),
        "${{ 'abc' | reverse }}",
        "cba",
    ),
    doc(
        "trim",
        "The text without leading and trailing whitespace (or the characters given).",
        (
            TEXT,
            r#"[{"type": "string", "description": "the characters to remove"}]"#,
            TEXT,
        ),
        "${{ '  x  ' | trim }}",
        "x",
    ),
    doc(
        "join",
        "A list's items joined into one text, with a separator between them.",
        (
            LIST,
            r#"[{"type": "string", "description": "the separator"}]"#,
            TEXT,
        ),
        "${{ ['a', 'b'] | join('-') }}",
        "a-b",
    ),
    doc(
        "split",
        "The text split at each separator (at whitespace if none is given).",
        (
            TEXT,
            r#"[{"type": "string", "description": "the separator"}, {"type": "integer", "description": "the most splits"}]"#,
            LIST,
        ),
        "${{ 'a,b' | split(',') | join('+') }}",
        "a+b",
    ),
    doc(
        "lines",
        "The text's lines.",
        (TEXT, NONE, LIST),
        "${{ 'a\\nb' | lines | join('+') }}",
        "a+b",
    ),
    doc(
        "round",
        "The number rounded to a precision.",
        (
            NUMBER,
            r#"[{"type": "integer", "description": "the decimal places, 0 if not given"}]"#,
            NUMBER,
        ),
        "${{ 2.567 | round(1) }}",
        "2.6",
    ),
    doc(
        "abs",
        "The number's absolute value.",
        (NUMBER, NONE, NUMBER),
        "${{ (-3) | abs }}",
        "3",
    ),
    doc(
        "int",
        "The value as an integer.",
        (ANY, NONE, r#"{"type": "integer"}"#),
        "${{ '42' | int + 1 }}",
        "43",
    ),
    doc(
        "float",
        "The value as a number.",
        (ANY, NONE, NUMBER),
        "${{ '1.5' | float + 1 }}",
        "2.5",
    ),
    doc(
        "urlize",
        "The text with its URLs made links.",
        (TEXT, NONE, TEXT),
        "${{ 'see https://example.com' | urlize }}",
        r#"see <a href="https://example.com">https://example.com</a>"#,
    ),
    doc(
        "attr",
        "One attribute of an object.",
        (
            OBJECT,
            r#"[{"type": "string", "description": "the attribute"}]"#,
            ANY,
        ),
        "${{ {'name': 'x'} | attr('name') }}",
        "x",
    ),
    doc(
        "first",
        "A list's first item or a text's first character.",
        (ANY, NONE, ANY),
        "${{ [1, 2] | first }}",
        "1",
    ),
    doc(
        "last",
        "A list's last item or a text's last character.",
        (ANY, NONE, ANY),
        "${{ [1, 2] | last }}",
        "2",
    ),
    doc(
        "min",
        "A list's smallest item.",
        (LIST, NONE, ANY),
        "${{ [3, 1, 2] | min }}",
        "1",
    ),
    doc(
        "max",
        "A list's largest item.",
        (LIST, NONE, ANY),
        "${{ [3, 1, 2] | max }}",
        "3",
    ),
    doc(
        "sort",
        "A list's items sorted (by an attribute, reversed, case-sensitive when asked).",
        (
            LIST,
            r#"[{"type": "object", "properties": {"attribute": {"type": "string"}, "reverse": {"type": "boolean"}, "case_sensitive": {"type": "boolean"}}}]"#,
            LIST,
        ),
        "${{ [3, 1, 2] | sort | join(',') }}",
        "1,2,3",
    ),
    doc(
        "list",
        "The value as a list: a text's characters, an object's keys, a list itself.",
        (ANY, NONE, LIST),
        "${{ 'ab' | list | join(',') }}",
        "a,b",
    ),
    doc(
        "string",
        "The value as text.",
        (ANY, NONE, TEXT),
        "${{ 42 | string ~ '!' }}",
        "42!",
    ),
    doc(
        "bool",
        "The value as true or false.",
        (ANY, NONE, r#"{"type": "boolean"}"#),
        "${{ 1 | bool }}",
        "true",
    ),
    doc(
        "batch",
        "A list's items in lists of a size (the last filled with a value when given).",
        (
            LIST,
            r#"[{"type": "integer", "description": "the size"}, {"description": "what fills the last list"}]"#,
            LIST,
        ),
        "${{ [1, 2, 3] | batch(2) | length }}",
        "2",
    ),
    doc(
        "slice",
        "A list's items in a number of lists.",
        (
            LIST,
            r#"[{"type": "integer", "description": "how many lists"}, {"description": "what fills the shorter lists"}]"#,
            LIST,
        ),
        "${{ [1, 2, 3] | slice(2) | first | join(',') }}",
        "1,2",
    ),
    doc(
        "sum",
        "The sum of a list's items (or of an attribute of each).",
        (
            LIST,
            r#"[{"type": "string", "description": "the attribute to add"}, {"type": "number", "description": "the start"}]"#,
            NUMBER,
        ),
        "${{ [1, 2, 3] | sum }}",
        "6",
    ),
    doc(
        "indent",
        "The text with every line but the first (or every line, when asked) indented.",
        (
            TEXT,
            r#"[{"type": "integer", "description": "the spaces"}, {"type": "boolean", "description": "indent the first line"}, {"type": "boolean", "description": "indent blank lines"}]"#,
            TEXT,
        ),
        "${{ 'a\\nb' | indent(2) }}",
        "a\n  b",
    ),
    doc(
        "select",
        "A list's items that pass a test.",
        (LIST, r#"[{"type": "string", "description": "the test"}]"#, LIST),
        "${{ [1, 2, 3, 4] | select('even') | join(',') }}",
        "2,4",
    ),
    doc(
        "reject",
        "A list's items that fail a test.",
        (LIST, r#"[{"type": "string", "description": "the test"}]"#, LIST),
        "${{ [1, 2, 3, 4] | reject('even') | join(',') }}",
        "1,3",
    ),
    doc(
        "selectattr",
        "A list's objects whose attribute passes a test (is true if no test is given).",
        (
            LIST,
            r#"[{"type": "string", "description": "the attribute"}, {"type": "string", "description": "the test"}]"#,
            LIST,
        ),
        "${{ [{'n': 'a', 'on': true}, {'n': 'b', 'on': false}] | selectattr('on') | map(attribute='n') | join(',') }}",
        "a",
    ),
    doc(
        "rejectattr",
        "A list's objects whose attribute fails a test (is false if no test is given).",
        (
            LIST,
            r#"[{"type": "string", "description": "the attribute"}, {"type": "string", "description": "the test"}]"#,
            LIST,
        ),
        "${{ [{'n': 'a', 'on': true}, {'n': 'b', 'on': false}] | rejectattr('on') | map(attribute='n') | join(',') }}",
        "b",
    ),
    doc(
        "map",
        "Each item of a list passed through a filter, or its attribute (attribute=...).",
        (
            LIST,
            r#"[{"type": "string", "description": "the filter"}, {"type": "object", "properties": {"attribute": {"type": "string"}, "default": {}}}]"#,
            LIST,
        ),
        "${{ [{'n': 'a'}, {'n': 'b'}] | map(attribute='n') | join(',') }}",
        "a,b",
    ),
    doc(
        "groupby",
        "A list's objects grouped by an attribute.",
        (
            LIST,
            r#"[{"type": "string", "description": "the attribute"}]"#,
            ANY,
        ),
        "${{ [{'t': 'x'}, {'t': 'y'}, {'t': 'x'}] | groupby('t') | length }}",
        "2",
    ),
    doc(
        "unique",
        "A list's items without repeats, in their first order.",
        (LIST, NONE, LIST),
        "${{ [1, 1, 2] | unique | join(',') }}",
        "1,2",
    ),
    doc(
        "chain",
        "Lists one after another, as one.",
        (
            LIST,
            r#"[{"type": "array", "description": "the lists that follow"}]"#,
            LIST,
        ),
        "${{ [1] | chain([2]) | join(',') }}",
        "1,2",
    ),
    doc(
        "zip",
        "Lists' items paired by position.",
        (
            LIST,
            r#"[{"type": "array", "description": "the lists to pair with"}]"#,
            LIST,
        ),
        "${{ [1, 2] | zip(['a', 'b']) | first | join(':') }}",
        "1:a",
    ),
    doc(
        "pprint",
        "The value as readable text.",
        (ANY, NONE, TEXT),
        "${{ 'x' | pprint }}",
        "'x'",
    ),
    doc(
        "format",
        "The text with each %s replaced by an argument, in order.",
        (TEXT, r#"[{"description": "the values, one per %s"}]"#, TEXT),
        "${{ '%s-%s' | format('a', 'b') }}",
        "a-b",
    ),
    doc(
        "tojson",
        "The value as JSON, safe to place in HTML.",
        (
            ANY,
            r#"[{"type": "integer", "description": "spaces to indent by"}]"#,
            TEXT,
        ),
        "${{ {'a': 1} | tojson }}",
        r#"{"a": 1}"#,
    ),
    doc(
        "urlencode",
        "The text percent-encoded for a URL; an object as a query string.",
        (ANY, NONE, TEXT),
        "${{ 'a b&c' | urlencode }}",
        "a%20b%26c",
    ),
];

const FUNCTIONS: &[Doc] = &[
    doc(
        "range",
        "The integers from a start (0 if not given) up to, not including, a stop, by a step.",
        (
            "",
            r#"[{"type": "integer", "description": "the start, or the stop if it is the only argument"}, {"type": "integer", "description": "the stop"}, {"type": "integer", "description": "the step"}]"#,
            LIST,
        ),
        "${{ range(3) | join(',') }}",
        "0,1,2",
    ),
    doc(
        "dict",
        "An object of the keyword arguments given.",
        (
            "",
            r#"[{"type": "object", "description": "key=value, ..."}]"#,
            OBJECT,
        ),
        "${{ dict(a=1).a }}",
        "1",
    ),
    doc(
        "namespace",
        "An object whose attributes set may change inside a loop.",
        (
            "",
            r#"[{"type": "object", "description": "key=value, ..."}]"#,
            OBJECT,
        ),
        "${{ namespace(n=1).n }}",
        "1",
    ),
    doc(
        "debug",
        "The values a template can see, as text.",
        ("", NONE, TEXT),
        "${{ debug() | length > 0 }}",
        "true",
    ),
];

/// A JSON Schema kept as text here; every one parses (a test says so).
fn schema(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

impl Doc {
    fn describe(&self) -> Value {
        let mut schema_of = json!({
            "arguments": schema(self.arguments),
            "output": schema(self.output),
        });
        if !self.input.is_empty() {
            schema_of["input"] = schema(self.input);
        }
        json!({
            "description": self.description,
            "schema": schema_of,
            "examples": [{"example": self.example, "notes": format!("renders {:?}", self.gives)}],
        })
    }
}

/// The documentation of the filter `name`, if it has any.
pub fn filter(name: &str) -> Option<Value> {
    FILTERS.iter().find(|d| d.name == name).map(Doc::describe)
}

/// The documentation of the global function `name`, if it has any.
pub fn function(name: &str) -> Option<Value> {
    FUNCTIONS.iter().find(|d| d.name == name).map(Doc::describe)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::engine::expression::{self, Limits, Renderer};

    /// The entries are exactly what the engine registers, so what the
    /// portal lists cannot drift from what a template may call.
    #[test]
    fn every_registered_filter_and_function_is_documented_and_nothing_else() {
        let registered = expression::extensions();
        let names = |docs: &[Doc]| docs.iter().map(|d| d.name.to_string()).collect::<BTreeSet<_>>();
        let filters: BTreeSet<String> = registered.filters.iter().map(|n| n.to_string()).collect();
        assert_eq!(names(FILTERS), filters);
        let functions: BTreeSet<String> = registered.functions.iter().cloned().collect();
        assert_eq!(names(FUNCTIONS), functions);
        for d in FILTERS.iter().chain(FUNCTIONS) {
            for text in [d.arguments, d.output]
                .into_iter()
                .chain((!d.input.is_empty()).then_some(d.input))
            {
                let parsed: Value =
                    serde_json::from_str(text).unwrap_or_else(|e| panic!("{}: {text}: {e}", d.name));
                assert!(parsed.is_object() || parsed.is_array(), "{}: {text}", d.name);
            }
        }
    }

    #[test]
    fn every_example_renders_to_what_it_says() {
        let renderer = Renderer::new(Limits::default());
        let context = minijinja::Value::from(minijinja::value::Serde(json!({"parameters": {}})));
        let mut wrong = Vec::new();
        for d in FILTERS.iter().chain(FUNCTIONS) {
            assert!(d.example.contains(d.name), "{}: the example calls it", d.name);
            match renderer.render_text("example", d.example, &context) {
                Ok(rendered) if rendered == d.gives => {}
                Ok(rendered) => wrong.push(format!("{}: {rendered:?}, not {:?}", d.name, d.gives)),
                Err(error) => wrong.push(format!("{}: {error}", d.name)),
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }
}
