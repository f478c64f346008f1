//! Listing and sweeping what a system left behind, by tag.
//!
//! Teardown normally works from the recorded state alone; [`AwsCloud::sweep`] is the safety
//! net for what state never recorded (a create whose response was lost and whose resource was
//! then dropped from the model, a manual experiment): it deletes every object tagged
//! `hoist:system = SYSTEM`, dependents first.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::Filter;
use hoist_provider::{DeleteRequest, OutputMap, ProvisionError};
use serde_json::json;

use crate::AwsCloud;
use crate::cloud::Inner;
use crate::ops::TAG_SYSTEM;

/// One object found by [`AwsCloud::inventory`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct AwsObject {
    /// The region it lives in.
    pub region: String,
    /// The kind it is deleted as (`aws.instance`, `aws.vpc`, …).
    pub kind: &'static str,
    /// Its id (a key pair's is its name).
    pub id: String,
    /// The `hoist:resource` tag: the resource key it was created for.
    pub resource: Option<String>,
    /// Extra facts needed to delete it (a gateway's VPC, an address's association).
    extra: Vec<(&'static str, String)>,
}

fn sys_filter(system: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{TAG_SYSTEM}"))
        .values(system)
        .build()
}

fn res_tag(tags: &[aws_sdk_ec2::types::Tag]) -> Option<String> {
    tags.iter()
        .find(|t| t.key() == Some(crate::ops::TAG_RESOURCE))
        .and_then(|t| t.value())
        .map(str::to_string)
}

async fn list_region(
    c: &Inner,
    client: &Client,
    region: &str,
    system: &str,
) -> Result<Vec<AwsObject>, ProvisionError> {
    let mut v = Vec::new();
    let obj = |kind, id: Option<&str>, tags: &[aws_sdk_ec2::types::Tag]| AwsObject {
        region: region.to_string(),
        kind,
        id: id.unwrap_or_default().to_string(),
        resource: res_tag(tags),
        extra: Vec::new(),
    };
    let out = c
        .call(
            "DescribeInstances",
            client
                .describe_instances()
                .filters(sys_filter(system))
                .filters(
                    Filter::builder()
                        .name("instance-state-name")
                        .values("pending")
                        .values("running")
                        .values("stopping")
                        .values("stopped")
                        .values("shutting-down")
                        .build(),
                )
                .send(),
        )
        .await?;
    for i in out.reservations().iter().flat_map(|r| r.instances()) {
        v.push(obj("aws.instance", i.instance_id(), i.tags()));
    }
    let out = c
        .call(
            "DescribeAddresses",
            client
                .describe_addresses()
                .filters(sys_filter(system))
                .send(),
        )
        .await?;
    for a in out.addresses() {
        let mut o = obj("aws.elastic_ip", a.allocation_id(), a.tags());
        if let Some(x) = a.association_id() {
            o.extra.push(("association_id", x.to_string()));
        }
        v.push(o);
    }
    let out = c
        .call(
            "DescribeNetworkInterfaces",
            client
                .describe_network_interfaces()
                .filters(sys_filter(system))
                .send(),
        )
        .await?;
    for n in out.network_interfaces() {
        v.push(obj(
            "aws.network_interface",
            n.network_interface_id(),
            n.tag_set(),
        ));
    }
    let out = c
        .call(
            "DescribeRouteTables",
            client
                .describe_route_tables()
                .filters(sys_filter(system))
                .send(),
        )
        .await?;
    for t in out.route_tables() {
        v.push(obj("aws.route_table", t.route_table_id(), t.tags()));
    }
    let out = c
        .call(
            "DescribeInternetGateways",
            client
                .describe_internet_gateways()
                .filters(sys_filter(system))
                .send(),
        )
        .await?;
    for g in out.internet_gateways() {
        let mut o = obj("aws.internet_gateway", g.internet_gateway_id(), g.tags());
        if let Some(vpc) = g.attachments().first().and_then(|a| a.vpc_id()) {
            o.extra.push(("vpc_id", vpc.to_string()));
        }
        v.push(o);
    }
    let out = c
        .call(
            "DescribeSecurityGroups",
            client
                .describe_security_groups()
                .filters(sys_filter(system))
                .send(),
        )
        .await?;
    for g in out.security_groups() {
        v.push(obj("aws.security_group", g.group_id(), g.tags()));
    }
    let out = c
        .call(
            "DescribeSubnets",
            client.describe_subnets().filters(sys_filter(system)).send(),
        )
        .await?;
    for s in out.subnets() {
        v.push(obj("aws.subnet", s.subnet_id(), s.tags()));
    }
    let out = c
        .call(
            "DescribeKeyPairs",
            client
                .describe_key_pairs()
                .filters(sys_filter(system))
                .send(),
        )
        .await?;
    for k in out.key_pairs() {
        v.push(obj("aws.key_pair", k.key_name(), k.tags()));
    }
    let out = c
        .call(
            "DescribeVpcs",
            client.describe_vpcs().filters(sys_filter(system)).send(),
        )
        .await?;
    for x in out.vpcs() {
        v.push(obj("aws.vpc", x.vpc_id(), x.tags()));
    }
    Ok(v)
}

/// Deletion order: dependents first.
const ORDER: &[&str] = &[
    "aws.instance",
    "aws.elastic_ip",
    "aws.network_interface",
    "aws.route_table",
    "aws.internet_gateway",
    "aws.security_group",
    "aws.subnet",
    "aws.key_pair",
    "aws.vpc",
];

impl AwsCloud {
    /// Every object tagged with `system` (terminated instances excluded), in the default
    /// region, the extra regions and every region this proxy used, in deletion order
    /// (dependents first).
    pub async fn inventory(&self, system: &str) -> Result<Vec<AwsObject>, ProvisionError> {
        let c = &self.inner;
        let mut all = Vec::new();
        for region in c.search_regions().await? {
            let client = c.client(&region).await;
            all.extend(list_region(c, &client, &region, system).await?);
        }
        all.sort_by_key(|o| ORDER.iter().position(|k| *k == o.kind));
        Ok(all)
    }

    /// Deletes every object tagged with `system`, dependents first (instances are waited for
    /// until terminated). Returns what it deleted. Idempotent: objects already gone are
    /// skipped.
    pub async fn sweep(&self, system: &str) -> Result<Vec<AwsObject>, ProvisionError> {
        let objects = self.inventory(system).await?;
        let mut done = Vec::new();
        for kind in ORDER {
            let batch: Vec<&AwsObject> = objects.iter().filter(|o| o.kind == *kind).collect();
            let mut js = tokio::task::JoinSet::new();
            for o in batch {
                let me = self.clone();
                let o = o.clone();
                js.spawn(async move {
                    let mut outputs: OutputMap = [("region".to_string(), json!(o.region))].into();
                    for (k, v) in &o.extra {
                        outputs.insert((*k).to_string(), json!(v));
                    }
                    let req = DeleteRequest {
                        system: String::new(),
                        key: o.resource.clone().unwrap_or_default(),
                        kind: o.kind.to_string(),
                        id: o.id.clone(),
                        outputs,
                    };
                    crate::ops::delete(&me.inner, &req).await.map(|_| o)
                });
            }
            while let Some(r) = js.join_next().await {
                let o = r.map_err(|e| {
                    ProvisionError::new(hoist_provider::ErrorKind::Other, e.to_string())
                })??;
                tracing::info!(kind = o.kind, id = %o.id, "swept");
                done.push(o);
            }
        }
        Ok(done)
    }
}
