//! Task fingerprints: what a task does, input by input. A succeeded task runs again when its
//! fingerprint changed, and stays done otherwise; the inputs that differ say why.
//!
//! The inputs are the task's action as written (`action`), each variable it reads with its
//! value now (`var NAME`: the `!{}` names of its strings, of its script when the script's
//! lines are expanded and of its template; the variables a template reads; and the
//! environment variables its command line or script names as `$NAME` or `${NAME}`), the
//! content of each local file or directory it sends (`file PATH`), its host (`host`) and its
//! remote and become users (`user`). A program that reads an environment variable without its
//! command line naming it is not seen: name the variable, or force the task. Each is kept as
//! a short digest; a value holding a secret as a keyed digest (the state key, see `digest.rs`),
//! so a fingerprint in state confirms no guess. Without the key, such digests differ from run
//! to run, and those tasks run again.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use hoist_core::namespace::{Piece, parse_template};
use hoist_core::{Action, CopySource, Outputs, Plan, PlannedTask, RoleId};
use sha2::{Digest, Sha256};

use crate::digest::Digester;

/// A task's inputs, each as a digest, by name (`action`, `var GREETING`, `file ./motd`, …).
pub(crate) type Fingerprint = BTreeMap<String, String>;

/// The digest of an input not known yet (a value, or a host, that provisioning will give):
/// it differs from every recorded one.
pub(crate) const UNKNOWN: &str = "(known after provisioning)";

/// The inputs of `new` that differ from `old`'s (added, removed or changed), for a reason.
pub(crate) fn changed_inputs(old: &Fingerprint, new: &Fingerprint) -> Vec<String> {
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    names
        .into_iter()
        .filter(|n| old.get(*n) != new.get(*n))
        .cloned()
        .collect()
}

/// Computes fingerprints for the tasks of one plan, reading each local file once.
pub(crate) struct Fingerprinter<'a> {
    plan: &'a Plan,
    outputs: &'a dyn Outputs,
    local_dir: &'a Path,
    /// Content digests of local files and directories, by path.
    files: HashMap<PathBuf, String>,
    /// Digests of variable values without secrets, by role and name (tasks of one role read
    /// the same ones).
    vars: HashMap<RoleId, HashMap<String, String>>,
    /// The names each template text reads.
    templates: HashMap<String, BTreeSet<String>>,
    /// Digests of host descriptions.
    hosts: HashMap<String, String>,
}

/// What an action reads, gathered while describing it.
#[derive(Default)]
struct Reads {
    vars: BTreeSet<String>,
    files: BTreeSet<String>,
    /// `$NAME` and `${NAME}` in command lines and scripts: environment variables read.
    dollars: BTreeSet<String>,
}

impl Reads {
    /// Notes the `!{}` names of `text`.
    fn text(&mut self, text: &str) {
        if !text.contains("!{") {
            return;
        }
        if let Ok(pieces) = parse_template(text) {
            for p in pieces {
                if let Piece::Var(name) = p {
                    self.vars.insert(name.to_string());
                }
            }
        }
    }

    /// Notes the `!{}` and `$` names of a command line.
    fn line(&mut self, text: &str) {
        self.dollars(text);
        self.text(text);
    }

    /// Notes the `$NAME` and `${NAME}` of `text`.
    fn dollars(&mut self, text: &str) {
        let mut rest = text;
        while let Some(i) = rest.find('$') {
            rest = &rest[i + 1..];
            let name = rest.strip_prefix('{').unwrap_or(rest);
            let end = name
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(name.len());
            if end > 0 && !name.starts_with(|c: char| c.is_ascii_digit()) {
                self.dollars.insert(name[..end].to_string());
            }
        }
    }

    fn lines(&mut self, texts: &[String]) {
        for t in texts {
            self.line(t);
        }
    }

    fn texts(&mut self, texts: [Option<&String>; 3]) {
        for t in texts.into_iter().flatten() {
            self.text(t);
        }
    }

    /// Notes a local path the action sends.
    fn file(&mut self, p: &Path) {
        let s = p.to_string_lossy();
        self.text(&s);
        self.files.insert(s.into_owned());
    }
}

impl<'a> Fingerprinter<'a> {
    /// A fingerprinter for `plan`'s tasks, with provisioning's `outputs`; relative local paths
    /// are under `local_dir`.
    pub(crate) fn new(plan: &'a Plan, outputs: &'a dyn Outputs, local_dir: &'a Path) -> Self {
        Fingerprinter {
            plan,
            outputs,
            local_dir,
            files: HashMap::new(),
            vars: HashMap::new(),
            templates: HashMap::new(),
            hosts: HashMap::new(),
        }
    }

    /// The fingerprint of task `i` running on `host`.
    pub(crate) fn task(
        &mut self,
        i: usize,
        host: &str,
        d: &mut Digester,
        system: &str,
    ) -> Result<Fingerprint, String> {
        let t = &self.plan.tasks[i];
        let role = (t.role.index() < self.plan.roles.len()).then_some(t.role);
        let mut reads = Reads::default();
        let mut fp = Fingerprint::new();
        fp.insert("action".into(), describe(&t.action, &mut reads));
        let host = match self.hosts.get(host) {
            Some(h) => h.clone(),
            None => {
                let h = if host == UNKNOWN {
                    UNKNOWN.to_string()
                } else {
                    short(host)
                };
                self.hosts.insert(host.to_string(), h.clone());
                h
            }
        };
        fp.insert("host".into(), host);
        let mut user = Feed(Sha256::new());
        user.opt(t.creds.user.as_ref()).opt(t.become_user.as_ref());
        fp.insert("user".into(), hex(&user.0.finalize()[..16]));
        let Some(role) = role else {
            return Ok(fp);
        };
        for path in std::mem::take(&mut reads.files) {
            let path = self.expand(role, &path);
            let digest = self.content(&path, &t.action, &mut reads);
            fp.insert(format!("file {path}"), digest);
        }
        if let Action::Template {
            src: CopySource::Content(text),
            ..
        } = &t.action
        {
            reads.vars.extend(self.template_vars(text));
        }
        if !reads.dollars.is_empty() {
            let env = self.plan.visible_names(role);
            let named = reads
                .dollars
                .iter()
                .filter(|n| env.get(n.as_str()) == Some(&true));
            reads.vars.extend(named.cloned());
        }
        for name in reads.vars {
            let value = self.var(role, &name, d, system, t)?;
            fp.insert(format!("var {name}"), value);
        }
        Ok(fp)
    }

    /// [`template_vars`] of `text`, parsed once per run (tasks fanned out share a text).
    fn template_vars(&mut self, text: &str) -> BTreeSet<String> {
        if let Some(names) = self.templates.get(text) {
            return names.clone();
        }
        let names = template_vars(text);
        self.templates.insert(text.to_string(), names.clone());
        names
    }

    /// The digest of variable `name`'s value as `role` sees it (a secret one keyed for task
    /// `task`).
    fn var(
        &mut self,
        role: RoleId,
        name: &str,
        d: &mut Digester,
        system: &str,
        task: &PlannedTask,
    ) -> Result<String, String> {
        if let Some(v) = self.vars.get(&role).and_then(|m| m.get(name)) {
            return Ok(v.clone());
        }
        let value = match self.plan.var_value(role, name, self.outputs) {
            Ok(e) if e.deferred => UNKNOWN.to_string(),
            Ok(e) if e.secret => {
                let v = d.digest(system, &task.key(), &format!("var {name}"), &e.text)?;
                return Ok(v.to_string());
            }
            Ok(e) => short(e.text),
            // An undefined name: the task fails when it runs.
            Err(_) => "(undefined)".to_string(),
        };
        self.vars
            .entry(role)
            .or_default()
            .insert(name.to_string(), value.clone());
        Ok(value)
    }

    fn expand(&self, role: RoleId, text: &str) -> String {
        self.plan
            .expand(role, text, self.outputs)
            .map_or_else(|_| text.to_string(), |e| e.text)
    }

    /// The digest of local `path`'s content (names, modes and bytes; a directory walked in
    /// name order), read once per run. A script whose lines are expanded, or a template,
    /// reads the variables its text names too.
    fn content(&mut self, path: &str, action: &Action, reads: &mut Reads) -> String {
        let full = self.local_dir.join(path);
        let expands = matches!(action, Action::Template { .. })
            || matches!(
                action,
                Action::Script {
                    process_vars: true,
                    ..
                }
            );
        let script = matches!(action, Action::Script { .. });
        if (expands || script)
            && let Ok(text) = std::fs::read_to_string(&full)
        {
            if expands {
                reads.text(&text);
            }
            if script {
                reads.dollars(&text);
            }
            if matches!(action, Action::Template { .. }) {
                reads.vars.extend(self.template_vars(&text));
            }
        }
        if let Some(d) = self.files.get(&full) {
            return d.clone();
        }
        let mut h = Sha256::new();
        hash_tree(&full, Path::new(""), &mut h);
        let d = hex(&h.finalize()[..16]);
        self.files.insert(full, d.clone());
        d
    }
}

/// A digest being fed: each piece with its length, so that pieces cannot run together.
struct Feed(Sha256);

impl Feed {
    fn s(&mut self, text: &str) -> &mut Self {
        self.0.update((text.len() as u64).to_le_bytes());
        self.0.update(text.as_bytes());
        self
    }

    fn opt(&mut self, text: Option<&String>) -> &mut Self {
        match text {
            Some(t) => self.s("some").s(t),
            None => self.s("none"),
        }
    }

    fn all(&mut self, texts: &[String]) -> &mut Self {
        self.0.update((texts.len() as u64).to_le_bytes());
        for t in texts {
            self.s(t);
        }
        self
    }
}

/// The digest of the action as written (strings unexpanded, local files by path), noting
/// what it reads.
fn describe(a: &Action, r: &mut Reads) -> String {
    let mut f = Feed(Sha256::new());
    match a {
        Action::Null => {
            f.s("null");
        }
        Action::Ping => {
            f.s("ping");
        }
        Action::Command {
            argv,
            chdir,
            creates,
            removes,
        } => {
            r.lines(argv);
            r.texts([chdir.as_ref(), creates.as_ref(), removes.as_ref()]);
            f.s("command")
                .all(argv)
                .opt(chdir.as_ref())
                .opt(creates.as_ref());
            f.opt(removes.as_ref());
        }
        Action::Shell {
            line,
            chdir,
            creates,
            removes,
        } => {
            r.line(line);
            r.texts([chdir.as_ref(), creates.as_ref(), removes.as_ref()]);
            f.s("shell")
                .s(line)
                .opt(chdir.as_ref())
                .opt(creates.as_ref());
            f.opt(removes.as_ref());
        }
        Action::Script {
            path,
            args,
            process_vars,
            creates,
            removes,
        } => {
            r.file(path);
            r.lines(args);
            r.texts([creates.as_ref(), removes.as_ref(), None]);
            f.s("script").s(&path.to_string_lossy()).all(args);
            f.s(if *process_vars { "expanded" } else { "as is" });
            f.opt(creates.as_ref()).opt(removes.as_ref());
        }
        Action::Copy {
            src,
            dest,
            mode,
            owner,
            group,
        } => {
            r.text(dest);
            f.s("copy");
            source(src, r, false, &mut f);
            f.s(dest)
                .s(&format!("{mode:?}"))
                .opt(owner.as_ref())
                .opt(group.as_ref());
        }
        Action::Template { src, dest, mode } => {
            r.text(dest);
            f.s("template");
            source(src, r, true, &mut f);
            f.s(dest).s(&format!("{mode:?}"));
        }
        Action::Local { argv, shell } => {
            r.lines(argv);
            f.s("local")
                .all(argv)
                .s(if *shell { "shell" } else { "argv" });
        }
        // A kind added later: its debug form, so that a change still shows.
        other => {
            f.s("other").s(&format!("{other:?}"));
        }
    }
    hex(&f.0.finalize()[..16])
}

/// A copy or template source: its text (a template's `!{}` names are read), or its path (a
/// trailing `/`, rsync's "the contents", is part of it).
fn source(src: &CopySource, r: &mut Reads, template: bool, f: &mut Feed) {
    match src {
        CopySource::Content(c) => {
            if template {
                r.text(c);
            }
            f.s("text").s(c);
        }
        CopySource::Path(p) => {
            r.file(p);
            f.s("path").s(&p.to_string_lossy());
        }
    }
}

/// The top-level names a template reads (none if it does not parse: it fails when it runs).
fn template_vars(text: &str) -> BTreeSet<String> {
    let env = hoist_core::template::environment();
    env.template_from_str(text)
        .map(|t| t.undeclared_variables(false).into_iter().collect())
        .unwrap_or_default()
}

/// Feeds `path` (a file, or a directory walked in name order) into `h`: relative names,
/// Unix modes and contents; what cannot be read enters as its error.
fn hash_tree(path: &Path, rel: &Path, h: &mut Sha256) {
    h.update(rel.to_string_lossy().as_bytes());
    h.update([0]);
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            h.update(format!("!unreadable {}", e.kind()).as_bytes());
            return;
        }
    };
    #[cfg(unix)]
    h.update(std::os::unix::fs::PermissionsExt::mode(&meta.permissions()).to_le_bytes());
    if meta.is_dir() {
        let mut names: Vec<_> = std::fs::read_dir(path)
            .map(|rd| rd.filter_map(Result::ok).map(|e| e.file_name()).collect())
            .unwrap_or_default();
        names.sort();
        h.update((names.len() as u64).to_le_bytes());
        for n in names {
            hash_tree(&path.join(&n), &rel.join(&n), h);
        }
    } else {
        match std::fs::read(path) {
            Ok(bytes) => {
                h.update((bytes.len() as u64).to_le_bytes());
                h.update(&bytes);
            }
            Err(e) => h.update(format!("!unreadable {}", e.kind()).as_bytes()),
        }
    }
}

/// A 128-bit digest of `text`, in hex.
fn short(text: impl AsRef<[u8]>) -> String {
    hex(&Sha256::digest(text.as_ref())[..16])
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}
