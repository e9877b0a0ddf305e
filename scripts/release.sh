#!/usr/bin/env bash
# Builds the release artifacts from one release build, into target/dist/:
#   vcgate_<version>-1_amd64.deb            Debian package (cargo deb, metadata in Cargo.toml)
#   vcgate-<version>-x86_64-linux.tar.gz    binary, config, unit, sysctl drop-in, scripts,
#                                           examples, completions, man pages, docs, LICENSE,
#                                           contrib/ (Prometheus rules, Grafana dashboard)
#   SHA256SUMS                              of both
#
# The binary links glibc dynamically (it needs glibc >= the version printed
# at the end; Debian 12 has 2.36): a static musl build needs a musl C
# toolchain for the bundled SQLite and the TLS crypto (Debian's musl-tools),
# which this build does not require.
#
# Usage: scripts/release.sh          (installs cargo-deb when missing)
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
target_dir=${CARGO_TARGET_DIR:-target}
assets=target/assets   # paths the [package.metadata.deb] assets name
dist=target/dist
name="vcgate-${version}-x86_64-linux"

if ! command -v cargo-deb >/dev/null 2>&1; then
  echo "release.sh: installing cargo-deb (once; cached in ~/.cargo/bin)"
  cargo install cargo-deb --locked
fi

cargo build --release --locked
bin="$target_dir/release/vcgate"

# Completions and man pages come from the clap definitions of this build.
rm -rf "$assets" "$dist"
mkdir -p "$assets/completions" "$assets/man" "$dist"
"$bin" completions bash > "$assets/completions/vcgate.bash"
"$bin" completions zsh > "$assets/completions/_vcgate"
"$bin" completions fish > "$assets/completions/vcgate.fish"
"$bin" man "$assets/man"
gzip -9n "$assets"/man/*.1

# --strip: the release profile keeps line tables for backtraces; the package does not.
cargo deb --no-build --strip --output "$dist/"

# The archive: what the package installs, in one directory, owned by root,
# with the last commit's time (same tree, same bytes).
stage="target/release-stage/$name"
rm -rf "target/release-stage"
mkdir -p "$stage"/{systemd,scripts,examples/functions,examples/veba,completions,man,docs,contrib/prometheus,contrib/grafana}
strip --strip-unneeded -o "$stage/vcgate" "$bin"
cp debian/vcgate.toml "$stage/vcgate.toml"
cp config/vcgate.example.toml "$stage/"
cp debian/vcgate.service "$stage/systemd/"
cp debian/60-vcgate.conf "$stage/systemd/60-vcgate.sysctl.conf"
cp scripts/vcsa-alarm-hook.sh scripts/install-vcsa-hook.sh "$stage/scripts/"
cp examples/README.md examples/vcgate.toml "$stage/examples/"
cp examples/functions/set-vmattributes.py "$stage/examples/functions/"
cp examples/veba/README.md examples/veba/handler.py examples/veba/vcgate-veba-adapter.py "$stage/examples/veba/"
cp "$assets"/completions/* "$stage/completions/"
cp "$assets"/man/*.1.gz "$stage/man/"
cp docs/operations.md docs/coming-from-veba-and-dispatch.md "$stage/docs/"
cp contrib/prometheus/vcgate.rules.yml contrib/prometheus/vcgate.rules.test.yml "$stage/contrib/prometheus/"
cp contrib/grafana/vcgate.json "$stage/contrib/grafana/"
cp LICENSE README.md CHANGELOG.md "$stage/"
mtime=$(git log -1 --format=%ct 2>/dev/null || date +%s)
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$mtime" \
  -C target/release-stage -cf - "$name" | gzip -9n > "$dist/$name.tar.gz"
rm -rf target/release-stage

(cd "$dist" && sha256sum -- *.deb *.tar.gz > SHA256SUMS)

glibc=$(objdump -T "$bin" | grep -o 'GLIBC_[0-9.]*' | sort -Vu | tail -n1)
echo "release.sh: artifacts in $dist (binary needs ${glibc/_/ } or newer):"
(cd "$dist" && ls -l -- *)
