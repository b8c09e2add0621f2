//! The graph of every entity's relations in both directions, kept up to date
//! one entity at a time.
//!
//! Every reference is held once: a node's key is an [`Ref`] that the edges
//! pointing at it share, so a relation costs a pointer, not a copy of the
//! target's `kind:namespace/name` (at 100,000 entities with three relations
//! each, 600,000 strings fewer).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use super::edges::Edges;
use super::inverse;
use crate::api::{Relation, RelationType};

/// An entity reference, lowercase, shared by the node and every edge to it.
type Ref = Arc<str>;

/// A relation as the graph keeps it; ordered as [`Relation`] is (type, then
/// target), so a node's edges come out in the order its status lists them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Edge {
    type_: RelationType,
    target: Ref,
}

impl Edge {
    fn relation(&self) -> Relation {
        Relation {
            type_: self.type_,
            target_ref: self.target.to_string(),
        }
    }
}

#[derive(Debug, Default)]
struct Node {
    /// Whether the entity exists; a node that does not is only a target.
    present: bool,
    /// Relations the entity declares.
    outgoing: Edges<Edge>,
    /// Inverses of relations other entities declare towards this one:
    /// `(inverse type, source)`. Each source's outgoing set holds one relation
    /// per (type, target) and `inverse` is one-to-one, so no counting is
    /// needed.
    incoming: Edges<Edge>,
}

impl Node {
    fn relations(&self) -> BTreeSet<&Edge> {
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
    nodes: HashMap<Ref, Node>,
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
        self.nodes
            .get(key(entity_ref).as_str())
            .is_some_and(|node| node.present)
    }

    /// The shared form of `reference` (already lowercase): the node's key
    /// when there is a node, a new one otherwise.
    fn intern(&self, reference: &str) -> Ref {
        match self.nodes.get_key_value(reference) {
            Some((shared, _)) => shared.clone(),
            None => Ref::from(reference),
        }
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
        let source = self.intern(&key(entity_ref));
        let outgoing: Edges<Edge> = outgoing
            .into_iter()
            .map(|relation| Edge {
                type_: relation.type_,
                target: self.intern(&key(&relation.target_ref)),
            })
            .collect();
        let mut changed = BTreeSet::new();

        let (was_present, before, unresolved_before) = match self.nodes.get(&source) {
            Some(node) if node.present => {
                if node.outgoing == outgoing {
                    return changed;
                }
                let before: BTreeSet<Edge> = node.relations().into_iter().cloned().collect();
                (true, before, self.unresolved(&source))
            }
            _ => (false, BTreeSet::new(), Vec::new()),
        };

        let node = self.nodes.entry(source.clone()).or_default();
        node.present = true;
        let old = std::mem::replace(&mut node.outgoing, outgoing.clone());
        if !was_present {
            self.entities += 1;
            changed.insert(source.to_string());
            // Entities pointing here: their reference resolves now.
            changed.extend(node.incoming.iter().map(|edge| edge.target.to_string()));
        }

        for removed in old.difference(&outgoing) {
            self.unlink(&source, removed, &mut changed);
        }
        for added in outgoing.difference(&old) {
            let back = Edge {
                type_: inverse(added.type_),
                target: source.clone(),
            };
            let target = self.nodes.entry(added.target.clone()).or_default();
            let inserted = target.incoming.insert(back.clone());
            if inserted && target.present && !target.outgoing.contains(&back) {
                changed.insert(added.target.to_string());
            }
        }

        if was_present && let Some(node) = self.nodes.get(&source) {
            let after: BTreeSet<&Edge> = node.relations();
            if after.len() != before.len()
                || !after.iter().zip(&before).all(|(a, b)| *a == b)
                || self.unresolved(&source) != unresolved_before
            {
                changed.insert(source.to_string());
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
        let source = self.intern(&key(entity_ref));
        let mut changed = BTreeSet::new();
        let old = match self.nodes.get_mut(&source) {
            Some(node) if node.present => {
                node.present = false;
                self.entities -= 1;
                changed.extend(node.incoming.iter().map(|edge| edge.target.to_string()));
                std::mem::take(&mut node.outgoing)
            }
            _ => return changed,
        };
        for removed in &old {
            self.unlink(&source, removed, &mut changed);
        }
        self.forget_if_unused(&source);
        changed.remove(&*source);
        changed.retain(|entity| self.contains(entity));
        changed
    }

    /// Drops the inverse of `source`'s relation `removed` from its target.
    fn unlink(&mut self, source: &Ref, removed: &Edge, changed: &mut BTreeSet<String>) {
        let back = Edge {
            type_: inverse(removed.type_),
            target: source.clone(),
        };
        if let Some(target) = self.nodes.get_mut(&removed.target) {
            let dropped = target.incoming.remove(&back);
            if dropped && target.present && !target.outgoing.contains(&back) {
                changed.insert(removed.target.to_string());
            }
        }
        self.forget_if_unused(&removed.target);
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
            .get(key(entity_ref).as_str())
            .map(|node| node.relations().into_iter().map(Edge::relation).collect())
            .unwrap_or_default()
    }

    /// The targets `entity_ref` points at that are not entities in the
    /// graph, sorted, without duplicates.
    pub fn unresolved(&self, entity_ref: &str) -> Vec<String> {
        let Some(node) = self.nodes.get(key(entity_ref).as_str()) else {
            return Vec::new();
        };
        let targets: BTreeSet<&Ref> = node
            .outgoing
            .iter()
            .map(|edge| &edge.target)
            .filter(|target| !self.nodes.get(*target).is_some_and(|n| n.present))
            .collect();
        targets.into_iter().map(|target| target.to_string()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::EntityKind;
    use crate::api::RelationType::*;
    use crate::catalog::relations::outgoing;
    use crate::catalog::relations::tests::{rel, set, spec};

    /// Each reference is held once, however many relations name it.
    #[test]
    fn a_reference_is_held_once_by_its_node_and_every_edge() {
        let mut graph = Graph::new();
        for name in ["a", "b", "c"] {
            graph.upsert(
                &format!("component:default/{name}"),
                [rel(OwnedBy, "Group:Default/Team")],
            );
        }
        graph.upsert("group:default/team", []);
        let (team, node) = graph.nodes.get_key_value("group:default/team").unwrap();
        // The node's key, each Component's edge to it: one string.
        assert_eq!(Arc::strong_count(team), 4);
        for edge in &node.incoming {
            let (source, _) = graph.nodes.get_key_value(&*edge.target).unwrap();
            assert!(Arc::ptr_eq(source, &edge.target), "{edge:?}");
        }
        // Removed, the strings go with the last edge.
        for name in ["a", "b", "c"] {
            graph.remove(&format!("component:default/{name}"));
        }
        let (team, _) = graph.nodes.get_key_value("group:default/team").unwrap();
        assert_eq!(Arc::strong_count(team), 1);
        assert_eq!(graph.nodes.len(), 1);
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
