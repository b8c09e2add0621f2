//! The differential tier: templates and step inputs rendered by goldpath and
//! by Backstage's own engine (the Node reference in `reference.js`), compared
//! byte for byte. Two sets of cases: `cases.yaml`, written by hand, one or
//! more for each known class of difference; and generated ones (`generate`),
//! `GOLDPATH_NUNJUCKS_CASES` of them (10,000 unless set; `make fuzz` runs
//! 1,000,000), from the seed `GOLDPATH_NUNJUCKS_SEED`.

// Tests report failures by panicking.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod generate;
mod reference;

use std::path::Path;

use goldpath::engine::expression::{Limits, Renderer, Syntax, Whitespace};
use minijinja::value::{Serde, Value};

use reference::{Case, Outcome, Reference};

/// Cases rendered with one reference process and one goldpath renderer.
const BATCH: usize = 500;

/// What goldpath made of a case, in the reference's terms.
fn goldpath(renderer: &Renderer, case: &Case, index: usize) -> Outcome {
    let syntax = if case.compat {
        Syntax::Cookiecutter
    } else {
        Syntax::Backstage
    };
    let whitespace = Whitespace {
        trim_blocks: case.trim_blocks,
        lstrip_blocks: case.lstrip_blocks,
    };
    let context = Value::from(Serde(&case.context));
    let location = format!("case-{index}");
    if case.mode == "value" {
        let template = serde_json::Value::String(case.template.clone());
        match renderer.render_value(&location, &template, &context) {
            Ok(Some(value)) => Outcome {
                ok: Some(value),
                undefined: false,
                error: None,
            },
            Ok(None) => Outcome {
                ok: None,
                undefined: true,
                error: None,
            },
            Err(e) => Outcome {
                ok: None,
                undefined: false,
                error: Some(e.to_string()),
            },
        }
    } else {
        match renderer
            .for_files(syntax, whitespace)
            .render_text(&location, &case.template, &context)
        {
            Ok(text) => Outcome {
                ok: Some(serde_json::Value::String(text)),
                undefined: false,
                error: None,
            },
            Err(e) => Outcome {
                ok: None,
                undefined: false,
                error: Some(e.to_string()),
            },
        }
    }
}

/// Whether goldpath's outcome is the reference's: the same text or JSON,
/// or both an error. A value that is NaN or Infinity has no JSON form:
/// goldpath gives null, as `JSON.stringify` writes it, at any depth.
fn agrees(goldpath: &Outcome, reference: &Outcome) -> bool {
    let json = |outcome: &Outcome| outcome.ok.clone().map(|value| js_json(&without_nan(value)));
    match (&goldpath.error, &reference.error) {
        (Some(_), Some(_)) => true,
        (None, None) => goldpath.undefined == reference.undefined && json(goldpath) == json(reference),
        _ => false,
    }
}

/// The reference's numbers JSON cannot hold (`__number:NaN`) as null.
fn without_nan(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value as Json;
    match value {
        Json::String(text) if text.starts_with("__number:") => Json::Null,
        Json::Array(items) => Json::Array(items.into_iter().map(without_nan).collect()),
        Json::Object(fields) => Json::Object(fields.into_iter().map(|(k, v)| (k, without_nan(v))).collect()),
        other => other,
    }
}

/// JSON text, to compare values by: goldpath writes integral numbers as
/// integers, as JavaScript does, so `1.0` and `1` are a difference.
fn js_json(value: &serde_json::Value) -> String {
    serde_json::to_string(value).unwrap()
}

/// A case goldpath and the reference disagree on.
struct Mismatch {
    case: Case,
    goldpath: Outcome,
    reference: Outcome,
}

/// What running a set of cases found.
#[derive(Default)]
struct Tally {
    cases: usize,
    differ: usize,
    /// The first of the cases that differ.
    mismatches: Vec<Mismatch>,
    /// Cases where nunjucks 3.2.4 and Backstage's current engine differ
    /// (goldpath follows the current engine).
    references_differ: usize,
}

fn run(reference: &Reference, cases: &[Case]) -> Tally {
    let mut tally = Tally::default();
    for (batch_index, batch) in cases.chunks(BATCH).enumerate() {
        let answers = reference.render(batch);
        let renderer = Renderer::new(Limits::default());
        for (i, (case, answer)) in batch.iter().zip(answers).enumerate() {
            tally.cases += 1;
            if !agrees(&answer.nunjucks, &answer.nunjitsu) {
                tally.references_differ += 1;
            }
            let ours = goldpath(&renderer, case, batch_index * BATCH + i);
            if !agrees(&ours, &answer.nunjitsu) {
                tally.differ += 1;
                tally.mismatches.push(Mismatch {
                    case: case.clone(),
                    goldpath: ours,
                    reference: answer.nunjitsu,
                });
            }
        }
    }
    tally
}

fn show(outcome: &Outcome) -> String {
    match (&outcome.error, &outcome.ok) {
        (Some(e), _) => format!("error: {e}"),
        (None, Some(v)) => js_json(v),
        (None, None) => "undefined".into(),
    }
}

fn report(mismatches: &[Mismatch], limit: usize) -> String {
    mismatches
        .iter()
        .take(limit)
        .map(|m| {
            format!(
                "{} ({}{}): {:?} with {}\n  goldpath:  {}\n  reference: {}\n",
                m.case.name,
                m.case.mode,
                if m.case.compat { ", cookiecutterCompat" } else { "" },
                m.case.template,
                m.case.context,
                show(&m.goldpath),
                show(&m.reference)
            )
        })
        .collect()
}

/// The hand-written cases, each named by what it shows; a case whose
/// `differs` names a known difference is expected to differ, and fails the
/// test once it no longer does (so the list only shrinks).
#[derive(serde::Deserialize)]
struct Written {
    #[serde(flatten)]
    case: Case,
    #[serde(default)]
    differs: Option<String>,
}

#[test]
fn written_cases_render_as_backstage_renders_them() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/nunjucks/cases.yaml");
    let written: Vec<Written> = serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases: Vec<Case> = written.iter().map(|w| w.case.clone()).collect();
    let tally = run(&Reference::install(), &cases);
    let differing: std::collections::BTreeSet<String> =
        tally.mismatches.iter().map(|m| m.case.name.clone()).collect();
    let (unexpected, _known): (Vec<Mismatch>, Vec<Mismatch>) = tally.mismatches.into_iter().partition(|m| {
        written
            .iter()
            .any(|w| w.case.name == m.case.name && w.differs.is_none())
    });
    let now_agree: Vec<&str> = written
        .iter()
        .filter(|w| w.differs.is_some() && !differing.contains(&w.case.name))
        .map(|w| w.case.name.as_str())
        .collect();
    let expected = written.iter().filter(|w| w.differs.is_some()).count();
    eprintln!(
        "{} written cases, {} differ as known ({}), nunjucks 3.2.4 differs from Backstage's engine on {}",
        tally.cases,
        expected - now_agree.len(),
        written
            .iter()
            .filter_map(|w| w.differs.as_deref())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
            .join(", "),
        tally.references_differ
    );
    assert!(
        unexpected.is_empty(),
        "{} of {} cases render differently from Backstage:\n{}",
        unexpected.len(),
        tally.cases,
        report(&unexpected, 50)
    );
    assert!(
        now_agree.is_empty(),
        "these cases are listed as differing but now render as Backstage renders them; \
         remove their `differs`: {now_agree:?}"
    );
}

#[test]
fn generated_cases_render_as_backstage_renders_them() {
    let count: usize = std::env::var("GOLDPATH_NUNJUCKS_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let seed: u64 = std::env::var("GOLDPATH_NUNJUCKS_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
        });
    let reference = Reference::install();
    let mut tally = Tally::default();
    // Generated a batch at a time, so a million cases never sit in memory.
    let mut generator = generate::Generator::new(seed);
    let mut done = 0;
    while done < count {
        let n = BATCH.min(count - done);
        let cases: Vec<Case> = (0..n).map(|_| generator.case()).collect();
        let part = run(&reference, &cases);
        tally.cases += part.cases;
        tally.differ += part.differ;
        tally.references_differ += part.references_differ;
        let room = 100usize.saturating_sub(tally.mismatches.len());
        tally.mismatches.extend(part.mismatches.into_iter().take(room));
        done += n;
    }
    eprintln!(
        "seed {seed}: {} generated cases, {} differ from Backstage's engine; nunjucks 3.2.4 differs from it on {}; \
         left out of generation as known differences: {}",
        tally.cases,
        tally.differ,
        tally.references_differ,
        generate::LEFT_OUT.join("; ")
    );
    assert!(
        tally.differ == 0,
        "seed {seed} (GOLDPATH_NUNJUCKS_SEED={seed} repeats it): {} of {} generated cases render differently \
         from Backstage:\n{}",
        tally.differ,
        tally.cases,
        report(&tally.mismatches, 40)
    );
}
