//! The provider-neutral web model (the quick start's system) on AWS: the core kinds map to
//! EC2 objects, and a role's host is the address provisioning recorded.

use std::sync::Arc;

use hoist::Orchestration;
use hoist_webapp::{WebInfra, WebNamespace, WebParams};

use crate::support;

#[tokio::test]
async fn the_web_model_runs_on_aws_and_tears_down() {
    let test = "the_web_model_runs_on_aws_and_tears_down";
    let Some(url) = support::moto(test) else {
        return;
    };
    let cloud = support::builder(test, &url).build();
    let params = WebParams {
        apps: 2,
        ..WebParams::default()
    };
    let orch = Orchestration::builder("web")
        .state_in_memory()
        .infra("web", WebInfra::new(&params))
        .namespace("ns", WebNamespace::new(&params))
        .provisioner(Arc::new(cloud.clone()))
        .build()
        .unwrap();
    let report = orch.initiate_system().await.unwrap();
    assert!(report.success, "{report}");
    let state = orch.state().await.unwrap().unwrap();
    let rec = |k: &str| &state.resources[k];
    // Servers are instances that recorded their addresses (Actuator's AWS instances did not).
    for k in ["web/db", "web/app[0]", "web/app[1]", "web/lb"] {
        let o = &rec(k).outputs;
        assert!(
            rec(k).provider_id.as_deref().unwrap().starts_with("i-"),
            "{k}"
        );
        let ip = o["private_ip"].as_str().unwrap();
        assert!(ip.starts_with("10.20.1."), "{k}: {ip}");
        assert_eq!(
            o["ip"], o["private_ip"],
            "{k}: no public IP, so ip is the private one"
        );
    }
    // The public IP is an Elastic IP on the load balancer (moto's are 127.x: never dialled).
    let pip = &rec("web/lb_ip").outputs;
    assert!(
        rec("web/lb_ip")
            .provider_id
            .as_deref()
            .unwrap()
            .starts_with("eipalloc-")
    );
    assert!(
        pip["ip"]
            .as_str()
            .unwrap()
            .parse::<std::net::Ipv4Addr>()
            .is_ok()
    );
    // The network got an internet gateway so that the address can be associated.
    assert!(
        rec("web/net").outputs["internet_gateway_id"]
            .as_str()
            .unwrap()
            .starts_with("igw-")
    );
    assert!(!cloud.inventory("web").await.unwrap().is_empty());

    let down = orch.teardown_system().await.unwrap();
    assert!(down.success, "{down}");
    let left = cloud.inventory("web").await.unwrap();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// Unknown images and sizes are plan errors, before any call.
#[test]
fn unknown_images_are_reported_by_the_plan() {
    let cloud = hoist_aws::AwsCloud::builder().region("us-east-1").build();
    let params = WebParams {
        image: "no-such-image".into(),
        app_size: "gigantic".into(),
        ..WebParams::default()
    };
    let orch = Orchestration::builder("bad")
        .state_in_memory()
        .infra("web", WebInfra::new(&params))
        .namespace("ns", WebNamespace::new(&params))
        .provisioner(Arc::new(cloud.clone()))
        .build()
        .unwrap();
    let err = orch.plan().unwrap_err().to_string();
    assert!(err.contains("unknown image \"no-such-image\""), "{err}");
    assert!(err.contains("\"gigantic\""), "{err}");
    assert_eq!(cloud.total_calls(), 0);
}
