# Shared helpers for the e2e scripts. Sourced, never executed.
# shellcheck shell=bash
# shellcheck disable=SC2034 # the paths are used by the scripts that source this

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
STATE_DIR="$E2E_DIR/.state"
LOG_DIR="$STATE_DIR/logs"
RUN_DIR="$STATE_DIR/run"
PKI_DIR="$STATE_DIR/pki"
CACHE_DIR="${GOLDPATH_CACHE:-$HOME/.cache/goldpath}"

# shellcheck source=versions.env
source "$E2E_DIR/versions.env"

log() { printf '[e2e %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
warn() { printf '[e2e %s] WARNING: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
	printf '[e2e %s] ERROR: %s\n' "$(date +%H:%M:%S)" "$*" >&2
	exit 1
}

# A fresh machine of the project's kind may lack a tool; install it from
# Debian rather than fail, refreshing the package lists only once per run.
_APT_UPDATED=${_APT_UPDATED:-}
apt_install() {
	local sudo=()
	[[ $(id -u) -eq 0 ]] || sudo=(sudo)
	if [[ -z $_APT_UPDATED ]]; then
		log "apt-get update (installing: $*)"
		"${sudo[@]}" apt-get update -qq >&2 || die "apt-get update failed"
		export _APT_UPDATED=1
	fi
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2 ||
		die "apt-get install $* failed"
}

# need_cmd COMMAND [DEBIAN_PACKAGE]
need_cmd() {
	command -v "$1" >/dev/null 2>&1 || apt_install "${2:-$1}"
	command -v "$1" >/dev/null 2>&1 || die "'$1' is still missing after installing ${2:-$1}"
}

ensure_tools() {
	need_cmd curl curl
	need_cmd git git
	need_cmd openssl openssl
	need_cmd ssh openssh-client
	need_cmd ssh-keygen openssh-client
	need_cmd jq jq
	need_cmd python3 python3-minimal
	need_cmd setsid util-linux
	need_cmd ps procps
	need_cmd sha256sum coreutils
	[[ -r /etc/ssl/certs/ca-certificates.crt ]] || apt_install ca-certificates
}

# go_version_ok GO_BINARY: true when it is at least GO_MIN_VERSION.
go_version_ok() {
	local v
	v=$("$1" env GOVERSION 2>/dev/null) || return 1
	v=${v#go}
	[[ $(printf '%s\n%s\n' "$GO_MIN_VERSION" "$v" | sort -V | head -1) == "$GO_MIN_VERSION" ]]
}

# ensure_go: exports GO (absolute path) and puts it first on PATH. Uses the
# machine's Go when new enough; otherwise installs Debian's go only as a
# downloader for the official toolchain module from the Go module proxy (the
# same thing `go` does for GOTOOLCHAIN switches), unpacked into the cache.
ensure_go() {
	local candidate
	for candidate in "$(command -v go 2>/dev/null || true)" /usr/local/go/bin/go \
		"$CACHE_DIR/go-$GO_BOOTSTRAP_VERSION/bin/go"; do
		if [[ -n $candidate && -x $candidate ]] && GOTOOLCHAIN=local go_version_ok "$candidate"; then
			GO=$candidate
			break
		fi
	done
	if [[ -z ${GO:-} ]]; then
		bootstrap_go
		GO="$CACHE_DIR/go-$GO_BOOTSTRAP_VERSION/bin/go"
	fi
	PATH="$(dirname "$GO"):$PATH"
	export GO PATH
	# Never let a module's go line switch toolchains behind our back.
	export GOTOOLCHAIN=local
}

bootstrap_go() {
	local dest="$CACHE_DIR/go-$GO_BOOTSTRAP_VERSION"
	local arch mod
	arch=$(dpkg --print-architecture)
	mod="golang.org/toolchain@v0.0.1-go$GO_BOOTSTRAP_VERSION.linux-$arch"
	log "no Go >= $GO_MIN_VERSION found; fetching $mod from the Go module proxy"
	command -v go >/dev/null 2>&1 || apt_install golang-go
	local dir
	dir=$(cd / && GOTOOLCHAIN=local go mod download -json "$mod" | jq -r '.Dir // empty') ||
		die "could not download $mod"
	[[ -n $dir && -d $dir ]] || die "go mod download $mod gave no directory"
	mkdir -p "$CACHE_DIR"
	rm -rf "$dest.tmp"
	cp -r "$dir" "$dest.tmp"
	chmod -R u+w "$dest.tmp"
	# Module zips carry no file modes.
	chmod +x "$dest.tmp"/bin/* "$dest.tmp"/pkg/tool/*/*
	mv "$dest.tmp" "$dest"
	GOTOOLCHAIN=local "$dest/bin/go" version >&2 || die "bootstrapped Go at $dest does not run"
}

# module_dir MODULE@VERSION: downloads a module through the Go module proxy
# and prints its extracted directory.
module_dir() {
	local json dir err
	json=$(cd / && "$GO" mod download -json "$1" 2>/dev/null) || true
	dir=$(jq -r '.Dir // empty' <<<"$json" 2>/dev/null || true)
	err=$(jq -r '.Error // empty' <<<"$json" 2>/dev/null || true)
	if [[ -z $dir || -n $err ]]; then
		die "go mod download $1 failed: ${err:-no output}"
	fi
	printf '%s\n' "$dir"
}

# free_ports N: N distinct free TCP ports on 127.0.0.1 (all held open while
# choosing, so they differ from each other).
free_ports() {
	python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# start_daemon NAME COMMAND...: runs COMMAND in its own session so it outlives
# this shell, logs to $LOG_DIR/NAME.log and records its pid (which is also its
# process group id) in $RUN_DIR/NAME.pid.
start_daemon() {
	local name=$1
	shift
	mkdir -p "$LOG_DIR" "$RUN_DIR"
	: >"$LOG_DIR/$name.log"
	# Without job control, a background child is not a group leader, so
	# setsid makes it a session leader in place instead of forking: $! is the
	# daemon itself.
	setsid "$@" </dev/null >>"$LOG_DIR/$name.log" 2>&1 &
	echo $! >"$RUN_DIR/$name.pid"
	log "started $name (pid $!, log $LOG_DIR/$name.log)"
}

daemon_pid() {
	local f="$RUN_DIR/$1.pid"
	[[ -r $f ]] && cat "$f"
}

daemon_alive() {
	local pid
	pid=$(daemon_pid "$1") || return 1
	[[ -n $pid ]] && kill -0 "$pid" 2>/dev/null
}

# fail_with_log NAME MESSAGE: dies, showing where NAME's log is and its tail.
fail_with_log() {
	local log_file="$LOG_DIR/$1.log"
	if [[ -r $log_file ]]; then
		printf -- '----- last 40 lines of %s -----\n' "$log_file" >&2
		tail -n 40 "$log_file" >&2
		printf -- '-----\n' >&2
	fi
	die "$2 (full log: $log_file)"
}

# wait_for NAME SECONDS DESCRIPTION COMMAND...: polls COMMAND until it
# succeeds; fails with NAME's log if NAME dies or the deadline passes.
wait_for() {
	local name=$1 secs=$2 what=$3
	shift 3
	local deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		daemon_alive "$name" || fail_with_log "$name" "$name exited while waiting for $what"
		((SECONDS < deadline)) || fail_with_log "$name" "timed out after ${secs}s waiting for $what"
		sleep 0.5
	done
}

# hash_files FILE...: one short hash over the contents of FILEs and their
# paths inside e2e/, so it is the same in every clone.
hash_files() {
	local f
	for f in "$@"; do
		f=$(realpath "$f")
		printf '%s\n' "${f#"$E2E_DIR"/}"
		cat "$f"
	done | sha256sum | cut -c1-12
}
