# A static goldpath binary on a distroless, non-root base.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin goldpath

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/goldpath /goldpath
USER 65532:65532
ENTRYPOINT ["/goldpath"]
