# Upstream CRDs (taken from each project's own Go module at its pinned
# version) and goldpath's own. Sourced by `up`.
# shellcheck shell=bash

# One line per CRD: MODULE VERSION PATH_IN_MODULE. An empty VERSION skips it.
upstream_crds() {
	cat <<EOF
github.com/argoproj/argo-cd/v3 $ARGOCD_VERSION manifests/crds/application-crd.yaml
github.com/argoproj/argo-cd/v3 $ARGOCD_VERSION manifests/crds/appproject-crd.yaml
github.com/aws-controllers-k8s/s3-controller $ACK_S3_VERSION config/crd/bases/s3.services.k8s.aws_buckets.yaml
github.com/aws-controllers-k8s/dynamodb-controller ${ACK_DYNAMODB_VERSION:--} config/crd/bases/dynamodb.services.k8s.aws_tables.yaml
github.com/aws-controllers-k8s/rds-controller ${ACK_RDS_VERSION:--} config/crd/bases/rds.services.k8s.aws_dbinstances.yaml
github.com/oam-dev/kubevela $KUBEVELA_VERSION charts/vela-core/crds/core.oam.dev_applications.yaml
EOF
}

# upstream_crd_files: prints the path of every upstream CRD file to install.
upstream_crd_files() {
	local module version path dir
	while read -r module version path; do
		if [[ $version == - ]]; then
			warn "skipping $path: no version of $module is pinned (see e2e/versions.env)"
			continue
		fi
		dir=$(module_dir "$module@$version")
		[[ -r $dir/$path ]] || die "$module@$version has no $path"
		printf '%s\n' "$dir/$path"
	done < <(upstream_crds)
}

# own_crd_files: goldpath's generated CRDs, unless GOLDPATH_E2E_OWN_CRDS=0
# (for working on the environment while the CRDs are in flux).
own_crd_files() {
	local own
	own=$(cd "$E2E_DIR/.." && pwd)/crds
	if [[ ${GOLDPATH_E2E_OWN_CRDS:-1} == 0 ]]; then
		warn "GOLDPATH_E2E_OWN_CRDS=0: not installing $own/*.yaml"
	elif compgen -G "$own/*.yaml" >/dev/null; then
		printf '%s\n' "$own"/*.yaml
	else
		log "no goldpath CRDs in $own yet; installing upstream CRDs only"
	fi
}

# apply_crds WHAT FILE...: server-side applies the files and waits until
# every CRD in them is Established.
apply_crds() {
	local what=$1 file out names=()
	shift
	(($# > 0)) || return 0
	for file in "$@"; do
		# Server-side: Argo CD's Application CRD is too large for the
		# last-applied annotation that client-side apply writes.
		out=$("$KUBECTL" apply --server-side --force-conflicts --field-manager=goldpath-e2e \
			-o name -f "$file" 2>&1) || die "the API server rejected $what CRDs in $file:
$out"
		mapfile -t -O "${#names[@]}" names < <(grep '^customresourcedefinition' <<<"$out")
	done
	((${#names[@]} > 0)) || return 0
	"$KUBECTL" wait --for=condition=Established --timeout=60s "${names[@]}" >/dev/null ||
		die "$what CRDs did not become Established within 60s: ${names[*]}"
	log "$what CRDs established: $(printf '%s ' "${names[@]#*/}")"
}

install_crds() {
	local files
	mapfile -t files < <(upstream_crd_files)
	apply_crds upstream "${files[@]}"
	install_own_crds
}

# install_own_crds: goldpath's CRDs change with the code, so a running
# environment gets them again on every `up`.
install_own_crds() {
	local files
	mapfile -t files < <(own_crd_files)
	apply_crds goldpath "${files[@]}"
}
