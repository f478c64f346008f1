//! The namespace model's vocabulary: roles, their hosts, and variables with `!{NAME}`
//! expansion.

use std::fmt;
use std::path::PathBuf;

use crate::config::Credentials;
use crate::path::SourceLoc;
use crate::reference::{HasRefPath, Out, OutAny, Ref, RefPath};
use crate::resource::Addressable;
use crate::secret::Secret;

/// Where a role's tasks run.
#[derive(Clone, Debug)]
pub enum HostRef {
    /// The address output of an infra resource (a server, a public IP, a fixed host), known
    /// after provisioning.
    Resource {
        /// The resource.
        path: RefPath,
        /// Its output that holds the address.
        address_output: &'static str,
    },
    /// A literal host name or address; `!{VAR}` patterns are expanded with the role's own view
    /// of the variables.
    Address(String),
    /// The controller itself, running tasks in the directory `dir` (a local sandbox host).
    Local(PathBuf),
}

impl HostRef {
    /// A local sandbox host: tasks run on the controller with `dir` as working and home
    /// directory. Used by the simulated cloud and by tests.
    pub fn local(dir: impl Into<PathBuf>) -> Self {
        HostRef::Local(dir.into())
    }
}

impl<R: Addressable> From<Ref<R>> for HostRef {
    fn from(r: Ref<R>) -> Self {
        HostRef::Resource {
            path: r.ref_path().clone(),
            address_output: R::ADDRESS_OUTPUT.unwrap_or("ip"),
        }
    }
}

impl From<&str> for HostRef {
    fn from(s: &str) -> Self {
        HostRef::Address(s.to_string())
    }
}

impl From<String> for HostRef {
    fn from(s: String) -> Self {
        HostRef::Address(s)
    }
}

/// A role: a name that governs part of the system, the host it runs on and its variables.
///
/// ```
/// use hoist_core::{Role, Vars};
/// let db = Role::on("127.0.0.1").vars(Vars::new().set("PORT", "5432"));
/// assert!(db.host_ref().is_some());
/// ```
#[derive(Clone, Debug)]
pub struct Role {
    host: Option<HostRef>,
    vars: Vars,
    conn: Connection,
    loc: SourceLoc,
}

/// How a role's host is reached, beyond its address: what inventories and `ssh_config` say
/// about a host (port, user, key, jump host).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Connection {
    /// Port (default: the transport's, 22 for SSH).
    pub port: Option<u16>,
    /// Credentials for this host; used after the task's own and its defaults', before the
    /// per-provider cloud credentials.
    pub creds: Credentials,
    /// A jump host (bastion) the host is reached through: `[user@]host[:port]`.
    pub jump: Option<String>,
}

impl Role {
    /// A role with no host yet (tasks on it fail the plan until one is given).
    #[track_caller]
    #[allow(
        clippy::new_without_default,
        reason = "new records the caller's location"
    )]
    pub fn new() -> Self {
        Role {
            host: None,
            vars: Vars::new(),
            conn: Connection::default(),
            loc: SourceLoc::caller(),
        }
    }

    /// A role running on `host`.
    #[track_caller]
    pub fn on(host: impl Into<HostRef>) -> Self {
        Role {
            host: Some(host.into()),
            vars: Vars::new(),
            conn: Connection::default(),
            loc: SourceLoc::caller(),
        }
    }

    /// Locates the role at `loc` (what its diagnostics point at): for libraries that make
    /// roles for their caller, so errors point at the caller's code, not the library's.
    #[must_use]
    pub fn located(mut self, loc: SourceLoc) -> Self {
        self.loc = loc;
        self
    }

    /// Sets the host.
    #[must_use]
    pub fn host(mut self, host: impl Into<HostRef>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// Replaces the role's variables.
    #[must_use]
    pub fn vars(mut self, vars: Vars) -> Self {
        self.vars = vars;
        self
    }

    /// Adds one variable.
    #[must_use]
    #[track_caller]
    pub fn var(mut self, name: &str, value: impl Into<VarValue>) -> Self {
        self.vars = self.vars.set(name, value);
        self
    }

    /// The port the host is reached on.
    #[must_use]
    pub fn port(mut self, port: u16) -> Self {
        self.conn.port = Some(port);
        self
    }

    /// The remote user for this host.
    #[must_use]
    pub fn user(mut self, user: &str) -> Self {
        self.conn.creds.user = Some(user.into());
        self
    }

    /// The private key file for this host.
    #[must_use]
    pub fn key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.conn.creds.key_file = Some(path.into());
        self
    }

    /// Reach the host through the jump host `[user@]host[:port]`.
    #[must_use]
    pub fn jump(mut self, via: &str) -> Self {
        self.conn.jump = Some(via.into());
        self
    }

    /// All connection settings at once.
    #[must_use]
    pub fn connection(mut self, conn: Connection) -> Self {
        self.conn = conn;
        self
    }

    /// How the host is reached.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The host, if set.
    pub fn host_ref(&self) -> Option<&HostRef> {
        self.host.as_ref()
    }

    /// The role's own variables.
    pub fn own_vars(&self) -> &Vars {
        &self.vars
    }

    /// Where the role was declared.
    pub fn loc(&self) -> SourceLoc {
        self.loc
    }
}

/// The value of a [`Var`].
#[derive(Clone)]
pub enum VarValue {
    /// Text, possibly containing `!{NAME}` patterns (`!!{` is a literal `!{`).
    Text(String),
    /// A secret text; redacted wherever it could be shown.
    Secret(Secret),
    /// An infra resource's output, known after provisioning.
    Out(OutAny),
    /// Declared but unset: reading it is a "missing variable" error.
    Unset,
}

impl fmt::Debug for VarValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VarValue::Text(t) => write!(f, "{t:?}"),
            VarValue::Secret(s) => write!(f, "{s}"),
            VarValue::Out(o) => write!(f, "{o:?}"),
            VarValue::Unset => f.write_str("<unset>"),
        }
    }
}

impl From<&str> for VarValue {
    fn from(s: &str) -> Self {
        VarValue::Text(s.to_string())
    }
}

impl From<String> for VarValue {
    fn from(s: String) -> Self {
        VarValue::Text(s)
    }
}

impl From<Secret> for VarValue {
    fn from(s: Secret) -> Self {
        VarValue::Secret(s)
    }
}

impl<T> From<Out<T>> for VarValue {
    fn from(o: Out<T>) -> Self {
        VarValue::Out(o.erase())
    }
}

/// One variable.
#[derive(Clone, Debug)]
pub struct Var {
    /// Name: `[A-Za-z_][A-Za-z0-9_.-]*`.
    pub name: String,
    /// Value.
    pub value: VarValue,
    /// Whether the variable is exported into the environment of remote tasks (default true).
    pub in_env: bool,
    /// Where it was declared.
    pub loc: SourceLoc,
}

impl Var {
    /// A variable (exported to task environments).
    #[track_caller]
    pub fn new(name: &str, value: impl Into<VarValue>) -> Self {
        Var {
            name: name.to_string(),
            value: value.into(),
            in_env: true,
            loc: SourceLoc::caller(),
        }
    }

    /// Sets whether the variable goes into task environments.
    #[must_use]
    pub fn in_env(mut self, in_env: bool) -> Self {
        self.in_env = in_env;
        self
    }

    /// True if the value is secret.
    pub fn is_secret(&self) -> bool {
        matches!(self.value, VarValue::Secret(_))
    }
}

/// A block of variables (and overrides) attached to a role, a multi, a group struct or a model
/// root. Lookup from a role goes: own overrides, own variables, then the enclosing container's,
/// up to the model root.
///
/// ```
/// use hoist_core::{Secret, Var, Vars};
/// let v = Vars::new()
///     .set("USER", "app")
///     .set("HOME", "/home/!{USER}")
///     .secret("DB_PASSWORD", Secret::new("s3cret"))
///     .var(Var::new("DEBUG", "1").in_env(false));
/// assert_eq!(v.iter().count(), 4);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Vars {
    vars: Vec<Var>,
    overrides: Vec<Var>,
    /// Variables set twice in this block: the first and the second (which wins).
    replaced: Vec<(Var, SourceLoc)>,
}

impl Vars {
    /// No variables.
    pub fn new() -> Self {
        Vars::default()
    }

    /// Adds (or replaces) a variable.
    #[must_use]
    #[track_caller]
    pub fn set(self, name: &str, value: impl Into<VarValue>) -> Self {
        let v = Var::new(name, value);
        self.var(v)
    }

    /// Adds (or replaces) a secret variable.
    #[must_use]
    #[track_caller]
    pub fn secret(self, name: &str, value: Secret) -> Self {
        let v = Var::new(name, value);
        self.var(v)
    }

    /// Declares a variable without a value (reading it is an error until overridden).
    #[must_use]
    #[track_caller]
    pub fn unset(self, name: &str) -> Self {
        let v = Var::new(name, VarValue::Unset);
        self.var(v)
    }

    /// Adds (or replaces) a fully built variable.
    #[must_use]
    pub fn var(mut self, v: Var) -> Self {
        if let Some(i) = self.vars.iter().position(|x| x.name == v.name) {
            let first = self.vars.remove(i);
            self.replaced.push((first, v.loc));
        }
        self.vars.push(v);
        self
    }

    /// The variables set twice in this block (the plan warns about them): the first
    /// definition, and where the second one (which wins) was made.
    pub fn replaced(&self) -> &[(Var, SourceLoc)] {
        &self.replaced
    }

    /// Adds an override: it masks a variable of the same name here and further out, without
    /// removing it. An override of a variable whose value was an infra output also stops that
    /// output from making its resource exist.
    #[must_use]
    #[track_caller]
    pub fn override_var(mut self, name: &str, value: impl Into<VarValue>) -> Self {
        self.overrides.retain(|x| x.name != name);
        self.overrides.push(Var::new(name, value));
        self
    }

    /// Looks a name up in this block only: overrides first, then variables.
    pub fn get(&self, name: &str) -> Option<&Var> {
        self.overrides
            .iter()
            .find(|v| v.name == name)
            .or_else(|| self.vars.iter().find(|v| v.name == name))
    }

    /// The effective variables of this block (overrides replace same-named variables).
    pub fn iter(&self) -> impl Iterator<Item = &Var> {
        self.overrides.iter().chain(
            self.vars
                .iter()
                .filter(|v| !self.overrides.iter().any(|o| o.name == v.name)),
        )
    }

    /// Merges `other` into `self`; `other`'s variables and overrides win.
    #[must_use]
    pub fn merged(mut self, other: &Vars) -> Self {
        for v in &other.vars {
            self.vars.retain(|x| x.name != v.name);
            self.vars.push(v.clone());
        }
        for o in &other.overrides {
            self.overrides.retain(|x| x.name != o.name);
            self.overrides.push(o.clone());
        }
        self
    }

    /// True if there are no variables and no overrides.
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty() && self.overrides.is_empty()
    }
}

/// True if `name` is a valid variable name: `[A-Za-z_][A-Za-z0-9_.-]*`.
pub fn is_valid_var_name(name: &str) -> bool {
    let mut c = name.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '_' | '.' | '-'))
}

/// A piece of a `!{}` template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Literal text.
    Lit(&'a str),
    /// A literal `!{` written as `!!{`.
    EscapedOpen,
    /// A variable reference.
    Var(&'a str),
}

/// Splits `s` into literal text and `!{NAME}` references. `!!{` is a literal `!{`; an
/// unterminated `!{` or a bad name is an error naming the offending text.
///
/// ```
/// use hoist_core::namespace::{parse_template, Piece};
/// assert_eq!(parse_template("a !{X} !!{Y}").unwrap(),
///     vec![Piece::Lit("a "), Piece::Var("X"), Piece::Lit(" "), Piece::EscapedOpen, Piece::Lit("Y}")]);
/// assert!(parse_template("!{oops").is_err());
/// ```
pub fn parse_template(s: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("!{") {
        if i > 0 && rest[..i].ends_with('!') {
            if i > 1 {
                out.push(Piece::Lit(&rest[..i - 1]));
            }
            out.push(Piece::EscapedOpen);
            rest = &rest[i + 2..];
            continue;
        }
        if i > 0 {
            out.push(Piece::Lit(&rest[..i]));
        }
        let after = &rest[i + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unterminated `!{{` in {s:?}"))?;
        let name = &after[..end];
        if !is_valid_var_name(name) {
            return Err(format!("bad variable name {name:?} in {s:?}"));
        }
        out.push(Piece::Var(name));
        rest = &after[end + 1..];
    }
    if !rest.is_empty() {
        out.push(Piece::Lit(rest));
    }
    Ok(out)
}

/// True if `s` contains at least one `!{NAME}` reference.
pub fn has_refs(s: &str) -> bool {
    parse_template(s)
        .map(|p| p.iter().any(|x| matches!(x, Piece::Var(_))))
        .unwrap_or(true)
}
