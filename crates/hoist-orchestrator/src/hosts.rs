//! Where tasks run: the outputs provisioning recorded ([`Snapshot`]), and a role's host
//! resolved from them, from connection overrides or from its proxy ([`HostSpec`]).

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;

use hoist_core::{Outputs, Plan, PlannedHost, ResourceId, RoleId};
use hoist_provider::{HostEndpoint, OutputMap, Provisioner};
use hoist_state::{ResourceStatus, SystemState};

use crate::options::Options;

/// Outputs of provisioned resources by planned resource: owned (`Snapshot<'static>`, shared
/// by the task workers), or borrowed from a state (for a diff).
pub(crate) struct Snapshot<'a> {
    by_id: Vec<Option<(Cow<'a, str>, Cow<'a, OutputMap>)>>,
}

impl Snapshot<'static> {
    pub(crate) fn new(plan: &Plan, state: &SystemState) -> Self {
        let by_id = Snapshot::hiding(plan, state, &[])
            .by_id
            .into_iter()
            .map(|x| x.map(|(id, o)| (Cow::Owned(id.into_owned()), Cow::Owned(o.into_owned()))))
            .collect();
        Snapshot { by_id }
    }
}

impl<'a> Snapshot<'a> {
    /// The outputs `state` records, except those of the resources `hidden` marks (to be
    /// created or replaced: known only after provisioning).
    pub(crate) fn hiding(plan: &Plan, state: &'a SystemState, hidden: &[bool]) -> Self {
        let by_id = plan
            .resources
            .iter()
            .enumerate()
            .map(|(i, r)| {
                if hidden.get(i).copied().unwrap_or(false) {
                    return None;
                }
                state
                    .resources
                    .get(&r.key())
                    .filter(|x| x.status == ResourceStatus::Created)
                    .map(|x| {
                        let id = x.provider_id.as_deref().unwrap_or_default();
                        (Cow::Borrowed(id), Cow::Borrowed(&x.outputs))
                    })
            })
            .collect();
        Snapshot { by_id }
    }
}

impl Outputs for Snapshot<'_> {
    fn output(&self, r: ResourceId, field: &str) -> Option<serde_json::Value> {
        self.by_id.get(r.index())?.as_ref()?.1.get(field).cloned()
    }
    fn provider_id(&self, r: ResourceId) -> Option<String> {
        self.by_id.get(r.index())?.as_ref().map(|x| x.0.to_string())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum HostSpec {
    Local(PathBuf),
    Net {
        address: String,
        port: Option<u16>,
        jump: Option<String>,
    },
}

impl HostSpec {
    fn from_endpoint(e: HostEndpoint) -> Self {
        match e {
            HostEndpoint::Local { dir } => HostSpec::Local(dir),
            HostEndpoint::Network { address, port } => HostSpec::Net {
                address,
                port,
                jump: None,
            },
        }
    }

    fn from_address(a: &str) -> Self {
        match a.strip_prefix("local:") {
            Some(d) => HostSpec::Local(PathBuf::from(d)),
            None => HostSpec::Net {
                address: a.to_string(),
                port: None,
                jump: None,
            },
        }
    }

    /// Applies the role's connection settings (port, jump host) to a network host.
    fn with_conn(self, conn: &hoist_core::Connection) -> Self {
        match self {
            HostSpec::Net {
                address,
                port,
                jump,
            } => HostSpec::Net {
                address,
                port: conn.port.or(port),
                jump: conn.jump.clone().or(jump),
            },
            local => local,
        }
    }
}

/// What finding a role's host takes: the connection overrides and the proxies (which say how
/// their servers are reached).
#[derive(Clone, Copy)]
pub(crate) struct Hosts<'a> {
    pub(crate) opts: &'a Options,
    pub(crate) proxies: &'a [Arc<dyn Provisioner>],
}

/// Where the tasks of a role run: the host spec and a description for messages.
pub(crate) fn resolve_host(
    cx: Hosts<'_>,
    plan: &Plan,
    outputs: &Snapshot<'_>,
    role: RoleId,
) -> Result<(HostSpec, String), String> {
    let conn = &plan.roles[role.index()].conn;
    resolve_host_inner(cx, plan, outputs, role).map(|(s, d)| (s.with_conn(conn), d))
}

fn resolve_host_inner(
    cx: Hosts<'_>,
    plan: &Plan,
    outputs: &Snapshot<'_>,
    role: RoleId,
) -> Result<(HostSpec, String), String> {
    let opts = cx.opts;
    let r = &plan.roles[role.index()];
    match &r.host {
        PlannedHost::None => Err(format!("role `{}` has no host", r.address())),
        PlannedHost::Local(d) => Ok((HostSpec::Local(d.clone()), format!("local:{}", d.display()))),
        PlannedHost::Address(a) => {
            let addr = match &r.host_template {
                Some(t) => {
                    plan.expand(role, t, outputs)
                        .map_err(|e| e.to_string())?
                        .text
                }
                None => a.clone(),
            };
            if let Some(e) = opts.connect_overrides.get(&addr) {
                return Ok((
                    HostSpec::from_endpoint(e.clone()),
                    format!("{addr} (overridden)"),
                ));
            }
            Ok((HostSpec::from_address(&addr), addr))
        }
        PlannedHost::Resource { resource, output } => {
            let res = &plan.resources[resource.index()];
            let key = res.key();
            let Some((_, outs)) = outputs.by_id.get(resource.index()).and_then(Option::as_ref)
            else {
                return Err(format!("host `{key}` was not provisioned"));
            };
            let addr = outs
                .get(output)
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string));
            if let Some(e) = opts
                .connect_overrides
                .get(&key)
                .or_else(|| addr.as_ref().and_then(|a| opts.connect_overrides.get(a)))
            {
                return Ok((
                    HostSpec::from_endpoint(e.clone()),
                    format!("{key} (overridden)"),
                ));
            }
            let proxy = cx.proxies.iter().find(|p| p.name() == res.provider);
            if let Some(e) = proxy.and_then(|p| p.endpoint(&res.kind, outs)) {
                let spec = HostSpec::from_endpoint(e);
                let desc = match &spec {
                    HostSpec::Local(_) => key.clone(),
                    HostSpec::Net { address, .. } => format!("{key} ({address})"),
                };
                return Ok((spec, desc));
            }
            let addr = addr.ok_or_else(|| format!("host `{key}` has no `{output}` output"))?;
            Ok((
                HostSpec::Net {
                    address: addr.clone(),
                    port: None,
                    jump: None,
                },
                format!("{key} ({addr})"),
            ))
        }
    }
}
