//! Backstage's catalog routes (`/api/catalog/...`), read from the
//! controllers' stores: every CatalogEntity as its Backstage entity, and
//! every Template as a `kind: Template` entity, as Backstage's catalog holds
//! templates. A caller sees an entity only where a SubjectAccessReview lets
//! them `list` (`get` for one by name) its resource, CatalogEntities or
//! Templates, in its namespace; each namespace is asked once per call. As
//! Backstage's permission framework answers, what a caller may not read is
//! left out of lists and is not found by name (`404`, as if absent), and
//! only the ancestry of such an entity is refused (`403`). What a query
//! returns is decided by `catalog::query`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use super::params::Params;
use super::{Call, Portal, reply::Reply};
use crate::api::{EntityRef, GROUP, Template};
use crate::catalog::cached::CachedEntity;
use crate::catalog::query::{self, Cursor, Facets, Filter, Flat, FullText, Order};
use crate::tenancy::review::Permission;

/// The most references one `by-refs` call may name.
pub const MAX_REFS: usize = 1000;

/// One entity of the catalog, made into its Backstage entity.
struct Entry {
    /// The Backstage entity.
    entity: Value,
    /// Its searchable values.
    flat: Flat,
    /// `kind:namespace/name`.
    reference: String,
}

/// One object the catalog routes read, made into its Backstage entity only
/// when looked at: a query goes through the catalog one entity at a time
/// and keeps what it answers with, not the catalog (at 100,000 entities,
/// every entity made at once would be most of a gigabyte per call).
enum Object {
    Entity(Arc<CachedEntity>),
    Template(Arc<Template>),
}

impl Object {
    /// `catalogentities` or `templates`.
    fn resource(&self) -> &'static str {
        match self {
            Object::Entity(_) => "catalogentities",
            Object::Template(_) => "templates",
        }
    }

    /// Its Kubernetes UID.
    fn uid(&self) -> Option<&str> {
        match self {
            Object::Entity(entity) => entity.uid(),
            Object::Template(template) => template.metadata.uid.as_deref(),
        }
    }

    /// Its Kubernetes namespace, which is its Backstage namespace.
    fn namespace(&self) -> &str {
        match self {
            Object::Entity(entity) => entity.namespace(),
            Object::Template(template) => template.metadata.namespace.as_deref().unwrap_or_default(),
        }
    }

    /// Its name.
    fn name(&self) -> &str {
        match self {
            Object::Entity(entity) => entity.name(),
            Object::Template(template) => template.metadata.name.as_deref().unwrap_or_default(),
        }
    }

    /// Its reference as [`Entry::reference`] has it, lowercase, without
    /// making the entity.
    fn reference(&self) -> String {
        let kind = match self {
            Object::Entity(entity) => serde_json::to_value(entity.kind())
                .ok()
                .and_then(|kind| kind.as_str().map(str::to_string))
                .unwrap_or_default(),
            Object::Template(_) => "template".into(),
        };
        let namespace = match self.namespace() {
            "" => "default",
            namespace => namespace,
        };
        format!("{kind}:{namespace}/{}", self.name()).to_lowercase()
    }

    /// The Backstage entity, with its namespace and uid; `None` for a
    /// Template that does not read as one.
    fn entry(&self) -> Option<Entry> {
        let mut entity = match self {
            Object::Entity(entity) => entity.to_backstage(),
            Object::Template(template) => template.to_backstage().ok()?,
        };
        if let Some(metadata) = entity.get_mut("metadata").and_then(Value::as_object_mut) {
            metadata.insert("namespace".into(), json!(self.namespace()));
            if let Some(uid) = self.uid() {
                metadata.insert("uid".into(), json!(uid));
            }
        }
        Some(Entry {
            flat: query::flatten(&entity),
            reference: query::entity_ref(&entity),
            entity,
        })
    }
}

/// Every object the portal serves, CatalogEntities first.
fn objects(portal: &Portal) -> Vec<Object> {
    let entities = portal.source.entities().into_iter().map(Object::Entity);
    let templates = portal.source.templates().into_iter().map(Object::Template);
    entities.chain(templates).collect()
}

/// A match as a query keeps it until it is answered: where it is, its
/// reference, and the values it is sorted by.
struct Kept {
    at: usize,
    reference: String,
    keys: Flat,
}

/// The objects whose entity `matches`, each kept with only its first value
/// of each of `orders`' fields.
fn matching(objects: &[Object], matches: impl Fn(&Flat) -> bool, orders: &[Order]) -> Vec<Kept> {
    let mut kept = Vec::new();
    for (at, object) in objects.iter().enumerate() {
        let Some(entry) = object.entry() else {
            continue;
        };
        if !matches(&entry.flat) {
            continue;
        }
        let keys = orders
            .iter()
            .filter_map(|order| entry.flat.get_key_value(&order.field))
            .map(|(field, values)| (field.clone(), values.iter().take(1).cloned().collect()))
            .collect();
        kept.push(Kept {
            at,
            reference: entry.reference,
            keys,
        });
    }
    kept
}

/// The entities of `page`, with only `fields`, made again from their objects.
fn answer<'a>(objects: &[Object], page: impl Iterator<Item = &'a Kept>, fields: &[String]) -> Vec<Value> {
    page.filter_map(|kept| objects[kept.at].entry())
        .map(|entry| query::select(&entry.entity, fields))
        .collect()
}

/// The resource an entity of `kind` is made from.
fn resource_of(kind: &str) -> &'static str {
    if kind.eq_ignore_ascii_case("template") {
        "templates"
    } else {
        "catalogentities"
    }
}

/// Answers a call of `/api/catalog/...`.
pub async fn route(portal: &Portal, call: &Call<'_>) -> Reply {
    let segments = call.segments();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let params = Params::of(call.query);
    let answer = match (call.method, segments.as_slice()) {
        (&Method::GET, ["entities"]) => entities(portal, call, &params).await,
        (&Method::GET, ["entities", "by-query"]) => by_query(portal, call, &params).await,
        (&Method::GET, ["entities", "by-name", kind, namespace, name]) => {
            by_name(portal, call, kind, namespace, name)
                .await
                .map(|e| Reply::ok(e.entity))
        }
        (&Method::GET, ["entities", "by-name", kind, namespace, name, "ancestry"]) => {
            ancestry(portal, call, kind, namespace, name).await
        }
        (&Method::GET, ["entities", "by-uid", uid]) => by_uid(portal, call, uid).await,
        (&Method::POST, ["entities", "by-refs"]) => by_refs(portal, call, &params).await,
        (&Method::GET, ["entity-facets"]) => facets(portal, call, &params).await,
        (&Method::POST, ["validate-entity"]) => validate_entity(call),
        _ => Err(Reply::not_found(format!(
            "goldpath does not serve {} /api/catalog{}; it serves GET /entities, /entities/by-query, \
             /entities/by-name/..., /entities/by-uid/..., /entity-facets, POST /entities/by-refs and \
             /validate-entity",
            call.method, call.path
        ))),
    };
    answer.unwrap_or_else(|refused| refused)
}

/// The objects `call`'s caller may `list`; each namespace of each resource
/// is asked once.
async fn readable(portal: &Portal, call: &Call<'_>) -> Result<Vec<Object>, Reply> {
    let mut answers: HashMap<(&'static str, String), bool> = HashMap::new();
    let mut readable = Vec::new();
    for object in objects(portal) {
        let key = (object.resource(), object.namespace().to_string());
        let allowed = match answers.get(&key) {
            Some(answer) => *answer,
            None => {
                let permission = Permission {
                    verb: "list",
                    group: GROUP,
                    resource: object.resource(),
                    namespace: object.namespace(),
                    name: None,
                };
                let answer = portal.allowed(call.caller, &permission).await?;
                answers.insert(key, answer);
                answer
            }
        };
        if allowed {
            readable.push(object);
        }
    }
    Ok(readable)
}

fn input<T>(result: Result<T, String>) -> Result<T, Reply> {
    result.map_err(Reply::bad_request)
}

/// `GET /entities`: `filter`, `fields`, `order`, `offset`, `limit` and
/// `after` (a cursor of `by-query`); every match without `limit`.
async fn entities(portal: &Portal, call: &Call<'_>, params: &Params) -> Result<Reply, Reply> {
    let filter = input(Filter::parse(&params.all("filter")))?;
    let fields = input(query::paths("fields", &params.all("fields")))?;
    let orders = params
        .all("order")
        .iter()
        .flat_map(|o| o.split(','))
        .map(Order::parse_order)
        .collect::<Result<Vec<_>, _>>();
    let orders = input(orders)?;
    let mut offset = input(query::offset(params.one("offset")))?;
    if let Some(after) = params.one("after") {
        offset = input(Cursor::decode(after))?.offset;
    }
    let limit = input(query::limit(params.one("limit"), usize::MAX))?;
    let objects = readable(portal, call).await?;
    let mut found = matching(&objects, |flat| filter.matches(flat), &orders);
    query::sort(&mut found, &orders, |kept| (&kept.keys, &kept.reference));
    let items = answer(&objects, found.iter().skip(offset).take(limit), &fields);
    Ok(Reply::ok(Value::Array(items)))
}

/// `GET /entities/by-query`: a page of matches with the total and the
/// cursors around it; a `cursor` alone continues the query it came from.
async fn by_query(portal: &Portal, call: &Call<'_>, params: &Params) -> Result<Reply, Reply> {
    let fields = input(query::paths("fields", &params.all("fields")))?;
    let limit = input(query::limit(params.one("limit"), query::DEFAULT_LIMIT))?;
    let cursor = match params.one("cursor") {
        Some(cursor) => input(Cursor::decode(cursor))?,
        None => {
            let order = params
                .all("orderField")
                .iter()
                .map(|o| Order::parse_order_field(o))
                .collect::<Result<Vec<_>, _>>();
            let term = params.one("fullTextFilterTerm").unwrap_or_default();
            let full_text = (!term.trim().is_empty()).then(|| FullText {
                term: term.to_string(),
                fields: params
                    .all("fullTextFilterFields")
                    .iter()
                    .flat_map(|f| f.split(','))
                    .map(|f| f.trim().to_lowercase())
                    .filter(|f| !f.is_empty())
                    .collect(),
            });
            Cursor {
                filter: params.all("filter").iter().map(|f| f.to_string()).collect(),
                order: input(order)?,
                full_text,
                offset: input(query::offset(params.one("offset")))?,
            }
        }
    };
    let filter = input(Filter::parse(&cursor.filter))?;
    let objects = readable(portal, call).await?;
    let matches =
        |flat: &Flat| filter.matches(flat) && cursor.full_text.as_ref().is_none_or(|text| text.matches(flat));
    let mut found = matching(&objects, matches, &cursor.order);
    query::sort(&mut found, &cursor.order, |kept| (&kept.keys, &kept.reference));
    let total = found.len();
    let items = answer(&objects, found.iter().skip(cursor.offset).take(limit), &fields);
    Ok(Reply::ok(json!({
        "items": items,
        "totalItems": total,
        "pageInfo": query::page_info(&cursor, limit, total),
    })))
}

/// The review that lets a caller read the entity `kind:namespace/name`.
fn get_permission<'a>(kind: &str, namespace: &'a str, name: &'a str) -> Permission<'a> {
    Permission {
        verb: "get",
        group: GROUP,
        resource: resource_of(kind),
        namespace,
        name: Some(name),
    }
}

/// `GET /entities/by-name/{kind}/{namespace}/{name}`: kind, namespace and
/// name compared without case, as Backstage compares references. An entity
/// the caller may not `get` is not found, with the words of one that is
/// absent, as Backstage answers: whether it exists is not told.
async fn by_name(
    portal: &Portal,
    call: &Call<'_>,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Result<Entry, Reply> {
    let absent = || Reply::not_found(format!("no entity named {kind}:{namespace}/{name}"));
    if !portal
        .allowed(call.caller, &get_permission(kind, namespace, name))
        .await?
    {
        return Err(absent());
    }
    let resource = resource_of(kind);
    let wanted = format!("{kind}:{namespace}/{name}").to_lowercase();
    objects(portal)
        .iter()
        .find(|object| object.resource() == resource && object.reference() == wanted)
        .and_then(Object::entry)
        .ok_or_else(absent)
}

/// `GET /entities/by-name/.../ancestry`: the entity and the entities it was
/// made from. A goldpath entity is a resource of its own, not read from a
/// location, so its ancestry is itself. Refused (`403`) to a caller who may
/// not read it, as Backstage refuses.
async fn ancestry(
    portal: &Portal,
    call: &Call<'_>,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Result<Reply, Reply> {
    portal
        .require(call.caller, &get_permission(kind, namespace, name))
        .await?;
    let entry = by_name(portal, call, kind, namespace, name).await?;
    Ok(Reply::ok(json!({
        "rootEntityRef": entry.reference,
        "items": [{"entity": entry.entity, "parentEntityRefs": []}],
    })))
}

/// `GET /entities/by-uid/{uid}`: the object's Kubernetes UID.
async fn by_uid(portal: &Portal, call: &Call<'_>, uid: &str) -> Result<Reply, Reply> {
    readable(portal, call)
        .await?
        .iter()
        .find(|object| object.uid() == Some(uid))
        .and_then(Object::entry)
        .map(|e| Reply::ok(e.entity))
        .ok_or_else(|| Reply::not_found(format!("no entity with uid {uid}")))
}

/// `POST /entities/by-refs`: the entities the body's `entityRefs` name, in
/// its order, `null` for one that does not exist, is not readable or does
/// not match `filter`.
async fn by_refs(portal: &Portal, call: &Call<'_>, params: &Params) -> Result<Reply, Reply> {
    let body: Value = serde_json::from_slice(&call.body)
        .map_err(|e| Reply::bad_request(format!("the body is not JSON: {e}")))?;
    let refs = body
        .get("entityRefs")
        .and_then(Value::as_array)
        .ok_or_else(|| Reply::bad_request("the body has no entityRefs list"))?;
    if refs.len() > MAX_REFS {
        return Err(Reply::bad_request(format!(
            "entityRefs: more than {MAX_REFS} references"
        )));
    }
    let fields: Vec<String> = match body.get("fields") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(fields)) => fields
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(_) => return Err(Reply::bad_request("fields is not a list of strings")),
    };
    let fields = input(query::paths("fields", &fields))?;
    let filter = input(Filter::parse(&params.all("filter")))?;
    let mut wanted = Vec::with_capacity(refs.len());
    for reference in refs {
        let text = reference
            .as_str()
            .ok_or_else(|| Reply::bad_request("entityRefs holds something that is not a string"))?;
        let parsed = input(EntityRef::parse(text, None, None))?;
        wanted.push(parsed.to_string().to_lowercase());
    }
    let named: HashSet<&str> = wanted.iter().map(String::as_str).collect();
    let mut by_ref: HashMap<String, Entry> = HashMap::new();
    for object in readable(portal, call).await? {
        let reference = object.reference();
        if !named.contains(reference.as_str()) {
            continue;
        }
        if let Some(entry) = object.entry().filter(|e| filter.matches(&e.flat)) {
            by_ref.insert(reference, entry);
        }
    }
    let items: Vec<Value> = wanted
        .iter()
        .map(|reference| {
            by_ref
                .get(reference)
                .map_or(Value::Null, |e| query::select(&e.entity, &fields))
        })
        .collect();
    Ok(Reply::ok(json!({ "items": items })))
}

/// `GET /entity-facets`: for each `facet`, the values the readable
/// entities matching `filter` have and how many have each.
async fn facets(portal: &Portal, call: &Call<'_>, params: &Params) -> Result<Reply, Reply> {
    let facets = input(query::paths("facet", &params.all("facet")))?;
    if facets.is_empty() {
        return Err(Reply::bad_request("name at least one facet, e.g. ?facet=kind"));
    }
    let filter = input(Filter::parse(&params.all("filter")))?;
    let mut counted = Facets::new(&facets);
    for object in readable(portal, call).await? {
        if let Some(entry) = object.entry().filter(|e| filter.matches(&e.flat)) {
            counted.add(&entry.flat);
        }
    }
    Ok(Reply::ok(counted.into_value()))
}

/// `POST /validate-entity`: goldpath's own validation of the body's
/// `entity`, as a CatalogEntity (or, for `kind: Template`, as a Template
/// would read it): `200` when valid, `400` with every problem otherwise.
fn validate_entity(call: &Call<'_>) -> Result<Reply, Reply> {
    let body: Value = serde_json::from_slice(&call.body)
        .map_err(|e| Reply::bad_request(format!("the body is not JSON: {e}")))?;
    if !body.get("location").is_some_and(Value::is_string) {
        return Err(Reply::bad_request("the body has no location (a string)"));
    }
    let entity = body
        .get("entity")
        .filter(|e| e.is_object())
        .ok_or_else(|| Reply::bad_request("the body has no entity (an object)"))?;
    let namespace = entity
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let problems: Vec<(String, String)> = if entity.get("kind").and_then(Value::as_str) == Some("Template") {
        match Template::from_backstage(entity.clone()) {
            Ok(_) => Vec::new(),
            Err(error) => vec![("TypeError".into(), format!("the Template does not read: {error}"))],
        }
    } else {
        match crate::catalog::backstage::from_backstage(entity, namespace) {
            Ok(read) => crate::catalog::validation::validate(&read)
                .into_iter()
                .map(|p| ("InputError".to_string(), p.to_string()))
                .collect(),
            Err(error) => vec![("InputError".into(), error)],
        }
    };
    if problems.is_empty() {
        return Ok(Reply::empty(StatusCode::OK));
    }
    let errors: Vec<Value> = problems
        .into_iter()
        .map(|(name, message)| json!({"name": name, "message": message}))
        .collect();
    Ok(Reply::with_status(
        StatusCode::BAD_REQUEST,
        json!({ "errors": errors }),
    ))
}
