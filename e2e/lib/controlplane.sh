# etcd, kube-apiserver and kube-controller-manager on loopback. Sourced by
# `up`; CP_BIN is the directory build-controlplane printed.
# shellcheck shell=bash

KUBECONFIG_FILE="$STATE_DIR/kubeconfig"
KCM_KUBECONFIG="$STATE_DIR/controller-manager.kubeconfig"

start_etcd() {
	mkdir -p "$STATE_DIR/etcd"
	chmod 700 "$STATE_DIR/etcd"
	# The data is thrown away by `down`, so fsync buys nothing but latency.
	# GOLDPATH_E2E_ETCD_QUOTA_BYTES raises etcd's 2 GiB space quota for
	# benchmarks that keep hundreds of thousands of objects (bench/catalog).
	local quota=()
	[[ -n ${GOLDPATH_E2E_ETCD_QUOTA_BYTES:-} ]] && quota=("--quota-backend-bytes=$GOLDPATH_E2E_ETCD_QUOTA_BYTES")
	start_daemon etcd "$CP_BIN/etcd" \
		"${quota[@]}" \
		--name=goldpath-e2e \
		--data-dir="$STATE_DIR/etcd" \
		--listen-client-urls="http://127.0.0.1:$ETCD_CLIENT_PORT" \
		--advertise-client-urls="http://127.0.0.1:$ETCD_CLIENT_PORT" \
		--listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
		--initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
		--initial-cluster="goldpath-e2e=http://127.0.0.1:$ETCD_PEER_PORT" \
		--unsafe-no-fsync \
		--log-level=warn
}

etcd_healthy() { curl -fsS "http://127.0.0.1:$ETCD_CLIENT_PORT/health" | grep -q '"health":"true"'; }

start_apiserver() {
	# Endpoint reconciling is off: Endpoints may not hold a loopback address,
	# and nothing here needs the `kubernetes` Service's endpoints.
	start_daemon kube-apiserver "$CP_BIN/kube-apiserver" \
		--etcd-servers="http://127.0.0.1:$ETCD_CLIENT_PORT" \
		--bind-address=127.0.0.1 \
		--advertise-address=127.0.0.1 \
		--secure-port="$APISERVER_PORT" \
		--tls-cert-file="$PKI_DIR/apiserver.crt" \
		--tls-private-key-file="$PKI_DIR/apiserver.key" \
		--client-ca-file="$PKI_DIR/ca.crt" \
		--authorization-mode=RBAC \
		--service-account-issuer="https://127.0.0.1:$APISERVER_PORT" \
		--service-account-key-file="$PKI_DIR/sa.pub" \
		--service-account-signing-key-file="$PKI_DIR/sa.key" \
		--service-cluster-ip-range=10.0.0.0/24 \
		--endpoint-reconciler-type=none \
		--enable-priority-and-fairness=false \
		--profiling=false
}

# Authenticated as the admin: /readyz is public by default, but checking with
# the admin identity also proves the client CA and the kubeconfig's identity.
apiserver_ready() {
	curl -fsS --cacert "$PKI_DIR/ca.crt" --cert "$PKI_DIR/admin.crt" --key "$PKI_DIR/admin.key" \
		"https://127.0.0.1:$APISERVER_PORT/readyz" | grep -qx ok
}

start_controller_manager() {
	mkdir -p "$STATE_DIR/controller-manager"
	# Each controller runs as its own service account, as in a real cluster,
	# so RBAC mistakes in what the tests expect of them show up here too.
	start_daemon kube-controller-manager "$CP_BIN/kube-controller-manager" \
		--kubeconfig="$KCM_KUBECONFIG" \
		--authentication-kubeconfig="$KCM_KUBECONFIG" \
		--authorization-kubeconfig="$KCM_KUBECONFIG" \
		--bind-address=127.0.0.1 \
		--secure-port="$KCM_PORT" \
		--cert-dir="$STATE_DIR/controller-manager" \
		--leader-elect=false \
		--use-service-account-credentials=true \
		--service-account-private-key-file="$PKI_DIR/sa.key" \
		--root-ca-file="$PKI_DIR/ca.crt" \
		--cluster-signing-cert-file="$PKI_DIR/ca.crt" \
		--cluster-signing-key-file="$PKI_DIR/ca.key" \
		--cluster-name=goldpath-e2e \
		--controllers='*' \
		--profiling=false
}

# The controller manager serves a self-signed certificate of its own making;
# this is a liveness probe on loopback, not a trust decision.
controller_manager_healthy() { curl -fsSk "https://127.0.0.1:$KCM_PORT/healthz" | grep -qx ok; }

write_kubeconfigs() {
	write_kubeconfig "$KUBECONFIG_FILE" admin
	write_kubeconfig "$KCM_KUBECONFIG" controller-manager
}
