# The commands the README names. `make test` is what CI runs.
.PHONY: test setup lint unit fuzz-short e2e static crds readme fuzz bench bench-drain bench-catalog bench-catalog-memory bench-soak bench-portal bench-forge

test: setup lint unit fuzz-short e2e static

setup:
	hack/setup

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets --all-features --locked -- -D warnings

unit:
	cargo test --locked

# Each fuzz target for a bounded time (README: Fuzzing).
fuzz-short:
	FUZZ_SECONDS=$${FUZZ_SECONDS:-30} hack/fuzz

# Each fuzz target for 1,000,000 executions, and 1,000,000 generated cases
# rendered by goldpath and Backstage's engine (README: Against Backstage's engine).
fuzz:
	hack/fuzz
	GOLDPATH_NUNJUCKS_CASES=1000000 cargo test --locked --test nunjucks generated -- --nocapture

# Against a real control plane and git server on loopback (e2e/up): the
# Helm chart (hack/chart-check), then the end-to-end tests.
e2e:
	e2e/test

# The static binary the Dockerfile's image holds, built the same way.
static:
	hack/build-static

# Regenerates crds/ from the Rust types (the chart's crds/goldpath.yaml is a
# link to it); `make unit` fails when they differ.
crds:
	cargo run --quiet -- crds > crds/goldpath.yaml

# Regenerates README.md's action reference from the action definitions
# (`goldpath actions`); `make unit` fails when they differ.
readme:
	hack/readme-actions

# Figures, not tests: goldpath against cookiecutter and copier (bench/README.md).
bench:
	bench/run

# Figures: 1,000 ScaffoldRequests drained on the e2e control plane (bench/README.md).
bench-drain:
	bench/drain

# Figures: a 10,000-entity catalog (BENCH_ENTITIES=100000: 100,000) on the e2e control plane (bench/README.md).
bench-catalog:
	bench/catalog

# Figures: bytes the operator holds per catalog entity, by part, beside untyped objects; no cluster (bench/README.md).
bench-catalog-memory:
	cargo run --locked --example catalog-memory -- $${BENCH_ENTITIES:-10000}

# Figures: ten minutes of load and hostile input on the e2e control plane (bench/README.md).
bench-soak:
	bench/soak

# Figures: 200 tasks through the portal API beside 200 direct creates (bench/README.md).
bench-portal:
	bench/portal

# Figures: 200 requests published to Gitea beside the same 200 to Soft Serve (bench/README.md).
bench-forge:
	bench/forge
