#!/bin/bash
# Provisioning of berth-prod-etcd (etcd): rendered by berth from templates/provision.sh.hbs and run
# as root by `pulumi up` through the manager. Idempotent: it waits for cloud-init, rewrites the files
# cloud-init wrote (they may have changed since the first boot), restarts only what a changed file
# belongs to, and fails unless every check passes.
set -euo pipefail

# bash reads this script from stdin: everything runs inside main, parsed whole before it starts.
main() {
# Wait for cloud-init, strictly (templates/wait-cloud-init.sh.hbs). Anything but a clean finish fails
# the deployment and shows why: `cloud-init status --long` and the end of the output log.
berth_cloud_init_failed() {
  echo "cloud-init did not finish cleanly on $(hostname): $1" >&2
  echo "--- cloud-init status --long" >&2
  cloud-init status --long >&2 || true
  echo "--- last 40 lines of /var/log/cloud-init-output.log" >&2
  tail -n 40 /var/log/cloud-init-output.log >&2 || true
  exit 1
}
command -v cloud-init >/dev/null || berth_cloud_init_failed "cloud-init is not installed (berth needs a cloud image)"
berth_status=0
timeout 1200 cloud-init status --wait >/dev/null || berth_status=$?
case $berth_status in
  0) ;;
  2) berth_cloud_init_failed "finished degraded (recoverable errors)" ;;
  124) berth_cloud_init_failed "still running after 1200 s" ;;
  *) berth_cloud_init_failed "cloud-init status exited with $berth_status" ;;
esac
# Debian 12's cloud-init (22.4) exits 0 after a module failed in a later stage, and knows no
# "degraded" exit code: its result file is what records both.
python3 - /run/cloud-init/result.json <<'BERTH_PY' || berth_cloud_init_failed "problems recorded in /run/cloud-init/result.json"
import json, sys
try:
    v1 = json.load(open(sys.argv[1]))["v1"]
except (OSError, ValueError, KeyError) as error:
    sys.exit(f"cannot read {sys.argv[1]}: {error}")
problems = list(v1.get("errors") or [])
for level, messages in (v1.get("recoverable_errors") or {}).items():
    problems += [f"{level}: {message}" for message in messages]
for problem in problems:
    print(problem, file=sys.stderr)
sys.exit(1 if problems else 0)
BERTH_PY

berth_restart=()
# put PATH MODE OWNER UNIT...: installs base64 stdin as PATH when its content, mode or owner differ.
put() {
  local path=$1 mode=$2 owner=$3 new
  shift 3
  new=$(mktemp)
  base64 -d >"$new"
  if ! cmp -s "$new" "$path" || [ "$(stat -c '%a %U:%G' "$path")" != "${mode#0} $owner" ]; then
    install -D -m "$mode" -o "${owner%%:*}" -g "${owner##*:}" "$new" "$path"
    echo "updated $path"
    berth_restart+=("$@")
  fi
  rm -f "$new"
}
# stage STAGED SHA256 PATH MODE OWNER UNIT...: installs a file copied to STAGED, then insists that
# PATH holds exactly SHA256 (a re-run after the staging copy is gone checks what is installed).
stage() {
  local staged=$1 sha=$2 path=$3 mode=$4 owner=$5
  shift 5
  if [ -f "$staged" ] && echo "$sha  $staged" | sha256sum --check --status; then
    if ! cmp -s "$staged" "$path"; then
      install -D -m "$mode" -o "${owner%%:*}" -g "${owner##*:}" "$staged" "$path"
      echo "updated $path"
      berth_restart+=("$@")
    fi
  fi
  echo "$sha  $path" | sha256sum --check --status || { echo "$path does not hold the expected content ($sha)" >&2; exit 1; }
}

put /etc/default/etcd 0644 root:root etcd.service <<'BERTH_FILE'
IyAvZXRjL2RlZmF1bHQvZXRjZDogd3JpdHRlbiBieSBiZXJ0aCBmcm9tIHRlbXBsYXRlcy9ldGNk
LWRlZmF1bHRzLmhiczsgbG9jYWwgZWRpdHMgYXJlIG92ZXJ3cml0dGVuLgojIFRoZSBlbmdpbmVz
JyBrZXktdmFsdWUgc3RvcmUgKGFkbWluIGd1aWRlIHN0ZXBzIDktMTEpLiBEb2NrZXIgMjAuMTAn
cyAtLWNsdXN0ZXItc3RvcmUgc3BlYWtzIHRoZQojIGV0Y2QgdjIgQVBJLCB3aGljaCBldGNkIDMu
NCBzZXJ2ZXMgb25seSB3aGVuIGFza2VkIHRvLgpFVENEX05BTUU9ImJlcnRoLXByb2QtZXRjZCIK
RVRDRF9EQVRBX0RJUj0iL3Zhci9saWIvZXRjZC9kZWZhdWx0IgpFVENEX0VOQUJMRV9WMj0idHJ1
ZSIKRVRDRF9MSVNURU5fQ0xJRU5UX1VSTFM9Imh0dHA6Ly8xMC40Mi4wLjExOjIzNzksaHR0cDov
LzEwLjQyLjAuMTE6NDAwMSxodHRwOi8vMTI3LjAuMC4xOjIzNzkiCkVUQ0RfQURWRVJUSVNFX0NM
SUVOVF9VUkxTPSJodHRwOi8vMTAuNDIuMC4xMToyMzc5LGh0dHA6Ly8xMC40Mi4wLjExOjQwMDEi
CkVUQ0RfTElTVEVOX1BFRVJfVVJMUz0iaHR0cDovLzEwLjQyLjAuMTE6MjM4MCIKRVRDRF9JTklU
SUFMX0FEVkVSVElTRV9QRUVSX1VSTFM9Imh0dHA6Ly8xMC40Mi4wLjExOjIzODAiCkVUQ0RfSU5J
VElBTF9DTFVTVEVSPSJiZXJ0aC1wcm9kLWV0Y2Q9aHR0cDovLzEwLjQyLjAuMTE6MjM4MCIKRVRD
RF9JTklUSUFMX0NMVVNURVJfU1RBVEU9Im5ldyIKRVRDRF9JTklUSUFMX0NMVVNURVJfVE9LRU49
ImJlcnRoLXByb2QiCg==
BERTH_FILE
put /etc/systemd/system/etcd.service.d/berth-restart.conf 0644 root:root etcd.service <<'BERTH_FILE'
IyBldGNkLnNlcnZpY2UgZHJvcC1pbjogd3JpdHRlbiBieSBiZXJ0aCBmcm9tIHRlbXBsYXRlcy9l
dGNkLXJlc3RhcnQuY29uZi5oYnMuCiMgRGViaWFuJ3MgdW5pdCBvcmRlcnMgZXRjZCBvbmx5IGFm
dGVyIG5ldHdvcmsudGFyZ2V0IGFuZCByZXN0YXJ0cyBpdCBvbmx5IG9uLWFibm9ybWFsOiBldGNk
IHRoYXQKIyBzdGFydHMgYmVmb3JlIGl0cyBwcml2YXRlIGFkZHJlc3MgaXMgY29uZmlndXJlZCBl
eGl0cyB3aXRoICJjYW5ub3QgYXNzaWduIHJlcXVlc3RlZCBhZGRyZXNzIiBhbmQKIyBzdGF5cyBk
b3duLiBXYWl0IGZvciB0aGUgbmV0d29yayB0byBiZSBvbmxpbmUsIGFuZCByZXN0YXJ0IGFmdGVy
IGFueSBmYWlsdXJlLgpbVW5pdF0KV2FudHM9bmV0d29yay1vbmxpbmUudGFyZ2V0CkFmdGVyPW5l
dHdvcmstb25saW5lLnRhcmdldAoKW1NlcnZpY2VdClJlc3RhcnQ9b24tZmFpbHVyZQpSZXN0YXJ0
U2VjPTUK
BERTH_FILE

systemctl daemon-reload
if [ ${#berth_restart[@]} -gt 0 ]; then
  mapfile -t berth_restart < <(printf '%s\n' "${berth_restart[@]}" | sort -u)
  echo "restarting ${berth_restart[*]}"
  systemctl restart "${berth_restart[@]}"
fi
systemctl enable --now etcd.service

# check DESCRIPTION SECONDS COMMAND: retries COMMAND until it succeeds or SECONDS pass.
check() {
  local description=$1 seconds=$2 command=$3 deadline output
  deadline=$((SECONDS + seconds))
  until output=$(bash -c "$command" 2>&1); do
    if [ $SECONDS -ge $deadline ]; then
      echo "check failed after ${seconds} s: $description" >&2
      echo "  command: $command" >&2
      echo "  output: $output" >&2
      exit 1
    fi
    sleep 2
  done
  echo "ok: $description"
}
check 'etcd is healthy' 60 'curl --silent --fail --max-time 5 http://10.42.0.11:2379/health | grep -q '\''"health":"true"'\'''
check 'etcd serves the v2 API that docker'\''s --cluster-store speaks' 60 'curl --silent --fail --max-time 5 http://10.42.0.11:2379/v2/keys/ >/dev/null'
check 'etcd answers on the legacy client port 4001' 60 'curl --silent --fail --max-time 5 http://10.42.0.11:4001/health >/dev/null'
echo "berth-prod-etcd (etcd) is provisioned"
}

main </dev/null
