//! The plan's checks of what a task sends from the controller: template, copy and script
//! sources exist, and templates parse and name only variables their role can see.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use super::vars::NoOutputs;
use super::{LocalFiles, Plan, PlannedTask, VarError};
use crate::config::{Action, CopySource};
use crate::error::DiagKind;

/// Checks tasks' sources, reading each file and parsing each template text once.
pub(super) struct Sources<'a> {
    files: Option<&'a dyn LocalFiles>,
    read: HashMap<PathBuf, Result<String, String>>,
    parsed: HashMap<String, Result<BTreeSet<String>, String>>,
}

impl<'a> Sources<'a> {
    pub(super) fn new(files: Option<&'a dyn LocalFiles>) -> Self {
        Sources {
            files,
            read: HashMap::new(),
            parsed: HashMap::new(),
        }
    }

    /// The problems of task `t`'s sources, as diagnostics' kinds and messages.
    pub(super) fn check(&mut self, p: &Plan, t: &PlannedTask) -> Vec<(DiagKind, String)> {
        let mut out = Vec::new();
        match &t.action {
            Action::Template { src, .. } => {
                // An inline template's `!{}` is checked with the task's other strings.
                let (text, from_file) = match src {
                    CopySource::Content(text) => (Some(text.clone()), false),
                    CopySource::Path(path) => (self.source_text(p, t, path, &mut out), true),
                };
                if let Some(text) = text {
                    self.check_template(p, t, &text, from_file, &mut out);
                }
            }
            Action::Copy {
                src: CopySource::Path(path),
                ..
            } => self.must_exist(p, t, "copy source", path, &mut out),
            Action::Script { path, .. } => self.must_exist(p, t, "script", path, &mut out),
            _ => {}
        }
        out
    }

    /// `path` with its `!{}` expanded, if it is known at plan time.
    fn known_path(p: &Plan, t: &PlannedTask, path: &Path) -> Option<PathBuf> {
        let s = path.to_str()?;
        if !crate::namespace::has_refs(s) {
            return Some(path.to_path_buf());
        }
        if t.role.0 == u32::MAX {
            return None;
        }
        // Errors in the path itself are reported with the task's other strings.
        let e = p.expand(t.role, s, &NoOutputs).ok()?;
        (!e.deferred).then(|| PathBuf::from(e.text))
    }

    fn must_exist(
        &mut self,
        p: &Plan,
        t: &PlannedTask,
        what: &str,
        path: &Path,
        out: &mut Vec<(DiagKind, String)>,
    ) {
        let (Some(files), Some(path)) = (self.files, Self::known_path(p, t, path)) else {
            return;
        };
        if !files.exists(&path) {
            out.push((
                DiagKind::BadArgument,
                format!("{what} `{}` does not exist", path.display()),
            ));
        }
    }

    /// The text of a template file (its `!{}` expanded, as when it is rendered), if it can
    /// be had at plan time.
    fn source_text(
        &mut self,
        p: &Plan,
        t: &PlannedTask,
        path: &Path,
        out: &mut Vec<(DiagKind, String)>,
    ) -> Option<String> {
        let files = self.files?;
        let path = Self::known_path(p, t, path)?;
        let text = self
            .read
            .entry(path.clone())
            .or_insert_with(|| files.read_text(&path));
        match text {
            Ok(text) => Some(text.clone()),
            Err(why) => {
                out.push((
                    DiagKind::BadArgument,
                    format!("template source `{}` cannot be read: {why}", path.display()),
                ));
                None
            }
        }
    }

    fn check_template(
        &mut self,
        p: &Plan,
        t: &PlannedTask,
        text: &str,
        from_file: bool,
        out: &mut Vec<(DiagKind, String)>,
    ) {
        if t.role.0 == u32::MAX {
            return;
        }
        // `!{}` comes first, as when the template is rendered.
        let text = match p.expand(t.role, text, &NoOutputs) {
            Ok(e) => e.text,
            Err(_) if !from_file => return,
            Err(e) => {
                let kind = match e {
                    VarError::Cycle { .. } => DiagKind::VariableCycle,
                    VarError::Template(_) => DiagKind::BadArgument,
                    _ => DiagKind::MissingVariable,
                };
                out.push((kind, format!("in the template: {e}")));
                return;
            }
        };
        let parsed = self
            .parsed
            .entry(text.clone())
            .or_insert_with(|| crate::template::variables("template", &text));
        let names = match parsed {
            Ok(names) => names,
            Err(e) => {
                out.push((
                    DiagKind::BadArgument,
                    format!("the template does not parse: {e}"),
                ));
                return;
            }
        };
        let visible = p.visible_names(t.role);
        let role = p.roles[t.role.index()].address();
        for n in names.iter().filter(|n| !visible.contains_key(n.as_str())) {
            out.push((
                DiagKind::MissingVariable,
                format!(
                    "the template reads `{n}`, but no variable `{n}` is visible from role `{role}`"
                ),
            ));
        }
    }
}
