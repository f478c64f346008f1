//! The configuration phase: transports, readiness, and the task scheduler (which tasks run
//! is `task_plan.rs`, where they run `hosts.rs`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use hoist_core::{
    Action, ChangedWhen, Credentials, Plan, PlannedHost, RetryPolicy, RoleId, Secret,
};
use hoist_exec::{
    Become, ConnectError, ConnectFailure, HostTarget, LocalTransport, TaskContext, TaskErrorKind,
    Transport, VarSource, run_action,
};
use hoist_state::{Change, SystemState, TaskRecord, TaskStatus};
use tokio::task::JoinSet;
use tracing::Instrument as _;

use crate::context::RunCx;
use crate::dag::{DagRun, NodeState, Permits, Steps, Work, drive};
use crate::error::OrchestrationError;
use crate::events::{EventKind, Phase};
use crate::fingerprint::Fingerprint;
use crate::hosts::{HostSpec, Hosts, Snapshot};
use crate::journal::Journal;
use crate::options::SudoPrompt;
use crate::report::{CapturedOutput, Report, ResourceOutcome, TaskOutcome, TaskReport};
use crate::retry::retry;
use crate::target::Selection;
use crate::task_plan::{
    TaskPlan, forget_unplanned, handlers_after, may_be_notified, stamp_baseline,
};

/// The variables of one task role, for the task runner.
struct RoleVars {
    plan: Arc<Plan>,
    role: Option<RoleId>,
    outputs: Arc<Snapshot<'static>>,
}

/// No variables at all (readiness pings).
struct NoVars;

impl VarSource for NoVars {
    fn expand(&self, text: &str) -> Result<String, String> {
        Ok(text.to_string())
    }
    fn context(&self) -> BTreeMap<String, String> {
        BTreeMap::new()
    }
}

impl VarSource for RoleVars {
    fn expand(&self, text: &str) -> Result<String, String> {
        match self.role {
            Some(r) => self
                .plan
                .expand(r, text, &*self.outputs)
                .map(|e| e.text)
                .map_err(|e| e.to_string()),
            None if hoist_core::namespace::has_refs(text) => Err(format!(
                "{text:?} uses variables, but the task has no role to take them from"
            )),
            None => Ok(text.to_string()),
        }
    }
    fn context(&self) -> BTreeMap<String, String> {
        self.role
            .map(|r| self.plan.template_context(r, &*self.outputs))
            .unwrap_or_default()
    }
}

async fn connect(
    cx: &RunCx,
    spec: &HostSpec,
    creds: &Credentials,
) -> Result<Arc<dyn Transport>, ConnectError> {
    match spec {
        HostSpec::Local(d) => Ok(Arc::new(LocalTransport::sandbox(d.clone()))),
        HostSpec::Net {
            address,
            port,
            jump,
        } => {
            let target = HostTarget {
                address: address.clone(),
                port: *port,
                creds: creds.clone(),
                jump: jump.clone(),
            };
            for c in cx.connectors.iter() {
                if let Some(t) = c.connect(&target).await? {
                    return Ok(t);
                }
            }
            Err(ConnectError::new(
                ConnectFailure::Config,
                format!(
                    "no transport can reach `{address}`: add a connector for network hosts (the SSH transport), \
                     or map the host to a reachable endpoint with `connect_override`"
                ),
            ))
        }
    }
}

/// Connects and pings, with bounded attempts. A host that is down or does not answer is tried
/// again; a changed or unknown host key, or an unusable setting, stops at once; a refused
/// login stops at once for a host that already existed, and is tried again for a server
/// created in this run (`fresh`) only within the readiness's login grace (its keys may not
/// be installed yet).
async fn ready(cx: &RunCx, spec: &HostSpec, creds: &Credentials, fresh: bool) -> Connected {
    let r = cx.opts.readiness;
    if r.attempts == 0 {
        return connect(cx, spec, creds).await.map_err(|e| e.message);
    }
    let t0 = tokio::time::Instant::now();
    // An unreachable host gets `attempts`; a fresh server that refuses logins gets as many
    // as its login grace needs (both bounded).
    let unreachable_tries = std::sync::atomic::AtomicU32::new(0);
    let retryable = |e: &ConnectError| match e.failure {
        ConnectFailure::Unreachable => {
            let tries = unreachable_tries.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            tries < r.attempts
        }
        ConnectFailure::Refused => fresh && t0.elapsed() < r.login_grace,
        _ => false,
    };
    let grace = r.login_grace.as_millis() / r.interval.as_millis().max(1) + 1;
    let grace = u32::try_from(grace)
        .unwrap_or(u32::MAX)
        .min(MAX_GRACE_ATTEMPTS);
    let policy = RetryPolicy::attempts(r.attempts.max(grace)).constant(r.interval);
    let (result, attempts) = retry(
        &policy,
        &cx.cancel,
        retryable,
        |_, _, _| {},
        |_| async {
            let t = connect(cx, spec, creds).await?;
            let tcx = TaskContext {
                transport: Some(&*t),
                vars: &NoVars,
                env: Vec::new(),
                timeout: Some(r.timeout),
                secrets: &[],
                local_dir: cx.opts.local_dir.clone(),
                become_: None,
            };
            let unreachable = |m: String| ConnectError::new(ConnectFailure::Unreachable, m);
            match tokio::time::timeout(r.timeout, run_action(&Action::Ping, &tcx)).await {
                Ok(Ok(_)) => Ok(t),
                Ok(Err(e)) => Err(unreachable(e.to_string())),
                Err(_) => Err(unreachable(format!("no answer within {:?}", r.timeout))),
            }
        },
    )
    .await;
    result.map_err(|last| format!("not ready after {attempts} attempt(s): {last}"))
}

/// The most attempts a login grace adds, whatever the interval.
const MAX_GRACE_ATTEMPTS: u32 = 600;

/// A host's transport, or why it could not be reached.
type Connected = Result<Arc<dyn Transport>, String>;

/// The run's sudo password: the one given to the builder, or the prompt's answer, asked at
/// most once per run and only when a task with a become user starts.
struct SudoPassword {
    fixed: Option<Secret>,
    prompt: Option<SudoPrompt>,
    cell: tokio::sync::OnceCell<Option<Secret>>,
}

impl SudoPassword {
    fn new(fixed: Option<Secret>, prompt: Option<SudoPrompt>) -> Self {
        SudoPassword {
            fixed,
            prompt,
            cell: tokio::sync::OnceCell::new(),
        }
    }

    /// The password (`None`: sudo without one), asking the prompt on first use; an answer
    /// too short to be hidden from output is refused.
    async fn get(&self) -> Result<Option<Secret>, String> {
        let password = self
            .cell
            .get_or_init(|| async {
                if let Some(s) = &self.fixed {
                    return Some(s.clone());
                }
                let prompt = self.prompt.clone()?;
                // The prompt may block (a terminal): off the async workers.
                tokio::task::spawn_blocking(move || prompt()).await.ok()
            })
            .await
            .clone();
        match password.as_ref().and_then(hoist_core::secret::too_short) {
            Some(why) => Err(format!("the sudo password: {why}")),
            None => Ok(password),
        }
    }

    /// `secrets` plus the password, if it is known by now.
    fn with_known(&self, secrets: &[Secret]) -> Vec<Secret> {
        let known = self
            .fixed
            .clone()
            .or_else(|| self.cell.get().cloned().flatten());
        secrets.iter().cloned().chain(known).collect()
    }
}

/// The record of handler `key` notified (its earlier record `old`, if any, keeps its host and
/// fingerprint).
fn pending(key: &str, old: Option<&TaskRecord>) -> TaskRecord {
    TaskRecord {
        key: key.to_string(),
        status: TaskStatus::Pending,
        attempts: 0,
        host: old.map(|t| t.host.clone()).unwrap_or_default(),
        error: None,
        fingerprint: old.and_then(|t| t.fingerprint.clone()),
    }
}

/// Why a handler did not run.
const NOT_NOTIFIED: &str = "not notified: nothing it follows changed";

/// What a task's work returns.
struct TaskDone {
    host: String,
    result: Result<hoist_exec::TaskSuccess, hoist_exec::TaskError>,
    attempts: u32,
    elapsed: std::time::Duration,
}

pub(crate) async fn configure(
    cx: &RunCx,
    plan: &Arc<Plan>,
    state: &mut SystemState,
    jr: &Journal,
    report: &mut Report,
    selection: Option<&Selection>,
) -> Result<(), OrchestrationError> {
    let (em, opts) = (&cx.em, &cx.opts);
    let left_out = |i: usize| selection.is_some_and(|s| !s.tasks[i]);
    let outputs = Arc::new(Snapshot::new(plan, state));
    let keys: Vec<String> = plan
        .tasks
        .iter()
        .map(hoist_core::PlannedTask::key)
        .collect();
    if selection.is_none() {
        forget_unplanned(state, jr, &keys).await?;
    }
    let preds: Vec<Vec<u32>> = plan
        .tasks
        .iter()
        .map(|t| t.deps.iter().map(|d| d.0).collect())
        .collect();
    let TaskPlan {
        host_of,
        fingerprints,
        reasons,
    } = {
        let mut d = cx
            .digester
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let hosts = Hosts {
            opts: &cx.opts,
            proxies: &cx.proxies,
        };
        TaskPlan::new(hosts, plan, state, &outputs, &mut d, &cx.system)?
    };
    let waits = may_be_notified(plan, &preds, &reasons);
    let mut dag = DagRun::new(&preds, |i| left_out(i) || reasons[i].is_none() && !waits[i]);
    stamp_baseline(state, jr, &keys, &dag, &fingerprints).await?;
    for (i, k) in keys.iter().enumerate() {
        if dag.state[i] == NodeState::Done {
            report.tasks.push(TaskReport {
                key: k.clone(),
                host: state
                    .tasks
                    .get(k)
                    .map(|t| t.host.clone())
                    .unwrap_or_default(),
                outcome: if left_out(i) {
                    TaskOutcome::NotRun
                } else {
                    TaskOutcome::AlreadyDone
                },
                attempts: 0,
                duration: std::time::Duration::ZERO,
                error: None,
                output: None,
            });
        }
    }
    let todo: Vec<usize> = (0..plan.tasks.len())
        .filter(|&i| dag.state[i] != NodeState::Done)
        .collect();
    if todo.is_empty() {
        return Ok(());
    }

    // Each host, the credentials of the first task on it, and whether it is a server this
    // run created (which may refuse logins for a while).
    let created: BTreeSet<&str> = report
        .resources
        .iter()
        .filter(|r| {
            matches!(
                r.outcome,
                ResourceOutcome::Created | ResourceOutcome::Adopted
            )
        })
        .map(|r| r.key.as_str())
        .collect();
    let mut first_creds: BTreeMap<HostSpec, (Credentials, bool)> = BTreeMap::new();
    for &i in &todo {
        let t = &plan.tasks[i];
        if let Some(Ok((spec, _))) = host_of.get(&i) {
            let fresh = match plan.roles[t.run_on.index()].host {
                PlannedHost::Resource { resource, .. } => {
                    created.contains(plan.resources[resource.index()].key().as_str())
                }
                _ => false,
            };
            first_creds
                .entry(spec.clone())
                .or_insert_with(|| (t.creds.clone(), fresh));
        }
    }
    em.emit(EventKind::PhaseStarting(Phase::Readiness));
    let mut transports: HashMap<HostSpec, Result<Arc<dyn Transport>, String>> = HashMap::new();
    let mut checks: JoinSet<(HostSpec, Connected)> = JoinSet::new();
    let sem = Arc::new(tokio::sync::Semaphore::new(opts.concurrency));
    for (spec, (creds, fresh)) in first_creds {
        let cx = cx.clone();
        let sem = sem.clone();
        checks.spawn(async move {
            let _p = sem.acquire_owned().await;
            let r = ready(&cx, &spec, &creds, fresh).await;
            (spec, r)
        });
    }
    let mut all_ready = true;
    while let Some(Ok((spec, r))) = checks.join_next().await {
        let desc = match &spec {
            HostSpec::Local(d) => format!("local:{}", d.display()),
            HostSpec::Net {
                address,
                port: Some(p),
                ..
            } => format!("{address}:{p}"),
            HostSpec::Net { address, .. } => address.clone(),
        };
        all_ready &= r.is_ok();
        em.emit(EventKind::HostReady {
            host: desc,
            ready: r.is_ok(),
        });
        transports.insert(spec, r);
    }
    em.emit(EventKind::PhaseFinished {
        phase: Phase::Readiness,
        success: all_ready,
    });

    em.emit(EventKind::PhaseStarting(Phase::Configuration));
    // The sudo password: given, or asked at most once, when the first become task starts.
    let sudo = Arc::new(SudoPassword::new(
        opts.sudo_password.clone(),
        opts.sudo_prompt.clone(),
    ));
    let mut permits = Permits::new(opts.concurrency, HashMap::new(), opts.host_limit);
    let mut steps = Runs {
        cx,
        plan,
        state,
        jr,
        report,
        keys,
        host_of,
        transports,
        outputs,
        secrets: plan.secrets().to_vec().into(),
        sudo,
        warned: BTreeSet::new(),
        notified: reasons.iter().map(Option::is_some).collect(),
        handlers: handlers_after(plan),
        intents: vec![0; plan.tasks.len()],
        prior: HashMap::new(),
        intended: vec![false; plan.tasks.len()],
        fingerprints,
    };
    let driven = drive(
        &mut steps,
        &mut dag,
        &mut permits,
        &cx.cancel,
        opts.fail_fast,
    )
    .await?;
    driven.close(Phase::Configuration, em, report);
    Ok(())
}

/// Configuration: run each task on its host.
struct Runs<'a> {
    cx: &'a RunCx,
    plan: &'a Arc<Plan>,
    state: &'a mut SystemState,
    jr: &'a Journal,
    report: &'a mut Report,
    keys: Vec<String>,
    host_of: HashMap<usize, Result<(HostSpec, String), String>>,
    transports: HashMap<HostSpec, Result<Arc<dyn Transport>, String>>,
    outputs: Arc<Snapshot<'static>>,
    secrets: Arc<[Secret]>,
    sudo: Arc<SudoPassword>,
    warned: BTreeSet<String>,
    /// Each task's fingerprint, recorded when it succeeds.
    fingerprints: Vec<Fingerprint>,
    /// Per task: whether it runs (false for a handler not notified yet).
    notified: Vec<bool>,
    /// Per task: the handlers that follow it (notified when it changes something).
    handlers: Vec<Vec<usize>>,
    /// Per handler: the tasks it follows that are running now (each recorded it as pending
    /// before it started), and its record from before the first of them.
    intents: Vec<u32>,
    prior: HashMap<usize, Option<TaskRecord>>,
    /// Per task: it recorded its handlers' intent.
    intended: Vec<bool>,
}

/// Where a task runs.
struct Place {
    /// The transport (none for local tasks).
    transport: Option<Arc<dyn Transport>>,
    /// A description of the host.
    host: String,
    /// Why the host cannot be used, if it cannot.
    unreachable: Option<String>,
}

impl Runs<'_> {
    /// Where task `i` runs.
    fn place(&self, i: usize) -> Place {
        let place = |transport, host: &str, unreachable| Place {
            transport,
            host: host.to_string(),
            unreachable,
        };
        let t = &self.plan.tasks[i];
        if t.action.is_local() || t.run_on.index() >= self.plan.roles.len() {
            return place(None, "controller", None);
        }
        match self.host_of.get(&i) {
            Some(Ok((spec, desc))) => match self.transports.get(spec) {
                Some(Ok(tr)) => place(Some(tr.clone()), desc, None),
                Some(Err(e)) => place(
                    None,
                    desc,
                    Some(format!("host {desc} is not reachable: {e}")),
                ),
                None => place(None, desc, None),
            },
            Some(Err(e)) => place(None, "?", Some(e.clone())),
            None => place(None, "?", None),
        }
    }

    /// Records, announces and reports the outcome of task `i`.
    async fn record(&mut self, i: usize, line: TaskReport) -> Result<(), OrchestrationError> {
        let key = line.key.clone();
        let failed = line.outcome == TaskOutcome::Failed;
        let rec = TaskRecord {
            key: key.clone(),
            status: if failed {
                TaskStatus::Failed
            } else {
                TaskStatus::Succeeded
            },
            attempts: line.attempts,
            host: line.host.clone(),
            error: line.error.clone(),
            fingerprint: (!failed).then(|| self.fingerprints[i].clone()),
        };
        // What it means for its handlers is recorded in the same write.
        let mut changes = vec![Change::PutTask(rec)];
        changes.extend(self.settle(i, &line.outcome));
        self.jr.write(self.state, changes).await?;
        let host = line.host.clone();
        match (&line.outcome, &line.error) {
            (TaskOutcome::Failed, Some(e)) => {
                self.cx.em.emit(EventKind::TaskFailed {
                    key: key.clone(),
                    host: host.clone(),
                    error: e.clone(),
                });
                tracing::warn!(task = %key, host = %host, error = %e, "task failed");
            }
            (outcome, _) => {
                let text = match outcome {
                    TaskOutcome::Unchanged => "unchanged".to_string(),
                    TaskOutcome::Skipped(why) => format!("skipped: {why}"),
                    _ => "changed".to_string(),
                };
                self.cx.em.emit(EventKind::TaskFinished {
                    key,
                    host,
                    outcome: text,
                });
            }
        }
        self.report.tasks.push(line);
        Ok(())
    }

    /// Before task `i` runs: the handlers that follow it are recorded as pending, an intent
    /// (whether it will change something is not known yet, and a crash after it changed
    /// something and before its outcome is recorded must not lose the notification).
    fn intend(&mut self, i: usize) -> Vec<Change> {
        let mut changes = Vec::new();
        self.intended[i] = !self.handlers[i].is_empty();
        for h in self.handlers[i].clone() {
            if self.notified[h] {
                continue;
            }
            if self.intents[h] == 0 {
                let old = self.state.tasks.get(&self.keys[h]).cloned();
                changes.push(Change::PutTask(pending(&self.keys[h], old.as_ref())));
                self.prior.insert(h, old);
            }
            self.intents[h] += 1;
        }
        changes
    }

    /// After task `i` ended with `outcome`: a change notifies the handlers that follow it
    /// (their pending records stay); a failure leaves them pending (it may have changed
    /// something); otherwise a handler that nothing notified gets its record back once no
    /// task it follows is in flight.
    fn settle(&mut self, i: usize, outcome: &TaskOutcome) -> Vec<Change> {
        let intended = std::mem::replace(&mut self.intended[i], false);
        let mut changes = Vec::new();
        for h in self.handlers[i].clone() {
            if intended && self.intents[h] > 0 {
                self.intents[h] -= 1;
            }
            match outcome {
                TaskOutcome::Changed => {
                    let written = self.prior.remove(&h).is_some();
                    if !std::mem::replace(&mut self.notified[h], true) && !written {
                        let old = self.state.tasks.get(&self.keys[h]);
                        changes.push(Change::PutTask(pending(&self.keys[h], old)));
                    }
                }
                TaskOutcome::Failed => {}
                _ if self.notified[h] || self.intents[h] > 0 => {}
                _ => match self.prior.remove(&h) {
                    Some(Some(old)) => changes.push(Change::PutTask(old)),
                    Some(None) => changes.push(Change::RemoveTask(self.keys[h].clone())),
                    None => {}
                },
            }
        }
        changes
    }

    /// A report line for task `i`.
    fn line(
        &self,
        i: usize,
        host: String,
        outcome: TaskOutcome,
        error: Option<String>,
    ) -> TaskReport {
        TaskReport {
            key: self.keys[i].clone(),
            host,
            outcome,
            attempts: 0,
            duration: std::time::Duration::ZERO,
            error,
            output: None,
        }
    }
}

impl Steps for Runs<'_> {
    type Done = TaskDone;

    fn permit_key(&self, i: usize) -> String {
        self.place(i).host
    }

    async fn start(&mut self, i: usize) -> Result<Option<Work<TaskDone>>, OrchestrationError> {
        if !self.notified[i] {
            // A handler nothing notified: done, without touching its host.
            let host = self.place(i).host;
            return Ok(Some(Box::pin(async move {
                TaskDone {
                    host,
                    result: Ok(hoist_exec::TaskSuccess {
                        outcome: hoist_exec::TaskOutcome::Skipped(NOT_NOTIFIED.into()),
                        output: None,
                    }),
                    attempts: 0,
                    elapsed: std::time::Duration::ZERO,
                }
            })));
        }
        let Place {
            transport,
            host: desc,
            unreachable,
        } = self.place(i);
        if let Some(msg) = unreachable {
            let line = self.line(i, desc, TaskOutcome::Failed, Some(msg));
            self.record(i, line).await?;
            return Ok(None);
        }
        let plan = self.plan;
        let t = &plan.tasks[i];
        let key = self.keys[i].clone();
        let role = (t.role.index() < plan.roles.len()).then_some(t.role);
        let (env, errs) = match role {
            Some(r) => plan.task_env(r, &*self.outputs),
            None => (Vec::new(), Vec::new()),
        };
        for e in errs {
            let w = format!("{e} (left out of task environments)");
            if self.warned.insert(w.clone()) {
                self.report.warnings.push(w);
            }
        }
        let vars = RoleVars {
            plan: plan.clone(),
            role,
            outputs: self.outputs.clone(),
        };
        let action = t.action.clone();
        let policy = t.retry;
        let become_user = t.become_user.clone().filter(|_| !t.action.is_local());
        let sudo = self.sudo.clone();
        let secrets = self.secrets.clone();
        let cx = self.cx.clone();
        let intent = self.intend(i);
        if !intent.is_empty() {
            self.jr.write(self.state, intent).await?;
        }
        let span = tracing::info_span!("task", task = %key, host = %desc);
        Ok(Some(Box::pin(
            async move {
                let t0 = tokio::time::Instant::now();
                let become_ = match become_user {
                    Some(user) => match sudo.get().await {
                        Ok(password) => Some(Become { user, password }),
                        Err(why) => {
                            let e = hoist_exec::TaskError::new(TaskErrorKind::BadArgument, why);
                            return TaskDone {
                                host: desc,
                                result: Err(e),
                                attempts: 0,
                                elapsed: t0.elapsed(),
                            };
                        }
                    },
                    None => None,
                };
                // The sudo password is scrubbed from this task's output like any secret.
                let secrets: Vec<Secret> = secrets
                    .iter()
                    .cloned()
                    .chain(become_.as_ref().and_then(|b| b.password.clone()))
                    .collect();
                let on_retry = |attempt, e: &hoist_exec::TaskError, delay| {
                    cx.em.emit(EventKind::TaskRetrying {
                        key: key.clone(),
                        attempt,
                        delay,
                        error: e.to_string(),
                    });
                };
                let (result, attempts) = retry(
                    &policy,
                    &cx.cancel,
                    |_| true,
                    on_retry,
                    |attempt| {
                        cx.em.emit(EventKind::TaskStarting {
                            key: key.clone(),
                            host: desc.clone(),
                            attempt,
                        });
                        let tcx = TaskContext {
                            transport: transport.as_deref(),
                            vars: &vars,
                            env: env.clone(),
                            timeout: policy.attempt_timeout,
                            secrets: &secrets,
                            local_dir: cx.opts.local_dir.clone(),
                            become_: become_.clone(),
                        };
                        let action = &action;
                        async move { run_action(action, &tcx).await }
                    },
                )
                .await;
                TaskDone {
                    host: desc,
                    result,
                    attempts,
                    elapsed: t0.elapsed(),
                }
            }
            .instrument(span),
        )))
    }

    async fn finish(
        &mut self,
        i: usize,
        done: Option<TaskDone>,
    ) -> Result<bool, OrchestrationError> {
        let Some(done) = done else {
            let msg = "the worker running the task panicked".to_string();
            let line = self.line(i, self.place(i).host, TaskOutcome::Failed, Some(msg));
            self.record(i, line).await?;
            return Ok(false);
        };
        match done.result {
            Ok(s) => {
                let changed = match &self.plan.tasks[i].changed_when {
                    ChangedWhen::Never => false,
                    ChangedWhen::StdoutContains(x) => s
                        .output
                        .as_ref()
                        .is_some_and(|o| o.stdout.contains(x.as_str())),
                    _ => true,
                };
                let outcome = match s.outcome {
                    hoist_exec::TaskOutcome::Changed if changed => TaskOutcome::Changed,
                    hoist_exec::TaskOutcome::Changed | hoist_exec::TaskOutcome::Unchanged => {
                        TaskOutcome::Unchanged
                    }
                    hoist_exec::TaskOutcome::Skipped(why) => TaskOutcome::Skipped(why),
                };
                let line = TaskReport {
                    attempts: done.attempts,
                    duration: done.elapsed,
                    ..self.line(i, done.host, outcome, None)
                };
                if !self.notified[i] {
                    // Not notified: nothing ran, nothing to record.
                    self.report.tasks.push(line);
                    return Ok(true);
                }
                self.record(i, line).await?;
                Ok(true)
            }
            Err(e) => {
                let secrets = self.sudo.with_known(self.plan.secrets());
                let msg = hoist_core::secret::scrub(&e.to_string(), &secrets);
                let output = e.output.as_ref().map(|x| CapturedOutput {
                    exit_code: x.exit_code,
                    stdout: hoist_core::secret::scrub(&x.stdout, &secrets),
                    stderr: hoist_core::secret::scrub(&x.stderr, &secrets),
                });
                let line = TaskReport {
                    attempts: done.attempts,
                    duration: done.elapsed,
                    output,
                    ..self.line(i, done.host, TaskOutcome::Failed, Some(msg))
                };
                self.record(i, line).await?;
                Ok(false)
            }
        }
    }

    fn not_run(&mut self, i: usize) {
        let host = self
            .host_of
            .get(&i)
            .and_then(|h| h.as_ref().ok())
            .map(|h| h.1.clone())
            .unwrap_or_default();
        let line = self.line(i, host, TaskOutcome::NotRun, None);
        self.report.tasks.push(line);
    }
}
