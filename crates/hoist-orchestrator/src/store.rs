//! Where an orchestration keeps its state: a store it was given, or the default SQLite file
//! (`.hoist/state.db` in the directory the orchestration was built in), opened when a run
//! first needs it, so that planning never creates a state file.

use std::path::PathBuf;
use std::sync::Arc;

use hoist_state::{SqliteStore, StateError, StateStore, SystemState};
use tokio::sync::OnceCell;

/// The state store of an orchestration.
pub(crate) enum StoreSlot {
    /// Given to the builder.
    Given(Arc<dyn StateStore>),
    /// The default: a SQLite file, opened (and created) by the first run.
    Default {
        path: PathBuf,
        opened: OnceCell<Arc<dyn StateStore>>,
    },
}

impl StoreSlot {
    /// The default store at `path`, not opened yet.
    pub(crate) fn default_at(path: PathBuf) -> Self {
        StoreSlot::Default {
            path,
            opened: OnceCell::new(),
        }
    }

    /// The store, opened (for the default one: created, with its directory) if need be.
    pub(crate) async fn open(&self) -> Result<Arc<dyn StateStore>, StateError> {
        match self {
            StoreSlot::Given(s) => Ok(s.clone()),
            StoreSlot::Default { path, opened } => opened
                .get_or_try_init(|| async {
                    let s: Arc<dyn StateStore> = Arc::new(SqliteStore::open(path)?);
                    Ok(s)
                })
                .await
                .cloned(),
        }
    }

    /// The recorded state of `system`, without creating a default store that does not exist.
    pub(crate) async fn load(&self, system: &str) -> Result<Option<SystemState>, StateError> {
        if let StoreSlot::Default { path, opened } = self
            && opened.get().is_none()
            && !path.exists()
        {
            return Ok(None);
        }
        self.open().await?.load(system).await
    }
}
