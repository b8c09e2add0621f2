//! An npm package the tests read, fetched with `npm pack` once and cached
//! under ~/.cache/goldpath/npm.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The unpacked `package` (`name@version`) in the cache directory `dir`;
/// its files are under `package/`.
pub fn package(package: &str, dir: &str) -> PathBuf {
    let home = std::env::var("HOME").unwrap();
    let cache = Path::new(&home).join(".cache/goldpath/npm").join(dir);
    if !cache.join("package/package.json").exists() {
        // Unpacked beside the cache and renamed into place, so tests that
        // run at once never see half a package.
        let parent = cache.parent().unwrap();
        std::fs::create_dir_all(parent).unwrap();
        let unpack = tempfile::tempdir_in(parent).unwrap();
        let packed = Command::new("npm")
            .args(["pack", package, "--silent", "--pack-destination"])
            .arg(unpack.path())
            .output()
            .unwrap_or_else(|e| panic!("npm (needed to fetch {package}): {e}"));
        assert!(
            packed.status.success(),
            "npm pack {package}: {}",
            String::from_utf8_lossy(&packed.stderr)
        );
        let tarball = String::from_utf8_lossy(&packed.stdout).trim().to_string();
        let untar = Command::new("tar")
            .arg("xzf")
            .arg(unpack.path().join(&tarball))
            .arg("-C")
            .arg(unpack.path())
            .status()
            .unwrap();
        assert!(untar.success(), "unpacking {tarball}");
        let _ = std::fs::rename(unpack.keep(), &cache);
    }
    cache
}

/// The directory `source` (a `package.json` and its `package-lock.json`)
/// installed with `npm ci` once per machine and lock, under
/// ~/.cache/goldpath/npm/`name`-<digest>; its `node_modules` is there.
// Not every test crate that includes this file installs a program.
#[allow(dead_code)]
pub fn installed(source: &Path, name: &str) -> PathBuf {
    use sha2::{Digest, Sha256};
    let mut digest = Sha256::new();
    for file in ["package.json", "package-lock.json"] {
        digest.update(std::fs::read(source.join(file)).unwrap());
    }
    let digest: String = digest.finalize()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let home = std::env::var("HOME").unwrap();
    let cache = Path::new(&home).join(".cache/goldpath/npm");
    let dir = cache.join(format!("{name}-{digest}"));
    if !dir.join("node_modules/.package-lock.json").exists() {
        // Installed beside the cache and renamed into place, so tests that
        // run at once never see half an install.
        std::fs::create_dir_all(&cache).unwrap();
        let staging = tempfile::tempdir_in(&cache).unwrap();
        for file in ["package.json", "package-lock.json"] {
            std::fs::copy(source.join(file), staging.path().join(file)).unwrap();
        }
        let status = Command::new("npm")
            .args([
                "ci",
                "--ignore-scripts",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
            ])
            .current_dir(staging.path())
            .status()
            .unwrap_or_else(|e| panic!("npm (needed to install {name}; hack/setup installs it): {e}"));
        assert!(status.success(), "npm ci of {name} failed");
        // Another test may have installed it meanwhile; either copy will do.
        let staging = staging.keep();
        if std::fs::rename(&staging, &dir).is_err() {
            let _ = std::fs::remove_dir_all(&staging);
        }
    }
    dir
}
