//! The portal API's TLS: a certificate chain and its private key, PEM files
//! (the chart mounts them from a `kubernetes.io/tls` Secret as `tls.crt`
//! and `tls.key`). They are read at start, where a bad file stops the
//! operator naming it, and read again every [`RELOAD_EVERY`]: a renewed
//! certificate (cert-manager rewrites the Secret, the kubelet the files) is
//! served from the next handshake on, without a restart. A pair that does
//! not read is logged and the one before kept.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::{CryptoProvider, ring};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tracing::{info, warn};

/// How often the files are read again.
pub const RELOAD_EVERY: Duration = Duration::from_secs(10);
/// The largest certificate or key file read.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Where the certificate chain and the key are.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// PEM certificates, the server's first.
    pub certificate: PathBuf,
    /// The PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// The identity the API serves, read again from its files when they change.
pub struct Reloading {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    /// The digest of the files the identity was read from, and the identity.
    current: RwLock<([u8; 32], Arc<CertifiedKey>)>,
}

impl fmt::Debug for Reloading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reloading").field("files", &self.files).finish()
    }
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|current| current.1.clone())
    }
}

impl Reloading {
    /// The identity `files` hold, or an error naming the file that is wrong.
    pub fn new(files: &TlsFiles) -> anyhow::Result<Arc<Reloading>> {
        let provider = Arc::new(ring::default_provider());
        let (digest, identity) = read(files, &provider)?;
        Ok(Arc::new(Reloading {
            files: files.clone(),
            provider,
            current: RwLock::new((digest, identity)),
        }))
    }

    /// The acceptor that serves the current identity at each handshake.
    pub fn acceptor(self: &Arc<Self>) -> anyhow::Result<TlsAcceptor> {
        let config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| anyhow::anyhow!("TLS: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        Ok(TlsAcceptor::from(Arc::new(config)))
    }

    /// Reads the files again: `Ok(true)` when they changed and the new
    /// identity is served, `Ok(false)` when they are as they were, an error
    /// (the identity before kept) when they do not read.
    pub fn reload(&self) -> anyhow::Result<bool> {
        let digest = digest(&self.files)?;
        if self.current.read().map(|c| c.0 == digest).unwrap_or(false) {
            return Ok(false);
        }
        let (digest, identity) = read(&self.files, &self.provider)?;
        if let Ok(mut current) = self.current.write() {
            *current = (digest, identity);
        }
        Ok(true)
    }

    /// Reloads every [`RELOAD_EVERY`] until the task is dropped.
    pub async fn watch(self: Arc<Self>) {
        loop {
            tokio::time::sleep(RELOAD_EVERY).await;
            match self.reload() {
                Ok(true) => info!(
                    certificate = %self.files.certificate.display(),
                    "serving the portal API's renewed TLS certificate"
                ),
                Ok(false) => {}
                Err(error) => warn!(
                    %error,
                    "the portal API's TLS files do not read; serving the certificate read before"
                ),
            }
        }
    }
}

fn read_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path)
        .map_err(|e| anyhow::anyhow!("reading the API's TLS file {}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| anyhow::anyhow!("reading the API's TLS file {}: {e}", path.display()))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        anyhow::bail!(
            "the API's TLS file {} is larger than {MAX_FILE_BYTES} bytes",
            path.display()
        );
    }
    Ok(bytes)
}

/// The digest of both files' contents, to tell whether they changed.
fn digest(files: &TlsFiles) -> anyhow::Result<[u8; 32]> {
    let mut digest = Sha256::new();
    digest.update(read_file(&files.certificate)?);
    digest.update([0]);
    digest.update(read_file(&files.key)?);
    Ok(digest.finalize().into())
}

/// The identity `files` hold, and the digest of what was read.
fn read(files: &TlsFiles, provider: &CryptoProvider) -> anyhow::Result<([u8; 32], Arc<CertifiedKey>)> {
    let chain_pem = read_file(&files.certificate)?;
    let key_pem = read_file(&files.key)?;
    let mut digest = Sha256::new();
    digest.update(&chain_pem);
    digest.update([0]);
    digest.update(&key_pem);
    let chain = CertificateDer::pem_slice_iter(&chain_pem)
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
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| anyhow::anyhow!("{} is not a PEM private key: {e}", files.key.display()))?;
    let identity = CertifiedKey::from_der(chain, key, provider).map_err(|e| {
        anyhow::anyhow!(
            "the API's TLS certificate {} and key {} do not make a server identity: {e}",
            files.certificate.display(),
            files.key.display()
        )
    })?;
    Ok((digest.finalize().into(), Arc::new(identity)))
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    /// A self-signed certificate and its key for `name`, written to `files`.
    fn make(files: &TlsFiles, name: &str) {
        let made = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .args(["-nodes", "-days", "1", "-subj", &format!("/CN={name}")])
            .arg("-keyout")
            .arg(&files.key)
            .arg("-out")
            .arg(&files.certificate)
            .output()
            .expect("running openssl");
        assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    }

    fn served(reloading: &Reloading) -> Vec<u8> {
        reloading.current.read().unwrap().1.cert[0].to_vec()
    }

    fn files(dir: &Path) -> TlsFiles {
        TlsFiles {
            certificate: dir.join("tls.crt"),
            key: dir.join("tls.key"),
        }
    }

    #[test]
    fn a_file_that_is_not_pem_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let files = files(dir.path());
        std::fs::write(&files.certificate, "not a certificate").unwrap();
        std::fs::write(&files.key, "not a key").unwrap();
        let error = Reloading::new(&files).err().unwrap().to_string();
        assert!(
            error.contains("tls.crt") && error.contains("no PEM certificate"),
            "{error}"
        );
        let missing = TlsFiles {
            certificate: dir.path().join("absent.crt"),
            key: files.key,
        };
        let error = Reloading::new(&missing).err().unwrap().to_string();
        assert!(error.contains("absent.crt"), "{error}");
    }

    #[test]
    fn a_renewed_certificate_is_served_and_a_broken_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let files = files(dir.path());
        make(&files, "first");
        let reloading = Reloading::new(&files).unwrap();
        let first = served(&reloading);
        assert!(!reloading.reload().unwrap(), "unchanged files are not read again");

        make(&files, "renewed");
        assert!(reloading.reload().unwrap());
        let renewed = served(&reloading);
        assert_ne!(renewed, first);
        assert_eq!(
            renewed,
            std::fs::read(&files.certificate)
                .map(|pem| {
                    CertificateDer::pem_slice_iter(&pem)
                        .next()
                        .unwrap()
                        .unwrap()
                        .to_vec()
                })
                .unwrap()
        );

        // Half a rotation: a new key beside the old certificate.
        let other = tempfile::tempdir().unwrap();
        let other = TlsFiles {
            certificate: other.path().join("tls.crt"),
            key: other.path().join("tls.key"),
        };
        make(&other, "other");
        std::fs::copy(&other.key, &files.key).unwrap();
        let error = reloading.reload().unwrap_err().to_string();
        assert!(error.contains("do not make a server identity"), "{error}");
        assert_eq!(served(&reloading), renewed, "the identity before is kept");
    }

    #[test]
    fn a_file_past_the_bound_is_refused_before_it_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let files = files(dir.path());
        make(&files, "first");
        let reloading = Reloading::new(&files).unwrap();
        let huge = std::fs::File::create(&files.certificate).unwrap();
        huge.set_len(64 * MAX_FILE_BYTES).unwrap();
        let error = reloading.reload().unwrap_err().to_string();
        assert!(error.contains("larger than"), "{error}");
    }
}
