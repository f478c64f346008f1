//! The identity guard: before a run touches a recorded resource, the proxy that would touch
//! it must talk to the cloud (account, region, store) the resource was made in.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use hoist_core::RetryPolicy;
use hoist_provider::{CloudIdentity, ProvisionError, Provisioner};
use hoist_state::SystemState;

use crate::cancel::Cancel;
use crate::error::OrchestrationError;
use crate::retry::retry;

/// The identity of each proxy a run uses, by proxy name.
pub(crate) type Identities = BTreeMap<String, CloudIdentity>;

/// Asks each proxy named in `providers` which cloud it talks to (with the policy's bounded
/// retries of throttling and transient failures), then checks every resource `state` records
/// for those proxies: one recorded with another identity stops the run before anything is
/// touched ([`OrchestrationError::IdentityMismatch`]). Resources recorded without an identity
/// (before schema 3) are not checked.
pub(crate) async fn check(
    system: &str,
    proxies: &[Arc<dyn Provisioner>],
    providers: &BTreeSet<String>,
    state: &SystemState,
    policy: &RetryPolicy,
    cancel: &Cancel,
) -> Result<Identities, OrchestrationError> {
    let mut ids = Identities::new();
    for p in proxies.iter().filter(|p| providers.contains(p.name())) {
        let (id, _) = retry(
            policy,
            cancel,
            ProvisionError::is_retryable,
            |_, _, _| {},
            |_| p.identity(),
        )
        .await;
        let id = id.map_err(|error| OrchestrationError::Identity {
            system: system.to_string(),
            provider: p.name().to_string(),
            error,
        })?;
        ids.insert(p.name().to_string(), id);
    }
    // Per proxy, the first recorded identity that differs, and every resource recorded with it.
    let mut wrong: BTreeMap<&str, (CloudIdentity, CloudIdentity, Vec<String>)> = BTreeMap::new();
    for r in state.resources.values() {
        let (Some(expected), Some(p), Some(base)) = (
            &r.identity,
            proxies.iter().find(|p| p.name() == r.provider),
            ids.get(&r.provider),
        ) else {
            continue;
        };
        let got = p.identity_of(base, &r.kind, &r.outputs);
        if got == *expected {
            continue;
        }
        let entry = wrong
            .entry(r.provider.as_str())
            .or_insert_with(|| (expected.clone(), got.clone(), Vec::new()));
        if entry.0 == *expected {
            entry.2.push(r.key.clone());
        }
    }
    match wrong.into_iter().next() {
        None => Ok(ids),
        Some((provider, (expected, got, resources))) => Err(OrchestrationError::IdentityMismatch {
            system: system.to_string(),
            provider: provider.to_string(),
            expected: Box::new(expected),
            got: Box::new(got),
            resources,
        }),
    }
}
