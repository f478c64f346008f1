//! Parsing Ansible inventories and ssh_config, and planning against the namespace they make.

extern crate hoist_core as hoist;

use std::path::PathBuf;

use hoist_core::{
    Model, MultiTask, Outputs, Plan, PlanInput, PlannedHost, ResourceId, RoleId, Task, plan,
};
use hoist_inventory::{Format, Inventory, InventoryError, InventoryNamespace};

// ---------------------------------------------------------------- helpers

/// No provisioning outputs (plan time).
struct NoOutputs;

impl Outputs for NoOutputs {
    fn output(&self, _: ResourceId, _: &str) -> Option<serde_json::Value> {
        None
    }
    fn provider_id(&self, _: ResourceId) -> Option<String> {
        None
    }
}

/// A config pinging every host of one group and running one task on one host.
#[derive(Model)]
struct PingGroup {
    ping: MultiTask<Task>,
}

fn ping(group: &str) -> PingGroup {
    PingGroup {
        ping: MultiTask::new(
            |r| Task::ping().role(r),
            InventoryNamespace::refs().groups.at(group).all(),
        ),
    }
}

fn plan_group(inv: &Inventory, group: &str) -> Plan {
    let ns = inv.namespace();
    let cfg = ping(group);
    plan(
        &PlanInput::new("t")
            .namespace("inv", &ns)
            .config("cfg", &cfg),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn role(p: &Plan, path: &str) -> RoleId {
    p.role_by_path("inv", path)
        .unwrap_or_else(|| panic!("no role {path}"))
        .id
}

fn var(p: &Plan, path: &str, name: &str) -> Option<String> {
    p.var_value(role(p, path), name, &NoOutputs)
        .ok()
        .map(|e| e.text)
}

fn home() -> PathBuf {
    PathBuf::from(std::env::var("HOME").expect("HOME"))
}

/// The hosts a plan's ping tasks run on, by address.
fn pinged(p: &Plan) -> Vec<String> {
    let mut v: Vec<String> = p
        .tasks
        .iter()
        .map(|t| match &p.roles[t.run_on.index()].host {
            PlannedHost::Address(a) => a.clone(),
            other => panic!("unexpected host {other:?}"),
        })
        .collect();
    v.sort();
    v
}

const SITE_INI: &str = r#"
# hosts before any section are ungrouped
mail.example.com ansible_port=2201

[web]
web[01:03].example.com http_port=80
web-extra.example.com:2222  http_port='8 0'   # a comment

[db]
db1 ansible_host=10.0.1.5 ansible_user=postgres ansible_ssh_private_key_file=~/.ssh/db_key
db2 ansible_host=10.0.1.6 ansible_ssh_common_args='-o StrictHostKeyChecking=no -o ProxyJump=ops@bastion:2200'

[db:vars]
purpose = "database server"
ntp=db-ntp
db_password=hunter2
tpl=a!{b}

[prod:children]
web
db

[prod:vars]
env=prod
ntp=prod-ntp
http_port=8080
ansible_user=deploy

[all:vars]
ntp=all-ntp
dns=1.1.1.1
"#;

const SITE_YAML: &str = r#"
all:
  hosts:
    mail.example.com:
      ansible_port: 2201
  vars:
    ntp: all-ntp
    dns: 1.1.1.1
  children:
    prod:
      vars:
        env: prod
        ntp: prod-ntp
        http_port: 8080
        ansible_user: deploy
      children:
        web:
          hosts:
            web[01:03].example.com:
              http_port: 80
            web-extra.example.com:2222:
              http_port: "8 0"
        db:
          hosts:
            db1:
              ansible_host: 10.0.1.5
              ansible_user: postgres
              ansible_ssh_private_key_file: ~/.ssh/db_key
            db2:
              ansible_host: 10.0.1.6
              ansible_ssh_common_args: -o StrictHostKeyChecking=no -o ProxyJump=ops@bastion:2200
          vars:
            purpose: database server
            ntp: db-ntp
            db_password: hunter2
            tpl: a!{b}
"#;

// ---------------------------------------------------------------- Ansible: structure

fn check_site(inv: &Inventory) {
    let names: Vec<&str> = inv.hosts().map(|h| h.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "mail.example.com",
            "web01.example.com",
            "web02.example.com",
            "web03.example.com",
            "web-extra.example.com",
            "db1",
            "db2"
        ]
    );
    assert_eq!(inv.group_hosts("ungrouped"), ["mail.example.com"]);
    assert_eq!(inv.group_hosts("all").len(), 7);
    assert_eq!(inv.group_hosts("prod").len(), 6);
    assert_eq!(inv.group_hosts("db"), ["db1", "db2"]);
    assert!(inv.group_hosts("nope").is_empty());
    assert_eq!(inv.group("prod").unwrap().depth, 1);
    assert_eq!(inv.group("web").unwrap().depth, 2);
    assert_eq!(inv.group("web").unwrap().parents, ["prod"]);
    assert_eq!(inv.host_groups("db1"), ["all", "prod", "db"]);
    assert_eq!(inv.host("db1").unwrap().groups, ["db"]);
    assert_eq!(inv.host("mail.example.com").unwrap().groups, ["ungrouped"]);

    let mail = inv.resolve("mail.example.com").unwrap();
    assert_eq!(
        (mail.address.as_str(), mail.port, mail.user.as_deref()),
        ("mail.example.com", Some(2201), None)
    );

    let extra = inv.resolve("web-extra.example.com").unwrap();
    assert_eq!(extra.port, Some(2222));
    assert_eq!(extra.vars["http_port"], "8 0");
    assert_eq!(
        extra.user.as_deref(),
        Some("deploy"),
        "group connection variables apply to members"
    );

    let db1 = inv.resolve("db1").unwrap();
    assert_eq!(db1.address, "10.0.1.5");
    assert_eq!(db1.user.as_deref(), Some("postgres"), "host beats group");
    assert_eq!(db1.key_file, Some(home().join(".ssh/db_key")));
    assert_eq!(db1.vars["ntp"], "db-ntp", "child group beats parent group");
    assert_eq!(db1.vars["dns"], "1.1.1.1");
    assert_eq!(db1.vars["purpose"], "database server");
    assert!(!db1.vars.contains_key("ansible_host") && !db1.vars.contains_key("ansible_user"));

    let db2 = inv.resolve("db2").unwrap();
    assert_eq!(db2.jump.as_deref(), Some("ops@bastion:2200"));
    assert_eq!(db2.user.as_deref(), Some("deploy"));

    let web2 = inv.resolve("web02.example.com").unwrap();
    assert_eq!(web2.vars["http_port"], "80", "host beats group");
    assert_eq!(web2.vars["ntp"], "prod-ntp", "group beats all");
    assert_eq!(web2.vars["env"], "prod");
    assert!(inv.warnings().is_empty(), "{:?}", inv.warnings());
}

#[test]
fn ini_site() {
    check_site(&Inventory::from_ini(SITE_INI, "site.ini").unwrap());
}

#[test]
fn yaml_site() {
    check_site(&Inventory::from_yaml(SITE_YAML, "site.yml").unwrap());
}

#[test]
fn ini_and_yaml_agree() {
    let a = Inventory::from_ini(SITE_INI, "site.ini").unwrap();
    let b = Inventory::from_yaml(SITE_YAML, "site.yml").unwrap();
    for h in a.hosts() {
        assert_eq!(a.resolve(&h.name), b.resolve(&h.name), "{}", h.name);
    }
    let ga: Vec<&str> = a.groups().map(|g| g.name.as_str()).collect();
    let mut gb: Vec<&str> = b.groups().map(|g| g.name.as_str()).collect();
    let mut ga_sorted = ga.clone();
    ga_sorted.sort_unstable();
    gb.sort_unstable();
    assert_eq!(ga_sorted, gb);
    assert_eq!(&ga[..2], ["all", "ungrouped"]);
}

#[test]
fn group_priority_and_same_depth_order() {
    // same depth: by name, the later winning
    let text = "[a]\nh\n[b]\nh\n[a:vars]\nx=from-a\n[b:vars]\nx=from-b\n";
    let inv = Inventory::from_ini(text, "p.ini").unwrap();
    assert_eq!(inv.resolve("h").unwrap().vars["x"], "from-b");
    // ansible_group_priority raises a group
    let inv = Inventory::from_ini(
        &format!("{text}[a:vars]\nansible_group_priority=10\n"),
        "p.ini",
    )
    .unwrap();
    assert_eq!(inv.resolve("h").unwrap().vars["x"], "from-a");
    assert_eq!(inv.host_groups("h"), ["all", "b", "a"]);
    assert!(
        !inv.resolve("h")
            .unwrap()
            .vars
            .contains_key("ansible_group_priority")
    );
    // depth beats priority: a child group wins over a higher-priority parent
    let text = "[p:children]\nc\n[c]\nh\n[p:vars]\nx=p\nansible_group_priority=99\n[c:vars]\nx=c\n";
    assert_eq!(
        Inventory::from_ini(text, "p.ini")
            .unwrap()
            .resolve("h")
            .unwrap()
            .vars["x"],
        "c"
    );
}

#[test]
fn ini_details() {
    let text = "\
; semicolon comment
[all]
lonely

[ungrouped]
also-lonely

[g1]
h[a:c] x=1
h[1:7:3]
[g1:vars]
quoted='single quoted'
spaced = value with spaces
empty=
[g2:children]
g1  # a comment
[g2:hosts]
ha
2001:db8::5
";
    let inv = Inventory::from_ini(text, "d.ini").unwrap();
    assert_eq!(inv.group_hosts("ungrouped"), ["lonely", "also-lonely"]);
    assert_eq!(inv.group_hosts("g1"), ["ha", "hb", "hc", "h1", "h4", "h7"]);
    assert_eq!(inv.group("g2").unwrap().hosts, ["ha", "2001:db8::5"]);
    assert_eq!(inv.group_hosts("g2").len(), 7);
    let ha = inv.resolve("ha").unwrap();
    assert_eq!(ha.vars["quoted"], "single quoted");
    assert_eq!(ha.vars["spaced"], "value with spaces");
    assert_eq!(ha.vars["empty"], "");
    assert_eq!(ha.vars["x"], "1");
    assert_eq!(inv.resolve("2001:db8::5").unwrap().port, None);
    assert_eq!(inv.host("ha").unwrap().groups, ["g1", "g2"]);
    assert_eq!(inv.host("ha").unwrap().line, Some(9));
}

#[test]
fn yaml_details() {
    let text = r#"
# top-level groups besides `all` are groups too
web:
  hosts:
    w[1:2]:
    10.0.0.9:
      port_list: [80, 443]
      settings: {a: 1}
      flag: true
      nothing: ~
      secret: !vault |
        $ANSIBLE_VAULT;1.1;AES256
        6162
  vars:
    ansible_host: "{{ inventory_hostname }}.example.com"
  extra_key: oops
empty_group:
all:
"#;
    let inv = Inventory::from_yaml(text, "d.yml").unwrap();
    assert_eq!(inv.group_hosts("web"), ["w1", "w2", "10.0.0.9"]);
    assert!(inv.group("empty_group").is_some());
    let h = inv.resolve("10.0.0.9").unwrap();
    assert_eq!(h.vars["port_list"], "[80,443]");
    assert_eq!(h.vars["settings"], r#"{"a":1}"#);
    assert_eq!(h.vars["flag"], "true");
    assert_eq!(h.vars["nothing"], "");
    assert!(!h.vars.contains_key("secret"));
    assert_eq!(h.address, "10.0.0.9", "a templated ansible_host is ignored");
    let w: Vec<String> = inv.warnings().iter().map(ToString::to_string).collect();
    assert_eq!(w.len(), 3, "{w:?}");
    assert!(w.iter().any(|m| m.contains("`extra_key`")), "{w:?}");
    assert!(w.iter().any(|m| m.contains("Vault")), "{w:?}");
    assert!(w.iter().any(|m| m.contains("Jinja")), "{w:?}");

    for empty in ["", "---\n", "# nothing\n", "all:\n"] {
        let inv = Inventory::from_yaml(empty, "e.yml").unwrap();
        assert_eq!(inv.hosts().count(), 0);
    }
}

// ---------------------------------------------------------------- plans

#[test]
fn plan_over_ini_groups() {
    let inv = Inventory::from_ini(SITE_INI, "site.ini").unwrap();
    let p = plan_group(&inv, "web");
    assert_eq!(
        pinged(&p),
        [
            "web-extra.example.com",
            "web01.example.com",
            "web02.example.com",
            "web03.example.com"
        ]
    );

    // every host and every membership is a role
    for h in inv.hosts() {
        assert!(
            p.role_by_path("inv", &format!("hosts[{}]", h.name))
                .is_some(),
            "{}",
            h.name
        );
    }
    let r = p.role_by_path("inv", "groups[db][db1]").unwrap();
    assert_eq!(r.host, PlannedHost::Address("10.0.1.5".into()));
    assert_eq!(r.conn.creds.user.as_deref(), Some("postgres"));
    assert_eq!(r.conn.creds.key_file, Some(home().join(".ssh/db_key")));
    let r = p.role_by_path("inv", "hosts[db2]").unwrap();
    assert_eq!(r.conn.jump.as_deref(), Some("ops@bastion:2200"));
    assert_eq!(r.conn.creds.user.as_deref(), Some("deploy"));
    let r = p
        .role_by_path("inv", "groups[ungrouped][mail.example.com]")
        .unwrap();
    assert_eq!(r.conn.port, Some(2201));

    // variables and their precedence, seen from roles
    for path in [
        "hosts[web01.example.com]",
        "groups[web][web01.example.com]",
        "groups[prod][web01.example.com]",
    ] {
        assert_eq!(var(&p, path, "http_port").as_deref(), Some("80"), "{path}");
        assert_eq!(var(&p, path, "ntp").as_deref(), Some("prod-ntp"), "{path}");
        assert_eq!(var(&p, path, "env").as_deref(), Some("prod"), "{path}");
        assert_eq!(var(&p, path, "dns").as_deref(), Some("1.1.1.1"), "{path}");
        assert_eq!(var(&p, path, "ansible_port"), None, "{path}");
    }
    for path in ["hosts[db1]", "groups[db][db1]", "groups[all][db1]"] {
        assert_eq!(var(&p, path, "ntp").as_deref(), Some("db-ntp"), "{path}");
        assert_eq!(
            var(&p, path, "purpose").as_deref(),
            Some("database server"),
            "{path}"
        );
        assert_eq!(
            var(&p, path, "tpl").as_deref(),
            Some("a!{b}"),
            "a literal `!{{` stays literal"
        );
        assert_eq!(
            var(&p, path, "ansible_host"),
            None,
            "connection variables are not variables"
        );
        assert_eq!(var(&p, path, "ansible_user"), None);
        let pw = p
            .var_value(role(&p, path), "db_password", &NoOutputs)
            .unwrap();
        assert!(pw.secret && pw.text == "hunter2");
    }
    assert_eq!(
        var(&p, "hosts[mail.example.com]", "ntp").as_deref(),
        Some("all-ntp")
    );
    assert_eq!(var(&p, "hosts[mail.example.com]", "env"), None);
    assert!(p.secrets().iter().any(|s| s.expose() == "hunter2"));
}

#[test]
fn plan_over_yaml_and_namespace_scopes() {
    let inv = Inventory::from_yaml(SITE_YAML, "site.yml").unwrap();
    let p = plan_group(&inv, "prod");
    assert_eq!(p.tasks.len(), 6);
    // group variables live on the group's multi, `all`'s on the namespace: visible in order
    let web = role(&p, "groups[web][web01.example.com]");
    let names: Vec<String> = p
        .visible_vars(web, &NoOutputs)
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(names, ["dns", "env", "http_port", "ntp"]);
    let (env, errs) = p.task_env(web, &NoOutputs);
    assert!(errs.is_empty());
    assert!(env.contains(&("http_port".into(), "80".into())));
}

#[test]
fn namespace_children_and_unknown_keys() {
    let inv = Inventory::from_ini("[web]\nw1\nw2\n[db]\nd1\n", "n.ini").unwrap();
    let ns = inv.namespace();
    assert_eq!(ns.hosts.declared_keys().len(), 3);
    assert_eq!(ns.groups.declared_keys().len(), 4); // all, ungrouped, web, db

    // a task on a host that is not in the inventory is a plan error naming the role
    #[derive(Model)]
    struct Cfg {
        t: Task,
    }
    let cfg = Cfg {
        t: Task::ping().role(InventoryNamespace::refs().hosts.at("nope")),
    };
    let e = plan(
        &PlanInput::new("t")
            .namespace("inv", &ns)
            .config("cfg", &cfg),
    )
    .unwrap_err();
    assert!(e.to_string().contains("hosts[nope]"), "{e}");
    let cfg = Cfg {
        t: Task::ping().role(InventoryNamespace::refs().groups.at("web").at("d1")),
    };
    assert!(
        plan(
            &PlanInput::new("t")
                .namespace("inv", &ns)
                .config("cfg", &cfg)
        )
        .is_err()
    );

    // an unknown group is an error naming it, not a selection of nothing
    let cfg = ping("nope");
    let e = plan(
        &PlanInput::new("t")
            .namespace("inv", &ns)
            .config("cfg", &cfg),
    )
    .unwrap_err();
    assert!(e.to_string().contains("inv/groups[nope]"), "{e}");
    // a role per host, per membership (`all` and `ungrouped` included)
    let p = plan_group(&inv, "all");
    assert_eq!(p.tasks.len(), 3);
    assert_eq!(p.roles.len(), 3 + 3 + 2 + 1);
}

#[test]
fn invalid_var_names_are_left_out_with_a_warning() {
    let inv = Inventory::from_yaml(
        "all:\n  hosts:\n    h:\n      ok: 1\n      'bad name': 2\n      9lives: 3\n",
        "v.yml",
    )
    .unwrap();
    assert_eq!(inv.warnings().len(), 2, "{:?}", inv.warnings());
    let p = plan_group(&inv, "all");
    assert_eq!(var(&p, "hosts[h]", "ok").as_deref(), Some("1"));
    assert_eq!(p.visible_vars(role(&p, "hosts[h]"), &NoOutputs).len(), 1);
}

// ---------------------------------------------------------------- ssh_config

const SSH_CONFIG: &str = r#"
# global defaults come first and win, as in OpenSSH
ServerAliveInterval 30

Host bastion
    HostName bastion.example.com
    User jump
    Port 2200

Host web1 web2
    HostName %h.internal
    ProxyJump bastion

Host inner
    HostName 10.9.9.9
    ProxyJump web1

Host db1
    HostName=10.0.0.5
    Port = 2222
    User postgres
    IdentityFile "~/.ssh/db key"

Host *.example.org !skip.example.org
    User org

Host web-*
    User ignored-pattern-host

Host site.example.org skip.example.org
    Port 2022

Match exec "true"
    User never

Host direct
    ProxyJump none

Host *
    User default
    IdentityFile ~/.ssh/id_default
    ProxyJump fallback@gw
    StrictHostKeyChecking no
"#;

#[test]
fn ssh_config_hosts() {
    let inv = Inventory::from_ssh_config(SSH_CONFIG, "ssh_config").unwrap();
    let names: Vec<&str> = inv.hosts().map(|h| h.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "bastion",
            "web1",
            "web2",
            "inner",
            "db1",
            "site.example.org",
            "skip.example.org",
            "direct"
        ]
    );
    assert_eq!(inv.group_hosts("ungrouped").len(), 8);

    let b = inv.resolve("bastion").unwrap();
    assert_eq!(
        (b.address.as_str(), b.port, b.user.as_deref()),
        ("bastion.example.com", Some(2200), Some("jump"))
    );
    assert_eq!(
        b.key_file,
        Some(home().join(".ssh/id_default")),
        "defaults from `Host *`"
    );
    assert_eq!(b.jump.as_deref(), Some("fallback@gw"));

    let w = inv.resolve("web1").unwrap();
    assert_eq!(w.address, "web1.internal");
    assert_eq!(w.user.as_deref(), Some("default"));
    assert_eq!(w.port, None);
    // the jump host is a host of the file: its address, user and port, and its own jump host
    assert_eq!(
        w.jump.as_deref(),
        Some("fallback@gw,jump@bastion.example.com:2200")
    );
    let i = inv.resolve("inner").unwrap();
    assert_eq!(
        i.jump.as_deref(),
        Some("fallback@gw,jump@bastion.example.com:2200,default@web1.internal")
    );

    let d = inv.resolve("db1").unwrap();
    assert_eq!(
        (d.address.as_str(), d.port, d.user.as_deref()),
        ("10.0.0.5", Some(2222), Some("postgres"))
    );
    assert_eq!(
        d.key_file,
        Some(home().join(".ssh/db key")),
        "the first IdentityFile wins"
    );

    assert_eq!(
        inv.resolve("site.example.org").unwrap().user.as_deref(),
        Some("org")
    );
    assert_eq!(inv.resolve("site.example.org").unwrap().port, Some(2022));
    assert_eq!(
        inv.resolve("skip.example.org").unwrap().user.as_deref(),
        Some("default"),
        "negated pattern"
    );
    assert_eq!(
        inv.resolve("direct").unwrap().jump,
        None,
        "`ProxyJump none` came first"
    );
    let w: Vec<String> = inv.warnings().iter().map(ToString::to_string).collect();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with("ssh_config:33: `Match exec true` is not supported"),
        "{w:?}"
    );
}

#[test]
fn ssh_config_first_value_wins() {
    let text =
        "Host *\n  User everyone\nHost db1\n  User postgres\n  Port 2222\nHost db*\n  Port 3333\n";
    let d = Inventory::from_ssh_config(text, "c")
        .unwrap()
        .resolve("db1")
        .unwrap();
    assert_eq!((d.user.as_deref(), d.port), (Some("everyone"), Some(2222)));
}

#[test]
fn ssh_config_plan() {
    let inv = Inventory::from_ssh_config(SSH_CONFIG, "ssh_config").unwrap();
    let p = plan_group(&inv, "all");
    assert_eq!(p.tasks.len(), 8);
    let r = p.role_by_path("inv", "hosts[db1]").unwrap();
    assert_eq!(r.host, PlannedHost::Address("10.0.0.5".into()));
    assert_eq!(r.conn.port, Some(2222));
    assert_eq!(r.conn.creds.user.as_deref(), Some("postgres"));
    assert_eq!(r.conn.jump.as_deref(), Some("fallback@gw"));
    assert!(p.visible_vars(r.id, &NoOutputs).is_empty());
}

#[test]
fn ssh_config_proxy_command_and_loops() {
    let text = "\
Host a
  ProxyCommand ssh -W %h:%p -p 2022 ops@gw
Host b
  ProxyCommand nc -X 5 -x proxy:1080 %h %p
Host c
  ProxyJump d
Host d
  ProxyJump c
Host e
  Include other.conf
";
    let inv = Inventory::from_ssh_config(text, "cfg").unwrap();
    assert_eq!(
        inv.resolve("a").unwrap().jump.as_deref(),
        Some("ops@gw:2022")
    );
    assert_eq!(inv.resolve("b").unwrap().jump, None);
    assert_eq!(inv.resolve("c").unwrap().jump, None);
    let w: Vec<String> = inv.warnings().iter().map(ToString::to_string).collect();
    assert!(
        w.iter().any(|m| m.starts_with("cfg:4: `ProxyCommand nc")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|m| m.starts_with("cfg:5:") && m.contains("loop")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|m| m.starts_with("cfg:10: `Include other.conf` is not followed")),
        "{w:?}"
    );
}

// ---------------------------------------------------------------- the test bed's files

/// What `scripts/testbed up 3 /tmp/tb` writes to /tmp/tb/inventory.ini.
const TESTBED_INI: &str = "\
# hoist testbed: 3 hosts; generated by scripts/testbed
[testbed]
host1 ansible_host=127.0.1.1 ansible_port=2222 ansible_user=root ansible_ssh_private_key_file=/tmp/tb/id_ed25519
host2 ansible_host=127.0.1.2 ansible_port=2222 ansible_user=root ansible_ssh_private_key_file=/tmp/tb/id_ed25519
host3 ansible_host=127.0.1.3 ansible_port=2222 ansible_user=root ansible_ssh_private_key_file=/tmp/tb/id_ed25519

[testbed:vars]
ansible_ssh_common_args='-F /tmp/tb/ssh_config'
ansible_python_interpreter=auto_silent
";

/// What it writes to /tmp/tb/ssh_config (per-host blocks, then defaults for all hosts).
const TESTBED_SSH: &str = "\
# hoist testbed ssh client config: ssh -F /tmp/tb/ssh_config host1
Host host1
  HostName 127.0.1.1
  Port 2222
  User root
Host host2
  HostName 127.0.1.2
  Port 2222
  User root
Host host3
  HostName 127.0.1.3
  Port 2222
  User root

Host *
  IdentityFile /tmp/tb/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile /tmp/tb/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  CheckHostIP no
  UpdateHostKeys no
  BatchMode yes
  PasswordAuthentication no
  KbdInteractiveAuthentication no
  ConnectTimeout 10
  LogLevel ERROR
";

#[test]
fn testbed_files() {
    let ini = Inventory::from_ini(TESTBED_INI, "inventory.ini").unwrap();
    let ssh = Inventory::from_ssh_config(TESTBED_SSH, "ssh_config").unwrap();
    assert!(ini.warnings().is_empty() && ssh.warnings().is_empty());
    for i in 1..=3 {
        let name = format!("host{i}");
        let a = ini.resolve(&name).unwrap();
        let b = ssh.resolve(&name).unwrap();
        for h in [&a, &b] {
            assert_eq!(h.address, format!("127.0.1.{i}"));
            assert_eq!(h.port, Some(2222));
            assert_eq!(h.user.as_deref(), Some("root"));
            assert_eq!(
                h.key_file.as_deref(),
                Some(std::path::Path::new("/tmp/tb/id_ed25519"))
            );
            assert_eq!(h.jump, None);
        }
        assert_eq!(a.connection(), b.connection());
        // the inventory keeps Ansible's own settings as data…
        assert_eq!(
            a.vars.get("ansible_python_interpreter").map(String::as_str),
            Some("auto_silent")
        );
        assert!(b.vars.is_empty());
    }
    let p = plan_group(&ini, "testbed");
    assert_eq!(pinged(&p), ["127.0.1.1", "127.0.1.2", "127.0.1.3"]);
    // …but no `ansible_*` variable becomes a role variable
    for path in ["hosts[host1]", "groups[testbed][host2]"] {
        assert!(
            p.visible_vars(role(&p, path), &NoOutputs).is_empty(),
            "{path}"
        );
        let r = p.role_by_path("inv", path).unwrap();
        assert_eq!(r.conn.port, Some(2222));
        assert_eq!(r.conn.jump, None);
    }
    for t in &p.tasks {
        assert_eq!(
            t.creds.user.as_deref(),
            Some("root"),
            "the role's user reaches the task"
        );
        assert_eq!(
            t.creds.key_file.as_deref(),
            Some(std::path::Path::new("/tmp/tb/id_ed25519"))
        );
    }
    let p = plan_group(&ssh, "all");
    assert_eq!(pinged(&p), ["127.0.1.1", "127.0.1.2", "127.0.1.3"]);
}

/// The real test bed's files, when `HOIST_TESTBED_DIR` names a directory made by
/// `scripts/testbed up N DIR`.
#[test]
fn testbed_dir_when_available() {
    let Some(dir) = std::env::var_os("HOIST_TESTBED_DIR").map(PathBuf::from) else {
        return;
    };
    let ini = Inventory::load(dir.join("inventory.ini")).unwrap();
    let ssh = Inventory::load(dir.join("ssh_config")).unwrap();
    assert!(ini.warnings().is_empty() && ssh.warnings().is_empty());
    // hosts.tsv: name, address, port, user
    let tsv = std::fs::read_to_string(dir.join("hosts.tsv")).unwrap();
    let rows: Vec<Vec<&str>> = tsv
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(ini.group_hosts("testbed").len(), rows.len());
    assert_eq!(ssh.hosts().count(), rows.len());
    for row in &rows {
        let [name, addr, port, user] = row[..] else {
            panic!("bad hosts.tsv row {row:?}")
        };
        let a = ini.resolve(name).unwrap();
        assert_eq!(a.address, addr);
        assert_eq!(a.port.map(|p| p.to_string()).as_deref(), Some(port));
        assert_eq!(a.user.as_deref(), Some(user));
        assert_eq!(a.key_file, Some(dir.join("id_ed25519")));
        assert_eq!(
            a.connection(),
            ssh.resolve(name).unwrap().connection(),
            "{name}"
        );
        assert_eq!(ssh.resolve(name).unwrap().address, addr);
    }
    assert_eq!(plan_group(&ini, "testbed").tasks.len(), rows.len());
    assert_eq!(plan_group(&ssh, "all").tasks.len(), rows.len());
}

// ---------------------------------------------------------------- loading files

#[test]
fn load_detects_formats_and_follows_includes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("inventory.ini"), TESTBED_INI).unwrap();
    std::fs::write(d.join("hosts.yml"), SITE_YAML).unwrap();
    std::fs::write(d.join("hosts"), SITE_INI).unwrap();
    std::fs::write(d.join("yamlish"), "all:\n  hosts:\n    y1:\n").unwrap();
    std::fs::create_dir(d.join("conf.d")).unwrap();
    std::fs::write(d.join("conf.d/b.conf"), "Host inc-b\n  Port 2\n").unwrap();
    std::fs::write(
        d.join("conf.d/a.conf"),
        "Host inc-a\n  Port 1\n  Include ../nested\n",
    )
    .unwrap();
    std::fs::write(d.join("conf.d/.hidden.conf"), "Host hidden\n").unwrap();
    std::fs::write(d.join("nested"), "User nested\n").unwrap();
    std::fs::write(
        d.join("ssh_config"),
        format!("Include conf.d/*.conf missing.conf\nHost after\n  Port 3\n{TESTBED_SSH}"),
    )
    .unwrap();

    assert_eq!(
        Inventory::load(d.join("inventory.ini"))
            .unwrap()
            .group_hosts("testbed")
            .len(),
        3
    );
    assert_eq!(
        Inventory::load(d.join("hosts.yml"))
            .unwrap()
            .hosts()
            .count(),
        7
    );
    assert_eq!(Inventory::load(d.join("hosts")).unwrap().hosts().count(), 7);
    assert_eq!(
        Inventory::load(d.join("yamlish"))
            .unwrap()
            .group_hosts("all"),
        ["y1"]
    );
    let ssh = Inventory::load(d.join("ssh_config")).unwrap();
    let names: Vec<&str> = ssh.hosts().map(|h| h.name.as_str()).collect();
    assert_eq!(
        names,
        ["inc-a", "inc-b", "after", "host1", "host2", "host3"]
    );
    assert_eq!(ssh.resolve("inc-a").unwrap().port, Some(1));
    assert_eq!(
        ssh.resolve("inc-a").unwrap().user.as_deref(),
        Some("nested"),
        "Include inside a Host block"
    );
    assert_eq!(ssh.resolve("inc-b").unwrap().user, None);
    assert_eq!(ssh.resolve("host1").unwrap().port, Some(2222));
    assert!(ssh.warnings().is_empty(), "{:?}", ssh.warnings());

    let e = Inventory::load(d.join("nope.ini")).unwrap_err();
    assert!(matches!(e, InventoryError::Io { .. }));
    assert!(e.to_string().contains("nope.ini"), "{e}");

    // errors in included files name the included file
    std::fs::write(d.join("bad.conf"), "Host x\n  Port nope\n").unwrap();
    std::fs::write(d.join("top_ssh_config"), "Host y\nInclude bad.conf\n").unwrap();
    let e = Inventory::load(d.join("top_ssh_config")).unwrap_err();
    assert!(
        e.to_string().ends_with(
            "bad.conf:2: bad `Port`: bad port `nope`: expected a number from 1 to 65535"
        ),
        "{e}"
    );
    // includes that include themselves stop
    std::fs::write(d.join("loop.conf"), "Include loop.conf\n").unwrap();
    let e = Inventory::load(d.join("loop.conf")).unwrap_err();
    assert!(e.to_string().contains("nested more than"), "{e}");
}

#[test]
fn format_detection() {
    use std::path::Path;
    let cases = [
        ("x.ini", "", Format::Ini),
        ("x.yaml", "", Format::Yaml),
        ("x.conf", "", Format::SshConfig),
        ("config", "[web]", Format::SshConfig),
        ("hosts", "[web]\nh\n", Format::Ini),
        ("hosts", "h1 ansible_port=22\n", Format::Ini),
        ("hosts", "host ansible_port=22\n", Format::Ini),
        ("hosts", "h1\n", Format::Ini),
        ("hosts", "# c\n---\nall:\n", Format::Yaml),
        ("hosts", "all:\n  hosts:\n", Format::Yaml),
        ("hosts", "Host a\n  Port 2\n", Format::SshConfig),
        ("hosts", "HostName=a\n", Format::SshConfig),
        ("hosts", "", Format::Ini),
    ];
    for (name, text, want) in cases {
        assert_eq!(
            Format::detect(Path::new(name), text),
            want,
            "{name} {text:?}"
        );
    }
}

// ---------------------------------------------------------------- errors

fn ini_err(text: &str) -> String {
    Inventory::from_ini(text, "inventory.ini")
        .unwrap_err()
        .to_string()
}

#[test]
fn ini_errors_name_file_and_line() {
    let cases = [
        (
            "[web]\nw1\nw2 port\n",
            "inventory.ini:3: bad host line `w2 port`: expected key=value, got `port`",
        ),
        (
            "[web\n",
            "inventory.ini:1: bad section header `[web`: no closing `]`; expected [group], [group:vars] or [group:children]",
        ),
        (
            "[web:stuff]\n",
            "inventory.ini:1: bad section header `[web:stuff]`: unknown section kind; expected [group], [group:vars] or [group:children]",
        ),
        (
            "[]\n",
            "inventory.ini:1: bad section header `[]`: bad group name; expected [group], [group:vars] or [group:children]",
        ),
        (
            "[web] x\n",
            "inventory.ini:1: bad section header `[web] x`: text after `]`; expected [group], [group:vars] or [group:children]",
        ),
        (
            "\n[web:vars]\njust text\n",
            "inventory.ini:3: bad variable line `just text` in [web:vars]: expected key=value",
        ),
        (
            "[web:vars]\n=1\n",
            "inventory.ini:2: bad variable line `=1` in [web:vars]: expected key=value",
        ),
        (
            "[g:children]\na b\n",
            "inventory.ini:2: bad line `a b` in [g:children]: expected one group name",
        ),
        (
            "[g]\nh ansible_port=http\n",
            "inventory.ini:2: bad `ansible_port`: bad port `http`: expected a number from 1 to 65535",
        ),
        (
            "[g]\nh:99999\n",
            "inventory.ini:2: bad host line `h:99999`: bad port `99999`: expected a number from 1 to 65535",
        ),
        (
            "[g]\nw[3:1]\n",
            "inventory.ini:2: bad host line `w[3:1]`: bad host range `[3:1]` in `w[3:1]`: start is after end",
        ),
        (
            "[g]\nw[1:1000000]\n",
            "inventory.ini:2: bad host line `w[1:1000000]`: bad host range `[1:1000000]` in `w[1:1000000]`: more than 100000 hosts",
        ),
        (
            "[g]\nh x='unterminated\n",
            "inventory.ini:2: bad host line `h x='unterminated`: unbalanced quotes",
        ),
        (
            "[g]\nansible_host=1.2.3.4\n",
            "inventory.ini:2: bad host line `ansible_host=1.2.3.4`: `ansible_host=1.2.3.4` is not a host name (a host name comes before key=value)",
        ),
        (
            "[g]\nh =x\n",
            "inventory.ini:2: bad host line `h =x`: expected key=value, got `=x`",
        ),
        (
            "[a:children]\nb\n[b:children]\nc\n[c:children]\na\n",
            "inventory.ini:6: groups are children of each other in a loop: a -> b -> c -> a",
        ),
        (
            "[a:children]\na\n",
            "inventory.ini:2: group `a` cannot be its own child",
        ),
        (
            "[a:children]\nall\n",
            "inventory.ini:2: `all` cannot be a child of group `a`",
        ),
        (
            "[a:vars]\nansible_group_priority=high\n",
            "inventory.ini:2: bad `ansible_group_priority` `high`: expected an integer",
        ),
        (
            "[a]\nh ansible_host=\n",
            "inventory.ini:2: bad `ansible_host` ``: expected a host name or address",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(ini_err(text), want, "{text:?}");
    }
    let e = Inventory::from_ini("[g]\nh x\n", "i.ini").unwrap_err();
    assert_eq!((e.file().as_str(), e.line()), ("i.ini", Some(2)));
}

#[test]
fn yaml_errors_name_file_line_and_column() {
    let cases: &[(&str, &str)] = &[
        (
            "all:\n  hosts: [a, b]\n",
            "hosts.yml:2:10: invalid YAML: all.hosts: invalid type: sequence, expected a mapping of host names to their variables",
        ),
        (
            "all:\n  hosts:\n    db1:\n      ansible_port: nope\n",
            "hosts.yml:4:21: invalid YAML: all.hosts.db1.ansible_port: bad `ansible_port`: bad port `nope`: expected a number from 1 to 65535",
        ),
        (
            "all:\n  children:\n    web:\n      hosts:\n        'w[2:1]':\n",
            "hosts.yml:5:9: invalid YAML: all.children.web.hosts: bad host range `[2:1]` in `w[2:1]`: start is after end",
        ),
        (
            "all:\n  hosts:\n    a: b: c\n",
            "hosts.yml:3:8: invalid YAML: all.hosts.a: invalid type: string \"b\", expected a mapping of variable names to values",
        ),
        (
            "all:\n  vars:\n    a: b: c\n",
            "hosts.yml:3:9: invalid YAML: mapping values are not allowed in this context",
        ),
        (
            "a: 1\n",
            "hosts.yml:1:4: invalid YAML: a: invalid type: integer `1`, expected a group: a mapping with `hosts`, `vars` and `children`",
        ),
        (
            "all:\n  hosts:\n   - x\n  y\n",
            "hosts.yml:3:4: invalid YAML: all.hosts: invalid type: sequence, expected a mapping of host names to their variables",
        ),
        (
            "just a string\n",
            "hosts.yml:1:1: invalid YAML: invalid type: string \"just a string\", expected a mapping of group names (`all:`, …) to groups",
        ),
        (
            "all:\n  vars:\n    x: 1\n\tbad: tab\n",
            "hosts.yml:4:1: invalid YAML: found a tab character that violates indentation, while scanning a plain scalar at line 3 column 8",
        ),
        (
            "all:\n  hosts:\n    h:\n      ? [a]\n      : 1\n",
            "hosts.yml:4:9: invalid YAML: all.hosts.h: invalid type: sequence, expected a name",
        ),
        (
            "all:\n  children:\n    '':\n",
            "hosts.yml:3:5: invalid YAML: all.children: empty group name",
        ),
        (
            "all: {\n",
            "hosts.yml:2:1: invalid YAML: did not find expected node content, while parsing a flow node",
        ),
        (
            "a:\n---\nb:\n",
            "hosts.yml: invalid YAML: deserializing from YAML containing more than one document is not supported",
        ),
    ];
    for (text, want) in cases {
        let e = Inventory::from_yaml(text, "hosts.yml").unwrap_err();
        assert_eq!(e.to_string(), *want, "{text:?}");
        assert!(matches!(e, InventoryError::Yaml { .. }));
    }
    let e = Inventory::from_yaml(
        "a:\n  children:\n    b:\n      children:\n        a:\n",
        "l.yml",
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "l.yml: groups are children of each other in a loop: a -> b -> a"
    );
}

#[test]
fn ssh_config_errors_name_file_and_line() {
    let cases = [
        (
            "Host a\n  Port x\n",
            "ssh_config:2: bad `Port`: bad port `x`: expected a number from 1 to 65535",
        ),
        (
            "Host\n",
            "ssh_config:1: `Host` needs at least one host pattern",
        ),
        (
            "Host a\n  HostName\n",
            "ssh_config:2: `HostName` needs a value",
        ),
        (
            "Host a\n  User a b\n",
            "ssh_config:2: bad line `User a b`: `User` takes one value",
        ),
        (
            "Host a\n  User \"x\n",
            "ssh_config:2: bad line `User \"x`: unbalanced quotes",
        ),
        ("Match\n", "ssh_config:1: `Match` needs criteria"),
        (
            "Match host\n",
            "ssh_config:1: `Match host` needs host patterns",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(
            Inventory::from_ssh_config(text, "ssh_config")
                .unwrap_err()
                .to_string(),
            want,
            "{text:?}"
        );
    }
}

// ---------------------------------------------------------------- garbage in, no panic

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }
}

const ALPHABET: &[&str] = &[
    "[",
    "]",
    ":",
    "=",
    "#",
    ";",
    "\"",
    "'",
    " ",
    "\n",
    "\n",
    "\t",
    "*",
    "?",
    "!",
    "{",
    "}",
    "-",
    ",",
    ".",
    "@",
    "%",
    "~",
    "\\",
    "a",
    "b",
    "web",
    "0",
    "1",
    "9",
    "é",
    "☃",
    "Host ",
    "HostName ",
    "Port ",
    "ProxyJump ",
    "Include ",
    "Match ",
    "vars",
    "children",
    "hosts:",
    "all:",
    "  ",
    "- ",
    "&a ",
    "*a",
    "!vault ",
    "ansible_host=",
    "ansible_port=",
    "ansible_ssh_common_args=",
    "[g:children]\n",
    "[g:vars]\n",
    "[g]\n",
    "[01:03]",
    "[a:c]",
];

fn check_no_panic(text: &str) {
    for f in [Format::Ini, Format::Yaml, Format::SshConfig] {
        match Inventory::parse(text, "fuzz", f) {
            Ok(inv) => {
                for h in inv.hosts() {
                    inv.resolve(&h.name).expect("hosts resolve");
                }
                // planning may fail (a host name is not a usable address), but not panic
                let ns = inv.namespace();
                let cfg = ping("all");
                let _ = plan(
                    &PlanInput::new("t")
                        .namespace("inv", &ns)
                        .config("cfg", &cfg),
                );
            }
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.starts_with("fuzz"), "{msg}");
            }
        }
    }
    let _ = Format::detect(std::path::Path::new("fuzz"), text);
}

/// How many random inputs to try: `HOIST_FUZZ_SCALE` times the default (for longer local
/// runs).
fn fuzz_scale() -> usize {
    std::env::var("HOIST_FUZZ_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

#[test]
fn garbage_does_not_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ fuzz_scale() as u64);
    for _ in 0..400 * fuzz_scale() {
        let len = rng.below(40);
        let text: String = (0..len)
            .map(|_| ALPHABET[rng.below(ALPHABET.len())])
            .collect();
        check_no_panic(&text);
    }
    // random bytes, made text
    for _ in 0..100 * fuzz_scale() {
        let len = rng.below(200);
        let bytes: Vec<u8> = (0..len)
            .map(|_| u8::try_from(rng.next() & 0xff).unwrap_or(0))
            .collect();
        check_no_panic(&String::from_utf8_lossy(&bytes));
    }
}

#[test]
fn mutated_inputs_do_not_panic() {
    let mut rng = Rng(12345 ^ fuzz_scale() as u64);
    for base in [SITE_INI, SITE_YAML, SSH_CONFIG, TESTBED_INI, TESTBED_SSH] {
        let chars: Vec<char> = base.chars().collect();
        for _ in 0..60 * fuzz_scale() {
            let mut c = chars.clone();
            for _ in 0..1 + rng.below(4) {
                if c.is_empty() {
                    break;
                }
                let i = rng.below(c.len());
                match rng.below(3) {
                    0 => {
                        c.remove(i);
                    }
                    1 => {
                        let s = ALPHABET[rng.below(ALPHABET.len())];
                        for (k, ch) in s.chars().enumerate() {
                            c.insert(i + k, ch);
                        }
                    }
                    _ => {
                        let j = rng.below(c.len());
                        c.swap(i, j);
                    }
                }
            }
            check_no_panic(&c.into_iter().collect::<String>());
        }
    }
}

#[test]
fn pathological_inputs_are_bounded() {
    // deep YAML nesting hits the YAML parser's recursion limit, not the stack
    let mut deep = String::new();
    for i in 0..300 {
        deep.push_str(&format!(
            "{}g{i}:\n{}  children:\n",
            "  ".repeat(2 * i),
            "  ".repeat(2 * i)
        ));
    }
    assert!(Inventory::from_yaml(&deep, "deep.yml").is_err());
    // long chains of INI groups are fine
    let mut chain = String::new();
    for i in 0..2000 {
        chain.push_str(&format!("[g{i}:children]\ng{}\n", i + 1));
    }
    chain.push_str("[g2000]\nh\n");
    let inv = Inventory::from_ini(&chain, "chain.ini").unwrap();
    assert_eq!(inv.group("g2000").unwrap().depth, 2001);
    assert_eq!(inv.host_groups("h").len(), 2002);
    // big ranges are linear
    let inv = Inventory::from_ini("[g]\nh[00001:50000]\n", "big.ini").unwrap();
    assert_eq!(inv.group_hosts("g").len(), 50_000);
    // YAML aliases cannot blow up
    let bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nall:\n  vars:\n    v: *g\n";
    let _ = Inventory::from_yaml(bomb, "bomb.yml");
}
