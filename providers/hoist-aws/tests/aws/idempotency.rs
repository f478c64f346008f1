//! Crash safety against moto: objects are found by their token tag and adopted, a retried
//! create makes no duplicate, and teardown of an interrupted run leaves nothing.
//! (moto ignores `ClientToken`; the SDK-level checks of it are the mocked unit tests.)

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use hoist::{Model, Orchestration, ResourceOutcome};
use hoist_aws as aws;
use hoist_provider::{
    CloudIdentity, CreateRequest, Created, DeleteRequest, Deleted, ErrorKind, FindRequest,
    OutputMap, ProvisionError, Provisioner,
};
use serde_json::json;

use crate::support::{self, rf};

/// A proxy that "crashes" once: the create of `key` goes through, but its answer is lost.
struct LoseAnswer {
    inner: aws::AwsCloud,
    key: String,
    armed: AtomicBool,
}

#[async_trait]
impl Provisioner for LoseAnswer {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn supports(&self, kind: &str) -> bool {
        self.inner.supports(kind)
    }
    async fn create(&self, req: &CreateRequest) -> Result<Created, ProvisionError> {
        let r = self.inner.create(req).await?;
        if req.key == self.key && self.armed.swap(false, Ordering::SeqCst) {
            return Err(ProvisionError::new(
                ErrorKind::Other,
                "connection lost after the call",
            ));
        }
        Ok(r)
    }
    async fn delete(&self, req: &DeleteRequest) -> Result<Deleted, ProvisionError> {
        self.inner.delete(req).await
    }
    async fn identity(&self) -> Result<CloudIdentity, ProvisionError> {
        self.inner.identity().await
    }
    fn identity_of(&self, proxy: &CloudIdentity, kind: &str, outputs: &OutputMap) -> CloudIdentity {
        self.inner.identity_of(proxy, kind, outputs)
    }
    async fn find(&self, req: &FindRequest) -> Result<Option<Created>, ProvisionError> {
        self.inner.find(req).await
    }
}

#[derive(Model)]
struct Small {
    vpc: aws::Vpc,
    subnet: aws::Subnet,
    igw: aws::InternetGateway,
    vm: aws::Instance,
    ip: aws::ElasticIp,
}

fn small() -> Small {
    let r = Small::refs();
    Small {
        vpc: aws::Vpc::new("10.40.0.0/16"),
        subnet: aws::Subnet::new(r.vpc.clone(), "10.40.1.0/24"),
        igw: aws::InternetGateway::new(r.vpc.clone()),
        vm: aws::Instance::new("ami-12c6146b", "t3.micro", r.subnet.clone()),
        ip: aws::ElasticIp::for_instance(r.vm.clone()),
    }
}

async fn count_instances(cloud: &aws::AwsCloud, system: &str) -> usize {
    cloud
        .inventory(system)
        .await
        .unwrap()
        .iter()
        .filter(|o| o.kind == "aws.instance")
        .count()
}

#[tokio::test]
async fn a_lost_answer_is_adopted_on_the_next_run_without_duplicates() {
    let test = "a_lost_answer_is_adopted_on_the_next_run_without_duplicates";
    let Some(url) = support::moto(test) else {
        return;
    };
    for key in ["m/vm", "m/ip", "m/igw"] {
        let cloud = support::builder(test, &url).build();
        let system = format!("adopt-{}", key.trim_start_matches("m/"));
        let proxy = Arc::new(LoseAnswer {
            inner: cloud.clone(),
            key: key.into(),
            armed: AtomicBool::new(true),
        });
        let orch = Orchestration::builder(&system)
            .state_in_memory()
            .infra("m", small())
            .provisioner(proxy)
            .provision_retry(hoist::RetryPolicy::attempts(1))
            .build()
            .unwrap();
        let first = orch.initiate_system().await.unwrap();
        assert!(
            !first.success,
            "{key}: the lost answer must fail the first run"
        );
        let second = orch.initiate_system().await.unwrap();
        assert!(second.success, "{key}: {second}");
        let adopted = second.resources.iter().find(|r| r.key == key).unwrap();
        assert_eq!(adopted.outcome, ResourceOutcome::Adopted, "{key}: {second}");
        let inv = cloud.inventory(&system).await.unwrap();
        let of_key = inv
            .iter()
            .filter(|o| o.resource.as_deref() == Some(key))
            .count();
        assert_eq!(of_key, 1, "{key}: duplicated: {inv:?}");
        assert_eq!(count_instances(&cloud, &system).await, 1);
        assert!(orch.teardown_system().await.unwrap().success);
        assert!(cloud.inventory(&system).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn teardown_after_a_lost_answer_leaves_nothing() {
    let test = "teardown_after_a_lost_answer_leaves_nothing";
    let Some(url) = support::moto(test) else {
        return;
    };
    let cloud = support::builder(test, &url).build();
    let proxy = Arc::new(LoseAnswer {
        inner: cloud.clone(),
        key: "m/vm".into(),
        armed: AtomicBool::new(true),
    });
    let orch = Orchestration::builder("lost")
        .state_in_memory()
        .infra("m", small())
        .provisioner(proxy)
        .provision_retry(hoist::RetryPolicy::attempts(1))
        .build()
        .unwrap();
    assert!(!orch.initiate_system().await.unwrap().success);
    assert_eq!(count_instances(&cloud, "lost").await, 1);
    let down = orch.teardown_system().await.unwrap();
    assert!(down.success, "{down}");
    assert!(cloud.inventory("lost").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_retried_create_returns_the_first_object() {
    let test = "a_retried_create_returns_the_first_object";
    let Some(url) = support::moto(test) else {
        return;
    };
    let cloud = support::builder(test, &url).build();
    let vpc = cloud
        .create(&support::req(
            "retry",
            "m/vpc",
            "aws.vpc",
            json!({"cidr": "10.50.0.0/16"}),
        ))
        .await
        .unwrap();
    let sn = cloud
        .create(&support::req(
            "retry",
            "m/subnet",
            "aws.subnet",
            json!({"vpc": rf("m/vpc", &vpc.id), "cidr": "10.50.1.0/24"}),
        ))
        .await
        .unwrap();
    let req = support::req(
        "retry",
        "m/vm",
        "aws.instance",
        json!({"image": "ami-12c6146b", "instance_type": "t3.micro", "subnet": rf("m/subnet", &sn.id)}),
    );
    let a = cloud.create(&req).await.unwrap();
    // The same token again (the orchestrator retrying after a timeout): no second instance.
    let b = cloud.create(&req).await.unwrap();
    assert_eq!(a.id, b.id);
    assert_eq!(count_instances(&cloud, "retry").await, 1);
    // Find by token, from a fresh proxy (a new process).
    let fresh = support::builder(test, &url).build();
    let found = fresh
        .find(&FindRequest {
            system: "retry".into(),
            key: "m/vm".into(),
            kind: "aws.instance".into(),
            token: req.token.clone(),
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, a.id);
    assert_eq!(found.outputs["private_ip"], a.outputs["private_ip"]);
    // Sweep by tag removes everything, and is idempotent.
    let swept = fresh.sweep("retry").await.unwrap();
    assert_eq!(swept.len(), 3, "{swept:?}");
    assert!(fresh.inventory("retry").await.unwrap().is_empty());
    assert!(fresh.sweep("retry").await.unwrap().is_empty());
    // Deleting what is gone is success.
    let del = DeleteRequest {
        system: "retry".into(),
        key: "m/vpc".into(),
        kind: "aws.vpc".into(),
        id: vpc.id.clone(),
        outputs: vpc.outputs.clone(),
    };
    fresh.delete(&del).await.unwrap();
}

#[tokio::test]
async fn errors_are_mapped_to_neutral_kinds() {
    let test = "errors_are_mapped_to_neutral_kinds";
    let Some(url) = support::moto(test) else {
        return;
    };
    let cloud = support::builder(test, &url).build();
    let vpc = cloud
        .create(&support::req(
            "errs",
            "m/vpc",
            "aws.vpc",
            json!({"cidr": "10.60.0.0/16"}),
        ))
        .await
        .unwrap();
    // A subnet outside its VPC's range is an invalid spec.
    let e = cloud
        .create(&support::req(
            "errs",
            "m/bad",
            "aws.subnet",
            json!({"vpc": rf("m/vpc", &vpc.id), "cidr": "10.61.1.0/24"}),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidSpec, "{e}");
    // A subnet of a VPC that does not exist: not found (after the bounded retry).
    let e = cloud
        .create(&support::req(
            "errs",
            "m/orphan",
            "aws.subnet",
            json!({"vpc": rf("m/none", "vpc-00000000"), "cidr": "10.60.2.0/24"}),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    // Deleting a VPC that still has a subnet: a dependency violation, retried, then reported.
    let _sn = cloud
        .create(&support::req(
            "errs",
            "m/subnet",
            "aws.subnet",
            json!({"vpc": rf("m/vpc", &vpc.id), "cidr": "10.60.1.0/24"}),
        ))
        .await
        .unwrap();
    let quick = support::builder(test, &url)
        .dependency_timeout(std::time::Duration::from_millis(600))
        .build();
    let e = quick
        .delete(&DeleteRequest {
            system: "errs".into(),
            key: "m/vpc".into(),
            kind: "aws.vpc".into(),
            id: vpc.id.clone(),
            outputs: vpc.outputs.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DependencyViolation, "{e}");
    assert!(quick.calls()["DeleteVpc"] >= 2, "{:?}", quick.calls());
    cloud.sweep("errs").await.unwrap();
    assert!(cloud.inventory("errs").await.unwrap().is_empty());
}
