#!/usr/bin/env bash
# The local cloud's base images: a Debian release debootstrapped into a folder, as close to Debian's
# cloud image as a container root can be (systemd, cloud-init, sshd, sudo).
# Usage: base-image.sh [bookworm|trixie]   (default bookworm: Debian 12; trixie: Debian 13)
# Built once per release and kept in $BERTH_CLOUD_CACHE (default /var/cache/berth) as base-<release>:
# every machine boots from an overlay on the one its server's image names (scripts/local-cloud/images.ts),
# and a clean clone on the same machine reuses it. Rebuilt only when absent or built from another
# package list (delete the folder to rebuild).
#
# What a debootstrapped root lacks and a cloud image has (scripts/README.md says how each was found):
#  * python3-cffi-backend: debootstrap does not resolve the virtual package python3-cryptography needs
#    (python3-cffi-backend-api-*, on both releases);
#  * the en_US.UTF-8 locale: cloud-init's locale module fails without it;
#  * update-grub: a node's first-boot command calls it (see update-grub below);
#  * an empty machine-id and no SSH host keys: each machine gets its own at first boot.
set -euo pipefail
release=${1:-bookworm}
case $release in
  bookworm | trixie) ;;
  *)
    echo "base-image.sh: the local cloud builds bookworm (Debian 12) or trixie (Debian 13), not '$release'" >&2
    exit 2
    ;;
esac
cache=${BERTH_CLOUD_CACHE:-/var/cache/berth}
base=$cache/base-$release
mirror=${BERTH_CLOUD_MIRROR:-http://deb.debian.org/debian}
# Debian's cloud images have the "important" packages (ping among them); minbase has only the
# required ones, so the important ones a VM's tools use are listed. ifupdown: cloud-init renders the
# seed's network-config for it (its ENI renderer comes first when ifupdown is there) on both releases.
packages=systemd,systemd-sysv,dbus,openssh-server,cloud-init,sudo,iproute2,iputils-ping,ca-certificates,curl,locales,python3-cffi-backend,ifupdown,netbase,gnupg
# net-tools on Debian 13: its seed gives the default route as a route (scripts/local-cloud/seed.ts says
# why), which cloud-init's ENI renderer writes as `post-up route add default gw ...`, net-tools' route.
# linux-sysctl-defaults on Debian 13 (priority important, recommended by iputils-ping): its ping has no
# file capability and sends through ICMP datagram sockets, which net.ipv4.ping_group_range allows;
# without it ping from the manager fails "missing cap_net_raw" (seen on the first current-line cloud).
[[ $release == trixie ]] && packages+=,net-tools,linux-sysctl-defaults
# The stamp records what the image was built with: a changed list rebuilds it.
if [[ -f $base/.berth-base-complete && "$(cat "$base/.berth-base-complete")" == "$packages" ]]; then
  echo "==> base image: $base (cached)"
  exit 0
fi

echo "==> building the base image in $base (debootstrap $release, about a minute)"
rm -rf "$base" "$base.tmp"
mkdir -p "$cache"
log=$cache/debootstrap-$release.log
debootstrap --variant=minbase --include="$packages" "$release" "$base.tmp" "$mirror" >"$log" 2>&1 ||
  { tail -n 30 "$log" >&2; exit 1; }
root=$base.tmp
cat >"$root/etc/apt/sources.list" <<SOURCES
deb http://deb.debian.org/debian $release main
deb http://deb.debian.org/debian $release-updates main
deb http://deb.debian.org/debian-security $release-security main
SOURCES
echo "en_US.UTF-8 UTF-8" >"$root/etc/locale.gen"
chroot "$root" locale-gen >/dev/null
echo "LANG=en_US.UTF-8" >"$root/etc/default/locale"
# Only the local datasource: cloud-init must not probe for a metadata service that is not there.
echo "datasource_list: [ NoCloud, None ]" >"$root/etc/cloud/cloud.cfg.d/90-berth-local-cloud.cfg"
# A cloud image's update-grub regenerates the boot loader's configuration from /etc/default/grub.d;
# a container has no boot loader, so it records the kernel command line the configuration asks for
# where the local cloud reads it when it (re)starts the machine (scripts/local-cloud/machines.ts).
cat >"$root/usr/sbin/update-grub" <<'GRUB'
#!/bin/sh
# berth local cloud: no boot loader in a container; keep the asked-for command line for the host.
set -e
GRUB_CMDLINE_LINUX=""
for f in /etc/default/grub /etc/default/grub.d/*.cfg; do [ -r "$f" ] && . "$f"; done
mkdir -p /var/lib/berth-local-cloud
echo "$GRUB_CMDLINE_LINUX" >/var/lib/berth-local-cloud/cmdline
echo "update-grub (local cloud): kernel command line recorded: $GRUB_CMDLINE_LINUX"
GRUB
chmod 0755 "$root/usr/sbin/update-grub"
: >"$root/etc/machine-id"
rm -f "$root"/etc/ssh/ssh_host_*
chroot "$root" apt-get clean
echo "$packages" >"$root/.berth-base-complete"
mv "$root" "$base"
echo "==> base image ready: $base ($(du -sh "$base" | cut -f1))"
