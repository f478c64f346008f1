//! The namespace model built from an inventory.

use std::collections::HashSet;
use std::sync::Arc;

use hoist_core::namespace::is_valid_var_name;
use hoist_core::{Model, Multi, Role, Secret, SourceLoc, Var, Vars};
use indexmap::IndexMap;

use crate::model::{ALL, Inventory, ResolvedHost};
use crate::special::is_secret_name;

/// A namespace model of an inventory's hosts, built by [`Inventory::namespace`].
///
/// - `hosts[<host>]`: one role per host, on the host's address with its connection settings
///   (port, user, key file, password, jump host) and, as role variables, the host's own
///   variables and those it inherits from its groups by Ansible's precedence (`all`'s
///   excepted: they are the namespace's `vars`).
/// - `groups[<group>][<host>]`: one role per membership (descendant groups' hosts included,
///   `all` and `ungrouped` too), the same as `hosts[<host>]`, inside a multi that carries the
///   group's own variables.
/// - `vars`: the variables of `all`.
///
/// Lookups from a role go role, group, namespace, so every role of a host sees the same
/// values whichever group it is reached through. Connection variables (`ansible_host`,
/// `ansible_port`, `ansible_user`, `ansible_ssh_private_key_file`, `ansible_ssh_common_args`,
/// `ansible_password`, …) are connection settings, not variables, and Ansible's other own
/// settings (`ansible_python_interpreter`, `ansible_become`, … every `ansible_*` name) are
/// left out of role variables (they stay in [`ResolvedHost::vars`]). Variables whose names are
/// not valid hoist names are left out (the inventory has a warning for each); variables whose
/// names say password (`*password*`, `*_pass`, `*passwd`) are secret; a literal `!{` in a
/// value stays literal.
///
/// Children exist for every host and group of the inventory. A reference to a host that is
/// not there makes a role with no host, which a task on it reports when planning.
#[derive(Model)]
pub struct InventoryNamespace {
    /// The variables of group `all`.
    pub vars: Vars,
    /// A multi of roles per group, keyed by group name, then by host name.
    pub groups: Multi<Multi<Role>>,
    /// One role per host, keyed by host name.
    pub hosts: Multi<Role>,
}

struct Data {
    roles: IndexMap<String, Role>,
    groups: IndexMap<String, (Vars, Vec<String>)>,
    /// Where the namespace was made: what diagnostics about its roles point at.
    loc: SourceLoc,
}

impl Data {
    fn role(&self, host: &str) -> Role {
        self.roles
            .get(host)
            .cloned()
            .unwrap_or_else(|| Role::new().located(self.loc))
    }
}

/// Hoist variables from inventory variables (see [`InventoryNamespace`]), located at `loc`.
pub(crate) fn to_vars(vars: &IndexMap<String, String>, loc: SourceLoc) -> Vars {
    let mut out = Vars::new();
    for (k, v) in vars {
        if !is_valid_var_name(k) || k.starts_with("ansible_") {
            continue;
        }
        let v = v.replace("!{", "!!{");
        let mut var = if is_secret_name(k) {
            Var::new(k, Secret::new(v))
        } else {
            Var::new(k, v)
        };
        var.loc = loc;
        out = out.var(var);
    }
    out
}

/// The role of a resolved host, with `vars` as its variables, located at `loc`.
pub(crate) fn role_of(h: &ResolvedHost, loc: SourceLoc) -> Role {
    Role::on(h.address.as_str())
        .connection(h.connection())
        .vars(to_vars(&h.vars, loc))
        .located(loc)
}

impl Inventory {
    /// The namespace model of this inventory. See [`InventoryNamespace`].
    ///
    /// ```
    /// # extern crate hoist_core as hoist;
    /// use hoist_core::{Model, MultiTask, PlanInput, Task, plan};
    /// use hoist_inventory::{Inventory, InventoryNamespace};
    ///
    /// let inv = Inventory::from_ini("[web]\nweb[1:2] ansible_user=deploy\n", "hosts.ini").unwrap();
    /// let ns = inv.namespace();
    ///
    /// #[derive(Model)]
    /// struct Cfg { ping: MultiTask<hoist_core::Task> }
    /// let cfg = Cfg { ping: MultiTask::new(|r| Task::ping().role(r), InventoryNamespace::refs().groups.at("web").all()) };
    /// let p = plan(&PlanInput::new("demo").namespace("inv", &ns).config("cfg", &cfg)).unwrap();
    /// assert_eq!(p.tasks.len(), 2);
    /// assert_eq!(p.role_by_path("inv", "hosts[web1]").unwrap().conn.creds.user.as_deref(), Some("deploy"));
    /// ```
    ///
    /// Diagnostics about its roles and variables point at the call of this method.
    #[track_caller]
    pub fn namespace(&self) -> InventoryNamespace {
        let loc = SourceLoc::caller();
        let mut roles = IndexMap::new();
        for name in self.hosts.keys() {
            if let Some(h) = self.resolve_with(name, false) {
                roles.insert(name.clone(), role_of(&h, loc));
            }
        }
        let mut groups = IndexMap::new();
        for g in self.groups.values() {
            let members = self
                .group_hosts(&g.name)
                .into_iter()
                .map(str::to_string)
                .collect();
            groups.insert(g.name.clone(), (to_vars(&g.vars, loc), members));
        }
        let all_vars = self
            .groups
            .get(ALL)
            .map(|g| to_vars(&g.vars, loc))
            .unwrap_or_default();
        let data = Arc::new(Data { roles, groups, loc });

        let d = data.clone();
        let hosts = Multi::from_fn(move |k| d.role(k.as_str())).keys(data.roles.keys());
        let d = data.clone();
        let groups = Multi::from_fn(move |g| {
            let (vars, members) = d.groups.get(g.as_str()).cloned().unwrap_or_default();
            let d2 = d.clone();
            let allowed: HashSet<String> = members.iter().cloned().collect();
            Multi::from_fn(move |h| {
                if allowed.contains(h.as_str()) {
                    d2.role(h.as_str())
                } else {
                    Role::new().located(d2.loc)
                }
            })
            .keys(members)
            .vars(vars)
        })
        .keys(data.groups.keys());
        InventoryNamespace {
            vars: all_vars,
            groups,
            hosts,
        }
    }
}
