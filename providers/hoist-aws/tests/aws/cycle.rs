//! Full cycle: every AWS kind created through an orchestration, read back through the SDK and
//! through `Provisioner::read` (describes only, outputs as recorded), torn down; afterwards
//! moto holds none of the system's objects and every read says so.

use std::sync::Arc;

use aws_sdk_ec2::types::Filter;
use hoist::resource::{Direction, Protocol};
use hoist::{Model, Orchestration};
use hoist_aws as aws;
use hoist_provider::{Provisioner, ReadRequest};

use crate::support::{self, PUBLIC_KEY, tag};

/// One of every kind.
#[derive(Model)]
struct AllKinds {
    vpc: aws::Vpc,
    subnet: aws::Subnet,
    igw: aws::InternetGateway,
    rt: aws::RouteTable,
    default_route: aws::Route,
    sg: aws::SecurityGroup,
    ssh_in: aws::SecurityGroupRule,
    dns_in: aws::SecurityGroupRule,
    ping_in: aws::SecurityGroupRule,
    all_out: aws::SecurityGroupRule,
    imported: aws::KeyPair,
    created: aws::KeyPair,
    nic: aws::NetworkInterface,
    appliance_route: aws::Route,
    on_nic: aws::Instance,
    in_subnet: aws::Instance,
    nic_ip: aws::ElasticIp,
    vm_ip: aws::ElasticIp,
}

fn all_kinds(name: &str) -> AllKinds {
    let r = AllKinds::refs();
    let rule = |d, p, from, to, cidr: &str| {
        aws::SecurityGroupRule::new(r.sg.clone(), d, p, from, to, cidr)
    };
    AllKinds {
        vpc: aws::Vpc::new("10.30.0.0/16"),
        subnet: aws::Subnet::new(r.vpc.clone(), "10.30.1.0/24"),
        igw: aws::InternetGateway::new(r.vpc.clone()),
        rt: aws::RouteTable::new(r.vpc.clone(), [r.subnet.clone()]),
        default_route: aws::Route::to_gateway(r.rt.clone(), "0.0.0.0/0", r.igw.clone()),
        sg: aws::SecurityGroup::new(format!("{name}-sg").as_str(), r.vpc.clone()),
        ssh_in: aws::SecurityGroupRule::tcp_in(r.sg.clone(), 22, "0.0.0.0/0"),
        dns_in: rule(Direction::Ingress, Protocol::Udp, 53, 53, "10.30.0.0/16"),
        ping_in: rule(Direction::Ingress, Protocol::Icmp, -1, -1, "10.30.0.0/16"),
        all_out: rule(Direction::Egress, Protocol::All, 0, 0, "10.0.0.0/8"),
        imported: aws::KeyPair::import(format!("{name}-imported").as_str(), PUBLIC_KEY),
        created: aws::KeyPair::create(format!("{name}-created").as_str()).unique(),
        nic: aws::NetworkInterface::new(r.subnet.clone()).with_security_group(r.sg.clone()),
        appliance_route: aws::Route::to_interface(r.rt.clone(), "10.99.0.0/16", r.nic.clone()),
        on_nic: aws::Instance::on_interfaces("ami-12c6146b", "t3.micro", [r.nic.clone()])
            .with_key_pair(r.imported.clone()),
        in_subnet: aws::Instance::new("debian-12", "small", r.subnet.clone())
            .with_security_group(r.sg.clone())
            .with_key_pair(r.created.clone())
            .with_user_data("#!/bin/sh\necho hello\n"),
        nic_ip: aws::ElasticIp::for_interface(r.nic.clone()),
        vm_ip: aws::ElasticIp::for_instance(r.in_subnet.clone()),
    }
}

#[tokio::test]
async fn every_kind_is_created_read_back_and_torn_down() {
    let test = "every_kind_is_created_read_back_and_torn_down";
    let Some(url) = support::moto(test) else {
        return;
    };
    let cloud = support::builder(test, &url).build();
    let ec2 = support::sdk(test, &url);
    let system = "cycle";
    let orch = Orchestration::builder(system)
        .state_in_memory()
        .infra("net", all_kinds(system))
        .provisioner(Arc::new(cloud.clone()))
        .build()
        .unwrap();
    let plan = orch.plan().unwrap();
    assert_eq!(plan.resources.len(), 18);

    let report = orch.initiate_system().await.unwrap();
    assert!(report.success, "{report}");
    let state = orch.state().await.unwrap().unwrap();
    let out = |key: &str, field: &str| -> String {
        let rec = &state.resources[&format!("net/{key}")];
        rec.outputs
            .get(field)
            .and_then(|v| v.as_str())
            .unwrap_or_else(|| panic!("{key}.{field} missing: {:?}", rec.outputs))
            .to_string()
    };
    let id = |key: &str| {
        state.resources[&format!("net/{key}")]
            .provider_id
            .clone()
            .unwrap()
    };

    // VPC and subnet, tagged with the system and their model path.
    let vpcs = ec2.describe_vpcs().vpc_ids(id("vpc")).send().await.unwrap();
    let vpc = &vpcs.vpcs()[0];
    assert_eq!(vpc.cidr_block(), Some("10.30.0.0/16"));
    assert_eq!(tag(vpc.tags(), "hoist:system").as_deref(), Some(system));
    assert_eq!(
        tag(vpc.tags(), "hoist:resource").as_deref(),
        Some("net/vpc")
    );
    let sn = ec2
        .describe_subnets()
        .subnet_ids(id("subnet"))
        .send()
        .await
        .unwrap();
    assert_eq!(sn.subnets()[0].vpc_id(), Some(id("vpc").as_str()));
    assert_eq!(out("subnet", "cidr"), "10.30.1.0/24");

    // The gateway is attached; the route table is associated and has both routes.
    let igw = ec2
        .describe_internet_gateways()
        .internet_gateway_ids(id("igw"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        igw.internet_gateways()[0].attachments()[0].vpc_id(),
        Some(id("vpc").as_str())
    );
    let rt = ec2
        .describe_route_tables()
        .route_table_ids(id("rt"))
        .send()
        .await
        .unwrap();
    let rt = &rt.route_tables()[0];
    assert!(
        rt.associations()
            .iter()
            .any(|a| a.subnet_id() == Some(id("subnet").as_str()))
    );
    let routes: Vec<(Option<&str>, Option<&str>, Option<&str>)> = rt
        .routes()
        .iter()
        .map(|r| {
            (
                r.destination_cidr_block(),
                r.gateway_id(),
                r.network_interface_id(),
            )
        })
        .collect();
    assert!(
        routes.contains(&(Some("0.0.0.0/0"), Some(id("igw").as_str()), None)),
        "{routes:?}"
    );
    assert!(
        routes
            .iter()
            .any(|r| r.0 == Some("10.99.0.0/16") && r.2 == Some(id("nic").as_str())),
        "{routes:?}"
    );

    // The security group and its four rules.
    let rules = ec2
        .describe_security_group_rules()
        .filters(Filter::builder().name("group-id").values(id("sg")).build())
        .send()
        .await
        .unwrap();
    let rule_ids: Vec<&str> = rules
        .security_group_rules()
        .iter()
        .filter_map(|r| r.security_group_rule_id())
        .collect();
    for key in ["ssh_in", "dns_in", "ping_in", "all_out"] {
        assert!(
            rule_ids.contains(&id(key).as_str()),
            "{key}: {} not in {rule_ids:?}",
            id(key)
        );
    }

    // Key pairs: the unique name is what EC2 knows and what the instance was launched with.
    let created_name = id("created");
    assert!(created_name.starts_with("cycle-created-"), "{created_name}");
    let keys = ec2.describe_key_pairs().send().await.unwrap();
    let names: Vec<&str> = keys
        .key_pairs()
        .iter()
        .filter_map(|k| k.key_name())
        .collect();
    assert!(
        names.contains(&"cycle-imported") && names.contains(&created_name.as_str()),
        "{names:?}"
    );
    let pem = out("created", "private_key_file");
    let meta = std::fs::metadata(&pem).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    }
    assert!(cloud.private_key(&created_name).is_some());
    assert!(
        !format!("{state:?}").contains("PRIVATE KEY"),
        "a private key leaked into state"
    );

    // The interface records its private IP; instances record theirs and run.
    let nic = ec2
        .describe_network_interfaces()
        .network_interface_ids(id("nic"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        nic.network_interfaces()[0].private_ip_address(),
        Some(out("nic", "private_ip").as_str())
    );
    let inst = ec2
        .describe_instances()
        .instance_ids(id("on_nic"))
        .instance_ids(id("in_subnet"))
        .send()
        .await
        .unwrap();
    let insts: Vec<_> = inst
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .collect();
    assert_eq!(insts.len(), 2);
    for i in &insts {
        let key = tag(i.tags(), "hoist:resource").unwrap();
        let k = key.trim_start_matches("net/");
        assert_eq!(
            i.state().and_then(|s| s.name()).map(|n| n.as_str()),
            Some("running")
        );
        assert_eq!(
            i.private_ip_address(),
            Some(out(k, "private_ip").as_str()),
            "{key}"
        );
        let want_key = if k == "on_nic" {
            "cycle-imported".to_string()
        } else {
            created_name.clone()
        };
        assert_eq!(i.key_name(), Some(want_key.as_str()), "{key}");
    }
    assert_eq!(out("on_nic", "private_ip"), out("nic", "private_ip"));
    assert!(
        insts
            .iter()
            .any(|i| i.instance_type().map(|t| t.as_str()) == Some("t3.small"))
    );

    // Elastic IPs are associated and recorded.
    let addrs = ec2
        .describe_addresses()
        .allocation_ids(id("nic_ip"))
        .allocation_ids(id("vm_ip"))
        .send()
        .await
        .unwrap();
    assert_eq!(addrs.addresses().len(), 2);
    for a in addrs.addresses() {
        assert!(a.association_id().is_some(), "{a:?}");
        let key = if a.allocation_id() == Some(id("nic_ip").as_str()) {
            "nic_ip"
        } else {
            "vm_ip"
        };
        assert_eq!(a.public_ip(), Some(out(key, "ip").as_str()));
    }
    assert_eq!(
        addrs
            .addresses()
            .iter()
            .find(|a| a.allocation_id() == Some(id("vm_ip").as_str()))
            .unwrap()
            .instance_id(),
        Some(id("in_subnet").as_str())
    );

    assert_eq!(
        cloud.inventory(system).await.unwrap().len(),
        12,
        "{:?}",
        cloud.inventory(system).await
    );

    // Every object reads back as recorded; after teardown, none does.
    let reads: Vec<ReadRequest> = state
        .resources
        .values()
        .map(|rec| ReadRequest {
            system: system.to_string(),
            key: rec.key.clone(),
            kind: rec.kind.clone(),
            id: rec.provider_id.clone().unwrap(),
            outputs: rec.outputs.clone(),
        })
        .collect();
    let calls = cloud.calls();
    for req in &reads {
        let seen = cloud.read(req).await.unwrap();
        let seen = seen.unwrap_or_else(|| panic!("{} reads as gone", req.key));
        assert_eq!(seen.id, req.id, "{}", req.key);
        let differs: Vec<&String> = req
            .outputs
            .iter()
            .filter(|(k, v)| seen.outputs.get(*k) != Some(v))
            .map(|(k, _)| k)
            .collect();
        if req.key == "net/in_subnet" {
            // Its Elastic IP, associated after it was recorded, is its public address now.
            assert_eq!(differs, ["ip"], "{:?}", seen.outputs);
            assert_eq!(
                seen.outputs["ip"].as_str(),
                Some(out("vm_ip", "ip").as_str())
            );
        } else {
            assert!(differs.is_empty(), "{}: {:?}", req.key, seen.outputs);
        }
    }
    let after = cloud.calls();
    let reading: Vec<&String> = after
        .iter()
        .filter(|(op, n)| calls.get(*op) != Some(n))
        .map(|(op, _)| op)
        .collect();
    assert!(
        reading.iter().all(|op| op.starts_with("Describe")),
        "a read only describes: {reading:?}"
    );

    // Teardown from state leaves nothing of the system behind.
    let down = orch.teardown_system().await.unwrap();
    assert!(down.success, "{down}");
    for req in &reads {
        let seen = cloud.read(req).await.unwrap();
        assert!(seen.is_none(), "{} still reads as {seen:?}", req.key);
    }
    let left = cloud.inventory(system).await.unwrap();
    assert!(left.is_empty(), "left behind: {left:?}");
    let vpcs = ec2
        .describe_vpcs()
        .filters(
            Filter::builder()
                .name("tag:hoist:system")
                .values(system)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(vpcs.vpcs().is_empty());
    assert!(
        !std::path::Path::new(&pem).exists(),
        "the private key file outlived its key pair"
    );
    // A second teardown has nothing to do.
    assert!(orch.teardown_system().await.unwrap().success);
}

/// A resource's region overrides the proxy's default region.
#[tokio::test]
async fn a_resource_can_live_in_another_region() {
    let test = "a_resource_can_live_in_another_region";
    let Some(url) = support::moto(test) else {
        return;
    };
    let cloud = support::builder(test, &url).build();
    #[derive(Model)]
    struct Two {
        east: aws::Vpc,
        west: aws::Vpc,
    }
    let orch = Orchestration::builder("regions")
        .state_in_memory()
        .infra(
            "m",
            Two {
                east: aws::Vpc::new("10.1.0.0/16"),
                west: aws::Vpc::new("10.2.0.0/16").in_region("eu-west-1"),
            },
        )
        .provisioner(Arc::new(cloud.clone()))
        .build()
        .unwrap();
    let report = orch.initiate_system().await.unwrap();
    assert!(report.success, "{report}");
    let state = orch.state().await.unwrap().unwrap();
    assert_eq!(state.resources["m/west"].outputs["region"], "eu-west-1");
    assert_eq!(state.resources["m/east"].outputs["region"], "us-east-1");
    let inv = cloud.inventory("regions").await.unwrap();
    assert!(inv.iter().any(|o| o.region == "eu-west-1"), "{inv:?}");
    assert!(orch.teardown_system().await.unwrap().success);
    assert!(cloud.inventory("regions").await.unwrap().is_empty());
}
