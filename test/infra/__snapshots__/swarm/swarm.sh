# The nodes' swarm (berth:engineLine current), written by berth from templates/swarm.sh.hbs and run
# on the manager VM, which alone reaches every engine's API. Idempotent: a node already in this swarm
# is left alone; one that is not (new, rebuilt, or left in a swarm whose manager was rebuilt) joins.
# The worker join token is read from the swarm's manager and handed to each joining engine on
# stdin: it never leaves this script, is never printed, and is never in an argument list.
set -euo pipefail
engine() { # <method> <address> <path> [curl args...]: the engine API at v1.41, the proxy's version
  local method=$1 address=$2 path=$3
  shift 3
  curl --silent --show-error --fail-with-body --max-time 30 -X "$method" -H 'Content-Type: application/json' \
    "http://$address:2375/v1.41$path" "$@"
}
manager=10.42.0.21
echo "==> swarm: docker-host-1 ($manager) is its manager"
manager_info=$(engine GET "$manager" /info)
case $(jq -r '.Swarm.LocalNodeState' <<<"$manager_info") in
  inactive)
    # The overlays' pool is given here or never: a swarm keeps the one it was made with.
    jq -n --arg address "$manager:2377" --arg pool "10.128.0.0/12" --argjson size 24 \
      '{ListenAddr: $address, AdvertiseAddr: $address, DefaultAddrPool: [$pool], SubnetSize: $size}' |
      engine POST "$manager" /swarm/init --data-binary @- >/dev/null
    echo "    docker-host-1: a new swarm"
    manager_info=$(engine GET "$manager" /info) ;;
  active)
    if [[ $(jq -r '.Swarm.ControlAvailable' <<<"$manager_info") != true ]]; then
      echo "docker-host-1 is in a swarm it does not manage: berth makes it its swarm's manager; leave that swarm first (docker swarm leave)" >&2
      exit 1
    fi
    echo "    docker-host-1: already its manager" ;;
  *)
    echo "docker-host-1's swarm state is $(jq -r '.Swarm.LocalNodeState' <<<"$manager_info"), neither inactive nor active: see its engine's log" >&2
    exit 1 ;;
esac
swarm=$(engine GET "$manager" /swarm)
pool=$(jq -r '"\(.DefaultAddrPool // [] | join(",")) (/\(.SubnetSize))"' <<<"$swarm")
if [[ $pool != "10.128.0.0/12 (/24)" ]]; then
  echo "docker-host-1's swarm takes overlay subnets from $pool, not berth:overlayAddressPool 10.128.0.0/12 (/24): a swarm's pool is set only when it is made; set berth:overlayAddressPool back, or make a new swarm (a new stack, or a rebuilt docker-host-1)" >&2
  exit 1
fi
token=$(jq -r '.JoinTokens.Worker' <<<"$swarm")
unset swarm
members=$(engine GET "$manager" /nodes | jq -c '[.[].ID]')
keep=("$(jq -r '.Swarm.NodeID' <<<"$manager_info")")
info=$(engine GET 10.42.0.22 /info)
id=$(jq -r '.Swarm.NodeID' <<<"$info")
if [[ $(jq -r '.Swarm.LocalNodeState' <<<"$info") == active ]] && jq -e --arg id "$id" 'index($id) != null' <<<"$members" >/dev/null; then
  echo "    docker-host-2: already a member"
else
  if [[ $(jq -r '.Swarm.LocalNodeState' <<<"$info") != inactive ]]; then
    # In another swarm: the one of a manager since rebuilt. Its overlays are that swarm's, gone with it.
    engine POST 10.42.0.22 '/swarm/leave?force=true' >/dev/null
    echo "    docker-host-2: left a swarm that is not this one"
  fi
  printf '%s' "$token" |
    jq -R --arg address "10.42.0.22:2377" --arg manager "$manager:2377" \
      '{ListenAddr: $address, AdvertiseAddr: $address, RemoteAddrs: [$manager], JoinToken: .}' |
    engine POST 10.42.0.22 /swarm/join --data-binary @- >/dev/null
  echo "    docker-host-2: joined"
  id=$(engine GET 10.42.0.22 /info | jq -r '.Swarm.NodeID')
fi
keep+=("$id")
unset token
# A rebuilt node (same port, so same address) or a removed one leaves its old entry behind: forget
# an entry that is not one of the nodes above when it is down, or when it claims one of their
# addresses (the manager may not have missed the old engine's heartbeats yet). Never another node that is up.
keep_json=$(printf '%s\n' "${keep[@]}" | jq -R . | jq -sc .)
addresses_json='["10.42.0.21","10.42.0.22"]'
for stale in $(engine GET "$manager" /nodes | jq -r --argjson keep "$keep_json" --argjson addresses "$addresses_json" \
  '.[] | select((.ID | IN($keep[]) | not) and (.Status.State == "down" or (.Status.Addr | IN($addresses[])))) | .ID'); do
  engine DELETE "$manager" "/nodes/$stale?force=true" >/dev/null
  echo "    forgot the stale node $stale"
done
# Every node ready in the manager's list, by the ids the engines gave: a join the manager never saw fails here.
for ((waited = 0; ; waited++)); do
  ready=$(engine GET "$manager" /nodes | jq -r --argjson keep "$keep_json" '[.[] | select(.Status.State == "ready" and (.ID | IN($keep[])))] | length')
  [[ $ready == "${#keep[@]}" ]] && break
  if ((waited >= 120)); then
    echo "only $ready of the ${#keep[@]} nodes are ready in the swarm after 120 s" >&2
    exit 1
  fi
  sleep 1
done
echo "==> swarm: ${#keep[@]} nodes ready"
