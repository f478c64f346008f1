//! AWS provisioning at scale: N instances, each on its own network interface and with its own
//! Elastic IP, in one VPC, provisioned and torn down against moto behind the fault proxy,
//! which adds a fixed latency to every EC2 call.
//!
//! The graph is five levels deep: VPC → subnet and security group → interface → instance →
//! Elastic IP (associated with the instance). The critical-path bound is the number of
//! sequential EC2 calls along the deepest path times the per-call latency, at the chosen
//! orchestrator concurrency C: the VPC and the subnet (1 call each), then `ceil(N / C)` rounds
//! of one node's chain of 5 calls:
//!
//! - initiate: CreateNetworkInterface, RunInstances + DescribeInstances (the shared poller),
//!   AllocateAddress + AssociateAddress;
//! - teardown: DisassociateAddress + ReleaseAddress, TerminateInstances + DescribeInstances,
//!   DeleteNetworkInterface; then DeleteSubnet and DeleteVpc.
//!
//! The per-call latency in the bound is measured, not assumed: the mean time of one EC2 call
//! end to end (the added latency, plus the emulator's service time and the client's own),
//! taken from a small copy of the model provisioned and torn down one call at a time just
//! before the run. The bound against the added latency alone is printed for information.
//!
//! The default concurrency (10) keeps moto below saturation: moto serves about 80 EC2 calls
//! per second on this 2-core machine (measured with no added latency), so 10 calls in flight
//! every 200 ms (50/s) leave it headroom, while 100 in flight would measure moto, not hoist.
//!
//! Prints a Markdown table (what `bench/run-aws-scale.sh` puts into BENCHMARKS.md) and exits
//! non-zero if a bar is missed. Needs `HOIST_TEST_MOTO_URL` (the script starts moto).
//!
//! ```sh
//! cargo run -p hoist-bench-aws -- [--instances N] [--latency-ms MS] [--concurrency C]
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hoist::aws::testing::{FaultProxy, loopback_addr, moto_reset};
use hoist::aws::{self, AwsCloud};
use hoist::{Model, Multi, Orchestration, Secret};

/// One node: an interface, an instance on it, an address for the instance.
#[derive(Model, Clone)]
struct Node {
    nic: aws::NetworkInterface,
    vm: aws::Instance,
    ip: aws::ElasticIp,
}

#[derive(Model)]
struct Scale {
    vpc: aws::Vpc,
    subnet: aws::Subnet,
    sg: aws::SecurityGroup,
    node: Multi<Node>,
}

fn model(n: usize) -> Scale {
    let r = Scale::refs();
    let s = Node::siblings();
    let node = Node {
        nic: aws::NetworkInterface::new(r.subnet.clone()).with_security_group(r.sg.clone()),
        vm: aws::Instance::on_interfaces("ami-12c6146b", "t3.micro", [s.nic.clone()]),
        ip: aws::ElasticIp::for_instance(s.vm.clone()),
    };
    Scale {
        vpc: aws::Vpc::new("10.0.0.0/16"),
        subnet: aws::Subnet::new(r.vpc.clone(), "10.0.0.0/20"),
        sg: aws::SecurityGroup::new("bench", r.vpc.clone()),
        node: Multi::new(node).keys(0..n),
    }
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Calls per resource kind, from the proxy's per-operation counts.
fn per_kind(calls: &BTreeMap<String, u64>, ops: &[&str]) -> u64 {
    ops.iter()
        .map(|o| calls.get(*o).copied().unwrap_or(0))
        .sum()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n = arg("--instances", 100);
    let latency = Duration::from_millis(arg("--latency-ms", 200) as u64);
    let concurrency = arg("--concurrency", 10).max(1);
    let url = std::env::var("HOIST_TEST_MOTO_URL")
        .map_err(|_| "set HOIST_TEST_MOTO_URL (bench/run-aws-scale.sh starts moto)")?;
    loopback_addr(&url)?;
    moto_reset(&url).await?;
    let proxy = FaultProxy::start(&url).await?;
    let cloud = AwsCloud::builder()
        .region("us-east-1")
        .endpoint(proxy.url())
        .static_credentials("testing", Secret::new("testing"))
        .rate_limit(5000.0, 5000)
        .poll_interval(latency)
        .build();
    // Warm up without latency: moto's first EC2 call takes about a second.
    cloud.inventory("warm-up").await?;
    proxy.faults().set_latency(latency);

    // The per-call latency the bound is made of: the mean time of one EC2 call, end to end as
    // the provider sees it (the added latency, the emulator's service time, the client), when
    // calls do not queue: a small copy of the model provisioned and torn down one call at a
    // time.
    let (cal_up, cal_down) = {
        let orch = Orchestration::builder("bench-calibrate")
            .state_in_memory()
            .infra("scale", model(3))
            .provisioner(Arc::new(cloud.clone()))
            .concurrency(1)
            .build()?;
        cloud.reset_calls();
        let r = orch.initiate_system().await?;
        let up = cloud.mean_call_time().unwrap_or(latency);
        cloud.reset_calls();
        let d = orch.teardown_system().await?;
        let down = cloud.mean_call_time().unwrap_or(latency);
        if !r.success || !d.success {
            return Err(format!("calibration failed:\n{r}\n{d}").into());
        }
        (up, down)
    };
    proxy.reset_stats();
    cloud.reset_calls();

    let orch = Orchestration::builder("bench")
        .state_in_memory()
        .infra("scale", model(n))
        .provisioner(Arc::new(cloud.clone()))
        .concurrency(concurrency)
        .build()?;
    let plan = orch.plan()?;
    let resources = plan.resources.len();

    // The critical-path bound at this concurrency: the VPC, then the subnet (the security group
    // in parallel), then `ceil(n / concurrency)` rounds of one node's chain of 5 sequential
    // calls (interface 1, instance 2, address 2); teardown is the mirror image.
    let rounds = u32::try_from(n.div_ceil(concurrency)).unwrap_or(u32::MAX);
    let up_calls = 2 + 5 * rounds;
    let down_calls = 5 * rounds + 2;
    let up_bound = latency * up_calls;
    let down_bound = latency * down_calls;

    let t0 = Instant::now();
    let report = orch.initiate_system().await?;
    let up = t0.elapsed();
    if !report.success {
        return Err(format!("initiate failed:\n{report}").into());
    }
    let up_calls_by_op = cloud.calls();
    let up_mean = cloud.mean_call_time().unwrap_or_default();
    let up_requests = proxy.stats().requests;
    cloud.reset_calls();
    proxy.reset_stats();

    let t1 = Instant::now();
    let down = orch.teardown_system().await?;
    let down_time = t1.elapsed();
    if !down.success {
        return Err(format!("teardown failed:\n{down}").into());
    }
    let down_calls_by_op = cloud.calls();
    let down_mean = cloud.mean_call_time().unwrap_or_default();
    let down_requests = proxy.stats().requests;
    proxy.faults().set_latency(Duration::ZERO);
    let left = cloud.inventory("bench").await?.len();

    let cal_up_bound = cal_up * up_calls;
    let cal_down_bound = cal_down * down_calls;
    let ratio_up = up.as_secs_f64() / cal_up_bound.as_secs_f64();
    let ratio_down = down_time.as_secs_f64() / cal_down_bound.as_secs_f64();
    let ok = |r: f64| if r <= 1.15 { "ok" } else { "**missed**" };
    println!(
        "Model: {n} instances, each with a network interface and an Elastic IP, in one VPC \
         ({resources} resources); {} ms added to every call by the fault proxy; orchestrator \
         concurrency {concurrency}.",
        latency.as_millis()
    );
    println!();
    println!("| measure | value | bound | ratio | bar |");
    println!("|---|---|---|---|---|");
    println!(
        "| initiate makespan | {:.2} s | {:.2} s ({up_calls} sequential calls × {:.0} ms) | {ratio_up:.3} | ≤ 1.15: {} |",
        up.as_secs_f64(),
        cal_up_bound.as_secs_f64(),
        cal_up.as_secs_f64() * 1000.0,
        ok(ratio_up)
    );
    println!(
        "| teardown makespan | {:.2} s | {:.2} s ({down_calls} sequential calls × {:.0} ms) | {ratio_down:.3} | ≤ 1.15: {} |",
        down_time.as_secs_f64(),
        cal_down_bound.as_secs_f64(),
        cal_down.as_secs_f64() * 1000.0,
        ok(ratio_down)
    );
    println!(
        "| initiate, against the added latency alone | {:.2} s | {:.2} s ({up_calls} × {} ms) | {:.3} | (for information) |",
        up.as_secs_f64(),
        up_bound.as_secs_f64(),
        latency.as_millis(),
        up.as_secs_f64() / up_bound.as_secs_f64()
    );
    println!(
        "| teardown, against the added latency alone | {:.2} s | {:.2} s ({down_calls} × {} ms) | {:.3} | (for information) |",
        down_time.as_secs_f64(),
        down_bound.as_secs_f64(),
        latency.as_millis(),
        down_time.as_secs_f64() / down_bound.as_secs_f64()
    );
    let m_up = up_mean * up_calls;
    let m_down = down_mean * down_calls;
    println!(
        "| initiate, against this run's mean call time | {:.2} s | {:.2} s ({up_calls} × {:.0} ms) | {:.3} | (diagnosis) |",
        up.as_secs_f64(),
        m_up.as_secs_f64(),
        up_mean.as_secs_f64() * 1000.0,
        up.as_secs_f64() / m_up.as_secs_f64()
    );
    println!(
        "| teardown, against this run's mean call time | {:.2} s | {:.2} s ({down_calls} × {:.0} ms) | {:.3} | (diagnosis) |",
        down_time.as_secs_f64(),
        m_down.as_secs_f64(),
        down_mean.as_secs_f64() * 1000.0,
        down_time.as_secs_f64() / m_down.as_secs_f64()
    );
    println!(
        "| objects left after teardown | {left} | 0 | | {} |",
        if left == 0 { "ok" } else { "**missed**" }
    );
    println!();
    let kinds: &[(&str, u64, &[&str])] = &[
        ("VPC", 1, &["CreateVpc", "DeleteVpc"]),
        ("subnet", 1, &["CreateSubnet", "DeleteSubnet"]),
        (
            "security group",
            1,
            &["CreateSecurityGroup", "DeleteSecurityGroup"],
        ),
        (
            "network interface",
            n as u64,
            &["CreateNetworkInterface", "DeleteNetworkInterface"],
        ),
        (
            "instance",
            n as u64,
            &["RunInstances", "DescribeInstances", "TerminateInstances"],
        ),
        (
            "Elastic IP",
            n as u64,
            &[
                "AllocateAddress",
                "AssociateAddress",
                "DisassociateAddress",
                "ReleaseAddress",
            ],
        ),
    ];
    println!("EC2 calls per resource (logical calls; the SDK's retries are not counted):");
    println!();
    println!("| kind | count | initiate calls | per resource | teardown calls | per resource |");
    println!("|---|---|---|---|---|---|");
    for (kind, count, ops) in kinds {
        let u = per_kind(&up_calls_by_op, ops);
        let d = per_kind(&down_calls_by_op, ops);
        let c = *count as f64;
        println!(
            "| {kind} | {count} | {u} | {:.2} | {d} | {:.2} |",
            u as f64 / c,
            d as f64 / c
        );
    }
    let total_up: u64 = up_calls_by_op.values().sum();
    let total_down: u64 = down_calls_by_op.values().sum();
    println!(
        "| all | {resources} | {total_up} | {:.2} | {total_down} | {:.2} |",
        total_up as f64 / resources as f64,
        total_down as f64 / resources as f64
    );
    println!();
    println!(
        "Mean time of one EC2 call as the provider saw it: {:.0} ms (initiate), {:.0} ms \
         (teardown) in this run; {:.0} ms and {:.0} ms one call at a time (the calibration); \
         {} ms of each is the added latency.",
        up_mean.as_secs_f64() * 1000.0,
        down_mean.as_secs_f64() * 1000.0,
        cal_up.as_secs_f64() * 1000.0,
        cal_down.as_secs_f64() * 1000.0,
        latency.as_millis()
    );
    println!();
    println!(
        "`DescribeInstances` calls: {} while launching {n} instances, {} while waiting for them to \
         terminate (one shared poller per region). HTTP requests seen by the proxy: {up_requests} \
         (initiate), {down_requests} (teardown).",
        up_calls_by_op
            .get("DescribeInstances")
            .copied()
            .unwrap_or(0),
        down_calls_by_op
            .get("DescribeInstances")
            .copied()
            .unwrap_or(0),
    );
    if ratio_up > 1.15 || ratio_down > 1.15 || left != 0 {
        std::process::exit(1);
    }
    Ok(())
}
