//! What the proxy does for each kind: create, find (by the `hoist:token` tag), update, read
//! (`read.rs`) and delete.
//!
//! Every create tags the object at creation (`TagSpecifications`, so there is no moment when
//! an object exists untagged) with the system, the resource key, the token and a `Name`.
//! Objects made of several steps (a gateway and its attachment, an address and its
//! association, …) record the follow-up step's target in a tag too, so that
//! [`find`](hoist_provider::Provisioner::find) can finish an object an interrupted run left
//! half-made, and a create whose follow-up step fails removes what it made before returning
//! the error (so the orchestrator's retry starts clean).

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::primitives::Blob;
use aws_sdk_ec2::types::{
    DomainType, Filter, InstanceNetworkInterfaceSpecification, InstanceType, IpPermission, IpRange,
    KeyType, ResourceType, Tag, TagSpecification, Tenancy, UserIdGroupPair,
};
use hoist_core::resource::{Direction, Protocol};
use hoist_core::{Ref, Rule, Secret, Val};
use hoist_provider::{
    CreateRequest, Created, DeleteRequest, Deleted, ErrorKind, FindRequest, OutputMap,
    ProvisionError, UpdateRequest,
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::cloud::{Inner, lock};
use crate::poller::{Observed, Want};
use crate::resources as r;

mod read;
pub(crate) use read::read;

/// Tag holding the system name.
pub const TAG_SYSTEM: &str = "hoist:system";
/// Tag holding the resource key (`<model>/<path>`).
pub const TAG_RESOURCE: &str = "hoist:resource";
/// Tag holding the idempotency token.
pub const TAG_TOKEN: &str = "hoist:token";
/// Tag holding the target of a follow-up step (attach, associate).
const TAG_TARGET: &str = "hoist:target";
/// Tags holding a core security group's rules (`hoist:rules:0`, `hoist:rules:1`, …).
const TAG_RULES: &str = "hoist:rules";

fn invalid(msg: impl Into<String>) -> ProvisionError {
    ProvisionError::new(ErrorKind::InvalidSpec, msg)
}

fn parse<T: DeserializeOwned>(kind: &str, spec: &Value) -> Result<T, ProvisionError> {
    serde_json::from_value(spec.clone())
        .map_err(|e| invalid(format!("bad {kind} spec: {e}")).with_code("BadSpec"))
}

fn id_of<T: ?Sized>(field: &str, r: &Ref<T>) -> Result<String, ProvisionError> {
    r.resolved_id()
        .map(str::to_string)
        .ok_or_else(|| invalid(format!("{field}: unresolved reference")))
}

fn val(field: &str, v: &Val<String>) -> Result<String, ProvisionError> {
    v.get()
        .cloned()
        .ok_or_else(|| invalid(format!("{field}: unresolved value")))
}

fn opt_val(field: &str, v: Option<&Val<String>>) -> Result<Option<String>, ProvisionError> {
    v.map(|v| val(field, v)).transpose()
}

fn outputs(pairs: impl IntoIterator<Item = (&'static str, Option<Value>)>) -> OutputMap {
    pairs
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
        .collect()
}

fn s(v: Option<&str>) -> Option<Value> {
    v.map(|v| Value::String(v.to_string()))
}

fn out_str(o: &OutputMap, k: &str) -> Option<String> {
    o.get(k).and_then(Value::as_str).map(str::to_string)
}

fn tag_filter(token: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{TAG_TOKEN}"))
        .values(token)
        .build()
}

fn filter(name: &str, value: impl Into<String>) -> Filter {
    Filter::builder().name(name).values(value).build()
}

fn tag_value(tags: &[Tag], key: &str) -> Option<String> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
        .map(str::to_string)
}

/// EC2's `ClientToken`: at most 64 ASCII characters.
fn client_token(token: &str) -> String {
    if token.len() <= 64 && token.is_ascii() {
        token.to_string()
    } else {
        format!("{:016x}", fnv(token.as_bytes()))
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A name EC2 accepts, derived from the system and the resource key.
fn derived_name(system: &str, key: &str) -> String {
    let raw = format!("hoist-{system}-{key}");
    let mut n: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    if n.len() > 200 {
        n.truncate(183);
        n.push_str(&format!("-{:016x}", fnv(raw.as_bytes())));
    }
    n
}

/// The context of one create.
struct Ctx<'a> {
    c: &'a Inner,
    client: Client,
    region: String,
    req: &'a CreateRequest,
}

impl Ctx<'_> {
    fn tags(&self, extra: &[(&str, String)]) -> Vec<Tag> {
        let mut t: BTreeMap<String, String> = self.req.tags.clone();
        for (k, v) in user_tags(&self.req.spec) {
            t.entry(k).or_insert(v);
        }
        t.entry(TAG_SYSTEM.into())
            .or_insert_with(|| self.req.system.clone());
        t.entry(TAG_RESOURCE.into())
            .or_insert_with(|| self.req.key.clone());
        t.insert(TAG_TOKEN.into(), self.req.token.clone());
        let mut name = format!("{}/{}", self.req.system, self.req.key);
        name.truncate(255);
        t.entry("Name".into()).or_insert(name);
        for (k, v) in extra {
            t.insert((*k).to_string(), v.clone());
        }
        t.into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect()
    }

    fn tag_spec(&self, rt: ResourceType, extra: &[(&str, String)]) -> TagSpecification {
        TagSpecification::builder()
            .resource_type(rt)
            .set_tags(Some(self.tags(extra)))
            .build()
    }

    fn region_value(&self) -> Option<Value> {
        Some(Value::String(self.region.clone()))
    }
}

async fn ctx<'a>(
    c: &'a Inner,
    req: &'a CreateRequest,
    region: Option<&str>,
) -> Result<Ctx<'a>, ProvisionError> {
    let region = c.region_of(region).await?;
    let client = c.client(&region).await;
    Ok(Ctx {
        c,
        client,
        region,
        req,
    })
}

/// The region recorded in a resource's outputs (or the default).
async fn region_from(c: &Inner, outs: &OutputMap) -> Result<String, ProvisionError> {
    c.region_of(outs.get("region").and_then(Value::as_str))
        .await
}

// ----------------------------------------------------------------------------------------------
// check

pub(crate) fn check(c: &Inner, kind: &str, spec: &Value) -> Vec<String> {
    let image_ok = |i: &str| i.starts_with("ami-") || c.settings.image_aliases.contains_key(i);
    let type_ok = |t: &str| t.contains('.') || c.settings.size_aliases.contains_key(t);
    let mut v = Vec::new();
    let mut instance = |image: Option<&str>, itype: Option<&str>| {
        if let Some(i) = image
            && !image_ok(i)
        {
            v.push(format!(
                "image: unknown image {i:?}: give an AMI id (`ami-…`) or register an alias \
                 with AwsCloud::builder().image_alias({i:?}, \"ami-…\")"
            ));
        }
        if let Some(t) = itype
            && !type_ok(t)
        {
            v.push(format!(
                "instance type: unknown {t:?}: give an EC2 instance type (`t3.micro`) or \
                 register an alias with AwsCloud::builder().size_alias({t:?}, \"t3.micro\")"
            ));
        }
    };
    let str_of = |k: &str| spec.get(k).and_then(Value::as_str);
    match kind {
        "core.server" => instance(str_of("image"), str_of("size")),
        "aws.instance" => instance(str_of("image"), str_of("instance_type")),
        k if !crate::resources::KINDS.contains(&k) => {
            v.push(format!("the AWS proxy does not provision {k:?}"));
        }
        _ => {}
    }
    v
}

// ----------------------------------------------------------------------------------------------
// update

/// The fields of `kind` that EC2 wants unique together while both objects exist (see
/// [`Provisioner::unique_fields`](hoist_provider::Provisioner::unique_fields)). A core
/// security group's name is derived from its key, so only its network tells two apart.
/// (Overlapping subnet ranges clash too; only equal ones are caught here.)
pub(crate) fn unique_fields(kind: &str, spec: &Value) -> &'static [&'static str] {
    let has = |f: &str| spec.get(f).is_some_and(|v| !v.is_null());
    match kind {
        "aws.security_group" => &["name", "vpc", "region"],
        "core.security_group" => &["network"],
        "aws.security_group_rule" => &[
            "security_group",
            "direction",
            "protocol",
            "from_port",
            "to_port",
            "cidr",
            "peer_group",
        ],
        "aws.key_pair" if spec.get("unique") != Some(&Value::Bool(true)) => &["name", "region"],
        "aws.route" => &["route_table", "destination"],
        "aws.subnet" => &["vpc", "cidr"],
        "core.subnet" => &["network", "cidr"],
        "aws.network_interface" | "aws.instance" if has("private_ip") => &["subnet", "private_ip"],
        _ => &[],
    }
}

/// The fields of `kind` an update changes in place: the user's tags of the core kinds and a
/// core security group's rules. (An instance type or a subnet's range changes by replacement.)
pub(crate) fn updatable(kind: &str) -> &'static [&'static str] {
    match kind {
        "core.security_group" => &["tags", "rules"],
        k if k.starts_with("core.") => &["tags"],
        _ => &[],
    }
}

/// Tags hoist sets itself (`hoist:*`, `Name`): never the user's to set, change or remove.
fn managed_tag(key: &str) -> bool {
    key.starts_with("hoist:") || key == "Name"
}

/// The user's tags of a spec (its `tags` field), without the ones hoist manages.
fn user_tags(spec: &Value) -> BTreeMap<String, String> {
    spec.get("tags")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(k, _)| !managed_tag(k))
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect()
}

/// Changes the fields `req.changed` of an object in place (see [`updatable`]). Every step can
/// be sent again: an update interrupted anywhere converges when it is run again.
pub(crate) async fn update(c: &Inner, req: &UpdateRequest) -> Result<Created, ProvisionError> {
    let allowed = updatable(&req.kind);
    if let Some(f) = req.changed.iter().find(|f| !allowed.contains(&f.as_str())) {
        return Err(ProvisionError::new(
            ErrorKind::InvalidSpec,
            format!(
                "{f}: the AWS proxy changes it by replacement only, on {}",
                req.kind
            ),
        ));
    }
    let region = region_from(c, &req.outputs).await?;
    let client = c.client(&region).await;
    let changed = |field: &str| req.changed.iter().any(|f| f == field);
    if changed("rules") {
        let x: hoist_core::SecurityGroup = parse(&req.kind, &req.spec)?;
        set_core_rules(c, &client, &req.id, &x.rules).await?;
    }
    if changed("tags") {
        set_user_tags(c, &client, &req.id, &user_tags(&req.spec)).await?;
    }
    Ok(Created {
        id: req.id.clone(),
        outputs: req.outputs.clone(),
    })
}

/// Sets the user's tags of an object to `want`: `CreateTags` for the wanted ones, `DeleteTags`
/// for the others it has (never hoist's own).
async fn set_user_tags(
    c: &Inner,
    client: &Client,
    id: &str,
    want: &BTreeMap<String, String>,
) -> Result<(), ProvisionError> {
    let have = c
        .call(
            "DescribeTags",
            client
                .describe_tags()
                .filters(filter("resource-id", id))
                .send(),
        )
        .await?;
    let stale: Vec<Tag> = have
        .tags()
        .iter()
        .filter_map(|t| t.key())
        .filter(|k| !managed_tag(k) && !want.contains_key(*k))
        .map(|k| Tag::builder().key(k).build())
        .collect();
    let tags = want
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    replace_tags(c, client, id, stale, tags).await
}

/// Deletes the tags `stale` of an object, then creates (or overwrites) `tags`.
async fn replace_tags(
    c: &Inner,
    client: &Client,
    id: &str,
    stale: Vec<Tag>,
    tags: Vec<Tag>,
) -> Result<(), ProvisionError> {
    if !stale.is_empty() {
        c.call(
            "DeleteTags",
            client
                .delete_tags()
                .resources(id)
                .set_tags(Some(stale))
                .send(),
        )
        .await?;
    }
    if !tags.is_empty() {
        c.call(
            "CreateTags",
            client
                .create_tags()
                .resources(id)
                .set_tags(Some(tags))
                .send(),
        )
        .await?;
    }
    Ok(())
}

/// Changes a core security group's rules to `want`. The rules hoist authorized are those its
/// `hoist:rules` tags record (a rule added to the group by someone else is left alone, and so
/// is EC2's default egress rule): the new ones are authorized, the ones no longer wanted
/// revoked, one rule per call (a rule already there, or already gone, is fine), and then the
/// tags record the new set. Interrupted before the tags were written, a second update finds
/// the old set in them again and converges.
async fn set_core_rules(
    c: &Inner,
    client: &Client,
    id: &str,
    want: &[Rule],
) -> Result<(), ProvisionError> {
    let out = c
        .call(
            "DescribeSecurityGroups",
            client.describe_security_groups().group_ids(id).send(),
        )
        .await?;
    let group = out.security_groups().first().ok_or_else(|| {
        ProvisionError::new(
            ErrorKind::NotFound,
            format!("security group {id} does not exist"),
        )
        .with_code("InvalidGroup.NotFound")
    })?;
    let had = decode_rules(group.tags());
    for rule in want.iter().filter(|r| !had.contains(r)) {
        authorize_core_rules(c, client, id, std::slice::from_ref(rule)).await?;
    }
    for rule in had.iter().filter(|r| !want.contains(r)) {
        revoke_core_rule(c, client, id, rule).await?;
    }
    let tags = encode_rules(want);
    let stale: Vec<Tag> = group
        .tags()
        .iter()
        .filter_map(|t| t.key())
        .filter(|k| k.starts_with(TAG_RULES) && !tags.iter().any(|(n, _)| n == k))
        .map(|k| Tag::builder().key(k).build())
        .collect();
    let tags = tags
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    replace_tags(c, client, id, stale, tags).await
}

/// Revokes one rule of a core security group; a rule that is not there is fine.
async fn revoke_core_rule(
    c: &Inner,
    client: &Client,
    group: &str,
    rule: &Rule,
) -> Result<(), ProvisionError> {
    let perms = Some(vec![permission(
        rule.protocol,
        i32::from(rule.from_port),
        i32::from(rule.to_port),
        Some(&rule.cidr),
        None,
        None,
    )]);
    let res = match rule.direction {
        Direction::Ingress => c
            .call(
                "RevokeSecurityGroupIngress",
                client
                    .revoke_security_group_ingress()
                    .group_id(group)
                    .set_ip_permissions(perms)
                    .send(),
            )
            .await
            .map(|_| ()),
        Direction::Egress => c
            .call(
                "RevokeSecurityGroupEgress",
                client
                    .revoke_security_group_egress()
                    .group_id(group)
                    .set_ip_permissions(perms)
                    .send(),
            )
            .await
            .map(|_| ()),
    };
    match res {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        res => res,
    }
}

// ----------------------------------------------------------------------------------------------
// create

pub(crate) async fn create(c: &Inner, req: &CreateRequest) -> Result<Created, ProvisionError> {
    let retry = !lock(&c.attempted).insert(req.token.clone());
    if retry {
        let f = FindRequest {
            system: req.system.clone(),
            key: req.key.clone(),
            kind: req.kind.clone(),
            token: req.token.clone(),
        };
        if let Some(found) = find(c, &f).await? {
            return Ok(found);
        }
    }
    let spec = &req.spec;
    match req.kind.as_str() {
        "aws.vpc" => {
            let x: r::Vpc = parse(&req.kind, spec)?;
            let cx = ctx(c, req, x.region.as_deref()).await?;
            create_vpc(&cx, &val("cidr", &x.cidr)?, x.tenancy.as_deref()).await
        }
        "core.network" => {
            let x: hoist_core::Network = parse(&req.kind, spec)?;
            let cx = ctx(c, req, None).await?;
            let vpc = create_vpc(&cx, &val("cidr", &x.cidr)?, None).await?;
            match finish_network(cx.c, &cx.client, &cx, &vpc.id).await {
                Ok(mut extra) => {
                    let mut created = vpc;
                    created.outputs.append(&mut extra);
                    Ok(created)
                }
                Err(e) => {
                    rollback(c, "core.network", &vpc).await;
                    Err(e)
                }
            }
        }
        "aws.subnet" => {
            let x: r::Subnet = parse(&req.kind, spec)?;
            let cx = ctx(c, req, x.region.as_deref()).await?;
            create_subnet(
                &cx,
                &id_of("vpc", &x.vpc)?,
                &val("cidr", &x.cidr)?,
                x.availability_zone.as_deref(),
                x.map_public_ip_on_launch,
            )
            .await
        }
        "core.subnet" => {
            let x: hoist_core::Subnet = parse(&req.kind, spec)?;
            let cx = ctx(c, req, None).await?;
            create_subnet(
                &cx,
                &id_of("network", &x.network)?,
                &val("cidr", &x.cidr)?,
                None,
                false,
            )
            .await
        }
        "aws.internet_gateway" => {
            let x: r::InternetGateway = parse(&req.kind, spec)?;
            let cx = ctx(c, req, x.region.as_deref()).await?;
            create_igw(&cx, &id_of("vpc", &x.vpc)?).await
        }
        "aws.route_table" => {
            let x: r::RouteTable = parse(&req.kind, spec)?;
            let cx = ctx(c, req, x.region.as_deref()).await?;
            let subnets = x
                .subnets
                .iter()
                .map(|s| id_of("subnets", s))
                .collect::<Result<Vec<_>, _>>()?;
            create_route_table(&cx, &id_of("vpc", &x.vpc)?, &subnets).await
        }
        "aws.route" => {
            let x: r::Route = parse(&req.kind, spec)?;
            let cx = ctx(c, req, x.region.as_deref()).await?;
            let target = match (&x.gateway, &x.nat_gateway_id, &x.network_interface) {
                (Some(g), None, None) => RouteTarget::Gateway(id_of("gateway", g)?),
                (None, Some(n), None) => RouteTarget::Nat(val("nat_gateway_id", n)?),
                (None, None, Some(n)) => RouteTarget::Interface(id_of("network_interface", n)?),
                _ => return Err(invalid("a route needs exactly one target")),
            };
            create_route(
                &cx,
                &id_of("route_table", &x.route_table)?,
                &val("destination", &x.destination)?,
                &target,
            )
            .await
        }
        "aws.security_group" => {
            let x: r::SecurityGroup = parse(&req.kind, spec)?;
            let cx = ctx(c, req, x.region.as_deref()).await?;
            create_sg(
                &cx,
                &val("name", &x.name)?,
                &x.description,
                &id_of("vpc", &x.vpc)?,
                &[],
            )
            .await
        }
        "core.security_group" => {
            let x: hoist_core::SecurityGroup = parse(&req.kind, spec)?;
            let cx = ctx(c, req, None).await?;
            let name = derived_name(&req.system, &req.key);
            let vpc = id_of("network", &x.network)?;
            let sg = create_sg(&cx, &name, "managed by hoist", &vpc, &x.rules).await?;
            if let Err(e) = authorize_core_rules(c, &cx.client, &sg.id, &x.rules).await {
                rollback(c, "core.security_group", &sg).await;
                return Err(e);
            }
            Ok(sg)
        }
        "aws.security_group_rule" => {
            let x: r::SecurityGroupRule = parse(&req.kind, spec)?;
            let cx = ctx(c, req, x.region.as_deref()).await?;
            create_rule(&cx, &x).await
        }
        "aws.key_pair" => {
            let x: r::KeyPair = parse(&req.kind, spec)?;
            let cx = ctx(c, req, x.region.as_deref()).await?;
            create_key_pair(&cx, &x).await
        }
        "aws.network_interface" => {
            let x: r::NetworkInterface = parse(&req.kind, spec)?;
            let cx = ctx(c, req, x.region.as_deref()).await?;
            let sgs = x
                .security_groups
                .iter()
                .map(|g| id_of("security_groups", g))
                .collect::<Result<Vec<_>, _>>()?;
            create_nic(
                &cx,
                &id_of("subnet", &x.subnet)?,
                &sgs,
                opt_val("private_ip", x.private_ip.as_ref())?,
                x.description.as_deref(),
            )
            .await
        }
        "aws.instance" => {
            let x: r::Instance = parse(&req.kind, spec)?;
            let cx = ctx(c, req, x.region.as_deref()).await?;
            let launch = Launch {
                image: c.image(&val("image", &x.image)?),
                instance_type: c.instance_type(&val("instance_type", &x.instance_type)?),
                key_name: x
                    .key_pair
                    .as_ref()
                    .map(|k| id_of("key_pair", k))
                    .transpose()?,
                security_groups: x
                    .security_groups
                    .iter()
                    .map(|g| id_of("security_groups", g))
                    .collect::<Result<_, _>>()?,
                subnet: x.subnet.as_ref().map(|s| id_of("subnet", s)).transpose()?,
                interfaces: x
                    .network_interfaces
                    .iter()
                    .map(|n| id_of("network_interfaces", n))
                    .collect::<Result<_, _>>()?,
                private_ip: opt_val("private_ip", x.private_ip.as_ref())?,
                user_data: opt_val("user_data", x.user_data.as_ref())?,
            };
            create_instance(&cx, &launch).await
        }
        "core.server" => {
            let x: hoist_core::Server = parse(&req.kind, spec)?;
            let cx = ctx(c, req, None).await?;
            let launch = Launch {
                image: c.image(&val("image", &x.image)?),
                instance_type: c.instance_type(&val("size", &x.size)?),
                key_name: None,
                security_groups: x
                    .security_groups
                    .iter()
                    .map(|g| id_of("security_groups", g))
                    .collect::<Result<_, _>>()?,
                subnet: Some(id_of("subnet", &x.subnet)?),
                interfaces: Vec::new(),
                private_ip: None,
                user_data: opt_val("user_data", x.user_data.as_ref())?,
            };
            create_instance(&cx, &launch).await
        }
        "aws.elastic_ip" => {
            let x: r::ElasticIp = parse(&req.kind, spec)?;
            let cx = ctx(c, req, x.region.as_deref()).await?;
            let target = match (&x.instance, &x.network_interface) {
                (Some(i), None) => Some(id_of("instance", i)?),
                (None, Some(n)) => Some(id_of("network_interface", n)?),
                (None, None) => None,
                _ => return Err(invalid("an Elastic IP is associated with one target")),
            };
            create_eip(&cx, target.as_deref()).await
        }
        "core.public_ip" => {
            let x: hoist_core::PublicIp = parse(&req.kind, spec)?;
            let cx = ctx(c, req, None).await?;
            create_eip(&cx, Some(&id_of("server", &x.server)?)).await
        }
        other => Err(
            invalid(format!("the AWS proxy does not provision {other:?}"))
                .with_code("UnsupportedKind"),
        ),
    }
}

/// Removes what a failed compound create made (best effort: the objects are tagged, so a
/// sweep or a later find still sees them if this fails).
async fn rollback(c: &Inner, kind: &str, created: &Created) {
    let req = DeleteRequest {
        system: String::new(),
        key: String::new(),
        kind: kind.to_string(),
        id: created.id.clone(),
        outputs: created.outputs.clone(),
    };
    if let Err(e) = delete(c, &req).await {
        tracing::warn!(kind, id = %created.id, error = %e, "rollback of a half-made object failed");
    }
}

async fn create_vpc(
    cx: &Ctx<'_>,
    cidr: &str,
    tenancy: Option<&str>,
) -> Result<Created, ProvisionError> {
    let out =
        cx.c.call(
            "CreateVpc",
            cx.client
                .create_vpc()
                .cidr_block(cidr)
                .set_instance_tenancy(tenancy.map(Tenancy::from))
                .tag_specifications(cx.tag_spec(ResourceType::Vpc, &[]))
                .send(),
        )
        .await?;
    let vpc = out.vpc().ok_or_else(|| missing("CreateVpc", "vpc"))?;
    let id = vpc.vpc_id().ok_or_else(|| missing("CreateVpc", "vpc id"))?;
    Ok(Created {
        id: id.to_string(),
        outputs: outputs([
            ("id", s(Some(id))),
            ("cidr", s(vpc.cidr_block())),
            ("region", cx.region_value()),
        ]),
    })
}

fn missing(op: &str, what: &str) -> ProvisionError {
    ProvisionError::new(
        ErrorKind::Other,
        format!("{op}: the response has no {what}"),
    )
    .with_code("IncompleteResponse")
}

/// Gives a `core.network`'s VPC an internet gateway and a default route in its main route
/// table; idempotent (finds the gateway by tag, tolerates what is already done).
async fn finish_network(
    c: &Inner,
    client: &Client,
    cx: &Ctx<'_>,
    vpc_id: &str,
) -> Result<OutputMap, ProvisionError> {
    let existing = c
        .call(
            "DescribeInternetGateways",
            client
                .describe_internet_gateways()
                .filters(tag_filter(&cx.req.token))
                .send(),
        )
        .await?;
    let igw = match existing
        .internet_gateways()
        .first()
        .and_then(|g| g.internet_gateway_id())
    {
        Some(id) => id.to_string(),
        None => {
            let out = c
                .call(
                    "CreateInternetGateway",
                    client
                        .create_internet_gateway()
                        .tag_specifications(cx.tag_spec(
                            ResourceType::InternetGateway,
                            &[(TAG_TARGET, vpc_id.to_string())],
                        ))
                        .send(),
                )
                .await?;
            out.internet_gateway()
                .and_then(|g| g.internet_gateway_id())
                .ok_or_else(|| missing("CreateInternetGateway", "gateway id"))?
                .to_string()
        }
    };
    attach_igw(c, client, &igw, vpc_id).await?;
    let tables = c
        .call_fresh("DescribeRouteTables", || {
            client
                .describe_route_tables()
                .filters(filter("vpc-id", vpc_id))
                .filters(filter("association.main", "true"))
                .send()
        })
        .await?;
    let rtb = tables
        .route_tables()
        .first()
        .and_then(|t| t.route_table_id())
        .ok_or_else(|| missing("DescribeRouteTables", "main route table"))?
        .to_string();
    let route = c
        .call_fresh("CreateRoute", || {
            client
                .create_route()
                .route_table_id(&rtb)
                .destination_cidr_block("0.0.0.0/0")
                .gateway_id(&igw)
                .send()
        })
        .await;
    match route {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    Ok(outputs([
        ("internet_gateway_id", s(Some(&igw))),
        ("route_table_id", s(Some(&rtb))),
    ]))
}

async fn attach_igw(
    c: &Inner,
    client: &Client,
    igw: &str,
    vpc_id: &str,
) -> Result<(), ProvisionError> {
    let r = c
        .call_fresh("AttachInternetGateway", || {
            client
                .attach_internet_gateway()
                .internet_gateway_id(igw)
                .vpc_id(vpc_id)
                .send()
        })
        .await;
    match r {
        Ok(_) => Ok(()),
        // Already attached (to this VPC: a gateway has one attachment).
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

async fn create_subnet(
    cx: &Ctx<'_>,
    vpc_id: &str,
    cidr: &str,
    az: Option<&str>,
    map_public: bool,
) -> Result<Created, ProvisionError> {
    let out =
        cx.c.call_fresh("CreateSubnet", || {
            cx.client
                .create_subnet()
                .vpc_id(vpc_id)
                .cidr_block(cidr)
                .set_availability_zone(az.map(str::to_string))
                .tag_specifications(cx.tag_spec(ResourceType::Subnet, &[]))
                .send()
        })
        .await?;
    let sn = out
        .subnet()
        .ok_or_else(|| missing("CreateSubnet", "subnet"))?;
    let id = sn
        .subnet_id()
        .ok_or_else(|| missing("CreateSubnet", "subnet id"))?
        .to_string();
    if map_public {
        let r =
            cx.c.call_fresh("ModifySubnetAttribute", || {
                cx.client
                    .modify_subnet_attribute()
                    .subnet_id(&id)
                    .map_public_ip_on_launch(
                        aws_sdk_ec2::types::AttributeBooleanValue::builder()
                            .value(true)
                            .build(),
                    )
                    .send()
            })
            .await;
        if let Err(e) = r {
            let created = Created {
                id: id.clone(),
                outputs: outputs([("region", cx.region_value())]),
            };
            rollback(cx.c, "aws.subnet", &created).await;
            return Err(e);
        }
    }
    Ok(Created {
        outputs: subnet_outputs(sn, &cx.region),
        id,
    })
}

fn subnet_outputs(sn: &aws_sdk_ec2::types::Subnet, region: &str) -> OutputMap {
    outputs([
        ("id", s(sn.subnet_id())),
        ("cidr", s(sn.cidr_block())),
        ("vpc_id", s(sn.vpc_id())),
        ("availability_zone", s(sn.availability_zone())),
        ("region", s(Some(region))),
    ])
}

async fn create_igw(cx: &Ctx<'_>, vpc_id: &str) -> Result<Created, ProvisionError> {
    let out =
        cx.c.call(
            "CreateInternetGateway",
            cx.client
                .create_internet_gateway()
                .tag_specifications(cx.tag_spec(
                    ResourceType::InternetGateway,
                    &[(TAG_TARGET, vpc_id.to_string())],
                ))
                .send(),
        )
        .await?;
    let id = out
        .internet_gateway()
        .and_then(|g| g.internet_gateway_id())
        .ok_or_else(|| missing("CreateInternetGateway", "gateway id"))?
        .to_string();
    let created = Created {
        outputs: outputs([
            ("id", s(Some(&id))),
            ("vpc_id", s(Some(vpc_id))),
            ("region", cx.region_value()),
        ]),
        id,
    };
    if let Err(e) = attach_igw(cx.c, &cx.client, &created.id, vpc_id).await {
        rollback(cx.c, "aws.internet_gateway", &created).await;
        return Err(e);
    }
    Ok(created)
}

async fn associate_subnets(
    c: &Inner,
    client: &Client,
    rtb: &str,
    subnets: &[String],
) -> Result<Vec<String>, ProvisionError> {
    let mut ids = Vec::new();
    for sn in subnets {
        let out = c
            .call_fresh("AssociateRouteTable", || {
                client
                    .associate_route_table()
                    .route_table_id(rtb)
                    .subnet_id(sn)
                    .send()
            })
            .await?;
        if let Some(a) = out.association_id() {
            ids.push(a.to_string());
        }
    }
    Ok(ids)
}

async fn create_route_table(
    cx: &Ctx<'_>,
    vpc_id: &str,
    subnets: &[String],
) -> Result<Created, ProvisionError> {
    let out =
        cx.c.call_fresh("CreateRouteTable", || {
            cx.client
                .create_route_table()
                .vpc_id(vpc_id)
                .client_token(client_token(&cx.req.token))
                .tag_specifications(
                    cx.tag_spec(ResourceType::RouteTable, &[(TAG_TARGET, subnets.join(","))]),
                )
                .send()
        })
        .await?;
    let id = out
        .route_table()
        .and_then(|t| t.route_table_id())
        .ok_or_else(|| missing("CreateRouteTable", "route table id"))?
        .to_string();
    let mut created = Created {
        outputs: outputs([
            ("id", s(Some(&id))),
            ("vpc_id", s(Some(vpc_id))),
            ("region", cx.region_value()),
        ]),
        id,
    };
    match associate_subnets(cx.c, &cx.client, &created.id, subnets).await {
        Ok(assocs) => {
            created
                .outputs
                .insert("association_ids".into(), json!(assocs));
            Ok(created)
        }
        Err(e) => {
            rollback(cx.c, "aws.route_table", &created).await;
            Err(e)
        }
    }
}

enum RouteTarget {
    Gateway(String),
    Nat(String),
    Interface(String),
}

impl RouteTarget {
    fn id(&self) -> &str {
        match self {
            RouteTarget::Gateway(i) | RouteTarget::Nat(i) | RouteTarget::Interface(i) => i,
        }
    }
}

async fn create_route(
    cx: &Ctx<'_>,
    rtb: &str,
    dest: &str,
    target: &RouteTarget,
) -> Result<Created, ProvisionError> {
    let r =
        cx.c.call_fresh("CreateRoute", || {
            let b = cx
                .client
                .create_route()
                .route_table_id(rtb)
                .destination_cidr_block(dest);
            match target {
                RouteTarget::Gateway(g) => b.gateway_id(g),
                RouteTarget::Nat(n) => b.nat_gateway_id(n),
                RouteTarget::Interface(n) => b.network_interface_id(n),
            }
            .send()
        })
        .await;
    match r {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            // Created by an interrupted run (routes cannot be tagged): adopt it if it goes
            // where this one should.
            let tables =
                cx.c.call(
                    "DescribeRouteTables",
                    cx.client
                        .describe_route_tables()
                        .route_table_ids(rtb)
                        .send(),
                )
                .await?;
            let same = tables
                .route_tables()
                .iter()
                .flat_map(|t| t.routes())
                .any(|rt| {
                    rt.destination_cidr_block() == Some(dest)
                        && [
                            rt.gateway_id(),
                            rt.nat_gateway_id(),
                            rt.network_interface_id(),
                        ]
                        .contains(&Some(target.id()))
                });
            if !same {
                return Err(e);
            }
        }
        Err(e) => return Err(e),
    }
    let id = format!("{rtb}|{dest}");
    Ok(Created {
        outputs: outputs([
            ("id", s(Some(&id))),
            ("route_table_id", s(Some(rtb))),
            ("destination", s(Some(dest))),
            ("region", cx.region_value()),
        ]),
        id,
    })
}

/// A core rule as `d:proto:from:to:cidr` (for the `hoist:rules` tags).
fn encode_rules(rules: &[Rule]) -> Vec<(String, String)> {
    let text = rules
        .iter()
        .map(|r| {
            format!(
                "{}:{}:{}:{}:{}",
                match r.direction {
                    Direction::Ingress => "i",
                    Direction::Egress => "e",
                },
                proto(r.protocol),
                r.from_port,
                r.to_port,
                r.cidr
            )
        })
        .collect::<Vec<_>>()
        .join(",");
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(250)
        .enumerate()
        .map(|(i, c)| (format!("{TAG_RULES}:{i}"), c.iter().collect()))
        .collect()
}

fn decode_rules(tags: &[Tag]) -> Vec<Rule> {
    let mut parts: Vec<(usize, String)> = tags
        .iter()
        .filter_map(|t| {
            let i = t.key()?.strip_prefix(TAG_RULES)?.strip_prefix(':')?;
            Some((i.parse().ok()?, t.value()?.to_string()))
        })
        .collect();
    parts.sort();
    let text: String = parts.into_iter().map(|(_, v)| v).collect();
    text.split(',')
        .filter_map(|r| {
            let mut f = r.splitn(5, ':');
            let direction = match f.next()? {
                "i" => Direction::Ingress,
                "e" => Direction::Egress,
                _ => return None,
            };
            let protocol = match f.next()? {
                "tcp" => Protocol::Tcp,
                "udp" => Protocol::Udp,
                "icmp" => Protocol::Icmp,
                "-1" => Protocol::All,
                _ => return None,
            };
            Some(Rule {
                direction,
                protocol,
                from_port: f.next()?.parse().ok()?,
                to_port: f.next()?.parse().ok()?,
                cidr: f.next()?.to_string(),
            })
        })
        .collect()
}

fn proto(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Icmp => "icmp",
        Protocol::All => "-1",
    }
}

fn permission(
    protocol: Protocol,
    from: i32,
    to: i32,
    cidr: Option<&str>,
    group: Option<&str>,
    description: Option<&str>,
) -> IpPermission {
    let mut b = IpPermission::builder().ip_protocol(proto(protocol));
    match protocol {
        Protocol::All => {}
        Protocol::Icmp => b = b.from_port(from).to_port(to),
        Protocol::Tcp | Protocol::Udp => b = b.from_port(from).to_port(to),
    }
    if let Some(c) = cidr {
        b = b.ip_ranges(
            IpRange::builder()
                .cidr_ip(c)
                .set_description(description.map(str::to_string))
                .build(),
        );
    }
    if let Some(g) = group {
        b = b.user_id_group_pairs(
            UserIdGroupPair::builder()
                .group_id(g)
                .set_description(description.map(str::to_string))
                .build(),
        );
    }
    b.build()
}

async fn create_sg(
    cx: &Ctx<'_>,
    name: &str,
    description: &str,
    vpc_id: &str,
    rules: &[Rule],
) -> Result<Created, ProvisionError> {
    let extra: Vec<(String, String)> = encode_rules(rules);
    let extra: Vec<(&str, String)> = extra.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let r =
        cx.c.call_fresh("CreateSecurityGroup", || {
            cx.client
                .create_security_group()
                .group_name(name)
                .description(description)
                .vpc_id(vpc_id)
                .tag_specifications(cx.tag_spec(ResourceType::SecurityGroup, &extra))
                .send()
        })
        .await;
    let id = match r {
        Ok(out) => out
            .group_id()
            .ok_or_else(|| missing("CreateSecurityGroup", "group id"))?
            .to_string(),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            // Ours (an interrupted run) is adopted; anyone else's is an error.
            let found =
                cx.c.call(
                    "DescribeSecurityGroups",
                    cx.client
                        .describe_security_groups()
                        .filters(filter("vpc-id", vpc_id))
                        .filters(filter("group-name", name))
                        .send(),
                )
                .await?;
            match found.security_groups().first() {
                Some(g) if tag_value(g.tags(), TAG_TOKEN).as_deref() == Some(&cx.req.token) => {
                    g.group_id().unwrap_or_default().to_string()
                }
                _ => {
                    return Err(ProvisionError::new(
                        ErrorKind::AlreadyExists,
                        format!(
                            "a security group named {name:?} already exists in {vpc_id} and was \
                             not created by this resource"
                        ),
                    )
                    .with_code("InvalidGroup.Duplicate"));
                }
            }
        }
        Err(e) => return Err(e),
    };
    Ok(Created {
        outputs: outputs([
            ("id", s(Some(&id))),
            ("name", s(Some(name))),
            ("vpc_id", s(Some(vpc_id))),
            ("region", cx.region_value()),
        ]),
        id,
    })
}

/// Authorizes a core security group's rules: one call per direction; rules already there are
/// fine.
async fn authorize_core_rules(
    c: &Inner,
    client: &Client,
    group: &str,
    rules: &[Rule],
) -> Result<(), ProvisionError> {
    for dir in [Direction::Ingress, Direction::Egress] {
        let perms: Vec<IpPermission> = rules
            .iter()
            .filter(|r| r.direction == dir)
            .map(|r| {
                permission(
                    r.protocol,
                    i32::from(r.from_port),
                    i32::from(r.to_port),
                    Some(&r.cidr),
                    None,
                    None,
                )
            })
            .collect();
        if perms.is_empty() {
            continue;
        }
        let res = match dir {
            Direction::Ingress => c
                .call_fresh("AuthorizeSecurityGroupIngress", || {
                    client
                        .authorize_security_group_ingress()
                        .group_id(group)
                        .set_ip_permissions(Some(perms.clone()))
                        .send()
                })
                .await
                .map(|_| ()),
            Direction::Egress => c
                .call_fresh("AuthorizeSecurityGroupEgress", || {
                    client
                        .authorize_security_group_egress()
                        .group_id(group)
                        .set_ip_permissions(Some(perms.clone()))
                        .send()
                })
                .await
                .map(|_| ()),
        };
        match res {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn create_rule(cx: &Ctx<'_>, x: &r::SecurityGroupRule) -> Result<Created, ProvisionError> {
    let group = id_of("security_group", &x.security_group)?;
    let cidr = opt_val("cidr", x.cidr.as_ref())?;
    let peer = x
        .peer_group
        .as_ref()
        .map(|g| id_of("peer_group", g))
        .transpose()?;
    let perm = permission(
        x.protocol,
        x.from_port,
        x.to_port,
        cidr.as_deref(),
        peer.as_deref(),
        x.description.as_deref(),
    );
    let spec = cx.tag_spec(ResourceType::SecurityGroupRule, &[]);
    let egress = x.direction == Direction::Egress;
    let res = if egress {
        cx.c.call_fresh("AuthorizeSecurityGroupEgress", || {
            cx.client
                .authorize_security_group_egress()
                .group_id(&group)
                .ip_permissions(perm.clone())
                .tag_specifications(spec.clone())
                .send()
        })
        .await
        .map(|o| o.security_group_rules().to_vec())
    } else {
        cx.c.call_fresh("AuthorizeSecurityGroupIngress", || {
            cx.client
                .authorize_security_group_ingress()
                .group_id(&group)
                .ip_permissions(perm.clone())
                .tag_specifications(spec.clone())
                .send()
        })
        .await
        .map(|o| o.security_group_rules().to_vec())
    };
    let rule_id = match res {
        Ok(rules) => match rules.first().and_then(|r| r.security_group_rule_id()) {
            Some(id) => id.to_string(),
            None => find_rule_id(cx, &group, x, cidr.as_deref(), peer.as_deref()).await?,
        },
        // An interrupted run authorized it already: adopt it.
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            find_rule_id(cx, &group, x, cidr.as_deref(), peer.as_deref()).await?
        }
        Err(e) => return Err(e),
    };
    Ok(Created {
        outputs: outputs([
            ("id", s(Some(&rule_id))),
            ("security_group_id", s(Some(&group))),
            (
                "direction",
                s(Some(if egress { "egress" } else { "ingress" })),
            ),
            ("region", cx.region_value()),
        ]),
        id: rule_id,
    })
}

async fn find_rule_id(
    cx: &Ctx<'_>,
    group: &str,
    x: &r::SecurityGroupRule,
    cidr: Option<&str>,
    peer: Option<&str>,
) -> Result<String, ProvisionError> {
    let out =
        cx.c.call(
            "DescribeSecurityGroupRules",
            cx.client
                .describe_security_group_rules()
                .filters(filter("group-id", group))
                .send(),
        )
        .await?;
    let egress = x.direction == Direction::Egress;
    let want_proto = proto(x.protocol);
    out.security_group_rules()
        .iter()
        .find(|r| {
            r.is_egress() == Some(egress)
                && r.ip_protocol() == Some(want_proto)
                && (x.protocol == Protocol::All
                    || (r.from_port() == Some(x.from_port) && r.to_port() == Some(x.to_port)))
                && (cidr.is_none() || r.cidr_ipv4() == cidr)
                && (peer.is_none() || r.referenced_group_info().and_then(|g| g.group_id()) == peer)
        })
        .and_then(|r| r.security_group_rule_id())
        .map(str::to_string)
        .ok_or_else(|| missing("DescribeSecurityGroupRules", "matching rule"))
}

fn key_name(base: &str, unique: bool, token: &str) -> String {
    if unique {
        format!("{base}-{:08x}", fnv(token.as_bytes()) & 0xffff_ffff)
    } else {
        base.to_string()
    }
}

/// Where a created key's private key is kept.
fn key_file(c: &Inner, region: &str, name: &str) -> std::path::PathBuf {
    let dir = c.settings.key_dir.clone().unwrap_or_else(|| {
        std::env::var_os("HOME")
            .map_or_else(std::env::temp_dir, std::path::PathBuf::from)
            .join(".hoist")
            .join("aws-keys")
    });
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!("{region}-{safe}.pem"))
}

fn write_private_key(path: &std::path::Path, material: &str) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = path.parent() {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        b.mode(0o700);
        b.create(dir)?;
    }
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    o.mode(0o600);
    let mut f = o.open(path)?;
    f.write_all(material.as_bytes())?;
    f.sync_all()
}

async fn create_key_pair(cx: &Ctx<'_>, x: &r::KeyPair) -> Result<Created, ProvisionError> {
    let name = key_name(&val("name", &x.name)?, x.unique, &cx.req.token);
    let public = opt_val("public_key", x.public_key.as_ref())?;
    let created_here = public.is_none();
    let spec = cx.tag_spec(
        ResourceType::KeyPair,
        &[(
            "hoist:key-origin",
            if created_here { "created" } else { "imported" }.into(),
        )],
    );
    let res = match &public {
        Some(p) => {
            cx.c.call(
                "ImportKeyPair",
                cx.client
                    .import_key_pair()
                    .key_name(&name)
                    .public_key_material(Blob::new(p.trim().as_bytes().to_vec()))
                    .tag_specifications(spec)
                    .send(),
            )
            .await
            .map(|o| {
                (
                    o.key_pair_id().map(str::to_string),
                    o.key_fingerprint().map(str::to_string),
                    None,
                )
            })
        }
        None => {
            cx.c.call(
                "CreateKeyPair",
                cx.client
                    .create_key_pair()
                    .key_name(&name)
                    .key_type(match x.key_type.as_deref() {
                        Some("rsa") => KeyType::Rsa,
                        _ => KeyType::Ed25519,
                    })
                    .tag_specifications(spec)
                    .send(),
            )
            .await
            .map(|o| {
                (
                    o.key_pair_id().map(str::to_string),
                    o.key_fingerprint().map(str::to_string),
                    o.key_material().map(|m| Secret::new(m.to_string())),
                )
            })
        }
    };
    match res {
        Ok((kp_id, fp, material)) => {
            let mut file = None;
            if let Some(m) = material {
                let path = key_file(cx.c, &cx.region, &name);
                if let Err(e) = write_private_key(&path, m.expose()) {
                    // Without its private key the pair is useless: remove it.
                    let _ =
                        cx.c.call(
                            "DeleteKeyPair",
                            cx.client.delete_key_pair().key_name(&name).send(),
                        )
                        .await;
                    return Err(ProvisionError::new(
                        ErrorKind::Other,
                        format!("cannot keep the private key in {}: {e}", path.display()),
                    ));
                }
                lock(&cx.c.private_keys).insert(name.clone(), m);
                file = Some(path.display().to_string());
            }
            Ok(Created {
                outputs: outputs([
                    ("id", s(Some(&name))),
                    ("key_name", s(Some(&name))),
                    ("key_pair_id", s(kp_id.as_deref())),
                    ("fingerprint", s(fp.as_deref())),
                    ("private_key_file", file.map(Value::String)),
                    ("region", cx.region_value()),
                ]),
                id: name,
            })
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            let req = FindRequest {
                system: cx.req.system.clone(),
                key: cx.req.key.clone(),
                kind: cx.req.kind.clone(),
                token: cx.req.token.clone(),
            };
            if let Some(found) = find_key_pair(cx.c, &cx.client, &cx.region, &req).await? {
                return Ok(found);
            }
            Err(ProvisionError::new(
                ErrorKind::AlreadyExists,
                format!(
                    "a key pair named {name:?} already exists and was not created by this \
                     resource (make the name unique with `unique`)"
                ),
            )
            .with_code("InvalidKeyPair.Duplicate"))
        }
        Err(e) => Err(e),
    }
}

async fn create_nic(
    cx: &Ctx<'_>,
    subnet: &str,
    sgs: &[String],
    private_ip: Option<String>,
    description: Option<&str>,
) -> Result<Created, ProvisionError> {
    let out =
        cx.c.call_fresh("CreateNetworkInterface", || {
            cx.client
                .create_network_interface()
                .subnet_id(subnet)
                .set_groups((!sgs.is_empty()).then(|| sgs.to_vec()))
                .set_private_ip_address(private_ip.clone())
                .set_description(description.map(str::to_string))
                .client_token(client_token(&cx.req.token))
                .tag_specifications(cx.tag_spec(ResourceType::NetworkInterface, &[]))
                .send()
        })
        .await?;
    let nic = out
        .network_interface()
        .ok_or_else(|| missing("CreateNetworkInterface", "interface"))?;
    nic_created(nic, &cx.region)
}

fn nic_created(
    nic: &aws_sdk_ec2::types::NetworkInterface,
    region: &str,
) -> Result<Created, ProvisionError> {
    let id = nic
        .network_interface_id()
        .ok_or_else(|| missing("CreateNetworkInterface", "interface id"))?;
    Ok(Created {
        id: id.to_string(),
        outputs: outputs([
            ("id", s(Some(id))),
            ("private_ip", s(nic.private_ip_address())),
            ("subnet_id", s(nic.subnet_id())),
            ("mac_address", s(nic.mac_address())),
            ("region", s(Some(region))),
        ]),
    })
}

struct Launch {
    image: String,
    instance_type: String,
    key_name: Option<String>,
    security_groups: Vec<String>,
    subnet: Option<String>,
    interfaces: Vec<String>,
    private_ip: Option<String>,
    user_data: Option<String>,
}

fn instance_outputs(id: &str, o: &Observed, region: &str) -> OutputMap {
    let ip = o.public_ip.as_deref().or(o.private_ip.as_deref());
    outputs([
        ("id", s(Some(id))),
        ("ip", s(ip)),
        ("private_ip", s(o.private_ip.as_deref())),
        ("public_ip", s(o.public_ip.as_deref())),
        ("availability_zone", s(o.availability_zone.as_deref())),
        ("region", s(Some(region))),
    ])
}

async fn create_instance(cx: &Ctx<'_>, l: &Launch) -> Result<Created, ProvisionError> {
    let user_data = l
        .user_data
        .as_ref()
        .map(|u| aws_smithy_types::base64::encode(u.as_bytes()));
    let nics: Vec<InstanceNetworkInterfaceSpecification> = l
        .interfaces
        .iter()
        .enumerate()
        .map(|(i, n)| {
            InstanceNetworkInterfaceSpecification::builder()
                .device_index(i32::try_from(i).unwrap_or(i32::MAX))
                .network_interface_id(n)
                .build()
        })
        .collect();
    let out =
        cx.c.call_fresh("RunInstances", || {
            cx.client
                .run_instances()
                .image_id(&l.image)
                .instance_type(InstanceType::from(l.instance_type.as_str()))
                .min_count(1)
                .max_count(1)
                .set_key_name(l.key_name.clone())
                .set_security_group_ids(
                    (!l.security_groups.is_empty()).then(|| l.security_groups.clone()),
                )
                .set_subnet_id(l.subnet.clone())
                .set_private_ip_address(l.private_ip.clone())
                .set_network_interfaces((!nics.is_empty()).then(|| nics.clone()))
                .set_user_data(user_data.clone())
                .client_token(client_token(&cx.req.token))
                .tag_specifications(cx.tag_spec(ResourceType::Instance, &[]))
                .send()
        })
        .await?;
    let inst = out
        .instances()
        .first()
        .ok_or_else(|| missing("RunInstances", "instance"))?;
    let id = inst
        .instance_id()
        .ok_or_else(|| missing("RunInstances", "instance id"))?
        .to_string();
    let seen = Observed::from_instance(inst);
    let observed = if seen.state == "running" && seen.private_ip.is_some() {
        seen
    } else {
        match wait_running(cx.c, &cx.client, &cx.region, &id).await {
            Ok(o) => o,
            Err(e) => {
                let created = Created {
                    id: id.clone(),
                    outputs: outputs([("region", cx.region_value())]),
                };
                rollback(cx.c, "aws.instance", &created).await;
                return Err(e);
            }
        }
    };
    Ok(Created {
        outputs: instance_outputs(&id, &observed, &cx.region),
        id,
    })
}

async fn wait_running(
    c: &Inner,
    client: &Client,
    region: &str,
    id: &str,
) -> Result<Observed, ProvisionError> {
    c.poller(region)
        .wait(c, client, id, Want::Running, c.settings.instance_timeout)
        .await
}

async fn create_eip(cx: &Ctx<'_>, target: Option<&str>) -> Result<Created, ProvisionError> {
    let extra: Vec<(&str, String)> = target
        .map(|t| vec![(TAG_TARGET, t.to_string())])
        .unwrap_or_default();
    let out =
        cx.c.call(
            "AllocateAddress",
            cx.client
                .allocate_address()
                .domain(DomainType::Vpc)
                .tag_specifications(cx.tag_spec(ResourceType::ElasticIp, &extra))
                .send(),
        )
        .await?;
    let id = out
        .allocation_id()
        .ok_or_else(|| missing("AllocateAddress", "allocation id"))?
        .to_string();
    let mut created = Created {
        outputs: outputs([
            ("id", s(Some(&id))),
            ("ip", s(out.public_ip())),
            ("region", cx.region_value()),
        ]),
        id,
    };
    if let Some(t) = target {
        match associate_eip(cx.c, &cx.client, &created.id, t).await {
            Ok(assoc) => {
                if let Some(a) = assoc {
                    created.outputs.insert("association_id".into(), json!(a));
                }
            }
            Err(e) => {
                rollback(cx.c, "aws.elastic_ip", &created).await;
                return Err(e);
            }
        }
    }
    Ok(created)
}

async fn associate_eip(
    c: &Inner,
    client: &Client,
    alloc: &str,
    target: &str,
) -> Result<Option<String>, ProvisionError> {
    let deadline = tokio::time::Instant::now() + c.settings.not_found_timeout;
    let mut delay = Duration::from_millis(200);
    loop {
        let r = c
            .call_fresh("AssociateAddress", || {
                let b = client.associate_address().allocation_id(alloc);
                if target.starts_with("eni-") {
                    b.network_interface_id(target)
                } else {
                    b.instance_id(target)
                }
                .send()
            })
            .await;
        match r {
            Ok(o) => return Ok(o.association_id().map(str::to_string)),
            // An instance that is still pending cannot take an address yet.
            Err(e)
                if e.code() == Some("IncorrectInstanceState")
                    && tokio::time::Instant::now() + delay < deadline =>
            {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            Err(e) => return Err(e),
        }
    }
}

// ----------------------------------------------------------------------------------------------
// find

pub(crate) async fn find(c: &Inner, req: &FindRequest) -> Result<Option<Created>, ProvisionError> {
    for region in c.search_regions().await? {
        let client = c.client(&region).await;
        if let Some(found) = find_in(c, &client, &region, req).await? {
            tracing::info!(kind = %req.kind, id = %found.id, region, "adopting an object created by an interrupted run");
            return Ok(Some(found));
        }
    }
    Ok(None)
}

async fn find_in(
    c: &Inner,
    client: &Client,
    region: &str,
    req: &FindRequest,
) -> Result<Option<Created>, ProvisionError> {
    let token = &req.token;
    let reg = || s(Some(region));
    match req.kind.as_str() {
        "aws.vpc" | "core.network" => {
            let out = c
                .call(
                    "DescribeVpcs",
                    client.describe_vpcs().filters(tag_filter(token)).send(),
                )
                .await?;
            let Some(vpc) = out.vpcs().first() else {
                return Ok(None);
            };
            let id = vpc.vpc_id().unwrap_or_default().to_string();
            let mut created = Created {
                outputs: outputs([
                    ("id", s(Some(&id))),
                    ("cidr", s(vpc.cidr_block())),
                    ("region", reg()),
                ]),
                id,
            };
            if req.kind == "core.network" {
                let fake = CreateRequest {
                    system: req.system.clone(),
                    key: req.key.clone(),
                    kind: req.kind.clone(),
                    spec: Value::Null,
                    token: token.clone(),
                    tags: BTreeMap::new(),
                };
                let cx = Ctx {
                    c,
                    client: client.clone(),
                    region: region.to_string(),
                    req: &fake,
                };
                let mut extra = finish_network(c, client, &cx, &created.id).await?;
                created.outputs.append(&mut extra);
            }
            Ok(Some(created))
        }
        "aws.subnet" | "core.subnet" => {
            let out = c
                .call(
                    "DescribeSubnets",
                    client.describe_subnets().filters(tag_filter(token)).send(),
                )
                .await?;
            Ok(out.subnets().first().map(|sn| Created {
                id: sn.subnet_id().unwrap_or_default().to_string(),
                outputs: subnet_outputs(sn, region),
            }))
        }
        "aws.internet_gateway" => {
            let out = c
                .call(
                    "DescribeInternetGateways",
                    client
                        .describe_internet_gateways()
                        .filters(tag_filter(token))
                        .send(),
                )
                .await?;
            let Some(g) = out.internet_gateways().first() else {
                return Ok(None);
            };
            let id = g.internet_gateway_id().unwrap_or_default().to_string();
            let vpc = match g.attachments().first().and_then(|a| a.vpc_id()) {
                Some(v) => v.to_string(),
                None => {
                    let Some(v) = tag_value(g.tags(), TAG_TARGET) else {
                        return Ok(None);
                    };
                    attach_igw(c, client, &id, &v).await?;
                    v
                }
            };
            Ok(Some(Created {
                outputs: outputs([
                    ("id", s(Some(&id))),
                    ("vpc_id", s(Some(&vpc))),
                    ("region", reg()),
                ]),
                id,
            }))
        }
        "aws.route_table" => {
            let out = c
                .call(
                    "DescribeRouteTables",
                    client
                        .describe_route_tables()
                        .filters(tag_filter(token))
                        .send(),
                )
                .await?;
            let Some(t) = out.route_tables().first() else {
                return Ok(None);
            };
            let id = t.route_table_id().unwrap_or_default().to_string();
            let mut assocs: Vec<String> = t
                .associations()
                .iter()
                .filter_map(|a| a.route_table_association_id().map(str::to_string))
                .collect();
            let have: Vec<&str> = t
                .associations()
                .iter()
                .filter_map(|a| a.subnet_id())
                .collect();
            let want: Vec<String> = tag_value(t.tags(), TAG_TARGET)
                .map(|v| {
                    v.split(',')
                        .filter(|x| !x.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            let todo: Vec<String> = want
                .into_iter()
                .filter(|w| !have.contains(&w.as_str()))
                .collect();
            assocs.extend(associate_subnets(c, client, &id, &todo).await?);
            Ok(Some(Created {
                outputs: outputs([
                    ("id", s(Some(&id))),
                    ("vpc_id", s(t.vpc_id())),
                    ("association_ids", Some(json!(assocs))),
                    ("region", reg()),
                ]),
                id,
            }))
        }
        "aws.security_group" | "core.security_group" => {
            let out = c
                .call(
                    "DescribeSecurityGroups",
                    client
                        .describe_security_groups()
                        .filters(tag_filter(token))
                        .send(),
                )
                .await?;
            let Some(g) = out.security_groups().first() else {
                return Ok(None);
            };
            let id = g.group_id().unwrap_or_default().to_string();
            if req.kind == "core.security_group" {
                authorize_core_rules(c, client, &id, &decode_rules(g.tags())).await?;
            }
            Ok(Some(Created {
                outputs: outputs([
                    ("id", s(Some(&id))),
                    ("name", s(g.group_name())),
                    ("vpc_id", s(g.vpc_id())),
                    ("region", reg()),
                ]),
                id,
            }))
        }
        "aws.security_group_rule" => {
            let out = c
                .call(
                    "DescribeSecurityGroupRules",
                    client
                        .describe_security_group_rules()
                        .filters(tag_filter(token))
                        .send(),
                )
                .await?;
            Ok(out.security_group_rules().first().map(|r| {
                let id = r.security_group_rule_id().unwrap_or_default().to_string();
                Created {
                    outputs: outputs([
                        ("id", s(Some(&id))),
                        ("security_group_id", s(r.group_id())),
                        (
                            "direction",
                            s(Some(if r.is_egress() == Some(true) {
                                "egress"
                            } else {
                                "ingress"
                            })),
                        ),
                        ("region", reg()),
                    ]),
                    id,
                }
            }))
        }
        "aws.key_pair" => find_key_pair(c, client, region, req).await,
        "aws.network_interface" => {
            let out = c
                .call(
                    "DescribeNetworkInterfaces",
                    client
                        .describe_network_interfaces()
                        .filters(tag_filter(token))
                        .send(),
                )
                .await?;
            out.network_interfaces()
                .first()
                .map(|n| nic_created(n, region))
                .transpose()
        }
        "aws.instance" | "core.server" => {
            let out = c
                .call(
                    "DescribeInstances",
                    client
                        .describe_instances()
                        .filters(tag_filter(token))
                        .filters(
                            Filter::builder()
                                .name("instance-state-name")
                                .values("pending")
                                .values("running")
                                .build(),
                        )
                        .send(),
                )
                .await?;
            let Some(inst) = out.reservations().iter().flat_map(|r| r.instances()).next() else {
                return Ok(None);
            };
            let id = inst.instance_id().unwrap_or_default().to_string();
            let mut seen = Observed::from_instance(inst);
            if seen.state != "running" {
                seen = wait_running(c, client, region, &id).await?;
            }
            Ok(Some(Created {
                outputs: instance_outputs(&id, &seen, region),
                id,
            }))
        }
        "aws.elastic_ip" | "core.public_ip" => {
            let out = c
                .call(
                    "DescribeAddresses",
                    client
                        .describe_addresses()
                        .filters(tag_filter(token))
                        .send(),
                )
                .await?;
            let Some(a) = out.addresses().first() else {
                return Ok(None);
            };
            let id = a.allocation_id().unwrap_or_default().to_string();
            let assoc = match (a.association_id(), tag_value(a.tags(), TAG_TARGET)) {
                (Some(x), _) => Some(x.to_string()),
                (None, Some(t)) => associate_eip(c, client, &id, &t).await?,
                (None, None) => None,
            };
            Ok(Some(Created {
                outputs: outputs([
                    ("id", s(Some(&id))),
                    ("ip", s(a.public_ip())),
                    ("association_id", assoc.map(Value::String)),
                    ("region", reg()),
                ]),
                id,
            }))
        }
        // Routes cannot be tagged; creating one again is idempotent (see create_route).
        _ => Ok(None),
    }
}

async fn find_key_pair(
    c: &Inner,
    client: &Client,
    region: &str,
    req: &FindRequest,
) -> Result<Option<Created>, ProvisionError> {
    let out = c
        .call(
            "DescribeKeyPairs",
            client
                .describe_key_pairs()
                .filters(tag_filter(&req.token))
                .send(),
        )
        .await?;
    let Some(k) = out.key_pairs().first() else {
        return Ok(None);
    };
    let name = k.key_name().unwrap_or_default().to_string();
    let mut file = None;
    if tag_value(k.tags(), "hoist:key-origin").as_deref() == Some("created") {
        let path = key_file(c, region, &name);
        match std::fs::read_to_string(&path) {
            Ok(m) => {
                lock(&c.private_keys).insert(name.clone(), Secret::new(m));
                file = Some(path.display().to_string());
            }
            Err(_) => {
                // The private key was lost with the interrupted run: the pair is useless.
                tracing::info!(key = %name, "deleting a key pair whose private key was lost");
                c.call_delete("DeleteKeyPair", || {
                    client.delete_key_pair().key_name(&name).send()
                })
                .await?;
                return Ok(None);
            }
        }
    }
    Ok(Some(Created {
        outputs: outputs([
            ("id", s(Some(&name))),
            ("key_name", s(Some(&name))),
            ("key_pair_id", s(k.key_pair_id())),
            ("fingerprint", s(k.key_fingerprint())),
            ("private_key_file", file.map(Value::String)),
            ("region", s(Some(region))),
        ]),
        id: name,
    }))
}

// ----------------------------------------------------------------------------------------------
// delete

/// Deletes the object of `req`: [`Deleted::Absent`] if EC2 no longer knows it (for an
/// instance: if it was already terminated). Compound objects (a network's gateway, a route
/// table's associations, an address's association) are taken apart first; the outcome is the
/// main object's.
pub(crate) async fn delete(c: &Inner, req: &DeleteRequest) -> Result<Deleted, ProvisionError> {
    let region = region_from(c, &req.outputs).await?;
    let client = c.client(&region).await;
    let id = req.id.as_str();
    let o = &req.outputs;
    match req.kind.as_str() {
        "aws.vpc" => {
            c.call_delete("DeleteVpc", || client.delete_vpc().vpc_id(id).send())
                .await
        }
        "core.network" => {
            // The gateway this proxy added (recorded, or found attached to the VPC).
            let igws: Vec<String> = match out_str(o, "internet_gateway_id") {
                Some(g) => vec![g],
                None => c
                    .call(
                        "DescribeInternetGateways",
                        client
                            .describe_internet_gateways()
                            .filters(filter("attachment.vpc-id", id))
                            .send(),
                    )
                    .await
                    .map(|out| {
                        out.internet_gateways()
                            .iter()
                            .filter(|g| tag_value(g.tags(), TAG_SYSTEM).is_some())
                            .filter_map(|g| g.internet_gateway_id().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
            };
            for g in igws {
                delete_igw(c, &client, &g, Some(id)).await?;
            }
            c.call_delete("DeleteVpc", || client.delete_vpc().vpc_id(id).send())
                .await
        }
        "aws.subnet" | "core.subnet" => {
            c.call_delete("DeleteSubnet", || {
                client.delete_subnet().subnet_id(id).send()
            })
            .await
        }
        "aws.internet_gateway" => delete_igw(c, &client, id, out_str(o, "vpc_id").as_deref()).await,
        "aws.route_table" => {
            let assocs: Vec<String> = match o.get("association_ids").and_then(Value::as_array) {
                Some(a) => a
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                None => {
                    let out = c
                        .call(
                            "DescribeRouteTables",
                            client.describe_route_tables().route_table_ids(id).send(),
                        )
                        .await;
                    match out {
                        Ok(out) => out
                            .route_tables()
                            .iter()
                            .flat_map(|t| t.associations())
                            .filter(|a| a.main() != Some(true))
                            .filter_map(|a| a.route_table_association_id().map(str::to_string))
                            .collect(),
                        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Deleted::Absent),
                        Err(e) => return Err(e),
                    }
                }
            };
            for a in assocs {
                c.call_delete("DisassociateRouteTable", || {
                    client.disassociate_route_table().association_id(&a).send()
                })
                .await?;
            }
            c.call_delete("DeleteRouteTable", || {
                client.delete_route_table().route_table_id(id).send()
            })
            .await
        }
        "aws.route" => {
            let (rtb, dest) = id
                .split_once('|')
                .ok_or_else(|| invalid(format!("bad route id {id:?}")))?;
            c.call_delete("DeleteRoute", || {
                client
                    .delete_route()
                    .route_table_id(rtb)
                    .destination_cidr_block(dest)
                    .send()
            })
            .await
        }
        "aws.security_group" | "core.security_group" => {
            c.call_delete("DeleteSecurityGroup", || {
                client.delete_security_group().group_id(id).send()
            })
            .await
        }
        "aws.security_group_rule" => {
            let group = out_str(o, "security_group_id")
                .ok_or_else(|| invalid("a rule's outputs lack its security_group_id"))?;
            if out_str(o, "direction").as_deref() == Some("egress") {
                c.call_delete("RevokeSecurityGroupEgress", || {
                    client
                        .revoke_security_group_egress()
                        .group_id(&group)
                        .security_group_rule_ids(id)
                        .send()
                })
                .await
            } else {
                c.call_delete("RevokeSecurityGroupIngress", || {
                    client
                        .revoke_security_group_ingress()
                        .group_id(&group)
                        .security_group_rule_ids(id)
                        .send()
                })
                .await
            }
        }
        "aws.key_pair" => {
            // DeleteKeyPair succeeds for a name EC2 does not know: ask first.
            let known = c
                .call(
                    "DescribeKeyPairs",
                    client.describe_key_pairs().key_names(id).send(),
                )
                .await;
            let outcome = match known {
                Err(e) if e.kind() == ErrorKind::NotFound => Deleted::Absent,
                Err(e) => return Err(e),
                Ok(_) => {
                    c.call_delete("DeleteKeyPair", || {
                        client.delete_key_pair().key_name(id).send()
                    })
                    .await?
                }
            };
            lock(&c.private_keys).remove(id);
            if out_str(o, "private_key_file").is_some() {
                let _ = std::fs::remove_file(key_file(c, &region, id));
            }
            Ok(outcome)
        }
        "aws.network_interface" => {
            c.call_delete("DeleteNetworkInterface", || {
                client
                    .delete_network_interface()
                    .network_interface_id(id)
                    .send()
            })
            .await
        }
        "aws.instance" | "core.server" => terminate(c, &client, &region, id).await,
        "aws.elastic_ip" | "core.public_ip" => {
            if let Some(a) = out_str(o, "association_id") {
                c.call_delete("DisassociateAddress", || {
                    client.disassociate_address().association_id(&a).send()
                })
                .await?;
            }
            c.call_delete("ReleaseAddress", || {
                client.release_address().allocation_id(id).send()
            })
            .await
        }
        other => Err(
            invalid(format!("the AWS proxy does not provision {other:?}"))
                .with_code("UnsupportedKind"),
        ),
    }
}

/// Terminates an instance and waits until it is gone. An instance that was already
/// terminated (it stays visible for a while) or is unknown is [`Deleted::Absent`].
async fn terminate(
    c: &Inner,
    client: &Client,
    region: &str,
    id: &str,
) -> Result<Deleted, ProvisionError> {
    let out = c
        .call(
            "TerminateInstances",
            client.terminate_instances().instance_ids(id).send(),
        )
        .await;
    let out = match out {
        Ok(out) => out,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Deleted::Absent),
        Err(e) => return Err(e),
    };
    let was_gone = out.terminating_instances().iter().any(|i| {
        i.previous_state()
            .and_then(|s| s.name())
            .is_some_and(|n| *n == aws_sdk_ec2::types::InstanceStateName::Terminated)
    });
    if was_gone {
        return Ok(Deleted::Absent);
    }
    c.poller(region)
        .wait(c, client, id, Want::Terminated, c.settings.instance_timeout)
        .await?;
    Ok(Deleted::Deleted)
}

async fn delete_igw(
    c: &Inner,
    client: &Client,
    igw: &str,
    vpc: Option<&str>,
) -> Result<Deleted, ProvisionError> {
    if let Some(v) = vpc {
        let r = c
            .call_delete("DetachInternetGateway", || {
                client
                    .detach_internet_gateway()
                    .internet_gateway_id(igw)
                    .vpc_id(v)
                    .send()
            })
            .await;
        match r {
            Ok(_) => {}
            // Not attached (any more).
            Err(e) if e.code() == Some("Gateway.NotAttached") => {}
            Err(e) => return Err(e),
        }
    }
    c.call_delete("DeleteInternetGateway", || {
        client
            .delete_internet_gateway()
            .internet_gateway_id(igw)
            .send()
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_survive_the_tag_encoding() {
        let rules = vec![
            Rule::tcp_in(80, "0.0.0.0/0"),
            Rule {
                direction: Direction::Egress,
                protocol: Protocol::All,
                from_port: 0,
                to_port: 0,
                cidr: "10.0.0.0/8".into(),
            },
        ];
        let tags: Vec<Tag> = encode_rules(&rules)
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        let back = decode_rules(&tags);
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].cidr, "0.0.0.0/0");
        assert_eq!(back[1].protocol, Protocol::All);
    }

    #[test]
    fn many_rules_are_split_over_several_tags() {
        let rules: Vec<Rule> = (0..40)
            .map(|p| Rule::tcp_in(1000 + p, "10.20.0.0/16"))
            .collect();
        let enc = encode_rules(&rules);
        assert!(enc.len() > 1);
        assert!(enc.iter().all(|(_, v)| v.len() <= 250));
        let tags: Vec<Tag> = enc
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        assert_eq!(decode_rules(&tags).len(), 40);
    }

    #[test]
    fn names_and_tokens_fit_ec2_limits() {
        assert_eq!(client_token("abc"), "abc");
        assert_eq!(client_token(&"x".repeat(100)).len(), 16);
        let n = derived_name("sys", &format!("web/{}", "a".repeat(300)));
        assert!(n.len() <= 200, "{}", n.len());
        assert_eq!(derived_name("s", "web/app[0]"), "hoist-s-web-app-0-");
        assert_eq!(key_name("k", false, "t"), "k");
        assert_ne!(key_name("k", true, "t1"), key_name("k", true, "t2"));
    }
}
