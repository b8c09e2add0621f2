//! Backstage's catalog queries, over entities in Backstage's format: the
//! `filter` syntax, `fields` selection, ordering (`order` and
//! `orderField`), full-text filtering, offset and cursor paging, and facets,
//! as Backstage's catalog-backend answers them. Pure: the portal API reads
//! the entities and the caller's rights, this decides what of them a query
//! returns.
//!
//! Matching works on an entity's flattened values ([`flatten`]), as
//! Backstage's search table holds them: each dotted path of a value
//! (`metadata.name`, `spec.owner`, `metadata.tags`,
//! `metadata.annotations.backstage.io/techdocs-ref`), and `relations.<type>`
//! for each relation's target; keys and values compare without case.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The most conditions, over all `filter` parameters, one query may hold.
pub const MAX_CONDITIONS: usize = 256;
/// The most `fields`, `order` and `facet` values one query may hold.
pub const MAX_PATHS: usize = 64;
/// The longest cursor read.
pub const MAX_CURSOR: usize = 16 * 1024;
/// The deepest an entity is flattened; deeper values are not searchable.
pub const MAX_DEPTH: usize = 32;
/// The most entities one page holds; a larger `limit` is lowered to it.
pub const MAX_LIMIT: usize = 1000;
/// The page size of `by-query` without `limit`, Backstage's.
pub const DEFAULT_LIMIT: usize = 20;

/// An entity's searchable values: each key (a dotted path, lowercase) with
/// the values at it, as written.
pub type Flat = BTreeMap<String, Vec<String>>;

/// The searchable values of `entity`.
pub fn flatten(entity: &Value) -> Flat {
    let mut flat = Flat::new();
    if let Some(object) = entity.as_object() {
        for (key, value) in object {
            if key != "relations" {
                walk(&key.to_lowercase(), value, &mut flat, 1);
            }
        }
    }
    for relation in entity
        .get("relations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let (Some(kind), Some(target)) = (
            relation.get("type").and_then(Value::as_str),
            relation.get("targetRef").and_then(Value::as_str),
        ) {
            flat.entry(format!("relations.{}", kind.to_lowercase()))
                .or_default()
                .push(target.to_string());
        }
    }
    flat
}

fn walk(key: &str, value: &Value, flat: &mut Flat, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match value {
        Value::Null => {}
        Value::String(text) => flat.entry(key.to_string()).or_default().push(text.clone()),
        Value::Bool(_) | Value::Number(_) => flat.entry(key.to_string()).or_default().push(value.to_string()),
        Value::Array(items) => {
            for item in items {
                walk(key, item, flat, depth + 1);
            }
        }
        Value::Object(fields) => {
            for (name, value) in fields {
                walk(&format!("{key}.{}", name.to_lowercase()), value, flat, depth + 1);
            }
        }
    }
}

/// The entity's reference, `kind:namespace/name` with the kind lowercase,
/// as Backstage's `stringifyEntityRef` writes it.
pub fn entity_ref(entity: &Value) -> String {
    let text = |pointer: &str| {
        entity
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let namespace = match text("/metadata/namespace") {
        "" => "default",
        namespace => namespace,
    };
    format!(
        "{}:{namespace}/{}",
        text("/kind").to_lowercase(),
        text("/metadata/name")
    )
}

/// A `filter`: any of its alternatives (one per `filter` parameter) holds
/// when all of that alternative's conditions hold. No alternative: every
/// entity.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    alternatives: Vec<BTreeMap<String, Option<BTreeSet<String>>>>,
}

impl Filter {
    /// Reads `filter` parameters: `key=value,key2=value2`; a key given
    /// twice in one parameter matches either value; a key without `=` asks
    /// only that the key exists.
    pub fn parse<S: AsRef<str>>(parameters: &[S]) -> Result<Filter, String> {
        let mut alternatives = Vec::new();
        let mut count = 0;
        for parameter in parameters {
            let mut conditions: BTreeMap<String, Option<BTreeSet<String>>> = BTreeMap::new();
            for part in parameter.as_ref().split(',') {
                let part = part.trim();
                if part.is_empty() {
                    continue;
                }
                count += 1;
                if count > MAX_CONDITIONS {
                    return Err(format!("filter: more than {MAX_CONDITIONS} conditions"));
                }
                let (key, value) = match part.split_once('=') {
                    Some((key, value)) => (key.trim(), Some(value.trim())),
                    None => (part, None),
                };
                if key.is_empty() {
                    return Err(format!("filter: {part:?} names no key; write key=value"));
                }
                let entry = conditions
                    .entry(key.to_lowercase())
                    .or_insert(Some(BTreeSet::new()));
                match (value, entry.as_mut()) {
                    (Some(value), Some(values)) => {
                        values.insert(value.to_lowercase());
                    }
                    (None, _) => *entry = None,
                    (Some(_), None) => {}
                }
            }
            if !conditions.is_empty() {
                alternatives.push(conditions);
            }
        }
        Ok(Filter { alternatives })
    }

    /// Whether an entity with the values `flat` matches.
    pub fn matches(&self, flat: &Flat) -> bool {
        self.alternatives.is_empty()
            || self.alternatives.iter().any(|conditions| {
                conditions
                    .iter()
                    .all(|(key, wanted)| match (flat.get(key), wanted) {
                        (None, _) => false,
                        (Some(_), None) => true,
                        (Some(values), Some(wanted)) => {
                            values.iter().any(|v| wanted.contains(&v.to_lowercase()))
                        }
                    })
            })
    }

    /// Whether the filter asks anything.
    pub fn is_empty(&self) -> bool {
        self.alternatives.is_empty()
    }
}

/// Splits comma-separated values of repeated parameters into one list,
/// refusing more than [`MAX_PATHS`].
pub fn paths<S: AsRef<str>>(name: &str, parameters: &[S]) -> Result<Vec<String>, String> {
    let all: Vec<String> = parameters
        .iter()
        .flat_map(|p| p.as_ref().split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect();
    if all.len() > MAX_PATHS {
        return Err(format!("{name}: more than {MAX_PATHS} values"));
    }
    Ok(all)
}

/// The parts of `entity` that `fields` (dotted paths) name; all of it
/// without fields.
pub fn select(entity: &Value, fields: &[String]) -> Value {
    if fields.is_empty() {
        return entity.clone();
    }
    let mut out = Value::Object(Map::new());
    for field in fields {
        let segments: Vec<&str> = field.split('.').collect();
        let Some(found) = segments
            .iter()
            .try_fold(entity, |value, segment| value.get(*segment))
        else {
            continue;
        };
        insert(&mut out, &segments, found.clone());
    }
    out
}

/// Puts `value` at the path `segments` in `out`, making the objects on
/// the way.
fn insert(out: &mut Value, segments: &[&str], value: Value) {
    let Some(object) = out.as_object_mut() else {
        return;
    };
    match segments {
        [] => {}
        [last] => {
            object.insert(last.to_string(), value);
        }
        [first, rest @ ..] => {
            let child = object
                .entry(first.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            insert(child, rest, value);
        }
    }
}

/// One sort key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// The flattened key, lowercase.
    pub field: String,
    /// Descending rather than ascending.
    pub descending: bool,
}

impl Order {
    /// `GET /entities`' `order`: `asc:metadata.name` or `desc:...`.
    pub fn parse_order(value: &str) -> Result<Order, String> {
        let (direction, field) = value
            .split_once(':')
            .ok_or_else(|| format!("order: {value:?} is not asc:<field> or desc:<field>"))?;
        Order::new(field, direction, "order", value)
    }

    /// `by-query`'s `orderField`: `metadata.name,asc` (the direction
    /// defaults to `asc`).
    pub fn parse_order_field(value: &str) -> Result<Order, String> {
        let (field, direction) = value.split_once(',').unwrap_or((value, "asc"));
        Order::new(field, direction, "orderField", value)
    }

    fn new(field: &str, direction: &str, parameter: &str, value: &str) -> Result<Order, String> {
        let descending = match direction.trim() {
            "asc" => false,
            "desc" => true,
            _ => return Err(format!("{parameter}: {value:?}: the order is asc or desc")),
        };
        let field = field.trim();
        if field.is_empty() {
            return Err(format!("{parameter}: {value:?} names no field"));
        }
        Ok(Order {
            field: field.to_lowercase(),
            descending,
        })
    }
}

/// Sorts `entries` (an entity's values and its reference first) by
/// `orders`: entities without a value last, then by reference, so a page
/// boundary is stable.
pub fn sort<T>(entries: &mut [T], orders: &[Order], key: impl Fn(&T) -> (&Flat, &str)) {
    let first = |flat: &Flat, field: &str| flat.get(field).and_then(|v| v.first()).map(|v| v.to_lowercase());
    entries.sort_by(|a, b| {
        let ((fa, ra), (fb, rb)) = (key(a), key(b));
        for order in orders {
            let ordering = match (first(fa, &order.field), first(fb, &order.field)) {
                (Some(x), Some(y)) if order.descending => y.cmp(&x),
                (Some(x), Some(y)) => x.cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            };
            if ordering.is_ne() {
                return ordering;
            }
        }
        ra.to_lowercase().cmp(&rb.to_lowercase())
    });
}

/// A full-text filter: `term` in any value of `fields` (of any key without
/// fields), without case.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FullText {
    /// What to look for.
    pub term: String,
    /// The flattened keys to look in, lowercase.
    pub fields: Vec<String>,
}

impl FullText {
    /// Whether an entity with the values `flat` holds the term.
    pub fn matches(&self, flat: &Flat) -> bool {
        let term = self.term.trim().to_lowercase();
        if term.is_empty() {
            return true;
        }
        let hit = |values: &Vec<String>| values.iter().any(|v| v.to_lowercase().contains(&term));
        if self.fields.is_empty() {
            flat.values().any(hit)
        } else {
            self.fields.iter().filter_map(|f| flat.get(f)).any(hit)
        }
    }
}

/// Where a `by-query` page starts and the query it pages through, so a
/// cursor alone continues it, as Backstage's cursors do.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// The `filter` parameters.
    #[serde(default)]
    pub filter: Vec<String>,
    /// The sort keys.
    #[serde(default)]
    pub order: Vec<Order>,
    /// The full-text filter.
    #[serde(default)]
    pub full_text: Option<FullText>,
    /// How many entities precede the page.
    pub offset: usize,
}

impl Cursor {
    /// The opaque text of the cursor.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Reads a cursor this module wrote.
    pub fn decode(text: &str) -> Result<Cursor, String> {
        let invalid = || "cursor: not a cursor this catalog gave out".to_string();
        if text.len() > MAX_CURSOR {
            return Err(format!("cursor: longer than {MAX_CURSOR} characters"));
        }
        let bytes = URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| invalid())?;
        serde_json::from_slice(&bytes).map_err(|_| invalid())
    }
}

/// A page of `by-query`: `items` of `total`, and the cursors around it.
pub fn page_info(cursor: &Cursor, limit: usize, total: usize) -> Value {
    let mut info = Map::new();
    if cursor.offset.saturating_add(limit) < total {
        let next = Cursor {
            offset: cursor.offset + limit,
            ..cursor.clone()
        };
        info.insert("nextCursor".into(), json!(next.encode()));
    }
    if cursor.offset > 0 {
        let prev = Cursor {
            offset: cursor.offset.saturating_sub(limit),
            ..cursor.clone()
        };
        info.insert("prevCursor".into(), json!(prev.encode()));
    }
    Value::Object(info)
}

/// `limit` as asked, at most [`MAX_LIMIT`]; `default` when not asked.
pub fn limit(asked: Option<&str>, default: usize) -> Result<usize, String> {
    match asked {
        None => Ok(default),
        Some(text) => text
            .trim()
            .parse::<usize>()
            .map(|n| n.min(MAX_LIMIT))
            .map_err(|_| format!("limit: {text:?} is not a whole number")),
    }
}

/// `offset` as asked, `0` when not asked.
pub fn offset(asked: Option<&str>) -> Result<usize, String> {
    asked.map_or(Ok(0), |text| {
        text.trim()
            .parse::<usize>()
            .map_err(|_| format!("offset: {text:?} is not a whole number"))
    })
}

/// The facets of entities, counted one entity at a time: for each facet
/// key, each value as written and how many entities have it, most common
/// first. Holds one count per distinct value, not the entities.
pub struct Facets {
    /// Each facet as asked, its key lowercase, and its counts.
    counts: Vec<(String, String, BTreeMap<String, u64>)>,
}

impl Facets {
    pub fn new(facets: &[String]) -> Facets {
        Facets {
            counts: facets
                .iter()
                .map(|facet| (facet.clone(), facet.to_lowercase(), BTreeMap::new()))
                .collect(),
        }
    }

    /// Counts an entity with the values `flat`.
    pub fn add(&mut self, flat: &Flat) {
        for (_, key, counts) in &mut self.counts {
            let values: BTreeSet<&str> = flat
                .get(key.as_str())
                .into_iter()
                .flatten()
                .map(String::as_str)
                .collect();
            for value in values {
                match counts.get_mut(value) {
                    Some(count) => *count += 1,
                    None => {
                        counts.insert(value.to_string(), 1);
                    }
                }
            }
        }
    }

    /// The answer of `/entity-facets`.
    pub fn into_value(self) -> Value {
        let mut out = Map::new();
        for (facet, _, counts) in self.counts {
            let mut counts: Vec<(String, u64)> = counts.into_iter().collect();
            counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            let values: Vec<Value> = counts
                .into_iter()
                .map(|(value, count)| json!({"value": value, "count": count}))
                .collect();
            out.insert(facet, Value::Array(values));
        }
        json!({ "facets": out })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web() -> Value {
        json!({
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "Component",
            "metadata": {
                "name": "web", "namespace": "team-a", "tags": ["java", "Web"],
                "annotations": {"backstage.io/techdocs-ref": "dir:."},
            },
            "spec": {"type": "service", "owner": "group:team-a", "lifecycle": "production"},
            "relations": [{"type": "ownedBy", "targetRef": "group:team-a/team-a"}],
        })
    }

    fn api() -> Value {
        json!({
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "API",
            "metadata": {"name": "orders", "namespace": "team-b", "tags": ["rest"]},
            "spec": {"type": "openapi", "owner": "team-b", "lifecycle": "experimental"},
        })
    }

    fn filter(parameters: &[&str]) -> Filter {
        Filter::parse(parameters).unwrap()
    }

    #[test]
    fn values_are_flattened_as_backstages_search_table_holds_them() {
        let flat = flatten(&web());
        assert_eq!(flat["kind"], vec!["Component"]);
        assert_eq!(flat["metadata.tags"], vec!["java", "Web"]);
        assert_eq!(
            flat["metadata.annotations.backstage.io/techdocs-ref"],
            vec!["dir:."]
        );
        assert_eq!(flat["relations.ownedby"], vec!["group:team-a/team-a"]);
        assert!(!flat.keys().any(|k| k.starts_with("relations.type")));
        let mut deep = json!("bottom");
        for _ in 0..(MAX_DEPTH * 4) {
            deep = json!({"x": deep});
        }
        let flat = flatten(&json!({"kind": "A", "spec": deep}));
        assert_eq!(flat.len(), 1, "values below the depth bound are left out");
    }

    #[test]
    fn a_filter_is_any_of_its_parameters_each_all_of_its_conditions() {
        let (web, api) = (flatten(&web()), flatten(&api()));
        assert!(filter(&["kind=component"]).matches(&web));
        assert!(!filter(&["kind=component"]).matches(&api));
        assert!(
            filter(&["kind=component,metadata.tags=web"]).matches(&web),
            "case is ignored"
        );
        assert!(!filter(&["kind=component,metadata.tags=rest"]).matches(&web));
        assert!(
            filter(&["kind=component,kind=api"]).matches(&api),
            "one key twice: either value"
        );
        assert!(
            filter(&["kind=component", "kind=api"]).matches(&api),
            "two parameters: either"
        );
        assert!(
            filter(&["metadata.annotations.backstage.io/techdocs-ref"]).matches(&web),
            "exists"
        );
        assert!(!filter(&["metadata.annotations.backstage.io/techdocs-ref"]).matches(&api));
        assert!(filter(&["relations.ownedBy=group:team-a/team-a"]).matches(&web));
        assert!(filter(&[] as &[&str]).matches(&api));
        assert!(Filter::parse(&["=x"]).is_err());
        let many = vec!["kind=a"; MAX_CONDITIONS + 1].join(",");
        assert!(Filter::parse(&[many]).unwrap_err().contains("more than"));
    }

    #[test]
    fn fields_keep_only_the_subtrees_named() {
        let fields = paths("fields", &["kind,metadata.name", "spec.owner,metadata.nothing"]).unwrap();
        assert_eq!(
            select(&web(), &fields),
            json!({"kind": "Component", "metadata": {"name": "web"}, "spec": {"owner": "group:team-a"}})
        );
        assert_eq!(select(&web(), &[]), web());
        assert!(paths("fields", &[vec!["a"; MAX_PATHS + 1].join(",")]).is_err());
    }

    #[test]
    fn entities_sort_by_their_first_value_then_by_reference() {
        let mut entries: Vec<(Flat, String)> = [
            web(),
            api(),
            json!({"kind": "Group", "metadata": {"name": "aaa"}}),
        ]
        .iter()
        .map(|e| (flatten(e), entity_ref(e)))
        .collect();
        let by = |orders: &[Order], entries: &mut Vec<(Flat, String)>| {
            sort(entries, orders, |(flat, reference)| (flat, reference));
            entries.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>()
        };
        let ascending = [Order::parse_order_field("spec.lifecycle").unwrap()];
        assert_eq!(
            by(&ascending, &mut entries),
            ["api:team-b/orders", "component:team-a/web", "group:default/aaa"],
            "no value sorts last"
        );
        let descending = [Order::parse_order("desc:metadata.name").unwrap()];
        assert_eq!(
            by(&descending, &mut entries),
            ["component:team-a/web", "api:team-b/orders", "group:default/aaa"]
        );
        assert!(Order::parse_order("up:metadata.name").is_err());
        assert!(Order::parse_order_field("metadata.name,sideways").is_err());
    }

    #[test]
    fn a_cursor_carries_its_query_and_pages_both_ways() {
        let cursor = Cursor {
            filter: vec!["kind=component".into()],
            order: vec![Order::parse_order_field("metadata.name,desc").unwrap()],
            full_text: Some(FullText {
                term: "we".into(),
                fields: vec!["metadata.name".into()],
            }),
            offset: 20,
        };
        assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), cursor);
        let info = page_info(&cursor, 20, 50);
        let next = Cursor::decode(info["nextCursor"].as_str().unwrap()).unwrap();
        assert_eq!((next.offset, &next.filter), (40, &cursor.filter));
        assert_eq!(
            Cursor::decode(info["prevCursor"].as_str().unwrap())
                .unwrap()
                .offset,
            0
        );
        let last = page_info(&next, 20, 50);
        assert!(last.get("nextCursor").is_none());
        assert!(Cursor::decode("not a cursor").is_err());
        assert!(
            Cursor::decode(&"a".repeat(MAX_CURSOR + 1))
                .unwrap_err()
                .contains("longer")
        );
        assert_eq!(limit(Some("100000"), DEFAULT_LIMIT).unwrap(), MAX_LIMIT);
        assert_eq!(limit(None, DEFAULT_LIMIT).unwrap(), DEFAULT_LIMIT);
        assert!(limit(Some("-1"), 5).is_err() && offset(Some("x")).is_err());
    }

    #[test]
    fn full_text_looks_in_the_fields_named_or_everywhere() {
        let web = flatten(&web());
        let find = |term: &str, fields: &[&str]| {
            FullText {
                term: term.into(),
                fields: fields.iter().map(|f| f.to_string()).collect(),
            }
            .matches(&web)
        };
        assert!(find("WE", &["metadata.name"]));
        assert!(!find("java", &["metadata.name"]));
        assert!(find("java", &[]));
        assert!(!find("nowhere", &[]));
    }

    #[test]
    fn facets_count_entities_per_value() {
        let entities = [
            flatten(&web()),
            flatten(&api()),
            flatten(&json!({"kind": "Component"})),
        ];
        let mut facets = Facets::new(&["kind".into(), "metadata.tags".into()]);
        entities.iter().for_each(|flat| facets.add(flat));
        let answer = facets.into_value();
        assert_eq!(
            answer["facets"]["kind"],
            json!([{"value": "Component", "count": 2}, {"value": "API", "count": 1}])
        );
        assert_eq!(answer["facets"]["metadata.tags"].as_array().unwrap().len(), 3);
    }
}
