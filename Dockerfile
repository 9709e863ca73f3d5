# The image `c1m k8s` names by default (c1m:VERSION): c1m on PATH, and
# sh, timeout and getent for the init container of
# `c1m k8s job --with-server`. Build and push where your cluster pulls:
#   docker build -t c1m:0.1.0 . && docker tag c1m:0.1.0 REGISTRY/c1m:0.1.0
# (not built by the tests: they have no container runtime or registry).
FROM rust:1.88-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin c1m

FROM debian:bookworm-slim
COPY --from=build /src/target/release/c1m /usr/local/bin/c1m
ENTRYPOINT ["c1m"]
