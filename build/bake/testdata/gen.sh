#!/usr/bin/env bash
# Regenerates the goldens from a real docker buildx v0.38.2: for each
# CASE/NAME.args, runs `buildx bake ARGS` in CASE with CASE/env as the only
# environment and writes its stdout to CASE/NAME.golden. The tests never
# run buildx; run this once after adding a case, and check the goldens in.
#   BUILDX=/path/to/buildx build/bake/testdata/gen.sh [CASE...]
set -eu
cd "$(dirname "$0")"
: "${BUILDX=/tmp/buildxbin/buildx}"
home=$(mktemp -d)
trap 'kill "$agent" 2>/dev/null; rm -rf "$home"' EXIT
# buildx checks --print's ssh specs against an agent: a socket is enough.
python3 -c 'import socket,sys,time; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(); time.sleep(600)' "$home/agent.sock" &
agent=$!
sleep 0.5
cases=("$@")
[ ${#cases[@]} -gt 0 ] || mapfile -t cases < <(ls -d */ | tr -d /)
for c in "${cases[@]}"; do
	# Keys an ssh spec names exist while buildx runs only.
	keys=()
	[ -f "$c/sshkeys" ] && mapfile -t keys < "$c/sshkeys"
	for k in "${keys[@]}"; do ssh-keygen -q -t ed25519 -N '' -f "$c/$k" && rm "$c/$k.pub"; done
	for a in "$c"/*.args; do
		n=$(basename "$a" .args)
		env=()
		[ -f "$c/env" ] && mapfile -t env < "$c/env"
		args=$(cat "$a")
		(cd "$c" && eval "env -i HOME=$home PATH=$PATH SSH_AUTH_SOCK=$home/agent.sock BUILDX_CONFIG=$home/buildx DOCKER_CONFIG=$home/docker ${env[*]@Q} $BUILDX bake $args") > "$c/$n.golden" 2>/dev/null || {
			echo "$c/$n: buildx failed" >&2
			rm -f "$c/$n.golden"
		}
	done
	for k in "${keys[@]}"; do rm -f "$c/$k"; done
done
