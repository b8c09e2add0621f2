//! Expression evaluation: any text as a skeleton file (`${{ }}` and `{% %}`
//! in Backstage and cookiecutter syntax) and as a whole-expression step
//! input, through goldpath's renderer with its limits.
//!
//! Invariants: no panic; rendered text and whole-expression values stay
//! within the output bound; every error names the place rendered, and a
//! limit error says which limit.
#![no_main]

use goldpath::engine::expression::{Renderer, Syntax, Whitespace};
use goldpath_fuzz::{limits, step_context, values_context};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, text)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(text);
    let limits = limits();
    let renderer = Renderer::new(limits);
    match mode % 4 {
        // A step input that is one whole expression keeps its type: the
        // value itself must be bounded, not only text.
        0 => {
            let input = serde_json::Value::String(format!("${{{{ {text} }}}}"));
            let location = "steps.fuzz.input.value";
            match renderer.render_value(location, &input, &step_context()) {
                Ok(Some(value)) => {
                    let size = serde_json::to_vec(&value).map_or(0, |v| v.len());
                    assert!(
                        size <= limits.max_render_bytes,
                        "a whole-expression value of {size} bytes passed the {} byte bound",
                        limits.max_render_bytes
                    );
                }
                Ok(None) => {}
                Err(error) => assert_error(&error, location),
            }
        }
        // Mixed text in a step input, or a skeleton file in either syntax.
        mode => {
            let (syntax, location) = match mode {
                1 => (Syntax::Backstage, "steps.fuzz.input.text"),
                2 => (Syntax::Backstage, "skeleton/fuzz.txt"),
                _ => (Syntax::Cookiecutter, "skeleton/fuzz.txt"),
            };
            let whitespace = Whitespace {
                trim_blocks: data.len() % 2 == 0,
                lstrip_blocks: data.len() % 3 == 0,
            };
            let renderer = renderer.for_files(syntax, whitespace);
            let context = if mode == 1 {
                step_context()
            } else {
                values_context()
            };
            match renderer.render_text(location, &text, &context) {
                Ok(rendered) => assert!(
                    rendered.len() <= limits.max_render_bytes,
                    "{} bytes rendered past the {} byte bound",
                    rendered.len(),
                    limits.max_render_bytes
                ),
                Err(error) => assert_error(&error, location),
            }
        }
    }
});

fn assert_error(error: &goldpath::engine::expression::RenderError, location: &str) {
    assert_eq!(error.location, location, "the error names another place: {error}");
    assert!(!error.message.trim().is_empty(), "an error without a message");
    if error.limit {
        assert!(
            ["instructions", "bytes", "too long", "levels", "chains more than"]
                .iter()
                .any(|word| error.message.contains(word)),
            "a limit error that does not say which limit: {error}"
        );
    }
}
