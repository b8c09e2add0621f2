//! The relations Backstage derives from an entity's spec, and the graph of
//! every entity's relations in both directions.
//!
//! [`outgoing`] reads the spec fields Backstage's `BuiltinKindsEntityProcessor`
//! reads for the entity's kind, with the same default kinds and namespaces.
//! Each field gives one relation from the entity to the target; the inverse
//! relation (from the target back) is what [`Graph`] adds on the target's
//! side, so an entity's relation list is its own outgoing relations plus the
//! inverse of every relation that points at it. As in Backstage, a relation to
//! an entity that does not exist is kept; [`Graph::unresolved`] lists those
//! targets so the controller can say which references do not resolve.
//!
//! References are compared case-insensitively and written in Backstage's
//! canonical form, `kind:namespace/name` all lowercase (`stringifyEntityRef`).
//! For a CatalogEntity that is the same string as
//! [`crate::actions::catalog::entity_ref`], since Kubernetes names and
//! namespaces are lowercase already.

use std::collections::{BTreeSet, HashMap};

use crate::api::EntityRef;
use crate::api::{CatalogEntitySpec, EntityKind, Relation, RelationType};

/// Backstage's name of a kind, as written in `kind:` and in references.
pub fn kind_name(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::Component => "Component",
        EntityKind::Api => "API",
        EntityKind::Resource => "Resource",
        EntityKind::System => "System",
        EntityKind::Domain => "Domain",
        EntityKind::Group => "Group",
        EntityKind::User => "User",
    }
}

/// The canonical reference of an entity, `kind:namespace/name`, lowercase.
pub fn entity_ref(kind: EntityKind, namespace: &str, name: &str) -> String {
    canonical(kind_name(kind), namespace, name)
}

fn canonical(kind: &str, namespace: &str, name: &str) -> String {
    format!(
        "{}:{}/{}",
        kind.to_lowercase(),
        namespace.to_lowercase(),
        name.to_lowercase()
    )
}

/// Parses a reference as written in a spec field (`[kind:][namespace/]name`)
/// and returns its canonical form, or why it does not parse.
pub fn resolve(
    reference: &str,
    default_kind: Option<&str>,
    default_namespace: &str,
) -> Result<String, String> {
    let parsed = EntityRef::parse(reference, default_kind, Some(default_namespace))?;
    Ok(canonical(&parsed.kind, &parsed.namespace, &parsed.name))
}

/// The relation seen from the other end: `ownedBy` <-> `ownerOf`, and so on.
pub fn inverse(relation: RelationType) -> RelationType {
    use RelationType::*;
    match relation {
        OwnedBy => OwnerOf,
        OwnerOf => OwnedBy,
        PartOf => HasPart,
        HasPart => PartOf,
        DependsOn => DependencyOf,
        DependencyOf => DependsOn,
        ProvidesApi => ApiProvidedBy,
        ApiProvidedBy => ProvidesApi,
        ConsumesApi => ApiConsumedBy,
        ApiConsumedBy => ConsumesApi,
        MemberOf => HasMember,
        HasMember => MemberOf,
        ChildOf => ParentOf,
        ParentOf => ChildOf,
    }
}

/// One entity reference written in a spec field that Backstage reads for the
/// entity's kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceField<'a> {
    /// Where it is written, e.g. `spec.owner` or `spec.dependsOn[1]`.
    pub path: String,
    /// The reference as written.
    pub value: &'a str,
    /// The kind a reference without one gets; `None` where Backstage
    /// requires the kind (`dependsOn`, `dependencyOf`).
    pub default_kind: Option<&'static str>,
    /// The relation from the entity to the target.
    pub relation: RelationType,
}

/// Every entity reference in `spec` that Backstage derives a relation from,
/// for the spec's kind, in field order.
///
/// Fields a kind does not have in Backstage (a Group's `owner`, a User's
/// `dependsOn`) are ignored, as Backstage ignores them.
pub fn reference_fields(spec: &CatalogEntitySpec) -> Vec<ReferenceField<'_>> {
    use RelationType::*;
    type Single<'s> = (
        &'static str,
        &'s Option<String>,
        Option<&'static str>,
        RelationType,
    );
    let owner: Single = ("owner", &spec.owner, Some("Group"), OwnedBy);
    let system: Single = ("system", &spec.system, Some("System"), PartOf);
    let singles: Vec<Single> = match spec.kind {
        EntityKind::Component => vec![
            owner,
            system,
            ("subcomponentOf", &spec.subcomponent_of, Some("Component"), PartOf),
        ],
        EntityKind::Api | EntityKind::Resource => vec![owner, system],
        EntityKind::System => vec![owner, ("domain", &spec.domain, Some("Domain"), PartOf)],
        EntityKind::Domain => vec![owner, ("subdomainOf", &spec.subdomain_of, Some("Domain"), PartOf)],
        EntityKind::Group => vec![("parent", &spec.parent, Some("Group"), ChildOf)],
        EntityKind::User => vec![],
    };
    let mut fields = Vec::new();
    for (name, value, default_kind, relation) in singles {
        if let Some(value) = value {
            fields.push(ReferenceField {
                path: format!("spec.{name}"),
                value,
                default_kind,
                relation,
            });
        }
    }
    let lists: &[(&str, &Vec<String>, Option<&'static str>, RelationType)] = match spec.kind {
        EntityKind::Component => &[
            ("providesApis", &spec.provides_apis, Some("API"), ProvidesApi),
            ("consumesApis", &spec.consumes_apis, Some("API"), ConsumesApi),
            ("dependsOn", &spec.depends_on, None, DependsOn),
            ("dependencyOf", &spec.dependency_of, None, DependencyOf),
        ],
        EntityKind::Resource => &[
            ("dependsOn", &spec.depends_on, None, DependsOn),
            ("dependencyOf", &spec.dependency_of, None, DependencyOf),
        ],
        EntityKind::Group => &[
            ("children", &spec.children, Some("Group"), ParentOf),
            ("members", &spec.members, Some("User"), HasMember),
        ],
        EntityKind::User => &[("memberOf", &spec.member_of, Some("Group"), MemberOf)],
        EntityKind::Api | EntityKind::System | EntityKind::Domain => &[],
    };
    for &(name, values, default_kind, relation) in lists {
        for (i, value) in values.iter().enumerate() {
            fields.push(ReferenceField {
                path: format!("spec.{name}[{i}]"),
                value,
                default_kind,
                relation,
            });
        }
    }
    fields
}

/// A reference that does not parse, so no relation comes from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidReference {
    /// Where it is written, e.g. `spec.dependsOn[0]`.
    pub field: String,
    /// Why it does not parse.
    pub message: String,
}

/// The relations an entity declares, and the references that do not parse.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outgoing {
    /// Relations from the entity to its targets, sorted, without duplicates.
    pub relations: Vec<Relation>,
    /// References that gave no relation.
    pub invalid: Vec<InvalidReference>,
}

/// The relations an entity in `namespace` declares in `spec`, as Backstage
/// derives them: targets without a namespace are in the entity's namespace,
/// targets without a kind get the field's default kind.
pub fn outgoing(namespace: &str, spec: &CatalogEntitySpec) -> Outgoing {
    let mut relations = BTreeSet::new();
    let mut invalid = Vec::new();
    for field in reference_fields(spec) {
        match resolve(field.value, field.default_kind, namespace) {
            Ok(target_ref) => {
                relations.insert(Relation {
                    type_: field.relation,
                    target_ref,
                });
            }
            Err(message) => invalid.push(InvalidReference {
                field: field.path,
                message,
            }),
        }
    }
    Outgoing {
        relations: relations.into_iter().collect(),
        invalid,
    }
}

#[derive(Debug, Default)]
struct Node {
    /// Whether the entity exists; a node that does not is only a target.
    present: bool,
    /// Relations the entity declares.
    outgoing: BTreeSet<Relation>,
    /// Inverses of relations other entities declare towards this one:
    /// `(inverse type, source)`. Each source's outgoing set holds one relation
    /// per (type, target) and `inverse` is one-to-one, so no counting is
    /// needed.
    incoming: BTreeSet<Relation>,
}

impl Node {
    fn relations(&self) -> BTreeSet<&Relation> {
        self.outgoing.iter().chain(&self.incoming).collect()
    }
}

/// Every entity's relations, in both directions, kept up to date one entity
/// at a time.
///
/// [`Graph::upsert`] and [`Graph::remove`] return the entities whose status
/// must be rewritten: those whose relation list ([`Graph::relations`]) or
/// unresolved targets ([`Graph::unresolved`]) changed. Only entities in the
/// graph are returned; a target that is not an entity has no status to write.
/// Each call costs O(d log n) for an entity with d relations, plus one step
/// per entity pointing at it when it appears or disappears.
#[derive(Debug, Default)]
pub struct Graph {
    nodes: HashMap<String, Node>,
    /// How many nodes are present entities.
    entities: usize,
}

fn key(reference: &str) -> String {
    reference.to_lowercase()
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Graph {
        Graph::default()
    }

    /// How many entities the graph holds.
    pub fn len(&self) -> usize {
        self.entities
    }

    /// Whether the graph holds no entity.
    pub fn is_empty(&self) -> bool {
        self.entities == 0
    }

    /// Whether `entity_ref` is an entity in the graph.
    pub fn contains(&self, entity_ref: &str) -> bool {
        self.nodes.get(&key(entity_ref)).is_some_and(|node| node.present)
    }

    /// Sets the relations `entity_ref` declares, adding the entity if it is
    /// new. Returns the entities whose relations or unresolved targets
    /// changed: the entity itself when it is new or its list changed, targets
    /// that gained or lost an inverse relation, and, when the entity is new,
    /// the entities that already pointed at it (their reference now
    /// resolves). Upserting the same relations again returns nothing.
    pub fn upsert(
        &mut self,
        entity_ref: &str,
        outgoing: impl IntoIterator<Item = Relation>,
    ) -> BTreeSet<String> {
        let source = key(entity_ref);
        let outgoing: BTreeSet<Relation> = outgoing
            .into_iter()
            .map(|relation| Relation {
                type_: relation.type_,
                target_ref: key(&relation.target_ref),
            })
            .collect();
        let mut changed = BTreeSet::new();

        let (was_present, before, unresolved_before) = match self.nodes.get(&source) {
            Some(node) if node.present => {
                if node.outgoing == outgoing {
                    return changed;
                }
                let before: BTreeSet<Relation> = node.relations().into_iter().cloned().collect();
                (true, before, self.unresolved(&source))
            }
            _ => (false, BTreeSet::new(), Vec::new()),
        };

        let node = self.nodes.entry(source.clone()).or_default();
        node.present = true;
        let old = std::mem::replace(&mut node.outgoing, outgoing.clone());
        if !was_present {
            self.entities += 1;
            changed.insert(source.clone());
            // Entities pointing here: their reference resolves now.
            changed.extend(node.incoming.iter().map(|r| r.target_ref.clone()));
        }

        for removed in old.difference(&outgoing) {
            self.unlink(&source, removed, &mut changed);
        }
        for added in outgoing.difference(&old) {
            let back = Relation {
                type_: inverse(added.type_),
                target_ref: source.clone(),
            };
            let target = self.nodes.entry(added.target_ref.clone()).or_default();
            let inserted = target.incoming.insert(back.clone());
            if inserted && target.present && !target.outgoing.contains(&back) {
                changed.insert(added.target_ref.clone());
            }
        }

        if was_present && let Some(node) = self.nodes.get(&source) {
            let after: BTreeSet<&Relation> = node.relations();
            if after.len() != before.len()
                || !after.iter().zip(&before).all(|(a, b)| *a == b)
                || self.unresolved(&source) != unresolved_before
            {
                changed.insert(source.clone());
            }
        }
        changed.retain(|entity| self.contains(entity));
        changed
    }

    /// Removes `entity_ref`. Returns the entities whose relations or
    /// unresolved targets changed: targets that lost an inverse relation, and
    /// entities pointing at the removed one (their reference no longer
    /// resolves). The removed entity itself is not returned. Removing an
    /// entity that is not in the graph returns nothing.
    pub fn remove(&mut self, entity_ref: &str) -> BTreeSet<String> {
        let source = key(entity_ref);
        let mut changed = BTreeSet::new();
        let old = match self.nodes.get_mut(&source) {
            Some(node) if node.present => {
                node.present = false;
                self.entities -= 1;
                changed.extend(node.incoming.iter().map(|r| r.target_ref.clone()));
                std::mem::take(&mut node.outgoing)
            }
            _ => return changed,
        };
        for removed in &old {
            self.unlink(&source, removed, &mut changed);
        }
        self.forget_if_unused(&source);
        changed.remove(&source);
        changed.retain(|entity| self.contains(entity));
        changed
    }

    /// Drops the inverse of `source`'s relation `removed` from its target.
    fn unlink(&mut self, source: &str, removed: &Relation, changed: &mut BTreeSet<String>) {
        let back = Relation {
            type_: inverse(removed.type_),
            target_ref: source.to_string(),
        };
        if let Some(target) = self.nodes.get_mut(&removed.target_ref) {
            let dropped = target.incoming.remove(&back);
            if dropped && target.present && !target.outgoing.contains(&back) {
                changed.insert(removed.target_ref.clone());
            }
        }
        self.forget_if_unused(&removed.target_ref);
    }

    fn forget_if_unused(&mut self, reference: &str) {
        if self
            .nodes
            .get(reference)
            .is_some_and(|node| !node.present && node.incoming.is_empty() && node.outgoing.is_empty())
        {
            self.nodes.remove(reference);
        }
    }

    /// Every relation of `entity_ref`: the ones it declares and the inverse
    /// of every one that points at it, sorted by type then target, without
    /// duplicates. Also answers for a target that is not (yet) an entity.
    pub fn relations(&self, entity_ref: &str) -> Vec<Relation> {
        self.nodes
            .get(&key(entity_ref))
            .map(|node| node.relations().into_iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The targets `entity_ref` points at that are not entities in the
    /// graph, sorted, without duplicates.
    pub fn unresolved(&self, entity_ref: &str) -> Vec<String> {
        let Some(node) = self.nodes.get(&key(entity_ref)) else {
            return Vec::new();
        };
        let targets: BTreeSet<&String> = node
            .outgoing
            .iter()
            .map(|relation| &relation.target_ref)
            .filter(|target| !self.nodes.get(*target).is_some_and(|n| n.present))
            .collect();
        targets.into_iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RelationType::*;

    fn spec(kind: EntityKind) -> CatalogEntitySpec {
        serde_json::from_value(serde_json::json!({
            "kind": serde_json::to_value(kind).unwrap(),
        }))
        .unwrap()
    }

    fn rel(type_: RelationType, target: &str) -> Relation {
        Relation {
            type_,
            target_ref: target.to_string(),
        }
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn inverse_is_an_involution_that_never_maps_to_itself() {
        let all = [
            OwnedBy,
            OwnerOf,
            PartOf,
            HasPart,
            DependsOn,
            DependencyOf,
            ProvidesApi,
            ApiProvidedBy,
            ConsumesApi,
            ApiConsumedBy,
            MemberOf,
            HasMember,
            ChildOf,
            ParentOf,
        ];
        for relation in all {
            assert_ne!(inverse(relation), relation);
            assert_eq!(inverse(inverse(relation)), relation);
        }
        assert_eq!(inverse(OwnedBy), OwnerOf);
        assert_eq!(inverse(PartOf), HasPart);
        assert_eq!(inverse(DependsOn), DependencyOf);
        assert_eq!(inverse(ProvidesApi), ApiProvidedBy);
        assert_eq!(inverse(ConsumesApi), ApiConsumedBy);
        assert_eq!(inverse(MemberOf), HasMember);
        assert_eq!(inverse(ChildOf), ParentOf);
    }

    #[test]
    fn component_fields_use_backstage_default_kinds_and_the_entity_namespace() {
        let mut component = spec(EntityKind::Component);
        component.owner = Some("platform".into());
        component.system = Some("payments".into());
        component.subcomponent_of = Some("checkout".into());
        component.provides_apis = vec!["orders-api".into()];
        component.consumes_apis = vec!["billing/invoices-api".into()];
        component.depends_on = vec!["resource:orders-db".into()];
        component.dependency_of = vec!["component:storefront".into()];
        let out = outgoing("shop", &component);
        assert!(out.invalid.is_empty(), "{:?}", out.invalid);
        assert_eq!(
            out.relations,
            vec![
                rel(OwnedBy, "group:shop/platform"),
                rel(PartOf, "component:shop/checkout"),
                rel(PartOf, "system:shop/payments"),
                rel(DependsOn, "resource:shop/orders-db"),
                rel(DependencyOf, "component:shop/storefront"),
                rel(ProvidesApi, "api:shop/orders-api"),
                rel(ConsumesApi, "api:billing/invoices-api"),
            ]
        );
    }

    #[test]
    fn owner_may_be_a_user_when_the_kind_is_written() {
        let mut api = spec(EntityKind::Api);
        api.owner = Some("user:jdoe".into());
        api.system = Some("System:Other/Payments".into());
        let out = outgoing("default", &api);
        assert_eq!(
            out.relations,
            vec![
                rel(OwnedBy, "user:default/jdoe"),
                rel(PartOf, "system:other/payments")
            ]
        );
    }

    #[test]
    fn depends_on_requires_a_kind_as_in_backstage() {
        let mut component = spec(EntityKind::Component);
        component.depends_on = vec!["orders-db".into(), "resource:cache".into()];
        component.dependency_of = vec!["web".into()];
        let out = outgoing("default", &component);
        assert_eq!(out.relations, vec![rel(DependsOn, "resource:default/cache")]);
        let fields: Vec<&str> = out.invalid.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(fields, vec!["spec.dependsOn[0]", "spec.dependencyOf[0]"]);
        assert!(
            out.invalid[0].message.contains("has no kind"),
            "{}",
            out.invalid[0].message
        );
    }

    #[test]
    fn each_kind_reads_only_its_own_fields() {
        let mut resource = spec(EntityKind::Resource);
        resource.owner = Some("team-a".into());
        resource.system = Some("sys".into());
        resource.depends_on = vec!["component:svc".into()];
        resource.dependency_of = vec!["component:web".into()];
        resource.provides_apis = vec!["ignored".into()];
        assert_eq!(
            outgoing("default", &resource).relations,
            vec![
                rel(OwnedBy, "group:default/team-a"),
                rel(PartOf, "system:default/sys"),
                rel(DependsOn, "component:default/svc"),
                rel(DependencyOf, "component:default/web"),
            ]
        );

        let mut system = spec(EntityKind::System);
        system.owner = Some("team-a".into());
        system.domain = Some("commerce".into());
        system.system = Some("ignored".into());
        assert_eq!(
            outgoing("default", &system).relations,
            vec![
                rel(OwnedBy, "group:default/team-a"),
                rel(PartOf, "domain:default/commerce")
            ]
        );

        let mut domain = spec(EntityKind::Domain);
        domain.owner = Some("team-a".into());
        domain.subdomain_of = Some("retail".into());
        assert_eq!(
            outgoing("default", &domain).relations,
            vec![
                rel(OwnedBy, "group:default/team-a"),
                rel(PartOf, "domain:default/retail")
            ]
        );

        let mut group = spec(EntityKind::Group);
        group.parent = Some("engineering".into());
        group.children = vec!["team-b".into()];
        group.members = vec!["jdoe".into()];
        group.owner = Some("ignored".into());
        assert_eq!(
            outgoing("org", &group).relations,
            vec![
                rel(HasMember, "user:org/jdoe"),
                rel(ChildOf, "group:org/engineering"),
                rel(ParentOf, "group:org/team-b"),
            ]
        );

        let mut user = spec(EntityKind::User);
        user.member_of = vec!["team-a".into(), "TEAM-A".into()];
        assert_eq!(
            outgoing("org", &user).relations,
            vec![rel(MemberOf, "group:org/team-a")],
            "duplicates differing only in case collapse"
        );
    }

    #[test]
    fn reference_fields_name_the_field_and_index() {
        let mut group = spec(EntityKind::Group);
        group.children = vec!["a".into(), "b".into()];
        let paths: Vec<String> = reference_fields(&group).into_iter().map(|f| f.path).collect();
        assert_eq!(paths, vec!["spec.children[0]", "spec.children[1]"]);
    }

    #[test]
    fn entity_ref_is_lowercase_like_backstage() {
        assert_eq!(
            entity_ref(EntityKind::Api, "default", "orders"),
            "api:default/orders"
        );
        assert_eq!(
            resolve("Group:Team-NS/Platform", Some("Group"), "default").unwrap(),
            "group:team-ns/platform"
        );
    }

    /// Both directions for every relation type Backstage derives.
    #[test]
    fn graph_answers_both_directions_for_every_relation_type() {
        let pairs = [
            (OwnedBy, OwnerOf),
            (PartOf, HasPart),
            (DependsOn, DependencyOf),
            (DependencyOf, DependsOn),
            (ProvidesApi, ApiProvidedBy),
            (ConsumesApi, ApiConsumedBy),
            (MemberOf, HasMember),
            (HasMember, MemberOf),
            (ChildOf, ParentOf),
            (ParentOf, ChildOf),
        ];
        for (forward, backward) in pairs {
            let mut graph = Graph::new();
            graph.upsert("component:default/a", [rel(forward, "group:default/b")]);
            graph.upsert("group:default/b", []);
            assert_eq!(
                graph.relations("component:default/a"),
                vec![rel(forward, "group:default/b")]
            );
            assert_eq!(
                graph.relations("group:default/b"),
                vec![rel(backward, "component:default/a")]
            );
        }
    }

    #[test]
    fn relations_declared_from_both_sides_are_not_duplicated() {
        let mut graph = Graph::new();
        graph.upsert("group:default/parent", [rel(ParentOf, "group:default/child")]);
        graph.upsert("group:default/child", [rel(ChildOf, "group:default/parent")]);
        assert_eq!(
            graph.relations("group:default/parent"),
            vec![rel(ParentOf, "group:default/child")]
        );
        assert_eq!(
            graph.relations("group:default/child"),
            vec![rel(ChildOf, "group:default/parent")]
        );
    }

    #[test]
    fn graph_keys_are_case_insensitive() {
        let mut graph = Graph::new();
        graph.upsert("Component:Default/Web", [rel(OwnedBy, "Group:Default/Team")]);
        graph.upsert("group:default/team", []);
        assert!(graph.contains("COMPONENT:default/web"));
        assert_eq!(
            graph.relations("group:DEFAULT/team"),
            vec![rel(OwnerOf, "component:default/web")]
        );
        assert!(graph.unresolved("component:default/web").is_empty());
    }

    #[test]
    fn cross_namespace_relations_resolve_by_full_reference() {
        let mut graph = Graph::new();
        let mut component = spec(EntityKind::Component);
        component.owner = Some("platform/sre".into());
        let out = outgoing("shop", &component);
        graph.upsert("component:shop/web", out.relations);
        graph.upsert("group:shop/sre", []);
        assert_eq!(graph.unresolved("component:shop/web"), vec!["group:platform/sre"]);
        let changed = graph.upsert("group:platform/sre", []);
        assert_eq!(changed, set(&["group:platform/sre", "component:shop/web"]));
        assert!(graph.relations("group:shop/sre").is_empty());
        assert_eq!(
            graph.relations("group:platform/sre"),
            vec![rel(OwnerOf, "component:shop/web")]
        );
    }

    fn catalog() -> Graph {
        let mut graph = Graph::new();
        graph.upsert("group:default/a", []);
        graph.upsert("group:default/b", []);
        graph.upsert("system:default/s", [rel(OwnedBy, "group:default/a")]);
        graph.upsert(
            "component:default/web",
            [rel(OwnedBy, "group:default/a"), rel(PartOf, "system:default/s")],
        );
        graph
    }

    #[test]
    fn changing_the_owner_touches_the_entity_and_both_owners_only() {
        let mut graph = catalog();
        let changed = graph.upsert(
            "component:default/web",
            [rel(OwnedBy, "group:default/b"), rel(PartOf, "system:default/s")],
        );
        assert_eq!(
            changed,
            set(&["component:default/web", "group:default/a", "group:default/b"])
        );
        assert_eq!(
            graph.relations("group:default/a"),
            vec![rel(OwnerOf, "system:default/s")]
        );
        assert_eq!(
            graph.relations("group:default/b"),
            vec![rel(OwnerOf, "component:default/web")]
        );
    }

    #[test]
    fn upserting_identical_relations_changes_nothing() {
        let mut graph = catalog();
        let changed = graph.upsert(
            "component:default/web",
            [
                rel(PartOf, "system:default/s"),
                rel(OwnedBy, "group:default/a"),
                rel(OwnedBy, "Group:default/A"),
            ],
        );
        assert!(changed.is_empty(), "{changed:?}");
    }

    #[test]
    fn a_new_entity_is_returned_with_the_targets_it_points_at() {
        let mut graph = catalog();
        let changed = graph.upsert("api:default/orders", [rel(OwnedBy, "group:default/b")]);
        assert_eq!(changed, set(&["api:default/orders", "group:default/b"]));
        let changed = graph.upsert("user:default/nobody", []);
        assert_eq!(changed, set(&["user:default/nobody"]));
    }

    #[test]
    fn adding_a_relation_the_target_already_declares_does_not_touch_the_target() {
        let mut graph = Graph::new();
        graph.upsert("group:default/parent", [rel(ParentOf, "group:default/child")]);
        graph.upsert("group:default/child", []);
        let changed = graph.upsert("group:default/child", [rel(ChildOf, "group:default/parent")]);
        assert!(changed.is_empty(), "{changed:?}");
        let changed = graph.upsert("group:default/parent", []);
        assert!(changed.is_empty(), "{changed:?}");
        assert_eq!(
            graph.relations("group:default/parent"),
            vec![rel(ParentOf, "group:default/child")]
        );
    }

    #[test]
    fn removing_an_entity_touches_its_targets_and_the_entities_pointing_at_it() {
        let mut graph = catalog();
        let changed = graph.remove("system:default/s");
        assert_eq!(changed, set(&["group:default/a", "component:default/web"]));
        assert_eq!(
            graph.relations("group:default/a"),
            vec![rel(OwnerOf, "component:default/web")]
        );
        // The component keeps its relation to the missing system, as Backstage does.
        assert_eq!(
            graph.relations("component:default/web"),
            vec![rel(OwnedBy, "group:default/a"), rel(PartOf, "system:default/s")]
        );
        assert_eq!(
            graph.unresolved("component:default/web"),
            vec!["system:default/s"]
        );
        assert!(!graph.contains("system:default/s"));
        assert!(graph.remove("system:default/s").is_empty());
        assert_eq!(graph.len(), 3);
    }

    #[test]
    fn removing_and_re_adding_restores_everything() {
        let mut graph = catalog();
        graph.remove("group:default/a");
        assert_eq!(graph.unresolved("system:default/s"), vec!["group:default/a"]);
        let changed = graph.upsert("group:default/a", []);
        assert_eq!(
            changed,
            set(&["group:default/a", "system:default/s", "component:default/web"])
        );
        assert_eq!(
            graph.relations("group:default/a"),
            vec![
                rel(OwnerOf, "component:default/web"),
                rel(OwnerOf, "system:default/s")
            ]
        );
        assert!(graph.unresolved("system:default/s").is_empty());
    }

    #[test]
    fn unresolved_lists_missing_targets_and_updates_when_they_appear() {
        let mut graph = Graph::new();
        let changed = graph.upsert(
            "component:default/web",
            [
                rel(OwnedBy, "group:default/team"),
                rel(DependsOn, "resource:default/db"),
                rel(DependencyOf, "resource:default/db"),
            ],
        );
        assert_eq!(changed, set(&["component:default/web"]));
        assert_eq!(
            graph.unresolved("component:default/web"),
            vec!["group:default/team", "resource:default/db"]
        );
        let changed = graph.upsert("resource:default/db", []);
        assert_eq!(changed, set(&["resource:default/db", "component:default/web"]));
        assert_eq!(
            graph.unresolved("component:default/web"),
            vec!["group:default/team"]
        );
        assert_eq!(
            graph.relations("resource:default/db"),
            vec![
                rel(DependsOn, "component:default/web"),
                rel(DependencyOf, "component:default/web")
            ]
        );
        let changed = graph.remove("resource:default/db");
        assert_eq!(changed, set(&["component:default/web"]));
    }

    #[test]
    fn a_changed_target_that_is_not_an_entity_is_not_returned() {
        let mut graph = Graph::new();
        graph.upsert("component:default/web", [rel(OwnedBy, "group:default/ghost")]);
        let changed = graph.upsert("component:default/web", [rel(OwnedBy, "group:default/other")]);
        assert_eq!(changed, set(&["component:default/web"]));
        // The ghost's node is gone once nothing points at it.
        assert!(graph.relations("group:default/ghost").is_empty());
        assert_eq!(graph.nodes.len(), 2);
    }

    #[test]
    fn self_references_work() {
        let mut graph = Graph::new();
        let changed = graph.upsert("component:default/a", [rel(DependsOn, "component:default/a")]);
        assert_eq!(changed, set(&["component:default/a"]));
        assert_eq!(
            graph.relations("component:default/a"),
            vec![
                rel(DependsOn, "component:default/a"),
                rel(DependencyOf, "component:default/a")
            ]
        );
        assert!(graph.unresolved("component:default/a").is_empty());
        assert!(graph.remove("component:default/a").is_empty());
        assert!(graph.is_empty());
        assert!(graph.nodes.is_empty());
    }

    #[test]
    fn ten_thousand_entities_converge_quickly() {
        let started = std::time::Instant::now();
        let mut graph = Graph::new();
        let n = 10_000;
        for i in 0..n {
            graph.upsert(
                &format!("component:default/c{i}"),
                [
                    rel(OwnedBy, &format!("group:default/g{}", i % 100)),
                    rel(PartOf, &format!("system:default/s{}", i % 500)),
                    rel(DependsOn, &format!("component:default/c{}", (i + 1) % n)),
                ],
            );
        }
        for g in 0..100 {
            let changed = graph.upsert(&format!("group:default/g{g}"), []);
            assert_eq!(changed.len(), 1 + n / 100);
        }
        let elapsed = started.elapsed();
        assert_eq!(graph.len(), n + 100);
        assert_eq!(graph.relations("group:default/g7").len(), n / 100);
        assert_eq!(graph.relations("component:default/c5").len(), 4);
        assert_eq!(
            graph.unresolved("component:default/c5"),
            vec!["system:default/s5"]
        );
        // Generous for an unoptimized test build on a loaded machine; it
        // takes about 0.15 s in one.
        assert!(elapsed.as_secs_f64() < 5.0, "took {elapsed:?}");
        eprintln!("10k entities x 3 relations: {elapsed:?}");
    }
}
