//! End-to-end tests against a real control plane and git server on
//! loopback (`e2e/up`). Run with `make e2e`, or
//! `cargo test --features e2e --test e2e`.

// Tests report failures by panicking.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod approvals;
mod autocomplete;
mod cancel_retry;
mod catalog;
mod clients;
mod control_plane;
mod forge;
mod gated;
mod harness;
#[path = "../support/npm.rs"]
mod npm;
mod openapi;
mod operations;
mod portal;
mod portal_catalog;
mod portal_tasks;
mod robustness;
mod scaffold;
mod scaffolder_api;
mod tenancy;
mod tenancy_cluster;
mod upgrades;
