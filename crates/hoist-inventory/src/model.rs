//! The parsed inventory: groups, hosts, their variables and connection settings, and
//! Ansible's variable precedence.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::path::PathBuf;

use hoist_core::namespace::is_valid_var_name;
use hoist_core::{Connection, Credentials, Secret};
use indexmap::IndexMap;

use crate::error::{InventoryError, Warning};
use crate::special::{Special, classify};

/// The group every host belongs to.
pub const ALL: &str = "all";
/// The group of hosts that belong to no other group.
pub const UNGROUPED: &str = "ungrouped";

/// How a host is reached, as one level (a group, or the host itself) sets it. Unset fields
/// (`None`) are taken from the enclosing levels.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConnSettings {
    /// The address to connect to (`ansible_host`, `HostName`); the host's name if no level
    /// sets it.
    pub address: Option<String>,
    /// The port (`ansible_port`, `host:port`, `Port`).
    pub port: Option<u16>,
    /// The remote user (`ansible_user`, `User`).
    pub user: Option<String>,
    /// The private key file (`ansible_ssh_private_key_file`, `IdentityFile`), `~` expanded.
    pub key_file: Option<PathBuf>,
    /// The jump host, `[user@]host[:port]` (comma-separated for several hops), from
    /// `ansible_ssh_common_args` / `ansible_ssh_extra_args` (`-J`, `-o ProxyJump=`, `-o
    /// ProxyCommand="ssh -W %h:%p …"`) or `ProxyJump`. `Some(None)` means "explicitly no
    /// jump host" and masks one set further out.
    pub jump: Option<Option<String>>,
    /// The login password (`ansible_password`, `ansible_ssh_pass`).
    pub password: Option<Secret>,
}

impl ConnSettings {
    /// Sets every field that `inner` sets (inner levels win).
    fn overlay(&mut self, inner: &ConnSettings) {
        macro_rules! take {
            ($($f:ident),*) => {$(
                if inner.$f.is_some() {
                    self.$f.clone_from(&inner.$f);
                }
            )*};
        }
        take!(address, port, user, key_file, jump, password);
    }
}

/// An inventory group: `[web]` in INI, `web:` under `children:` in YAML.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Group {
    /// The name.
    pub name: String,
    /// The hosts listed directly in this group, in file order (see
    /// [`Inventory::group_hosts`] for the members of its child groups too). `all` lists none:
    /// every host is in it.
    pub hosts: Vec<String>,
    /// Child groups (`[web:children]`), in file order.
    pub children: Vec<String>,
    /// Parent groups; top-level groups have `all`.
    pub parents: Vec<String>,
    /// The group's own variables (`[web:vars]`), connection variables left out.
    pub vars: IndexMap<String, String>,
    /// The group's connection settings (from its `ansible_*` variables).
    pub conn: ConnSettings,
    /// `ansible_group_priority` (default 1): among groups of the same depth, a higher
    /// priority wins.
    pub priority: i64,
    /// Distance from `all` (0 for `all`, 1 for top-level groups, 2 for their children, …):
    /// deeper groups' variables win.
    pub depth: usize,
    /// The line that first mentions the group, when known.
    pub line: Option<usize>,
}

impl Group {
    fn new(name: &str, line: Option<usize>) -> Self {
        Group {
            name: name.to_string(),
            hosts: Vec::new(),
            children: Vec::new(),
            parents: Vec::new(),
            vars: IndexMap::new(),
            conn: ConnSettings::default(),
            priority: 1,
            depth: 0,
            line,
        }
    }
}

/// An inventory host.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Host {
    /// The inventory name (`web01`, or the `Host` alias in `ssh_config`).
    pub name: String,
    /// The groups that list it directly (never `all`; `ungrouped` for hosts in no other group).
    pub groups: Vec<String>,
    /// The host's own variables, connection variables left out.
    pub vars: IndexMap<String, String>,
    /// The host's own connection settings.
    pub conn: ConnSettings,
    /// The line that first mentions the host, when known.
    pub line: Option<usize>,
}

/// A host with everything it inherits from its groups, by Ansible's precedence: the host's
/// own settings beat child groups', which beat parent groups', which beat `all`'s (groups of
/// the same depth by `ansible_group_priority`, then by name, the later winning).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ResolvedHost {
    /// The inventory name.
    pub name: String,
    /// The address to connect to (`ansible_host`, `HostName`, else the name).
    pub address: String,
    /// The port, when set.
    pub port: Option<u16>,
    /// The remote user, when set.
    pub user: Option<String>,
    /// The private key file, when set.
    pub key_file: Option<PathBuf>,
    /// The jump host `[user@]host[:port]`, when set.
    pub jump: Option<String>,
    /// The login password, when set.
    pub password: Option<Secret>,
    /// Every variable the host sees (its own and its groups', `all`'s included), connection
    /// variables left out.
    pub vars: IndexMap<String, String>,
    /// Every group the host is in (ancestors included), in precedence order: `all` first.
    pub groups: Vec<String>,
}

impl ResolvedHost {
    /// The connection settings as a hoist [`Connection`].
    pub fn connection(&self) -> Connection {
        Connection {
            port: self.port,
            creds: Credentials {
                user: self.user.clone(),
                password: self.password.clone(),
                key_file: self.key_file.clone(),
            },
            jump: self.jump.clone(),
        }
    }
}

/// Hosts and groups read from an Ansible inventory or an `ssh_config`. See the
/// [crate docs](crate).
#[derive(Clone, Debug)]
pub struct Inventory {
    pub(crate) source: String,
    pub(crate) groups: IndexMap<String, Group>,
    pub(crate) hosts: IndexMap<String, Host>,
    pub(crate) warnings: Vec<Warning>,
}

impl Inventory {
    /// The source name given to the parser (the file, for [`Inventory::load`]).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The groups, `all` and `ungrouped` first, then in file order.
    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.values()
    }

    /// The group `name`.
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.get(name)
    }

    /// The hosts, in file order.
    pub fn hosts(&self) -> impl Iterator<Item = &Host> {
        self.hosts.values()
    }

    /// The host `name`.
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.get(name)
    }

    /// What was skipped or looks wrong (nothing that stopped the parse).
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// The hosts of group `name` and of its descendants, in file order (every host for
    /// `all`); empty for an unknown group.
    pub fn group_hosts(&self, name: &str) -> Vec<&str> {
        if name == ALL && self.groups.contains_key(ALL) {
            return self.hosts.keys().map(String::as_str).collect();
        }
        let Some(_) = self.groups.get(name) else {
            return Vec::new();
        };
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        let mut queue: VecDeque<&str> = VecDeque::from([name]);
        let mut members: BTreeSet<&str> = BTreeSet::new();
        while let Some(g) = queue.pop_front() {
            if !seen.insert(g) {
                continue;
            }
            if let Some(grp) = self.groups.get(g) {
                members.extend(grp.hosts.iter().map(String::as_str));
                queue.extend(grp.children.iter().map(String::as_str));
            }
        }
        self.hosts
            .keys()
            .map(String::as_str)
            .filter(|h| members.contains(h))
            .collect()
    }

    /// Every group host `name` is in (ancestors included), in precedence order: `all`
    /// first, then by depth, `ansible_group_priority` and name.
    pub fn host_groups(&self, name: &str) -> Vec<&str> {
        let Some(h) = self.hosts.get(name) else {
            return Vec::new();
        };
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        let mut queue: VecDeque<&str> = h.groups.iter().map(String::as_str).collect();
        while let Some(g) = queue.pop_front() {
            if !seen.insert(g) {
                continue;
            }
            if let Some(grp) = self.groups.get(g) {
                queue.extend(grp.parents.iter().map(String::as_str));
            }
        }
        if self.groups.contains_key(ALL) {
            seen.insert(ALL);
        }
        let mut v: Vec<&Group> = seen.iter().filter_map(|g| self.groups.get(*g)).collect();
        v.sort_by(|a, b| (a.depth, a.priority, &a.name).cmp(&(b.depth, b.priority, &b.name)));
        v.into_iter().map(|g| g.name.as_str()).collect()
    }

    /// Host `name` with everything it inherits; `None` for an unknown host.
    pub fn resolve(&self, name: &str) -> Option<ResolvedHost> {
        self.resolve_with(name, true)
    }

    /// Like [`resolve`](Self::resolve); with `with_all = false` the variables of `all` are
    /// left out of [`ResolvedHost::vars`] (connection settings always include them).
    pub(crate) fn resolve_with(&self, name: &str, with_all: bool) -> Option<ResolvedHost> {
        let h = self.hosts.get(name)?;
        let groups = self.host_groups(name);
        let mut conn = ConnSettings::default();
        let mut vars = IndexMap::new();
        for g in &groups {
            let Some(grp) = self.groups.get(*g) else {
                continue;
            };
            conn.overlay(&grp.conn);
            if with_all || *g != ALL {
                vars.extend(grp.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
        conn.overlay(&h.conn);
        vars.extend(h.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        Some(ResolvedHost {
            name: h.name.clone(),
            address: conn.address.unwrap_or_else(|| h.name.clone()),
            port: conn.port,
            user: conn.user,
            key_file: conn.key_file,
            jump: conn.jump.flatten(),
            password: conn.password,
            vars,
            groups: groups.into_iter().map(str::to_string).collect(),
        })
    }
}

/// Which level a variable is set on.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target<'a> {
    Group(&'a str),
    Host(&'a str),
}

/// Builds an [`Inventory`] while a parser reads its file(s).
pub(crate) struct Builder {
    pub(crate) file: String,
    groups: IndexMap<String, Group>,
    hosts: IndexMap<String, Host>,
    pub(crate) warnings: Vec<Warning>,
    /// (group, host) pairs already listed, so large groups stay linear to build
    members: HashSet<(String, String)>,
    /// parent, child, file, line
    edges: Vec<(String, String, String, Option<usize>)>,
}

impl Builder {
    pub(crate) fn new(file: &str) -> Self {
        let mut groups = IndexMap::new();
        groups.insert(ALL.to_string(), Group::new(ALL, None));
        groups.insert(UNGROUPED.to_string(), Group::new(UNGROUPED, None));
        Builder {
            file: file.to_string(),
            groups,
            hosts: IndexMap::new(),
            warnings: Vec::new(),
            members: HashSet::new(),
            edges: Vec::new(),
        }
    }

    pub(crate) fn warn(&mut self, line: impl Into<Option<usize>>, message: impl Into<String>) {
        let w = Warning::new(&self.file, line, message);
        self.warnings.push(w);
    }

    pub(crate) fn err(
        &self,
        line: impl Into<Option<usize>>,
        message: impl Into<String>,
    ) -> InventoryError {
        InventoryError::parse(&self.file, line, message)
    }

    /// Declares group `name` (no effect if it exists).
    pub(crate) fn group(&mut self, name: &str, line: Option<usize>) -> &mut Group {
        self.groups
            .entry(name.to_string())
            .or_insert_with(|| Group::new(name, line))
    }

    /// Declares host `name` in group `group` (`all`: in no particular group).
    pub(crate) fn host(&mut self, group: &str, name: &str, line: Option<usize>) -> &mut Host {
        let g = self
            .groups
            .entry(group.to_string())
            .or_insert_with(|| Group::new(group, line));
        if group != ALL && self.members.insert((group.to_string(), name.to_string())) {
            g.hosts.push(name.to_string());
        }
        let h = self.hosts.entry(name.to_string()).or_insert_with(|| Host {
            name: name.to_string(),
            groups: Vec::new(),
            vars: IndexMap::new(),
            conn: ConnSettings::default(),
            line,
        });
        if group != ALL && !h.groups.iter().any(|x| x == group) {
            h.groups.push(group.to_string());
        }
        h
    }

    /// Makes `child` a child group of `parent`.
    pub(crate) fn child(
        &mut self,
        parent: &str,
        child: &str,
        line: Option<usize>,
    ) -> Result<(), InventoryError> {
        if child == ALL {
            return Err(self.err(line, format!("`all` cannot be a child of group `{parent}`")));
        }
        if child == parent {
            return Err(self.err(line, format!("group `{parent}` cannot be its own child")));
        }
        self.group(parent, line);
        self.group(child, line);
        if !self
            .edges
            .iter()
            .any(|(p, c, ..)| p == parent && c == child)
        {
            self.edges.push((
                parent.to_string(),
                child.to_string(),
                self.file.clone(),
                line,
            ));
        }
        Ok(())
    }

    /// Sets variable `key` on `target`, interpreting Ansible's connection variables.
    pub(crate) fn set(
        &mut self,
        target: Target<'_>,
        key: &str,
        value: &str,
        line: Option<usize>,
    ) -> Result<(), InventoryError> {
        if key.is_empty() {
            return Err(self.err(line, format!("empty variable name in `={value}`")));
        }
        let s = classify(key, value).map_err(|m| self.err(line, m))?;
        self.apply(target, key, s, line);
        Ok(())
    }

    /// Applies an already interpreted variable.
    pub(crate) fn apply(&mut self, target: Target<'_>, key: &str, s: Special, line: Option<usize>) {
        if let (Special::Priority(_), Target::Host(h)) = (&s, target) {
            self.warn(
                line,
                format!("`ansible_group_priority` on host `{h}` has no effect"),
            );
            return;
        }
        let (vars, conn, priority) = match target {
            Target::Group(g) => {
                let g = self.group(g, line);
                (&mut g.vars, &mut g.conn, Some(&mut g.priority))
            }
            Target::Host(h) => {
                let h = self.host(ALL, h, line);
                (&mut h.vars, &mut h.conn, None)
            }
        };
        let mut warning = None;
        match s {
            Special::Var(v) => {
                vars.insert(key.to_string(), v);
            }
            Special::Address(a) => conn.address = Some(a),
            Special::Port(p) => conn.port = Some(p),
            Special::User(u) => conn.user = Some(u),
            Special::KeyFile(k) => conn.key_file = Some(k),
            Special::Password(p) => conn.password = Some(p),
            Special::Jump { jump, replace } => {
                if replace || conn.jump.is_none() {
                    conn.jump = Some(jump);
                }
            }
            Special::Priority(p) => {
                if let Some(pr) = priority {
                    *pr = p;
                }
            }
            Special::Ignored(w) => warning = w,
        }
        if let Some(w) = warning {
            self.warn(line, w);
        }
    }

    /// Sets a host's connection settings directly (`ssh_config`).
    pub(crate) fn host_conn(&mut self, name: &str, conn: ConnSettings, line: Option<usize>) {
        let h = self.host(ALL, name, line);
        h.conn = conn;
    }

    /// Checks the group graph, works out `ungrouped`, parents and depths.
    pub(crate) fn finish(mut self) -> Result<Inventory, InventoryError> {
        // parents and children from the edges
        for (p, c, ..) in &self.edges {
            if let Some(g) = self.groups.get_mut(p) {
                g.children.push(c.clone());
            }
            if let Some(g) = self.groups.get_mut(c) {
                g.parents.push(p.clone());
            }
        }
        // hosts in no group but `ungrouped` (or listed under `all`) are in `ungrouped`
        let ungrouped: Vec<String> = self
            .hosts
            .values_mut()
            .filter_map(|h| {
                h.groups.retain(|g| g != ALL);
                if h.groups.iter().all(|g| g == UNGROUPED) {
                    h.groups = vec![UNGROUPED.to_string()];
                    Some(h.name.clone())
                } else {
                    h.groups.retain(|g| g != UNGROUPED);
                    None
                }
            })
            .collect();
        if let Some(g) = self.groups.get_mut(UNGROUPED) {
            g.hosts = ungrouped;
        }
        if let Some(g) = self.groups.get_mut(ALL) {
            g.hosts.clear();
        }
        // top-level groups are children of `all`
        let top: Vec<String> = self
            .groups
            .values()
            .filter(|g| g.name != ALL && g.parents.is_empty())
            .map(|g| g.name.clone())
            .collect();
        for name in &top {
            if let Some(g) = self.groups.get_mut(name) {
                g.parents.push(ALL.to_string());
            }
        }
        if let Some(all) = self.groups.get_mut(ALL) {
            for name in top {
                if !all.children.contains(&name) {
                    all.children.push(name);
                }
            }
        }
        self.depths()?;
        self.check_var_names();
        Ok(Inventory {
            source: self.file,
            groups: self.groups,
            hosts: self.hosts,
            warnings: self.warnings,
        })
    }

    /// Depths by a topological walk from `all` (Kahn's algorithm); a group left over is on a
    /// loop, which is an error naming the loop.
    fn depths(&mut self) -> Result<(), InventoryError> {
        let idx: HashMap<&str, usize> = self
            .groups
            .keys()
            .enumerate()
            .map(|(i, k)| (k.as_str(), i))
            .collect();
        let n = self.groups.len();
        let mut indeg = vec![0usize; n];
        let mut kids: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, g) in self.groups.values().enumerate() {
            for c in &g.children {
                if let Some(&j) = idx.get(c.as_str()) {
                    kids[i].push(j);
                    indeg[j] += 1;
                }
            }
        }
        let mut depth = vec![0usize; n];
        let mut queue: VecDeque<usize> = (0..n).filter(|&i| indeg[i] == 0).collect();
        let mut done = 0;
        while let Some(i) = queue.pop_front() {
            done += 1;
            for &j in &kids[i] {
                depth[j] = depth[j].max(depth[i] + 1);
                indeg[j] -= 1;
                if indeg[j] == 0 {
                    queue.push_back(j);
                }
            }
        }
        if done < n {
            // walk parent edges inside the leftover set (each has a leftover parent) until a
            // group repeats, then read the loop parent-to-child
            let left: Vec<bool> = indeg.iter().map(|&d| d > 0).collect();
            let mut pars: Vec<Vec<usize>> = vec![Vec::new(); n];
            for (i, ks) in kids.iter().enumerate() {
                for &j in ks {
                    pars[j].push(i);
                }
            }
            let start = left.iter().position(|&l| l).unwrap_or(0);
            let mut path = vec![start];
            let mut at = start;
            let cycle = loop {
                let Some(&next) = pars[at].iter().find(|&&j| left[j]) else {
                    break vec![at];
                };
                if let Some(p) = path.iter().position(|&x| x == next) {
                    let mut c = path[p..].to_vec();
                    c.push(next);
                    c.reverse();
                    break c;
                }
                path.push(next);
                at = next;
            };
            let names: Vec<&str> = cycle
                .iter()
                .filter_map(|&i| self.groups.get_index(i).map(|(k, _)| k.as_str()))
                .collect();
            let (parent, child) = match names.as_slice() {
                [.., p, c] => (*p, *c),
                _ => ("?", "?"),
            };
            let (file, line) = self
                .edges
                .iter()
                .find(|(p, c, ..)| p == parent && c == child)
                .map_or((self.file.clone(), None), |(_, _, f, l)| (f.clone(), *l));
            return Err(InventoryError::parse(
                &file,
                line,
                format!(
                    "groups are children of each other in a loop: {}",
                    names.join(" -> ")
                ),
            ));
        }
        for (i, g) in self.groups.values_mut().enumerate() {
            g.depth = depth[i];
        }
        Ok(())
    }

    fn check_var_names(&mut self) {
        let mut bad = Vec::new();
        for g in self.groups.values() {
            bad.extend(
                g.vars
                    .keys()
                    .filter(|k| !is_valid_var_name(k))
                    .map(|k| (g.line, format!("group `{}`", g.name), k.clone())),
            );
        }
        for h in self.hosts.values() {
            bad.extend(
                h.vars
                    .keys()
                    .filter(|k| !is_valid_var_name(k))
                    .map(|k| (h.line, format!("host `{}`", h.name), k.clone())),
            );
        }
        for (line, owner, k) in bad {
            self.warn(line, format!("variable `{k}` of {owner} is not a valid hoist variable name; it is left out of the namespace"));
        }
    }
}
