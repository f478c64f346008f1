//! `hoist down` never forgets an object that still exists: through a proxy for another cloud
//! (another simulated-cloud file, another moto account) it refuses and changes nothing;
//! objects deleted out of band are reported absent, and when most are gone it stops until
//! `--forget-missing`.

use std::process::Command;

use hoist::aws::testing::{account_for, moto_account_credentials, moto_url};
use hoist::provider::{DeleteRequest, Provisioner};
use hoist::sim::SimCloud;

use crate::common::{Bed, HOIST, block_on, text};

/// `hoist ARGS` in `bed`, with `vars` set (or removed, when empty) on top of its environment.
fn hoist_with(bed: &Bed, vars: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    let mut c = Command::new(HOIST);
    bed.env(&mut c);
    for (k, v) in vars {
        c.env(k, v);
    }
    c.args(args).output().unwrap()
}

#[test]
fn down_through_another_simulated_cloud_refuses_and_forgets_nothing() {
    let bed = Bed::sqlite(0);
    bed.up("shop");
    let before = bed.state_blocking("shop").unwrap();
    let objects = bed.objects("shop").len();
    assert_eq!(objects, before.resources.len());
    let typo = bed.dir.path().join("sim-typo.json");
    let out = hoist_with(
        &bed,
        &[("HOIST_SIM_STATE", typo.to_str().unwrap())],
        &["down", "--yes"],
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    let recorded = before.resources["infra/net"].identity.clone().unwrap();
    assert!(
        t.contains("refusing to touch")
            && t.contains(&recorded.account)
            && t.contains("HOIST_SIM_STATE"),
        "{t}"
    );
    assert!(!t.contains("deleted "), "nothing deleted: {t}");
    let after = bed.state_blocking("shop").unwrap();
    assert_eq!(after.resources, before.resources, "nothing forgotten");
    assert_eq!(bed.objects("shop").len(), objects, "nothing deleted");
    bed.down("shop");
    assert!(bed.objects("shop").is_empty());
}

#[test]
fn objects_deleted_out_of_band_are_absent_and_most_of_them_need_forget_missing() {
    let bed = Bed::sqlite(0);
    bed.up("shop");
    // Delete every server (and public IP) behind hoist's back: most of the objects.
    let state = bed.state_blocking("shop").unwrap();
    let hosts = |r: &&hoist::state::ResourceRecord| {
        matches!(r.kind.as_str(), "core.server" | "core.public_ip")
    };
    let mut servers: Vec<_> = state.resources.values().filter(hosts).cloned().collect();
    servers.sort_by_key(|r| r.kind != "core.public_ip");
    let cloud = SimCloud::builder().persist(&bed.sim).build();
    block_on(async move {
        for r in servers {
            let req = DeleteRequest {
                system: "shop".into(),
                key: r.key.clone(),
                kind: r.kind.clone(),
                id: r.provider_id.clone().unwrap(),
                outputs: r.outputs.clone(),
            };
            cloud.delete(&req).await.unwrap();
        }
    });
    let out = bed.hoist(&["down", "--yes"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("MISSING") && t.contains("--forget-missing"),
        "{t}"
    );
    let kept = bed.state_blocking("shop").unwrap();
    assert!(
        kept.resources.values().all(|r| hosts(&r)),
        "only the missing hosts stay: {:?}",
        kept.resources.keys()
    );
    assert!(!kept.resources.is_empty());
    assert!(bed.objects("shop").is_empty(), "the rest was deleted");

    let out = bed.hoist(&["down", "--yes", "--forget-missing"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("absent") && !t.contains("MISSING"), "{t}");
    assert!(bed.state_blocking("shop").unwrap().resources.is_empty());
}

#[test]
fn moto_down_with_another_account_refuses_and_another_region_deletes_where_objects_are() {
    let test = "moto_down_with_another_account_refuses";
    let Some(url) = moto_url(test) else {
        return;
    };
    let bed = Bed::moto(&url, test);
    bed.up("shop");
    let objects = bed.objects("shop").len();
    assert!(objects > 0);
    let before = bed.state_blocking("shop").unwrap();

    let (u, other) = (url.clone(), account_for("moto_down_other_account"));
    let creds = block_on(async move { moto_account_credentials(&u, &other).await }).unwrap();
    let out = hoist_with(
        &bed,
        &[
            ("AWS_ACCESS_KEY_ID", &creds.access_key_id),
            ("AWS_SECRET_ACCESS_KEY", &creds.secret_access_key),
            ("AWS_SESSION_TOKEN", &creds.session_token),
        ],
        &["down", "--yes"],
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    let recorded = before
        .resources
        .values()
        .next()
        .unwrap()
        .identity
        .clone()
        .unwrap();
    assert!(
        t.contains("refusing to touch") && t.contains(&recorded.account),
        "{t}"
    );
    assert!(!t.contains(&creds.secret_access_key) && !t.contains(&creds.session_token));
    assert_eq!(
        bed.state_blocking("shop").unwrap().resources,
        before.resources
    );
    assert_eq!(bed.objects("shop").len(), objects, "nothing deleted");

    // Another default region: every object records the region it lives in, and is deleted
    // there; nothing is forgotten while it exists.
    let out = hoist_with(&bed, &[("AWS_REGION", "eu-west-1")], &["down", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(bed.objects("shop").is_empty(), "deleted in us-east-1");
    assert!(bed.state_blocking("shop").unwrap().resources.is_empty());
}
