# PKI and kubeconfigs for the loopback control plane. Sourced by `up`.
# shellcheck shell=bash

# EC P-256 everywhere: generated in milliseconds, and accepted by the
# apiserver, by client-go and by rustls on the operator's side.
_new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

make_ca() {
	_new_key "$PKI_DIR/ca.key"
	openssl req -x509 -new -key "$PKI_DIR/ca.key" -sha256 -days 3650 \
		-subj "/CN=goldpath-e2e-ca" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
		-out "$PKI_DIR/ca.crt" 2>/dev/null || die "could not create the e2e CA in $PKI_DIR"
}

# issue_cert NAME SUBJECT EXTENDED_KEY_USAGE [SUBJECT_ALT_NAMES]
issue_cert() {
	local name=$1 subject=$2 eku=$3 san=${4:-}
	local ext="$PKI_DIR/$name.ext"
	{
		echo "basicConstraints=critical,CA:FALSE"
		echo "keyUsage=critical,digitalSignature"
		echo "extendedKeyUsage=$eku"
		[[ -z $san ]] || echo "subjectAltName=$san"
	} >"$ext"
	_new_key "$PKI_DIR/$name.key"
	if ! openssl req -new -key "$PKI_DIR/$name.key" -subj "$subject" -out "$PKI_DIR/$name.csr" 2>/dev/null ||
		! openssl x509 -req -in "$PKI_DIR/$name.csr" -CA "$PKI_DIR/ca.crt" -CAkey "$PKI_DIR/ca.key" \
			-CAcreateserial -sha256 -days 3650 -extfile "$ext" -out "$PKI_DIR/$name.crt" 2>/dev/null; then
		die "could not issue the $name certificate in $PKI_DIR"
	fi
	rm -f "$PKI_DIR/$name.csr" "$ext"
}

make_pki() {
	mkdir -p "$PKI_DIR"
	chmod 700 "$PKI_DIR"
	make_ca
	# 10.0.0.1 is the `kubernetes` Service's IP in --service-cluster-ip-range.
	issue_cert apiserver "/CN=kube-apiserver" serverAuth \
		"IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
	issue_cert admin "/O=system:masters/CN=goldpath-admin" clientAuth
	issue_cert controller-manager "/CN=system:kube-controller-manager" clientAuth
	_new_key "$PKI_DIR/sa.key"
	openssl pkey -in "$PKI_DIR/sa.key" -pubout -out "$PKI_DIR/sa.pub" 2>/dev/null ||
		die "could not derive the service-account public key in $PKI_DIR"
}

# write_kubeconfig FILE USER_CERT_NAME: a self-contained kubeconfig (all
# certificates inlined), so it can be copied or mounted anywhere.
write_kubeconfig() {
	local file=$1 name=$2
	local b64=(base64 -w0)
	cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: goldpath-e2e
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $("${b64[@]}" <"$PKI_DIR/ca.crt")
users:
- name: $name
  user:
    client-certificate-data: $("${b64[@]}" <"$PKI_DIR/$name.crt")
    client-key-data: $("${b64[@]}" <"$PKI_DIR/$name.key")
contexts:
- name: goldpath-e2e
  context:
    cluster: goldpath-e2e
    user: $name
current-context: goldpath-e2e
EOF
	chmod 600 "$file"
}
