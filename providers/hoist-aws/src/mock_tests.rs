//! Tests on a mocked SDK client (aws-smithy-mocks): what moto cannot show, because it ignores
//! `ClientToken` and cannot be made to answer with chosen errors.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ec2::error::ErrorMetadata;
use aws_sdk_ec2::operation::attach_internet_gateway::{
    AttachInternetGatewayError, AttachInternetGatewayOutput,
};
use aws_sdk_ec2::operation::create_internet_gateway::CreateInternetGatewayOutput;
use aws_sdk_ec2::operation::create_vpc::CreateVpcError;
use aws_sdk_ec2::operation::delete_subnet::{DeleteSubnetError, DeleteSubnetOutput};
use aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput;
use aws_sdk_ec2::operation::run_instances::RunInstancesOutput;
use aws_sdk_ec2::types::{
    Instance, InstanceState, InstanceStateName, InternetGateway, Reservation, ResourceType, Tag,
};
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock};
use hoist_provider::{CreateRequest, DeleteRequest, ErrorKind, FindRequest, Provisioner};
use serde_json::json;

use crate::AwsCloud;
use crate::cloud::lock;

fn client(rules: &[&Rule]) -> Client {
    let mut i = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
    for r in rules {
        i = i.with_rule(r);
    }
    let conf = aws_sdk_ec2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("a", "b", None, None, "test"))
        .http_client(create_mock_http_client())
        .interceptor(i)
        .build();
    Client::from_conf(conf)
}

fn cloud(rules: &[&Rule]) -> AwsCloud {
    let c = AwsCloud::builder()
        .region("us-east-1")
        .static_credentials("a", hoist_core::Secret::new("b"))
        .not_found_timeout(Duration::from_secs(2))
        .dependency_timeout(Duration::from_secs(3))
        .poll_interval(Duration::from_millis(10))
        .build();
    lock(&c.inner.clients).insert("us-east-1".into(), client(rules));
    c
}

fn req(kind: &str, key: &str, spec: serde_json::Value) -> CreateRequest {
    CreateRequest {
        system: "sys".into(),
        key: key.into(),
        kind: kind.into(),
        spec,
        token: "tok-0123456789abcdef".into(),
        tags: BTreeMap::from([
            ("hoist:system".to_string(), "sys".to_string()),
            ("hoist:resource".to_string(), key.to_string()),
            (
                "hoist:token".to_string(),
                "tok-0123456789abcdef".to_string(),
            ),
        ]),
    }
}

fn running(id: &str) -> Instance {
    Instance::builder()
        .instance_id(id)
        .state(
            InstanceState::builder()
                .name(InstanceStateName::Running)
                .build(),
        )
        .private_ip_address("10.0.1.7")
        .public_ip_address("54.1.2.3")
        .build()
}

fn has_tag(tags: &[Tag], k: &str, v: &str) -> bool {
    tags.iter()
        .any(|t| t.key() == Some(k) && t.value() == Some(v))
}

#[tokio::test]
async fn run_instances_carries_the_token_and_tags_and_records_addresses() {
    let run = mock!(Client::run_instances)
        .match_requests(|r| {
            r.client_token() == Some("tok-0123456789abcdef")
                && r.tag_specifications().iter().any(|s| {
                    s.resource_type() == Some(&ResourceType::Instance)
                        && has_tag(s.tags(), "hoist:system", "sys")
                        && has_tag(s.tags(), "hoist:resource", "m/vm")
                        && has_tag(s.tags(), "hoist:token", "tok-0123456789abcdef")
                })
                && r.user_data() == Some("aGVsbG8=")
                && r.instance_type().map(|t| t.as_str()) == Some("t3.small")
        })
        .then_output(|| {
            RunInstancesOutput::builder()
                .instances(
                    Instance::builder()
                        .instance_id("i-1")
                        .state(
                            InstanceState::builder()
                                .name(InstanceStateName::Pending)
                                .build(),
                        )
                        .build(),
                )
                .build()
        });
    let describe = mock!(Client::describe_instances).then_output(|| {
        DescribeInstancesOutput::builder()
            .reservations(Reservation::builder().instances(running("i-1")).build())
            .build()
    });
    let c = cloud(&[&run, &describe]);
    let created = c
        .create(&req(
            "aws.instance",
            "m/vm",
            json!({"image": "ami-1", "instance_type": "small", "user_data": "hello",
                   "subnet": {"$ref": "m/subnet", "id": "subnet-1"}}),
        ))
        .await
        .unwrap();
    assert_eq!(created.id, "i-1");
    assert_eq!(created.outputs["private_ip"], "10.0.1.7");
    assert_eq!(created.outputs["public_ip"], "54.1.2.3");
    assert_eq!(created.outputs["ip"], "54.1.2.3");
    assert_eq!(run.num_calls(), 1);
    assert_eq!(describe.num_calls(), 1);
}

#[tokio::test]
async fn many_instances_are_polled_together() {
    let run = mock!(Client::run_instances).then_compute_output(|r| {
        let n = r.client_token().unwrap_or_default().to_string();
        RunInstancesOutput::builder()
            .instances(
                Instance::builder()
                    .instance_id(format!("i-{n}"))
                    .state(
                        InstanceState::builder()
                            .name(InstanceStateName::Pending)
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let describe = mock!(Client::describe_instances).then_compute_output(|r| {
        let ids: Vec<String> = r
            .filters()
            .iter()
            .flat_map(|f| f.values().to_vec())
            .collect();
        let mut res = Reservation::builder();
        for id in ids {
            res = res.instances(running(&id));
        }
        DescribeInstancesOutput::builder()
            .reservations(res.build())
            .build()
    });
    let c = cloud(&[&run, &describe]);
    let mut js = tokio::task::JoinSet::new();
    for i in 0..30 {
        let c = c.clone();
        js.spawn(async move {
            let mut r = req(
                "aws.instance",
                &format!("m/vm{i}"),
                json!({"image": "ami-1", "instance_type": "t3.micro",
                       "subnet": {"$ref": "m/subnet", "id": "subnet-1"}}),
            );
            r.token = format!("t{i}");
            c.create(&r).await
        });
    }
    while let Some(r) = js.join_next().await {
        r.unwrap().unwrap();
    }
    assert_eq!(run.num_calls(), 30);
    assert!(
        describe.num_calls() <= 3,
        "{} DescribeInstances for 30 instances",
        describe.num_calls()
    );
}

#[tokio::test]
async fn a_retried_create_finds_the_first_object_instead_of_launching_again() {
    let run = mock!(Client::run_instances).then_output(|| {
        RunInstancesOutput::builder()
            .instances(running("i-1"))
            .build()
    });
    let describe = mock!(Client::describe_instances)
        .match_requests(|r| {
            r.filters().iter().any(|f| {
                f.name() == Some("tag:hoist:token") && f.values() == ["tok-0123456789abcdef"]
            })
        })
        .then_output(|| {
            DescribeInstancesOutput::builder()
                .reservations(Reservation::builder().instances(running("i-1")).build())
                .build()
        });
    let c = cloud(&[&run, &describe]);
    let r = req(
        "aws.instance",
        "m/vm",
        json!({"image": "ami-1", "instance_type": "t3.micro",
               "subnet": {"$ref": "m/subnet", "id": "subnet-1"}}),
    );
    let a = c.create(&r).await.unwrap();
    let b = c.create(&r).await.unwrap();
    assert_eq!(a.id, b.id);
    assert_eq!(run.num_calls(), 1, "the retry launched a second instance");
    // And a new process adopts it by token.
    let fresh = cloud(&[&describe]);
    let found = fresh
        .find(&FindRequest {
            system: "sys".into(),
            key: "m/vm".into(),
            kind: "aws.instance".into(),
            token: r.token.clone(),
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, "i-1");
    assert_eq!(found.outputs["private_ip"], "10.0.1.7");
}

fn meta(code: &str) -> ErrorMetadata {
    ErrorMetadata::builder()
        .code(code)
        .message("mocked")
        .build()
}

macro_rules! err {
    ($t:ty, $code:expr) => {{
        let code: String = $code.to_string();
        move || <$t>::generic(meta(&code))
    }};
}

#[tokio::test]
async fn sdk_errors_map_to_neutral_kinds() {
    for (code, kind) in [
        ("RequestLimitExceeded", ErrorKind::Throttled),
        ("VpcLimitExceeded", ErrorKind::QuotaExceeded),
        ("UnauthorizedOperation", ErrorKind::Unauthorized),
        ("InvalidParameterValue", ErrorKind::InvalidSpec),
        ("InternalError", ErrorKind::Transient),
    ] {
        let rule = mock!(Client::create_vpc).then_error(err!(CreateVpcError, code));
        let c = AwsCloud::builder()
            .region("us-east-1")
            .static_credentials("a", hoist_core::Secret::new("b"))
            .max_attempts(1)
            .build();
        lock(&c.inner.clients).insert("us-east-1".into(), client(&[&rule]));
        let e = c
            .create(&req("aws.vpc", "m/vpc", json!({"cidr": "10.0.0.0/16"})))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), kind, "{code}: {e}");
        assert_eq!(e.code(), Some(code));
    }
}

#[tokio::test]
async fn not_found_right_after_a_create_is_retried() {
    let create = mock!(Client::create_internet_gateway).then_output(|| {
        CreateInternetGatewayOutput::builder()
            .internet_gateway(
                InternetGateway::builder()
                    .internet_gateway_id("igw-1")
                    .build(),
            )
            .build()
    });
    let attach = mock!(Client::attach_internet_gateway)
        .sequence()
        .error(err!(
            AttachInternetGatewayError,
            "InvalidInternetGatewayID.NotFound"
        ))
        .times(2)
        .output(|| AttachInternetGatewayOutput::builder().build())
        .build();
    let c = cloud(&[&create, &attach]);
    let created = c
        .create(&req(
            "aws.internet_gateway",
            "m/igw",
            json!({"vpc": {"$ref": "m/vpc", "id": "vpc-1"}}),
        ))
        .await
        .unwrap();
    assert_eq!(created.id, "igw-1");
    assert_eq!(attach.num_calls(), 3);
}

#[tokio::test]
async fn dependency_violations_during_teardown_are_retried_and_not_found_is_done() {
    let del = mock!(Client::delete_subnet)
        .sequence()
        .error(err!(DeleteSubnetError, "DependencyViolation"))
        .times(2)
        .output(|| DeleteSubnetOutput::builder().build())
        .build();
    let c = cloud(&[&del]);
    let d = DeleteRequest {
        system: "sys".into(),
        key: "m/subnet".into(),
        kind: "aws.subnet".into(),
        id: "subnet-1".into(),
        outputs: BTreeMap::new(),
    };
    c.delete(&d).await.unwrap();
    assert_eq!(del.num_calls(), 3);

    let gone = mock!(Client::delete_subnet)
        .then_error(err!(DeleteSubnetError, "InvalidSubnetID.NotFound"));
    let c = cloud(&[&gone]);
    c.delete(&d).await.unwrap();

    let stuck =
        mock!(Client::delete_subnet).then_error(err!(DeleteSubnetError, "DependencyViolation"));
    let c = cloud(&[&stuck]);
    let e = c.delete(&d).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DependencyViolation);
    assert!(
        stuck.num_calls() >= 2 && stuck.num_calls() <= 10,
        "{}",
        stuck.num_calls()
    );
}
