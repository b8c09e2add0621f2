# Soft Serve: the git server the operator pushes scaffolded repositories to.
# Sourced by `up`.
# shellcheck shell=bash

SOFT_DIR="$STATE_DIR/softserve"
SOFT_KEYS_DIR="$STATE_DIR/softserve-keys"
GIT_USER=goldpath
# Anonymous users may not even read, so every code path that talks to the git
# server has to carry the credential. Override with read-only if a test wants
# anonymous clones.
: "${GOLDPATH_GIT_ANON_ACCESS:=no-access}"

start_softserve() {
	local soft=$1
	mkdir -p "$SOFT_DIR" "$SOFT_KEYS_DIR"
	chmod 700 "$SOFT_KEYS_DIR"
	local who
	for who in admin "$GIT_USER"; do
		ssh-keygen -q -t ed25519 -N '' -C "$who@goldpath-e2e" -f "$SOFT_KEYS_DIR/$who" ||
			die "ssh-keygen failed for the Soft Serve $who key in $SOFT_KEYS_DIR"
	done
	# Every listener is pinned to loopback; Soft Serve's defaults bind all
	# interfaces. Environment settings win over the config.yaml it writes.
	start_daemon softserve env \
		SOFT_SERVE_DATA_PATH="$SOFT_DIR" \
		SOFT_SERVE_NAME="goldpath e2e" \
		SOFT_SERVE_INITIAL_ADMIN_KEYS="$(cat "$SOFT_KEYS_DIR/admin.pub")" \
		SOFT_SERVE_ANON_ACCESS="$GOLDPATH_GIT_ANON_ACCESS" \
		SOFT_SERVE_SSH_LISTEN_ADDR="127.0.0.1:$SOFT_SSH_PORT" \
		SOFT_SERVE_SSH_PUBLIC_URL="ssh://127.0.0.1:$SOFT_SSH_PORT" \
		SOFT_SERVE_GIT_LISTEN_ADDR="127.0.0.1:$SOFT_GIT_PORT" \
		SOFT_SERVE_GIT_PUBLIC_URL="git://127.0.0.1:$SOFT_GIT_PORT" \
		SOFT_SERVE_HTTP_LISTEN_ADDR="127.0.0.1:$SOFT_HTTP_PORT" \
		SOFT_SERVE_HTTP_PUBLIC_URL="http://127.0.0.1:$SOFT_HTTP_PORT" \
		SOFT_SERVE_HTTP_CORS_ALLOWED_ORIGINS="http://127.0.0.1:$SOFT_HTTP_PORT" \
		SOFT_SERVE_STATS_LISTEN_ADDR="127.0.0.1:$SOFT_STATS_PORT" \
		"$soft" serve
}

# soft_ssh KEY_NAME COMMAND...: runs a Soft Serve SSH command as that key's
# owner. The server parses the command line shell-style.
soft_ssh() {
	local key=$1
	shift
	ssh -p "$SOFT_SSH_PORT" -i "$SOFT_KEYS_DIR/$key" \
		-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
		-o BatchMode=yes -o IdentitiesOnly=yes -o ConnectTimeout=5 \
		127.0.0.1 "$@" </dev/null
}

softserve_http_ready() { curl -fsS -o /dev/null "http://127.0.0.1:$SOFT_HTTP_PORT/readyz"; }

wait_softserve() {
	wait_for softserve 60 "Soft Serve HTTP on 127.0.0.1:$SOFT_HTTP_PORT" softserve_http_ready
	wait_for softserve 60 "Soft Serve SSH on 127.0.0.1:$SOFT_SSH_PORT" soft_ssh admin info
}

# provision_git_user: the goldpath user, allowed to create repositories by
# pushing to them, and an access token that serves as its HTTP password.
provision_git_user() {
	local pub token
	pub=$(cat "$SOFT_KEYS_DIR/$GIT_USER.pub")
	soft_ssh admin user create "$GIT_USER" -k "'$pub'" >>"$LOG_DIR/softserve.log" 2>&1 ||
		fail_with_log softserve "could not create the Soft Serve user $GIT_USER"
	# A token is always created by its owner, hence the user's own key.
	token=$(soft_ssh "$GIT_USER" token create goldpath-e2e 2>>"$LOG_DIR/softserve.log") ||
		fail_with_log softserve "could not create an access token for $GIT_USER"
	token=$(tr -d '[:space:]' <<<"$token")
	[[ -n $token ]] || fail_with_log softserve "Soft Serve returned an empty access token for $GIT_USER"

	cat >"$STATE_DIR/git.env" <<EOF
GIT_HTTP_URL=http://127.0.0.1:$SOFT_HTTP_PORT
GIT_USERNAME=$GIT_USER
GIT_TOKEN=$token
GIT_SSH_URL=ssh://127.0.0.1:$SOFT_SSH_PORT
GIT_SSH_KEY=$SOFT_KEYS_DIR/$GIT_USER
GIT_ADMIN_SSH_KEY=$SOFT_KEYS_DIR/admin
EOF
	chmod 600 "$STATE_DIR/git.env"
}
