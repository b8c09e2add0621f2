//! Parameter validation: a Template's `parameters` (one JSON Schema or a
//! list of pages) and a request's values, both any JSON.
//!
//! Invariants: no panic; a schema goldpath accepts validates any values
//! with either the values (defaults filled in) or errors that each say
//! what is wrong; values that passed pass again unchanged (filling in
//! defaults is idempotent).
#![no_main]

use goldpath::engine::parameters::ParameterSchema;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Schema and values are two JSON documents, split at the first NUL.
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let (schema, values) = data.split_at(split);
    let Ok(schema) = serde_json::from_slice::<serde_json::Value>(schema) else {
        return;
    };
    let values = serde_json::from_slice::<serde_json::Value>(values.get(1..).unwrap_or_default())
        .unwrap_or(serde_json::Value::Null);
    let schema = match ParameterSchema::new(Some(&schema)) {
        Ok(schema) => schema,
        Err(error) => {
            assert!(
                !error.message.trim().is_empty(),
                "a schema error without a message"
            );
            return;
        }
    };
    match schema.validate(&values) {
        Ok(validated) => {
            assert!(
                validated.is_object(),
                "validated parameters are not an object: {validated}"
            );
            assert_eq!(
                schema.validate(&validated).as_ref(),
                Ok(&validated),
                "validating the validated parameters again changed them"
            );
        }
        Err(errors) => {
            assert!(!errors.is_empty(), "refused without saying why");
            for error in errors {
                assert!(
                    !error.message.trim().is_empty(),
                    "an error without a message: {error:?}"
                );
            }
        }
    }
});
