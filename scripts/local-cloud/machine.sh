#!/usr/bin/env bash
# One local-cloud machine, supervised like a VM's hypervisor process: boots it with systemd-nspawn
# in its own cgroup of every v1 hierarchy, and boots it again when it reboots (nspawn exits 133 for
# a reboot inside the machine). Any other exit is a power-off: the supervisor ends too.
# Usage: machine.sh NAME ROOT BRIDGE CGROUP_PATH [nspawn options...]
set -uo pipefail
name=$1 root=$2 bridge=$3 cgroup=$4
shift 4
for hierarchy in /sys/fs/cgroup/*/; do
  [[ -e $hierarchy/cgroup.procs ]] || continue
  mkdir -p "$hierarchy$cgroup"
  # A new cpuset cgroup has no CPUs or memory nodes until given its parents'.
  if [[ -e $hierarchy/cpuset.cpus ]]; then
    for parent in "$hierarchy${cgroup%/*}" "$hierarchy$cgroup"; do
      cat "$(dirname "$parent")/cpuset.cpus" >"$parent/cpuset.cpus"
      cat "$(dirname "$parent")/cpuset.mems" >"$parent/cpuset.mems"
    done
  fi
  echo $$ >"$hierarchy$cgroup/cgroup.procs"
done
# The local cloud's boot loader: a container runs the host's kernel, so the command line a machine
# asked for (its update-grub records it, see base-image.sh) is added to the host's and bound over the
# machine's /proc/cmdline as soon as it boots, as a VM's boot loader would pass it. Only options this
# kernel already honours are added: swap accounting (cgroup_enable=memory swapaccount=1) when the
# memory cgroup has memsw. (nspawn cannot bind over /proc itself: it mounts /proc in the machine.)
kernel_cmdline=var/lib/berth-local-cloud/kernel-cmdline
while :; do
  asked=$root/var/lib/berth-local-cloud/cmdline
  extra=
  if [[ -s $asked && -e /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes ]]; then
    extra=" $(grep -oE '(cgroup_enable=memory|swapaccount=1)' "$asked" | tr '\n' ' ')"
  fi
  mkdir -p "$root/${kernel_cmdline%/*}"
  echo "$(cat /proc/cmdline)${extra% }" >"$root/$kernel_cmdline"
  echo "==> $(date -u +%FT%TZ) booting $name"
  systemd-nspawn --boot --directory="$root" --machine="$name" --register=no --keep-unit \
    --network-bridge="$bridge" --system-call-filter="add_key keyctl bpf" "$@" </dev/null &
  nspawn=$!
  leader=
  for _ in $(seq 100); do
    leader=$(pgrep -P "$nspawn" | head -n 1) && [[ -n $leader && -e /proc/$leader/root/proc/cmdline ]] && break
    sleep 0.1
  done
  [[ -n $leader ]] && nsenter -t "$leader" -m mount --bind "/$kernel_cmdline" /proc/cmdline </dev/null
  # nspawn mounts the cgroup v1 controllers read-only, and dockerd cannot start a container then
  # ("mkdir /sys/fs/cgroup/cpuset/docker: read-only file system"): remount each read-write once
  # nspawn has set them up, i.e. once the leader is systemd (a plain remount is "busy").
  for _ in $(seq 100); do
    [[ -n $leader && $(cat "/proc/$leader/comm" 2>/dev/null) == systemd ]] && break
    sleep 0.1
  done
  [[ -n $leader ]] && nsenter -t "$leader" -m sh -c 'for controller in /sys/fs/cgroup/*/; do mount -o remount,bind,rw "$controller"; done' </dev/null
  wait "$nspawn"
  status=$?
  echo "==> $(date -u +%FT%TZ) $name stopped (nspawn exit $status)"
  [[ $status -eq 133 ]] || exit 0
done
