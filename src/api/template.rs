//! `Template`: a golden path. The spec is a Backstage
//! `scaffolder.backstage.io/v1beta3` Template's, field for field, plus where
//! the template's files live (`source`) and who may use it (`access`).

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::schema::{self, ENTITY_REF_PATTERN};
use super::{Condition, SecretRef};

/// A golden path: the parameters a user fills in, the steps that turn them
/// into a new repository, and the files those steps render.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[kube(
    group = "goldpath.dev",
    version = "v1alpha1",
    kind = "Template",
    namespaced,
    shortname = "tmpl",
    category = "goldpath",
    status = "TemplateStatus",
    derive = "PartialEq",
    doc = "A golden path: a Backstage software template (scaffolder.backstage.io/v1beta3) as a Kubernetes resource.",
    printcolumn(name = "Title", type_ = "string", json_path = ".spec.title"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(name = "Revision", type_ = "string", json_path = ".status.revision"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct TemplateSpec {
    /// Name shown to users when they pick a template (Backstage `metadata.title`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub title: Option<String>,

    /// What the template creates and when to use it (Backstage `metadata.description`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,

    /// Entity reference of the group or user that owns the template, e.g. `group:platform-team`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = ENTITY_REF_PATTERN), length(max = 253))]
    pub owner: Option<String>,

    /// The kind of thing the template creates, e.g. `service`, `website`, `resource`.
    #[serde(rename = "type")]
    #[schemars(length(min = 1, max = 63))]
    pub type_: String,

    /// Tags for finding the template (Backstage `metadata.tags`): lowercase words joined by `-`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::tags")]
    pub tags: Vec<String>,

    /// The lifecycle of what the template creates, e.g. `experimental`,
    /// `production` (Backstage `spec.lifecycle`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<String>,

    /// The form the user fills in: one JSON Schema object, or a list of such
    /// objects shown as pages and merged for validation. `ui:*` keys are kept
    /// for form renderers and ignored by validation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::free_form")]
    pub parameters: Option<Value>,

    /// The steps run, in order, for every request of this template.
    #[schemars(length(max = 100))]
    pub steps: Vec<Step>,

    /// What a finished request shows its user: links and text, rendered with
    /// the steps' outputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<TemplateOutput>,

    /// Backstage `spec.secrets`: `schema`, a JSON Schema for the secrets a
    /// portal collects when it creates a task. Kept for portals; a request's
    /// secrets come from its `secretRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::free_form_object")]
    pub secrets: Option<Value>,

    /// Backstage `spec.presentation`: how a portal shows the form, e.g.
    /// `buttonLabels`. Kept for portals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::free_form_object")]
    pub presentation: Option<Value>,

    /// Backstage `spec.formDecorators`: `[{id, input}]` a portal's form runs
    /// before it submits. Kept for portals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::free_form_list")]
    pub form_decorators: Option<Vec<Value>>,

    /// Backstage `spec.EXPERIMENTAL_formDecorators`, the older name of
    /// `formDecorators`. Kept for portals.
    #[serde(
        rename = "EXPERIMENTAL_formDecorators",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(schema_with = "schema::free_form_list")]
    pub experimental_form_decorators: Option<Vec<Value>>,

    /// Backstage `spec.EXPERIMENTAL_recovery`: what a portal does with a
    /// task its backend lost (`EXPERIMENTAL_strategy`). goldpath requests
    /// always resume where they stopped.
    #[serde(
        rename = "EXPERIMENTAL_recovery",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(schema_with = "schema::free_form_object")]
    pub experimental_recovery: Option<Value>,

    /// Where the template's files live, so that `fetch:template` with
    /// `url: ./skeleton` resolves as it does next to a Backstage template.yaml.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<TemplateSource>,

    /// Which other namespaces may request this template. Without it, only
    /// requests in the template's own namespace may.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<TemplateAccess>,
}

/// Backstage's `apiVersion` for templates.
pub const BACKSTAGE_API_VERSION: &str = "scaffolder.backstage.io/v1beta3";

/// The keys Backstage keeps in a template's `metadata` and goldpath in its
/// `spec` (a Kubernetes object's metadata has no room for them).
const METADATA_IN_SPEC: [&str; 3] = ["title", "description", "tags"];

impl Template {
    /// A Backstage `scaffolder.backstage.io/v1beta3` template as a Template:
    /// `metadata.title`, `description` and `tags` move into `spec`.
    pub fn from_backstage(mut document: Value) -> Result<Template, serde_json::Error> {
        let metadata = document.get("metadata").cloned().unwrap_or_default();
        if let Some(spec) = document.get_mut("spec").and_then(Value::as_object_mut) {
            for key in METADATA_IN_SPEC {
                if let Some(value) = metadata.get(key) {
                    spec.entry(key).or_insert_with(|| value.clone());
                }
            }
        }
        document["apiVersion"] = Value::String("goldpath.dev/v1alpha1".into());
        if let Some(metadata) = document.get_mut("metadata").and_then(Value::as_object_mut) {
            for key in METADATA_IN_SPEC.iter().chain(&["links"]) {
                metadata.remove(*key);
            }
        }
        serde_json::from_value(document)
    }

    /// The Template as a Backstage template, for a portal that reads
    /// Backstage's format: the reverse of [`Template::from_backstage`],
    /// without goldpath's own `source` and `access`.
    pub fn to_backstage(&self) -> Result<Value, serde_json::Error> {
        let mut spec = serde_json::to_value(&self.spec)?;
        let mut metadata = serde_json::Map::new();
        metadata.insert("name".into(), Value::from(self.metadata.name.clone()));
        if let Some(fields) = spec.as_object_mut() {
            fields.remove("source");
            fields.remove("access");
            for key in METADATA_IN_SPEC {
                if let Some(value) = fields.remove(key) {
                    metadata.insert(key.into(), value);
                }
            }
        }
        for (key, map) in [
            ("labels", &self.metadata.labels),
            ("annotations", &self.metadata.annotations),
        ] {
            if let Some(map) = map.as_ref().filter(|m| !m.is_empty()) {
                metadata.insert(key.into(), serde_json::to_value(map)?);
            }
        }
        Ok(serde_json::json!({
            "apiVersion": BACKSTAGE_API_VERSION,
            "kind": "Template",
            "metadata": metadata,
            "spec": spec,
        }))
    }
}

/// One step of a template: an action run with rendered input.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// Identifies the step, so later steps and the output can read
    /// `steps['id'].output`. A repeated id is allowed, as in Backstage (a
    /// warning): the later step's output replaces the earlier one's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9_][-A-Za-z0-9_]*$"), length(max = 63))]
    pub id: Option<String>,

    /// Name shown while the step runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,

    /// The action to run, by its Backstage name, e.g. `fetch:template`,
    /// `publish:github`, `catalog:register`.
    #[schemars(regex(pattern = r"^[A-Za-z0-9]+([-:_.][A-Za-z0-9]+)*$"), length(max = 128))]
    pub action: String,

    /// The action's input. String values may hold `${{ }}` expressions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::free_form_object")]
    pub input: Option<Value>,

    /// Run the step only when this is truthy: a boolean or a `${{ }}` expression.
    #[serde(rename = "if", default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::free_form")]
    pub if_: Option<Value>,

    /// Run the step once per item of this list or object (a `${{ }}`
    /// expression or a literal), with the item as `each.value` and `each.key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::free_form")]
    pub each: Option<Value>,

    /// How long the step may wait for what it waits for (a gated step,
    /// e.g. `wait:argocd-application`): whole numbers with units `d`, `h`,
    /// `m`, `s`, e.g. `10m` or `1h30m`, at most 30 days. Without it, the
    /// operator's `stepTimeoutSeconds`. Past it the step fails and the
    /// request is `Stalled` with reason `StepTimedOut`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+[dhms])+$"), length(max = 32))]
    pub timeout: Option<String>,

    /// Backstage `backstage:permissions`: `tags` a portal's permission
    /// policy reads. Kept for portals.
    #[serde(
        rename = "backstage:permissions",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(schema_with = "schema::free_form_object")]
    pub permissions: Option<Value>,
}

/// The template's output: what a finished request shows its user.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct TemplateOutput {
    /// Links, e.g. to the new repository or its catalog entry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub links: Vec<OutputLink>,

    /// Text blocks (Markdown), e.g. next steps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub text: Vec<OutputText>,

    /// Other output keys of older Backstage templates, kept as written.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// A link in a template's output.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.url) || has(self.entityRef)").message("a link needs a url or an entityRef"))]
pub struct OutputLink {
    /// Text of the link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,

    /// Where the link goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,

    /// A catalog entity the link goes to, instead of a url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_ref: Option<String>,

    /// Icon name, e.g. `catalog`, `github`, `dashboard`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,

    /// Show the link only when this is truthy: a boolean or a `${{ }}` expression.
    #[serde(rename = "if", default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::free_form")]
    pub if_: Option<Value>,
}

/// A text block in a template's output.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct OutputText {
    /// Heading of the block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,

    /// Markdown content of the block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,

    /// Icon name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,

    /// Show this block first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<bool>,

    /// Show the block only when this is truthy: a boolean or a `${{ }}` expression.
    #[serde(rename = "if", default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::free_form")]
    pub if_: Option<Value>,
}

/// Where a template's files live. Exactly one of `inline` and `git`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.inline) != has(self.git)").message("set exactly one of inline and git"))]
pub struct TemplateSource {
    /// The files themselves, path -> content, for small templates. Paths are
    /// relative to the template, e.g. `skeleton/README.md`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline: Option<BTreeMap<String, String>>,

    /// A git repository holding the files, resolved to a commit and pinned in status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitSource>,
}

/// A template's files in a git repository.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GitSource {
    /// Clone URL of the repository: https, ssh (`ssh://` or scp-style
    /// `user@host:path`), http or file.
    #[schemars(
        regex(pattern = r"^((https?|file|ssh|git\+ssh|ssh\+git)://.+|[^/:@]+@[^/:]+:.+)$"),
        length(max = 2048)
    )]
    pub url: String,

    /// Branch, tag or commit to use. A branch is followed: re-resolved on an
    /// interval. Defaults to the repository's default branch.
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 255))]
    pub ref_: Option<String>,

    /// Folder within the repository that holds the template's files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub path: Option<String>,

    /// A Secret in the template's namespace with `username` and `password`
    /// (or a token as password) for the repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretRef>,
}

/// Which namespaces may request a template.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct TemplateAccess {
    /// Namespaces whose ScaffoldRequests may use this template, besides its
    /// own. `*` grants every namespace.
    #[serde(default)]
    #[schemars(
        length(max = 256),
        inner(regex(pattern = r"^(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$"))
    )]
    pub namespaces: Vec<String>,
}

/// The observed state of a Template.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct TemplateStatus {
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// `Ready` when the template is valid and its source resolved; `Stalled`
    /// with a message naming the file, step or field when it is not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::conditions")]
    pub conditions: Vec<Condition>,

    /// The resolved source revision requests render against: the git commit
    /// SHA, or `sha256:` of the inline files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,

    /// What Backstage accepts in the template but is likely a mistake (a
    /// repeated step id, an expression nunjucks cannot parse), each naming
    /// the step, field, file and line. The template stays usable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 101))]
    pub warnings: Vec<String>,
}
