//! Every task kind of `hoist_exec::run_action` over SSH, as root and as other users.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::Duration;

use hoist_core::{Action, CopySource};
use hoist_exec::{
    Become, MapVars, TaskContext, TaskErrorKind, TaskOutcome, TaskSuccess, Transport as _,
    run_action,
};

use crate::ok;
use crate::testbed::Testbed;

fn vars() -> MapVars {
    MapVars::new()
        .with("NAME", "World")
        .with("PLACE", "host1")
        .with("OTHER", "hoisttest")
}

fn cx<'a>(t: &'a dyn hoist_exec::Transport, vars: &'a MapVars, local: &Path) -> TaskContext<'a> {
    let mut cx = TaskContext::new(Some(t), vars);
    cx.timeout = Some(Duration::from_secs(30));
    cx.local_dir = local.to_path_buf();
    cx
}

fn command(argv: &[&str]) -> Action {
    Action::Command {
        argv: argv.iter().map(|s| (*s).to_string()).collect(),
        chdir: None,
        creates: None,
        removes: None,
    }
}

fn shell(line: &str) -> Action {
    Action::Shell {
        line: line.into(),
        chdir: None,
        creates: None,
        removes: None,
    }
}

fn stdout(s: &TaskSuccess) -> &str {
    &s.output.as_ref().unwrap().stdout
}

fn local_file(dir: &Path, p: &str, text: &str, mode: u32) {
    let path = dir.join(p);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[tokio::test]
async fn every_task_kind_over_ssh() {
    let Some(bed) = Testbed::up(1) else { return };
    let ssh = bed.connector();
    let t = ssh.connect_host(&bed.target(0, None)).await.unwrap();
    let local = tempfile::TempDir::new().unwrap();
    let v = vars();
    let cx = cx(&*t, &v, local.path());

    // Ping.
    assert_eq!(
        run_action(&Action::Ping, &cx).await.unwrap().outcome,
        TaskOutcome::Unchanged
    );

    // Command: `>` is an argument; Shell: it redirects.
    let s = run_action(&command(&["echo", "hi", "!{NAME}", ">", "out.txt"]), &cx)
        .await
        .unwrap();
    assert_eq!(stdout(&s), "hi World > out.txt\n");
    assert!(!t.exists("out.txt").await.unwrap());
    let s = run_action(&shell("echo hi !{NAME} > out.txt"), &cx)
        .await
        .unwrap();
    assert_eq!(s.outcome, TaskOutcome::Changed);
    assert_eq!(ok(&t, "cat out.txt").await, "hi World\n");

    // A failing command carries its output; a missing variable fails before running.
    let e = run_action(&shell("echo partial; echo bad >&2; exit 5"), &cx)
        .await
        .unwrap_err();
    assert_eq!(e.kind, TaskErrorKind::Failed);
    assert!(e.message.contains("exited with status 5"), "{e}");
    assert!(e.message.contains(t.host()), "{e}");
    let out = e.output.unwrap();
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str()),
        ("partial\n", "bad\n")
    );
    let e = run_action(&shell("touch ran; echo !{NOPE}"), &cx)
        .await
        .unwrap_err();
    assert_eq!(e.kind, TaskErrorKind::MissingVariable);
    assert!(!t.exists("ran").await.unwrap());

    // creates / removes skip; relative to chdir.
    ok(&t, "mkdir -p sub && touch sub/World.done marker").await;
    let a = Action::Shell {
        line: "touch ran1".into(),
        chdir: None,
        creates: Some("marker".into()),
        removes: None,
    };
    let s = run_action(&a, &cx).await.unwrap();
    assert!(
        matches!(&s.outcome, TaskOutcome::Skipped(r) if r.contains("exists")),
        "{s:?}"
    );
    let a = Action::Shell {
        line: "touch ran2".into(),
        chdir: None,
        creates: None,
        removes: Some("missing".into()),
    };
    let s = run_action(&a, &cx).await.unwrap();
    assert!(
        matches!(&s.outcome, TaskOutcome::Skipped(r) if r.contains("does not exist")),
        "{s:?}"
    );
    let a = Action::Command {
        argv: vec!["touch".into(), "ran3".into()],
        chdir: Some("sub".into()),
        creates: Some("!{NAME}.done".into()),
        removes: None,
    };
    assert!(matches!(
        run_action(&a, &cx).await.unwrap().outcome,
        TaskOutcome::Skipped(_)
    ));
    let a = Action::Command {
        argv: vec!["touch".into(), "ran4".into()],
        chdir: Some("sub".into()),
        creates: Some("other.done".into()),
        removes: None,
    };
    assert_eq!(
        run_action(&a, &cx).await.unwrap().outcome,
        TaskOutcome::Changed
    );
    assert!(t.exists("sub/ran4").await.unwrap());
    assert!(!t.exists("ran1").await.unwrap() && !t.exists("ran2").await.unwrap());

    // A chdir that does not exist fails, naming it.
    let a = Action::Command {
        argv: vec!["pwd".into()],
        chdir: Some("/no/such/dir".into()),
        creates: None,
        removes: None,
    };
    let e = run_action(&a, &cx).await.unwrap_err();
    assert_eq!(e.kind, TaskErrorKind::Failed);
    assert!(e.message.contains("/no/such/dir"), "{e}");

    // Script: `!{}` processed, arguments, the temporary copy removed.
    local_file(
        local.path(),
        "setup.sh",
        "#!/bin/sh\necho \"hello !{NAME} from $(hostname) $1\"\necho \"$0\"\necho done > result\n",
        0o755,
    );
    let a = Action::Script {
        path: "setup.sh".into(),
        args: vec!["arg one".into()],
        process_vars: true,
        creates: None,
        removes: None,
    };
    let s = run_action(&a, &cx).await.unwrap();
    let out = stdout(&s);
    assert!(
        out.starts_with("hello World from host1 arg one\n/tmp/hoist-setup.sh-"),
        "{out}"
    );
    assert_eq!(ok(&t, "cat result").await, "done\n");
    assert_eq!(
        ok(
            &t,
            "ls -A /tmp | grep -v ^hoist-ssh-bed- | grep hoist || true"
        )
        .await,
        ""
    );

    // Template: jinja + `!{}`; a missing variable fails and writes nothing.
    let a = Action::Template {
        src: CopySource::Content("Hello {{ NAME }} on !{PLACE}\n".into()),
        dest: "hello.txt".into(),
        mode: Some(0o640),
    };
    run_action(&a, &cx).await.unwrap();
    assert_eq!(
        ok(&t, "cat hello.txt; stat -c %a hello.txt").await,
        "Hello World on host1\n640\n"
    );
    let a = Action::Template {
        src: CopySource::Content("x={{ UNDEFINED_ONE }}\n".into()),
        dest: "t1".into(),
        mode: None,
    };
    let e = run_action(&a, &cx).await.unwrap_err();
    assert_eq!(e.kind, TaskErrorKind::Template);
    assert!(e.message.contains("UNDEFINED_ONE"), "{e}");
    assert!(!t.exists("t1").await.unwrap());

    // Directory copies: rsync's trailing-slash rule, modes kept.
    local_file(local.path(), "site/index.html", "<h1>hi</h1>\n", 0o640);
    local_file(local.path(), "site/cgi/run.sh", "#!/bin/sh\n", 0o755);
    std::fs::set_permissions(
        local.path().join("site/cgi"),
        std::fs::Permissions::from_mode(0o750),
    )
    .unwrap();
    std::fs::set_permissions(
        local.path().join("site"),
        std::fs::Permissions::from_mode(0o751),
    )
    .unwrap();
    let copy = |src: &str, dest: &str| Action::Copy {
        src: CopySource::Path(src.into()),
        dest: dest.into(),
        mode: None,
        owner: None,
        group: None,
    };
    let tree = "find . -printf '%P %m\\n' | sort | sed '/^ /d'";
    run_action(&copy("site/", "www"), &cx).await.unwrap();
    assert_eq!(
        ok(&t, &format!("cd www && {tree}")).await,
        "cgi 750\ncgi/run.sh 755\nindex.html 640\n"
    );
    ok(&t, "mkdir www2").await;
    run_action(&copy("site", "www2"), &cx).await.unwrap();
    assert_eq!(
        ok(&t, &format!("cd www2 && {tree}")).await,
        "site 751\nsite/cgi 750\nsite/cgi/run.sh 755\nsite/index.html 640\n"
    );

    // Copy with owner and group by name.
    let a = Action::Copy {
        src: CopySource::Content("owned\n".into()),
        dest: "owned.txt".into(),
        mode: Some(0o600),
        owner: Some("!{OTHER}".into()),
        group: Some("hoisttest".into()),
    };
    run_action(&a, &cx).await.unwrap();
    assert_eq!(
        ok(&t, "stat -c '%U:%G %a' owned.txt").await,
        "hoisttest:hoisttest 600\n"
    );
    let a = Action::Copy {
        src: CopySource::Path("site".into()),
        dest: "www3".into(),
        mode: None,
        owner: Some("hoisttest".into()),
        group: None,
    };
    run_action(&a, &cx).await.unwrap();
    assert_eq!(
        ok(&t, "stat -c %U www3/site www3/site/cgi/run.sh").await,
        "hoisttest\nhoisttest\n"
    );

    // Environment variables reach commands, quoted.
    let tricky = "two words, 'single' and \"double\" quotes, $HOME and `backticks`; rm -rf /";
    let mut cx2 = crate::tasks::cx(&*t, &v, local.path());
    cx2.env = vec![("TRICKY".into(), tricky.into())];
    let s = run_action(&command(&["printenv", "TRICKY"]), &cx2)
        .await
        .unwrap();
    assert_eq!(stdout(&s), format!("{tricky}\n"));

    // A task's time limit.
    let mut cx3 = crate::tasks::cx(&*t, &v, local.path());
    cx3.timeout = Some(Duration::from_millis(300));
    let e = run_action(&command(&["sleep", "5"]), &cx3)
        .await
        .unwrap_err();
    assert_eq!(e.kind, TaskErrorKind::Timeout, "{e}");
    assert_eq!(ssh.connections_opened(), 1);
}

#[tokio::test]
async fn tasks_as_another_remote_user() {
    let Some(bed) = Testbed::up(1) else { return };
    let ssh = bed.connector();
    let local = tempfile::TempDir::new().unwrap();
    let v = vars();

    // Logged in as hoisttest (the target's credentials override the default user).
    let t = ssh
        .connect_host(&bed.target(0, Some("hoisttest")))
        .await
        .unwrap();
    assert_eq!(t.user(), "hoisttest");
    let cx = cx(&*t, &v, local.path());
    let s = run_action(&shell("id -un; echo $HOME; pwd"), &cx)
        .await
        .unwrap();
    assert_eq!(stdout(&s), "hoisttest\n/home/hoisttest\n/home/hoisttest\n");
    run_action(
        &Action::Copy {
            src: CopySource::Content("mine\n".into()),
            dest: "mine.txt".into(),
            mode: None,
            owner: None,
            group: None,
        },
        &cx,
    )
    .await
    .unwrap();
    assert_eq!(ok(&t, "stat -c '%U %a' mine.txt").await, "hoisttest 644\n");
    // A separate connection from root's.
    let root = ssh.connect_host(&bed.target(0, None)).await.unwrap();
    assert_eq!(ok(&root, "id -un").await, "root\n");
    assert_eq!(ssh.connections_opened(), 2);

    // Logged in as root, running as hoisttest through sudo (root needs no password).
    let mut cx = crate::tasks::cx(&*root, &v, local.path());
    cx.become_ = Some(Become::user("hoisttest"));
    let s = run_action(&shell("id -un; echo $HOME"), &cx).await.unwrap();
    assert_eq!(stdout(&s), "hoisttest\n/home/hoisttest\n");
    // Files are written by (and belong to) that user; paths are the login user's.
    let a = Action::Copy {
        src: CopySource::Content("as other\n".into()),
        dest: "/home/hoisttest/by-root.txt".into(),
        mode: Some(0o640),
        owner: None,
        group: None,
    };
    run_action(&a, &cx).await.unwrap();
    assert_eq!(
        ok(
            &root,
            "stat -c '%U:%G %a' /home/hoisttest/by-root.txt; cat /home/hoisttest/by-root.txt"
        )
        .await,
        "hoisttest:hoisttest 640\nas other\n"
    );
    // hoisttest cannot write into /root: the task fails naming the path.
    let a = Action::Copy {
        src: CopySource::Content("x".into()),
        dest: "/root/nope.txt".into(),
        mode: None,
        owner: None,
        group: None,
    };
    let e = run_action(&a, &cx).await.unwrap_err();
    assert_eq!(e.kind, TaskErrorKind::Transport, "{e}");
    assert!(
        e.message.contains("/root/nope.txt") && e.message.contains("hoisttest"),
        "{e}"
    );
    // A script uploaded and run as hoisttest, then removed.
    local_file(local.path(), "who.sh", "#!/bin/sh\nid -un\n", 0o755);
    let a = Action::Script {
        path: "who.sh".into(),
        args: vec![],
        process_vars: false,
        creates: Some("/home/hoisttest/never".into()),
        removes: None,
    };
    let s = run_action(&a, &cx).await.unwrap();
    assert_eq!(stdout(&s), "hoisttest\n");
    assert_eq!(
        ok(
            &root,
            "ls -A /tmp | grep -v ^hoist-ssh-bed- | grep hoist || true"
        )
        .await,
        ""
    );
}
