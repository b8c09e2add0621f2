//! The catalog's pure logic: what a CatalogEntity's status says, computed
//! from its spec and from the objects that roll up into it. No I/O here; the
//! CatalogEntity controller reads objects, calls these functions and writes
//! what they return.
//!
//! - [`rollup`]: normalizing Argo CD, ACK and KubeVela objects to kstatus
//!   (`Current | InProgress | Failed | Unknown | NotFound`), aggregating them
//!   into the entity's health, the progress deadline, and the
//!   `Ready`/`Reconciling`/`Stalled` conditions.
//! - [`relations`]: the relations Backstage derives from an entity's spec,
//!   and an incremental graph that answers every entity's relations in both
//!   directions and which entities a change touches.
//! - [`validation`]: Backstage's rules for names, tags, labels, annotations,
//!   required fields per kind and entity references, as problems that name
//!   the field.
//! - [`lookup`] and [`selector`]: which objects roll up into an entity, by
//!   Backstage's annotations and label selectors.
//! - [`index`]: the entities and source objects the controller's watches
//!   saw, which entities a change concerns, and what an entity's status reads.
//! - [`cached`]: what the catalog keeps of each entity between its
//!   changes, compact, since every entity is held for as long as the
//!   operator runs.
//! - [`store`]: every entity as the watch last saw it, kept that way, by
//!   namespace and name.
//! - [`status`]: the whole status of an entity from what was observed.
//! - [`backstage`]: Backstage's entity format, both ways.
//! - [`query`]: Backstage's catalog queries (filter, fields, ordering,
//!   paging, facets) over entities in that format.
//! - [`figures`]: counts a platform team reports (kinds, ownership, docs).

pub mod backstage;
pub mod cached;
pub mod figures;
pub mod index;
pub mod lookup;
pub mod query;
pub mod relations;
pub mod rollup;
pub mod selector;
pub mod status;
pub mod store;
pub mod validation;
