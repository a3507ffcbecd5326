#!/bin/bash
# Health check after deploy (templates/proxy-health.sh.hbs), run as root on the manager. `_ping`
# alone proves only that the proxy listens, so this checks what tenants' requests need too:
# - the proxy answers `_ping` with OK through TLS, verified against the stack's CA for the address
#   tenants use (over loopback with --resolve: no dependence on the cloud routing a floating IP back
#   to its owner);
# - every engine answers `_ping` from the manager (the proxy's own path to it);
# - Keystone answers (any 2xx or 3xx: the service root says 300, /v3 says 200);
# - the proxy, as its user and inside its own mount namespace (so with the unit's ProtectSystem and
#   ReadWritePaths), can create and remove a file in the volume root, as every volume create does.
set -euo pipefail
# write_probe: create and remove a file in the volume root as the running proxy sees it.
write_probe() {
  local pid
  pid=$(systemctl show --property MainPID --value berth-proxy.service)
  [ -n "$pid" ] && [ "$pid" != 0 ] || { echo "berth-proxy.service has no running process"; return 1; }
  nsenter --target "$pid" --mount --setuid "$(id -u berth)" --setgid "$(id -g berth)" -- \
    sh -c 'probe="$1/.berth-health-$$" && touch "$probe" && rm -f "$probe"' sh /var/lib/openstorage/nfs/berth-volumes 2>&1
}
# problems: prints one line per failed check.
problems() {
  local answer
  answer=$(curl --silent --show-error --max-time 5 --cacert /etc/berth/tls/ca.pem --resolve 203.0.113.10:2376:127.0.0.1 https://203.0.113.10:2376/_ping 2>&1) || true
  [ "$answer" = OK ] || echo "the tenant proxy did not answer _ping with OK through TLS at https://203.0.113.10:2376; its answer: $answer"
  answer=$(curl --silent --show-error --max-time 5 http://10.42.0.21:2375/_ping 2>&1) || true
  [ "$answer" = OK ] || echo "the engine at 10.42.0.21:2375 did not answer _ping with OK: $answer"
  answer=$(curl --silent --show-error --max-time 5 http://10.42.0.22:2375/_ping 2>&1) || true
  [ "$answer" = OK ] || echo "the engine at 10.42.0.22:2375 did not answer _ping with OK: $answer"
  answer=$(curl --silent --show-error --output /dev/null --write-out '%{http_code}' --max-time 5 https://keystone.example:5000/v3 2>&1) || true
  [[ "$answer" =~ ^[23][0-9][0-9]$ ]] || echo "Keystone at https://keystone.example:5000/v3 did not answer: $answer"
  answer=$(write_probe) || echo "the proxy (user berth, its own mount namespace) cannot write in the volume root /var/lib/openstorage/nfs/berth-volumes: $answer"
  return 0
}
deadline=$((SECONDS + 90))
until found=$(problems) && [ -z "$found" ]; do
  if [ $SECONDS -ge $deadline ]; then
    echo "the tenant proxy is not healthy after 90 s:" >&2
    echo "$found" >&2
    journalctl --unit berth-proxy.service --lines 30 --no-pager >&2 || true
    exit 1
  fi
  sleep 2
done
echo "healthy: https://203.0.113.10:2376/_ping answers OK, 2 engine(s) answer, Keystone answers, the proxy can write in /var/lib/openstorage/nfs/berth-volumes"
