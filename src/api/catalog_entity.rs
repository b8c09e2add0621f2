//! `CatalogEntity`: a Backstage catalog entity as a Kubernetes resource.
//! Backstage `metadata.name/namespace/labels/annotations` are the object's
//! own metadata; everything else of the entity is in `spec`, under
//! Backstage's field names, so export to Backstage's format loses nothing.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Condition;
use super::schema::{self, ENTITY_REF_PATTERN};

/// A catalog entity: a Component, API, Resource, System, Domain, Group or User.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[kube(
    group = "goldpath.dev",
    version = "v1alpha1",
    kind = "CatalogEntity",
    plural = "catalogentities",
    namespaced,
    shortname = "ce",
    category = "goldpath",
    status = "CatalogEntityStatus",
    derive = "PartialEq",
    doc = "A Backstage catalog entity: the object's metadata is the entity's metadata, spec holds its kind and kind-specific fields.",
    printcolumn(name = "Kind", type_ = "string", json_path = ".spec.kind"),
    printcolumn(name = "Owner", type_ = "string", json_path = ".spec.owner"),
    printcolumn(name = "Health", type_ = "string", json_path = ".status.health"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!(self.kind in ['Component', 'API', 'Resource', 'System', 'Domain']) || has(self.owner)")
        .message(Message::Expression("'spec.owner is required for a ' + self.kind + ' entity'".into()))
        .field_path(".owner")
        .reason(Reason::FieldValueRequired),
    validation = Rule::new("!(self.kind in ['Component', 'API', 'Resource', 'Group']) || has(self.type)")
        .message(Message::Expression("'spec.type is required for a ' + self.kind + ' entity'".into()))
        .field_path(".type")
        .reason(Reason::FieldValueRequired),
    validation = Rule::new("!(self.kind in ['Component', 'API']) || has(self.lifecycle)")
        .message(Message::Expression("'spec.lifecycle is required for a ' + self.kind + ' entity'".into()))
        .field_path(".lifecycle")
        .reason(Reason::FieldValueRequired),
    validation = Rule::new("self.kind != 'API' || has(self.definition)")
        .message("spec.definition is required for an API entity")
        .field_path(".definition")
        .reason(Reason::FieldValueRequired),
)]
pub struct CatalogEntitySpec {
    /// The entity's kind.
    pub kind: EntityKind,

    /// Display name (Backstage `metadata.title`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub title: Option<String>,

    /// What the entity is (Backstage `metadata.description`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,

    /// Tags (Backstage `metadata.tags`): lowercase words joined by `-`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::tags")]
    pub tags: Vec<String>,

    /// Links shown on the entity's page (Backstage `metadata.links`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub links: Vec<EntityLink>,

    /// The entity's type within its kind, e.g. `service` or `website` for a
    /// Component, `openapi` for an API, `s3-bucket` for a Resource, `team` for a Group.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub type_: Option<String>,

    /// Lifecycle stage of a Component or API, e.g. `experimental`, `production`, `deprecated`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub lifecycle: Option<String>,

    /// The group or user that owns the entity, as an entity reference
    /// (`[kind:][namespace/]name`; the kind defaults to Group). Required for
    /// Component, API, Resource, System and Domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = ENTITY_REF_PATTERN), length(max = 253))]
    pub owner: Option<String>,

    /// The System this Component, API or Resource belongs to (kind defaults to System).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = ENTITY_REF_PATTERN), length(max = 253))]
    pub system: Option<String>,

    /// The Component this Component is part of (kind defaults to Component).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = ENTITY_REF_PATTERN), length(max = 253))]
    pub subcomponent_of: Option<String>,

    /// The Domain this System belongs to (kind defaults to Domain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = ENTITY_REF_PATTERN), length(max = 253))]
    pub domain: Option<String>,

    /// The Domain this Domain is part of (kind defaults to Domain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = ENTITY_REF_PATTERN), length(max = 253))]
    pub subdomain_of: Option<String>,

    /// Components and Resources this entity depends on, e.g. `resource:orders-db`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::entity_refs")]
    pub depends_on: Vec<String>,

    /// Components and Resources that depend on this entity.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::entity_refs")]
    pub dependency_of: Vec<String>,

    /// APIs this Component provides (kind defaults to API).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::entity_refs")]
    pub provides_apis: Vec<String>,

    /// APIs this Component consumes (kind defaults to API).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::entity_refs")]
    pub consumes_apis: Vec<String>,

    /// The API's definition: its OpenAPI, AsyncAPI, GraphQL or gRPC text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition: Option<String>,

    /// The Group this Group belongs to (kind defaults to Group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = ENTITY_REF_PATTERN), length(max = 253))]
    pub parent: Option<String>,

    /// Groups that belong to this Group (kind defaults to Group).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::entity_refs")]
    pub children: Vec<String>,

    /// Users in this Group (kind defaults to User).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::entity_refs")]
    pub members: Vec<String>,

    /// Groups this User belongs to (kind defaults to Group).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::entity_refs")]
    pub member_of: Vec<String>,

    /// How a Group or User is shown: display name, email, picture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<EntityProfile>,

    /// Other spec fields (custom kinds' or plugins'), kept as written.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// A catalog entity kind.
#[derive(
    JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default,
)]
pub enum EntityKind {
    /// A piece of software: a service, website, library.
    #[default]
    Component,
    /// An interface a Component provides or consumes.
    #[serde(rename = "API")]
    Api,
    /// Infrastructure a Component needs at run time: a database, bucket, queue.
    Resource,
    /// A set of entities that together provide a capability.
    System,
    /// A set of Systems that share a business purpose.
    Domain,
    /// A team or other organisational unit.
    Group,
    /// A person.
    User,
}

/// A link on an entity's page.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct EntityLink {
    /// Where the link goes.
    #[schemars(length(min = 1, max = 2048))]
    pub url: String,

    /// Text of the link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,

    /// Icon name, e.g. `dashboard`, `github`, `argocd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,

    /// What kind of link it is, e.g. `repository`, `runbook`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
}

/// How a Group or User is shown.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct EntityProfile {
    /// Name to show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,

    /// Email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,

    /// URL of a picture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
}

/// The observed state of a CatalogEntity.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct CatalogEntityStatus {
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// `Ready`, `Reconciling`, `Stalled`, and validation conditions such as
    /// an owner that does not resolve.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::conditions")]
    pub conditions: Vec<Condition>,

    /// Every relation of this entity, in both directions, as Backstage derives them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relations: Vec<Relation>,

    /// One row per object whose status rolls up into this entity: Argo CD
    /// Applications, ACK resources, KubeVela Applications.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<SourceStatus>,

    /// The rolled-up health of every source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
}

/// A relation from this entity to another.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct Relation {
    /// The relation's type.
    #[serde(rename = "type")]
    pub type_: RelationType,

    /// The other entity, as a full reference `kind:namespace/name`.
    pub target_ref: String,
}

/// The relation types Backstage derives; each comes with its inverse.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub enum RelationType {
    /// This entity is owned by the target.
    OwnedBy,
    /// This entity owns the target.
    OwnerOf,
    /// This entity is part of the target.
    PartOf,
    /// The target is part of this entity.
    HasPart,
    /// This entity depends on the target.
    DependsOn,
    /// The target depends on this entity.
    DependencyOf,
    /// This entity provides the target API.
    ProvidesApi,
    /// This API is provided by the target.
    ApiProvidedBy,
    /// This entity consumes the target API.
    ConsumesApi,
    /// This API is consumed by the target.
    ApiConsumedBy,
    /// This User is a member of the target Group.
    MemberOf,
    /// The target User is a member of this Group.
    HasMember,
    /// This Group is a child of the target Group.
    ChildOf,
    /// The target Group is a child of this Group.
    ParentOf,
}

/// The status of one object rolled up into an entity.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SourceStatus {
    /// The object's apiVersion, e.g. `argoproj.io/v1alpha1`.
    pub api_version: String,

    /// The object's kind, e.g. `Application`, `Bucket`.
    pub kind: String,

    /// The object's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,

    /// The object's name.
    pub name: String,

    /// The object's status, normalized.
    pub status: SourceHealth,

    /// Why, in one CamelCase word.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,

    /// Why, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,

    /// The raw status the normalization read, e.g. Argo CD `sync` and `health`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, String>,

    /// When `status` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
}

/// A rolled-up object's status, normalized as kstatus does.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceHealth {
    /// Reconciled and healthy.
    Current,
    /// Being reconciled.
    InProgress,
    /// Reconciling failed, or the object is unhealthy.
    Failed,
    /// The status cannot be read.
    Unknown,
    /// The object does not exist.
    NotFound,
}

/// An entity's aggregate health.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// Every source is current.
    Current,
    /// Some source is still in progress.
    InProgress,
    /// Some source failed.
    Failed,
    /// Some source's status cannot be read.
    Unknown,
}
