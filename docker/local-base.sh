#!/bin/sh
# Makes a local stand-in for the official node:22-bookworm-slim image, for machines that reach only
# Debian's package mirrors and the npm registry (no Docker Hub). The Dockerfile builds on it with
#
#   docker/local-base.sh localhost/lan-reflector-base:22-bookworm-slim
#   buildah bud --build-arg NODE_IMAGE=localhost/lan-reflector-base:22-bookworm-slim -f docker/Dockerfile .
#
# What it holds, and where each part comes from:
#   Debian 12 (bookworm) minbase   debootstrap, from the Debian mirror (MIRROR)
#   slimmed like debian:*-slim     the same dpkg path-excludes (docs, man pages, locales)
#   Node 22 in /usr/local          the npm registry's node-linux-<arch> package, the version
#                                  package-lock.json pins for the `node` dev dependency
#   npm 10 in /usr/local           the npm registry's npm package (the node:22 image ships npm 10)
# The layout (/usr/local/bin/node, /usr/local/include/node, /usr/local/lib/node_modules/npm) is the
# official image's, so the Dockerfile needs no branch for it.
#
# Needs root, debootstrap, npm and podman (the result goes into the containers storage that podman
# and buildah share). Prints the image name last.
set -eu

tag=${1:-localhost/lan-reflector-base:22-bookworm-slim}
here=$(cd "$(dirname "$0")/.." && pwd)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}
NPM_VERSION=${NPM_VERSION:-10.9.9}
NODE_VERSION=${NODE_VERSION:-$(sed -n '/"node_modules\/node": {/,/}/s/.*"version": "\([^"]*\)".*/\1/p' "$here/package-lock.json")}
[ -n "$NODE_VERSION" ] || { echo "local-base: cannot read the node version from package-lock.json" >&2; exit 1; }

case $(dpkg --print-architecture) in
  amd64) node_arch=x64 ;;
  arm64) node_arch=arm64 ;;
  *) echo "local-base: only amd64 and arm64 are built" >&2; exit 1 ;;
esac
for tool in debootstrap npm podman; do
  command -v "$tool" >/dev/null || { echo "local-base: $tool is missing (apt-get install $tool)" >&2; exit 1; }
done

work=$(mktemp -d /var/tmp/lan-reflector-base.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
root=$work/rootfs

# The slim variant's rule set (debuerreotype's --slimify): dpkg leaves these paths out of every
# package installed from now on, and the ones debootstrap already unpacked are deleted below.
mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/man/*
EOF
debootstrap --variant=minbase bookworm "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 ||
  { tail -20 "$work/debootstrap.log" >&2; exit 1; }
find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$root/usr/share/groff" "$root/usr/share/info" "$root/usr/share/linda" "$root/usr/share/lintian" "$root/usr/share/man"
find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
# As in the official image: apt keeps no .deb files and no package lists in a layer.
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
cat >"$root/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb $SECURITY_MIRROR bookworm-security main
EOF
rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"* "$root/var/log/"*

# Node and npm from the npm registry, unpacked where the official image has them.
(cd "$work" && npm pack --silent "node-linux-$node_arch@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
mkdir -p "$root/usr/local/lib/node_modules/npm"
tar -xzf "$work/node-linux-$node_arch-$NODE_VERSION.tgz" -C "$root/usr/local" --strip-components=1 \
  package/bin/node package/include/node
tar -xzf "$work/npm-$NPM_VERSION.tgz" -C "$root/usr/local/lib/node_modules/npm" --strip-components=1
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
chroot "$root" /usr/local/bin/node --version >/dev/null

tar -C "$root" -c . | podman import --quiet \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "ENV NODE_VERSION=$NODE_VERSION" \
  --change 'CMD ["node"]' \
  - "$tag" >/dev/null
echo "$tag"
