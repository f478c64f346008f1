//! The fault proxy between the SDK and moto: 5xx and throttling are retried by the SDK, the
//! shared rate limiter keeps every worker under the limit, latency is added per call.

use std::time::{Duration, Instant};

use hoist_aws::testing::FaultProxy;
use hoist_provider::Provisioner;
use serde_json::json;

use crate::support;

#[tokio::test]
async fn server_errors_and_throttling_are_retried_by_the_sdk() {
    let test = "server_errors_and_throttling_are_retried_by_the_sdk";
    let Some(url) = support::moto(test) else {
        return;
    };
    let proxy = FaultProxy::start(&url).await.unwrap();
    let cloud = support::builder(test, &proxy.url()).build();
    proxy.faults().fail_next(2);
    let vpc = cloud
        .create(&support::req(
            "f5xx",
            "m/vpc",
            "aws.vpc",
            json!({"cidr": "10.70.0.0/16"}),
        ))
        .await
        .unwrap();
    assert!(vpc.id.starts_with("vpc-"));
    proxy.faults().throttle_next(3);
    let sn = cloud
        .create(&support::req(
            "f5xx",
            "m/subnet",
            "aws.subnet",
            json!({"vpc": support::rf("m/vpc", &vpc.id), "cidr": "10.70.1.0/24"}),
        ))
        .await
        .unwrap();
    assert!(sn.id.starts_with("subnet-"));
    let st = proxy.stats();
    assert_eq!((st.failed, st.throttled), (2, 3), "{st:?}");
    // Our own count is of logical calls: the SDK's retries are not calls of ours.
    assert_eq!(cloud.calls()["CreateVpc"], 1);
    assert_eq!(cloud.calls()["CreateSubnet"], 1);
    assert_eq!(st.actions["CreateVpc"], 3);
    assert_eq!(st.actions["CreateSubnet"], 4);

    // More failures than the SDK's attempts: a transient error, reported as such.
    let stubborn = support::builder(test, &proxy.url()).max_attempts(2).build();
    proxy.faults().fail_next(5);
    let e = stubborn
        .create(&support::req(
            "f5xx",
            "m/vpc2",
            "aws.vpc",
            json!({"cidr": "10.71.0.0/16"}),
        ))
        .await
        .unwrap_err();
    assert!(e.is_retryable(), "{e}");
    proxy.faults().fail_next(0);
    cloud.sweep("f5xx").await.unwrap();
    assert!(cloud.inventory("f5xx").await.unwrap().is_empty());
}

#[tokio::test]
async fn one_rate_limiter_is_shared_by_every_worker() {
    let test = "one_rate_limiter_is_shared_by_every_worker";
    let Some(url) = support::moto(test) else {
        return;
    };
    let proxy = FaultProxy::start(&url).await.unwrap();
    // The "cloud" throttles above 16 requests per second; the limiter allows 8 per second with
    // bursts of 4 (at most 12 in any second, so 16 leaves room for scheduling jitter), while
    // the 20 creates below, unlimited, would all arrive at once.
    proxy.faults().throttle_above(16);
    let cloud = support::builder(test, &proxy.url())
        .rate_limit(8.0, 4)
        .build();
    // Warm up (the first EC2 call of an account is slow in moto).
    cloud
        .create(&support::req(
            "rate",
            "m/warm",
            "aws.vpc",
            json!({"cidr": "10.80.0.0/16"}),
        ))
        .await
        .unwrap();
    proxy.reset_stats();
    let t0 = Instant::now();
    let mut js = tokio::task::JoinSet::new();
    for i in 0..20 {
        let c = cloud.clone();
        js.spawn(async move {
            c.create(&support::req(
                "rate",
                &format!("m/vpc{i}"),
                "aws.vpc",
                json!({"cidr": format!("10.{}.0.0/16", 100 + i)}),
            ))
            .await
        });
    }
    while let Some(r) = js.join_next().await {
        r.unwrap().unwrap();
    }
    let took = t0.elapsed();
    let st = proxy.stats();
    assert_eq!(
        st.throttled, 0,
        "the shared limiter let a burst through: {st:?}"
    );
    // 4 at once, then 16 at 8/s: about 2 s at least.
    assert!(took >= Duration::from_millis(1800), "{took:?}");
    cloud.sweep("rate").await.unwrap();
}

#[tokio::test]
async fn latency_is_added_per_call() {
    let test = "latency_is_added_per_call";
    let Some(url) = support::moto(test) else {
        return;
    };
    let proxy = FaultProxy::start(&url).await.unwrap();
    let cloud = support::builder(test, &proxy.url()).build();
    cloud
        .create(&support::req(
            "lat",
            "m/warm",
            "aws.vpc",
            json!({"cidr": "10.90.0.0/16"}),
        ))
        .await
        .unwrap();
    proxy.faults().set_latency(Duration::from_millis(200));
    let t0 = Instant::now();
    let v = cloud
        .create(&support::req(
            "lat",
            "m/vpc",
            "aws.vpc",
            json!({"cidr": "10.91.0.0/16"}),
        ))
        .await
        .unwrap();
    assert!(t0.elapsed() >= Duration::from_millis(200));
    assert!(v.id.starts_with("vpc-"));
    proxy.faults().set_latency(Duration::ZERO);
    cloud.sweep("lat").await.unwrap();
}
