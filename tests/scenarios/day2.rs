//! Day 2: a re-run after a model change converges. The diff says what will happen (create,
//! update, replace, delete, unchanged) before anything does, and the run does exactly that:
//! scaling a `Multi` up and down, a replaced subnet taking its servers with it (create first,
//! or delete first), tags changed in place, protected resources refused, a rename through
//! `hoist state mv`, state of the previous schema taken as the baseline, a replacement whose
//! create made nothing giving the old object back, an update whose outcome is unknown sent
//! again, and a change that turns out more destructive than planned refused.

use std::sync::Arc;
use std::time::Duration;

use hoist::provider::{
    CloudIdentity, CreateRequest, Created, DeleteRequest, Deleted, FindRequest, ProvisionError,
    Provisioner, UpdateRequest,
};
use hoist::sim::SimCloud;
use hoist::state::{MemoryStore, StateStore};
use hoist::{
    DiffAction, Manage, Managed, Model, Multi, Network, OrchestrationError, ReplaceMode,
    ResourceOutcome, Server, Subnet,
};
use hoist_tests::{assert_success, builder, resource_outcomes, sim};

/// A network, a subnet and `n` servers in it.
#[derive(Model)]
struct Web {
    net: Network,
    subnet: Managed<Subnet>,
    app: Multi<Server>,
}

/// What a test changes in [`Web`].
#[derive(Clone)]
struct Shape {
    n: usize,
    cidr: &'static str,
    size: &'static str,
    tag: Option<&'static str>,
    protect: bool,
    mode: Option<ReplaceMode>,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            n: 3,
            cidr: "10.50.1.0/24",
            size: "small",
            tag: None,
            protect: false,
            mode: None,
        }
    }
}

impl Web {
    fn new(s: &Shape) -> Self {
        let r = Web::refs();
        let mut subnet = Subnet::new(r.net, s.cidr);
        if let Some(t) = s.tag {
            subnet = subnet.tag("team", t);
        }
        let mut subnet = subnet.managed();
        if s.protect {
            subnet = subnet.protect();
        }
        if let Some(m) = s.mode {
            subnet = subnet.replace_mode(m);
        }
        Web {
            net: Network::new("10.50.0.0/16"),
            subnet,
            app: Multi::new(Server::new("debian-12", s.size, r.subnet)).keys(0..s.n),
        }
    }
}

fn orch(cloud: &SimCloud, store: &Arc<MemoryStore>, s: &Shape) -> hoist::Orchestration {
    builder("web", cloud)
        .infra("web", Web::new(s))
        .state(store.clone())
        .build()
        .unwrap()
}

/// Initiates `s` and returns the report.
async fn up(cloud: &SimCloud, store: &Arc<MemoryStore>, s: &Shape) -> hoist::Report {
    let report = orch(cloud, store, s).initiate_system().await.unwrap();
    assert_success(&report);
    report
}

/// The diff of `s` against what is recorded.
async fn diff_of(cloud: &SimCloud, store: &Arc<MemoryStore>, s: &Shape) -> hoist::Diff {
    orch(cloud, store, s).diff().await.unwrap()
}

/// After a run of `s`, nothing is left to change.
async fn assert_converged(cloud: &SimCloud, store: &Arc<MemoryStore>, s: &Shape) {
    let d = diff_of(cloud, store, s).await;
    assert!(!d.has_changes(), "{d}");
}

fn count(diff: &hoist::Diff, a: DiffAction) -> usize {
    diff.counts().get(&a).copied().unwrap_or(0)
}

#[tokio::test]
async fn a_multi_scaled_up_and_down_creates_and_deletes_only_the_difference() {
    let (cloud, store) = (sim(Duration::ZERO), Arc::new(MemoryStore::new()));
    up(&cloud, &store, &Shape::default()).await;
    let again = orch(&cloud, &store, &Shape::default());
    let diff = again.diff().await.unwrap();
    assert!(!diff.has_changes(), "{diff}");
    assert!(again.initiate_system().await.unwrap().nothing_to_do);

    let five = Shape {
        n: 5,
        ..Shape::default()
    };
    let diff = diff_of(&cloud, &store, &five).await;
    assert_eq!(
        (
            count(&diff, DiffAction::Create),
            count(&diff, DiffAction::Unchanged)
        ),
        (2, 5),
        "{diff}"
    );
    up(&cloud, &store, &five).await;
    assert_eq!(cloud.objects_of("core.server").len(), 5);

    let two = Shape {
        n: 2,
        ..Shape::default()
    };
    let diff = diff_of(&cloud, &store, &two).await;
    assert_eq!(count(&diff, DiffAction::Delete), 3, "{diff}");
    assert_eq!(
        diff.resource("web/app[4]").unwrap().cause.as_deref(),
        Some("no longer in the models")
    );
    let creates = cloud.calls().total_creates();
    let report = up(&cloud, &store, &two).await;
    let outcomes = resource_outcomes(&report);
    for k in 2..5 {
        assert_eq!(
            outcomes[&format!("web/app[{k}]")],
            ResourceOutcome::Deleted,
            "{report}"
        );
    }
    assert_eq!(cloud.calls().total_creates(), creates, "nothing created");
    assert_eq!(cloud.objects_of("core.server").len(), 2);
    assert_eq!(store.load("web").await.unwrap().unwrap().resources.len(), 4);
    // Scaled up again, a removed key gets a new object with a new token.
    let report = up(
        &cloud,
        &store,
        &Shape {
            n: 3,
            ..Shape::default()
        },
    )
    .await;
    assert_eq!(
        resource_outcomes(&report)["web/app[2]"],
        ResourceOutcome::Created
    );
    assert_eq!(cloud.objects_of("core.server").len(), 3);
}

/// The default shape with the subnet moved to another range (a change that forces replacement).
fn moved_subnet() -> Shape {
    Shape {
        cidr: "10.50.2.0/24",
        ..Shape::default()
    }
}

#[tokio::test]
async fn a_changed_subnet_is_replaced_with_its_servers_create_first() {
    let (cloud, store) = (sim(Duration::ZERO), Arc::new(MemoryStore::new()));
    up(&cloud, &store, &Shape::default()).await;
    let old_subnet = cloud.objects_of("core.subnet")[0].id.clone();
    let moved = moved_subnet();
    let diff = diff_of(&cloud, &store, &moved).await;
    let subnet = diff.resource("web/subnet").unwrap();
    assert_eq!(subnet.action, DiffAction::Replace, "{diff}");
    assert_eq!(subnet.mode, Some(ReplaceMode::CreateFirst));
    let cidr = subnet.fields.iter().find(|f| f.field == "cidr").unwrap();
    assert!(cidr.forces_replace);
    let app = diff.resource("web/app[0]").unwrap();
    assert_eq!(app.action, DiffAction::Replace, "{diff}");
    assert!(
        app.fields.iter().any(|f| f.field == "subnet" && f.unknown),
        "{diff}"
    );
    assert_eq!(
        diff.resource("web/net").unwrap().action,
        DiffAction::Unchanged
    );

    let report = up(&cloud, &store, &moved).await;
    let outcomes = resource_outcomes(&report);
    assert_eq!(
        outcomes["web/subnet"],
        ResourceOutcome::Replaced,
        "{report}"
    );
    assert_eq!(
        outcomes["web/app[1]"],
        ResourceOutcome::Replaced,
        "{report}"
    );
    // The old objects were deposed, then deleted once everything converged.
    assert_eq!(
        outcomes["web/subnet~0"],
        ResourceOutcome::Deleted,
        "{report}"
    );
    let subnets = cloud.objects_of("core.subnet");
    assert_eq!(subnets.len(), 1);
    assert_ne!(subnets[0].id, old_subnet);
    assert_eq!(subnets[0].outputs["cidr"], "10.50.2.0/24");
    assert_eq!(cloud.objects_of("core.server").len(), 3);
    let state = store.load("web").await.unwrap().unwrap();
    assert_eq!(state.resources.len(), 5, "no deposed record left");
    assert_eq!(state.resources["web/subnet"].incarnation, 1);
    assert_converged(&cloud, &store, &moved).await;
}

#[tokio::test]
async fn a_replacement_that_made_nothing_gives_the_old_object_back() {
    use hoist::provider::ErrorKind;
    use hoist::sim::Fault;
    let (cloud, store) = (sim(Duration::ZERO), Arc::new(MemoryStore::new()));
    up(&cloud, &store, &Shape::default()).await;
    let old_subnet = cloud.objects_of("core.subnet")[0].id.clone();
    let moved = moved_subnet();
    // The new subnet's create fails, and a lookup by its token finds nothing.
    cloud.faults().fail_create(
        "web/subnet",
        Fault::once(ErrorKind::InvalidSpec, "the range overlaps another subnet"),
    );
    let report = orch(&cloud, &store, &moved)
        .initiate_system()
        .await
        .unwrap();
    assert!(!report.success, "{report}");
    let outcomes = resource_outcomes(&report);
    assert_eq!(outcomes["web/subnet"], ResourceOutcome::Failed, "{report}");
    assert_eq!(outcomes["web/app[0]"], ResourceOutcome::NotAttempted);
    let state = store.load("web").await.unwrap().unwrap();
    let subnet = &state.resources["web/subnet"];
    assert_eq!(subnet.status, hoist::state::ResourceStatus::Created);
    assert_eq!(subnet.provider_id.as_deref(), Some(old_subnet.as_str()));
    assert_eq!(subnet.incarnation, 0);
    assert!(subnet.error.is_some());
    assert!(!state.resources.contains_key("web/subnet~0"), "not deposed");
    assert_eq!(cloud.objects_of("core.subnet").len(), 1);
    // The old object is current again: the old models need nothing, the new ones a
    // replacement, which now succeeds.
    assert_converged(&cloud, &store, &Shape::default()).await;
    let diff = diff_of(&cloud, &store, &moved).await;
    let planned = diff.resource("web/subnet").unwrap().action;
    assert_eq!(planned, DiffAction::Replace, "{diff}");

    // A create that failed after making the object: found by its token and kept.
    cloud.faults().fail_create(
        "web/subnet",
        Fault::once(ErrorKind::Transient, "connection reset").taking_effect(),
    );
    let report = orch(&cloud, &store, &moved)
        .initiate_system()
        .await
        .unwrap();
    assert_success(&report);
    let outcomes = resource_outcomes(&report);
    assert!(
        matches!(
            outcomes["web/subnet"],
            ResourceOutcome::Replaced | ResourceOutcome::Adopted
        ),
        "{report}"
    );
    let subnets = cloud.objects_of("core.subnet");
    assert_eq!(subnets.len(), 1, "no duplicate, the old one deleted");
    assert_ne!(subnets[0].id, old_subnet);
    assert_converged(&cloud, &store, &moved).await;
}

#[tokio::test]
async fn a_subnet_replaced_delete_first_deletes_its_servers_first() {
    let (cloud, store) = (sim(Duration::ZERO), Arc::new(MemoryStore::new()));
    let first = Shape {
        mode: Some(ReplaceMode::DeleteFirst),
        ..Shape::default()
    };
    up(&cloud, &store, &first).await;
    // The same range: the new subnet could not coexist with the old one.
    let net = Shape {
        cidr: "10.50.1.0/25",
        ..first.clone()
    };
    let diff = diff_of(&cloud, &store, &net).await;
    assert_eq!(
        diff.resource("web/subnet").unwrap().mode,
        Some(ReplaceMode::DeleteFirst)
    );
    assert_eq!(
        diff.resource("web/app[2]").unwrap().mode,
        Some(ReplaceMode::DeleteFirst),
        "the servers cannot outlive their subnet: {diff}"
    );
    let report = up(&cloud, &store, &net).await;
    let deleted: Vec<&str> = report
        .resources
        .iter()
        .filter(|r| r.outcome == ResourceOutcome::Deleted)
        .map(|r| r.key.as_str())
        .collect();
    assert_eq!(
        deleted.last(),
        Some(&"web/subnet"),
        "servers first: {deleted:?}"
    );
    assert_eq!(deleted.len(), 4);
    assert_eq!(
        cloud.objects_of("core.subnet")[0].outputs["cidr"],
        "10.50.1.0/25"
    );
    assert_eq!(cloud.objects_of("core.server").len(), 3);
    assert_converged(&cloud, &store, &net).await;
}

/// The default shape with the subnet tagged and the servers resized (changes made in place).
fn blue_and_medium() -> Shape {
    Shape {
        tag: Some("blue"),
        size: "medium",
        ..Shape::default()
    }
}

#[tokio::test]
async fn tags_and_sizes_change_in_place() {
    let (cloud, store) = (sim(Duration::ZERO), Arc::new(MemoryStore::new()));
    up(&cloud, &store, &Shape::default()).await;
    let changed = blue_and_medium();
    let diff = diff_of(&cloud, &store, &changed).await;
    assert_eq!(count(&diff, DiffAction::Update), 4, "{diff}");
    assert_eq!(count(&diff, DiffAction::Replace), 0, "{diff}");
    let creates = cloud.calls().total_creates();
    let report = up(&cloud, &store, &changed).await;
    assert_eq!(
        resource_outcomes(&report)["web/subnet"],
        ResourceOutcome::Updated
    );
    assert_eq!(cloud.calls().total_creates(), creates, "nothing replaced");
    assert_eq!(cloud.calls().total_updates(), 4);
    assert_eq!(
        cloud.objects_of("core.subnet")[0].spec["tags"]["team"],
        "blue"
    );
    assert_eq!(cloud.objects_of("core.server")[0].spec["size"], "medium");
    assert_converged(&cloud, &store, &changed).await;
}

#[tokio::test]
async fn an_update_whose_outcome_is_unknown_is_sent_again_whatever_the_models_say() {
    use hoist::provider::ErrorKind;
    use hoist::sim::Fault;
    let (cloud, store) = (sim(Duration::ZERO), Arc::new(MemoryStore::new()));
    up(&cloud, &store, &Shape::default()).await;
    let blue = Shape {
        tag: Some("blue"),
        ..Shape::default()
    };
    // The update goes through, but its answer is lost (not retried: not transient).
    cloud.faults().fail_update(
        "web/subnet",
        Fault::once(ErrorKind::Other, "connection lost").taking_effect(),
    );
    let report = orch(&cloud, &store, &blue).initiate_system().await.unwrap();
    assert!(!report.success, "{report}");
    assert_eq!(
        cloud.objects_of("core.subnet")[0].spec["tags"]["team"],
        "blue"
    );
    let state = store.load("web").await.unwrap().unwrap();
    let subnet = &state.resources["web/subnet"];
    assert_eq!(subnet.status, hoist::state::ResourceStatus::Created);
    assert!(subnet.updating.is_some(), "the update's intent is kept");
    // The models go back to what the recorded spec says; the object may hold either, so the
    // update is planned again, and sent.
    let diff = diff_of(&cloud, &store, &Shape::default()).await;
    let planned = diff.resource("web/subnet").unwrap();
    assert_eq!(planned.action, DiffAction::Update, "{diff}");
    assert!(planned.cause.as_deref().unwrap().contains("interrupted"));
    let report = up(&cloud, &store, &Shape::default()).await;
    assert_eq!(
        resource_outcomes(&report)["web/subnet"],
        ResourceOutcome::Updated
    );
    assert!(
        cloud.objects_of("core.subnet")[0].spec["tags"]
            .get("team")
            .is_none()
    );
    let state = store.load("web").await.unwrap().unwrap();
    assert_eq!(state.resources["web/subnet"].updating, None);
    assert_converged(&cloud, &store, &Shape::default()).await;
}

/// The simulated cloud, except that once the subnet was updated, servers can no longer be
/// changed in place: what the diff planned as an update needs a replacement by the time the
/// servers' turn comes.
struct StricterAfterSubnet {
    inner: SimCloud,
    strict: std::sync::atomic::AtomicBool,
}

#[hoist::async_trait]
impl Provisioner for StricterAfterSubnet {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn supports(&self, kind: &str) -> bool {
        self.inner.supports(kind)
    }
    async fn identity(&self) -> Result<CloudIdentity, ProvisionError> {
        self.inner.identity().await
    }
    async fn create(&self, req: &CreateRequest) -> Result<Created, ProvisionError> {
        self.inner.create(req).await
    }
    async fn delete(&self, req: &DeleteRequest) -> Result<Deleted, ProvisionError> {
        self.inner.delete(req).await
    }
    async fn find(&self, req: &FindRequest) -> Result<Option<Created>, ProvisionError> {
        self.inner.find(req).await
    }
    fn updatable(&self, kind: &str) -> &'static [&'static str] {
        let strict = self.strict.load(std::sync::atomic::Ordering::SeqCst);
        if strict && kind == "core.server" {
            &[]
        } else {
            self.inner.updatable(kind)
        }
    }
    async fn update(&self, req: &UpdateRequest) -> Result<Created, ProvisionError> {
        let updated = self.inner.update(req).await?;
        if req.kind == "core.subnet" {
            self.strict.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(updated)
    }
}

#[tokio::test]
async fn a_change_more_destructive_than_planned_fails_the_resource_and_changes_nothing() {
    let (cloud, store) = (sim(Duration::ZERO), Arc::new(MemoryStore::new()));
    up(&cloud, &store, &Shape::default()).await;
    let changed = blue_and_medium();
    let proxy = Arc::new(StricterAfterSubnet {
        inner: cloud.clone(),
        strict: false.into(),
    });
    let orch = hoist::Orchestration::builder("web")
        .provisioner(proxy)
        .infra("web", Web::new(&changed))
        .state(store.clone())
        .build()
        .unwrap();
    let diff = orch.diff().await.unwrap();
    assert_eq!(count(&diff, DiffAction::Update), 4, "{diff}");
    let (creates, deletes) = (cloud.calls().total_creates(), cloud.calls().total_deletes());
    let report = orch.initiate_system().await.unwrap();
    assert!(!report.success, "{report}");
    let outcomes = resource_outcomes(&report);
    assert_eq!(outcomes["web/subnet"], ResourceOutcome::Updated, "{report}");
    assert_eq!(outcomes["web/app[0]"], ResourceOutcome::Failed, "{report}");
    assert!(
        report.to_string().contains("needs a replacement"),
        "{report}"
    );
    assert!(report.to_string().contains("plan again"), "{report}");
    assert_eq!(cloud.calls().total_creates(), creates, "nothing replaced");
    assert_eq!(cloud.calls().total_deletes(), deletes, "nothing deleted");
    let state = store.load("web").await.unwrap().unwrap();
    let app = &state.resources["web/app[0]"];
    assert_eq!(
        app.status,
        hoist::state::ResourceStatus::Created,
        "still there"
    );
    assert_eq!(cloud.objects_of("core.server").len(), 3);
    // Planned again, the servers are replaced, as the proxy now says.
    let diff = orch.diff().await.unwrap();
    assert_eq!(count(&diff, DiffAction::Replace), 3, "{diff}");
}

#[tokio::test]
async fn a_protected_resource_is_never_replaced_nor_deleted_unless_forced() {
    let (cloud, store) = (sim(Duration::ZERO), Arc::new(MemoryStore::new()));
    let kept = Shape {
        protect: true,
        ..Shape::default()
    };
    up(&cloud, &store, &kept).await;
    let moved = Shape {
        cidr: "10.50.2.0/24",
        ..kept.clone()
    };
    let diff = diff_of(&cloud, &store, &moved).await;
    assert_eq!(diff.violations.len(), 1, "{diff}");
    let calls = cloud.calls();
    let err = orch(&cloud, &store, &moved)
        .initiate_system()
        .await
        .unwrap_err();
    let OrchestrationError::Refused(why) = &err else {
        panic!("{err}")
    };
    assert!(why[0].contains("`web/subnet` is protected"), "{err}");
    assert_eq!(cloud.calls().total_creates(), calls.total_creates());
    assert_eq!(cloud.calls().total_deletes(), calls.total_deletes());
    // Protection is recorded: a teardown without the model refuses too.
    let bare = builder("web", &cloud).state(store.clone()).build().unwrap();
    let err = bare.teardown_system().await.unwrap_err();
    assert!(matches!(err, OrchestrationError::Protected { .. }), "{err}");
    assert!(err.to_string().contains("--force"), "{err}");
    assert_eq!(cloud.count(), 5);
    let forced = builder("web", &cloud)
        .state(store.clone())
        .force_protected()
        .build()
        .unwrap();
    assert_success(&forced.teardown_system().await.unwrap());
    assert_eq!(cloud.count(), 0);
}

#[tokio::test]
async fn a_rename_recorded_with_state_mv_replaces_nothing() {
    let (cloud, store) = (sim(Duration::ZERO), Arc::new(MemoryStore::new()));
    up(&cloud, &store, &Shape::default()).await;
    let mut s = store.load("web").await.unwrap().unwrap();
    let changes = s.moved("web/app", "web/servers").unwrap();
    s.apply_all(&changes);
    store.save(&s).await.unwrap();
    // The same model, its field renamed.
    #[derive(Model)]
    struct Renamed {
        net: Network,
        subnet: Managed<Subnet>,
        servers: Multi<Server>,
    }
    let r = Renamed::refs();
    let model = Renamed {
        net: Network::new("10.50.0.0/16"),
        subnet: Subnet::new(r.net, "10.50.1.0/24").managed(),
        servers: Multi::new(Server::new("debian-12", "small", r.subnet)).keys(0..3),
    };
    let o = builder("web", &cloud)
        .infra("web", model)
        .state(store.clone())
        .build()
        .unwrap();
    let diff = o.diff().await.unwrap();
    assert!(!diff.has_changes(), "{diff}");
    assert!(o.initiate_system().await.unwrap().nothing_to_do);
}

#[tokio::test]
async fn state_of_the_previous_schema_is_the_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(hoist::state::FileStore::new(dir.path()));
    let cloud = sim(Duration::ZERO);
    let o = builder("web", &cloud)
        .infra("web", Web::new(&Shape::default()))
        .state(store.clone())
        .build()
        .unwrap();
    assert_success(&o.initiate_system().await.unwrap());
    // The same state as schema 3 recorded it: no specs, incarnations or protection.
    let path = store.path_for("web");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    v["schema"] = 3.into();
    for r in v["resources"].as_object_mut().unwrap().values_mut() {
        for f in ["spec", "incarnation", "protect", "deposed_of"] {
            r.as_object_mut().unwrap().remove(f);
        }
    }
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
    let diff = o.diff().await.unwrap();
    assert!(!diff.has_changes(), "{diff}");
    let calls = cloud.calls();
    let report = o.initiate_system().await.unwrap();
    assert_success(&report);
    assert_eq!(cloud.calls().total_creates(), calls.total_creates());
    assert_eq!(cloud.calls().total_updates(), 0);
    let state = store.load("web").await.unwrap().unwrap();
    assert!(
        state.resources.values().all(|r| r.spec.is_some()),
        "the baseline is recorded"
    );
    // From then on, a change is seen.
    let moved = Shape {
        size: "medium",
        ..Shape::default()
    };
    let diff = builder("web", &cloud)
        .infra("web", Web::new(&moved))
        .state(store.clone())
        .build()
        .unwrap()
        .diff()
        .await
        .unwrap();
    assert_eq!(count(&diff, DiffAction::Update), 3, "{diff}");
}

#[tokio::test]
async fn the_diff_as_text_and_as_json() {
    let (cloud, store) = (sim(Duration::ZERO), Arc::new(MemoryStore::new()));
    up(
        &cloud,
        &store,
        &Shape {
            n: 3,
            ..Shape::default()
        },
    )
    .await;
    let changed = Shape {
        n: 2,
        cidr: "10.50.2.0/24",
        tag: Some("blue"),
        ..Shape::default()
    };
    let diff = diff_of(&cloud, &store, &changed).await;
    insta::assert_snapshot!("diff_text", diff.to_string());
    let mut json = diff.to_json();
    // Provider ids differ from run to run.
    for r in json["resources"].as_array_mut().unwrap() {
        let fields = r.get_mut("fields").and_then(|f| f.as_array_mut());
        for f in fields.into_iter().flatten() {
            if f["old"].get("$ref").is_some() {
                f["old"]["id"] = "<id>".into();
            }
        }
    }
    insta::assert_snapshot!("diff_json", serde_json::to_string_pretty(&json).unwrap());
}

/// A delete that an earlier run left unfinished (here: the old object of a delete-first
/// replacement, recorded as `deleting` when the run died) is finished before the resource is
/// made again: the old object is never adopted as the new one.
#[tokio::test]
async fn an_interrupted_delete_is_finished_before_the_resource_is_made_again() {
    let (cloud, store) = (sim(Duration::ZERO), Arc::new(MemoryStore::new()));
    up(&cloud, &store, &Shape::default()).await;
    let mut s = store.load("web").await.unwrap().unwrap();
    let old = s.resources["web/app[0]"].provider_id.clone().unwrap();
    s.resources.get_mut("web/app[0]").unwrap().status = hoist::state::ResourceStatus::Deleting;
    store.save(&s).await.unwrap();
    let d = diff_of(&cloud, &store, &Shape::default()).await;
    let app = d.resource("web/app[0]").unwrap();
    assert_eq!(app.action, DiffAction::Create, "{d}");
    assert!(
        app.cause
            .as_deref()
            .unwrap_or_default()
            .contains("delete was interrupted")
    );
    up(&cloud, &store, &Shape::default()).await;
    let servers = cloud.objects_of("core.server");
    assert_eq!(servers.len(), 3);
    assert!(
        servers.iter().all(|o| o.id != old),
        "the old object was deleted"
    );
    assert_converged(&cloud, &store, &Shape::default()).await;
}

/// A server whose user data holds a secret variable.
#[derive(Model)]
struct Keyed {
    net: Network,
    subnet: Subnet,
    app: Server,
}

/// The namespace that gives it the secret `TOKEN`.
#[derive(Model)]
struct KeyedNs {
    vars: hoist::Vars,
}

fn keyed(cloud: &SimCloud, store: &Arc<MemoryStore>, token: &str) -> hoist::Orchestration {
    let r = Keyed::refs();
    let mut app = Server::new("debian-12", "small", r.subnet.clone());
    app.user_data = Some("token=!{TOKEN}".into());
    let infra = Keyed {
        net: Network::new("10.50.0.0/16"),
        subnet: Subnet::new(r.net, "10.50.1.0/24"),
        app,
    };
    let ns = KeyedNs {
        vars: hoist::Vars::new().set("TOKEN", hoist::Secret::new(token)),
    };
    builder("keyed", cloud)
        .infra("web", infra)
        .namespace("ns", ns)
        .state(store.clone())
        .build()
        .unwrap()
}

/// A secret input is recorded as a keyed digest, never in clear; a changed secret is seen;
/// without the key (or with another one) it cannot be compared, and nothing is replaced
/// because of it. (This test changes the process's current directory, where the key file is
/// kept: nextest runs every test in a process of its own.)
#[tokio::test]
async fn a_secret_input_is_compared_through_its_keyed_digest() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_current_dir(dir.path()).unwrap();
    let (cloud, store) = (sim(Duration::ZERO), Arc::new(MemoryStore::new()));
    assert_success(
        &keyed(&cloud, &store, "first-secret")
            .initiate_system()
            .await
            .unwrap(),
    );
    let key_file = dir.path().join(hoist::STATE_KEY_FILE);
    assert!(
        key_file.exists(),
        "the key was made by the run that needed it"
    );
    let state = store.load("keyed").await.unwrap().unwrap();
    let text = serde_json::to_string(&state).unwrap();
    assert!(
        !text.contains("first-secret"),
        "no secret in the state: {text}"
    );
    let digest = &state.resources["web/app"].spec.as_ref().unwrap()["user_data"];
    assert!(
        digest["$secret"]
            .as_str()
            .unwrap()
            .starts_with("hmac-sha256:"),
        "{digest}"
    );

    let same = keyed(&cloud, &store, "first-secret").diff().await.unwrap();
    assert!(!same.has_changes(), "{same}");
    let changed = keyed(&cloud, &store, "other-secret").diff().await.unwrap();
    let app = changed.resource("web/app").unwrap();
    assert_eq!(app.action, DiffAction::Replace, "{changed}");
    assert_eq!(app.fields[0].field, "user_data");
    let shown = format!("{changed}{}", changed.to_json());
    assert!(
        !shown.contains("other-secret") && !shown.contains("first-secret"),
        "{shown}"
    );

    // Without the key: cannot compare, never a replacement.
    std::fs::remove_file(&key_file).unwrap();
    let blind = keyed(&cloud, &store, "first-secret").diff().await.unwrap();
    let app = blind.resource("web/app").unwrap();
    assert_eq!(app.action, DiffAction::Unchanged, "{blind}");
    assert_eq!(app.cannot_compare, ["user_data"]);
    assert!(blind.to_string().contains("cannot compare"), "{blind}");
    assert!(!key_file.exists(), "a diff reads only: it made no key");
}
