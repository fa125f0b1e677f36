//! Expanding command-line PATH arguments into inputs: files, directories (walked), or stdin.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// One input named on the command line (or found under a directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Standard input (`-`).
    Stdin,
    /// A file.
    File(PathBuf),
}

impl Input {
    /// The name used in messages (`path:line: …`).
    pub fn name(&self) -> String {
        match self {
            Input::Stdin => "-".to_owned(),
            Input::File(path) => path.display().to_string(),
        }
    }

    /// Opens the input for reading.
    pub fn open(&self) -> std::io::Result<Box<dyn Read + Send>> {
        Ok(match self {
            Input::Stdin => Box::new(std::io::stdin()),
            Input::File(path) => Box::new(File::open(path)?),
        })
    }

    /// Size in bytes when known (files), for progress bars.
    pub fn size(&self) -> Option<u64> {
        match self {
            Input::Stdin => None,
            Input::File(path) => std::fs::metadata(path).ok().map(|m| m.len()),
        }
    }
}

/// A PATH argument that could not be expanded.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct InputError {
    /// The argument or the entry under it.
    pub path: String,
    /// Why it could not be read.
    pub source: std::io::Error,
}

/// Whether a file name looks like a log (`*.log` or `*.log.gz`), used when walking directories.
pub fn is_log_file_name(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".log") || n.ends_with(".log.gz"))
}

/// Expands arguments in order: `-` is stdin, a file is taken as is, a directory is walked
/// recursively (sorted) keeping the files `keep` accepts. Unreadable arguments are returned as
/// errors beside the inputs that could be expanded.
pub fn expand(args: &[PathBuf], keep: impl Fn(&Path) -> bool) -> (Vec<Input>, Vec<InputError>) {
    let mut inputs = Vec::new();
    let mut errors = Vec::new();
    for arg in args {
        if arg.as_os_str() == "-" {
            inputs.push(Input::Stdin);
            continue;
        }
        match std::fs::metadata(arg) {
            Ok(meta) if meta.is_dir() => {
                let before = inputs.len();
                for entry in walkdir::WalkDir::new(arg).sort_by_file_name() {
                    match entry {
                        Ok(e) if e.file_type().is_file() && keep(e.path()) => {
                            inputs.push(Input::File(e.into_path()));
                        }
                        Ok(_) => {}
                        Err(e) => errors.push(InputError {
                            path: e.path().unwrap_or(arg).display().to_string(),
                            source: e.into(),
                        }),
                    }
                }
                if inputs.len() == before {
                    // Silence here would read as "no errors in these logs".
                    errors.push(InputError {
                        path: arg.display().to_string(),
                        source: std::io::Error::other(
                            "no files this command reads in this directory (see --help for the \
                             names it looks for; a file named on the command line is read \
                             whatever its name)",
                        ),
                    });
                }
            }
            Ok(_) => inputs.push(Input::File(arg.clone())),
            Err(source) => errors.push(InputError {
                path: arg.display().to_string(),
                source,
            }),
        }
    }
    (inputs, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_with_nothing_to_read_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("alb-2245.log.gz.bak"), b"").unwrap();
        let (inputs, errors) = expand(&[dir.path().to_path_buf()], is_log_file_name);
        assert!(inputs.is_empty());
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0]
                .to_string()
                .contains("no files this command reads"),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn walks_directories_sorted_and_filters() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.log", "a.log.gz", "notes.txt", "sub/c.log"] {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"").unwrap();
        }
        let missing = dir.path().join("missing.log");
        let (inputs, errors) = expand(
            &[dir.path().to_path_buf(), "-".into(), missing],
            is_log_file_name,
        );
        let names: Vec<_> = inputs
            .iter()
            .map(|i| i.name().replace(&dir.path().display().to_string(), ""))
            .collect();
        assert_eq!(names, ["/a.log.gz", "/b.log", "/sub/c.log", "-"]);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].to_string().contains("missing.log"));
    }
}
