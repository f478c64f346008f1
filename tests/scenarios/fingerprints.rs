//! A succeeded task runs again exactly when what it does changed (its fingerprint): a
//! variable it reads, a template's text or the variables the template reads, a copied file's
//! content. Tasks of a removed role are forgotten, not run; state recorded without
//! fingerprints takes the models as its baseline.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hoist::sim::SimCloud;
use hoist::state::{Change, MemoryStore, StateStore};
use hoist::{Model, Multi, MultiTask, Role, Task, TaskOutcome, TaskReason};
use hoist_tests::{Fleet, assert_success, builder, read, sandbox_of, sim, tasks_where};

/// What a test changes between runs.
#[derive(Clone)]
struct Shape {
    n: usize,
    greeting: &'static str,
    /// `(k, greeting)`: role `srv[k]` greets otherwise.
    special: Option<(usize, &'static str)>,
    port: &'static str,
    template: &'static str,
    /// A local file copied to every host.
    file: PathBuf,
}

impl Shape {
    fn new(dir: &Path) -> Self {
        let file = dir.join("motd");
        std::fs::write(&file, "welcome\n").unwrap();
        Shape {
            n: 3,
            greeting: "hello",
            special: None,
            port: "8080",
            template: "port={{ PORT }}\n",
            file,
        }
    }
}

#[derive(Model)]
struct Roles {
    srv: Multi<Role>,
}

#[derive(Model)]
struct Tasks {
    /// Reads GREETING.
    hello: MultiTask<Task>,
    /// Reads ID only.
    id: MultiTask<Task>,
    /// A template reading PORT.
    conf: MultiTask<Task>,
    /// A copy of a local file.
    motd: MultiTask<Task>,
}

fn roles(s: &Shape) -> Roles {
    let s = s.clone();
    Roles {
        srv: Multi::from_fn(move |k| {
            let k: usize = k.to_string().parse().unwrap();
            let greeting = match s.special {
                Some((at, g)) if at == k => g,
                _ => s.greeting,
            };
            Role::on(Fleet::refs().srv.mine())
                .var("ID", k.to_string())
                .var("GREETING", greeting)
                .var("PORT", s.port)
                .var("UNUSED", "anything")
        })
        .keys(0..s.n),
    }
}

fn tasks(s: &Shape) -> Tasks {
    let all = || Roles::refs().srv.all();
    let (template, file) = (s.template.to_string(), s.file.clone());
    Tasks {
        hello: MultiTask::new(
            |role| Task::shell("echo !{GREETING} > hello.txt").role(role),
            all(),
        ),
        id: MultiTask::new(|role| Task::shell("echo !{ID} >> id.log").role(role), all()),
        conf: MultiTask::new(
            move |role| Task::template_text(&template, "conf.txt").role(role),
            all(),
        ),
        motd: MultiTask::new(
            move |role| Task::copy(file.clone(), "motd").role(role),
            all(),
        ),
    }
}

fn orch(cloud: &SimCloud, store: &Arc<MemoryStore>, s: &Shape) -> hoist::Orchestration {
    builder("fp", cloud)
        .infra("fleet", Fleet::new(s.n))
        .namespace("ns", roles(s))
        .config("cfg", tasks(s))
        .state(store.clone())
        .build()
        .unwrap()
}

/// Initiates `s`; returns the keys of the tasks that ran.
async fn up(cloud: &SimCloud, store: &Arc<MemoryStore>, s: &Shape) -> Vec<String> {
    let report = orch(cloud, store, s).initiate_system().await.unwrap();
    assert_success(&report);
    tasks_where(&report, |o| *o != TaskOutcome::AlreadyDone)
}

async fn file_on(store: &Arc<MemoryStore>, k: usize, rel: &str) -> String {
    let state = store.load("fp").await.unwrap().unwrap();
    read(&sandbox_of(&state, &format!("fleet/srv[{k}]")), rel)
}

fn keys(task: &str, ks: &[usize]) -> Vec<String> {
    ks.iter().map(|k| format!("cfg/{task}[srv[{k}]]")).collect()
}

fn setup() -> (SimCloud, Arc<MemoryStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (sim(Duration::ZERO), Arc::new(MemoryStore::new()), dir)
}

#[tokio::test]
async fn a_changed_variable_reruns_exactly_the_tasks_that_read_it() {
    let (cloud, store, dir) = setup();
    let base = Shape::new(dir.path());
    assert_eq!(up(&cloud, &store, &base).await.len(), 12);
    assert!(
        up(&cloud, &store, &base).await.is_empty(),
        "nothing changed"
    );

    // The issue's own case: GREETING from "hello" to "bonjour". The diff says so first.
    let bonjour = Shape {
        greeting: "bonjour",
        ..base.clone()
    };
    let diff = orch(&cloud, &store, &bonjour).diff().await.unwrap();
    let planned: Vec<String> = diff.tasks.iter().map(|t| t.key.clone()).collect();
    assert_eq!(planned, keys("hello", &[0, 1, 2]), "{diff}");
    assert_eq!(
        diff.tasks[0].reason,
        TaskReason::Changed {
            inputs: vec!["var GREETING".into()]
        }
    );
    assert_eq!(diff.tasks_done, 9);
    insta::assert_snapshot!("fingerprint_diff_text", diff.to_string());
    assert_eq!(
        up(&cloud, &store, &bonjour).await,
        keys("hello", &[0, 1, 2])
    );
    for k in 0..3 {
        assert_eq!(file_on(&store, k, "hello.txt").await, "bonjour\n");
        assert_eq!(
            file_on(&store, k, "id.log").await,
            format!("{k}\n"),
            "ran once"
        );
    }
    let report = orch(&cloud, &store, &bonjour)
        .initiate_system()
        .await
        .unwrap();
    assert!(report.nothing_to_do, "{report}");

    // One role's value only: that host's task only.
    let one = Shape {
        special: Some((1, "hola")),
        ..bonjour.clone()
    };
    assert_eq!(up(&cloud, &store, &one).await, keys("hello", &[1]));
    assert_eq!(file_on(&store, 1, "hello.txt").await, "hola\n");
}

#[tokio::test]
async fn templates_rerun_on_their_text_or_the_variables_they_read_and_copies_on_content() {
    let (cloud, store, dir) = setup();
    let base = Shape::new(dir.path());
    up(&cloud, &store, &base).await;

    let port = Shape {
        port: "9090",
        ..base.clone()
    };
    assert_eq!(up(&cloud, &store, &port).await, keys("conf", &[0, 1, 2]));
    assert_eq!(file_on(&store, 2, "conf.txt").await, "port=9090\n");

    let text = Shape {
        template: "listen={{ PORT }}\n",
        ..port.clone()
    };
    assert_eq!(up(&cloud, &store, &text).await, keys("conf", &[0, 1, 2]));
    assert_eq!(file_on(&store, 0, "conf.txt").await, "listen=9090\n");

    std::fs::write(&text.file, "welcome back\n").unwrap();
    let diff = orch(&cloud, &store, &text).diff().await.unwrap();
    let TaskReason::Changed { inputs } = &diff.tasks[0].reason else {
        panic!("{diff}");
    };
    assert_eq!(inputs.len(), 1);
    assert!(
        inputs[0].starts_with("file ") && inputs[0].ends_with("motd"),
        "{diff}"
    );
    assert_eq!(up(&cloud, &store, &text).await, keys("motd", &[0, 1, 2]));
    assert_eq!(file_on(&store, 1, "motd").await, "welcome back\n");
    assert!(up(&cloud, &store, &text).await.is_empty());
}

#[tokio::test]
async fn a_removed_roles_tasks_are_forgotten_and_old_records_are_the_baseline() {
    let (cloud, store, dir) = setup();
    let base = Shape::new(dir.path());
    up(&cloud, &store, &base).await;
    let two = Shape {
        n: 2,
        ..base.clone()
    };
    assert!(up(&cloud, &store, &two).await.is_empty(), "nothing runs");
    let state = store.load("fp").await.unwrap().unwrap();
    assert_eq!(state.tasks.len(), 8, "{:?}", state.tasks.keys());
    assert!(state.tasks.keys().all(|k| !k.contains("srv[2]")));

    // Records of an older hoist have no fingerprint: the models are their baseline.
    let stripped: Vec<Change> = state
        .tasks
        .values()
        .map(|t| {
            Change::PutTask(hoist::state::TaskRecord {
                fingerprint: None,
                ..t.clone()
            })
        })
        .collect();
    store.apply("fp", None, &stripped).await.unwrap();
    assert!(up(&cloud, &store, &two).await.is_empty(), "nothing runs");
    let state = store.load("fp").await.unwrap().unwrap();
    assert!(state.tasks.values().all(|t| t.fingerprint.is_some()));
    let changed = Shape {
        greeting: "salut",
        ..two
    };
    assert_eq!(up(&cloud, &store, &changed).await, keys("hello", &[0, 1]));
}
