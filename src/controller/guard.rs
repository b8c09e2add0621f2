//! Watches that one unreadable object cannot stop.
//!
//! The API server accepts objects goldpath cannot decode: a value nested
//! deeper than serde_json's recursion limit in a ScaffoldRequest's
//! `parameters`, a Template's step input or a CatalogEntity's extra fields.
//! Decoded as part of a list or watch, such an object fails the whole list,
//! and with it every object of that kind in every namespace. Here each
//! object of a list or watch is taken as raw JSON (serde_json skips a raw
//! value without recursion, so no depth fails the list) and decoded on its
//! own, within [`MAX_DEPTH`] and [`MAX_BYTES`]. An object that does not
//! decode becomes a [`Guarded`] error carrying its metadata: the watch goes
//! on without it, and [`Reporter`] says so on the object itself, once per
//! generation, with a `Stalled` condition and a Warning Event. The catalog
//! reads the objects it rolls up (other controllers' kinds) the same way and
//! rolls one it cannot read up as `Unknown`. [`listing`] sees that every
//! watch's initial list finishes.

pub(super) mod listing;

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, PoisonError};

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::events::EventType;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::json;
use serde_json::value::RawValue;
use tracing::warn;

use super::{Leadership, publish_event};
use crate::api::conditions::{ConditionType, State, set_state};
use crate::api::{CatalogEntity, Condition, ScaffoldRequest, Template};

/// How deeply an object's JSON may nest, counting the object itself as the
/// first level. Deeper objects are refused: everything goldpath does with a
/// value (validation, templating, status) walks it recursively.
pub const MAX_DEPTH: usize = 64;

/// How large an object's JSON may be. The API server's own limit (etcd's
/// 1.5 MiB by default) is lower; this holds where that one was raised.
pub const MAX_BYTES: usize = 3 * 1024 * 1024;

/// How long a message about an object may be.
const MAX_PROBLEM: usize = 500;

/// Why an object cannot be used, with the metadata that identifies it.
#[derive(Clone, Debug)]
pub struct Undecodable {
    /// The object's metadata (name, namespace, uid, generation).
    pub metadata: ObjectMeta,
    /// What is wrong, naming the field where that is known.
    pub problem: String,
    /// The object's status conditions, as far as they could be read.
    pub conditions: Vec<Condition>,
}

/// An object of a list or watch: decoded, or why it could not be.
#[derive(Clone, Debug)]
pub struct Guarded<K>(pub Result<K, Undecodable>);

impl<'de, K: DeserializeOwned> Deserialize<'de> for Guarded<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        decode(raw.get()).map(Guarded).map_err(serde::de::Error::custom)
    }
}

impl<K: Resource> Resource for Guarded<K> {
    type DynamicType = K::DynamicType;
    type Scope = K::Scope;

    fn kind(dynamic: &Self::DynamicType) -> Cow<'_, str> {
        K::kind(dynamic)
    }

    fn group(dynamic: &Self::DynamicType) -> Cow<'_, str> {
        K::group(dynamic)
    }

    fn version(dynamic: &Self::DynamicType) -> Cow<'_, str> {
        K::version(dynamic)
    }

    fn plural(dynamic: &Self::DynamicType) -> Cow<'_, str> {
        K::plural(dynamic)
    }

    fn meta(&self) -> &ObjectMeta {
        match &self.0 {
            Ok(object) => object.meta(),
            Err(undecodable) => &undecodable.metadata,
        }
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        match &mut self.0 {
            Ok(object) => object.meta_mut(),
            Err(undecodable) => &mut undecodable.metadata,
        }
    }
}

/// What can be read of any object: its metadata (without `managedFields`,
/// which mirror the object's own nesting) and its conditions.
#[derive(Deserialize)]
struct Head {
    #[serde(default)]
    metadata: MetadataHead,
    #[serde(default)]
    status: Option<StatusHead>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetadataHead {
    name: Option<String>,
    namespace: Option<String>,
    uid: Option<String>,
    generation: Option<i64>,
    resource_version: Option<String>,
    labels: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Deserialize)]
struct StatusHead {
    #[serde(default, deserialize_with = "lenient")]
    conditions: Vec<Condition>,
}

/// Conditions that do not decode are treated as none.
fn lenient<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Condition>, D::Error> {
    let raw = Box::<RawValue>::deserialize(deserializer)?;
    Ok(serde_json::from_str(raw.get()).unwrap_or_default())
}

/// Decodes one object. `Err` only when not even its metadata can be read:
/// then the list or watch fails as it would have anyway.
fn decode<K: DeserializeOwned>(json: &str) -> Result<Result<K, Undecodable>, serde_json::Error> {
    let problem = if json.len() > MAX_BYTES {
        format!(
            "the object is {} bytes of JSON; goldpath reads objects of at most {MAX_BYTES} bytes",
            json.len()
        )
    } else if let Some(path) = too_deep(json, MAX_DEPTH) {
        format!(
            "{path} is nested more than {MAX_DEPTH} levels deep; goldpath reads objects up to {MAX_DEPTH} levels"
        )
    } else {
        match serde_json::from_str::<K>(json) {
            Ok(object) => return Ok(Ok(object)),
            // A decoder's message can quote a whole value of the object.
            Err(error) => super::truncate(format!("the object cannot be decoded: {error}"), MAX_PROBLEM),
        }
    };
    let head: Head = serde_json::from_str(json)?;
    let metadata = ObjectMeta {
        name: head.metadata.name,
        namespace: head.metadata.namespace,
        uid: head.metadata.uid,
        generation: head.metadata.generation,
        resource_version: head.metadata.resource_version,
        labels: head.metadata.labels,
        ..ObjectMeta::default()
    };
    Ok(Err(Undecodable {
        metadata,
        problem,
        conditions: head.status.map(|s| s.conditions).unwrap_or_default(),
    }))
}

/// How many levels of a too-deep path a message names.
const PATH_SHOWN: usize = 4;

/// Where `json` first nests deeper than `limit` levels, as the path down to
/// there (its first [`PATH_SHOWN`] levels, e.g. `spec.parameters.a...`);
/// `None` when it does not. A single pass over the bytes with no recursion,
/// stopping at the limit, so it costs at most one read of the text and a
/// stack of `limit` entries.
fn too_deep(json: &str, limit: usize) -> Option<String> {
    let bytes = json.as_bytes();
    // For each open container: whether it is an object, and the key (or
    // `[]`) under which the next level sits.
    let mut open: Vec<(bool, String)> = Vec::new();
    let mut expecting_key = false;
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'"' => {
                let start = index + 1;
                index += 1;
                while index < bytes.len() && bytes[index] != b'"' {
                    index += if bytes[index] == b'\\' { 2 } else { 1 };
                }
                if expecting_key
                    && open.len() <= PATH_SHOWN
                    && let Some((_, key)) = open.last_mut()
                {
                    *key = json.get(start..index.min(bytes.len())).unwrap_or("?").to_owned();
                }
                expecting_key = false;
            }
            bracket @ (b'{' | b'[') => {
                if open.len() >= limit && !in_managed_fields(&open) {
                    return Some(shown_path(&open));
                }
                let object = bracket == b'{';
                open.push((object, if object { String::new() } else { "[]".to_owned() }));
                expecting_key = object;
            }
            b'}' | b']' => {
                open.pop();
                expecting_key = false;
            }
            b',' => expecting_key = open.last().is_some_and(|(object, _)| *object),
            _ => {}
        }
        index += 1;
    }
    None
}

/// `metadata.managedFields` mirrors the object's own fields a few levels
/// further down; it is not what goldpath reads, and the fields it mirrors
/// are checked where they are.
fn in_managed_fields(open: &[(bool, String)]) -> bool {
    open.len() >= 2 && open[0].1 == "metadata" && open[1].1 == "managedFields"
}

fn shown_path(open: &[(bool, String)]) -> String {
    let mut path = String::new();
    for (object, key) in open.iter().take(PATH_SHOWN) {
        if *object && !path.is_empty() {
            path.push('.');
        }
        path.push_str(if *object { key } else { "[]" });
    }
    if open.len() > PATH_SHOWN {
        path.push_str("...");
    }
    if path.is_empty() {
        "the object".to_owned()
    } else {
        path
    }
}

/// A goldpath resource as a stand-in for an object that can no longer be
/// read: only its name matters, to take it out of stores and indexes.
pub trait Stand: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope> + Sized {
    /// The resource with `metadata` and an empty spec.
    fn stand_in(metadata: ObjectMeta) -> Self;
}

impl Stand for Template {
    fn stand_in(metadata: ObjectMeta) -> Self {
        Template {
            metadata,
            spec: Default::default(),
            status: None,
        }
    }
}

impl Stand for ScaffoldRequest {
    fn stand_in(metadata: ObjectMeta) -> Self {
        ScaffoldRequest {
            metadata,
            spec: Default::default(),
            status: None,
        }
    }
}

impl Stand for CatalogEntity {
    fn stand_in(metadata: ObjectMeta) -> Self {
        CatalogEntity {
            metadata,
            spec: Default::default(),
            status: None,
        }
    }
}

/// Reports undecodable objects on themselves, once per generation.
pub struct Reporter {
    client: Client,
    instance: String,
    leadership: Leadership,
    /// The generation reported, by uid; an entry goes when its object is
    /// deleted or readable again, so this holds at most the objects that
    /// are undecodable now.
    reported: Mutex<HashMap<String, Option<i64>>>,
}

/// The condition reason and Event reason of an undecodable object.
pub const REASON: &str = "Undecodable";

/// The field manager of the conditions written on an undecodable object. It
/// is not the controllers' own: an apply of the conditions alone by theirs
/// would remove the rest of the status they wrote (a request's steps, its
/// checkpoint), which the object needs once it is readable again.
pub const GUARD_FIELD_MANAGER: &str = "goldpath-guard";

impl Reporter {
    /// A reporter writing as `instance`; only the leader writes.
    pub fn new(client: Client, instance: String, leadership: Leadership) -> Arc<Reporter> {
        Arc::new(Reporter {
            client,
            instance,
            leadership,
            reported: Mutex::default(),
        })
    }

    fn reported(&self) -> std::sync::MutexGuard<'_, HashMap<String, Option<i64>>> {
        self.reported.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Turns a guarded watch event into one of readable objects: an
    /// undecodable object is reported and leaves the stream (as a deletion,
    /// so a store or index that held an earlier version lets it go).
    fn sort<K>(self: &Arc<Self>, event: watcher::Event<Guarded<K>>) -> Option<watcher::Event<K>>
    where
        K: Stand + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    {
        use watcher::Event;
        match event {
            Event::Init => Some(Event::Init),
            Event::InitDone => Some(Event::InitDone),
            Event::Apply(Guarded(Ok(object))) => {
                self.readable(object.meta());
                Some(Event::Apply(object))
            }
            Event::InitApply(Guarded(Ok(object))) => {
                self.readable(object.meta());
                Some(Event::InitApply(object))
            }
            Event::Apply(Guarded(Err(bad))) => {
                let stand_in = K::stand_in(bad.metadata.clone());
                self.report::<K>(bad);
                Some(Event::Delete(stand_in))
            }
            Event::InitApply(Guarded(Err(bad))) => {
                self.report::<K>(bad);
                None
            }
            Event::Delete(Guarded(object)) => {
                let object = object.unwrap_or_else(|bad| K::stand_in(bad.metadata));
                self.readable(object.meta());
                Some(Event::Delete(object))
            }
        }
    }

    fn readable(&self, metadata: &ObjectMeta) {
        if let Some(uid) = &metadata.uid {
            self.reported().remove(uid);
        }
    }

    /// Says on the object why it is skipped, unless this generation was
    /// reported already (by this process, or before it started).
    fn report<K>(self: &Arc<Self>, bad: Undecodable)
    where
        K: Stand + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    {
        let generation = bad.metadata.generation;
        let uid = bad.metadata.uid.clone().unwrap_or_default();
        let name = bad.metadata.name.clone().unwrap_or_default();
        let namespace = bad.metadata.namespace.clone().unwrap_or_default();
        let key = format!("{} {namespace}/{name}", K::kind(&()));
        if self.reported().insert(uid, generation) == Some(generation) {
            return;
        }
        let message = super::truncate(
            format!("{key} is skipped until it changes: {}", bad.problem),
            1000,
        );
        warn!(object = %key, problem = %bad.problem, "skipping an object goldpath cannot read");
        let already = bad.conditions.iter().any(|c| {
            c.type_ == ConditionType::Stalled.as_str()
                && c.reason == REASON
                && c.observed_generation == generation
                && c.message == message
        });
        if already {
            return;
        }
        let reporter = self.clone();
        tokio::spawn(async move {
            if !reporter.leadership.wait().await {
                return;
            }
            let mut conditions = bad.conditions;
            set_state(
                &mut conditions,
                State::Stalled,
                REASON,
                &message,
                generation,
                Timestamp::now(),
            );
            let api = Api::<Guarded<K>>::namespaced(reporter.client.clone(), &namespace);
            let status = json!({ "conditions": conditions });
            if let Err(error) = super::status::apply(&api, &name, GUARD_FIELD_MANAGER, &status).await {
                warn!(object = %key, %error, "could not write the status of an unreadable object");
            }
            let regarding = ObjectReference {
                api_version: Some(K::api_version(&()).into_owned()),
                kind: Some(K::kind(&()).into_owned()),
                name: Some(name),
                namespace: Some(namespace),
                uid: bad.metadata.uid,
                resource_version: bad.metadata.resource_version,
                ..ObjectReference::default()
            };
            publish_event(
                &reporter.client,
                &reporter.instance,
                regarding,
                EventType::Warning,
                REASON,
                "Read",
                message,
            )
            .await;
        });
    }
}

/// The watch events of `api`'s objects that decode; each one that does not
/// is reported by `reporter` and left out.
pub fn watch<K>(
    api: Api<Guarded<K>>,
    config: watcher::Config,
    reporter: Arc<Reporter>,
) -> impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static
where
    K: Stand + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    listing::watch(api, config)
        .default_backoff()
        .filter_map(move |event| {
            std::future::ready(match event {
                Ok(event) => reporter.sort(event).map(Ok),
                Err(error) => Some(Err(error)),
            })
        })
}

/// The objects of kind `K` goldpath watches (in `namespace`, or all), each
/// decoded on its own.
pub fn api<K>(client: &Client, namespace: Option<&str>) -> Api<Guarded<K>>
where
    K: Stand,
{
    match namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> String {
        let mut value = "1".to_owned();
        for _ in 0..levels {
            value = format!("{{\"a\":{value}}}");
        }
        value
    }

    fn request(parameters: &str) -> String {
        format!(
            r#"{{"apiVersion":"goldpath.dev/v1alpha1","kind":"ScaffoldRequest",
            "metadata":{{"name":"r","namespace":"team","uid":"u1","generation":3,"resourceVersion":"7",
              "managedFields":[{{"fieldsV1":{parameters}}}]}},
            "spec":{{"templateRef":{{"name":"t"}},"parameters":{parameters}}},
            "status":{{"conditions":[{{"type":"Ready","status":"False","reason":"Running","message":"m",
              "lastTransitionTime":"2026-01-01T00:00:00Z"}}]}}}}"#
        )
    }

    #[test]
    fn depth_is_found_without_recursion_and_names_the_path() {
        assert_eq!(too_deep(&nested(10), 11), None);
        assert_eq!(too_deep(&nested(10), 10), None);
        assert_eq!(too_deep(&nested(11), 10).as_deref(), Some("a.a.a.a..."));
        assert_eq!(
            too_deep(r#"{"s":"{{{{[[[[","b":[[1]]}"#, 2).as_deref(),
            Some("b[]")
        );
        assert_eq!(
            too_deep(r#"{"k\"{":{"x":1}, "y": {"z": {}}}"#, 2).as_deref(),
            Some("y.z")
        );
        assert_eq!(too_deep("[[]]", 1).as_deref(), Some("[]"));
        // A million levels cost one pass and a stack of `limit` entries.
        let bomb = "[".repeat(1_000_000);
        assert_eq!(too_deep(&bomb, MAX_DEPTH).as_deref(), Some("[][][][]..."));
    }

    #[test]
    fn a_list_with_one_object_nested_200_deep_decodes_the_others() {
        let list = format!(
            r#"{{"apiVersion":"v1","kind":"List","metadata":{{}},"items":[{},{}]}}"#,
            request(&nested(200)),
            request(r#"{"name":"ok"}"#).replace("\"r\"", "\"good\"")
        );
        // As kube decodes a list: the whole of it through serde_json.
        assert!(serde_json::from_str::<kube::core::ObjectList<ScaffoldRequest>>(&list).is_err());
        let decoded: kube::core::ObjectList<Guarded<ScaffoldRequest>> = serde_json::from_str(&list).unwrap();
        let bad = decoded.items[0].0.as_ref().unwrap_err();
        assert_eq!(bad.metadata.name.as_deref(), Some("r"));
        assert_eq!(bad.metadata.namespace.as_deref(), Some("team"));
        assert_eq!(bad.metadata.uid.as_deref(), Some("u1"));
        assert_eq!(bad.metadata.generation, Some(3));
        assert_eq!(
            bad.problem,
            "spec.parameters.a.a... is nested more than 64 levels deep; goldpath reads objects up to 64 levels"
        );
        assert_eq!(bad.conditions.len(), 1);
        let good = decoded.items[1].0.as_ref().unwrap();
        assert_eq!(good.metadata.name.as_deref(), Some("good"));
        assert_eq!(good.spec.parameters["name"], "ok");
    }

    #[test]
    fn watch_events_of_an_undecodable_object_decode() {
        let line = format!(r#"{{"type":"ADDED","object":{}}}"#, request(&nested(200)));
        let event: kube::core::WatchEvent<Guarded<ScaffoldRequest>> = serde_json::from_str(&line).unwrap();
        let kube::core::WatchEvent::Added(object) = event else {
            panic!("not an addition")
        };
        assert!(object.0.is_err());
        assert_eq!(object.meta().name.as_deref(), Some("r"));
    }

    #[test]
    fn objects_of_the_wrong_shape_or_size_are_refused_with_why() {
        let wrong = request("{}").replace(r#"{"name":"t"}"#, r#""t""#);
        let bad = decode::<ScaffoldRequest>(&wrong).unwrap().unwrap_err();
        assert!(
            bad.problem
                .starts_with("the object cannot be decoded: invalid type"),
            "{}",
            bad.problem
        );

        let big = request(&format!(r#"{{"x":"{}"}}"#, "y".repeat(MAX_BYTES)));
        let bad = decode::<ScaffoldRequest>(&big).unwrap().unwrap_err();
        assert!(
            bad.problem
                .contains("goldpath reads objects of at most 3145728 bytes"),
            "{}",
            bad.problem
        );

        let just_deep_enough = request(&nested(MAX_DEPTH - 2));
        assert!(decode::<ScaffoldRequest>(&just_deep_enough).unwrap().is_ok());
        let one_more = request(&nested(MAX_DEPTH - 1));
        assert!(decode::<ScaffoldRequest>(&one_more).unwrap().is_err());

        // A message quoting a large value is cut.
        let quoted = request("{}").replace(r#"{"name":"t"}"#, &format!("\"{}\"", "q".repeat(100_000)));
        let bad = decode::<ScaffoldRequest>(&quoted).unwrap().unwrap_err();
        assert!(bad.problem.len() <= MAX_PROBLEM, "{}", bad.problem.len());
        assert!(
            bad.problem
                .starts_with("the object cannot be decoded: invalid type")
        );

        // Without readable metadata the list fails as before.
        assert!(decode::<ScaffoldRequest>(r#"{"metadata":{"name":1}}"#).is_err());
    }

    #[test]
    fn the_guard_keeps_the_kind_of_what_it_guards() {
        assert_eq!(Guarded::<Template>::kind(&()), "Template");
        assert_eq!(Guarded::<CatalogEntity>::plural(&()), "catalogentities");
        let stand_in = ScaffoldRequest::stand_in(ObjectMeta {
            name: Some("x".into()),
            ..ObjectMeta::default()
        });
        assert_eq!(stand_in.metadata.name.as_deref(), Some("x"));
    }
}
