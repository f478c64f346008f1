//! Reading objects back by id (`Provisioner::read`): one `Describe…` call per object, in the
//! region its outputs record, and nothing else. Unlike `find`, a read never finishes a
//! half-made object: it only says what is there.
//!
//! An object EC2 no longer knows (a `….NotFound` code, or an empty answer) is `None`; so is
//! an instance that is shutting down or terminated, and a route its table no longer has.
//! The outputs are the recorded ones with what the describe observed laid over them (a core
//! network's gateway and route table, for instance, stay as recorded).

use aws_sdk_ec2::Client;
use hoist_provider::{Created, ErrorKind, OutputMap, ProvisionError, ReadRequest};
use serde_json::json;

use super::{Observed, instance_outputs, nic_created, outputs, region_from, s, subnet_outputs};
use crate::cloud::Inner;

/// Reads the object of `req` back.
pub(crate) async fn read(c: &Inner, req: &ReadRequest) -> Result<Option<Created>, ProvisionError> {
    let region = region_from(c, &req.outputs).await?;
    let client = c.client(&region).await;
    let seen = match observe(c, &client, req).await {
        Ok(seen) => seen,
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    Ok(seen.map(|mut fresh| {
        let mut outputs = req.outputs.clone();
        outputs.append(&mut fresh);
        outputs.insert("region".into(), json!(region));
        Created {
            id: req.id.clone(),
            outputs,
        }
    }))
}

/// The outputs the describe of `req`'s object observed, `None` if it is gone.
async fn observe(
    c: &Inner,
    client: &Client,
    req: &ReadRequest,
) -> Result<Option<OutputMap>, ProvisionError> {
    let id = req.id.as_str();
    let found = match req.kind.as_str() {
        "aws.vpc" | "core.network" => c
            .call("DescribeVpcs", client.describe_vpcs().vpc_ids(id).send())
            .await?
            .vpcs()
            .first()
            .map(|v| outputs([("id", s(Some(id))), ("cidr", s(v.cidr_block()))])),
        "aws.subnet" | "core.subnet" => c
            .call(
                "DescribeSubnets",
                client.describe_subnets().subnet_ids(id).send(),
            )
            .await?
            .subnets()
            .first()
            .map(|sn| subnet_outputs(sn, "")),
        "aws.internet_gateway" => c
            .call(
                "DescribeInternetGateways",
                client
                    .describe_internet_gateways()
                    .internet_gateway_ids(id)
                    .send(),
            )
            .await?
            .internet_gateways()
            .first()
            .map(|g| {
                let vpc = g.attachments().first().and_then(|a| a.vpc_id());
                outputs([("id", s(Some(id))), ("vpc_id", s(vpc))])
            }),
        "aws.route_table" => c
            .call(
                "DescribeRouteTables",
                client.describe_route_tables().route_table_ids(id).send(),
            )
            .await?
            .route_tables()
            .first()
            .map(|t| {
                let assocs: Vec<&str> = t
                    .associations()
                    .iter()
                    .filter_map(|a| a.route_table_association_id())
                    .collect();
                outputs([
                    ("id", s(Some(id))),
                    ("vpc_id", s(t.vpc_id())),
                    ("association_ids", Some(json!(assocs))),
                ])
            }),
        "aws.route" => read_route(c, client, id).await?,
        "aws.security_group" | "core.security_group" => c
            .call(
                "DescribeSecurityGroups",
                client.describe_security_groups().group_ids(id).send(),
            )
            .await?
            .security_groups()
            .first()
            .map(|g| {
                outputs([
                    ("id", s(Some(id))),
                    ("name", s(g.group_name())),
                    ("vpc_id", s(g.vpc_id())),
                ])
            }),
        "aws.security_group_rule" => c
            .call(
                "DescribeSecurityGroupRules",
                client
                    .describe_security_group_rules()
                    .security_group_rule_ids(id)
                    .send(),
            )
            .await?
            .security_group_rules()
            .first()
            .map(|r| {
                let direction = if r.is_egress() == Some(true) {
                    "egress"
                } else {
                    "ingress"
                };
                outputs([
                    ("id", s(Some(id))),
                    ("security_group_id", s(r.group_id())),
                    ("direction", s(Some(direction))),
                ])
            }),
        "aws.key_pair" => c
            .call(
                "DescribeKeyPairs",
                client.describe_key_pairs().key_names(id).send(),
            )
            .await?
            .key_pairs()
            .first()
            .map(|k| {
                outputs([
                    ("id", s(Some(id))),
                    ("key_name", s(k.key_name())),
                    ("key_pair_id", s(k.key_pair_id())),
                    ("fingerprint", s(k.key_fingerprint())),
                ])
            }),
        "aws.network_interface" => c
            .call(
                "DescribeNetworkInterfaces",
                client
                    .describe_network_interfaces()
                    .network_interface_ids(id)
                    .send(),
            )
            .await?
            .network_interfaces()
            .first()
            .map(|n| nic_created(n, ""))
            .transpose()?
            .map(|created| created.outputs),
        "aws.instance" | "core.server" => c
            .call(
                "DescribeInstances",
                client.describe_instances().instance_ids(id).send(),
            )
            .await?
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .map(Observed::from_instance)
            .find(|o| !matches!(o.state.as_str(), "shutting-down" | "terminated"))
            .map(|o| instance_outputs(id, &o, "")),
        "aws.elastic_ip" | "core.public_ip" => c
            .call(
                "DescribeAddresses",
                client.describe_addresses().allocation_ids(id).send(),
            )
            .await?
            .addresses()
            .first()
            .map(|a| {
                outputs([
                    ("id", s(Some(id))),
                    ("ip", s(a.public_ip())),
                    ("association_id", s(a.association_id())),
                ])
            }),
        other => {
            return Err(ProvisionError::new(
                ErrorKind::InvalidSpec,
                format!("the AWS proxy does not provision {other:?}"),
            )
            .with_code("UnsupportedKind"));
        }
    };
    // The region is the one read from (`read` sets it); the helpers above leave it empty.
    Ok(found.map(|mut o| {
        o.remove("region");
        o
    }))
}

/// A route (id `rtb-…|destination`) exists while its table has a route to its destination.
async fn read_route(
    c: &Inner,
    client: &Client,
    id: &str,
) -> Result<Option<OutputMap>, ProvisionError> {
    let Some((table, dest)) = id.split_once('|') else {
        return Ok(None);
    };
    let tables = c
        .call(
            "DescribeRouteTables",
            client.describe_route_tables().route_table_ids(table).send(),
        )
        .await?;
    let present = tables
        .route_tables()
        .iter()
        .flat_map(|t| t.routes())
        .any(|r| r.destination_cidr_block() == Some(dest));
    Ok(present.then(|| {
        outputs([
            ("id", s(Some(id))),
            ("route_table_id", s(Some(table))),
            ("destination", s(Some(dest))),
        ])
    }))
}
