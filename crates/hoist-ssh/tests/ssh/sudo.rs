//! sudo with a password, end to end: `run_action` with a become user, and an orchestration
//! whose sudo prompt is asked once for three hosts.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hoist_core::{Action, CopySource, Model, Role, Secret, Task};
use hoist_exec::{Become, MapVars, TaskContext, TaskErrorKind, Transport as _, run_action};
use hoist_orchestrator::{Orchestration, Readiness, TaskOutcome};

use crate::ok;
use crate::testbed::Testbed;

#[tokio::test]
async fn sudo_with_a_password_as_the_test_user() {
    let Some(bed) = Testbed::up(1) else { return };
    let pw = bed.sudo_password();
    let ssh = bed.connector();
    let t = ssh
        .connect_host(&bed.target(0, Some("hoisttest")))
        .await
        .unwrap();
    let root = ssh.connect_host(&bed.target(0, None)).await.unwrap();
    let vars = MapVars::new().with("WHO", "root");
    let secrets = [Secret::new(pw.clone())];
    let mut cx = TaskContext::new(Some(&*t), &vars);
    cx.timeout = Some(Duration::from_secs(20));
    cx.secrets = &secrets;
    cx.become_ = Some(Become::user("root").with_password(Some(Secret::new(pw.clone()))));

    // Commands run as root; the password never reaches them, even a command reading stdin.
    let shell = |line: &str| Action::Shell {
        line: line.into(),
        chdir: None,
        creates: None,
        removes: None,
    };
    let s = run_action(&shell("id -un; cat; echo end"), &cx)
        .await
        .unwrap();
    let out = s.output.unwrap();
    assert_eq!(out.stdout, "root\nend\n");
    assert!(
        !out.stderr.contains("hoist-sudo"),
        "the prompt is removed: {out:?}"
    );
    // Root-only places: copy with owner, a template, creates checked as root.
    let a = Action::Copy {
        src: CopySource::Content("secret\n".into()),
        dest: "/root/from-sudo.txt".into(),
        mode: Some(0o600),
        owner: Some("!{WHO}".into()),
        group: None,
    };
    run_action(&a, &cx).await.unwrap();
    assert_eq!(
        ok(
            &root,
            "stat -c '%U %a' /root/from-sudo.txt; cat /root/from-sudo.txt"
        )
        .await,
        "root 600\nsecret\n"
    );
    let a = Action::Shell {
        line: "touch /root/ran".into(),
        chdir: None,
        creates: Some("/root/from-sudo.txt".into()),
        removes: None,
    };
    assert!(matches!(
        run_action(&a, &cx).await.unwrap().outcome,
        hoist_exec::TaskOutcome::Skipped(_)
    ));

    // A wrong password, and no password: sudo refuses, the task fails, nothing leaks.
    cx.become_ = Some(Become::user("root").with_password(Some(Secret::new("wrong-pw-7q2"))));
    let wrong = [Secret::new("wrong-pw-7q2")];
    cx.secrets = &wrong;
    let e = run_action(&shell("touch /root/bad"), &cx)
        .await
        .unwrap_err();
    assert_eq!(e.kind, TaskErrorKind::Failed, "{e}");
    let text = format!("{e} {:?}", e.output);
    assert!(!text.contains("wrong-pw-7q2"), "{text}");
    assert!(
        text.contains("incorrect password") || text.contains("Sorry"),
        "{text}"
    );
    cx.become_ = Some(Become::user("root"));
    let e = run_action(&shell("touch /root/bad"), &cx)
        .await
        .unwrap_err();
    assert!(
        format!("{:?}", e.output).contains("password is required"),
        "{e}: {:?}",
        e.output
    );
    assert!(!root.exists("/root/bad").await.unwrap_or(true));
}

#[derive(Model)]
#[hoist(crate = "hoist_core")]
struct Hosts {
    h1: Role,
    h2: Role,
    h3: Role,
}

#[derive(Model)]
#[hoist(crate = "hoist_core")]
struct Config {
    root1: Task,
    root2: Task,
    root3: Task,
    again1: Task,
    plain: Task,
    file3: Task,
}

#[tokio::test]
async fn orchestration_asks_for_the_sudo_password_once_for_three_hosts() {
    let Some(bed) = Testbed::up(3) else { return };
    let pw = bed.sudo_password();
    let role = |i: usize| {
        Role::on(bed.hosts[i].address.as_str())
            .port(bed.hosts[i].port)
            .user("hoisttest")
    };
    let r = Hosts::refs();
    let ns = Hosts {
        h1: role(0),
        h2: role(1),
        h3: role(2),
    };
    let cfg = Config {
        root1: Task::shell("id -un > /root/became")
            .role(r.h1.clone())
            .sudo(),
        root2: Task::shell("id -un > /root/became")
            .role(r.h2.clone())
            .sudo(),
        root3: Task::shell("id -un > /root/became")
            .role(r.h3.clone())
            .sudo(),
        again1: Task::command("touch /root/again").role(r.h1.clone()).sudo(),
        plain: Task::shell("id -un > plain.txt").role(r.h2.clone()),
        file3: Task::copy_content("root file\n", "/root/file3")
            .role(r.h3)
            .sudo(),
    };
    let asked = Arc::new(AtomicUsize::new(0));
    let asked2 = asked.clone();
    let pw2 = pw.clone();
    let ssh = bed.connector();
    let orch = Orchestration::builder("sudo")
        .state_in_memory()
        .namespace("ns", ns)
        .config("cfg", cfg)
        .connector(Arc::new(ssh.clone()))
        .readiness(Readiness {
            attempts: 3,
            interval: Duration::from_millis(200),
            timeout: Duration::from_secs(10),
            ..Readiness::default()
        })
        .sudo_prompt(move || {
            asked2.fetch_add(1, Ordering::SeqCst);
            Secret::new(pw2.clone())
        })
        .build()
        .unwrap();
    let report = orch.initiate_system().await.unwrap();
    assert!(report.success, "{report}");
    assert_eq!(
        asked.load(Ordering::SeqCst),
        1,
        "the prompt is asked exactly once"
    );
    for t in &report.tasks {
        assert_eq!(t.outcome, TaskOutcome::Changed, "{report}");
    }
    let shown = format!("{report} {report:?}");
    assert!(!shown.contains(&pw), "the password is never shown");

    // What ran as root did, on every host; the plain task ran as hoisttest.
    for i in 0..3 {
        let t = ssh.connect_host(&bed.target(i, None)).await.unwrap();
        assert_eq!(ok(&t, "cat /root/became").await, "root\n");
    }
    let t1 = ssh.connect_host(&bed.target(0, None)).await.unwrap();
    assert!(
        hoist_exec::Transport::exists(&*t1, "/root/again")
            .await
            .unwrap()
    );
    let t2 = ssh
        .connect_host(&bed.target(1, Some("hoisttest")))
        .await
        .unwrap();
    assert_eq!(ok(&t2, "cat plain.txt").await, "hoisttest\n");
    let t3 = ssh.connect_host(&bed.target(2, None)).await.unwrap();
    assert_eq!(
        ok(&t3, "stat -c %U /root/file3; cat /root/file3").await,
        "root\nroot file\n"
    );
    // One connection per (host, user): three as hoisttest, then root's for checking.
    assert_eq!(ssh.connections_opened(), 3 + 3);

    // No become task: the prompt is never asked.
    let asked3 = Arc::new(AtomicUsize::new(0));
    let a3 = asked3.clone();
    #[derive(Model)]
    #[hoist(crate = "hoist_core")]
    struct One {
        t: Task,
    }
    let orch = Orchestration::builder("nosudo")
        .state_in_memory()
        .namespace(
            "ns",
            Hosts {
                h1: role(0),
                h2: role(1),
                h3: role(2),
            },
        )
        .config(
            "cfg",
            One {
                t: Task::shell("true").role(Hosts::refs().h1),
            },
        )
        .connector(Arc::new(ssh.clone()))
        .sudo_prompt(move || {
            a3.fetch_add(1, Ordering::SeqCst);
            Secret::new("x")
        })
        .build()
        .unwrap();
    assert!(orch.initiate_system().await.unwrap().success);
    assert_eq!(asked3.load(Ordering::SeqCst), 0);
}
