//! The portal API's TLS: a certificate chain and its private key, PEM files
//! (the chart mounts them from a `kubernetes.io/tls` Secret as `tls.crt`
//! and `tls.key`), read once at start.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Where the certificate chain and the key are.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// PEM certificates, the server's first.
    pub certificate: PathBuf,
    /// The PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// The acceptor for `files`, or an error naming the file that is wrong.
pub fn acceptor(files: &TlsFiles) -> anyhow::Result<TlsAcceptor> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|e| anyhow::anyhow!("reading the API's TLS file {}: {e}", path.display()))
    };
    let chain = read(&files.certificate)?;
    let chain = CertificateDer::pem_slice_iter(&chain)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            anyhow::anyhow!(
                "{} is not a PEM certificate chain: {e}",
                files.certificate.display()
            )
        })?;
    if chain.is_empty() {
        anyhow::bail!("{} holds no PEM certificate", files.certificate.display());
    }
    let key = PrivateKeyDer::from_pem_slice(&read(&files.key)?)
        .map_err(|e| anyhow::anyhow!("{} is not a PEM private key: {e}", files.key.display()))?;
    let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| anyhow::anyhow!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| {
            anyhow::anyhow!(
                "the API's TLS certificate {} and key {} do not make a server identity: {e}",
                files.certificate.display(),
                files.key.display()
            )
        })?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_is_not_pem_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let certificate = dir.path().join("tls.crt");
        let key = dir.path().join("tls.key");
        std::fs::write(&certificate, "not a certificate").unwrap();
        std::fs::write(&key, "not a key").unwrap();
        let files = TlsFiles {
            certificate: certificate.clone(),
            key: key.clone(),
        };
        let error = acceptor(&files).err().unwrap().to_string();
        assert!(
            error.contains("tls.crt") && error.contains("no PEM certificate"),
            "{error}"
        );
        let missing = TlsFiles {
            certificate: dir.path().join("absent.crt"),
            key,
        };
        let error = acceptor(&missing).err().unwrap().to_string();
        assert!(error.contains("absent.crt"), "{error}");
    }
}
