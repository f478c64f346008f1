//! Day 2 on moto: a system changed after it was made converges, through the same diff as on
//! the simulated cloud: a `Multi` scaled 3 → 5 → 2 (deletes, dependents first), tags changed
//! in place (`CreateTags`/`DeleteTags`, nothing replaced), a subnet moved to another range
//! (replaced create-first with its instances; the old objects deleted), a protected subnet's
//! replacement refused before any call, a rename through `state mv`, and state of the
//! previous schema taken as the baseline; a core security group's rules changed in place
//! (authorized and revoked one by one, EC2's default egress rule left alone); a replacement
//! that keeps a name EC2 wants unique made delete-first, or refused when create-first is
//! asked for.

use std::sync::Arc;

use aws_sdk_ec2::types::Filter;
use hoist::state::{MemoryStore, StateStore};
use hoist::{
    DiffAction, Manage, Managed, Model, Multi, Network, Orchestration, OrchestrationError,
    ReplaceMode, ResourceOutcome, Rule, SecurityGroup, Server, Subnet,
};

use crate::support::{self, tag};

#[derive(Model)]
struct Web {
    net: Network,
    subnet: Managed<Subnet>,
    app: Multi<Server>,
}

fn web(n: usize, cidr: &str, team: Option<&str>, protect: bool) -> Web {
    let r = Web::refs();
    let mut subnet = Subnet::new(r.net, cidr);
    if let Some(t) = team {
        subnet = subnet.tag("team", t);
    }
    let mut subnet = subnet.managed();
    if protect {
        subnet = subnet.protect();
    }
    Web {
        net: Network::new("10.70.0.0/16"),
        subnet,
        app: Multi::new(Server::new("debian-12", "t3.micro", r.subnet)).keys(0..n),
    }
}

/// The instances of the system that are not terminated.
async fn instances(ec2: &aws_sdk_ec2::Client) -> Vec<String> {
    let out = ec2
        .describe_instances()
        .filters(
            Filter::builder()
                .name("tag:hoist:system")
                .values("day2")
                .build(),
        )
        .filters(
            Filter::builder()
                .name("instance-state-name")
                .values("pending")
                .values("running")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut v: Vec<String> = out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(|i| i.instance_id().map(str::to_string))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn a_system_on_moto_converges_after_each_change() {
    let test = "a_system_on_moto_converges_after_each_change";
    let Some(url) = support::moto(test) else {
        return;
    };
    let cloud = support::builder(test, &url).build();
    let ec2 = support::sdk(test, &url);
    let store = Arc::new(MemoryStore::new());
    let orch = |m: Web| {
        Orchestration::builder("day2")
            .state(store.clone())
            .infra("web", m)
            .provisioner(Arc::new(cloud.clone()))
            .build()
            .unwrap()
    };
    let up = |m: Web| async {
        let report = orch(m).initiate_system().await.unwrap();
        assert!(report.success, "{report}");
        report
    };
    let base = || web(3, "10.70.1.0/24", None, false);
    up(base()).await;
    assert!(!orch(base()).diff().await.unwrap().has_changes());
    assert!(orch(base()).initiate_system().await.unwrap().nothing_to_do);

    // 3 -> 5 -> 2.
    let report = up(web(5, "10.70.1.0/24", None, false)).await;
    let created = report.count_resources(&ResourceOutcome::Created);
    assert_eq!(created, 2, "{report}");
    assert_eq!(instances(&ec2).await.len(), 5);
    let report = up(web(2, "10.70.1.0/24", None, false)).await;
    let deleted = report.count_resources(&ResourceOutcome::Deleted);
    assert_eq!(deleted, 3, "{report}");
    let kept = instances(&ec2).await;
    assert_eq!(kept.len(), 2);

    // Tags: changed in place, nothing replaced.
    let diff = orch(web(2, "10.70.1.0/24", Some("blue"), false))
        .diff()
        .await
        .unwrap();
    assert_eq!(
        diff.resource("web/subnet").unwrap().action,
        DiffAction::Update,
        "{diff}"
    );
    let creates = cloud.calls().get("CreateSubnet").copied().unwrap_or(0);
    up(web(2, "10.70.1.0/24", Some("blue"), false)).await;
    let state = store.load("day2").await.unwrap().unwrap();
    let subnet_id = state.resources["web/subnet"].provider_id.clone().unwrap();
    let sn = ec2
        .describe_subnets()
        .subnet_ids(&subnet_id)
        .send()
        .await
        .unwrap();
    let tags = sn.subnets()[0].tags();
    assert_eq!(tag(tags, "team").as_deref(), Some("blue"));
    assert_eq!(tag(tags, "hoist:resource").as_deref(), Some("web/subnet"));
    assert_eq!(
        cloud.calls().get("CreateSubnet").copied().unwrap_or(0),
        creates
    );
    assert_eq!(instances(&ec2).await, kept, "nothing replaced");
    up(web(2, "10.70.1.0/24", None, false)).await;
    let sn = ec2
        .describe_subnets()
        .subnet_ids(&subnet_id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        tag(sn.subnets()[0].tags(), "team"),
        None,
        "the tag was removed"
    );

    // A protected subnet is not replaced: refused before any call.
    up(web(2, "10.70.1.0/24", None, true)).await;
    let calls: u64 = cloud.calls().values().sum();
    let err = orch(web(2, "10.70.2.0/24", None, true))
        .initiate_system()
        .await
        .unwrap_err();
    assert!(matches!(err, OrchestrationError::Refused(_)), "{err}");
    let after: u64 = cloud.calls().values().sum();
    assert_eq!(after, calls, "no EC2 call: {:?}", cloud.calls());

    // Unprotecting is a change of its own, applied first: protection is recorded, so a
    // plan that unprotects and replaces at once is refused too.
    let both = orch(web(2, "10.70.2.0/24", None, false))
        .diff()
        .await
        .unwrap();
    assert_eq!(both.violations.len(), 1, "{both}");
    up(web(2, "10.70.1.0/24", None, false)).await;

    // Another range: the subnet and its instances are replaced, create first.
    let report = up(web(2, "10.70.2.0/24", None, false)).await;
    let outcomes: std::collections::BTreeMap<&str, &ResourceOutcome> = report
        .resources
        .iter()
        .map(|r| (r.key.as_str(), &r.outcome))
        .collect();
    assert_eq!(
        outcomes["web/subnet"],
        &ResourceOutcome::Replaced,
        "{report}"
    );
    assert_eq!(
        outcomes["web/app[0]"],
        &ResourceOutcome::Replaced,
        "{report}"
    );
    let now = instances(&ec2).await;
    assert_eq!(now.len(), 2);
    assert!(now.iter().all(|i| !kept.contains(i)), "new instances");
    let state = store.load("day2").await.unwrap().unwrap();
    let new_subnet = state.resources["web/subnet"].provider_id.clone().unwrap();
    assert_ne!(new_subnet, subnet_id);
    let old = ec2
        .describe_subnets()
        .filters(
            Filter::builder()
                .name("subnet-id")
                .values(&subnet_id)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(old.subnets().is_empty(), "the old subnet was deleted");
    assert_eq!(state.resources.len(), 4, "no deposed record left");

    // A rename recorded with state mv replaces nothing.
    let mut s = store.load("day2").await.unwrap().unwrap();
    let moved = s.moved("web/app", "web/servers").unwrap();
    s.apply_all(&moved);
    store.save(&s).await.unwrap();
    #[derive(Model)]
    struct Renamed {
        net: Network,
        subnet: Managed<Subnet>,
        servers: Multi<Server>,
    }
    let r = Renamed::refs();
    let renamed = Renamed {
        net: Network::new("10.70.0.0/16"),
        subnet: Subnet::new(r.net, "10.70.2.0/24").managed(),
        servers: Multi::new(Server::new("debian-12", "t3.micro", r.subnet)).keys(0..2),
    };
    let o = Orchestration::builder("day2")
        .state(store.clone())
        .infra("web", renamed)
        .provisioner(Arc::new(cloud.clone()))
        .build()
        .unwrap();
    let diff = o.diff().await.unwrap();
    assert!(!diff.has_changes(), "{diff}");

    // State of the previous schema: the models are the baseline.
    let mut s = store.load("day2").await.unwrap().unwrap();
    for r in s.resources.values_mut() {
        r.spec = None;
    }
    store.save(&s).await.unwrap();
    let diff = o.diff().await.unwrap();
    assert!(!diff.has_changes(), "{diff}");
    assert!(o.initiate_system().await.unwrap().nothing_to_do);

    assert!(o.teardown_system().await.unwrap().success);
    assert!(instances(&ec2).await.is_empty());
}

#[derive(Model)]
struct Guarded {
    net: Network,
    sg: SecurityGroup,
}

fn guarded(rules: Vec<Rule>) -> Guarded {
    let r = Guarded::refs();
    Guarded {
        net: Network::new("10.71.0.0/16"),
        sg: SecurityGroup::new(r.net, rules),
    }
}

/// The group's rules as `(direction, protocol, from port, cidr)`.
async fn rules_of(ec2: &aws_sdk_ec2::Client, id: &str) -> Vec<(&'static str, String, i32, String)> {
    let out = ec2
        .describe_security_groups()
        .group_ids(id)
        .send()
        .await
        .unwrap();
    let g = &out.security_groups()[0];
    let flat = |dir: &'static str, perms: &[aws_sdk_ec2::types::IpPermission]| {
        perms
            .iter()
            .flat_map(|p| {
                p.ip_ranges().iter().map(move |r| {
                    (
                        dir,
                        p.ip_protocol().unwrap_or_default().to_string(),
                        p.from_port().unwrap_or(-1),
                        r.cidr_ip().unwrap_or_default().to_string(),
                    )
                })
            })
            .collect::<Vec<_>>()
    };
    let mut v = flat("in", g.ip_permissions());
    v.extend(flat("out", g.ip_permissions_egress()));
    v.sort();
    v
}

#[tokio::test]
async fn a_security_groups_rules_change_in_place_on_moto() {
    let test = "a_security_groups_rules_change_in_place_on_moto";
    let Some(url) = support::moto(test) else {
        return;
    };
    let cloud = support::builder(test, &url).build();
    let ec2 = support::sdk(test, &url);
    let store = Arc::new(MemoryStore::new());
    let orch = |m: Guarded| {
        Orchestration::builder("rules")
            .state(store.clone())
            .infra("net", m)
            .provisioner(Arc::new(cloud.clone()))
            .build()
            .unwrap()
    };
    let ssh = Rule::tcp_in(22, "10.0.0.0/8");
    let http = Rule::tcp_in(80, "0.0.0.0/0");
    let report = orch(guarded(vec![ssh.clone()]))
        .initiate_system()
        .await
        .unwrap();
    assert!(report.success, "{report}");
    let state = store.load("rules").await.unwrap().unwrap();
    let id = state.resources["net/sg"].provider_id.clone().unwrap();
    let before = rules_of(&ec2, &id).await;
    assert!(before.contains(&("in", "tcp".into(), 22, "10.0.0.0/8".into())));
    let default_egress = ("out", "-1".to_string(), -1, "0.0.0.0/0".to_string());
    assert!(before.contains(&default_egress), "{before:?}");

    // A rule added: an update naming `rules`, no new group.
    let diff = orch(guarded(vec![ssh.clone(), http.clone()]))
        .diff()
        .await
        .unwrap();
    let sg = diff.resource("net/sg").unwrap();
    assert_eq!(sg.action, DiffAction::Update, "{diff}");
    let groups = cloud.calls().get("CreateSecurityGroup").copied();
    let report = orch(guarded(vec![ssh.clone(), http.clone()]))
        .initiate_system()
        .await
        .unwrap();
    assert!(report.success, "{report}");
    assert_eq!(
        report.count_resources(&ResourceOutcome::Updated),
        1,
        "{report}"
    );
    assert_eq!(cloud.calls().get("CreateSecurityGroup").copied(), groups);
    let now = rules_of(&ec2, &id).await;
    assert!(
        now.contains(&("in", "tcp".into(), 80, "0.0.0.0/0".into())),
        "{now:?}"
    );
    assert!(
        now.contains(&("in", "tcp".into(), 22, "10.0.0.0/8".into())),
        "{now:?}"
    );

    // A rule removed: revoked; the rule someone else added and EC2's default egress stay.
    ec2.authorize_security_group_ingress()
        .group_id(&id)
        .ip_permissions(
            aws_sdk_ec2::types::IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(443)
                .to_port(443)
                .ip_ranges(
                    aws_sdk_ec2::types::IpRange::builder()
                        .cidr_ip("192.168.0.0/16")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let report = orch(guarded(vec![http.clone()]))
        .initiate_system()
        .await
        .unwrap();
    assert!(report.success, "{report}");
    let now = rules_of(&ec2, &id).await;
    assert_eq!(
        now,
        vec![
            ("in", "tcp".into(), 80, "0.0.0.0/0".into()),
            ("in", "tcp".into(), 443, "192.168.0.0/16".into()),
            default_egress.clone(),
        ]
    );
    assert!(
        !orch(guarded(vec![http.clone()]))
            .diff()
            .await
            .unwrap()
            .has_changes()
    );
    assert!(
        orch(guarded(vec![http]))
            .teardown_system()
            .await
            .unwrap()
            .success
    );
}

#[derive(Model)]
struct Named {
    vpc: hoist_aws::Vpc,
    sg: Managed<hoist_aws::SecurityGroup>,
}

fn named(description: &str, mode: Option<ReplaceMode>) -> Named {
    let r = Named::refs();
    let mut sg = hoist_aws::SecurityGroup::new("guard", r.vpc);
    sg.description = description.to_string();
    let mut sg = sg.managed();
    if let Some(m) = mode {
        sg = sg.replace_mode(m);
    }
    Named {
        vpc: hoist_aws::Vpc::new("10.71.0.0/16"),
        sg,
    }
}

#[tokio::test]
async fn a_replacement_that_keeps_a_unique_name_is_made_delete_first_on_moto() {
    let test = "a_replacement_that_keeps_a_unique_name_is_made_delete_first_on_moto";
    let Some(url) = support::moto(test) else {
        return;
    };
    let cloud = support::builder(test, &url).build();
    let ec2 = support::sdk(test, &url);
    let store = Arc::new(MemoryStore::new());
    let orch = |m: Named| {
        Orchestration::builder("unique")
            .state(store.clone())
            .infra("net", m)
            .provisioner(Arc::new(cloud.clone()))
            .build()
            .unwrap()
    };
    assert!(
        orch(named("first", None))
            .initiate_system()
            .await
            .unwrap()
            .success
    );
    let state = store.load("unique").await.unwrap().unwrap();
    let (old_sg, vpc) = (
        state.resources["net/sg"].provider_id.clone().unwrap(),
        state.resources["net/vpc"].provider_id.clone().unwrap(),
    );
    // EC2 refuses a second group of that name in the VPC: create-first could not work.
    let twice = ec2
        .create_security_group()
        .group_name("guard")
        .description("x")
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap_err();
    let code = aws_sdk_ec2::error::ProvideErrorMetadata::code(&twice);
    assert_eq!(code, Some("InvalidGroup.Duplicate"), "{twice:?}");

    // A new description replaces the group; its name stays, so delete first.
    let diff = orch(named("second", None)).diff().await.unwrap();
    let sg = diff.resource("net/sg").unwrap();
    assert_eq!(sg.action, DiffAction::Replace, "{diff}");
    assert_eq!(sg.mode, Some(ReplaceMode::DeleteFirst), "{diff}");
    assert!(sg.cause.as_deref().unwrap().contains("`name`"), "{diff}");
    let report = orch(named("second", None)).initiate_system().await.unwrap();
    assert!(report.success, "{report}");
    let state = store.load("unique").await.unwrap().unwrap();
    let new_sg = state.resources["net/sg"].provider_id.clone().unwrap();
    assert_ne!(new_sg, old_sg);
    let groups = ec2
        .describe_security_groups()
        .filters(Filter::builder().name("group-name").values("guard").build())
        .send()
        .await
        .unwrap();
    let found: Vec<(Option<&str>, Option<&str>)> = groups
        .security_groups()
        .iter()
        .map(|g| (g.group_id(), g.description()))
        .collect();
    assert_eq!(found, [(Some(new_sg.as_str()), Some("second"))]);

    // Asked for create-first, the same change is refused before any call.
    let calls: u64 = cloud.calls().values().sum();
    let strict = || named("third", Some(ReplaceMode::CreateFirst));
    let diff = orch(strict()).diff().await.unwrap();
    assert_eq!(diff.violations.len(), 1, "{diff}");
    assert!(diff.violations[0].contains("`name`"), "{diff}");
    let err = orch(strict()).initiate_system().await.unwrap_err();
    assert!(matches!(err, OrchestrationError::Refused(_)), "{err}");
    let after: u64 = cloud.calls().values().sum();
    assert_eq!(after, calls, "no EC2 call: {:?}", cloud.calls());
    assert!(
        orch(named("second", None))
            .teardown_system()
            .await
            .unwrap()
            .success
    );
}

#[tokio::test]
async fn a_group_deleted_out_of_band_is_reported_by_refresh_and_made_again_on_moto() {
    let test = "a_group_deleted_out_of_band_is_reported_by_refresh_and_made_again_on_moto";
    let Some(url) = support::moto(test) else {
        return;
    };
    let cloud = support::builder(test, &url).build();
    let ec2 = support::sdk(test, &url);
    let store = Arc::new(MemoryStore::new());
    let orch = || {
        Orchestration::builder("drift")
            .state(store.clone())
            .infra("net", named("first", None))
            .provisioner(Arc::new(cloud.clone()))
    };
    assert!(
        orch()
            .build()
            .unwrap()
            .initiate_system()
            .await
            .unwrap()
            .success
    );
    let state = store.load("drift").await.unwrap().unwrap();
    let sg = state.resources["net/sg"].provider_id.clone().unwrap();
    ec2.delete_security_group()
        .group_id(&sg)
        .send()
        .await
        .unwrap();

    let before = cloud.calls();
    let drift = orch().build().unwrap().refresh().await.unwrap();
    assert_eq!(
        drift.resource("net/sg").unwrap().found,
        hoist::Found::Deleted,
        "{drift}"
    );
    assert_eq!(
        drift.resource("net/vpc").unwrap().found,
        hoist::Found::InSync,
        "{drift}"
    );
    let made: Vec<String> = cloud
        .calls()
        .into_iter()
        .filter(|(op, n)| before.get(op) != Some(n))
        .map(|(op, _)| op)
        .collect();
    assert!(!made.is_empty());
    assert!(
        made.iter().all(|op| op.starts_with("Describe")),
        "a refresh only describes: {made:?}"
    );
    assert_eq!(
        store.load("drift").await.unwrap().unwrap(),
        state,
        "nothing written"
    );

    let report = orch()
        .refresh_first()
        .build()
        .unwrap()
        .initiate_system()
        .await
        .unwrap();
    assert!(report.success, "{report}");
    let state = store.load("drift").await.unwrap().unwrap();
    let again = state.resources["net/sg"].provider_id.clone().unwrap();
    assert_ne!(again, sg);
    let groups = ec2
        .describe_security_groups()
        .group_ids(&again)
        .send()
        .await
        .unwrap();
    assert_eq!(groups.security_groups().len(), 1);
    assert!(
        orch()
            .build()
            .unwrap()
            .teardown_system()
            .await
            .unwrap()
            .success
    );
}
