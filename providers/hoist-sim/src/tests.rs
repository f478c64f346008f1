//! Behaviour of the simulated cloud, through the `Provisioner` trait as the orchestrator uses it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hoist_provider::{
    CreateRequest, Created, DeleteRequest, ErrorKind, FindRequest, HostEndpoint, Provisioner,
};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::{Fault, MARKER_FILE, SimCloud, USER_DATA_FILE};

fn sim_in(tmp: &TempDir) -> SimCloud {
    SimCloud::builder()
        .sandbox_root(tmp.path().join("sandboxes"))
        .build()
}

fn creq(kind: &str, key: &str, spec: Value) -> CreateRequest {
    CreateRequest {
        system: "test".into(),
        key: key.into(),
        kind: kind.into(),
        spec,
        token: format!("test/{key}/1"),
        tags: BTreeMap::from([("hoist:key".to_string(), key.to_string())]),
    }
}

fn dreq(kind: &str, key: &str, c: &Created) -> DeleteRequest {
    DeleteRequest {
        system: "test".into(),
        key: key.into(),
        kind: kind.into(),
        id: c.id.clone(),
        outputs: c.outputs.clone(),
    }
}

fn freq(kind: &str, key: &str) -> FindRequest {
    FindRequest {
        system: "test".into(),
        key: key.into(),
        kind: kind.into(),
        token: format!("test/{key}/1"),
    }
}

fn r(key: &str, c: &Created) -> Value {
    json!({"$ref": key, "id": c.id})
}

fn sandbox(c: &Created) -> PathBuf {
    PathBuf::from(c.outputs["sandbox"].as_str().unwrap())
}

fn server_spec(subnet: &Created, sg: &Created) -> Value {
    json!({
        "image": "debian-12",
        "size": "small",
        "subnet": r("Infra/subnet", subnet),
        "security_groups": [r("Infra/sg", sg)],
    })
}

struct Chain {
    net: Created,
    subnet: Created,
    sg: Created,
    srv: Created,
    pip: Created,
}

async fn chain(sim: &SimCloud) -> Chain {
    let net = sim
        .create(&creq(
            "core.network",
            "Infra/net",
            json!({"cidr": "10.0.0.0/16"}),
        ))
        .await
        .unwrap();
    let subnet = sim
        .create(&creq(
            "core.subnet",
            "Infra/subnet",
            json!({"network": r("Infra/net", &net), "cidr": "10.0.1.0/24"}),
        ))
        .await
        .unwrap();
    let rules = json!([{"direction": "ingress", "protocol": "tcp", "from_port": 22, "to_port": 22,
                        "cidr": "0.0.0.0/0"}]);
    let sg = sim
        .create(&creq(
            "core.security_group",
            "Infra/sg",
            json!({"network": r("Infra/net", &net), "rules": rules}),
        ))
        .await
        .unwrap();
    let srv = sim
        .create(&creq("core.server", "Infra/web", server_spec(&subnet, &sg)))
        .await
        .unwrap();
    let pip = sim
        .create(&creq(
            "core.public_ip",
            "Infra/web_ip",
            json!({"server": r("Infra/web", &srv)}),
        ))
        .await
        .unwrap();
    Chain {
        net,
        subnet,
        sg,
        srv,
        pip,
    }
}

#[tokio::test]
async fn a_chain_gets_deterministic_ids_addresses_and_sandboxes() {
    let tmp = TempDir::new().unwrap();
    let sim = sim_in(&tmp);
    let c = chain(&sim).await;
    assert_eq!(
        [&c.net.id, &c.subnet.id, &c.sg.id, &c.srv.id, &c.pip.id],
        ["net-0001", "subnet-0001", "sg-0001", "srv-0001", "pip-0001"]
    );
    assert_eq!(c.net.outputs["cidr"], "10.0.0.0/16");
    assert_eq!(c.subnet.outputs["cidr"], "10.0.1.0/24");
    assert_eq!(c.sg.outputs["id"], "sg-0001");
    assert_eq!(c.srv.outputs["private_ip"], "10.0.1.4");
    assert_eq!(c.srv.outputs["ip"], "10.0.1.4");
    assert_eq!(c.pip.outputs["ip"], "203.0.113.1");
    assert_eq!(c.pip.outputs["server"], "srv-0001");

    let second = sim
        .create(&creq(
            "core.server",
            "Infra/db",
            server_spec(&c.subnet, &c.sg),
        ))
        .await
        .unwrap();
    assert_eq!(second.id, "srv-0002");
    assert_eq!(second.outputs["private_ip"], "10.0.1.5");
    let pip2 = sim
        .create(&creq(
            "core.public_ip",
            "Infra/db_ip",
            json!({"server": r("Infra/db", &second)}),
        ))
        .await
        .unwrap();
    assert_eq!(
        (pip2.id.as_str(), &pip2.outputs["ip"]),
        ("pip-0002", &json!("203.0.113.2"))
    );

    // The server is a real directory with a marker naming it.
    let dir = sandbox(&c.srv);
    assert_eq!(dir, tmp.path().join("sandboxes").join("srv-0001"));
    let marker: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(MARKER_FILE)).unwrap()).unwrap();
    assert_eq!(marker["id"], "srv-0001");
    assert_eq!(marker["key"], "Infra/web");
    assert_eq!(marker["private_ip"], "10.0.1.4");
    assert_eq!(
        sim.endpoint("core.server", &c.srv.outputs),
        Some(HostEndpoint::Local { dir: dir.clone() })
    );
    assert_eq!(
        sim.endpoint("core.public_ip", &c.pip.outputs),
        Some(HostEndpoint::Local { dir })
    );
    assert_eq!(sim.endpoint("core.network", &c.net.outputs), None);

    let objs = sim.objects();
    let ids: Vec<&str> = objs.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "net-0001",
            "subnet-0001",
            "sg-0001",
            "srv-0001",
            "pip-0001",
            "srv-0002",
            "pip-0002"
        ]
    );
    assert_eq!(objs[3].kind, "core.server");
    assert_eq!(objs[3].key, "Infra/web");
    assert_eq!(objs[3].token, "test/Infra/web/1");
    assert_eq!(objs[3].tags["hoist:key"], "Infra/web");
    assert_eq!(objs[3].outputs, c.srv.outputs);
    assert_eq!(sim.count(), 7);
    assert_eq!(sim.objects_of("core.server").len(), 2);
    assert_eq!(sim.sandboxes().len(), 2);
    assert_eq!(sim.calls().creates("core.server"), 2);
    assert_eq!(sim.calls().total_creates(), 7);
}

#[tokio::test]
async fn out_of_order_deletes_are_refused_and_reverse_order_leaves_nothing() {
    let tmp = TempDir::new().unwrap();
    let sim = sim_in(&tmp);
    let c = chain(&sim).await;
    let dir = sandbox(&c.srv);

    let e = sim
        .delete(&dreq("core.network", "Infra/net", &c.net))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DependencyViolation);
    assert!(
        e.message().contains("subnet-0001") && e.message().contains("sg-0001"),
        "{e}"
    );
    let e = sim
        .delete(&dreq("core.server", "Infra/web", &c.srv))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DependencyViolation);
    assert!(e.message().contains("pip-0001"), "{e}");
    let e = sim
        .delete(&dreq("core.subnet", "Infra/subnet", &c.subnet))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DependencyViolation);
    assert_eq!(sim.count(), 5, "a refused delete changes nothing");
    assert!(dir.join(MARKER_FILE).is_file());

    sim.delete(&dreq("core.public_ip", "Infra/web_ip", &c.pip))
        .await
        .unwrap();
    sim.delete(&dreq("core.server", "Infra/web", &c.srv))
        .await
        .unwrap();
    assert!(!dir.exists(), "deleting a server removes its sandbox");
    sim.delete(&dreq("core.security_group", "Infra/sg", &c.sg))
        .await
        .unwrap();
    sim.delete(&dreq("core.subnet", "Infra/subnet", &c.subnet))
        .await
        .unwrap();
    sim.delete(&dreq("core.network", "Infra/net", &c.net))
        .await
        .unwrap();
    assert_eq!(sim.count(), 0);
    assert!(sim.objects().is_empty());
    assert_eq!(sim.calls().total_deletes(), 8);
}

#[tokio::test]
async fn deletes_are_idempotent() {
    let tmp = TempDir::new().unwrap();
    let sim = sim_in(&tmp);
    let net = sim
        .create(&creq(
            "core.network",
            "Infra/net",
            json!({"cidr": "10.0.0.0/16"}),
        ))
        .await
        .unwrap();
    let del = dreq("core.network", "Infra/net", &net);
    sim.delete(&del).await.unwrap();
    sim.delete(&del).await.unwrap();
    let mut unknown = del.clone();
    unknown.id = "net-9999".into();
    sim.delete(&unknown).await.unwrap();
    assert_eq!(sim.count(), 0);
    assert_eq!(sim.calls().deletes("core.network"), 3);
}

#[tokio::test]
async fn released_addresses_are_reused_lowest_first_but_ids_never_are() {
    let tmp = TempDir::new().unwrap();
    let sim = sim_in(&tmp);
    let c = chain(&sim).await;
    let db = sim
        .create(&creq(
            "core.server",
            "Infra/db",
            server_spec(&c.subnet, &c.sg),
        ))
        .await
        .unwrap();
    assert_eq!(db.outputs["private_ip"], "10.0.1.5");
    sim.delete(&dreq("core.public_ip", "Infra/web_ip", &c.pip))
        .await
        .unwrap();
    sim.delete(&dreq("core.server", "Infra/web", &c.srv))
        .await
        .unwrap();

    let again = sim
        .create(&creq(
            "core.server",
            "Infra/web2",
            server_spec(&c.subnet, &c.sg),
        ))
        .await
        .unwrap();
    assert_eq!(again.id, "srv-0003");
    assert_eq!(again.outputs["private_ip"], "10.0.1.4");
    let pip = sim
        .create(&creq(
            "core.public_ip",
            "Infra/ip2",
            json!({"server": r("Infra/web2", &again)}),
        ))
        .await
        .unwrap();
    assert_eq!(
        (pip.id.as_str(), &pip.outputs["ip"]),
        ("pip-0002", &json!("203.0.113.1"))
    );
}

#[tokio::test]
async fn small_subnets_run_out_of_addresses() {
    let tmp = TempDir::new().unwrap();
    let sim = sim_in(&tmp);
    let net = sim
        .create(&creq(
            "core.network",
            "I/net",
            json!({"cidr": "10.0.0.0/16"}),
        ))
        .await
        .unwrap();
    // A /29 has 8 addresses: .0-.3 and .7 are reserved, .4-.6 are usable.
    let subnet = sim
        .create(&creq(
            "core.subnet",
            "I/sub",
            json!({"network": r("I/net", &net), "cidr": "10.0.0.8/29"}),
        ))
        .await
        .unwrap();
    let spec = json!({"image": "alpine-3.20", "size": "small", "subnet": r("I/sub", &subnet)});
    let mut ips = Vec::new();
    for i in 0..3 {
        let s = sim
            .create(&creq("core.server", &format!("I/s[{i}]"), spec.clone()))
            .await
            .unwrap();
        ips.push(s.outputs["private_ip"].as_str().unwrap().to_string());
    }
    assert_eq!(ips, ["10.0.0.12", "10.0.0.13", "10.0.0.14"]);
    let e = sim
        .create(&creq("core.server", "I/s[3]", spec))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::QuotaExceeded);
    assert!(!tmp.path().join("sandboxes/srv-0004").exists());
}

#[tokio::test]
async fn references_are_checked_and_failed_creates_leave_nothing() {
    let tmp = TempDir::new().unwrap();
    let sim = sim_in(&tmp);
    let ghost = json!({"$ref": "Infra/net", "id": "net-0042"});
    let e = sim
        .create(&creq(
            "core.subnet",
            "Infra/subnet",
            json!({"network": ghost, "cidr": "10.0.1.0/24"}),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.message().contains("net-0042"), "{e}");
    assert_eq!(sim.count(), 0);

    let c = chain(&sim).await;
    assert_eq!(c.subnet.id, "subnet-0001", "failed creates consume no id");

    let ghost_subnet = json!({"$ref": "Infra/subnet", "id": "subnet-0009"});
    let e = sim
        .create(&creq(
            "core.server",
            "Infra/x",
            json!({"image": "debian-12", "size": "small", "subnet": ghost_subnet}),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);

    // A reference to an object of the wrong kind is not found either.
    let e = sim
        .create(&creq(
            "core.server",
            "Infra/x",
            json!({"image": "debian-12", "size": "small", "subnet": r("Infra/net", &c.net)}),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.message().contains("is a core.network"), "{e}");

    let e = sim
        .create(&creq(
            "core.subnet",
            "Infra/outside",
            json!({"network": r("Infra/net", &c.net), "cidr": "10.1.0.0/24"}),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidSpec);
    assert!(e.message().contains("not inside"), "{e}");

    let e = sim
        .create(&creq(
            "core.subnet",
            "Infra/overlap",
            json!({"network": r("Infra/net", &c.net), "cidr": "10.0.0.0/23"}),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidSpec);
    assert!(e.message().contains("overlaps subnet subnet-0001"), "{e}");

    let e = sim
        .create(&creq(
            "core.network",
            "Infra/bad",
            json!({"cidr": "10.0.0.1/16"}),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidSpec);

    // A security group of another network.
    let net2 = sim
        .create(&creq(
            "core.network",
            "Infra/net2",
            json!({"cidr": "10.9.0.0/16"}),
        ))
        .await
        .unwrap();
    let sg2 = sim
        .create(&creq(
            "core.security_group",
            "Infra/sg2",
            json!({"network": r("Infra/net2", &net2), "rules": []}),
        ))
        .await
        .unwrap();
    let e = sim
        .create(&creq(
            "core.server",
            "Infra/x",
            server_spec(&c.subnet, &sg2),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidSpec);
    assert!(e.message().contains("belongs to network net-0002"), "{e}");

    // Unknown images and sizes are refused by create too.
    let e = sim
        .create(&creq(
            "core.server",
            "Infra/x",
            json!({"image": "windows-95", "size": "small", "subnet": r("Infra/subnet", &c.subnet)}),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidSpec);

    // One public IP per server.
    let e = sim
        .create(&creq(
            "core.public_ip",
            "Infra/ip2",
            json!({"server": r("Infra/web", &c.srv)}),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists);

    // Malformed spec.
    let e = sim
        .create(&creq("core.network", "Infra/m", json!({"cidr": 7})))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidSpec);
    assert!(e.message().starts_with("bad core.network spec"), "{e}");

    assert_eq!(sim.objects_of("core.server").len(), 1);
    assert_eq!(sim.sandboxes().len(), 1);
}

#[tokio::test]
async fn a_reused_token_returns_the_first_object_and_find_adopts_it() {
    let tmp = TempDir::new().unwrap();
    let sim = sim_in(&tmp);
    let req = creq("core.network", "Infra/net", json!({"cidr": "10.0.0.0/16"}));
    assert_eq!(
        sim.find(&freq("core.network", "Infra/net")).await.unwrap(),
        None
    );
    let first = sim.create(&req).await.unwrap();
    let again = sim.create(&req).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(sim.count(), 1);
    assert_eq!(sim.calls().creates("core.network"), 2);

    assert_eq!(
        sim.find(&freq("core.network", "Infra/net")).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        sim.find(&freq("core.network", "Infra/other"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(sim.calls().find, 3);

    // The same token for a different resource is a mismatch, not a silent adoption.
    let mut other = creq("core.network", "Infra/net2", json!({"cidr": "10.1.0.0/16"}));
    other.token = req.token.clone();
    let e = sim.create(&other).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists);
    assert_eq!(e.code(), Some("IdempotentParameterMismatch"));

    sim.delete(&dreq("core.network", "Infra/net", &first))
        .await
        .unwrap();
    assert_eq!(
        sim.find(&freq("core.network", "Infra/net")).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn injected_create_failures_fire_once_or_always() {
    let tmp = TempDir::new().unwrap();
    let sim = sim_in(&tmp);
    let req = creq("core.network", "Infra/net", json!({"cidr": "10.0.0.0/16"}));
    sim.faults().fail_create(
        "Infra/net",
        Fault::once(ErrorKind::QuotaExceeded, "VPC limit"),
    );
    let e = sim.create(&req).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.message()),
        (ErrorKind::QuotaExceeded, "VPC limit")
    );
    assert_eq!(sim.count(), 0, "a failed create creates nothing");
    assert_eq!(sim.create(&req).await.unwrap().id, "net-0001");

    let req2 = creq("core.network", "Infra/net2", json!({"cidr": "10.1.0.0/16"}));
    sim.faults().fail_create(
        "Infra/net2",
        Fault::always(ErrorKind::Unauthorized, "bad creds"),
    );
    for _ in 0..3 {
        assert_eq!(
            sim.create(&req2).await.unwrap_err().kind(),
            ErrorKind::Unauthorized
        );
    }
    // Other keys are unaffected.
    sim.create(&creq(
        "core.network",
        "Infra/net3",
        json!({"cidr": "10.2.0.0/16"}),
    ))
    .await
    .unwrap();
    sim.faults().clear();
    assert_eq!(sim.create(&req2).await.unwrap().id, "net-0003");
    assert_eq!(sim.count(), 3);

    let req4 = creq("core.network", "Infra/net4", json!({"cidr": "10.4.0.0/16"}));
    sim.faults()
        .fail_create("Infra/net4", Fault::times(2, ErrorKind::Transient, "503"));
    assert!(sim.create(&req4).await.is_err());
    assert!(sim.create(&req4).await.is_err());
    assert!(sim.create(&req4).await.is_ok());
}

#[tokio::test]
async fn injected_delete_failures_keep_the_object() {
    let tmp = TempDir::new().unwrap();
    let sim = sim_in(&tmp);
    let c = chain(&sim).await;
    sim.faults()
        .fail_delete("Infra/web_ip", Fault::once(ErrorKind::Transient, "timeout"));
    let del = dreq("core.public_ip", "Infra/web_ip", &c.pip);
    assert_eq!(
        sim.delete(&del).await.unwrap_err().kind(),
        ErrorKind::Transient
    );
    assert!(sim.object("pip-0001").is_some());
    sim.delete(&del).await.unwrap();
    assert!(sim.object("pip-0001").is_none());

    // A delete that takes effect and then reports a failure; the retry finds nothing: Ok.
    sim.faults().crash_after_delete("Infra/web");
    let del = dreq("core.server", "Infra/web", &c.srv);
    assert_eq!(
        sim.delete(&del).await.unwrap_err().kind(),
        ErrorKind::Transient
    );
    assert!(sim.object("srv-0001").is_none());
    assert!(!sandbox(&c.srv).exists());
    sim.delete(&del).await.unwrap();
}

#[tokio::test]
async fn a_crash_after_create_leaves_an_object_to_adopt() {
    let tmp = TempDir::new().unwrap();
    let sim = sim_in(&tmp);
    let c = chain(&sim).await;
    sim.faults().crash_after_create("Infra/db");
    let req = creq("core.server", "Infra/db", server_spec(&c.subnet, &c.sg));
    let e = sim.create(&req).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transient);
    assert!(e.is_retryable());
    assert_eq!(
        sim.objects_of("core.server").len(),
        2,
        "the object exists despite the error"
    );

    let found = sim
        .find(&freq("core.server", "Infra/db"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, "srv-0002");
    assert!(sandbox(&found).join(MARKER_FILE).is_file());
    // Retrying the create with the same token adopts instead of duplicating.
    assert_eq!(sim.create(&req).await.unwrap(), found);
    assert_eq!(sim.objects_of("core.server").len(), 2);
}

#[tokio::test]
async fn throttling_fails_the_next_calls_without_effect() {
    let tmp = TempDir::new().unwrap();
    let sim = sim_in(&tmp);
    let req = creq("core.network", "Infra/net", json!({"cidr": "10.0.0.0/16"}));
    sim.faults().throttle_next(2);
    let e = sim.create(&req).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Throttled);
    assert!(e.is_retryable());
    assert_eq!(
        sim.find(&freq("core.network", "Infra/net"))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Throttled
    );
    assert_eq!(sim.count(), 0);
    assert_eq!(sim.faults().pending_throttles(), 0);
    let net = sim.create(&req).await.unwrap();
    assert_eq!(net.id, "net-0001");
    assert_eq!(sim.calls().creates("core.network"), 2);

    sim.faults().throttle_next(1);
    let del = dreq("core.network", "Infra/net", &net);
    assert_eq!(
        sim.delete(&del).await.unwrap_err().kind(),
        ErrorKind::Throttled
    );
    assert_eq!(sim.count(), 1);
    sim.delete(&del).await.unwrap();
    assert_eq!(sim.count(), 0);
}

#[tokio::test(start_paused = true)]
async fn latency_applies_per_call_and_concurrency_is_measured() {
    let tmp = TempDir::new().unwrap();
    let sim = SimCloud::builder()
        .sandbox_root(tmp.path().join("sb"))
        .latency(Duration::from_secs(5))
        .build();
    assert_eq!(sim.latency(), Duration::from_secs(5));

    let start = tokio::time::Instant::now();
    let net = sim
        .create(&creq(
            "core.network",
            "I/net",
            json!({"cidr": "10.0.0.0/8"}),
        ))
        .await
        .unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    assert_eq!(sim.max_in_flight(), 1);

    let start = tokio::time::Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..10 {
        let sim = sim.clone();
        let spec = json!({"network": r("I/net", &net), "cidr": format!("10.{i}.0.0/16")});
        set.spawn(async move {
            sim.create(&creq("core.subnet", &format!("I/sub[{i}]"), spec))
                .await
        });
    }
    while let Some(res) = set.join_next().await {
        res.unwrap().unwrap();
    }
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(5),
        "concurrent calls overlap"
    );
    assert_eq!(sim.max_in_flight(), 10);
    assert_eq!(sim.in_flight(), 0);
    assert_eq!(sim.count(), 11);

    sim.set_latency(Duration::from_millis(100));
    sim.reset_stats();
    let start = tokio::time::Instant::now();
    sim.find(&freq("core.network", "I/net"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(100));
    assert_eq!(sim.max_in_flight(), 0, "find is not a create/delete");
    assert_eq!(sim.calls().find, 1);
    assert_eq!(sim.calls().total_creates(), 0);
}

#[test]
fn check_reports_unknown_images_and_sizes_only_for_literals() {
    let sim = SimCloud::new();
    let sub = json!({"$hoist": "ref", "to": "x"});
    let bad = json!({"image": "x", "size": "huge", "subnet": sub});
    assert_eq!(
        sim.check("core.server", &bad),
        [
            "image: unknown image \"x\" (known: debian-12, ubuntu-24.04, alpine-3.20)",
            "size: unknown size \"huge\" (known: small, medium, large)",
        ]
    );
    let good = json!({"image": "ubuntu-24.04", "size": "large", "subnet": sub});
    assert!(sim.check("core.server", &good).is_empty());
    let deferred =
        json!({"image": {"$hoist": "out", "to": "x", "field": "image"}, "size": "small"});
    assert!(sim.check("core.server", &deferred).is_empty());
    assert!(
        sim.check("core.network", &json!({"cidr": "10.0.0.0/16"}))
            .is_empty()
    );
}

#[tokio::test]
async fn only_the_core_cloud_kinds_are_supported() {
    let sim = SimCloud::new();
    assert_eq!(sim.name(), "sim");
    assert_eq!(SimCloud::builder().name("sim-eu").build().name(), "sim-eu");
    for k in [
        "core.network",
        "core.subnet",
        "core.security_group",
        "core.server",
        "core.public_ip",
    ] {
        assert!(sim.supports(k), "{k}");
    }
    assert!(!sim.supports("core.fixed_host"));
    assert!(!sim.supports("aws.vpc"));
    let e = sim
        .create(&creq(
            "core.fixed_host",
            "I/h",
            json!({"address": "127.0.0.1"}),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidSpec);
    assert_eq!(sim.count(), 0);
}

#[tokio::test]
async fn user_data_is_written_to_the_sandbox() {
    let tmp = TempDir::new().unwrap();
    let sim = sim_in(&tmp);
    let c = chain(&sim).await;
    let mut spec = server_spec(&c.subnet, &c.sg);
    spec["user_data"] = json!("#!/bin/sh\necho hi\n");
    let s = sim
        .create(&creq("core.server", "Infra/ud", spec))
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(sandbox(&s).join(USER_DATA_FILE)).unwrap(),
        "#!/bin/sh\necho hi\n"
    );
}

#[tokio::test]
async fn a_later_cloud_removes_a_sandbox_it_does_not_know_only_if_the_marker_matches() {
    let tmp = TempDir::new().unwrap();
    let root = tmp.path().join("sandboxes");
    let first = SimCloud::builder().sandbox_root(&root).build();
    let c = chain(&first).await;
    let dir = sandbox(&c.srv);
    drop(first);
    assert!(dir.is_dir(), "a given sandbox root is kept");

    let later = SimCloud::builder().sandbox_root(&root).build();
    let mut wrong = dreq("core.server", "Infra/web", &c.srv);
    wrong.id = "srv-0007".into();
    later.delete(&wrong).await.unwrap();
    assert!(
        dir.is_dir(),
        "a marker naming another server protects the directory"
    );
    later
        .delete(&dreq("core.server", "Infra/web", &c.srv))
        .await
        .unwrap();
    assert!(!dir.exists());
}

#[tokio::test]
async fn the_default_sandbox_root_is_private_and_removed_with_the_cloud() {
    let a = SimCloud::new();
    let b = SimCloud::new();
    assert_ne!(a.sandbox_root(), b.sandbox_root());
    assert!(a.sandbox_root().starts_with(std::env::temp_dir()));
    let c = chain(&a).await;
    let root: &Path = a.sandbox_root();
    let root = root.to_path_buf();
    assert!(sandbox(&c.srv).starts_with(&root) && sandbox(&c.srv).is_dir());
    let clone = a.clone();
    drop(a);
    assert!(root.is_dir(), "kept while a clone is alive");
    drop(clone);
    assert!(!root.exists());
}

// ---------------------------------------------------------------------------------------------
// Persistent mode

fn persistent(tmp: &TempDir) -> SimCloud {
    SimCloud::builder()
        .persist(tmp.path().join("sim.json"))
        .build()
}

#[tokio::test]
async fn a_persistent_cloud_is_shared_by_instances_and_outlives_them() {
    let tmp = TempDir::new().unwrap();
    let (ids, sandbox_dir) = {
        let a = persistent(&tmp);
        let c = chain(&a).await;
        assert_eq!(a.count(), 5);
        (vec![c.net.id, c.srv.id.clone()], sandbox(&c.srv))
    };
    assert!(
        sandbox_dir.starts_with(tmp.path().join("sim.json.sandboxes")),
        "{sandbox_dir:?}"
    );
    // A new instance (another process, in effect) sees the same objects.
    let b = persistent(&tmp);
    assert_eq!(b.count(), 5);
    assert_eq!(
        b.persist_path(),
        Some(tmp.path().join("sim.json").as_path())
    );
    assert!(b.object(&ids[1]).is_some() && sandbox_dir.is_dir());
    // ... finds them by token, and a create with a used token returns the same object.
    let found = b.find(&freq("core.network", "Infra/net")).await.unwrap();
    assert_eq!(found.unwrap().id, ids[0]);
    let again = b
        .create(&creq(
            "core.network",
            "Infra/net",
            json!({"cidr": "10.0.0.0/16"}),
        ))
        .await
        .unwrap();
    assert_eq!(again.id, ids[0]);
    // Ids go on counting across instances.
    let n2 = b
        .create(&CreateRequest {
            token: "other".into(),
            ..creq("core.network", "Infra/net2", json!({"cidr": "10.9.0.0/16"}))
        })
        .await
        .unwrap();
    assert_eq!(n2.id, "net-0002");
    let a = persistent(&tmp);
    assert_eq!(a.count(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_instances_never_lose_a_create() {
    let tmp = TempDir::new().unwrap();
    let a = persistent(&tmp);
    let b = persistent(&tmp);
    let net = a
        .create(&creq(
            "core.network",
            "Infra/net",
            json!({"cidr": "10.0.0.0/16"}),
        ))
        .await
        .unwrap();
    let mut set = tokio::task::JoinSet::new();
    for k in 0..20 {
        let cloud = if k % 2 == 0 { a.clone() } else { b.clone() };
        let spec = json!({"network": r("Infra/net", &net), "cidr": format!("10.0.{k}.0/24")});
        set.spawn(async move {
            cloud
                .create(&creq("core.subnet", &format!("Infra/s{k}"), spec))
                .await
                .unwrap()
        });
    }
    let mut ids = std::collections::BTreeSet::new();
    while let Some(c) = set.join_next().await {
        ids.insert(c.unwrap().id);
    }
    assert_eq!(ids.len(), 20, "every create got its own id");
    assert_eq!(persistent(&tmp).count(), 21);
}
