//! The AWS resource kinds (`aws.vpc`, `aws.subnet`, …), each a plain struct that serializes to
//! its spec, with typed outputs.
//!
//! References to other resources are [`Ref`]s (a dependency edge: the planner orders the
//! creates, and the proxy receives the referenced object's id); values that may be another
//! resource's output are [`Val`]s. Every kind takes an optional `region` (the proxy's default
//! region otherwise) and an optional `cloud` (the proxy name, when several AWS proxies are
//! given to one orchestration).

use hoist_core::resource::{Direction, Protocol, check_val_cidr};
use hoist_core::{Addressable, Ref, RefPath, Resource, Val, resource_outputs};
use serde::{Deserialize, Serialize};

/// Every kind this crate defines, plus the core kinds the proxy maps.
pub const KINDS: &[&str] = &[
    Vpc::KIND,
    Subnet::KIND,
    InternetGateway::KIND,
    RouteTable::KIND,
    Route::KIND,
    SecurityGroup::KIND,
    SecurityGroupRule::KIND,
    KeyPair::KIND,
    NetworkInterface::KIND,
    Instance::KIND,
    ElasticIp::KIND,
    "core.network",
    "core.subnet",
    "core.security_group",
    "core.server",
    "core.public_ip",
];

fn check_nonempty(field: &str, v: &Val<String>, out: &mut Vec<String>) {
    if v.get().is_some_and(|s| s.trim().is_empty()) {
        out.push(format!("{field}: must not be empty"));
    }
}

macro_rules! common_impls {
    ($t:ty) => {
        impl $t {
            /// Creates it in `region` instead of the proxy's default region.
            #[must_use]
            pub fn in_region(mut self, region: impl Into<String>) -> Self {
                self.region = Some(region.into());
                self
            }

            /// Pins the provisioner proxy named `cloud`.
            #[must_use]
            pub fn on_cloud(mut self, cloud: impl Into<String>) -> Self {
                self.cloud = Some(cloud.into());
                self
            }
        }
    };
}

// ----------------------------------------------------------------------------------------------

/// A VPC (`aws.vpc`).
///
/// ```
/// use hoist_aws::Vpc;
/// use hoist_core::Resource;
/// assert!(Vpc::new("10.0.0.0/16").validate().is_empty());
/// assert_eq!(Vpc::new("10.0.0.1/16").validate().len(), 1);
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Vpc {
    /// IPv4 range, e.g. `10.0.0.0/16`.
    pub cidr: Val<String>,
    /// Instance tenancy: `default` or `dedicated`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenancy: Option<String>,
    /// Region, if not the proxy's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Provisioner proxy name, if pinned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud: Option<String>,
}

impl Vpc {
    /// A VPC with range `cidr`.
    pub fn new(cidr: impl Into<Val<String>>) -> Self {
        Vpc {
            cidr: cidr.into(),
            tenancy: None,
            region: None,
            cloud: None,
        }
    }
}
common_impls!(Vpc);

resource_outputs!(VpcOutputs {
    id: String,
    cidr: String,
    region: String
});

impl Resource for Vpc {
    const KIND: &'static str = "aws.vpc";
    type Outputs = VpcOutputs;
    fn outputs(at: RefPath) -> VpcOutputs {
        VpcOutputs::at(at)
    }
    fn validate(&self) -> Vec<String> {
        let mut v = Vec::new();
        check_val_cidr("cidr", &self.cidr, &mut v);
        if let Some(t) = &self.tenancy
            && t != "default"
            && t != "dedicated"
        {
            v.push(format!("tenancy: {t:?} is not `default` or `dedicated`"));
        }
        v
    }
    fn cloud(&self) -> Option<&str> {
        self.cloud.as_deref()
    }
}

/// A subnet of a [`Vpc`] (`aws.subnet`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Subnet {
    /// The VPC.
    pub vpc: Ref<Vpc>,
    /// IPv4 range inside the VPC's.
    pub cidr: Val<String>,
    /// Availability zone (the cloud picks one if unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
    /// Give instances launched here a public IPv4 address.
    #[serde(default)]
    pub map_public_ip_on_launch: bool,
    /// Region, if not the proxy's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Provisioner proxy name, if pinned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud: Option<String>,
}

impl Subnet {
    /// A subnet of `vpc` with range `cidr`.
    pub fn new(vpc: Ref<Vpc>, cidr: impl Into<Val<String>>) -> Self {
        Subnet {
            vpc,
            cidr: cidr.into(),
            availability_zone: None,
            map_public_ip_on_launch: false,
            region: None,
            cloud: None,
        }
    }
}
common_impls!(Subnet);

resource_outputs!(SubnetOutputs {
    id: String,
    cidr: String,
    vpc_id: String,
    availability_zone: String,
    region: String
});

impl Resource for Subnet {
    const KIND: &'static str = "aws.subnet";
    type Outputs = SubnetOutputs;
    fn outputs(at: RefPath) -> SubnetOutputs {
        SubnetOutputs::at(at)
    }
    fn validate(&self) -> Vec<String> {
        let mut v = Vec::new();
        check_val_cidr("cidr", &self.cidr, &mut v);
        v
    }
    fn cloud(&self) -> Option<&str> {
        self.cloud.as_deref()
    }
}

/// An internet gateway, created and attached to a [`Vpc`] (`aws.internet_gateway`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InternetGateway {
    /// The VPC it is attached to.
    pub vpc: Ref<Vpc>,
    /// Region, if not the proxy's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Provisioner proxy name, if pinned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud: Option<String>,
}

impl InternetGateway {
    /// A gateway attached to `vpc`.
    pub fn new(vpc: Ref<Vpc>) -> Self {
        InternetGateway {
            vpc,
            region: None,
            cloud: None,
        }
    }
}
common_impls!(InternetGateway);

resource_outputs!(InternetGatewayOutputs {
    id: String,
    vpc_id: String,
    region: String
});

impl Resource for InternetGateway {
    const KIND: &'static str = "aws.internet_gateway";
    type Outputs = InternetGatewayOutputs;
    fn outputs(at: RefPath) -> InternetGatewayOutputs {
        InternetGatewayOutputs::at(at)
    }
    fn cloud(&self) -> Option<&str> {
        self.cloud.as_deref()
    }
}

/// A route table of a [`Vpc`], created and associated with subnets (`aws.route_table`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RouteTable {
    /// The VPC.
    pub vpc: Ref<Vpc>,
    /// The subnets it is associated with.
    #[serde(default)]
    pub subnets: Vec<Ref<Subnet>>,
    /// Region, if not the proxy's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Provisioner proxy name, if pinned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud: Option<String>,
}

impl RouteTable {
    /// A route table of `vpc`, associated with `subnets`.
    pub fn new(vpc: Ref<Vpc>, subnets: impl IntoIterator<Item = Ref<Subnet>>) -> Self {
        RouteTable {
            vpc,
            subnets: subnets.into_iter().collect(),
            region: None,
            cloud: None,
        }
    }
}
common_impls!(RouteTable);

resource_outputs!(RouteTableOutputs {
    id: String,
    vpc_id: String,
    association_ids: Vec<String>,
    region: String
});

impl Resource for RouteTable {
    const KIND: &'static str = "aws.route_table";
    type Outputs = RouteTableOutputs;
    fn outputs(at: RefPath) -> RouteTableOutputs {
        RouteTableOutputs::at(at)
    }
    fn cloud(&self) -> Option<&str> {
        self.cloud.as_deref()
    }
}

/// A route in a [`RouteTable`] (`aws.route`), to exactly one target: an internet gateway, a
/// NAT gateway (by id) or a network interface.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Route {
    /// The route table.
    pub route_table: Ref<RouteTable>,
    /// Destination range, e.g. `0.0.0.0/0`.
    pub destination: Val<String>,
    /// Target: an internet gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<Ref<InternetGateway>>,
    /// Target: a NAT gateway id (`nat-…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat_gateway_id: Option<Val<String>>,
    /// Target: a network interface (a NAT instance, an appliance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_interface: Option<Ref<NetworkInterface>>,
    /// Region, if not the proxy's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Provisioner proxy name, if pinned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud: Option<String>,
}

impl Route {
    /// A route to `destination` through the internet gateway `gateway`.
    pub fn to_gateway(
        route_table: Ref<RouteTable>,
        destination: impl Into<Val<String>>,
        gateway: Ref<InternetGateway>,
    ) -> Self {
        Route {
            route_table,
            destination: destination.into(),
            gateway: Some(gateway),
            nat_gateway_id: None,
            network_interface: None,
            region: None,
            cloud: None,
        }
    }

    /// A route to `destination` through the NAT gateway `nat_gateway_id`.
    pub fn to_nat_gateway(
        route_table: Ref<RouteTable>,
        destination: impl Into<Val<String>>,
        nat_gateway_id: impl Into<Val<String>>,
    ) -> Self {
        Route {
            route_table,
            destination: destination.into(),
            gateway: None,
            nat_gateway_id: Some(nat_gateway_id.into()),
            network_interface: None,
            region: None,
            cloud: None,
        }
    }

    /// A route to `destination` through the network interface `nic`.
    pub fn to_interface(
        route_table: Ref<RouteTable>,
        destination: impl Into<Val<String>>,
        nic: Ref<NetworkInterface>,
    ) -> Self {
        Route {
            route_table,
            destination: destination.into(),
            gateway: None,
            nat_gateway_id: None,
            network_interface: Some(nic),
            region: None,
            cloud: None,
        }
    }
}
common_impls!(Route);

resource_outputs!(RouteOutputs {
    id: String,
    route_table_id: String,
    destination: String,
    region: String
});

impl Resource for Route {
    const KIND: &'static str = "aws.route";
    type Outputs = RouteOutputs;
    fn outputs(at: RefPath) -> RouteOutputs {
        RouteOutputs::at(at)
    }
    fn validate(&self) -> Vec<String> {
        let mut v = Vec::new();
        check_val_cidr("destination", &self.destination, &mut v);
        let targets = usize::from(self.gateway.is_some())
            + usize::from(self.nat_gateway_id.is_some())
            + usize::from(self.network_interface.is_some());
        if targets != 1 {
            v.push(format!(
                "a route needs exactly one target (gateway, nat_gateway_id or network_interface), it has {targets}"
            ));
        }
        v
    }
    fn cloud(&self) -> Option<&str> {
        self.cloud.as_deref()
    }
}

/// A security group of a [`Vpc`] (`aws.security_group`). Rules are [`SecurityGroupRule`]s.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SecurityGroup {
    /// Group name (unique in the VPC).
    pub name: Val<String>,
    /// Description (EC2 requires one).
    pub description: String,
    /// The VPC.
    pub vpc: Ref<Vpc>,
    /// Region, if not the proxy's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Provisioner proxy name, if pinned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud: Option<String>,
}

impl SecurityGroup {
    /// A group named `name` in `vpc`.
    pub fn new(name: impl Into<Val<String>>, vpc: Ref<Vpc>) -> Self {
        SecurityGroup {
            name: name.into(),
            description: "managed by hoist".into(),
            vpc,
            region: None,
            cloud: None,
        }
    }
}
common_impls!(SecurityGroup);

resource_outputs!(SecurityGroupOutputs {
    id: String,
    name: String,
    vpc_id: String,
    region: String
});

impl Resource for SecurityGroup {
    const KIND: &'static str = "aws.security_group";
    type Outputs = SecurityGroupOutputs;
    fn outputs(at: RefPath) -> SecurityGroupOutputs {
        SecurityGroupOutputs::at(at)
    }
    fn validate(&self) -> Vec<String> {
        let mut v = Vec::new();
        check_nonempty("name", &self.name, &mut v);
        if let Some(n) = self.name.get()
            && n.starts_with("sg-")
        {
            v.push(format!("name: {n:?} must not start with `sg-`"));
        }
        if self.description.trim().is_empty() {
            v.push("description: must not be empty".into());
        }
        v
    }
    fn cloud(&self) -> Option<&str> {
        self.cloud.as_deref()
    }
}

/// One rule of a [`SecurityGroup`] (`aws.security_group_rule`): ingress or egress; TCP, UDP,
/// ICMP or all traffic; from an address range or another group.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SecurityGroupRule {
    /// The group the rule belongs to.
    pub security_group: Ref<SecurityGroup>,
    /// Ingress or egress.
    pub direction: Direction,
    /// Protocol.
    pub protocol: Protocol,
    /// First port (for ICMP: the ICMP type, -1 for all); ignored for `All`.
    pub from_port: i32,
    /// Last port (for ICMP: the ICMP code, -1 for all); ignored for `All`.
    pub to_port: i32,
    /// Peer address range (exactly one of `cidr` and `peer_group`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<Val<String>>,
    /// Peer security group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_group: Option<Ref<SecurityGroup>>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Region, if not the proxy's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Provisioner proxy name, if pinned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud: Option<String>,
}

impl SecurityGroupRule {
    /// A rule of `group` for `protocol` ports `from..=to`, with peer range `cidr`.
    pub fn new(
        group: Ref<SecurityGroup>,
        direction: Direction,
        protocol: Protocol,
        from_port: i32,
        to_port: i32,
        cidr: impl Into<Val<String>>,
    ) -> Self {
        SecurityGroupRule {
            security_group: group,
            direction,
            protocol,
            from_port,
            to_port,
            cidr: Some(cidr.into()),
            peer_group: None,
            description: None,
            region: None,
            cloud: None,
        }
    }

    /// Allow incoming TCP on `port` from `cidr`.
    pub fn tcp_in(group: Ref<SecurityGroup>, port: u16, cidr: &str) -> Self {
        let p = i32::from(port);
        Self::new(group, Direction::Ingress, Protocol::Tcp, p, p, cidr)
    }
}
common_impls!(SecurityGroupRule);

resource_outputs!(SecurityGroupRuleOutputs {
    id: String,
    security_group_id: String,
    region: String
});

impl Resource for SecurityGroupRule {
    const KIND: &'static str = "aws.security_group_rule";
    type Outputs = SecurityGroupRuleOutputs;
    fn outputs(at: RefPath) -> SecurityGroupRuleOutputs {
        SecurityGroupRuleOutputs::at(at)
    }
    fn validate(&self) -> Vec<String> {
        let mut v = Vec::new();
        match (&self.cidr, &self.peer_group) {
            (Some(c), None) => check_val_cidr("cidr", c, &mut v),
            (None, Some(_)) => {}
            _ => v.push("a rule needs exactly one of `cidr` and `peer_group`".into()),
        }
        match self.protocol {
            Protocol::Tcp | Protocol::Udp => {
                if !(0..=65535).contains(&self.from_port) || !(0..=65535).contains(&self.to_port) {
                    v.push("ports must be 0..=65535".into());
                } else if self.from_port > self.to_port {
                    v.push(format!(
                        "from_port {} is above to_port {}",
                        self.from_port, self.to_port
                    ));
                }
            }
            Protocol::Icmp => {
                if !(-1..=255).contains(&self.from_port) || !(-1..=255).contains(&self.to_port) {
                    v.push("ICMP type and code must be -1..=255".into());
                }
            }
            Protocol::All => {}
        }
        v
    }
    fn cloud(&self) -> Option<&str> {
        self.cloud.as_deref()
    }
}

/// An EC2 key pair (`aws.key_pair`): imports a public key, or has EC2 create one and keeps the
/// private key as a secret (a mode-600 file in the proxy's key directory, never in state).
///
/// The name EC2 knows the key by is the `id` output (and the `key_name` output): with
/// `unique`, the name gets a suffix derived from the resource's idempotency token, and that
/// suffixed name is what an [`Instance`] referring to the key is launched with (Actuator
/// passed the unsuffixed name).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeyPair {
    /// The key's name.
    pub name: Val<String>,
    /// An OpenSSH public key to import; `None` to have EC2 create the pair.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<Val<String>>,
    /// Append a suffix unique to this system and resource to the name.
    #[serde(default)]
    pub unique: bool,
    /// Key type for created keys: `ed25519` (default) or `rsa`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_type: Option<String>,
    /// Region, if not the proxy's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Provisioner proxy name, if pinned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud: Option<String>,
}

impl KeyPair {
    /// Imports `public_key` (OpenSSH format) as `name`.
    pub fn import(name: impl Into<Val<String>>, public_key: impl Into<Val<String>>) -> Self {
        KeyPair {
            name: name.into(),
            public_key: Some(public_key.into()),
            unique: false,
            key_type: None,
            region: None,
            cloud: None,
        }
    }

    /// Has EC2 create a key pair named `name`; the private key is kept as a secret.
    pub fn create(name: impl Into<Val<String>>) -> Self {
        KeyPair {
            name: name.into(),
            public_key: None,
            unique: false,
            key_type: None,
            region: None,
            cloud: None,
        }
    }

    /// Makes the name unique to this system and resource.
    #[must_use]
    pub fn unique(mut self) -> Self {
        self.unique = true;
        self
    }
}
common_impls!(KeyPair);

resource_outputs!(KeyPairOutputs {
    id: String,
    key_name: String,
    key_pair_id: String,
    fingerprint: String,
    private_key_file: String,
    region: String
});

impl Resource for KeyPair {
    const KIND: &'static str = "aws.key_pair";
    type Outputs = KeyPairOutputs;
    fn outputs(at: RefPath) -> KeyPairOutputs {
        KeyPairOutputs::at(at)
    }
    fn validate(&self) -> Vec<String> {
        let mut v = Vec::new();
        check_nonempty("name", &self.name, &mut v);
        if let Some(k) = self.public_key.as_ref().and_then(Val::get)
            && !k.trim_start().starts_with("ssh-")
            && !k.trim_start().starts_with("ecdsa-")
        {
            v.push("public_key: not an OpenSSH public key".into());
        }
        if let Some(t) = &self.key_type
            && t != "ed25519"
            && t != "rsa"
        {
            v.push(format!("key_type: {t:?} is not `ed25519` or `rsa`"));
        }
        v
    }
    fn cloud(&self) -> Option<&str> {
        self.cloud.as_deref()
    }
}

/// A network interface in a [`Subnet`] (`aws.network_interface`); records its private IP.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NetworkInterface {
    /// The subnet.
    pub subnet: Ref<Subnet>,
    /// Security groups.
    #[serde(default)]
    pub security_groups: Vec<Ref<SecurityGroup>>,
    /// A fixed private address (the cloud picks one if unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_ip: Option<Val<String>>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Region, if not the proxy's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Provisioner proxy name, if pinned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud: Option<String>,
}

impl NetworkInterface {
    /// An interface in `subnet`.
    pub fn new(subnet: Ref<Subnet>) -> Self {
        NetworkInterface {
            subnet,
            security_groups: Vec::new(),
            private_ip: None,
            description: None,
            region: None,
            cloud: None,
        }
    }

    /// Adds a security group.
    #[must_use]
    pub fn with_security_group(mut self, sg: Ref<SecurityGroup>) -> Self {
        self.security_groups.push(sg);
        self
    }
}
common_impls!(NetworkInterface);

resource_outputs!(NetworkInterfaceOutputs {
    id: String,
    private_ip: String,
    subnet_id: String,
    mac_address: String,
    region: String
});

impl Resource for NetworkInterface {
    const KIND: &'static str = "aws.network_interface";
    type Outputs = NetworkInterfaceOutputs;
    fn outputs(at: RefPath) -> NetworkInterfaceOutputs {
        NetworkInterfaceOutputs::at(at)
    }
    fn validate(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(ip) = self.private_ip.as_ref().and_then(Val::get)
            && ip.parse::<std::net::Ipv4Addr>().is_err()
        {
            v.push(format!("private_ip: {ip:?} is not an IPv4 address"));
        }
        v
    }
    fn cloud(&self) -> Option<&str> {
        self.cloud.as_deref()
    }
}

/// An EC2 instance (`aws.instance`): launched into a subnet or onto network interfaces, and
/// waited for until it runs (bounded by the proxy's instance timeout). Records its private
/// and public addresses: `ip` is the public address if it has one, else the private one.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Instance {
    /// AMI id (`ami-…`), or an image alias known to the proxy.
    pub image: Val<String>,
    /// Instance type (`t3.micro`), or a size alias known to the proxy.
    pub instance_type: Val<String>,
    /// Key pair to install.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_pair: Option<Ref<KeyPair>>,
    /// Security groups (with `subnet`; interfaces carry their own).
    #[serde(default)]
    pub security_groups: Vec<Ref<SecurityGroup>>,
    /// The subnet (exactly one of `subnet` and `network_interfaces`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<Ref<Subnet>>,
    /// Interfaces to attach at launch, in device order.
    #[serde(default)]
    pub network_interfaces: Vec<Ref<NetworkInterface>>,
    /// A fixed private address (with `subnet`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_ip: Option<Val<String>>,
    /// Boot-time user data (plain text; encoded by the proxy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<Val<String>>,
    /// Region, if not the proxy's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Provisioner proxy name, if pinned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud: Option<String>,
}

impl Instance {
    /// An instance of `image` and `instance_type` in `subnet`.
    pub fn new(
        image: impl Into<Val<String>>,
        instance_type: impl Into<Val<String>>,
        subnet: Ref<Subnet>,
    ) -> Self {
        Instance {
            image: image.into(),
            instance_type: instance_type.into(),
            key_pair: None,
            security_groups: Vec::new(),
            subnet: Some(subnet),
            network_interfaces: Vec::new(),
            private_ip: None,
            user_data: None,
            region: None,
            cloud: None,
        }
    }

    /// An instance of `image` and `instance_type` on the interfaces `nics`.
    pub fn on_interfaces(
        image: impl Into<Val<String>>,
        instance_type: impl Into<Val<String>>,
        nics: impl IntoIterator<Item = Ref<NetworkInterface>>,
    ) -> Self {
        Instance {
            image: image.into(),
            instance_type: instance_type.into(),
            key_pair: None,
            security_groups: Vec::new(),
            subnet: None,
            network_interfaces: nics.into_iter().collect(),
            private_ip: None,
            user_data: None,
            region: None,
            cloud: None,
        }
    }

    /// Installs `key`.
    #[must_use]
    pub fn with_key_pair(mut self, key: Ref<KeyPair>) -> Self {
        self.key_pair = Some(key);
        self
    }

    /// Adds a security group.
    #[must_use]
    pub fn with_security_group(mut self, sg: Ref<SecurityGroup>) -> Self {
        self.security_groups.push(sg);
        self
    }

    /// Sets the user data.
    #[must_use]
    pub fn with_user_data(mut self, data: impl Into<Val<String>>) -> Self {
        self.user_data = Some(data.into());
        self
    }
}
common_impls!(Instance);

resource_outputs!(InstanceOutputs {
    id: String,
    ip: String,
    private_ip: String,
    public_ip: String,
    availability_zone: String,
    region: String
});

impl Resource for Instance {
    const KIND: &'static str = "aws.instance";
    const ADDRESS_OUTPUT: Option<&'static str> = Some("ip");
    type Outputs = InstanceOutputs;
    fn outputs(at: RefPath) -> InstanceOutputs {
        InstanceOutputs::at(at)
    }
    fn validate(&self) -> Vec<String> {
        let mut v = Vec::new();
        check_nonempty("image", &self.image, &mut v);
        check_nonempty("instance_type", &self.instance_type, &mut v);
        match (self.subnet.is_some(), self.network_interfaces.is_empty()) {
            (true, false) => v.push(
                "give either `subnet` or `network_interfaces`, not both (an interface has its own subnet)"
                    .into(),
            ),
            (false, true) => v.push("an instance needs a `subnet` or `network_interfaces`".into()),
            _ => {}
        }
        if !self.network_interfaces.is_empty() && !self.security_groups.is_empty() {
            v.push(
                "security groups of an instance launched on interfaces belong on the interfaces"
                    .into(),
            );
        }
        v
    }
    fn cloud(&self) -> Option<&str> {
        self.cloud.as_deref()
    }
}
impl Addressable for Instance {}

/// An Elastic IP (`aws.elastic_ip`): allocated, and associated with an instance or a network
/// interface (or neither). Records the address.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ElasticIp {
    /// Associate with this instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<Ref<Instance>>,
    /// Associate with this network interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_interface: Option<Ref<NetworkInterface>>,
    /// Region, if not the proxy's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Provisioner proxy name, if pinned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud: Option<String>,
}

impl ElasticIp {
    /// An address associated with `instance`.
    pub fn for_instance(instance: Ref<Instance>) -> Self {
        ElasticIp {
            instance: Some(instance),
            network_interface: None,
            region: None,
            cloud: None,
        }
    }

    /// An address associated with the interface `nic`.
    pub fn for_interface(nic: Ref<NetworkInterface>) -> Self {
        ElasticIp {
            instance: None,
            network_interface: Some(nic),
            region: None,
            cloud: None,
        }
    }
}
common_impls!(ElasticIp);

resource_outputs!(ElasticIpOutputs {
    id: String,
    ip: String,
    association_id: String,
    region: String
});

impl Resource for ElasticIp {
    const KIND: &'static str = "aws.elastic_ip";
    const ADDRESS_OUTPUT: Option<&'static str> = Some("ip");
    type Outputs = ElasticIpOutputs;
    fn outputs(at: RefPath) -> ElasticIpOutputs {
        ElasticIpOutputs::at(at)
    }
    fn validate(&self) -> Vec<String> {
        if self.instance.is_some() && self.network_interface.is_some() {
            vec!["associate with an instance or a network interface, not both".into()]
        } else {
            Vec::new()
        }
    }
    fn cloud(&self) -> Option<&str> {
        self.cloud.as_deref()
    }
}
impl Addressable for ElasticIp {}
