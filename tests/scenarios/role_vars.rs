//! A program reads a role's variables after provisioning, with the values provisioning gave
//! them, through `Orchestration::role_vars`.

use std::time::Duration;

use hoist::{Model, Multi, Role, Vars};
use hoist_tests::{Fleet, assert_success, builder, sim};

#[derive(Model)]
struct Ns {
    vars: Vars,
    srv: Multi<Role>,
}

#[tokio::test]
async fn role_vars_show_values_known_after_provisioning() {
    let cloud = sim(Duration::ZERO);
    let f = Fleet::refs();
    let ns = Ns {
        vars: Vars::new()
            .set("FIRST_IP", f.srv.at(0).out().private_ip)
            .set("URL", "http://!{FIRST_IP}:8080/"),
        srv: Multi::new(Role::on(f.srv.mine())).keys(0..2),
    };
    let orch = builder("vars", &cloud)
        .infra("fleet", Fleet::new(2))
        .namespace("ns", ns)
        .build()
        .unwrap();
    let before = orch.role_vars("ns/srv[1]").await.unwrap();
    let url = before.iter().find(|v| v.name == "URL").unwrap();
    assert!(url.value.as_ref().unwrap().deferred, "{url:?}");

    assert_success(&orch.initiate_system().await.unwrap());
    let after = orch.role_vars("ns/srv[1]").await.unwrap();
    let url = after.iter().find(|v| v.name == "URL").unwrap();
    let e = url.value.as_ref().unwrap();
    assert!(!e.deferred);
    assert!(
        e.text.starts_with("http://10.30.1.") && e.text.ends_with(":8080/"),
        "{}",
        e.text
    );
    assert!(orch.role_vars("ns/nope").await.is_err());
}
