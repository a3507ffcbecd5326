#!/bin/bash
# Health check after deploy (templates/proxy-health.sh.hbs): the tenant proxy must answer `_ping`
# with OK through TLS, verified against the stack's CA for the address tenants use. It connects over
# loopback (--resolve), so it does not depend on the cloud routing a floating IP back to its owner.
set -euo pipefail
deadline=$((SECONDS + 90))
until answer=$(curl --silent --show-error --max-time 5 --cacert /etc/berth/tls/ca.pem --resolve 203.0.113.10:2376:127.0.0.1 https://203.0.113.10:2376/_ping 2>&1) && [ "$answer" = OK ]; do
  if [ $SECONDS -ge $deadline ]; then
    echo "the tenant proxy did not answer _ping with OK through TLS at https://203.0.113.10:2376 within 90 s; last answer: $answer" >&2
    journalctl --unit berth-proxy.service --lines 30 --no-pager >&2 || true
    exit 1
  fi
  sleep 2
done
echo "https://203.0.113.10:2376/_ping answers OK"
