# goldpath's image: a static binary (built by hack/build-static, the same
# script CI runs) on a distroless, non-root base with CA certificates.
#
#   docker build -t goldpath:0.1.0 .
#   docker run --rm goldpath:0.1.0 --help

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# The caches only speed up rebuilds; the binary is copied out of them.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    hack/build-static /out/goldpath

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/goldpath /goldpath
USER 65532:65532
ENTRYPOINT ["/goldpath"]
CMD ["run"]
