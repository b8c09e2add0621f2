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
