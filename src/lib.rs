//! goldpath: the Backstage scaffolder and software catalog as a Kubernetes
//! operator.

pub mod api;
pub mod cli;
