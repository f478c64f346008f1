//! Inventories: import existing hosts into a hoist namespace model from an Ansible inventory
//! (INI or YAML) or an OpenSSH `ssh_config`.
//!
//! An [`Inventory`] is the parsed data: groups (their hosts, variables and child groups) and
//! hosts (their variables and connection settings). [`Inventory::namespace`] turns it into an
//! [`InventoryNamespace`], a namespace model with one [`Role`](hoist_core::Role) per host
//! (`hosts[<host>]`) and one per group membership (`groups[<group>][<host>]`), so config
//! tasks can target an inventory group:
//!
//! ```
//! # extern crate hoist_core as hoist;
//! use hoist_core::{Model, MultiTask, PlanInput, Task, plan};
//! use hoist_inventory::{Inventory, InventoryNamespace};
//!
//! let inv = Inventory::from_ini(
//!     "[web]\n\
//!      web[01:02] ansible_host=10.0.0.1 http_port=8080\n\
//!      [db]\n\
//!      db1 ansible_host=10.0.1.5 ansible_port=2222 ansible_user=postgres\n\
//!      [all:vars]\n\
//!      ntp=ntp.example.com\n",
//!     "inventory.ini",
//! )?;
//! let ns = inv.namespace();
//!
//! #[derive(Model)]
//! struct Config { ping_web: MultiTask<Task>, check_db: Task }
//! let cfg = Config {
//!     ping_web: MultiTask::new(|r| Task::ping().role(r), InventoryNamespace::refs().groups.at("web").all()),
//!     check_db: Task::shell("pg_isready -h localhost").role(InventoryNamespace::refs().hosts.at("db1")),
//! };
//! let p = plan(&PlanInput::new("site").namespace("inv", &ns).config("cfg", &cfg)).unwrap();
//! assert_eq!(p.tasks.len(), 3);
//! let db = p.role_by_path("inv", "hosts[db1]").unwrap();
//! assert_eq!(db.conn.port, Some(2222));
//! assert_eq!(db.conn.creds.user.as_deref(), Some("postgres"));
//! # Ok::<(), hoist_inventory::InventoryError>(())
//! ```
//!
//! # Ansible inventories
//!
//! Both of Ansible's formats are read with Ansible's meaning:
//! - INI: `[group]` sections of host lines (`name key=value …`, values may be quoted),
//!   `[group:vars]` (`key=value` lines) and `[group:children]` (group names); hosts before the
//!   first section are ungrouped. YAML: `all:` (or any top-level group) with `hosts:`,
//!   `vars:` and `children:`, recursively.
//! - Host patterns `web[01:03]` (zero padding kept), `web[1:9:2]`, `db-[a:c]`, and
//!   `host:port`.
//! - The implicit groups `all` (every host) and `ungrouped` (hosts in no other group).
//! - Precedence: a host's own variables beat its groups'; a child group's beat its parent's;
//!   `all`'s come last. Groups at the same depth are ordered by `ansible_group_priority`,
//!   then by name, the later winning.
//! - Connection variables become connection settings, not variables: `ansible_host`,
//!   `ansible_port`, `ansible_user`, `ansible_ssh_private_key_file` (`~` expanded),
//!   `ansible_password`, and the jump host in `ansible_ssh_common_args` /
//!   `ansible_ssh_extra_args` (`-J host`, `-o ProxyJump=host`, or `-o ProxyCommand="ssh -W
//!   %h:%p host"`), with their older `ansible_ssh_*` spellings. Values that are Jinja
//!   templates, `ansible_connection` other than SSH and Ansible Vault values are skipped with
//!   a [`Warning`]. Ansible's other own settings (`ansible_python_interpreter`,
//!   `ansible_become`, … every `ansible_*` name) stay in the inventory's data but do not
//!   become role variables.
//!
//! # ssh_config
//!
//! Every name on a `Host` line that is not a pattern is a host (`Host *` and `Host web-*`
//! make none). A host's settings come from every block that matches it (`Host` patterns with
//! `*`, `?` and `!`, `Match all`, `Match host`), the first obtained value winning, as in
//! OpenSSH: `HostName` (`%h` expanded), `Port`, `User`, `IdentityFile` (`~` expanded; the
//! first one), `ProxyJump` (a hop that is a host of the same file becomes its
//! `[user@]hostname[:port]`, preceded by its own jump hosts) and `ProxyCommand` of the form
//! `ssh -W %h:%p host`. Other options (`UserKnownHostsFile`, `StrictHostKeyChecking`, …) are
//! the transport's business and are skipped. `Include` is followed by [`Inventory::load`],
//! relative to the including file, and skipped with a warning when parsing text. Hosts from
//! an `ssh_config` are in the group `ungrouped` and have no variables.
//!
//! # Errors
//!
//! Bad input is an [`InventoryError`] naming the file and line (`inventory.ini:7: bad host
//! line …`; for YAML the line, column and path of the value), never a panic.

#[allow(
    unused_extern_crates,
    reason = "lets #[derive(Model)], which names `::hoist`, work inside this crate"
)]
extern crate hoist_core as hoist;

mod error;
mod ini;
mod model;
mod ns;
mod special;
mod ssh;
mod words;
mod yaml;

use std::path::Path;

pub use error::{InventoryError, Warning};
pub use model::{ALL, ConnSettings, Group, Host, Inventory, ResolvedHost, UNGROUPED};
pub use ns::{InventoryNamespace, InventoryNamespaceRefs};

/// The formats an inventory can be read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// Ansible's INI inventory.
    Ini,
    /// Ansible's YAML inventory.
    Yaml,
    /// OpenSSH `ssh_config`.
    SshConfig,
}

/// `ssh_config` keywords that start a line of an `ssh_config` but not of an INI inventory.
const SSH_KEYWORDS: &[&str] = &[
    "host",
    "match",
    "include",
    "hostname",
    "port",
    "user",
    "identityfile",
    "identitiesonly",
    "proxyjump",
    "proxycommand",
    "stricthostkeychecking",
    "userknownhostsfile",
    "forwardagent",
    "serveraliveinterval",
    "serveralivecountmax",
    "controlmaster",
    "controlpath",
    "controlpersist",
    "loglevel",
    "addkeystoagent",
    "compression",
    "connecttimeout",
];

impl Format {
    /// The format of the file `path` with contents `text`: by extension (`.ini`, `.yml`,
    /// `.yaml`, `.json`, `.conf`) or name (`ssh_config`, `config`), else by the first line
    /// that is not a comment (`[group]` is INI, `all:` or `---` is YAML, `Host …` is
    /// `ssh_config`), else INI.
    pub fn detect(path: &Path, text: &str) -> Format {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        let name = path.file_name().and_then(|e| e.to_str()).unwrap_or("");
        match ext.as_str() {
            "ini" => return Format::Ini,
            "yml" | "yaml" | "json" => return Format::Yaml,
            "conf" => return Format::SshConfig,
            _ => {}
        }
        if name == "config" || name.ends_with("ssh_config") {
            return Format::SshConfig;
        }
        Format::sniff(text)
    }

    fn sniff(text: &str) -> Format {
        let Some(line) = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        else {
            return Format::Ini;
        };
        if line.starts_with('[') {
            return Format::Ini;
        }
        if line == "---" || line.starts_with('{') {
            return Format::Yaml;
        }
        let word_end = line
            .find(|c: char| c.is_whitespace() || c == '=')
            .unwrap_or(line.len());
        let word = &line[..word_end];
        let rest = line[word_end..].trim_start();
        if SSH_KEYWORDS.contains(&word.to_ascii_lowercase().as_str()) {
            let arg = rest.strip_prefix('=').unwrap_or(rest).trim();
            if !arg.is_empty() && !arg.contains('=') {
                return Format::SshConfig;
            }
        }
        if let Some(before) = line
            .split(|c: char| c.is_whitespace())
            .next()
            .and_then(|w| w.strip_suffix(':'))
            && !before.is_empty()
            && !before.contains([':', '='])
        {
            return Format::Yaml;
        }
        Format::Ini
    }
}

impl Inventory {
    /// Reads an Ansible INI inventory. `source` names the text in errors and warnings.
    ///
    /// ```
    /// use hoist_inventory::Inventory;
    /// let inv = Inventory::from_ini("[db]\ndb1 ansible_port=2222\n", "hosts.ini").unwrap();
    /// assert_eq!(inv.resolve("db1").unwrap().port, Some(2222));
    /// let e = Inventory::from_ini("[db]\ndb1 port\n", "hosts.ini").unwrap_err();
    /// assert_eq!(e.to_string(), "hosts.ini:2: bad host line `db1 port`: expected key=value, got `port`");
    /// ```
    pub fn from_ini(text: &str, source: &str) -> Result<Inventory, InventoryError> {
        ini::parse(text, source)
    }

    /// Reads an Ansible YAML inventory. `source` names the text in errors and warnings.
    ///
    /// ```
    /// use hoist_inventory::Inventory;
    /// let inv = Inventory::from_yaml("all:\n  children:\n    db:\n      hosts:\n        db1:\n", "hosts.yml").unwrap();
    /// assert_eq!(inv.group_hosts("db"), ["db1"]);
    /// let e = Inventory::from_yaml("all:\n  hosts:\n    db1:\n      ansible_port: x\n", "hosts.yml").unwrap_err();
    /// assert_eq!(e.line(), Some(4));
    /// ```
    pub fn from_yaml(text: &str, source: &str) -> Result<Inventory, InventoryError> {
        yaml::parse(text, source)
    }

    /// Reads an OpenSSH `ssh_config`. `source` names the text in errors and warnings.
    /// `Include` lines are skipped with a warning (use [`Inventory::load`] to follow them).
    ///
    /// ```
    /// use hoist_inventory::Inventory;
    /// let inv = Inventory::from_ssh_config("Host db1\n  HostName 10.0.0.5\n  User ops\n", "ssh_config").unwrap();
    /// let db = inv.resolve("db1").unwrap();
    /// assert_eq!((db.address.as_str(), db.user.as_deref()), ("10.0.0.5", Some("ops")));
    /// ```
    pub fn from_ssh_config(text: &str, source: &str) -> Result<Inventory, InventoryError> {
        ssh::parse(text, source, None)
    }

    /// Reads `text` in the given format.
    pub fn parse(text: &str, source: &str, format: Format) -> Result<Inventory, InventoryError> {
        match format {
            Format::Ini => Inventory::from_ini(text, source),
            Format::Yaml => Inventory::from_yaml(text, source),
            Format::SshConfig => Inventory::from_ssh_config(text, source),
        }
    }

    /// Reads the inventory file at `path`, in the format [`Format::detect`] finds. For an
    /// `ssh_config`, `Include` lines are followed, relative to the including file.
    pub fn load(path: impl AsRef<Path>) -> Result<Inventory, InventoryError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| InventoryError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let name = path.display().to_string();
        match Format::detect(path, &text) {
            Format::SshConfig => ssh::parse(&text, &name, Some(&ssh::fs_includer)),
            f => Inventory::parse(&text, &name, f),
        }
    }
}
