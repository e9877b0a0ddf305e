#!/usr/bin/env bash
# Builds the vCenter simulator harness (tests/vcsim) to tests/vcsim/bin/vcsim
# from Debian's golang-go + golang-github-vmware-govmomi-dev (no network).
# Idempotent: does nothing when the binary is newer than every source file.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
src="$root/tests/vcsim"
bin="$src/bin/vcsim"
gocode=/usr/share/gocode

if [[ -x "$bin" ]] && [[ -z "$(find "$src" -maxdepth 1 -name '*.go' -newer "$bin")" ]] \
    && [[ "$bin" -nt "$0" ]]; then
    exit 0
fi

command -v go >/dev/null || { echo "build-vcsim: 'go' not found (apt-get install golang-go)" >&2; exit 1; }
[[ -d "$gocode/src/github.com/vmware/govmomi/simulator" ]] || {
    echo "build-vcsim: govmomi sources missing (apt-get install golang-github-vmware-govmomi-dev)" >&2; exit 1; }

# Go needs a build cache; without HOME (some CI runners) keep it beside the
# binary (tests/vcsim/bin is gitignored).
if [[ -z "${GOCACHE:-}" ]] && [[ "$(go env GOCACHE 2>/dev/null)" =~ ^(off)?$ ]]; then
    export GOCACHE="$src/bin/.gocache"
fi

# GOPATH mode: Debian ships the library as GOPATH sources, not as a module.
# The package must live inside a GOPATH, so link it into a private one.
gopath="$(mktemp -d)"
trap 'rm -rf "$gopath"' EXIT
mkdir -p "$gopath/src/vcgate"
ln -s "$src" "$gopath/src/vcgate/vcsim"
mkdir -p "$src/bin"

tmp="$bin.tmp.$$"
(cd "$gopath/src/vcgate/vcsim" && GO111MODULE=off GOPATH="$gopath:$gocode" GOFLAGS= \
    go build -o "$tmp" .)
mv -f "$tmp" "$bin"   # atomic: a parallel reader never sees half a binary
echo "build-vcsim: built $bin" >&2
