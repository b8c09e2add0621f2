//! Backstage's `${{ }}` expressions on minijinja: rendering step inputs,
//! conditions and skeleton files exactly as Backstage's nunjucks setup does,
//! within limits a hostile template cannot get past.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value};

use super::bounds::{self, BoundedWriter, Guard, Hit};
use super::filters;
use super::warnings::Sink;

/// Bounds on rendering, so a template cannot hang or exhaust the operator.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Instructions one render may execute (loops, filters, lookups).
    pub fuel: u64,
    /// Bytes one render may produce.
    pub max_render_bytes: usize,
    /// Bytes all files of a workspace may hold together.
    pub max_workspace_bytes: usize,
    /// Wall-clock time for rendering a whole request.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: 2_000_000,
            max_render_bytes: 16 << 20,
            max_workspace_bytes: 256 << 20,
            timeout: Duration::from_secs(30),
        }
    }
}

/// Which delimiters a text uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Syntax {
    /// Backstage: `${{ value }}`, `{% block %}`, `{# comment #}`.
    #[default]
    Backstage,
    /// cookiecutter: `{{ cookiecutter.value }}`.
    Cookiecutter,
}

/// How skeleton files treat whitespace around `{% %}` blocks (nunjucks'
/// `trimBlocks` and `lstripBlocks`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Whitespace {
    /// Remove the first newline after a block tag.
    pub trim_blocks: bool,
    /// Strip spaces and tabs before a block tag at the start of a line.
    pub lstrip_blocks: bool,
}

/// What went wrong while rendering, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderError {
    /// The file, step input or field being rendered.
    pub location: String,
    /// The line within it, when known.
    pub line: Option<usize>,
    /// What is wrong, in words a template author acts on.
    pub message: String,
    /// Whether a limit stopped the render, rather than the template's content.
    pub limit: bool,
    /// Whether the text does not parse (rather than failing as it renders).
    pub syntax: bool,
}

/// A tag that chains more links than can be compiled safely.
fn chain_error(location: &str, line: usize) -> RenderError {
    RenderError {
        location: location.to_string(),
        line: Some(line),
        message: format!(
            "a tag chains more than {} operators, filters, tests, attributes or calls; split it with {{% set %}}",
            bounds::MAX_CHAIN
        ),
        limit: true,
        syntax: false,
    }
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}, line {line}: {}", self.location, self.message),
            None => write!(f, "{}: {}", self.location, self.message),
        }
    }
}

impl std::error::Error for RenderError {}

/// Renders Backstage templates. Cheap to clone; clones share the deadline
/// and the templates compiled so far.
#[derive(Clone)]
pub struct Renderer {
    env: Arc<Mutex<Compiled>>,
    syntax: Syntax,
    /// Every environment of this request, by syntax and whitespace, so a file
    /// checked before the steps run is not compiled again when rendered.
    environments: Arc<Mutex<Environments>>,
    limits: Limits,
    deadline: Instant,
    warnings: Sink,
}

type Environments = HashMap<(Syntax, Whitespace), Arc<Mutex<Compiled>>>;

/// One environment and the texts compiled into it, as their authors wrote
/// them (what is compiled has its operators rewritten, see [`bounds`]).
struct Compiled {
    env: Environment<'static>,
    /// The bounds its filters and operators check.
    guard: Guard,
    syntax: SyntaxConfig,
    sources: HashMap<String, String>,
}

impl Renderer {
    /// A renderer for step inputs and output, whose deadline starts now.
    pub fn new(limits: Limits) -> Renderer {
        let deadline = Instant::now() + limits.timeout;
        let warnings = Sink::default();
        let env = Arc::new(Mutex::new(environment(
            Syntax::Backstage,
            Whitespace::default(),
            limits,
            deadline,
            &warnings,
        )));
        let environments = HashMap::from([((Syntax::Backstage, Whitespace::default()), env.clone())]);
        Renderer {
            env,
            syntax: Syntax::Backstage,
            environments: Arc::new(Mutex::new(environments)),
            limits,
            deadline,
            warnings,
        }
    }

    /// Where this renderer, its clones and the functions templates call
    /// report warnings.
    pub fn warnings(&self) -> &Sink {
        &self.warnings
    }

    /// A renderer for skeleton files with the given syntax and whitespace
    /// handling, sharing this one's limits, deadline and compiled templates.
    pub fn for_files(&self, syntax: Syntax, whitespace: Whitespace) -> Renderer {
        let env = lock(&self.environments)
            .entry((syntax, whitespace))
            .or_insert_with(|| {
                Arc::new(Mutex::new(environment(
                    syntax,
                    whitespace,
                    self.limits,
                    self.deadline,
                    &self.warnings,
                )))
            })
            .clone();
        Renderer {
            env,
            syntax,
            ..self.clone()
        }
    }

    /// The limits this renderer enforces.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The checks values are held to: the bytes bound and the deadline.
    pub fn guard(&self) -> Guard {
        Guard {
            max_bytes: self.limits.max_render_bytes,
            deadline: self.deadline,
            timeout: self.limits.timeout,
        }
    }

    /// Fails with the time limit's error once the request's deadline has
    /// passed; `location` names what was about to be rendered.
    pub fn check_deadline(&self, location: &str) -> Result<(), RenderError> {
        if Instant::now() > self.deadline {
            return Err(self.limit_error(location, None, Stop::Time));
        }
        Ok(())
    }

    /// Checks that `source` parses, without rendering it. The compiled
    /// template is kept for rendering the same text under the same name.
    pub fn check(&self, location: &str, source: &str) -> Result<(), RenderError> {
        if self.is_literal(source) {
            return Ok(());
        }
        self.compiled(&mut lock(&self.env), location, source).map(drop)
    }

    /// Checks that `source` parses, like [`Renderer::check`], and returns
    /// the names it reads from its context: variables such as `secrets`,
    /// and global functions such as `debug`.
    pub fn references(&self, location: &str, source: &str) -> Result<BTreeSet<String>, RenderError> {
        if self.is_literal(source) {
            return Ok(BTreeSet::new());
        }
        let mut compiled = lock(&self.env);
        let template = self.compiled(&mut compiled, location, source)?;
        // The checked operators' functions are ours, not the template's.
        Ok(template
            .undeclared_variables(false)
            .into_iter()
            .filter(|name| !bounds::is_checked_function(name))
            .collect())
    }

    /// Renders a text (a skeleton file, a file name, a mixed string).
    pub fn render_text(&self, location: &str, source: &str, context: &Value) -> Result<String, RenderError> {
        if self.is_literal(source) {
            return Ok(source.to_string());
        }
        self.check_deadline(location)?;
        self.warnings.rendering(location);
        let mut compiled = lock(&self.env);
        let template = self.compiled(&mut compiled, location, source)?;
        let mut out = BoundedWriter::new(self.limits.max_render_bytes, self.deadline);
        match template.render_captured_to(context.clone(), &mut out) {
            Ok(_) => String::from_utf8(out.bytes).map_err(|_| RenderError {
                location: location.to_string(),
                line: None,
                message: "rendered to bytes that are not UTF-8".into(),
                limit: false,
                syntax: false,
            }),
            Err(error) => Err(match out.stopped {
                Some(Hit::Size) => self.limit_error(location, error.line(), Stop::Size),
                Some(Hit::Time) => self.limit_error(location, error.line(), Stop::Time),
                None => self.error(location, &error),
            }),
        }
    }

    /// Text without any tag renders to itself.
    fn is_literal(&self, source: &str) -> bool {
        !source.contains(self.variable_start()) && !source.contains("{%") && !source.contains("{#")
    }

    /// The template `source` under the name `location` in `compiled`, its
    /// operators checked, compiled the first time it is seen.
    fn compiled<'a>(
        &self,
        compiled: &'a mut Compiled,
        location: &str,
        source: &str,
    ) -> Result<minijinja::Template<'a, 'a>, RenderError> {
        // `sources` gains an entry only once its template was added, so a
        // source seen before is in the environment.
        if compiled.sources.get(location).is_none_or(|s| s != source) {
            if let Some(line) = bounds::overlong_chain(source, true, &compiled.syntax) {
                return Err(chain_error(location, line));
            }
            let checked = bounds::rewrite(source, true, &compiled.syntax);
            compiled
                .env
                .add_template_owned(location.to_string(), checked)
                .map_err(|e| self.error(location, &e))?;
            compiled.sources.insert(location.to_string(), source.to_string());
        }
        compiled
            .env
            .get_template(location)
            .map_err(|e| self.error(location, &e))
    }

    /// Renders every string inside a JSON value, as Backstage renders step
    /// inputs: a string that is one whole `${{ expression }}` keeps the
    /// expression's type (number, list, object); any other string renders to
    /// a string. A value that is undefined, or text that renders to
    /// nothing, is `None`, and an object drops such keys, as JSON
    /// serialisation of JavaScript's `undefined` does.
    pub fn render_value(
        &self,
        location: &str,
        value: &serde_json::Value,
        context: &Value,
    ) -> Result<Option<serde_json::Value>, RenderError> {
        use serde_json::Value as Json;
        Ok(match value {
            Json::String(text) => self.render_string(location, text, context)?,
            Json::Array(items) => {
                let mut rendered = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    rendered.push(
                        self.render_value(&format!("{location}[{i}]"), item, context)?
                            .unwrap_or(Json::Null),
                    );
                }
                Some(Json::Array(rendered))
            }
            Json::Object(fields) => {
                let mut rendered = serde_json::Map::new();
                for (key, field) in fields {
                    if let Some(field) = self.render_value(&format!("{location}.{key}"), field, context)? {
                        rendered.insert(key.clone(), field);
                    }
                }
                Some(Json::Object(rendered))
            }
            other => Some(other.clone()),
        })
    }

    fn render_string(
        &self,
        location: &str,
        text: &str,
        context: &Value,
    ) -> Result<Option<serde_json::Value>, RenderError> {
        match self.render_string_parsed(location, text, context) {
            // Backstage keeps a string nunjucks cannot parse as written; the
            // template's check warned about it.
            Err(error) if error.syntax => Ok(Some(serde_json::Value::String(text.to_string()))),
            rendered => rendered,
        }
    }

    fn render_string_parsed(
        &self,
        location: &str,
        text: &str,
        context: &Value,
    ) -> Result<Option<serde_json::Value>, RenderError> {
        if let Some(expression) = whole_expression(text) {
            self.check_deadline(location)?;
            self.warnings.rendering(location);
            let compiled = lock(&self.env);
            if let Some(line) = bounds::overlong_chain(expression, false, &compiled.syntax) {
                return Err(chain_error(location, line));
            }
            let checked = bounds::rewrite(expression, false, &compiled.syntax);
            let expression = compiled
                .env
                .compile_expression_owned(checked)
                .map_err(|e| self.error(location, &e))?;
            let value = expression.eval(context).map_err(|e| self.error(location, &e))?;
            if value.is_undefined() {
                return Ok(None);
            }
            // Counted as it converts: a list that repeats a long string
            // is small as a value and large as JSON.
            let json = bounds::to_json(&self.guard(), &value).map_err(|e| match e {
                bounds::ToJsonError::Limit(Hit::Size) => self.limit_error(location, None, Stop::Size),
                bounds::ToJsonError::Limit(Hit::Time) => self.limit_error(location, None, Stop::Time),
                bounds::ToJsonError::Invalid(e) => RenderError {
                    location: location.to_string(),
                    line: None,
                    message: format!("the value cannot be represented as JSON: {e}"),
                    limit: false,
                    syntax: false,
                },
            })?;
            // An empty string stays one: Backstage keeps the type of a
            // whole expression, and `""` is not undefined.
            return Ok(Some(super::js::json_numbers(json)));
        }
        let rendered = self.render_text(location, text, context)?;
        Ok((!rendered.is_empty()).then_some(serde_json::Value::String(rendered)))
    }

    fn variable_start(&self) -> &'static str {
        match self.syntax {
            Syntax::Backstage => "${{",
            Syntax::Cookiecutter => "{{",
        }
    }

    fn error(&self, location: &str, error: &minijinja::Error) -> RenderError {
        if error.kind() == ErrorKind::OutOfFuel {
            return self.limit_error(location, error.line(), Stop::Fuel);
        }
        // A checked operator or filter refused: its message says which and why.
        if let Some(hit) = find_source::<Hit>(error) {
            return RenderError {
                location: location.to_string(),
                line: error.line(),
                message: match hit {
                    Hit::Time => self.limit_message(Stop::Time),
                    Hit::Size => error
                        .detail()
                        .map_or_else(|| self.limit_message(Stop::Size), str::to_string),
                },
                limit: true,
                syntax: false,
            };
        }
        let mut message = error
            .detail()
            .map(str::to_string)
            .unwrap_or_else(|| error.kind().to_string());
        if error.detail().is_some() && !matches!(error.kind(), ErrorKind::InvalidOperation) {
            message = format!("{}: {message}", error.kind());
        }
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            message.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        RenderError {
            location: location.to_string(),
            line: error.line(),
            message,
            limit: false,
            syntax: error.kind() == ErrorKind::SyntaxError,
        }
    }

    fn limit_error(&self, location: &str, line: Option<usize>, stop: Stop) -> RenderError {
        RenderError {
            location: location.to_string(),
            line,
            message: self.limit_message(stop),
            limit: true,
            syntax: false,
        }
    }

    fn limit_message(&self, stop: Stop) -> String {
        match stop {
            Stop::Fuel => format!(
                "rendering stopped after {} instructions; a loop in the template runs too long",
                self.limits.fuel
            ),
            Stop::Size => format!(
                "rendering stopped at {} bytes of output; the template produces too much",
                self.limits.max_render_bytes
            ),
            Stop::Time => format!(
                "rendering stopped after {:?}; the template takes too long",
                self.limits.timeout
            ),
        }
    }
}

/// The first cause of type `T` in an error's chain.
fn find_source<T: std::error::Error + Copy + 'static>(error: &minijinja::Error) -> Option<T> {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(found) = cause.downcast_ref::<T>() {
            return Some(*found);
        }
        source = cause.source();
    }
    None
}

/// Backstage's truthiness for `if`: false, null, undefined, `""`, 0, NaN and
/// an empty list are false; everything else is true.
pub fn is_truthy(value: Option<&serde_json::Value>) -> bool {
    use serde_json::Value as Json;
    match value {
        None | Some(Json::Null) => false,
        Some(Json::Bool(b)) => *b,
        Some(Json::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Some(Json::String(s)) => !s.is_empty(),
        Some(Json::Array(items)) => !items.is_empty(),
        Some(Json::Object(_)) => true,
    }
}

/// The expression inside a string that is exactly one `${{ ... }}`.
fn whole_expression(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix("${{")?.strip_suffix("}}")?;
    (!inner.contains("${{") && !inner.contains("}}")).then_some(inner.trim())
}

/// A poisoned lock only means another render panicked; the environment
/// itself is still sound.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What a template in Backstage's syntax may call beyond the language:
/// its filters and global functions, read from the environment that
/// renders them, so the list cannot name what does not exist. The engine's
/// own helpers (`__goldpath_*`, the targets of its rewritten operators)
/// are left out; Backstage's syntax has no global values.
pub struct Extensions {
    /// The filters' names, in registration order.
    pub filters: Vec<&'static str>,
    /// The global functions' names, sorted.
    pub functions: Vec<String>,
}

/// The [`Extensions`] of Backstage's syntax.
pub fn extensions() -> Extensions {
    let limits = Limits::default();
    let compiled = environment(
        Syntax::Backstage,
        Whitespace::default(),
        limits,
        Instant::now() + limits.timeout,
        &Sink::default(),
    );
    let mut functions: Vec<String> = compiled
        .env
        .globals()
        .filter(|(name, _)| !bounds::is_checked_function(name))
        .map(|(name, _)| name.to_string())
        .collect();
    functions.sort();
    Extensions {
        filters: filters::names(compiled.guard),
        functions,
    }
}

fn environment(
    syntax: Syntax,
    whitespace: Whitespace,
    limits: Limits,
    deadline: Instant,
    warnings: &Sink,
) -> Compiled {
    let mut env = Environment::new();
    let mut config = SyntaxConfig::builder();
    if syntax == Syntax::Backstage {
        config.variable_delimiters("${{", "}}");
    }
    config
        .trim_blocks(whitespace.trim_blocks)
        .lstrip_blocks(whitespace.lstrip_blocks)
        .keep_trailing_newline(true);
    // Only the delimiters above are configurable, and they are valid.
    let config = config.build().unwrap_or_default();
    env.set_syntax(config.clone());
    // nunjucks prints undefined as "" and lets lookups on it chain.
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_fuel(Some(limits.fuel));
    env.set_recursion_limit(64);
    // Templates cannot load other templates: no loader is set, so
    // `include`/`import`/`extends` find nothing.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    let guard = Guard {
        max_bytes: limits.max_render_bytes,
        deadline,
        timeout: limits.timeout,
    };
    filters::register(&mut env, guard);
    if syntax == Syntax::Cookiecutter {
        env.add_global(filters::COMPAT, Value::from(true));
    }
    bounds::register_operators(&mut env, guard, warnings.clone());
    Compiled {
        env,
        guard,
        syntax: config,
        sources: HashMap::new(),
    }
}

#[derive(Clone, Copy, Debug)]
enum Stop {
    Fuel,
    Size,
    Time,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn context() -> Value {
        Value::from(minijinja::value::Serde(json!({
            "parameters": { "replicas": 3, "tags": ["a", "b"], "name": "svc", "empty": "" },
        })))
    }

    #[test]
    fn a_whole_expression_keeps_its_type_and_mixed_text_is_a_string() {
        let renderer = Renderer::new(Limits::default());
        let render = |v: serde_json::Value| renderer.render_value("input", &v, &context()).unwrap();
        assert_eq!(render(json!("${{ parameters.replicas }}")), Some(json!(3)));
        assert_eq!(render(json!(" ${{ parameters.tags }} ")), Some(json!(["a", "b"])));
        assert_eq!(
            render(json!("${{ parameters.replicas }} replicas")),
            Some(json!("3 replicas"))
        );
        assert_eq!(render(json!("${{ parameters.missing }}")), None);
        assert_eq!(render(json!("${{ parameters.empty }}")), Some(json!("")));
        assert_eq!(
            render(json!({ "keep": "${{ parameters.name }}", "drop": "${{ parameters.missing }}", "n": 1 })),
            Some(json!({ "keep": "svc", "n": 1 }))
        );
    }

    #[test]
    fn undefined_in_arithmetic_renders_as_in_backstage_with_a_warning() {
        let renderer = Renderer::new(Limits::default());
        let context = Value::from(minijinja::value::Serde(json!({ "values": {} })));
        let input = json!("${{ values.a.owner + \"/\" + values.a.repo }}");
        assert_eq!(
            renderer
                .render_value("steps[a].input.repo", &input, &context)
                .unwrap(),
            Some(json!("undefined/undefined"))
        );
        let text = renderer.render_text("ci.yaml", "image: ${{ steps.build.image * 1 }}", &context);
        assert_eq!(text.unwrap(), "image: NaN");
        let warnings = renderer.warnings().take().lines();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].starts_with("steps[a].input.repo: an undefined value in `+`"),
            "{warnings:?}"
        );
        assert!(
            warnings[1].starts_with("ci.yaml: an undefined value in `*` renders as NaN"),
            "{warnings:?}"
        );
        // Defined values warn about nothing.
        renderer.render_text("ok.txt", "${{ 1 + 2 }}", &context).unwrap();
        assert!(renderer.warnings().take().is_empty());
    }

    #[test]
    fn truthiness_is_backstages() {
        for falsy in [
            json!(false),
            json!(null),
            json!(""),
            json!(0),
            json!(0.0),
            json!([]),
        ] {
            assert!(!is_truthy(Some(&falsy)), "{falsy} should be false");
        }
        assert!(!is_truthy(None));
        for truthy in [json!(true), json!("no"), json!(1), json!([0]), json!({})] {
            assert!(is_truthy(Some(&truthy)), "{truthy} should be true");
        }
    }

    #[test]
    fn each_limit_stops_the_render_with_its_own_message() {
        let context = context();
        let tight = Limits {
            fuel: 1_000,
            max_render_bytes: 100,
            timeout: Duration::ZERO,
            ..Limits::default()
        };
        let err = |limits: Limits, source: &str| {
            Renderer::new(limits)
                .render_text("f.txt", source, &context)
                .unwrap_err()
        };

        let fuel = err(
            Limits {
                timeout: Duration::from_secs(30),
                ..tight
            },
            "{% for i in range(10000) %}{% endfor %}",
        );
        assert!(fuel.limit && fuel.message.contains("instructions"), "{fuel}");
        let size = err(
            Limits {
                timeout: Duration::from_secs(30),
                ..tight
            },
            "{% for i in range(50) %}xxxx{% endfor %}",
        );
        assert!(size.limit && size.message.contains("bytes of output"), "{size}");
        let time = err(tight, "${{ 'x' }}");
        assert!(time.limit && time.message.contains("takes too long"), "{time}");
    }

    #[test]
    fn syntax_errors_name_the_location_and_line() {
        let renderer = Renderer::new(Limits::default());
        let error = renderer
            .check("skeleton/README.md", "line one\n{% if x %}\nno end\n")
            .unwrap_err();
        assert_eq!(error.location, "skeleton/README.md");
        assert!(error.line.is_some_and(|line| line >= 2), "{error}");
        assert!(!error.limit);
    }

    #[test]
    fn a_checked_template_renders_without_compiling_again() {
        let renderer = Renderer::new(Limits::default()).for_files(Syntax::Backstage, Whitespace::default());
        renderer.check("a.txt", "${{ values.x }}").unwrap();
        let again = renderer.for_files(Syntax::Backstage, Whitespace::default());
        let context = Value::from(minijinja::value::Serde(json!({ "values": { "x": "yes" } })));
        assert_eq!(
            again.render_text("a.txt", "${{ values.x }}", &context).unwrap(),
            "yes"
        );
        // The same name with other text is compiled anew, not confused.
        assert_eq!(
            again.render_text("a.txt", "${{ values.x }}!", &context).unwrap(),
            "yes!"
        );
    }
}
