//! `POST /v2/dry-run`: a Backstage template (`template`), its directory
//! (`directoryContents`, base64), `values` and `secrets`, rendered by the
//! engine in this process as `goldpath render` renders a template: checked,
//! the values validated, every step run against no effects, so nothing
//! leaves the process (no forge, no cluster write). The answer is
//! Backstage's: the log, the rendered files, the output and the steps.
//! Bounded by the body limit, [`LIMITS`] and [`DRY_RUN_LIMIT`] runs at once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hyper::StatusCode;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::actions::PlannedEffects;
use crate::api::{StepPhase, Template, TemplateSpec};
use crate::engine::expression::{Limits, Renderer};
use crate::engine::files::{FileEntry, FileTree, TemplateFiles};
use crate::portal::reply::Reply;
use crate::portal::{Call, Portal};
use crate::scaffold::{Request, Scaffold, step_id};
use crate::template_check::{self, UnknownActions};

/// The engine's bounds for one dry run: the engine's own, with a workspace
/// of at most 16 MiB, which the answer carries back in base64.
pub const LIMITS: Limits = Limits {
    fuel: 2_000_000,
    max_render_bytes: 16 << 20,
    max_workspace_bytes: 16 << 20,
    timeout: Duration::from_secs(30),
};
/// How many dry runs render at once; more wait.
pub const DRY_RUN_LIMIT: usize = 2;
/// How many files `directoryContents` may hold.
pub const FILES_LIMIT: usize = 1000;

/// The dry runs rendering.
pub struct DryRuns(Arc<Semaphore>);

impl Default for DryRuns {
    fn default() -> DryRuns {
        DryRuns(Arc::new(Semaphore::new(DRY_RUN_LIMIT)))
    }
}

/// What a caller asks to render.
pub struct DryRun {
    template: Template,
    files: FileTree,
    values: Value,
    secrets: BTreeMap<String, String>,
}

/// Reads the body of `POST /v2/dry-run`; the error names the field.
pub fn options(body: &[u8]) -> Result<DryRun, String> {
    let body: Value = serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let template = body.get("template").cloned().unwrap_or(Value::Null);
    let api_version = template
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if template.get("kind").and_then(Value::as_str) != Some("Template")
        || api_version != crate::api::BACKSTAGE_API_VERSION
    {
        return Err(format!(
            "template: a Backstage Template ({}, kind Template) is required",
            crate::api::BACKSTAGE_API_VERSION
        ));
    }
    let template = Template::from_backstage(template).map_err(|e| format!("template: {e}"))?;
    let values = match body.get("values") {
        Some(Value::Object(values)) => Value::Object(values.clone()),
        _ => return Err("values: required, an object of the template's parameters".into()),
    };
    let secrets = match body.get("secrets") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(secrets)) => secrets
            .iter()
            .map(|(key, value)| match value {
                Value::String(value) => Ok((key.clone(), value.clone())),
                _ => Err(format!("secrets.{key}: must be a string")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("secrets: must be an object of strings".into()),
    };
    let Some(listed) = body.get("directoryContents").and_then(Value::as_array) else {
        return Err("directoryContents: required, a list of {path, base64Content}".into());
    };
    if listed.len() > FILES_LIMIT {
        return Err(format!(
            "directoryContents: {} files, at most {FILES_LIMIT} are taken",
            listed.len()
        ));
    }
    let mut files = FileTree::new();
    for (index, file) in listed.iter().enumerate() {
        let path = file.get("path").and_then(Value::as_str).unwrap_or_default();
        let path = path.trim_start_matches("./");
        if path.is_empty() || path.starts_with('/') || path.split('/').any(|p| p == "..") {
            return Err(format!(
                "directoryContents[{index}].path: {path:?} is not a path inside the template's directory"
            ));
        }
        let content = file
            .get("base64Content")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let contents = BASE64
            .decode(content)
            .map_err(|e| format!("directoryContents[{index}].base64Content ({path}): not base64: {e}"))?;
        files.insert(
            path.to_string(),
            FileEntry::File {
                contents,
                executable: file.get("executable").and_then(Value::as_bool).unwrap_or(false),
            },
        );
    }
    Ok(DryRun {
        template,
        files,
        values,
        secrets,
    })
}

/// Renders `dry` for `user` (`${{ user }}`): Backstage's `DryRunResult`
/// with the steps, or the answer that says what is wrong with the template
/// or the values. CPU only: call it off the async threads.
pub fn run(dry: DryRun, user: Value) -> Result<Value, Reply> {
    let spec = &dry.template.spec;
    let files = TemplateFiles::at_root(dry.files);
    let renderer = Renderer::new(LIMITS);
    let checked = template_check::check(spec, &files, &renderer, UnknownActions::ShowNotRun)
        .map_err(|problems| Reply::bad_request(format!("template: {}", problems.join("; "))))?;
    let parameters = checked
        .schema
        .validate(&dry.values)
        .map_err(|errors| super::form::refused(&errors))?;
    let request = Request {
        template: spec,
        template_files: &files,
        parameters,
        secrets: dry.secrets,
        user,
    };
    let mut scaffold = Scaffold::new(request, renderer);
    let (log, failed) = run_steps(&mut scaffold, spec);
    let output = match failed {
        Some(message) => json!({"error": {"name": "Error", "message": message}}),
        None => match scaffold.output() {
            Ok(output) => json!({"links": output.links, "text": output.text}),
            Err(error) => {
                json!({"error": {"name": "Error", "message": scaffold.secrets().redact(&error.to_string())}})
            }
        },
    };
    let steps: Vec<Value> = spec
        .steps
        .iter()
        .enumerate()
        .map(|(index, step)| {
            json!({
                "id": step_id(spec, index),
                "name": step.name.clone().unwrap_or_else(|| step.action.clone()),
                "action": step.action,
                "input": step.input,
            })
        })
        .collect();
    Ok(json!({
        "log": log,
        "directoryContents": serialized(scaffold.workspace()),
        "output": output,
        "steps": steps,
    }))
}

/// Runs every step of `spec` against no effects, up to the first that
/// fails: Backstage's log of the run, and the failure's message.
fn run_steps(scaffold: &mut Scaffold<'_>, spec: &TemplateSpec) -> (Vec<Value>, Option<String>) {
    let mut log = Vec::new();
    for index in 0..spec.steps.len() {
        let id = step_id(spec, index);
        let line = |message: String, status: &str| json!({"body": {"message": message, "stepId": id, "status": status}});
        log.push(line(format!("Beginning step {id}"), "processing"));
        let outcome = scaffold.run_step(index, &mut PlannedEffects);
        for message in &outcome.log {
            log.push(json!({"body": {"message": message, "stepId": id}}));
        }
        match outcome.phase {
            StepPhase::Failed => {
                let message = outcome.message.unwrap_or_else(|| format!("step {id} failed"));
                log.push(line(message.clone(), "failed"));
                return (log, Some(message));
            }
            StepPhase::Skipped => log.push(line(format!("Skipping step {id}"), "skipped")),
            _ => log.push(line(format!("Finished step {id}"), "completed")),
        }
    }
    (log, None)
}

/// The workspace's files as Backstage's dry run answers them: path,
/// whether executable, and the contents in base64 (a link's target, with
/// `symlink`).
fn serialized(workspace: &FileTree) -> Vec<Value> {
    workspace
        .iter()
        .map(|(path, entry)| match entry {
            FileEntry::File { contents, executable } => {
                json!({"path": path, "executable": executable, "base64Content": BASE64.encode(contents)})
            }
            FileEntry::Symlink { target } => {
                json!({"path": path, "symlink": true, "base64Content": BASE64.encode(target)})
            }
        })
        .collect()
}

/// `POST /v2/dry-run`, for any verified caller: it reads and writes
/// nothing outside this process. Runs wait for one of [`DRY_RUN_LIMIT`]
/// places and render off the async threads.
pub async fn dry_run(portal: &Portal, call: &Call<'_>) -> Result<Reply, Reply> {
    let dry = options(&call.body).map_err(Reply::bad_request)?;
    let Ok(_place) = portal.scaffolder.dry_runs.0.clone().acquire_owned().await else {
        return Err(Reply::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "goldpath is stopping",
        ));
    };
    let user = call.caller.user.user();
    match tokio::task::spawn_blocking(move || run(dry, user)).await {
        Ok(answer) => answer.map(Reply::ok),
        Err(_) => Err(Reply::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the dry run stopped before it finished",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(template: Value, files: &[(&str, &str)], values: Value) -> Vec<u8> {
        let files: Vec<Value> = files
            .iter()
            .map(|(path, text)| json!({"path": path, "base64Content": BASE64.encode(text)}))
            .collect();
        json!({"template": template, "values": values, "secrets": {"token": "s3cret-value"}, "directoryContents": files})
            .to_string()
            .into_bytes()
    }

    fn template(steps: Value) -> Value {
        json!({
            "apiVersion": "scaffolder.backstage.io/v1beta3",
            "kind": "Template",
            "metadata": {"name": "dry"},
            "spec": {
                "type": "service",
                "parameters": [{"required": ["name"], "properties": {"name": {"type": "string"}}}],
                "steps": steps,
                "output": {"text": [{"title": "Made", "content": "${{ parameters.name }} was rendered"}]},
            },
        })
    }

    fn decoded(file: &Value) -> String {
        String::from_utf8(BASE64.decode(file["base64Content"].as_str().unwrap()).unwrap()).unwrap()
    }

    #[test]
    fn a_template_renders_in_process_and_steps_that_reach_out_are_not_run() {
        let steps = json!([
            {"id": "fetch", "action": "fetch:template", "input": {"url": "./skeleton", "values": {"name": "${{ parameters.name }}"}}},
            {"id": "publish", "action": "publish:github", "input": {"repoUrl": "github.com?owner=o&repo=${{ parameters.name }}", "token": "${{ secrets.token }}"}},
            {"id": "log", "action": "debug:log", "input": {"message": "made ${{ parameters.name }}"}},
        ]);
        let files = [
            ("skeleton/README.md", "# ${{ values.name }}"),
            ("skeleton/run.sh", "echo hi"),
        ];
        let dry = options(&body(template(steps), &files, json!({"name": "orders"}))).unwrap();
        let answer = run(dry, json!({"ref": "user:default/jane"})).unwrap();
        let files = answer["directoryContents"].as_array().unwrap();
        let readme = files.iter().find(|f| f["path"] == "README.md").unwrap();
        assert_eq!(decoded(readme), "# orders");
        assert_eq!(files.len(), 2, "{files:?}");
        let messages: Vec<&str> = answer["log"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["body"]["message"].as_str().unwrap())
            .collect();
        assert!(messages.contains(&"Beginning step publish"), "{messages:?}");
        assert!(messages.contains(&"Finished step log"), "{messages:?}");
        assert_eq!(answer["output"]["text"][0]["content"], "orders was rendered");
        assert_eq!(
            answer["steps"][1],
            json!({"id": "publish", "name": "publish:github", "action": "publish:github", "input": {"repoUrl": "github.com?owner=o&repo=${{ parameters.name }}", "token": "${{ secrets.token }}"}})
        );
        assert!(!answer.to_string().contains("s3cret-value"), "{answer}");
    }

    #[test]
    fn bad_input_is_refused_naming_what_is_wrong() {
        let steps = json!([{"id": "log", "action": "debug:log", "input": {"message": "hi"}}]);
        let good = template(steps.clone());
        let refused = run(options(&body(good.clone(), &[], json!({}))).unwrap(), Value::Null).unwrap_err();
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        let errors = &refused.body.unwrap()["errors"];
        assert_eq!(errors[0]["name"], "required", "{errors}");
        assert_eq!(errors[0]["path"], json!(["name"]), "{errors}");
        let unknown = template(json!([{"id": "x", "action": "debug:log", "input": {"nope": 1}}]));
        let refused = run(
            options(&body(unknown, &[], json!({"name": "a"}))).unwrap(),
            Value::Null,
        )
        .unwrap_err();
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        for (bad, named) in [
            (
                json!({"template": {"kind": "Component"}, "values": {}, "directoryContents": []}),
                "template",
            ),
            (
                json!({"template": good.clone(), "directoryContents": []}),
                "values",
            ),
            (
                json!({"template": good.clone(), "values": {}}),
                "directoryContents",
            ),
            (
                json!({"template": good.clone(), "values": {}, "secrets": {"a": 1}, "directoryContents": []}),
                "secrets.a",
            ),
            (
                json!({"template": good.clone(), "values": {}, "directoryContents": [{"path": "../x", "base64Content": ""}]}),
                "directoryContents[0].path",
            ),
            (
                json!({"template": good.clone(), "values": {}, "directoryContents": [{"path": "x", "base64Content": "%%"}]}),
                "not base64",
            ),
        ] {
            let error = options(bad.to_string().as_bytes()).err().unwrap();
            assert!(error.contains(named), "{bad}: {error}");
        }
    }

    #[test]
    fn the_files_a_dry_run_takes_are_bounded() {
        let files: Vec<(String, &str)> = (0..=FILES_LIMIT).map(|i| (format!("f{i}"), "x")).collect();
        let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), *t)).collect();
        let steps = json!([{"id": "log", "action": "debug:log", "input": {"message": "hi"}}]);
        let error = options(&body(template(steps), &files, json!({}))).err().unwrap();
        assert!(error.contains(&FILES_LIMIT.to_string()), "{error}");
    }

    #[test]
    fn a_workspace_past_its_bound_fails_the_step_within_the_body_limit() {
        // A 100 KiB file copied 200 times is past the 16 MiB workspace.
        let file = "x".repeat(100 << 10);
        let steps = json!([{
            "id": "copy",
            "action": "fetch:plain",
            "each": "${{ parameters.copies }}",
            "input": {"url": "./skeleton", "targetPath": "copy-${{ each.value }}"},
        }]);
        let mut many = template(steps);
        many["spec"]["parameters"][0]["properties"]["copies"] = json!({"type": "array"});
        let copies: Vec<usize> = (0..200).collect();
        let body = body(
            many,
            &[("skeleton/big", &file)],
            json!({"name": "a", "copies": copies}),
        );
        assert!(body.len() < crate::portal::BODY_LIMIT);
        let answer = run(options(&body).unwrap(), Value::Null).unwrap();
        let last = answer["log"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["body"]["status"], "failed", "{last}");
        let message = answer["output"]["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("workspace") || message.contains("MiB") || message.contains("bytes"),
            "{message}"
        );
        let kept = answer["directoryContents"].as_array().unwrap().len();
        assert!(kept < 200, "the workspace stopped at its bound: {kept} files");
    }
}
