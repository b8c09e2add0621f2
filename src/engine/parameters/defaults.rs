//! Defaults filled in the way Backstage's form fills them before a request
//! is submitted: through properties, items, local `$ref`s, `allOf`,
//! `if`/`then`/`else`, and the one `oneOf`/`anyOf` branch the values are in.

use serde_json::Value;

use super::messages::escape_pointer;
use super::{Page, ruled_out};

/// Schemas nest only as deep as their authors write them, but a local `$ref`
/// can loop (`{"$ref": "#"}`); filling defaults stops following it here.
const MAX_DEFAULTS_DEPTH: usize = 64;

impl Page {
    /// Fills defaults into `value` as the subschema at `pointer` (an escaped
    /// JSON pointer into the page, `""` for the page) describes it.
    /// `discriminator` is set for the schema of `dependencies.<key>`: its
    /// `oneOf` branches are told apart by what they allow for `<key>`, as
    /// Backstage's form does.
    pub(super) fn apply_defaults(
        &self,
        pointer: &str,
        schema: &Value,
        value: &mut Value,
        discriminator: Option<&str>,
        depth: usize,
    ) {
        if depth > MAX_DEFAULTS_DEPTH {
            return;
        }
        let Value::Object(keywords) = schema else {
            return;
        };
        if let Some(Value::String(reference)) = keywords.get("$ref") {
            // Draft 7 ignores a `$ref`'s siblings; so do defaults.
            if let Some(target_pointer) = reference.strip_prefix('#')
                && let Some(target) = self.schema.pointer(target_pointer)
            {
                self.apply_defaults(target_pointer, target, value, discriminator, depth + 1);
            }
            return;
        }

        if let (Some(Value::Object(properties)), Value::Object(object)) =
            (keywords.get("properties"), &mut *value)
        {
            for (key, property) in properties {
                if !object.contains_key(key)
                    && let Some(default) = self.default_of(property)
                {
                    object.insert(key.clone(), default.clone());
                }
                if let Some(child) = object.get_mut(key) {
                    let child_pointer = format!("{pointer}/properties/{}", escape_pointer(key));
                    self.apply_defaults(&child_pointer, property, child, None, depth + 1);
                }
            }
        }
        if let Some(Value::Object(dependencies)) = keywords.get("dependencies") {
            for (key, dependency) in dependencies {
                if dependency.is_object() && value.get(key).is_some() {
                    let dependency_pointer = format!("{pointer}/dependencies/{}", escape_pointer(key));
                    self.apply_defaults(&dependency_pointer, dependency, value, Some(key), depth + 1);
                }
            }
        }
        if let Value::Array(items) = &mut *value {
            self.apply_item_defaults(pointer, keywords.get("items"), items, depth);
        }
        self.apply_combined_defaults(pointer, keywords, value, discriminator, depth);
    }

    /// Fills defaults into the items of an array, by `items` as one schema
    /// for every item or a list of one schema per position.
    fn apply_item_defaults(&self, pointer: &str, schema: Option<&Value>, items: &mut [Value], depth: usize) {
        match schema {
            Some(item_schema @ Value::Object(_)) => {
                let item_pointer = format!("{pointer}/items");
                for item in items.iter_mut() {
                    self.apply_defaults(&item_pointer, item_schema, item, None, depth + 1);
                }
            }
            Some(Value::Array(item_schemas)) => {
                for (index, (item_schema, item)) in item_schemas.iter().zip(items.iter_mut()).enumerate() {
                    let item_pointer = format!("{pointer}/items/{index}");
                    self.apply_defaults(&item_pointer, item_schema, item, None, depth + 1);
                }
            }
            _ => {}
        }
    }

    /// Fills the defaults of the subschemas that apply to `value`: every
    /// `allOf` branch, `then` or `else`, and the one `oneOf`/`anyOf` branch
    /// the values are in.
    fn apply_combined_defaults(
        &self,
        pointer: &str,
        keywords: &serde_json::Map<String, Value>,
        value: &mut Value,
        discriminator: Option<&str>,
        depth: usize,
    ) {
        if let Some(Value::Array(all)) = keywords.get("allOf") {
            for (index, branch) in all.iter().enumerate() {
                let branch_pointer = format!("{pointer}/allOf/{index}");
                self.apply_defaults(&branch_pointer, branch, value, None, depth + 1);
            }
        }
        if keywords.contains_key("if") {
            let branch = if self.matches(&format!("{pointer}/if"), value) {
                "then"
            } else {
                "else"
            };
            if let Some(branch_schema) = keywords.get(branch) {
                let branch_pointer = format!("{pointer}/{branch}");
                self.apply_defaults(&branch_pointer, branch_schema, value, None, depth + 1);
            }
        }
        for (keyword, exactly_one) in [("oneOf", true), ("anyOf", false)] {
            if let Some(Value::Array(branches)) = keywords.get(keyword) {
                let branches_pointer = format!("{pointer}/{keyword}");
                self.apply_branch_defaults(
                    &branches_pointer,
                    branches,
                    value,
                    exactly_one,
                    discriminator,
                    depth,
                );
            }
        }
    }

    /// Fills the defaults of the one `oneOf`/`anyOf` branch the values are
    /// in. A branch is in if the values pass it once its defaults are filled
    /// (a branch's own default may be what satisfies its `required`); when
    /// none passes, the branch the user picked is the one whose
    /// discriminating value still fits, so its other defaults are kept and
    /// only the real problem is reported.
    fn apply_branch_defaults(
        &self,
        pointer: &str,
        branches: &[Value],
        value: &mut Value,
        exactly_one: bool,
        discriminator: Option<&str>,
        depth: usize,
    ) {
        let trials: Vec<(String, Value)> = branches
            .iter()
            .enumerate()
            .map(|(index, branch)| {
                let branch_pointer = format!("{pointer}/{index}");
                let mut trial = value.clone();
                self.apply_defaults(&branch_pointer, branch, &mut trial, None, depth + 1);
                (branch_pointer, trial)
            })
            .collect();
        let passing: Vec<usize> = trials
            .iter()
            .enumerate()
            .filter(|(_, (branch_pointer, trial))| self.matches(branch_pointer, trial))
            .map(|(index, _)| index)
            .collect();
        let chosen = match (passing.as_slice(), exactly_one) {
            ([only], _) => Some(*only),
            ([first, ..], false) => Some(*first),
            ([], _) => {
                let picked: Vec<usize> = trials
                    .iter()
                    .enumerate()
                    .filter(|(_, (branch_pointer, trial))| {
                        self.subschemas
                            .get(&format!("#{branch_pointer}"))
                            .is_some_and(|validator| {
                                let errors: Vec<_> = validator.iter_errors(trial).collect();
                                !ruled_out(&errors, "", discriminator)
                            })
                    })
                    .map(|(index, _)| index)
                    .collect();
                match picked.as_slice() {
                    [only] => Some(*only),
                    _ => None,
                }
            }
            _ => None,
        };
        if let Some((_, trial)) = chosen.and_then(|index| trials.into_iter().nth(index)) {
            *value = trial;
        }
    }

    /// Whether `value` passes the subschema at `pointer`.
    fn matches(&self, pointer: &str, value: &Value) -> bool {
        self.subschemas
            .get(&format!("#{pointer}"))
            .is_some_and(|validator| validator.is_valid(value))
    }

    /// A property's `default`, looking through a local `$ref` once since
    /// shared definitions often carry the default.
    fn default_of<'a>(&'a self, property: &'a Value) -> Option<&'a Value> {
        if let Some(Value::String(reference)) = property.get("$ref") {
            return reference
                .strip_prefix('#')
                .and_then(|target| self.schema.pointer(target))
                .and_then(|target| target.get("default"));
        }
        property.get("default")
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use serde_json::json;

    use super::super::tests::{database_dependencies, expected, invalid, schema, valid};

    #[test]
    fn defaults_fill_absent_properties_and_satisfy_required() {
        let schema = schema(json!({
            "required": ["region", "replicas"],
            "properties": {
                "region": {"type": "string", "default": "us-west-2"},
                "replicas": {"type": "integer", "minimum": 1, "default": 2},
                "name": {"type": "string"}
            }
        }));
        assert_eq!(
            valid(&schema, json!({})),
            json!({"region": "us-west-2", "replicas": 2})
        );
        // Given values win over defaults, and are still validated.
        assert_eq!(
            valid(&schema, json!({"region": "eu-west-1"})),
            json!({"region": "eu-west-1", "replicas": 2})
        );
        assert_eq!(
            invalid(&schema, json!({"replicas": 0})),
            expected(&[("replicas", "minimum", "must be at least 1")])
        );
    }

    #[test]
    fn nested_defaults() {
        let schema = schema(json!({
            "properties": {
                "deploy": {
                    "type": "object",
                    "required": ["namespace"],
                    "properties": {
                        "namespace": {"type": "string", "default": "team-a"},
                        "limits": {
                            "type": "object",
                            "properties": {"cpu": {"type": "string", "default": "500m"}}
                        }
                    }
                },
                "monitoring": {
                    "type": "object",
                    "default": {"enabled": true},
                    "properties": {
                        "enabled": {"type": "boolean"},
                        "interval": {"type": "string", "default": "30s"}
                    }
                },
                "optional": {
                    "type": "object",
                    "properties": {"x": {"type": "string", "default": "y"}}
                }
            }
        }));
        // A present object gets its defaults; an absent object appears only
        // if it has a default itself, and then gets its own defaults too.
        assert_eq!(
            valid(&schema, json!({"deploy": {}})),
            json!({
                "deploy": {"namespace": "team-a"},
                "monitoring": {"enabled": true, "interval": "30s"}
            })
        );
        assert_eq!(
            valid(
                &schema,
                json!({"deploy": {"limits": {}}, "monitoring": {"enabled": false}})
            ),
            json!({
                "deploy": {"namespace": "team-a", "limits": {"cpu": "500m"}},
                "monitoring": {"enabled": false, "interval": "30s"}
            })
        );
    }

    #[test]
    fn defaults_in_array_items() {
        let schema = schema(json!({
            "properties": {
                "ports": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["number", "protocol"],
                        "properties": {
                            "number": {"type": "integer"},
                            "protocol": {"type": "string", "default": "TCP"}
                        }
                    }
                }
            }
        }));
        assert_eq!(
            valid(
                &schema,
                json!({"ports": [{"number": 80}, {"number": 53, "protocol": "UDP"}]})
            ),
            json!({"ports": [
                {"number": 80, "protocol": "TCP"},
                {"number": 53, "protocol": "UDP"}
            ]})
        );
    }

    #[test]
    fn defaults_through_a_local_ref() {
        let schema = schema(json!({
            "definitions": {"region": {"type": "string", "default": "us-west-2", "minLength": 2}},
            "properties": {"region": {"$ref": "#/definitions/region"}}
        }));
        assert_eq!(valid(&schema, json!({})), json!({"region": "us-west-2"}));
        assert_eq!(
            invalid(&schema, json!({"region": "x"})),
            expected(&[("region", "minLength", "must be at least 2 characters long")])
        );
    }

    #[test]
    fn defaults_from_the_chosen_dependency_branch() {
        let schema = schema(database_dependencies(Some("small")));
        assert_eq!(
            valid(&schema, json!({"database": "postgresql"})),
            json!({"database": "postgresql", "dbSize": "small"})
        );
        // The other branch's defaults stay out.
        assert_eq!(
            valid(&schema, json!({"database": "mysql"})),
            json!({"database": "mysql"})
        );
        assert_eq!(valid(&schema, json!({})), json!({"database": "none"}));
    }

    #[test]
    fn branch_defaults_are_kept_when_another_rule_of_the_branch_fails() {
        let schema = schema(json!({
            "properties": {"kind": {"enum": ["service", "library"]}},
            "dependencies": {
                "kind": {
                    "oneOf": [
                        {
                            "properties": {
                                "kind": {"const": "service"},
                                "port": {"type": "integer", "default": 8080},
                                "path": {"type": "string", "pattern": "^/"}
                            },
                            "required": ["port", "path"]
                        },
                        {"properties": {"kind": {"const": "library"}}}
                    ]
                }
            }
        }));
        assert_eq!(
            invalid(&schema, json!({"kind": "service", "path": "api"})),
            expected(&[(
                "path",
                "pattern",
                "must match the pattern ^/ (for the chosen kind)"
            )])
        );
        assert_eq!(
            valid(&schema, json!({"kind": "service", "path": "/api"})),
            json!({"kind": "service", "path": "/api", "port": 8080})
        );
    }
}
