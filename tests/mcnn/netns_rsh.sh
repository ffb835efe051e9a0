#!/bin/sh
# OpenMPI's rsh agent for the two-host test (tests/mcnn/multinode_test.cc): where ssh would log
# in to HOST, this runs the command in HOST's network namespace. OpenMPI calls it as
#   netns_rsh.sh [ssh-style options] HOST COMMAND...
# KEEL_NETNS_MAP="IP=NAMESPACE IP=NAMESPACE" maps hosts; each launch is logged to $KEEL_NETNS_LOG.
while [ "${1#-}" != "$1" ]; do shift; done
host=$1
shift
ns=
for pair in $KEEL_NETNS_MAP; do
  [ "${pair%%=*}" = "$host" ] && ns=${pair#*=}
done
if [ -z "$ns" ]; then
  echo "netns_rsh.sh: no namespace for host '$host'" >&2
  exit 255
fi
[ -n "$KEEL_NETNS_LOG" ] && echo "$host $ns" >>"$KEEL_NETNS_LOG"
exec ip netns exec "$ns" /bin/sh -c "$*"
