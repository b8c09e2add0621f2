# The commands the README names. `make test` is what CI runs.
.PHONY: test setup lint unit crds

test: setup lint unit

setup:
	hack/setup

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets --locked -- -D warnings

unit:
	cargo test --locked

# Regenerates crds/ from the Rust types; `make unit` fails when they differ.
crds:
	cargo run --quiet -- crds > crds/goldpath.yaml
