//! YAML and catalog import: any text as a catalog-info.yaml file, through
//! the reader `goldpath catalog import` uses, then catalog validation and
//! export of what was imported.
//!
//! Invariants: no panic, no endless loop or growing memory on bad YAML
//! (libFuzzer's timeout and memory limits catch those); every error names a
//! document that exists; each imported entity validates without panicking
//! and survives the round trip to Backstage's format unchanged.
#![no_main]

use goldpath::catalog::cached::CachedEntity;
use goldpath::catalog::{backstage, validation};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A document per `---` or `...` marker at most, plus the first; text
    // that cannot continue a document is reported as the next one.
    let documents = text.matches("---").count() + text.matches("...").count() + 1;
    match backstage::import(text, None) {
        Ok(imported) => {
            assert!(imported.entities.len() <= documents);
            for entity in &imported.entities {
                for problem in validation::validate(entity) {
                    assert!(!problem.message.trim().is_empty(), "a problem without a message");
                }
                let namespace = entity.metadata.namespace.as_deref().unwrap_or("default");
                let again = backstage::from_backstage(&backstage::to_backstage(entity), namespace);
                assert_eq!(
                    again.as_ref(),
                    Ok(entity),
                    "the entity changed on its way through Backstage's format"
                );
            }
            // Exported as the catalog keeps them.
            let entities: Vec<_> = imported
                .entities
                .into_iter()
                .map(|entity| std::sync::Arc::new(CachedEntity::from(entity)))
                .collect();
            let mut exported = Vec::new();
            let written = backstage::export(&entities, &mut exported);
            assert!(written.is_ok(), "imported entities do not export: {written:?}");
            assert!(
                entities.is_empty() || !exported.is_empty(),
                "entities exported as nothing"
            );
        }
        Err(errors) => {
            assert!(!errors.is_empty(), "refused without saying why");
            for error in errors {
                assert!(
                    (1..=documents + 1).contains(&error.document),
                    "document {} of a text with at most {documents}: {}",
                    error.document,
                    error.message
                );
                assert!(!error.message.trim().is_empty(), "an error without a message");
            }
        }
    }
});
