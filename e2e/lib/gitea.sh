# Gitea: the forge publish:gitea creates repositories and pull requests on,
# beside Soft Serve. Sourced by `up`.
# shellcheck shell=bash

GITEA_DIR="$STATE_DIR/gitea"
GITEA_ADMIN=goldpath-admin
# A second user, for steps that add a collaborator.
GITEA_OTHER_USER=alice

gitea_cmd() { "$GITEA_INSTALL/bin/gitea" --config "$GITEA_DIR/app.ini" --work-path "$GITEA_DIR" "$@"; }

write_gitea_config() {
	mkdir -p "$GITEA_DIR/data" "$GITEA_DIR/repos" "$GITEA_DIR/log"
	local secret
	secret=$(openssl rand -hex 32)
	# Everything on loopback, no mail, no registration, no SSH, no cron: a
	# forge only for the API and HTTP pushes. The e2e runs as root (as CI
	# does), which Gitea refuses unless told.
	cat >"$GITEA_DIR/app.ini" <<INI
APP_NAME = goldpath e2e
RUN_MODE = prod
WORK_PATH = $GITEA_DIR
I_AM_BEING_UNSAFE_RUNNING_AS_ROOT = true

[database]
DB_TYPE = sqlite3
PATH = $GITEA_DIR/data/gitea.db

[server]
PROTOCOL = http
HTTP_ADDR = 127.0.0.1
HTTP_PORT = $GITEA_HTTP_PORT
ROOT_URL = http://127.0.0.1:$GITEA_HTTP_PORT/
DOMAIN = 127.0.0.1
DISABLE_SSH = true
START_SSH_SERVER = false
OFFLINE_MODE = true
LFS_START_SERVER = false
APP_DATA_PATH = $GITEA_DIR/data
STATIC_ROOT_PATH = $GITEA_INSTALL/src

[repository]
ROOT = $GITEA_DIR/repos

[security]
INSTALL_LOCK = true
SECRET_KEY = $secret

[service]
DISABLE_REGISTRATION = true

[session]
PROVIDER = memory

[cache]
ADAPTER = memory

[mailer]
ENABLED = false

[cron]
ENABLED = false

[actions]
ENABLED = false

[log]
MODE = console
LEVEL = Warn
ROOT_PATH = $GITEA_DIR/log
INI
}

start_gitea() {
	GITEA_INSTALL=$1
	write_gitea_config
	gitea_cmd migrate >>"$LOG_DIR/gitea-setup.log" 2>&1 ||
		fail_with_log gitea-setup "gitea migrate failed"
	start_daemon gitea "$GITEA_INSTALL/bin/gitea" web --config "$GITEA_DIR/app.ini" --work-path "$GITEA_DIR"
}

gitea_ready() { curl -fsS -o /dev/null "http://127.0.0.1:$GITEA_HTTP_PORT/api/v1/version"; }

wait_gitea() {
	wait_for gitea 120 "Gitea's API on 127.0.0.1:$GITEA_HTTP_PORT" gitea_ready
}

# provision_gitea: an admin and its API token, made with Gitea's own CLI,
# and a second user; appended to git.env.
provision_gitea() {
	local password token
	password=$(openssl rand -hex 16)
	gitea_cmd admin user create --admin --username "$GITEA_ADMIN" --password "$password" \
		--email "$GITEA_ADMIN@goldpath.invalid" --must-change-password=false >>"$LOG_DIR/gitea-setup.log" 2>&1 ||
		fail_with_log gitea-setup "could not create the Gitea admin $GITEA_ADMIN"
	gitea_cmd admin user create --username "$GITEA_OTHER_USER" --password "$(openssl rand -hex 16)" \
		--email "$GITEA_OTHER_USER@goldpath.invalid" --must-change-password=false >>"$LOG_DIR/gitea-setup.log" 2>&1 ||
		fail_with_log gitea-setup "could not create the Gitea user $GITEA_OTHER_USER"
	token=$(gitea_cmd admin user generate-access-token --username "$GITEA_ADMIN" --token-name goldpath-e2e \
		--scopes all --raw 2>>"$LOG_DIR/gitea-setup.log") ||
		fail_with_log gitea-setup "could not create an access token for $GITEA_ADMIN"
	token=$(tr -d '[:space:]' <<<"$token")
	[[ -n $token ]] || fail_with_log gitea-setup "Gitea returned an empty access token"
	cat >>"$STATE_DIR/git.env" <<ENV
GITEA_URL=http://127.0.0.1:$GITEA_HTTP_PORT
GITEA_API_URL=http://127.0.0.1:$GITEA_HTTP_PORT/api/v1
GITEA_USERNAME=$GITEA_ADMIN
GITEA_PASSWORD=$password
GITEA_TOKEN=$token
GITEA_OTHER_USER=$GITEA_OTHER_USER
ENV
}
