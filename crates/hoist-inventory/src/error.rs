//! Errors and warnings, each naming the file and, where known, the line.

use std::fmt;
use std::path::PathBuf;

/// Why an inventory could not be read. Every message names the file and, where it is known,
/// the line: `inventory.ini:7: bad host line …`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InventoryError {
    /// A line or a value that does not parse (INI and `ssh_config` syntax, bad ports, host
    /// ranges, group loops).
    #[error("{}: {message}", Pos(file, *line, None))]
    Parse {
        /// The file (or the source name given to the parser).
        file: String,
        /// 1-based line, when known.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// Malformed YAML, or YAML of the wrong shape, at the location reported by the YAML parser.
    #[error("{}: invalid YAML: {message}", Pos(file, *line, *column))]
    Yaml {
        /// The file (or the source name given to the parser).
        file: String,
        /// 1-based line, when known.
        line: Option<usize>,
        /// 1-based column, when known.
        column: Option<usize>,
        /// What is wrong, with the YAML path of the offending value (`all.hosts.db1.ansible_port:
        /// …`) when there is one.
        message: String,
    },
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl InventoryError {
    /// The file the error is about.
    pub fn file(&self) -> String {
        match self {
            InventoryError::Parse { file, .. } | InventoryError::Yaml { file, .. } => file.clone(),
            InventoryError::Io { path, .. } => path.display().to_string(),
        }
    }

    /// The 1-based line the error is about, when known.
    pub fn line(&self) -> Option<usize> {
        match self {
            InventoryError::Parse { line, .. } | InventoryError::Yaml { line, .. } => *line,
            InventoryError::Io { .. } => None,
        }
    }

    pub(crate) fn parse(
        file: &str,
        line: impl Into<Option<usize>>,
        message: impl Into<String>,
    ) -> Self {
        InventoryError::Parse {
            file: file.to_string(),
            line: line.into(),
            message: message.into(),
        }
    }

    pub(crate) fn yaml(file: &str, e: &serde_yaml::Error) -> Self {
        let loc = e.location();
        let mut message = e.to_string();
        if let Some(l) = &loc {
            let suffix = format!(" at line {} column {}", l.line(), l.column());
            // the location is shown in front: drop it from the text
            message = message.replacen(&suffix, "", 1);
        }
        InventoryError::Yaml {
            file: file.to_string(),
            line: loc.as_ref().map(serde_yaml::Location::line),
            column: loc.as_ref().map(serde_yaml::Location::column),
            message,
        }
    }
}

/// Something allowed but probably not meant, or not supported and skipped (a `Match` block in
/// `ssh_config`, a Jinja template in a connection variable, an Ansible Vault value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// The file.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What was found.
    pub message: String,
}

impl Warning {
    pub(crate) fn new(
        file: &str,
        line: impl Into<Option<usize>>,
        message: impl Into<String>,
    ) -> Self {
        Warning {
            file: file.to_string(),
            line: line.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", Pos(&self.file, self.line, None), self.message)
    }
}

struct Pos<'a>(&'a str, Option<usize>, Option<usize>);

impl fmt::Display for Pos<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)?;
        if let Some(l) = self.1 {
            write!(f, ":{l}")?;
            if let Some(c) = self.2 {
                write!(f, ":{c}")?;
            }
        }
        Ok(())
    }
}
