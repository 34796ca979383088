#!/usr/bin/env bash
# Build hinedockd's packages into OUTDIR (default dist/):
#   - the wheel and the sdist;
#   - a DEB (and, where rpmbuild exists, an RPM) holding a self-contained virtual
#     environment under /opt/hinedockd built with the system's python3 (>= 3.11),
#     the systemd unit, an example config in /etc/hinedockd/, and /opt/hinedockd/compat/
#     with the report's command names, to link into /opt/hinemos_agent/docker/bin.
# The venv is made for the interpreter of the machine that builds it: build the RPM on
# RHEL/Rocky 8 or 9 (python3.11 package), the DEB on the Debian/Ubuntu release it is for.
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(realpath -m "${1:-dist}")"
python="${PYTHON:-/usr/bin/python3}"
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

version="$("$python" -c 'import tomllib; print(tomllib.load(open("pyproject.toml","rb"))["project"]["version"])')"

# 1. wheel and sdist
"$python" -m venv "$work/build-venv"
"$work/build-venv/bin/pip" install -q --disable-pip-version-check build
"$work/build-venv/bin/python" -m build --outdir "$out" . >/dev/null

# 2. the tree: a venv built in place under the staging root, then made to live at
#    /opt/hinedockd (only the scripts' first lines name their interpreter's path)
stage="$work/root"
venv="$stage/opt/hinedockd"
"$python" -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check "$out/hinedockd-$version-py3-none-any.whl"
for f in "$venv"/bin/*; do
  if [ -f "$f" ] && head -c 2 "$f" | grep -q '#!'; then
    sed -i "1s|^#!$venv/bin/|#!/opt/hinedockd/bin/|" "$f"
  fi
done
sed -i "s|$venv|/opt/hinedockd|g" "$venv"/bin/activate*
rm -rf "$venv"/lib/python3*/site-packages/pip* "$venv"/bin/pip*
mkdir -p "$venv/compat" "$stage/etc/hinedockd" "$stage/lib/systemd/system"
for cmd in "$venv"/bin/*.py; do ln -s "../bin/$(basename "$cmd")" "$venv/compat/$(basename "$cmd")"; done
cp config.toml "$stage/etc/hinedockd/config.toml"
cp systemd/hinedockd.service "$stage/lib/systemd/system/hinedockd.service"
cp README.md README.ja.md "$venv/"

# 3. DEB
arch="$(dpkg --print-architecture 2>/dev/null || uname -m)"
mkdir -p "$stage/DEBIAN"
cat > "$stage/DEBIAN/control" <<EOF
Package: hinedockd
Version: $version
Architecture: $arch
Maintainer: hinedockd developers <hinedockd@localhost>
Depends: python3 (>= 3.11)
Section: admin
Priority: optional
Description: Docker under Hinemos: events, stats, repository sync and jobs
 A daemon that follows Docker hosts' events and stats streams, keeps the Hinemos
 node repository in step, sends events to syslog, and a client for Hinemos custom
 monitors and jobs, compatible with the 2015 report's scripts.
EOF
echo "/etc/hinedockd/config.toml" > "$stage/DEBIAN/conffiles"
cat > "$stage/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if ! getent group hinedockd >/dev/null; then groupadd --system hinedockd; fi
if ! getent passwd hinedockd >/dev/null; then
  useradd --system --gid hinedockd --home-dir /var/lib/hinedockd --shell /usr/sbin/nologin hinedockd
fi
if getent group docker >/dev/null; then usermod -a -G docker hinedockd || true; fi
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
exit 0
EOF
chmod 0755 "$stage/DEBIAN/postinst"
dpkg-deb --root-owner-group --build "$stage" "$out/hinedockd_${version}_${arch}.deb" >/dev/null
rm -rf "$stage/DEBIAN"

# 4. RPM (binary, from the same tree)
if command -v rpmbuild >/dev/null 2>&1; then
  mkdir -p "$work/rpm"/{BUILD,RPMS,SPECS,SOURCES,BUILDROOT}
  cat > "$work/rpm/SPECS/hinedockd.spec" <<EOF
Name: hinedockd
Version: $version
Release: 1
Summary: Docker under Hinemos: events, stats, repository sync and jobs
License: Apache-2.0
Requires: python3 >= 3.11
AutoReqProv: no
%global __os_install_post %{nil}
%global debug_package %{nil}
%description
A daemon that follows Docker hosts' events and stats streams, keeps the Hinemos node
repository in step, sends events to syslog, and a client for Hinemos custom monitors.
%install
mkdir -p %{buildroot}
cp -a $stage/. %{buildroot}/
%pre
getent group hinedockd >/dev/null || groupadd --system hinedockd
getent passwd hinedockd >/dev/null || useradd --system --gid hinedockd --home-dir /var/lib/hinedockd --shell /sbin/nologin hinedockd
exit 0
%files
/opt/hinedockd
%config(noreplace) /etc/hinedockd/config.toml
/lib/systemd/system/hinedockd.service
EOF
  rpmbuild --quiet --define "_topdir $work/rpm" -bb "$work/rpm/SPECS/hinedockd.spec" >/dev/null 2>&1 \
    || rpmbuild --define "_topdir $work/rpm" -bb "$work/rpm/SPECS/hinedockd.spec"
  cp "$work"/rpm/RPMS/*/*.rpm "$out/"
fi
ls -1 "$out"
