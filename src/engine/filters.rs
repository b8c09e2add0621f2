//! Backstage's template filters (`parseRepoUrl`, `parseEntityRef`, `pick`,
//! `projectSlug`) and the nunjucks built-ins real templates use whose names
//! or behaviour differ from minijinja's.

use minijinja::value::Value;
use minijinja::{Environment, Error, ErrorKind};

mod backstage;
mod docs;
mod kinds;
mod methods;
mod numbers;
mod predicates;
mod sequences;
mod text;
mod values;

use super::bounds::{self, Guard, Precheck};
use backstage::{parse_entity_ref, parse_repo_url, pick, project_slug};
pub use docs::{filter as documented, function as documented_function};
pub use methods::COMPAT;
use methods::js_method;
use numbers::{float, int, round};
use text::{center, nl2br, striptags, title, truncate, urlencode, urlize};
use values::{dump, list, nunjucks_default, string};

/// Adds every filter a Backstage template may call to `env`, each checked
/// against `guard` (see [`bounds`]): minijinja's own and nunjucks' and
/// Backstage's.
pub fn register(env: &mut Environment<'_>, guard: Guard) {
    for (name, filter, precheck) in all(guard) {
        bounds::add_checked_filter(env, guard, name, filter, precheck);
    }
    predicates::register(env);
    env.set_unknown_method_callback(move |state, value, method, args| {
        guard.time()?;
        bounds::check_js_method(&guard, value, method, args)?;
        let result = js_method(state, &guard, value, method, args)?;
        guard.depth(&format!(".{method}()"), &result)?;
        Ok(result)
    });
}

/// The names of the filters [`register`] adds, Backstage's first: what
/// the portal lists as the templating surface.
pub fn names(guard: Guard) -> Vec<&'static str> {
    all(guard).into_iter().map(|(name, _, _)| name).collect()
}

/// Every filter [`register`] adds.
fn all(guard: Guard) -> Vec<Filter> {
    let mut filters = backstage_and_nunjucks();
    filters.extend(minijinja_builtins(guard));
    filters.extend(minijinja_collection_builtins());
    filters.extend(minijinja_selection_builtins());
    filters.extend(minijinja_format_builtins());
    kinds::text_only(&mut filters);
    filters
}

/// A filter's name, the filter, and the check of its arguments.
type Filter = (&'static str, Value, Option<Precheck>);

/// Backstage's filters, and nunjucks' where its names or semantics differ
/// from minijinja's.
fn backstage_and_nunjucks() -> Vec<Filter> {
    vec![
        // Backstage's.
        ("parseRepoUrl", Value::from_function(parse_repo_url), None),
        ("parseEntityRef", Value::from_function(parse_entity_ref), None),
        ("pick", Value::from_function(pick), None),
        ("projectSlug", Value::from_function(project_slug), None),
        // nunjucks' names and semantics.
        ("dump", Value::from_function(dump), Some(bounds::check_json)),
        ("jsonify", Value::from_function(dump), Some(bounds::check_json)),
        ("truncate", Value::from_function(truncate), None),
        ("wordcount", Value::from_function(kinds::wordcount), None),
        ("center", Value::from_function(center), Some(bounds::check_width)),
        ("striptags", Value::from_function(striptags), None),
        ("nl2br", Value::from_function(nl2br), Some(bounds::check_escape)),
        ("default", Value::from_function(nunjucks_default), None),
        ("d", Value::from_function(nunjucks_default), None),
    ]
}

/// minijinja's own filters over text that templates use, with the checks
/// of those that can grow a value (as in the two lists after it).
fn minijinja_builtins(guard: Guard) -> Vec<Filter> {
    use minijinja::filters as builtin;
    vec![
        ("safe", Value::from_function(kinds::safe), None),
        (
            "escape",
            Value::from_function(kinds::escape),
            Some(bounds::check_escape),
        ),
        (
            "e",
            Value::from_function(kinds::escape),
            Some(bounds::check_escape),
        ),
        (
            "forceescape",
            Value::from_function(kinds::escape),
            Some(bounds::check_escape),
        ),
        (
            "lower",
            Value::from_function(builtin::lower),
            Some(bounds::check_case),
        ),
        (
            "upper",
            Value::from_function(builtin::upper),
            Some(bounds::check_case),
        ),
        ("title", Value::from_function(title), Some(bounds::check_case)),
        (
            "capitalize",
            Value::from_function(builtin::capitalize),
            Some(bounds::check_case),
        ),
        (
            "replace",
            kinds::replace_matching(guard),
            Some(bounds::check_replace),
        ),
        ("length", Value::from_function(kinds::length), None),
        ("count", Value::from_function(builtin::length), None),
    ]
}

/// minijinja's filters over lists and maps that sort, pick or reshape them.
fn minijinja_collection_builtins() -> Vec<Filter> {
    use minijinja::filters as builtin;
    vec![
        (
            "dictsort",
            Value::from_function(sequences::dictsort),
            Some(bounds::check_chars),
        ),
        (
            "items",
            Value::from_function(builtin::items),
            Some(bounds::check_chars),
        ),
        (
            "reverse",
            Value::from_function(kinds::reverse),
            Some(bounds::check_chars),
        ),
        ("trim", Value::from_function(builtin::trim), None),
        (
            "join",
            Value::from_function(kinds::join),
            Some(bounds::check_join),
        ),
        (
            "split",
            Value::from_function(builtin::split),
            Some(bounds::check_split),
        ),
        (
            "lines",
            Value::from_function(builtin::lines),
            Some(bounds::check_split),
        ),
        ("round", Value::from_function(round), None),
        ("abs", Value::from_function(kinds::abs), None),
        ("int", Value::from_function(int), None),
        ("float", Value::from_function(float), None),
        ("urlize", Value::from_function(urlize), Some(bounds::check_urlize)),
        ("attr", Value::from_function(builtin::attr), None),
        ("first", Value::from_function(kinds::first), None),
        ("last", Value::from_function(kinds::last), None),
        (
            "min",
            Value::from_function(builtin::min),
            Some(bounds::check_chars),
        ),
        (
            "max",
            Value::from_function(builtin::max),
            Some(bounds::check_chars),
        ),
        (
            "sort",
            Value::from_function(sequences::sort),
            Some(bounds::check_chars),
        ),
        ("list", Value::from_function(list), Some(bounds::check_chars)),
        ("string", Value::from_function(string), None),
        ("bool", Value::from_function(builtin::bool), None),
        (
            "batch",
            kinds::sequence("batch", Value::from_function(builtin::batch)),
            Some(bounds::check_count),
        ),
    ]
}

/// minijinja's filters that select, map or group items.
fn minijinja_selection_builtins() -> Vec<Filter> {
    use minijinja::filters as builtin;
    vec![
        (
            "slice",
            Value::from_function(sequences::slice),
            Some(bounds::check_count),
        ),
        (
            "sum",
            Value::from_function(sequences::sum),
            Some(bounds::check_chars),
        ),
        (
            "indent",
            Value::from_function(builtin::indent),
            Some(bounds::check_indent),
        ),
        (
            "select",
            kinds::sequence("select", Value::from_function(builtin::select)),
            Some(bounds::check_chars),
        ),
        (
            "reject",
            kinds::sequence("reject", Value::from_function(builtin::reject)),
            Some(bounds::check_chars),
        ),
        (
            "selectattr",
            kinds::list_only("selectattr", Value::from_function(builtin::selectattr)),
            Some(bounds::check_chars),
        ),
        (
            "rejectattr",
            kinds::list_only("rejectattr", Value::from_function(builtin::rejectattr)),
            Some(bounds::check_chars),
        ),
        (
            "map",
            Value::from_function(builtin::map),
            Some(bounds::check_chars),
        ),
        (
            "groupby",
            Value::from_function(sequences::groupby),
            Some(bounds::check_chars),
        ),
        (
            "unique",
            Value::from_function(builtin::unique),
            Some(bounds::check_chars),
        ),
        (
            "chain",
            Value::from_function(builtin::chain),
            Some(bounds::check_chars),
        ),
        (
            "zip",
            Value::from_function(builtin::zip),
            Some(bounds::check_chars),
        ),
    ]
}

/// minijinja's filters that format values as text.
fn minijinja_format_builtins() -> Vec<Filter> {
    use minijinja::filters as builtin;
    vec![
        (
            "pprint",
            Value::from_function(builtin::pprint),
            Some(bounds::check_pprint),
        ),
        (
            "format",
            Value::from_function(builtin::format),
            Some(bounds::check_format),
        ),
        (
            "tojson",
            Value::from_function(builtin::tojson),
            Some(bounds::check_json),
        ),
        (
            "urlencode",
            Value::from_function(urlencode),
            Some(bounds::check_escape),
        ),
    ]
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nunjucks_filters_behave_as_nunjucks() {
        let cut = |text: &str, length: i64, killwords: bool, end: Option<&str>| {
            let end = end.map(Value::from);
            truncate(
                Value::from(text),
                Some(Value::from(length)),
                Some(Value::from(killwords)),
                end,
            )
            .unwrap()
            .to_string()
        };
        assert_eq!(
            cut("a long description of the service", 12, false, None),
            "a long..."
        );
        assert_eq!(cut("short", 12, false, None), "short");
        assert_eq!(cut("abcdefghij", 4, true, Some("~")), "abcd~");
        assert_eq!(cut("ab cd ef", 5, false, None), "ab cd...");
        assert_eq!(cut("äb cd éf", 4, false, Some("…")), "äb…");
        assert_eq!(cut("äbcdéf", 3, false, None), "äbc...");
        assert_eq!(
            kinds::wordcount(Value::from("one two-three, _four")).unwrap(),
            Value::from(4)
        );
        assert_eq!(kinds::wordcount(Value::from("--")).unwrap(), Value::from(()));
        assert_eq!(
            center(Value::from("ab"), Some(Value::from(6)))
                .unwrap()
                .to_string(),
            "  ab  "
        );
        assert_eq!(striptags("<p>Hello <b>you</b></p>"), "Hello you");
        assert_eq!(
            nunjucks_default(Value::from(""), Some(Value::from("x")), Some(Value::from(true))),
            Value::from("x")
        );
        assert_eq!(
            nunjucks_default(Value::from(""), Some(Value::from("x")), None),
            Value::from("")
        );
        assert_eq!(
            nunjucks_default(Value::UNDEFINED, Some(Value::from("x")), None),
            Value::from("x")
        );
    }
}
