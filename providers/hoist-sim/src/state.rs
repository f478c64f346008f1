//! The simulated cloud's in-memory state: objects, id counters, address pools, the token index
//! and the reverse dependency index. Everything here is synchronous; the async proxy in
//! [`crate::cloud`] adds latency, faults and bookkeeping around it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use hoist_core::resource::{check_cidr, subnet_within_network};
use hoist_core::{Network, PublicIp, SecurityGroup, Server, Subnet};
use hoist_provider::{
    CreateRequest, Created, DeleteRequest, ErrorKind, OutputMap, ProvisionError, UpdateRequest,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{IMAGES, MARKER_FILE, SIZES, SimObject};

/// The resource kinds the simulated cloud provisions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) enum Kind {
    Network,
    Subnet,
    SecurityGroup,
    Server,
    PublicIp,
}

impl Kind {
    pub(crate) const ALL: [Kind; 5] = [
        Kind::Network,
        Kind::Subnet,
        Kind::SecurityGroup,
        Kind::Server,
        Kind::PublicIp,
    ];

    pub(crate) fn parse(kind: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == kind)
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Network => "core.network",
            Kind::Subnet => "core.subnet",
            Kind::SecurityGroup => "core.security_group",
            Kind::Server => "core.server",
            Kind::PublicIp => "core.public_ip",
        }
    }

    fn id_prefix(self) -> &'static str {
        match self {
            Kind::Network => "net",
            Kind::Subnet => "subnet",
            Kind::SecurityGroup => "sg",
            Kind::Server => "srv",
            Kind::PublicIp => "pip",
        }
    }
}

/// A pool of addresses handed out lowest-free-first: fresh pools allocate in order, released
/// addresses are reused before new ones. Offsets are relative to the pool's first address.
#[derive(Debug, Serialize, Deserialize)]
struct Pool {
    len: u64,
    next: u64,
    free: BTreeSet<u64>,
}

impl Pool {
    fn new(len: u64) -> Self {
        Pool {
            len,
            next: 0,
            free: BTreeSet::new(),
        }
    }

    fn alloc(&mut self) -> Option<u64> {
        if let Some(o) = self.free.pop_first() {
            return Some(o);
        }
        (self.next < self.len).then(|| {
            self.next += 1;
            self.next - 1
        })
    }

    fn release(&mut self, offset: u64) {
        if offset < self.next {
            self.free.insert(offset);
        }
    }
}

/// The documentation ranges public IPs come from, in order (RFC 5737: never routable).
const PUBLIC_RANGES: [[u8; 3]; 3] = [[203, 0, 113], [198, 51, 100], [192, 0, 2]];
/// Usable hosts per public range (.1 to .254).
const PUBLIC_PER_RANGE: u64 = 254;
/// Addresses a subnet reserves at its start (network address, router, DNS, future use), as
/// AWS does; the broadcast address is reserved too.
const SUBNET_RESERVED_LOW: u64 = 4;

fn public_address(offset: u64) -> Ipv4Addr {
    let [a, b, c] = PUBLIC_RANGES[(offset / PUBLIC_PER_RANGE) as usize];
    Ipv4Addr::new(a, b, c, (1 + offset % PUBLIC_PER_RANGE) as u8)
}

/// An IPv4 block: base address and prefix length.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct Block {
    base: u32,
    prefix: u8,
}

impl Block {
    fn parse(field: &str, cidr: &str) -> Result<Block, ProvisionError> {
        let (addr, prefix) = check_cidr(cidr).map_err(|e| invalid(format!("{field}: {e}")))?;
        Ok(Block {
            base: u32::from(addr),
            prefix,
        })
    }

    fn size(self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }

    fn last(self) -> u64 {
        u64::from(self.base) + self.size() - 1
    }

    fn overlaps(self, other: Block) -> bool {
        u64::from(self.base) <= other.last() && u64::from(other.base) <= self.last()
    }
}

impl std::fmt::Display for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }
}

/// Kind-specific state of an object.
#[derive(Debug, Serialize, Deserialize)]
enum Detail {
    Network,
    Subnet {
        block: Block,
        network: String,
        pool: Pool,
    },
    SecurityGroup {
        network: String,
    },
    Server {
        subnet: String,
        offset: u64,
        dir: PathBuf,
        public_ip: Option<String>,
    },
    PublicIp {
        server: String,
        offset: u64,
    },
}

/// One object in the simulated cloud.
#[derive(Debug, Serialize, Deserialize)]
struct Obj {
    seq: u64,
    id: String,
    kind: Kind,
    key: String,
    token: String,
    tags: BTreeMap<String, String>,
    spec: Value,
    outputs: OutputMap,
    /// Ids of the objects this one depends on.
    deps: Vec<String>,
    detail: Detail,
}

impl Obj {
    fn created(&self) -> Created {
        Created {
            id: self.id.clone(),
            outputs: self.outputs.clone(),
        }
    }

    fn snapshot(&self) -> SimObject {
        SimObject {
            id: self.id.clone(),
            kind: self.kind.as_str().to_string(),
            key: self.key.clone(),
            token: self.token.clone(),
            tags: self.tags.clone(),
            spec: self.spec.clone(),
            outputs: self.outputs.clone(),
        }
    }
}

/// The whole in-memory cloud.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct State {
    /// The store's identity (what [`Provisioner::identity`](hoist_provider::Provisioner::identity)
    /// reports): made once, when the store is first used, and kept in its file.
    #[serde(default)]
    pub(crate) id: Option<String>,
    seq: u64,
    objects: HashMap<String, Obj>,
    by_token: HashMap<String, String>,
    /// id -> ids of the objects that depend on it.
    dependents: HashMap<String, BTreeSet<String>>,
    counters: HashMap<Kind, u64>,
    public_pool: Pool,
}

fn invalid(msg: impl Into<String>) -> ProvisionError {
    ProvisionError::new(ErrorKind::InvalidSpec, msg).with_code("InvalidParameterValue")
}

fn not_found(msg: impl Into<String>) -> ProvisionError {
    ProvisionError::new(ErrorKind::NotFound, msg).with_code("NotFound")
}

fn io_error(what: &str, path: &Path, e: &std::io::Error) -> ProvisionError {
    ProvisionError::new(ErrorKind::Other, format!("{what} {}: {e}", path.display()))
        .with_code("SandboxError")
}

fn parse_spec<T: DeserializeOwned>(kind: Kind, spec: &Value) -> Result<T, ProvisionError> {
    serde_json::from_value(spec.clone())
        .map_err(|e| invalid(format!("bad {} spec: {e}", kind.as_str())))
}

fn lit<'a>(field: &str, v: &'a hoist_core::Val<String>) -> Result<&'a str, ProvisionError> {
    v.get()
        .map(String::as_str)
        .ok_or_else(|| invalid(format!("{field}: value is not resolved")))
}

fn ref_id<'a, T>(field: &str, r: &'a hoist_core::Ref<T>) -> Result<&'a str, ProvisionError> {
    r.resolved_id()
        .ok_or_else(|| invalid(format!("{field}: reference is not resolved")))
}

/// The checks [`Provisioner::check`](hoist_provider::Provisioner::check) runs: only literal
/// values are checked (placeholders are resolved later).
pub(crate) fn check_spec(kind: &str, spec: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if kind == Kind::Server.as_str() {
        if let Some(image) = spec.get("image").and_then(Value::as_str)
            && let Some(msg) = image_problem(image)
        {
            out.push(format!("image: {msg}"));
        }
        if let Some(size) = spec.get("size").and_then(Value::as_str)
            && let Some(msg) = size_problem(size)
        {
            out.push(format!("size: {msg}"));
        }
    }
    out
}

fn image_problem(image: &str) -> Option<String> {
    (!IMAGES.contains(&image))
        .then(|| format!("unknown image {image:?} (known: {})", IMAGES.join(", ")))
}

fn size_problem(size: &str) -> Option<String> {
    (!SIZES.contains(&size)).then(|| format!("unknown size {size:?} (known: {})", SIZES.join(", ")))
}

/// Reads the id a sandbox marker file names, if the directory is a sim server sandbox.
pub(crate) fn marker_id(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(MARKER_FILE)).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    v.get("id").and_then(Value::as_str).map(str::to_string)
}

fn remove_dir(dir: &Path) -> Result<(), ProvisionError> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(io_error("cannot remove sandbox", dir, &e))
        }
        _ => Ok(()),
    }
}

impl State {
    pub(crate) fn new() -> Self {
        State {
            id: None,
            seq: 0,
            objects: HashMap::new(),
            by_token: HashMap::new(),
            dependents: HashMap::new(),
            counters: HashMap::new(),
            public_pool: Pool::new(PUBLIC_PER_RANGE * PUBLIC_RANGES.len() as u64),
        }
    }

    /// An empty cloud with the store id `id`.
    pub(crate) fn with_id(id: Option<String>) -> Self {
        State { id, ..State::new() }
    }

    /// The id the next object of `kind` will get.
    fn next_id(&self, kind: Kind) -> String {
        let n = self.counters.get(&kind).copied().unwrap_or(0) + 1;
        format!("{}-{n:04}", kind.id_prefix())
    }

    /// An existing object of `kind`, for a reference in field `field`.
    fn lookup(&self, field: &str, id: &str, kind: Kind) -> Result<&Obj, ProvisionError> {
        match self.objects.get(id) {
            Some(o) if o.kind == kind => Ok(o),
            Some(o) => Err(not_found(format!(
                "{field}: {id} is a {}, not a {}",
                o.kind.as_str(),
                kind.as_str()
            ))),
            None => Err(not_found(format!(
                "{field}: {} {id:?} does not exist",
                kind.as_str()
            ))),
        }
    }

    /// The object created with `token`, if it is still there.
    pub(crate) fn by_token(&self, token: &str) -> Option<(Kind, &str, Created)> {
        let id = self.by_token.get(token)?;
        let o = self.objects.get(id)?;
        Some((o.kind, o.key.as_str(), o.created()))
    }

    /// Creates an object (or returns the one already created with the same token).
    pub(crate) fn create(
        &mut self,
        req: &CreateRequest,
        kind: Kind,
        sandbox_root: &Path,
    ) -> Result<Created, ProvisionError> {
        if !req.token.is_empty()
            && let Some((k, key, created)) = self.by_token(&req.token)
        {
            if k != kind || key != req.key {
                return Err(ProvisionError::new(
                    ErrorKind::AlreadyExists,
                    format!(
                        "token {:?} was already used to create {} {} ({key}), not a {} for {}",
                        req.token,
                        k.as_str(),
                        created.id,
                        kind.as_str(),
                        req.key
                    ),
                )
                .with_code("IdempotentParameterMismatch"));
            }
            return Ok(created);
        }
        let id = self.next_id(kind);
        let (outputs, deps, detail) = match kind {
            Kind::Network => self.new_network(req, &id)?,
            Kind::Subnet => self.new_subnet(req, &id)?,
            Kind::SecurityGroup => self.new_security_group(req, &id)?,
            Kind::Server => self.new_server(req, &id, sandbox_root)?,
            Kind::PublicIp => self.new_public_ip(req, &id)?,
        };
        *self.counters.entry(kind).or_insert(0) += 1;
        self.seq += 1;
        for d in &deps {
            self.dependents
                .entry(d.clone())
                .or_default()
                .insert(id.clone());
        }
        if let Detail::PublicIp { server, .. } = &detail
            && let Some(Obj {
                detail: Detail::Server { public_ip, .. },
                ..
            }) = self.objects.get_mut(server)
        {
            *public_ip = Some(id.clone());
        }
        if !req.token.is_empty() {
            self.by_token.insert(req.token.clone(), id.clone());
        }
        let obj = Obj {
            seq: self.seq,
            id: id.clone(),
            kind,
            key: req.key.clone(),
            token: req.token.clone(),
            tags: req.tags.clone(),
            spec: req.spec.clone(),
            outputs,
            deps,
            detail,
        };
        let created = obj.created();
        self.objects.insert(id, obj);
        Ok(created)
    }

    fn new_network(
        &self,
        req: &CreateRequest,
        id: &str,
    ) -> Result<(OutputMap, Vec<String>, Detail), ProvisionError> {
        let spec: Network = parse_spec(Kind::Network, &req.spec)?;
        let block = Block::parse("cidr", lit("cidr", &spec.cidr)?)?;
        let outputs = OutputMap::from([
            ("id".to_string(), json!(id)),
            ("cidr".to_string(), json!(block.to_string())),
        ]);
        Ok((outputs, Vec::new(), Detail::Network))
    }

    fn new_subnet(
        &self,
        req: &CreateRequest,
        id: &str,
    ) -> Result<(OutputMap, Vec<String>, Detail), ProvisionError> {
        let spec: Subnet = parse_spec(Kind::Subnet, &req.spec)?;
        let net_id = ref_id("network", &spec.network)?;
        let net = self.lookup("network", net_id, Kind::Network)?;
        let block = Block::parse("cidr", lit("cidr", &spec.cidr)?)?;
        let net_cidr = net
            .outputs
            .get("cidr")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !subnet_within_network(&block.to_string(), net_cidr) {
            return Err(invalid(format!(
                "cidr: {block} is not inside the network {net_id} ({net_cidr})"
            ))
            .with_code("InvalidSubnet.Range"));
        }
        for sib in self.dependents.get(net_id).into_iter().flatten() {
            if let Some(Obj {
                detail: Detail::Subnet { block: other, .. },
                ..
            }) = self.objects.get(sib)
                && block.overlaps(*other)
            {
                return Err(invalid(format!(
                    "cidr: {block} overlaps subnet {sib} ({other}) of network {net_id}"
                ))
                .with_code("InvalidSubnet.Conflict"));
            }
        }
        let usable = block.size().saturating_sub(SUBNET_RESERVED_LOW + 1);
        let outputs = OutputMap::from([
            ("id".to_string(), json!(id)),
            ("cidr".to_string(), json!(block.to_string())),
        ]);
        let detail = Detail::Subnet {
            block,
            network: net_id.to_string(),
            pool: Pool::new(usable),
        };
        Ok((outputs, vec![net_id.to_string()], detail))
    }

    fn new_security_group(
        &self,
        req: &CreateRequest,
        id: &str,
    ) -> Result<(OutputMap, Vec<String>, Detail), ProvisionError> {
        let spec: SecurityGroup = parse_spec(Kind::SecurityGroup, &req.spec)?;
        let net_id = ref_id("network", &spec.network)?;
        self.lookup("network", net_id, Kind::Network)?;
        for (i, r) in spec.rules.iter().enumerate() {
            check_cidr(&r.cidr).map_err(|e| invalid(format!("rules[{i}].cidr: {e}")))?;
            if r.from_port > r.to_port {
                return Err(invalid(format!(
                    "rules[{i}]: from_port {} is above to_port {}",
                    r.from_port, r.to_port
                )));
            }
        }
        let outputs = OutputMap::from([("id".to_string(), json!(id))]);
        let detail = Detail::SecurityGroup {
            network: net_id.to_string(),
        };
        Ok((outputs, vec![net_id.to_string()], detail))
    }

    fn new_server(
        &mut self,
        req: &CreateRequest,
        id: &str,
        sandbox_root: &Path,
    ) -> Result<(OutputMap, Vec<String>, Detail), ProvisionError> {
        let spec: Server = parse_spec(Kind::Server, &req.spec)?;
        let image = lit("image", &spec.image)?;
        let size = lit("size", &spec.size)?;
        if let Some(msg) = image_problem(image) {
            return Err(invalid(format!("image: {msg}")).with_code("InvalidAMIID.NotFound"));
        }
        if let Some(msg) = size_problem(size) {
            return Err(invalid(format!("size: {msg}")));
        }
        let subnet_id = ref_id("subnet", &spec.subnet)?.to_string();
        let subnet_net = match &self.lookup("subnet", &subnet_id, Kind::Subnet)?.detail {
            Detail::Subnet { network, .. } => network.clone(),
            _ => String::new(),
        };
        let mut deps = vec![subnet_id.clone()];
        for (i, sg) in spec.security_groups.iter().enumerate() {
            let field = format!("security_groups[{i}]");
            let sg_id = ref_id(&field, sg)?;
            let o = self.lookup(&field, sg_id, Kind::SecurityGroup)?;
            if let Detail::SecurityGroup { network } = &o.detail
                && *network != subnet_net
            {
                return Err(invalid(format!(
                    "{field}: {sg_id} belongs to network {network}, but subnet {subnet_id} \
                     belongs to {subnet_net}"
                )));
            }
            if !deps.iter().any(|d| d == sg_id) {
                deps.push(sg_id.to_string());
            }
        }
        let user_data = match &spec.user_data {
            Some(v) => Some(lit("user_data", v)?.to_string()),
            None => None,
        };
        let Some(Obj {
            detail: Detail::Subnet { block, pool, .. },
            ..
        }) = self.objects.get_mut(&subnet_id)
        else {
            return Err(not_found(format!("subnet: {subnet_id:?} does not exist")));
        };
        let Some(offset) = pool.alloc() else {
            return Err(ProvisionError::new(
                ErrorKind::QuotaExceeded,
                format!("subnet {subnet_id} ({block}) has no free addresses"),
            )
            .with_code("InsufficientFreeAddressesInSubnet"));
        };
        let private_ip = Ipv4Addr::from(
            u32::try_from(u64::from(block.base) + SUBNET_RESERVED_LOW + offset).unwrap_or(u32::MAX),
        )
        .to_string();
        let dir = sandbox_root.join(id);
        let marker = json!({
            "id": id,
            "system": req.system,
            "key": req.key,
            "image": image,
            "size": size,
            "private_ip": private_ip,
        });
        if let Err(e) = make_sandbox(&dir, &marker, user_data.as_deref()) {
            pool.release(offset);
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        let outputs = OutputMap::from([
            ("id".to_string(), json!(id)),
            ("ip".to_string(), json!(private_ip)),
            ("private_ip".to_string(), json!(private_ip)),
            ("sandbox".to_string(), json!(dir.to_string_lossy())),
        ]);
        let detail = Detail::Server {
            subnet: subnet_id,
            offset,
            dir,
            public_ip: None,
        };
        Ok((outputs, deps, detail))
    }

    fn new_public_ip(
        &mut self,
        req: &CreateRequest,
        id: &str,
    ) -> Result<(OutputMap, Vec<String>, Detail), ProvisionError> {
        let spec: PublicIp = parse_spec(Kind::PublicIp, &req.spec)?;
        let server_id = ref_id("server", &spec.server)?.to_string();
        let server = self.lookup("server", &server_id, Kind::Server)?;
        let Detail::Server { dir, public_ip, .. } = &server.detail else {
            return Err(not_found(format!("server: {server_id:?} does not exist")));
        };
        if let Some(existing) = public_ip {
            return Err(ProvisionError::new(
                ErrorKind::AlreadyExists,
                format!("server: {server_id} already has public IP {existing}"),
            )
            .with_code("Resource.AlreadyAssociated"));
        }
        let sandbox = dir.to_string_lossy().into_owned();
        let Some(offset) = self.public_pool.alloc() else {
            return Err(ProvisionError::new(
                ErrorKind::QuotaExceeded,
                "no public addresses left in the simulated cloud's pool",
            )
            .with_code("AddressLimitExceeded"));
        };
        let outputs = OutputMap::from([
            ("id".to_string(), json!(id)),
            ("ip".to_string(), json!(public_address(offset).to_string())),
            ("server".to_string(), json!(server_id)),
            ("sandbox".to_string(), json!(sandbox)),
        ]);
        Ok((
            outputs,
            vec![server_id.clone()],
            Detail::PublicIp {
                server: server_id,
                offset,
            },
        ))
    }

    /// The fields of `kind` an update changes in place.
    pub(crate) fn updatable(kind: Kind) -> &'static [&'static str] {
        match kind {
            Kind::Network | Kind::Subnet | Kind::PublicIp => &["tags"],
            Kind::SecurityGroup => &["tags", "rules"],
            Kind::Server => &["tags", "size"],
        }
    }

    /// Changes the fields `req.changed` of an object in place (its spec as reported by
    /// [`SimObject`]); refuses a field its kind cannot change, and a size it does not know.
    pub(crate) fn update(
        &mut self,
        req: &UpdateRequest,
        kind: Kind,
    ) -> Result<Created, ProvisionError> {
        let allowed = State::updatable(kind);
        if let Some(f) = req.changed.iter().find(|f| !allowed.contains(&f.as_str())) {
            return Err(invalid(format!(
                "{f}: a {} cannot change it in place (only {})",
                kind.as_str(),
                allowed.join(", ")
            )));
        }
        if kind == Kind::Server && req.changed.iter().any(|f| f == "size") {
            let size = req
                .spec
                .get("size")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !SIZES.contains(&size) {
                return Err(invalid(format!("size: unknown size {size:?}")));
            }
        }
        let obj = match self.objects.get_mut(&req.id) {
            Some(o) if o.kind == kind => o,
            _ => {
                return Err(not_found(format!(
                    "{} {:?} does not exist",
                    kind.as_str(),
                    req.id
                )));
            }
        };
        for f in &req.changed {
            let v = req.spec.get(f).cloned().unwrap_or(Value::Null);
            if let Some(spec) = obj.spec.as_object_mut() {
                spec.insert(f.clone(), v);
            }
        }
        self.seq += 1;
        Ok(obj.created())
    }

    /// The object with id `id`, if it exists.
    pub(crate) fn read(&self, id: &str, kind: Kind) -> Option<Created> {
        self.objects
            .get(id)
            .filter(|o| o.kind == kind)
            .map(Obj::created)
    }

    /// Deletes an object. Unknown ids are success (after removing a sandbox that the request's
    /// outputs name, if its marker says it belongs to this id). Returns whether it existed.
    pub(crate) fn delete(
        &mut self,
        req: &DeleteRequest,
        kind: Kind,
    ) -> Result<bool, ProvisionError> {
        let Some(obj) = self.objects.get(&req.id) else {
            if kind == Kind::Server
                && let Some(dir) = req.outputs.get("sandbox").and_then(Value::as_str)
                && marker_id(Path::new(dir)).as_deref() == Some(req.id.as_str())
            {
                remove_dir(Path::new(dir))?;
            }
            return Ok(false);
        };
        if obj.kind != kind {
            return Err(ProvisionError::new(
                ErrorKind::Other,
                format!(
                    "{} is a {}, not a {}",
                    req.id,
                    obj.kind.as_str(),
                    kind.as_str()
                ),
            )
            .with_code("KindMismatch"));
        }
        if let Some(deps) = self.dependents.get(&req.id).filter(|d| !d.is_empty()) {
            let list: Vec<&str> = deps.iter().map(String::as_str).collect();
            return Err(ProvisionError::new(
                ErrorKind::DependencyViolation,
                format!("{} has dependent objects: {}", req.id, list.join(", ")),
            )
            .with_code("DependencyViolation"));
        }
        if let Detail::Server { dir, .. } = &obj.detail {
            remove_dir(dir)?;
        }
        let Some(obj) = self.objects.remove(&req.id) else {
            return Ok(false);
        };
        self.dependents.remove(&obj.id);
        for d in &obj.deps {
            if let Some(set) = self.dependents.get_mut(d) {
                set.remove(&obj.id);
                if set.is_empty() {
                    self.dependents.remove(d);
                }
            }
        }
        if !obj.token.is_empty() && self.by_token.get(&obj.token) == Some(&obj.id) {
            self.by_token.remove(&obj.token);
        }
        match obj.detail {
            Detail::Server { subnet, offset, .. } => {
                if let Some(Obj {
                    detail: Detail::Subnet { pool, .. },
                    ..
                }) = self.objects.get_mut(&subnet)
                {
                    pool.release(offset);
                }
            }
            Detail::PublicIp { server, offset } => {
                self.public_pool.release(offset);
                if let Some(Obj {
                    detail: Detail::Server { public_ip, .. },
                    ..
                }) = self.objects.get_mut(&server)
                {
                    *public_ip = None;
                }
            }
            Detail::Network | Detail::Subnet { .. } | Detail::SecurityGroup { .. } => {}
        }
        Ok(true)
    }

    /// Snapshots of every object, in creation order.
    pub(crate) fn snapshot(&self) -> Vec<SimObject> {
        let mut objs: Vec<&Obj> = self.objects.values().collect();
        objs.sort_by_key(|o| o.seq);
        objs.into_iter().map(Obj::snapshot).collect()
    }

    /// Snapshot of one object.
    pub(crate) fn get(&self, id: &str) -> Option<SimObject> {
        self.objects.get(id).map(Obj::snapshot)
    }

    /// Number of live objects.
    pub(crate) fn len(&self) -> usize {
        self.objects.len()
    }

    /// Sandbox directories of the live servers.
    pub(crate) fn sandboxes(&self) -> Vec<PathBuf> {
        self.objects
            .values()
            .filter_map(|o| match &o.detail {
                Detail::Server { dir, .. } => Some(dir.clone()),
                _ => None,
            })
            .collect()
    }
}

fn make_sandbox(dir: &Path, marker: &Value, user_data: Option<&str>) -> Result<(), ProvisionError> {
    // A directory left over from an earlier simulated cloud with the same root is stale.
    remove_dir(dir)?;
    std::fs::create_dir_all(dir).map_err(|e| io_error("cannot create sandbox", dir, &e))?;
    let path = dir.join(MARKER_FILE);
    let text = serde_json::to_string_pretty(marker).unwrap_or_default();
    std::fs::write(&path, text + "\n").map_err(|e| io_error("cannot write", &path, &e))?;
    if let Some(ud) = user_data {
        let path = dir.join(crate::USER_DATA_FILE);
        std::fs::write(&path, ud).map_err(|e| io_error("cannot write", &path, &e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_hands_out_lowest_free_first() {
        let mut p = Pool::new(3);
        assert_eq!(
            (p.alloc(), p.alloc(), p.alloc(), p.alloc()),
            (Some(0), Some(1), Some(2), None)
        );
        p.release(1);
        p.release(0);
        assert_eq!((p.alloc(), p.alloc(), p.alloc()), (Some(0), Some(1), None));
    }

    #[test]
    fn public_addresses_walk_the_documentation_ranges() {
        assert_eq!(public_address(0), Ipv4Addr::new(203, 0, 113, 1));
        assert_eq!(public_address(253), Ipv4Addr::new(203, 0, 113, 254));
        assert_eq!(public_address(254), Ipv4Addr::new(198, 51, 100, 1));
        assert_eq!(public_address(3 * 254 - 1), Ipv4Addr::new(192, 0, 2, 254));
    }

    #[test]
    fn blocks_overlap_only_when_they_share_addresses() {
        let a = Block::parse("c", "10.0.0.0/24").unwrap();
        let b = Block::parse("c", "10.0.1.0/24").unwrap();
        let wide = Block::parse("c", "10.0.0.0/16").unwrap();
        assert!(!a.overlaps(b));
        assert!(a.overlaps(wide) && wide.overlaps(b));
        assert_eq!(Block::parse("c", "0.0.0.0/0").unwrap().size(), 1 << 32);
    }

    #[test]
    fn kinds_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
        assert_eq!(Kind::parse("core.fixed_host"), None);
    }
}
