# Helm, built from its Go module at HELM_VERSION (e2e/versions.env) into
#   $CACHE_DIR/helm-$HELM_VERSION-<hash of this file>/bin/helm
# and reused from there. Sourced after common.sh; `ensure_helm` exports HELM.
# shellcheck shell=bash

# helm_module: the module path for HELM_VERSION's major version
# (helm.sh/helm/v3, helm.sh/helm/v4, ...).
helm_module() {
	local major=${HELM_VERSION%%.*}
	[[ $major =~ ^v[0-9]+$ ]] || die "HELM_VERSION=$HELM_VERSION is not a version like v4.3.1"
	printf 'helm.sh/helm/%s\n' "$major"
}

# ensure_helm: exports HELM, the path of a helm binary at HELM_VERSION,
# building it the first time (about a minute or two on two cores).
ensure_helm() {
	[[ -n ${HELM_VERSION:-} ]] || die "HELM_VERSION is not set (see e2e/versions.env)"
	local out module
	out="$CACHE_DIR/helm-$HELM_VERSION-$(hash_files "${BASH_SOURCE[0]}")"
	if [[ -x $out/bin/helm ]]; then
		HELM=$out/bin/helm
		export HELM
		return
	fi
	ensure_tools
	ensure_go
	module=$(helm_module)
	log "building helm $HELM_VERSION from $module into $out (first time only)"
	rm -rf "$out"
	mkdir -p "$out"
	# The version is stamped the way Helm's own release build does it, so
	# `helm version` reports the pin rather than the bare major.minor.
	local ldflags="-s -w -X $module/internal/version.version=$HELM_VERSION"
	ldflags+=" -X $module/internal/version.gitTreeState=clean"
	# Installed into a scratch dir and moved, so an interrupted build is never
	# mistaken for a finished one.
	(cd / && CGO_ENABLED=0 GOBIN="$out/bin.tmp" "$GO" install -trimpath -ldflags="$ldflags" \
		"$module/cmd/helm@$HELM_VERSION") >"$out/build.log" 2>&1 ||
		{ tail -n 30 "$out/build.log" >&2; die "building helm $HELM_VERSION failed (log: $out/build.log)"; }
	"$out/bin.tmp/helm" version --short >/dev/null 2>&1 ||
		die "the helm built in $out/bin.tmp does not run"
	mv "$out/bin.tmp" "$out/bin"
	HELM=$out/bin/helm
	export HELM
	log "helm $HELM_VERSION built: $HELM"
}

# install_chart_policies: the cluster-wide objects of the goldpath chart
# every operator under test relies on, rendered by the chart itself: the
# admission policies that stamp and guard a ScaffoldRequest's requester, and
# the aggregated ClusterRoles that give tenants with edit goldpath's kinds.
# Applied on every `up`, as they change with the chart.
install_chart_policies() {
	ensure_helm
	local chart out
	chart=$(cd "$E2E_DIR/.." && pwd)/charts/goldpath
	out=$("$HELM" template goldpath "$chart" --namespace goldpath-system \
		--show-only templates/admission-policies.yaml \
		--show-only templates/aggregated-roles.yaml 2> >(grep -v 'found symbolic link in path' >&2) |
		"$KUBECTL" apply --server-side --force-conflicts --field-manager=goldpath-e2e -f - 2>&1) ||
		die "applying the chart's admission policies and tenant roles failed:
$out"
	log "chart policies applied: $(tr '\n' ' ' <<<"$out")"
	# The API server loads a new policy a moment after it is stored.
	wait_for kube-apiserver 30 "the requester policy to stamp a ScaffoldRequest" requester_stamped
	wait_for kube-apiserver 30 "the approver policy to stamp a ScaffoldApproval" approver_stamped
}

# requester_stamped: a ScaffoldRequest created (dry run) as the admin comes
# back with the admin as spec.requester, whatever it claimed.
requester_stamped() {
	local stamped
	stamped=$("$KUBECTL" create --dry-run=server -o 'jsonpath={.spec.requester.username}' -f - 2>/dev/null <<'EOF'
apiVersion: goldpath.dev/v1alpha1
kind: ScaffoldRequest
metadata: {name: policy-check, namespace: default}
spec: {templateRef: {name: x}, requester: {username: forged}}
EOF
	) && [[ $stamped == goldpath-admin ]]
}

# approver_stamped: a ScaffoldApproval created (dry run) as the admin comes
# back with the admin as spec.approver, whatever it claimed.
approver_stamped() {
	local stamped
	stamped=$("$KUBECTL" create --dry-run=server -o 'jsonpath={.spec.approver.username}' -f - 2>/dev/null <<'EOF'
apiVersion: goldpath.dev/v1alpha1
kind: ScaffoldApproval
metadata: {name: policy-check, namespace: default}
spec: {requestName: x, stepId: approve, decision: Approve, approver: {username: forged}}
EOF
	) && [[ $stamped == goldpath-admin ]]
}
