#!/usr/bin/env bash
# Today's Docker host for the real-engine suites: Debian 13 (kernel 6.12, cgroup v2 with
# every controller), Debian's Docker Engine 26 and Podman 5, snmpd; a VM reached over TCP
# on loopback ports, as a remote Docker host is reached from the Hinemos manager.
#
#   todays-host.sh build   debootstrap a root fs and make its disk image (once; about
#                          3 min and 1.3 GB; kept for the next runs)
#   todays-host.sh start   boot it in the background, the image read-only (qemu -snapshot:
#                          every run starts from the same clean host)
#   todays-host.sh wait    until both engines answer (about 1-2 min after start)
#   todays-host.sh stop    power it off
#
# Where: HINEDOCK_VM_DIR (default /var/cache/hinedockd-test-vm). Ports on 127.0.0.1, the
# tests' defaults (tests/realparts.py): Docker 23750, Podman 23888, snmpd udp 16100
# (community "public"). The guest's network is qemu's user mode with no default route:
# it reaches nothing beyond qemu's own subnet; only the forwarded ports reach it (qemu's
# restrict=on would do it too, but it drops the UDP answers of a forwarded port, so
# snmpd never answered). The tests import their
# busybox image into each engine themselves (tests/realparts.py ensure_image).
#
# Software emulation (TCG): slow (a `docker run` takes about 4 s) and busy on both cores
# while the guest works; CI runs the VM's tests last, after this machine's engines'. The
# /dev/kvm of these machines is not hardware-assisted and runs a stock kernel far slower.
set -euo pipefail
dir=${HINEDOCK_VM_DIR:-/var/cache/hinedockd-test-vm}
docker_port=23750 podman_port=23888 snmp_port=16100
# The recipe's version: a change here rebuilds the image on the next `build`.
recipe=2

packages=systemd-sysv,udev,dbus,linux-image-amd64,docker.io,podman,nftables,iptables
packages+=,busybox-static,iproute2,ca-certificates,kmod,procps,snmpd

install_tools() {
  local missing=()
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
  command -v mkfs.ext4 >/dev/null || missing+=(e2fsprogs)
  [ ${#missing[@]} -eq 0 ] && return
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

unit() {  # unit ROOTFS NAME: writes stdin as a system unit, enabled for multi-user
  cat > "$1/etc/systemd/system/$2"
  ln -sf "/etc/systemd/system/$2" "$1/etc/systemd/system/multi-user.target.wants/$2"
}

configure() {
  local root=$1
  echo dockerhost > "$root/etc/hostname"
  echo "/dev/vda / ext4 defaults 0 1" > "$root/etc/fstab"
  # Docker on TCP beside its socket; Podman's compatible API on TCP.
  mkdir -p "$root/etc/systemd/system/docker.service.d"
  printf '[Service]\nExecStart=\nExecStart=%s\n' \
    "/usr/sbin/dockerd -H fd:// -H tcp://0.0.0.0:2375 --containerd=/run/containerd/containerd.sock" \
    > "$root/etc/systemd/system/docker.service.d/tcp.conf"
  unit "$root" podman-api.service <<'END'
[Unit]
Description=Podman's Docker-compatible API on TCP
After=network-setup.service
[Service]
ExecStart=/usr/bin/podman system service --time=0 tcp:0.0.0.0:8888
Restart=always
[Install]
WantedBy=multi-user.target
END
  # qemu's user network: the guest is 10.0.2.15 on 10.0.2.0/24, and no route beyond.
  unit "$root" network-setup.service <<'END'
[Unit]
Description=The address qemu's user network expects
Before=network-online.target docker.service podman-api.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/sbin/ip link set lo up
ExecStart=/sbin/ip link set eth0 up
ExecStart=/sbin/ip addr add 10.0.2.15/24 dev eth0
[Install]
WantedBy=multi-user.target
END
  printf 'agentaddress udp:161\nrocommunity public default\n' > "$root/etc/snmp/snmpd.conf"
}

build() {
  if [ "$(cat "$dir/recipe" 2>/dev/null)" = "$recipe" ] && [ -s "$dir/disk.img" ]; then
    echo "today's host: image kept from an earlier build ($dir)"
    return
  fi
  install_tools
  mkdir -p "$dir"
  rm -rf "$dir/rootfs" "$dir/disk.img" "$dir/recipe"
  debootstrap --variant=minbase --include="$packages" trixie "$dir/rootfs" \
    > "$dir/debootstrap.log" 2>&1 || { tail -20 "$dir/debootstrap.log"; exit 1; }
  configure "$dir/rootfs"
  cp "$dir"/rootfs/boot/vmlinuz-* "$dir/vmlinuz"
  cp "$dir"/rootfs/boot/initrd.img-* "$dir/initrd.img"
  mkfs.ext4 -q -F -L root -d "$dir/rootfs" "$dir/disk.img" 8G
  rm -rf "$dir/rootfs"
  echo "$recipe" > "$dir/recipe"
  echo "today's host: built in $dir"
}

start() {
  install_tools
  [ -s "$dir/disk.img" ] || { echo "no image in $dir: run \`$0 build\` first" >&2; exit 1; }
  stop >/dev/null
  local fwd="hostfwd=tcp:127.0.0.1:$docker_port-:2375,hostfwd=tcp:127.0.0.1:$podman_port-:8888"
  fwd+=",hostfwd=udp:127.0.0.1:$snmp_port-:161"
  setsid qemu-system-x86_64 -accel tcg,thread=multi -cpu max -m 4096 -smp 2 \
    -kernel "$dir/vmlinuz" -initrd "$dir/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 net.ifnames=0 systemd.unified_cgroup_hierarchy=1" \
    -drive "file=$dir/disk.img,format=raw,if=virtio" -snapshot \
    -netdev "user,id=n0,$fwd" -device virtio-net-pci,netdev=n0 \
    -display none -no-reboot -serial "file:$dir/console.log" -pidfile "$dir/qemu.pid" \
    > "$dir/qemu.log" 2>&1 < /dev/null &
  for _ in 1 2 3 4 5; do [ -s "$dir/qemu.pid" ] && break; sleep 1; done
  [ -s "$dir/qemu.pid" ] || { cat "$dir/qemu.log" >&2; exit 1; }
  echo "today's host: booting (console: $dir/console.log)"
}

wait_ready() {
  local started=$SECONDS
  for port in $docker_port $podman_port; do
    until curl -fsS -m 5 "http://127.0.0.1:$port/_ping" >/dev/null 2>&1; do
      if (( SECONDS - started > ${HINEDOCK_VM_WAIT_SECONDS:-600} )); then
        echo "today's host: no engine on port $port; the console's end:" >&2
        tail -20 "$dir/console.log" >&2
        exit 1
      fi
      sleep 2
    done
  done
  echo "today's host: engines up after $(( SECONDS - started )) s"
}

stop() {
  if [ -s "$dir/qemu.pid" ]; then
    local pid; pid=$(cat "$dir/qemu.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/qemu.pid"
  echo "today's host: stopped"
}

case ${1:-} in
  build) build ;;
  start) start ;;
  wait) wait_ready ;;
  stop) stop ;;
  *) echo "usage: $0 build|start|wait|stop" >&2; exit 2 ;;
esac
