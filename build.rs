//! Names the git commit the binary is built from, for `fieldservice --version` (an operator filing a bug
//! says exactly what runs). Outside a git checkout (a source tarball) the commit is "unknown". The variable
//! is not named FIELDSERVICE_…: cargo passes it to the processes it runs, and those names are settings.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()).filter(|s| !s.is_empty())
}

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=FS_GIT_COMMIT={commit}");
    // Rebuild when HEAD moves: the checkout's HEAD, the branch it points to, and packed refs.
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
    }
    if let (Some(common), Some(branch)) = (git(&["rev-parse", "--git-common-dir"]), git(&["symbolic-ref", "-q", "HEAD"])) {
        println!("cargo:rerun-if-changed={common}/{branch}");
        println!("cargo:rerun-if-changed={common}/packed-refs");
    }
}
