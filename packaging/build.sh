#!/usr/bin/env bash
# Build hinedockd's packages into OUTDIR (default dist/), for managers that have no
# internet access:
#   - the wheel and the sdist;
#   - hinedockd-VERSION-RELEASE.el8.x86_64.rpm and .el9 (RHEL/Rocky/Alma 8.8+ and 9,
#     Requires: python3.11) and hinedockd_VERSION-RELEASE_amd64.deb (Debian 12, Ubuntu
#     24.04; Ubuntu 22.04 with python3.11 and python3.11-venv).
# Each package carries a wheelhouse: hinedockd's wheel and every dependency as a
# manylinux x86_64 wheel for CPython 3.11 (and 3.12 in the DEB, for Ubuntu 24.04),
# downloaded here with `pip download --only-binary=:all: --platform …`. Nothing is
# built for, or fetched on, the server: the post-install script runs
# /opt/hinedockd/libexec/make-venv, which makes the virtual environment from those wheels
# with `pip install --no-index` and switches to it only once it works.
# RELEASE=N sets the package release (default 1); PYTHON the interpreter that builds.
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(realpath -m "${1:-dist}")"
python="${PYTHON:-/usr/bin/python3}"
release="${RELEASE:-1}"
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

version="$("$python" -c 'import tomllib; print(tomllib.load(open("pyproject.toml","rb"))["project"]["version"])')"

# 1. wheel and sdist
"$python" -m venv "$work/build-venv"
pip="$work/build-venv/bin/pip"
"$pip" install -q --disable-pip-version-check build
"$work/build-venv/bin/python" -m build --outdir "$out" . >/dev/null
wheel="$out/hinedockd-$version-py3-none-any.whl"

# 2. the wheelhouses: binary wheels only, for the servers' platform and Python
#    (manylinux2014 = glibc 2.17; manylinux_2_28 = RHEL 8's glibc 2.28, the oldest here)
wheelhouse() {  # DIR PYTHON_VERSION...
  local dir="$1"; shift
  mkdir -p "$dir"
  for py in "$@"; do
    "$pip" download -q --disable-pip-version-check --dest "$dir" --only-binary=:all: \
      --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux_2_28_x86_64 --implementation cp --python-version "$py" \
      --abi "cp${py/./}" --abi abi3 --abi none "$wheel"
  done
  echo "$version" > "$dir/VERSION"
}
wheelhouse "$work/wheels-rpm" 3.11
wheelhouse "$work/wheels-deb" 3.11 3.12

# 3. the tree both packages install
stage() {  # ROOT WHEELHOUSE UNIT_DIR
  local root="$1" top="$1/opt/hinedockd"
  mkdir -p "$top/libexec" "$top/compat" "$top/wheelhouse" "$root/etc/hinedockd" "$root$3"
  cp "$2"/* "$top/wheelhouse/"
  install -m 0755 packaging/make-venv "$top/libexec/make-venv"
  ln -s current/bin "$top/bin"
  # The report's command names, to link into /opt/hinemos_agent/docker/bin.
  "$python" - "$top/compat" <<'PY'
import os, sys, tomllib
scripts = tomllib.load(open("pyproject.toml", "rb"))["project"]["scripts"]
for name in scripts:
    if name.endswith(".py"):
        os.symlink(f"../bin/{name}", os.path.join(sys.argv[1], name))
PY
  cp README.md README.ja.md "$top/"
  # The example; the post-install script makes config.toml from it when there is none,
  # and no upgrade or removal touches config.toml after that.
  cp config.toml "$root/etc/hinedockd/config.toml.example"
  cp systemd/hinedockd.service "$root$3/hinedockd.service"
}

# What both post-install scripts do (sh, as root): the user and group, the state
# directory, config.toml from the example, the venv; then the unit is reloaded.
post_install='getent group hinedockd >/dev/null || groupadd --system hinedockd
getent passwd hinedockd >/dev/null || useradd --system --gid hinedockd --home-dir /var/lib/hinedockd --shell /sbin/nologin hinedockd
if getent group docker >/dev/null; then usermod -a -G docker hinedockd || true; fi
install -d -m 0750 -o hinedockd -g hinedockd /var/lib/hinedockd
if [ ! -e /etc/hinedockd/config.toml ]; then
  install -m 0640 -o root -g hinedockd /etc/hinedockd/config.toml.example /etc/hinedockd/config.toml
fi
/opt/hinedockd/libexec/make-venv || exit 1
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi'
# Removal (not upgrade): stop the daemon; afterwards the environments go, the config
# and /var/lib/hinedockd stay.
pre_remove='if [ -d /run/systemd/system ]; then systemctl disable --now hinedockd >/dev/null 2>&1 || true; fi'
post_remove='rm -rf /opt/hinedockd/venvs /opt/hinedockd/current /opt/hinedockd/current.new
rmdir /opt/hinedockd 2>/dev/null || true'
# Upgrade: the running daemon moves to the new environment.
restart='if [ -d /run/systemd/system ]; then systemctl try-restart hinedockd || true; fi'

# 4. DEB
deb_root="$work/deb"
stage "$deb_root" "$work/wheels-deb" /lib/systemd/system
mkdir -p "$deb_root/DEBIAN"
cat > "$deb_root/DEBIAN/control" <<EOF
Package: hinedockd
Version: $version-$release
Architecture: amd64
Maintainer: hinedockd developers <hinedockd@localhost>
Depends: python3 (>= 3.11) | python3.11, python3-venv | python3.11-venv, passwd
Section: admin
Priority: optional
Description: Docker under Hinemos: events, stats, repository sync and jobs
 A daemon that follows Docker hosts' events and stats streams, keeps the Hinemos
 node repository in step, sends events to syslog, and a client for Hinemos custom
 monitors and jobs, compatible with the 2015 report's scripts. Installs offline: its
 dependencies are in /opt/hinedockd/wheelhouse.
EOF
echo "/etc/hinedockd/config.toml.example" > "$deb_root/DEBIAN/conffiles"
printf '#!/bin/sh\nset -e\nif [ "$1" = configure ]; then\n%s\nif [ -n "${2:-}" ]; then\n%s\nfi\nfi\nexit 0\n' \
  "$post_install" "$restart" > "$deb_root/DEBIAN/postinst"
printf '#!/bin/sh\nset -e\nif [ "$1" = remove ]; then\n%s\nfi\nexit 0\n' "$pre_remove" \
  > "$deb_root/DEBIAN/prerm"
printf '#!/bin/sh\nset -e\nif [ "$1" = remove ] || [ "$1" = purge ]; then\n%s\nfi\nif [ "$1" = purge ]; then rm -f /etc/hinedockd/config.toml; fi\nexit 0\n' \
  "$post_remove" > "$deb_root/DEBIAN/postrm"
chmod 0755 "$deb_root/DEBIAN/postinst" "$deb_root/DEBIAN/prerm" "$deb_root/DEBIAN/postrm"
dpkg-deb --root-owner-group --build "$deb_root" "$out/hinedockd_${version}-${release}_amd64.deb" >/dev/null

# 5. RPMs (binary, from the same tree), one per RHEL release: the same files, named
#    for the release they were tested against
if command -v rpmbuild >/dev/null 2>&1; then
  rpm_root="$work/rpm-root"
  stage "$rpm_root" "$work/wheels-rpm" /usr/lib/systemd/system
  mkdir -p "$work/rpm"/{BUILD,RPMS,SPECS,SOURCES,BUILDROOT}
  cat > "$work/rpm/SPECS/hinedockd.spec" <<EOF
Name: hinedockd
Version: $version
Release: $release%{?dist}
Summary: Docker under Hinemos: events, stats, repository sync and jobs
License: Apache-2.0
BuildArch: x86_64
Requires: python3.11
Requires(pre): shadow-utils
AutoReqProv: no
%global __os_install_post %{nil}
%global debug_package %{nil}
%description
A daemon that follows Docker hosts' events and stats streams, keeps the Hinemos node
repository in step, sends events to syslog, and a client for Hinemos custom monitors.
Installs offline: its dependencies are in /opt/hinedockd/wheelhouse (CPython 3.11
manylinux wheels); the post-install script makes /opt/hinedockd/current from them.
%install
mkdir -p %{buildroot}
cp -a $rpm_root/. %{buildroot}/
%post
$post_install
if [ "\$1" -ge 2 ]; then
$restart
fi
%preun
if [ "\$1" -eq 0 ]; then
$pre_remove
fi
%postun
if [ "\$1" -eq 0 ]; then
$post_remove
fi
%files
/opt/hinedockd
%config(noreplace) /etc/hinedockd/config.toml.example
%dir /etc/hinedockd
/usr/lib/systemd/system/hinedockd.service
EOF
  for dist in el8 el9; do
    rpmbuild --quiet --define "_topdir $work/rpm" --define "dist .$dist" \
      -bb "$work/rpm/SPECS/hinedockd.spec" >/dev/null 2>&1 \
      || rpmbuild --define "_topdir $work/rpm" --define "dist .$dist" -bb "$work/rpm/SPECS/hinedockd.spec"
  done
  cp "$work"/rpm/RPMS/*/*.rpm "$out/"
fi
ls -1 "$out"
