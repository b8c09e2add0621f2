//! A minimal API client for `bench/drain`: creates ScaffoldRequests in bulk,
//! and measures the API server's ceiling, how fast a client that does
//! nothing else can create the same objects and write their status.
//!
//! ```text
//! load create NAMESPACE COUNT TEMPLATE PREFIX    create COUNT requests for TEMPLATE
//! load ceiling NAMESPACE COUNT PREFIX            create COUNT requests and patch each one's status
//! ```
//! Both print the seconds taken. Uses the kubeconfig of `KUBECONFIG`.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::time::Instant;

use goldpath::api::ScaffoldRequest;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

#[path = "parallel.rs"]
mod parallel;
use parallel::in_parallel;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let client = Client::try_default().await?;
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["create", namespace, count, template, prefix] => {
            let api = Api::<ScaffoldRequest>::namespaced(client, namespace);
            let start = Instant::now();
            in_parallel(count.parse()?, |i| create(&api, prefix, i, template)).await?;
            println!("{:.3}", start.elapsed().as_secs_f64());
        }
        ["ceiling", namespace, count, prefix] => {
            let api = Api::<ScaffoldRequest>::namespaced(client, namespace);
            let start = Instant::now();
            let api = &api;
            in_parallel(count.parse()?, |i| async move {
                create(api, prefix, i, "ceiling").await?;
                patch_status(api, &format!("{prefix}-{i}")).await
            })
            .await?;
            println!("{:.3}", start.elapsed().as_secs_f64());
        }
        _ => anyhow::bail!(
            "usage: load create NAMESPACE COUNT TEMPLATE PREFIX | load ceiling NAMESPACE COUNT PREFIX"
        ),
    }
    Ok(())
}

async fn create(
    api: &Api<ScaffoldRequest>,
    prefix: &str,
    index: usize,
    template: &str,
) -> anyhow::Result<()> {
    let name = format!("{prefix}-{index}");
    let request: ScaffoldRequest = serde_json::from_value(json!({
        "apiVersion": "goldpath.dev/v1alpha1",
        "kind": "ScaffoldRequest",
        "metadata": { "name": name },
        "spec": {
            "templateRef": { "name": template },
            "parameters": { "name": name, "owner": "group:bench" },
        },
    }))?;
    api.create(&PostParams::default(), &request).await?;
    Ok(())
}

/// A status as large as a finished request's: four steps with outputs.
async fn patch_status(api: &Api<ScaffoldRequest>, name: &str) -> anyhow::Result<()> {
    let steps: Vec<_> = ["fetch", "publish", "deploy", "register"]
        .iter()
        .map(|id| {
            json!({
                "id": id, "action": "debug:log", "phase": "Succeeded",
                "startedAt": "2026-01-01T00:00:00Z", "completedAt": "2026-01-01T00:00:01Z",
                "output": { "remoteUrl": format!("http://127.0.0.1/{name}.git") },
            })
        })
        .collect();
    let status = json!({ "status": { "phase": "Succeeded", "observedGeneration": 1, "steps": steps } });
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(status))
        .await?;
    Ok(())
}
