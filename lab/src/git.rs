//! Reading the workspace's git repository: the files it tracks, what the last commit (HEAD)
//! holds, and which files differ from it. Only reads: nothing here changes the repository, its
//! index or its working tree.
//!
//! Paths are relative to the workspace root, which need not be the repository's top.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// A file as the last commit holds it.
pub struct CommittedFile {
    pub path: String,
    pub executable: bool,
    pub bytes: Vec<u8>,
}

/// A file whose content in the working tree is not the last commit's.
#[derive(Debug, PartialEq, Eq)]
pub struct Uncommitted {
    pub path: String,
    /// Whether git does not track it at all (a new file never added).
    pub untracked: bool,
}

impl std::fmt::Display for Uncommitted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if self.untracked {
            "new, not committed"
        } else {
            "changed since the last commit"
        };
        write!(f, "{} ({what})", self.path)
    }
}

/// Runs git in `root` and returns its standard output, or an error with its standard error.
fn git(root: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "git {} failed in {}: {}",
            args.join(" "),
            root.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out.stdout)
}

/// The NUL-separated paths of a `-z` listing.
fn paths(listing: &[u8]) -> Vec<String> {
    listing
        .split(|&b| b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect()
}

/// The workspace's files as the developer sees them: tracked, plus new ones git does not
/// ignore (a test written but not yet committed), minus tracked ones deleted from the tree.
pub fn working_files(root: &Path) -> Result<Vec<String>, String> {
    let listed = paths(&git(
        root,
        &[
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ],
    )?);
    Ok(listed
        .into_iter()
        .filter(|rel| root.join(rel).is_file())
        .collect())
}

/// The files of the last commit for which `keep(path)` holds, with their committed content.
pub fn committed_files(
    root: &Path,
    keep: impl Fn(&str) -> bool,
) -> Result<Vec<CommittedFile>, String> {
    git(root, &["rev-parse", "--verify", "--quiet", "HEAD"]).map_err(|_| {
        format!(
            "{}: the repository has no commit yet, and the handout is made from the last commit",
            root.display()
        )
    })?;
    // Each entry: "<mode> <type> <object>\t<path>".
    let listing = git(root, &["ls-tree", "-r", "-z", "HEAD"])?;
    let mut entries = Vec::new();
    for entry in listing.split(|&b| b == 0).filter(|e| !e.is_empty()) {
        let entry = String::from_utf8_lossy(entry);
        let (meta, path) = entry
            .split_once('\t')
            .ok_or_else(|| format!("unexpected git ls-tree line: {entry:?}"))?;
        if !keep(path) {
            continue;
        }
        let (oid, executable) = match meta.split(' ').collect::<Vec<_>>()[..] {
            ["100644", "blob", oid] => (oid.to_string(), false),
            ["100755", "blob", oid] => (oid.to_string(), true),
            _ => {
                return Err(format!(
                    "{path}: not a regular file in the last commit ({meta}: a symbolic link or \
                     a submodule?); only regular files can be handed out"
                ))
            }
        };
        entries.push((path.to_string(), oid, executable));
    }
    let oids: Vec<&str> = entries.iter().map(|(_, oid, _)| oid.as_str()).collect();
    let blobs = read_blobs(root, &oids)?;
    Ok(entries
        .into_iter()
        .zip(blobs)
        .map(|((path, _, executable), bytes)| CommittedFile {
            path,
            executable,
            bytes,
        })
        .collect())
}

/// The contents of the blobs `oids`, in order, from one `git cat-file --batch`.
fn read_blobs(root: &Path, oids: &[&str]) -> Result<Vec<Vec<u8>>, String> {
    let mut child = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run git: {e}"))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input: String = oids.iter().map(|oid| format!("{oid}\n")).collect();
    // Written from another thread: git answers while it reads, and would block on a full
    // stdout pipe that nobody reads yet.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child
        .wait_with_output()
        .map_err(|e| format!("git cat-file: {e}"))?;
    let _ = writer.join();
    if !out.status.success() {
        return Err(format!(
            "git cat-file failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    // Each answer: "<oid> <type> <size>\n<content>\n".
    let (mut rest, mut blobs) = (&out.stdout[..], Vec::with_capacity(oids.len()));
    for oid in oids {
        let bad = || format!("git cat-file gave no content for {oid}");
        let eol = rest.iter().position(|&b| b == b'\n').ok_or_else(bad)?;
        let header = String::from_utf8_lossy(&rest[..eol]);
        let size: usize = match header.split(' ').collect::<Vec<_>>()[..] {
            [_, "blob", size] => size.parse().map_err(|_| bad())?,
            _ => return Err(format!("git cat-file: {header}")),
        };
        let content = rest.get(eol + 1..eol + 1 + size).ok_or_else(bad)?;
        blobs.push(content.to_vec());
        rest = rest.get(eol + 2 + size..).unwrap_or_default();
    }
    Ok(blobs)
}

/// The files whose working-tree content is not the last commit's: changed (staged or not),
/// deleted, and new files git does not ignore. Sorted by path.
pub fn uncommitted(root: &Path) -> Result<Vec<Uncommitted>, String> {
    // `git diff` rather than `git status`: status may rewrite the index, which another process
    // (an editor, a concurrent commit) may hold.
    let changed = git(
        root,
        &[
            "diff",
            "--name-only",
            "--no-renames",
            "--relative",
            "-z",
            "HEAD",
            "--",
        ],
    )?;
    let untracked = git(root, &["ls-files", "-z", "--others", "--exclude-standard"])?;
    let mut files: Vec<Uncommitted> = paths(&changed)
        .into_iter()
        .map(|path| Uncommitted {
            path,
            untracked: false,
        })
        .chain(paths(&untracked).into_iter().map(|path| Uncommitted {
            path,
            untracked: true,
        }))
        .collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A scratch git repository with one commit of `files`, removed when dropped.
    pub struct Repo(pub PathBuf);

    impl Repo {
        pub fn new(name: &str, files: &[(&str, &str)]) -> Repo {
            let dir = std::env::temp_dir().join(format!("lab-git-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let repo = Repo(dir);
            repo.git(&["init", "-q"]);
            for (path, text) in files {
                repo.write(path, text);
            }
            repo.git(&["add", "-A"]);
            repo.git(&["commit", "-q", "--allow-empty", "-m", "one"]);
            repo
        }

        pub fn write(&self, path: &str, text: &str) {
            let path = self.0.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }

        pub fn git(&self, args: &[&str]) {
            let status = Command::new("git")
                .arg("-C")
                .arg(&self.0)
                .args(["-c", "user.name=t", "-c", "user.email=t@t", "-c"])
                .arg("commit.gpgsign=false")
                .args(args)
                .status()
                .unwrap();
            assert!(status.success(), "git {args:?}");
        }
    }

    impl Drop for Repo {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn reads_the_last_commit_whatever_the_working_tree_holds() {
        let repo = Repo::new(
            "commit",
            &[("a.rs", "committed\n"), ("d/b.rs", ""), ("gone.rs", "x")],
        );
        repo.git(&["update-index", "--chmod=+x", "d/b.rs"]);
        repo.git(&["commit", "-q", "-m", "two"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let perms = std::fs::Permissions::from_mode(0o755);
            std::fs::set_permissions(repo.0.join("d/b.rs"), perms).unwrap();
        }
        repo.write("a.rs", "edited\n");
        repo.write("d/new.rs", "new\n");
        std::fs::remove_file(repo.0.join("gone.rs")).unwrap();

        let files = committed_files(&repo.0, |p| p != "gone.rs").unwrap();
        let got: Vec<_> = files
            .iter()
            .map(|f| (f.path.as_str(), f.executable, &f.bytes[..]))
            .collect();
        assert_eq!(
            got,
            [("a.rs", false, &b"committed\n"[..]), ("d/b.rs", true, b"")]
        );
        let dirty: Vec<String> = uncommitted(&repo.0)
            .unwrap()
            .iter()
            .map(|u| u.to_string())
            .collect();
        assert_eq!(
            dirty,
            [
                "a.rs (changed since the last commit)",
                "d/new.rs (new, not committed)",
                "gone.rs (changed since the last commit)"
            ]
        );
        // Staged changes count too.
        repo.git(&["add", "a.rs"]);
        assert_eq!(uncommitted(&repo.0).unwrap()[0].path, "a.rs");
    }

    #[test]
    fn a_repository_without_a_commit_is_an_error() {
        let repo = Repo::new("empty", &[]);
        let dir = repo.0.join("fresh");
        std::fs::create_dir_all(&dir).unwrap();
        Command::new("git")
            .arg("-C")
            .arg(&dir)
            .args(["init", "-q"])
            .status()
            .unwrap();
        let err = committed_files(&dir, |_| true).err().unwrap();
        assert!(err.contains("no commit yet"), "{err}");
    }
}
