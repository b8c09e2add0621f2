//! The catalog's index: entities with their relations and lookups, and the
//! source objects that roll up into them, with the reverse maps that answer
//! "which entities does this change concern" and "what does this entity's
//! status read", and the AppProjects that decide which Argo CD
//! Applications an entity may show. Fed by the CatalogEntity controller's
//! watches; no I/O.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::cached::{CachedEntity, Key};
use kube::ResourceExt;

use crate::api::{CatalogEntity, SourceHealth};
use crate::catalog::lookup::{KUBERNETES_ID, Lookup};
use crate::catalog::relations::{self, Graph};
use crate::catalog::rollup::{self, Normalized, SourceRef};
use crate::catalog::status::Observed;
use crate::catalog::validation;
use crate::config::TenantRules;

/// The kinds whose objects roll up into entities, and the AppProjects that
/// decide which Argo CD Applications an entity may show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// Argo CD `argoproj.io` Application: found by `argocd/app-name`.
    ArgoCd,
    /// Any kind of an ACK `*.services.k8s.aws` group: found by label.
    Ack,
    /// KubeVela `core.oam.dev` Application: found by label.
    KubeVela,
    /// Argo CD `argoproj.io` AppProject, in Argo CD's namespace: never a
    /// row itself; its labels can give it to a namespace
    /// (`tenancy.argocd.projectLabel`).
    AppProject,
}

impl Family {
    /// The family of a CRD's kind, if it rolls up.
    pub fn of(group: &str, kind: &str) -> Option<Family> {
        match (group, kind) {
            ("argoproj.io", "Application") => Some(Family::ArgoCd),
            ("argoproj.io", "AppProject") => Some(Family::AppProject),
            ("core.oam.dev", "Application") => Some(Family::KubeVela),
            (group, _) if group.ends_with(".services.k8s.aws") => Some(Family::Ack),
            _ => None,
        }
    }

    pub fn normalize(self, object: &serde_json::Value) -> Normalized {
        match self {
            Family::ArgoCd => rollup::argocd(object),
            Family::Ack => rollup::ack(object),
            Family::KubeVela => rollup::kubevela(object),
            Family::AppProject => Normalized::new(SourceHealth::Unknown, "AppProject", ""),
        }
    }

    /// Whether its objects roll up when their labels match an entity's.
    fn found_by_label(self) -> bool {
        matches!(self, Family::Ack | Family::KubeVela)
    }
}

/// What the index keeps of a source object.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// The kind's family, which says how its status is normalized.
    pub family: Family,
    /// The object's labels, for lookups by label and selector.
    pub labels: BTreeMap<String, String>,
    /// The object's status, normalized to kstatus.
    pub normalized: Normalized,
    /// An Argo CD Application's `spec.project` (empty when it has none);
    /// `None` when the object could not be read.
    pub project: Option<String>,
}

/// What the index keeps of an entity, for every entity: little.
#[derive(Debug, Clone)]
struct Known {
    entity_ref: Box<str>,
    /// What its annotations ask to roll up, when they ask anything.
    lookup: Option<Box<Lookup>>,
    /// What is wrong with its spec and annotations, found once per change
    /// of the entity rather than at every reconcile; usually nothing.
    problems: Box<[validation::Problem]>,
}

/// The lookup of an entity whose annotations ask nothing to roll up.
static NO_LOOKUP: Lookup = Lookup {
    application: None,
    kubernetes_id: None,
    selector: None,
    problems: Vec::new(),
};

impl Known {
    fn of(entity: &CatalogEntity, argocd_namespace: &str) -> Known {
        let namespace = entity.namespace().unwrap_or_default();
        let mut lookup = Lookup::of(entity.annotations(), argocd_namespace);
        let mut problems = validation::validate(entity);
        problems.append(&mut lookup.problems);
        let asks =
            lookup.application.is_some() || lookup.kubernetes_id.is_some() || lookup.selector.is_some();
        Known {
            entity_ref: relations::entity_ref(entity.spec.kind, &namespace, &entity.name_any()).into(),
            lookup: asks.then(|| Box::new(lookup)),
            problems: problems.into(),
        }
    }

    fn lookup(&self) -> &Lookup {
        self.lookup.as_deref().unwrap_or(&NO_LOOKUP)
    }
}

/// Entities, their relations and lookups, and the source objects, with the
/// reverse maps that answer "which entities does this object concern".
#[derive(Debug, Default)]
pub struct Index {
    graph: Graph,
    entities: HashMap<Key, Known>,
    /// Entities by the Argo CD Application `(namespace, name)` they name.
    by_application: HashMap<(String, String), HashSet<Key>>,
    /// Entities by namespace and `backstage.io/kubernetes-id`.
    by_id: HashMap<(String, String), HashSet<Key>>,
    /// Entities with a label selector; each is checked against a changed object.
    with_selector: HashSet<Key>,
    sources: HashMap<SourceRef, Source>,
    /// Argo CD Applications by `(namespace, name)`.
    applications: HashMap<(String, String), SourceRef>,
    /// AppProjects (all in Argo CD's namespace) by name.
    projects: HashMap<String, SourceRef>,
    /// Labelled sources by namespace and the value of their
    /// `backstage.io/kubernetes-id`.
    sources_by_id: HashMap<(String, String), BTreeSet<SourceRef>>,
}

/// How many objects found by label roll up into one entity at most, so a
/// broad selector cannot grow a status past what the API server stores.
const MAX_LABELLED: usize = 100;

/// A labelled object's key: its namespace and its `backstage.io/kubernetes-id`.
fn labelled_key(source: &SourceRef, id: &str) -> (String, String) {
    (source.namespace.clone().unwrap_or_default(), id.to_string())
}

fn application_key(source: &SourceRef) -> (String, String) {
    (source.namespace.clone().unwrap_or_default(), source.name.clone())
}

/// The key the catalog knows `entity` by: its namespace and name.
pub fn object_of(entity: &CatalogEntity) -> Key {
    Key::new(&entity.namespace().unwrap_or_default(), &entity.name_any())
}

/// The entity an entity reference (`kind:namespace/name`) names.
pub fn entity_object(entity_ref: &str) -> Option<Key> {
    let (_, rest) = entity_ref.split_once(':')?;
    let (namespace, name) = rest.split_once('/')?;
    Some(Key::new(namespace, name))
}

impl Index {
    /// Records an entity; returns the other entities to look at again.
    pub fn entity_applied(&mut self, entity: &CatalogEntity, argocd_namespace: &str) -> BTreeSet<String> {
        let namespace = entity.namespace().unwrap_or_default();
        let object = object_of(entity);
        let known = Known::of(entity, argocd_namespace);
        let outgoing = relations::outgoing(&namespace, &entity.spec);
        let mut touched = self.forget_entity(&object, Some(&known.entity_ref));
        touched.extend(self.graph.upsert(&known.entity_ref, outgoing.relations));
        let lookup = known.lookup();
        if let Some(application) = &lookup.application {
            self.by_application
                .entry(application.clone())
                .or_default()
                .insert(object.clone());
        }
        if let Some(id) = &lookup.kubernetes_id {
            self.by_id
                .entry((namespace.clone(), id.clone()))
                .or_default()
                .insert(object.clone());
        }
        if lookup.selector.is_some() {
            self.with_selector.insert(object.clone());
        }
        touched.remove(&*known.entity_ref);
        self.entities.insert(object, known);
        touched
    }

    /// Drops an entity's lookups, and from the graph unless it stays there
    /// as `keep`; returns the entities the removal touched.
    pub fn forget_entity(&mut self, object: &Key, keep: Option<&str>) -> BTreeSet<String> {
        let Some(known) = self.entities.remove(object) else {
            return BTreeSet::new();
        };
        if let Some(application) = &known.lookup().application
            && let Some(set) = self.by_application.get_mut(application)
        {
            set.remove(object);
            if set.is_empty() {
                self.by_application.remove(application);
            }
        }
        if let Some(id) = &known.lookup().kubernetes_id {
            let key = (object.namespace.to_string(), id.clone());
            if let Some(set) = self.by_id.get_mut(&key) {
                set.remove(object);
                if set.is_empty() {
                    self.by_id.remove(&key);
                }
            }
        }
        self.with_selector.remove(object);
        if keep == Some(&*known.entity_ref) {
            BTreeSet::new()
        } else {
            self.graph.remove(&known.entity_ref)
        }
    }

    /// Records a source object; returns the entities it concerns, before or
    /// after, when what the roll-up reads of it changed.
    pub fn source_applied(&mut self, source: SourceRef, new: Source) -> HashSet<Key> {
        let old = self.sources.get(&source).cloned();
        if old.as_ref() == Some(&new) {
            return HashSet::new();
        }
        let mut concerned = old
            .as_ref()
            .map(|old| self.concerned(&source, old))
            .unwrap_or_default();
        concerned.extend(self.concerned(&source, &new));
        self.unindex_source(&source, old.as_ref());
        if new.family == Family::ArgoCd {
            self.applications.insert(application_key(&source), source.clone());
        } else if new.family == Family::AppProject {
            self.projects.insert(source.name.clone(), source.clone());
        } else if let Some(id) = new.labels.get(KUBERNETES_ID) {
            self.sources_by_id
                .entry(labelled_key(&source, id))
                .or_default()
                .insert(source.clone());
        }
        self.sources.insert(source, new);
        concerned
    }

    /// Forgets every source object `gone` selects; returns the entities
    /// they concerned.
    pub fn forget_sources(&mut self, gone: impl Fn(&SourceRef) -> bool) -> HashSet<Key> {
        let gone: Vec<SourceRef> = self.sources.keys().filter(|s| gone(s)).cloned().collect();
        let mut concerned = HashSet::new();
        for source in gone {
            concerned.extend(self.source_deleted(&source));
        }
        concerned
    }

    /// Forgets a source object; returns the entities it concerned.
    pub fn source_deleted(&mut self, source: &SourceRef) -> HashSet<Key> {
        let Some(old) = self.sources.remove(source) else {
            return HashSet::new();
        };
        self.unindex_source(source, Some(&old));
        self.concerned(source, &old)
    }

    /// Whether an entity of this reference is in the catalog.
    pub fn contains(&self, entity_ref: &str) -> bool {
        self.graph.contains(entity_ref)
    }

    /// Forgets every entity a relist did not list; returns the entities the
    /// removals touched.
    pub fn forget_unlisted(&mut self, listed: impl Fn(&Key) -> bool) -> BTreeSet<String> {
        let gone: Vec<Key> = self
            .entities
            .keys()
            .filter(|object| !listed(object))
            .cloned()
            .collect();
        let mut touched = BTreeSet::new();
        for object in gone {
            touched.extend(self.forget_entity(&object, None));
        }
        touched
    }

    fn unindex_source(&mut self, source: &SourceRef, old: Option<&Source>) {
        if old.is_some_and(|old| old.family == Family::ArgoCd) {
            self.applications.remove(&application_key(source));
        }
        if old.is_some_and(|old| old.family == Family::AppProject) {
            self.projects.remove(&source.name);
            return;
        }
        if let Some(id) = old.and_then(|old| old.labels.get(KUBERNETES_ID)) {
            let key = labelled_key(source, id);
            if let Some(set) = self.sources_by_id.get_mut(&key) {
                set.remove(source);
                if set.is_empty() {
                    self.sources_by_id.remove(&key);
                }
            }
        }
    }

    /// The entities an object with these labels concerns.
    fn concerned(&self, source: &SourceRef, object: &Source) -> HashSet<Key> {
        let mut concerned = HashSet::new();
        if object.family == Family::ArgoCd {
            let key = application_key(source);
            concerned.extend(self.by_application.get(&key).into_iter().flatten().cloned());
            return concerned;
        }
        if object.family == Family::AppProject {
            // The entities naming an Application of this project.
            for (key, application) in &self.applications {
                if self
                    .sources
                    .get(application)
                    .is_some_and(|a| a.project.as_deref() == Some(source.name.as_str()))
                {
                    concerned.extend(self.by_application.get(key).into_iter().flatten().cloned());
                }
            }
            return concerned;
        }
        if let Some(id) = object.labels.get(KUBERNETES_ID) {
            let entities = self.by_id.get(&labelled_key(source, id));
            concerned.extend(entities.into_iter().flatten().cloned());
        }
        concerned.extend(
            self.with_selector
                .iter()
                .filter(|entity| source.namespace.as_deref() == Some(&*entity.namespace))
                .filter(|entity| {
                    self.entities
                        .get(*entity)
                        .is_some_and(|known| known.lookup().selects(&object.labels))
                })
                .cloned(),
        );
        concerned
    }

    /// The row of the Argo CD Application `(namespace, name)` an entity in
    /// `entity_namespace` names: NotFound when it does not exist or belongs
    /// to an AppProject the tenant may not use.
    fn application_row(
        &self,
        application: &(String, String),
        entity_namespace: &str,
        tenant: &TenantRules,
    ) -> (SourceRef, Normalized) {
        let (namespace, name) = application;
        let found = self
            .applications
            .get(application)
            .and_then(|source| Some((source, self.sources.get(source)?)));
        let permitted = |object: &Source| match object.project.as_deref() {
            Some(project) => {
                let labels = self
                    .projects
                    .get(project)
                    .and_then(|source| self.sources.get(source))
                    .map(|project| &project.labels);
                tenant.may_use_project(project, labels)
            }
            // Unreadable: its row tells only that, nothing of the object.
            None => true,
        };
        match found {
            Some((source, object)) if permitted(object) => (source.clone(), object.normalized.clone()),
            _ => {
                let source = SourceRef::new("argoproj.io/v1alpha1", "Application", namespace, name);
                let mut normalized = rollup::not_found(&source);
                normalized.message = Some(format!(
                    "{source} does not exist in an AppProject of namespace {entity_namespace} ({})",
                    tenant.project_rule()
                ));
                (source, normalized)
            }
        }
    }

    /// Everything the status of `entity` is computed from. `tenant` are
    /// the rules of the entity's namespace: an Application of an AppProject
    /// they do not give it (`tenancy.argocd.projects`, or the project's
    /// `projectLabel`) is not shown, as if it did not exist, so an entity
    /// cannot read another team's Application by naming it.
    pub fn observe(&self, entity: &CachedEntity, argocd_namespace: &str, tenant: &TenantRules) -> Observed {
        let namespace = entity.namespace().to_string();
        let entity_ref = relations::entity_ref(entity.kind(), &namespace, entity.name());
        // What the entity's watch event found, when the index has it.
        let unknown;
        let known = match self.entities.get(entity.key()) {
            Some(known) => known,
            None => {
                unknown = Known::of(&entity.entity(), argocd_namespace);
                &unknown
            }
        };
        let lookup = known.lookup();
        let mut sources = Vec::new();
        if let Some(application) = &lookup.application {
            sources.push(self.application_row(application, &namespace, tenant));
        }
        // Objects found by label: in the entity's own namespace only, so an
        // entity cannot show another team's objects by naming their labels.
        let mut labelled: BTreeSet<&SourceRef> = BTreeSet::new();
        if let Some(id) = &lookup.kubernetes_id {
            let key = (namespace.clone(), id.clone());
            labelled.extend(self.sources_by_id.get(&key).into_iter().flatten());
        }
        if lookup.selector.is_some() {
            labelled.extend(
                self.sources
                    .iter()
                    .filter(|(source, object)| {
                        object.family.found_by_label()
                            && source.namespace.as_deref() == Some(namespace.as_str())
                            && lookup.selects(&object.labels)
                    })
                    .map(|(source, _)| source),
            );
        }
        let mut problems = known.problems.to_vec();
        if labelled.len() > MAX_LABELLED {
            problems.push(validation::Problem {
                field: "metadata.annotations".into(),
                message: format!(
                    "{} objects carry its {KUBERNETES_ID} label or match its label selector; \
                     the first {MAX_LABELLED} by apiVersion, kind and name roll up",
                    labelled.len()
                ),
            });
        }
        for source in labelled.into_iter().take(MAX_LABELLED) {
            if let Some(object) = self.sources.get(source)
                && object.family.found_by_label()
            {
                sources.push((source.clone(), object.normalized.clone()));
            }
        }
        Observed {
            relations: self.graph.relations(&entity_ref),
            unresolved: self.graph.unresolved(&entity_ref),
            sources,
            problems,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{CatalogEntitySpec, RelationType};
    use crate::catalog::status::tests::kept;
    use kube::api::ObjectMeta;
    use serde_json::json;

    fn entity(name: &str, spec: serde_json::Value, annotations: &[(&str, &str)]) -> CatalogEntity {
        let spec: CatalogEntitySpec = serde_json::from_value(spec).unwrap();
        CatalogEntity {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                annotations: Some(
                    annotations
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                ..ObjectMeta::default()
            },
            spec,
            status: None,
        }
    }

    /// The rules of namespace `default` with `projects` listed.
    fn projects(projects: &[&str]) -> TenantRules {
        let mut rules = crate::config::Config::default().tenant("default");
        rules.argocd.projects = projects.iter().map(|p| p.to_string()).collect();
        rules
    }

    fn every_project() -> TenantRules {
        projects(&["*"])
    }

    fn component(name: &str, annotations: &[(&str, &str)]) -> CatalogEntity {
        entity(
            name,
            json!({"kind": "Component", "type": "service", "lifecycle": "production", "owner": "team-a"}),
            annotations,
        )
    }

    fn bucket(name: &str, id: &str) -> (SourceRef, Source) {
        (
            SourceRef::new("s3.services.k8s.aws/v1alpha1", "Bucket", "default", name),
            Source {
                family: Family::Ack,
                labels: [(KUBERNETES_ID.to_string(), id.to_string())].into(),
                normalized: Normalized::new(crate::api::SourceHealth::Current, "Ready", ""),
                project: None,
            },
        )
    }

    #[test]
    fn an_owner_appearing_queues_its_owned_entities() {
        let mut index = Index::default();
        assert!(index.entity_applied(&component("web", &[]), "argocd").is_empty());
        let team = entity("team-a", json!({"kind": "Group", "type": "team"}), &[]);
        let touched = index.entity_applied(&team, "argocd");
        assert_eq!(touched, BTreeSet::from(["component:default/web".to_string()]));
        let observed = index.observe(&kept(&component("web", &[])), "argocd", &every_project());
        assert!(observed.unresolved.is_empty());
        assert!(
            observed
                .relations
                .iter()
                .any(|r| r.type_ == RelationType::OwnedBy)
        );
        // Applying the same entity again touches nothing.
        assert!(index.entity_applied(&team, "argocd").is_empty());
        let touched = index.forget_entity(&object_of(&team), None);
        assert_eq!(touched, BTreeSet::from(["component:default/web".to_string()]));
    }

    #[test]
    fn sources_concern_the_entities_that_name_them() {
        let mut index = Index::default();
        let web = component(
            "web",
            &[("backstage.io/kubernetes-id", "web"), ("argocd/app-name", "web")],
        );
        let other = component("other", &[("backstage.io/kubernetes-label-selector", "team=a")]);
        index.entity_applied(&web, "argocd");
        index.entity_applied(&other, "argocd");

        let (source, object) = bucket("assets", "web");
        assert_eq!(
            index.source_applied(source.clone(), object.clone()),
            HashSet::from([object_of(&web)])
        );
        assert!(
            index.source_applied(source.clone(), object.clone()).is_empty(),
            "unchanged"
        );

        // Relabelled to the other entity's selector: both are concerned.
        let mut moved = object.clone();
        moved.labels = [("team".to_string(), "a".to_string())].into();
        assert_eq!(
            index.source_applied(source.clone(), moved),
            HashSet::from([object_of(&web), object_of(&other)])
        );
        let observed = index.observe(&kept(&other), "argocd", &every_project());
        assert_eq!(observed.sources.len(), 1);
        let observed = index.observe(&kept(&web), "argocd", &every_project());
        assert_eq!(observed.sources.len(), 1, "only the Application, not found");
        assert_eq!(observed.sources[0].1.status, crate::api::SourceHealth::NotFound);

        assert_eq!(index.source_deleted(&source), HashSet::from([object_of(&other)]));
        assert!(
            index
                .observe(&kept(&other), "argocd", &every_project())
                .sources
                .is_empty()
        );
    }

    #[test]
    fn labelled_objects_roll_up_only_within_the_entitys_namespace() {
        let mut index = Index::default();
        let web = component("web", &[("backstage.io/kubernetes-id", "web")]);
        index.entity_applied(&web, "argocd");
        let (mut source, object) = bucket("elsewhere", "web");
        source.namespace = Some("other-team".into());
        assert!(index.source_applied(source, object).is_empty());
        assert!(
            index
                .observe(&kept(&web), "argocd", &every_project())
                .sources
                .is_empty()
        );
    }

    #[test]
    fn a_selector_matching_too_many_objects_is_capped_and_said() {
        let mut index = Index::default();
        let web = component("web", &[("backstage.io/kubernetes-label-selector", "!legacy")]);
        index.entity_applied(&web, "argocd");
        for i in 0..MAX_LABELLED + 5 {
            let (source, object) = bucket(&format!("b{i:03}"), "any");
            index.source_applied(source, object);
        }
        let observed = index.observe(&kept(&web), "argocd", &every_project());
        assert_eq!(observed.sources.len(), MAX_LABELLED);
        assert!(
            observed
                .problems
                .iter()
                .any(|p| p.message.starts_with("105 objects carry")),
            "{:?}",
            observed.problems
        );
    }

    #[test]
    fn an_argocd_application_is_found_by_name_and_namespace() {
        let mut index = Index::default();
        let web = component(
            "web",
            &[("argocd/app-name", "web"), ("argocd/app-namespace", "apps")],
        );
        index.entity_applied(&web, "argocd");
        let source = SourceRef::new("argoproj.io/v1alpha1", "Application", "apps", "web");
        let object = Source {
            family: Family::ArgoCd,
            labels: BTreeMap::new(),
            normalized: Normalized::new(crate::api::SourceHealth::Failed, "Degraded", "down"),
            project: Some("apps".into()),
        };
        let elsewhere = SourceRef::new("argoproj.io/v1alpha1", "Application", "argocd", "web");
        assert!(index.source_applied(elsewhere, object.clone()).is_empty());
        assert_eq!(
            index.source_applied(source, object),
            HashSet::from([object_of(&web)])
        );
        let observed = index.observe(&kept(&web), "argocd", &every_project());
        assert_eq!(observed.sources[0].1.status, crate::api::SourceHealth::Failed);
        assert_eq!(observed.sources[0].0.namespace.as_deref(), Some("apps"));
    }

    #[test]
    fn an_application_of_a_project_the_namespace_may_not_use_is_not_shown() {
        let mut index = Index::default();
        let web = component("web", &[("argocd/app-name", "payments")]);
        index.entity_applied(&web, "argocd");
        let source = SourceRef::new("argoproj.io/v1alpha1", "Application", "argocd", "payments");
        let object = Source {
            family: Family::ArgoCd,
            labels: BTreeMap::new(),
            normalized: Normalized::new(crate::api::SourceHealth::Failed, "Degraded", "secret detail"),
            project: Some("team-a".into()),
        };
        index.source_applied(source, object);
        let hidden = index.observe(&kept(&web), "argocd", &projects(&["default"]));
        assert_eq!(hidden.sources[0].1.status, crate::api::SourceHealth::NotFound);
        let message = hidden.sources[0].1.message.clone().unwrap_or_default();
        assert!(message.contains("tenancy.argocd.projects"), "{message}");
        assert!(
            !message.contains("secret detail") && !message.contains("team-a"),
            "{message}"
        );
        let shown = index.observe(&kept(&web), "argocd", &projects(&["team-*"]));
        assert_eq!(shown.sources[0].1.status, crate::api::SourceHealth::Failed);
        // One goldpath cannot read has no project to check; its row says only that.
        let unreadable = Source {
            family: Family::ArgoCd,
            labels: BTreeMap::new(),
            normalized: Normalized::new(crate::api::SourceHealth::Unknown, "Unreadable", "too deep"),
            project: None,
        };
        let source = SourceRef::new("argoproj.io/v1alpha1", "Application", "argocd", "payments");
        index.source_applied(source, unreadable);
        let row = index.observe(&kept(&web), "argocd", &projects(&["default"]));
        assert_eq!(row.sources[0].1.status, crate::api::SourceHealth::Unknown);
    }

    #[test]
    fn an_application_of_a_project_labelled_for_the_namespace_is_shown_and_follows_the_label() {
        let mut index = Index::default();
        let web = component("web", &[("argocd/app-name", "payments")]);
        index.entity_applied(&web, "argocd");
        let application = SourceRef::new("argoproj.io/v1alpha1", "Application", "argocd", "payments");
        index.source_applied(
            application,
            Source {
                family: Family::ArgoCd,
                labels: BTreeMap::new(),
                normalized: Normalized::new(crate::api::SourceHealth::Current, "Healthy", ""),
                project: Some("shared".into()),
            },
        );
        let rules = projects(&["default"]);
        let status = |index: &Index| index.observe(&kept(&web), "argocd", &rules).sources[0].1.status;
        assert_eq!(status(&index), crate::api::SourceHealth::NotFound);
        let project = |namespace: &str| Source {
            family: Family::AppProject,
            labels: [("goldpath.dev/namespace".to_string(), namespace.to_string())].into(),
            normalized: Family::AppProject.normalize(&json!({})),
            project: Some(String::new()),
        };
        let shared = SourceRef::new("argoproj.io/v1alpha1", "AppProject", "argocd", "shared");
        // Labelled for the entity's namespace: shown, and the entity is queued.
        let concerned = index.source_applied(shared.clone(), project("default"));
        assert!(concerned.contains(&object_of(&web)), "{concerned:?}");
        assert_eq!(status(&index), crate::api::SourceHealth::Current);
        // Labelled for another namespace: hidden again, the entity queued.
        let concerned = index.source_applied(shared.clone(), project("team-a"));
        assert!(concerned.contains(&object_of(&web)), "{concerned:?}");
        assert_eq!(status(&index), crate::api::SourceHealth::NotFound);
        let message = index.observe(&kept(&web), "argocd", &rules).sources[0]
            .1
            .message
            .clone()
            .unwrap_or_default();
        assert!(message.contains("goldpath.dev/namespace=default"), "{message}");
        index.source_applied(shared.clone(), project("default"));
        let concerned = index.source_deleted(&shared);
        assert!(concerned.contains(&object_of(&web)), "{concerned:?}");
        assert_eq!(status(&index), crate::api::SourceHealth::NotFound);
        // An AppProject is never a row of its own, whatever selects it.
        let selecting = entity(
            "selecting",
            json!({"kind": "Component", "type": "service", "lifecycle": "production", "owner": "team-a"}),
            &[(
                "backstage.io/kubernetes-label-selector",
                "goldpath.dev/namespace=default",
            )],
        );
        let mut in_argocd = selecting.clone();
        in_argocd.metadata.namespace = Some("argocd".into());
        index.entity_applied(&in_argocd, "argocd");
        index.source_applied(shared, project("default"));
        assert!(
            index
                .observe(&kept(&in_argocd), "argocd", &rules)
                .sources
                .is_empty()
        );
    }

    #[test]
    fn a_kind_change_moves_the_entity_in_the_graph() {
        let mut index = Index::default();
        index.entity_applied(&component("web", &[]), "argocd");
        let team = entity("team-a", json!({"kind": "Group", "type": "team"}), &[]);
        index.entity_applied(&team, "argocd");
        // team-a becomes a User: the component's owner (a Group) no longer resolves.
        let user = entity("team-a", json!({"kind": "User"}), &[]);
        let touched = index.entity_applied(&user, "argocd");
        assert_eq!(touched, BTreeSet::from(["component:default/web".to_string()]));
        assert!(index.graph.contains("user:default/team-a"));
        assert!(!index.graph.contains("group:default/team-a"));
    }
}
