# verified-proxy in a container (Debian bookworm), run as the unprivileged user
# verified-proxy (uid 10001). Build and run:
#   docker build -t verified-proxy .
#   docker run --rm -p 127.0.0.1:8080:8080 -v verified-proxy-cache:/var/cache/verified-proxy verified-proxy
# The proxy has no client authentication: publish the port on 127.0.0.1 only. Extra
# arguments are appended to `serve` (e.g. `--log-level debug`); a config file mounted at
# /etc/verified-proxy/config.toml is read; `--entrypoint verified-proxy IMAGE --version`
# runs another command.

FROM debian:bookworm AS build
WORKDIR /src
COPY scripts/install-deps scripts/install-deps
RUN VP_BUILD_ONLY=1 scripts/install-deps && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DVP_BUILD_TESTS=OFF -DVP_BUILD_BENCH=OFF \
 && cmake --build /build --target verified-proxy \
 && DESTDIR=/staging cmake --install /build --strip --component proxy --prefix /usr/local

FROM debian:bookworm-slim
# Exactly the libraries the program links (ldd), by Debian package; packaging/tests/
# container_packages_test.sh fails when the build links one not listed here.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates \
      libc6 libgcc-s1 libstdc++6 \
      libssl3 libsodium23 libcrypto++8 libsecp256k1-1 \
      libboost-json1.81.0 libboost-url1.81.0 libboost-program-options1.81.0 libtomlplusplus3 \
      libtcmalloc-minimal4 \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --system --user-group --uid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin verified-proxy \
 && install -d -o verified-proxy -g verified-proxy -m 0700 /var/cache/verified-proxy
COPY --from=build /staging/usr/local/bin/verified-proxy /usr/local/bin/verified-proxy

USER verified-proxy
# As the systemd unit: the default config file is /etc/verified-proxy/config.toml and the
# collateral cache /var/cache/verified-proxy/collateral, kept across restarts in a volume.
ENV XDG_CONFIG_HOME=/etc XDG_CACHE_HOME=/var/cache
VOLUME ["/var/cache/verified-proxy"]
EXPOSE 8080
# 0.0.0.0 inside the container so that the published port reaches it; the host side
# decides who can connect (-p 127.0.0.1:8080:8080). A flag here would override the
# config file, so the port is the default, 8080.
ENTRYPOINT ["/usr/local/bin/verified-proxy", "serve", "--host", "0.0.0.0"]
