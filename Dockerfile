# tranche in a container: built with the workspace's locked dependencies, run as a user of its
# own, every key and the SQLite database in the /data volume.
#
#   docker build -t tranche .
#   docker run -p 8080:8080 -v tranche-data:/data tranche            # SQLite in the volume
#   docker run -p 8080:8080 -v tranche-data:/data -e DATABASE_URL=postgres://… tranche
#
# The build stage runs the same commands as CI's `.ci/build-release` (`cargo install`, locked).

FROM rust:1.85-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo install --locked --path api --root /out --bin tranche \
 && cargo install --locked --path audit --root /out --bin tranche-verify

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin tranche \
 && mkdir -p /data && chown tranche:tranche /data && chmod 0700 /data
COPY --from=build /out/bin/tranche /out/bin/tranche-verify /usr/local/bin/
USER tranche
VOLUME /data
ENV TRANCHE_DATA_DIR=/data \
    TRANCHE_LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["tranche"]
CMD ["serve"]
