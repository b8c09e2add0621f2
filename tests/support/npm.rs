//! An npm package the tests read, fetched with `npm pack` once, checked
//! against the SHA-256 of its tarball it is pinned to, and cached under
//! ~/.cache/goldpath/npm (in a directory named by the package and its pin,
//! so a new pin is fetched again).

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// The unpacked `package` (`name@version`), whose tarball's SHA-256 is
/// `sha256`; its files are under `package/`. `only` names the files to
/// unpack (paths under `package/`), all of them when empty: some packages
/// hold hundreds of megabytes a test does not read.
pub fn package(package: &str, sha256: &str, only: &[&str]) -> PathBuf {
    let home = std::env::var("HOME").unwrap();
    let name: String = package
        .trim_start_matches('@')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let cache = Path::new(&home)
        .join(".cache/goldpath/npm")
        .join(format!("{name}-{}", &sha256[..12]));
    let wanted: Vec<String> = if only.is_empty() {
        vec!["package/package.json".into()]
    } else {
        only.iter().map(|path| format!("package/{path}")).collect()
    };
    if wanted.iter().all(|path| cache.join(path).exists()) {
        return cache;
    }
    // Unpacked beside the cache and renamed into place, so tests that run
    // at once never see half a package.
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
    let tarball = unpack.path().join(String::from_utf8_lossy(&packed.stdout).trim());
    let digest: String = Sha256::digest(std::fs::read(&tarball).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(digest, sha256, "{package} is not the tarball pinned");
    let mut untar = Command::new("tar");
    untar.arg("xzf").arg(&tarball).arg("-C").arg(unpack.path());
    if !only.is_empty() {
        untar.args(&wanted);
    }
    assert!(untar.status().unwrap().success(), "unpacking {package}");
    std::fs::remove_file(&tarball).unwrap();
    let _ = std::fs::rename(unpack.keep(), &cache);
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
