//! goldpath: the Backstage scaffolder and software catalog as a Kubernetes
//! operator.

pub mod actions;
pub mod api;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod controller;
pub mod engine;
pub mod forge;
pub mod git;
pub mod portal;
pub mod redact;
pub mod scaffold;
pub mod telemetry;
pub mod template_check;
pub mod tenancy;
pub mod yaml;
