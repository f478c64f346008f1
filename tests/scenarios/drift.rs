//! Drift: a refresh reads every recorded object back and reports what changed outside hoist,
//! changing nothing (proved through a proxy that fails every mutating call); the diff after a
//! refresh plans the re-creation of an object deleted out of band, and an initiate that
//! refreshes first makes it again.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hoist::provider::{
    CloudIdentity, CreateRequest, Created, DeleteRequest, Deleted, ErrorKind, FindRequest,
    ProvisionError, Provisioner, ReadRequest, UpdateRequest,
};
use hoist::sim::SimCloud;
use hoist::state::{MemoryStore, StateStore};
use hoist::{DiffAction, Found, ResourceOutcome};
use hoist_tests::{Fleet, assert_success, resource_outcomes, sim};

/// The simulated cloud for reading; every call that would change something fails, counted.
struct ReadOnly {
    inner: SimCloud,
    mutations: AtomicU32,
}

impl ReadOnly {
    fn refuse(&self, what: &str) -> ProvisionError {
        self.mutations.fetch_add(1, Ordering::SeqCst);
        ProvisionError::new(ErrorKind::Other, format!("{what} refused: read-only proxy"))
    }
}

#[hoist::async_trait]
impl Provisioner for ReadOnly {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn supports(&self, kind: &str) -> bool {
        self.inner.supports(kind)
    }
    async fn identity(&self) -> Result<CloudIdentity, ProvisionError> {
        self.inner.identity().await
    }
    async fn create(&self, _: &CreateRequest) -> Result<Created, ProvisionError> {
        Err(self.refuse("create"))
    }
    async fn delete(&self, _: &DeleteRequest) -> Result<Deleted, ProvisionError> {
        Err(self.refuse("delete"))
    }
    async fn update(&self, _: &UpdateRequest) -> Result<Created, ProvisionError> {
        Err(self.refuse("update"))
    }
    async fn find(&self, req: &FindRequest) -> Result<Option<Created>, ProvisionError> {
        self.inner.find(req).await
    }
    async fn read(&self, req: &ReadRequest) -> Result<Option<Created>, ProvisionError> {
        self.inner.read(req).await
    }
}

fn orch(proxy: Arc<dyn Provisioner>, store: &Arc<MemoryStore>) -> hoist::OrchestrationBuilder {
    hoist::Orchestration::builder("drift")
        .provisioner(proxy)
        .infra("fleet", Fleet::new(2))
        .state(store.clone())
}

#[tokio::test]
async fn an_object_deleted_out_of_band_is_reported_then_made_again() {
    let (cloud, store) = (sim(Duration::ZERO), Arc::new(MemoryStore::new()));
    let sim_proxy: Arc<dyn Provisioner> = Arc::new(cloud.clone());
    assert_success(
        &orch(sim_proxy.clone(), &store)
            .build()
            .unwrap()
            .initiate_system()
            .await
            .unwrap(),
    );
    let state = store.load("drift").await.unwrap().unwrap();
    let gone = &state.resources["fleet/srv[1]"];
    // Someone deletes a server outside hoist.
    cloud
        .delete(&DeleteRequest {
            system: "drift".into(),
            key: gone.key.clone(),
            kind: gone.kind.clone(),
            id: gone.provider_id.clone().unwrap(),
            outputs: gone.outputs.clone(),
        })
        .await
        .unwrap();

    let read_only = Arc::new(ReadOnly {
        inner: cloud.clone(),
        mutations: AtomicU32::new(0),
    });
    let o = orch(read_only.clone(), &store).build().unwrap();
    let drift = o.refresh().await.unwrap();
    assert!(drift.has_drift(), "{drift}");
    assert_eq!(drift.resources.len(), 4, "{drift}");
    assert_eq!(
        drift.resource("fleet/srv[1]").unwrap().found,
        Found::Deleted
    );
    assert_eq!(drift.resource("fleet/srv[0]").unwrap().found, Found::InSync);
    insta::assert_snapshot!("drift_text", drift.to_string());
    // The diff as recorded does not know; after a refresh it plans the server again.
    let stale = o.diff().await.unwrap();
    let planned = stale.resource("fleet/srv[1]").unwrap().action;
    assert_eq!(planned, DiffAction::Unchanged, "{stale}");
    let (_, fresh) = o.diff_refreshed().await.unwrap();
    let planned = fresh.resource("fleet/srv[1]").unwrap().action;
    assert_eq!(planned, DiffAction::Create, "{fresh}");
    // Reading changed nothing: no mutating call was even tried, and state is as it was.
    assert_eq!(read_only.mutations.load(Ordering::SeqCst), 0);
    assert_eq!(store.load("drift").await.unwrap().unwrap(), state);

    // A run that refreshes first makes the server again.
    let o = orch(sim_proxy, &store).refresh_first().build().unwrap();
    let report = o.initiate_system().await.unwrap();
    assert_success(&report);
    let outcomes = resource_outcomes(&report);
    assert_eq!(
        outcomes["fleet/srv[1]"],
        ResourceOutcome::Created,
        "{report}"
    );
    assert_eq!(outcomes["fleet/srv[0]"], ResourceOutcome::AlreadyPresent);
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("deleted outside hoist"))
    );
    assert_eq!(cloud.objects_of("core.server").len(), 2);
    assert!(!o.refresh().await.unwrap().has_drift());
}
