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

use std::collections::BTreeSet;

use crate::api::EntityRef;
use crate::api::{CatalogEntitySpec, EntityKind, Relation, RelationType};

mod edges;
mod graph;

pub use graph::Graph;

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

#[cfg(test)]
mod tests {
    use super::*;
    use RelationType::*;

    pub(super) fn spec(kind: EntityKind) -> CatalogEntitySpec {
        serde_json::from_value(serde_json::json!({
            "kind": serde_json::to_value(kind).unwrap(),
        }))
        .unwrap()
    }

    pub(super) fn rel(type_: RelationType, target: &str) -> Relation {
        Relation {
            type_,
            target_ref: target.to_string(),
        }
    }

    pub(super) fn set(items: &[&str]) -> BTreeSet<String> {
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
}
