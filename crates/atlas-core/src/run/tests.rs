//! The run state machine against SPEC §4's transition table, written as data.

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::gate::{CheckName, CheckResult, CheckResultKind, ReasonCode};
use RunOutcome::{Blocked, Cancelled, Failed, PartiallySucceeded, Pending, Succeeded};
use RunStatus::{Completed, Queued, Running};

const WS: Uuid = Uuid::from_u128(0x10);
const TENANT: Uuid = Uuid::from_u128(0x20);
const USER: Uuid = Uuid::from_u128(0x30);
const SCHEDULE: Uuid = Uuid::from_u128(0x40);
const RUN: Uuid = Uuid::from_u128(0x70);
const T0: Timestamp = Timestamp(1_795_000_000_000_000);

fn decision(reason: Option<ReasonCode>) -> Decision {
    let result = if reason.is_some() { CheckResultKind::Fail } else { CheckResultKind::Pass };
    let check = CheckResult { check: CheckName::Context, result, detail: None };
    Decision {
        allowed: reason.is_none(),
        authority_mode: Some(AuthorityKind::ActorBound),
        denial_class: reason.map(ReasonCode::class),
        reason_code: reason,
        retryable: reason.is_some_and(ReasonCode::retryable),
        message: "test".into(),
        checks: vec![check],
        evaluated_at: T0,
        attempt: 1,
    }
}

fn allowed() -> Decision {
    decision(None)
}

fn denied() -> Decision {
    decision(Some(ReasonCode::CapabilityRevoked))
}

fn unavailable() -> Decision {
    decision(Some(ReasonCode::EvaluationUnavailable))
}

fn lease() -> Lease {
    let (owner, token) = ("worker-1".to_owned(), Uuid::from_u128(0x80));
    Lease { owner, token, expires_at: T0.plus_millis(30_000) }
}

fn start() -> RunEvent {
    RunEvent::Start { decision: allowed(), lease: lease() }
}

fn new_run(authority: Authority, max_attempts: u32) -> NewRun {
    NewRun {
        op_type: OperationType::InventorySync,
        workspace_id: WS,
        tenant_id: Some(TENANT),
        authority,
        params: json!({}),
        retry_of_run_id: None,
        max_attempts,
    }
}

fn queued(max_attempts: u32) -> Run {
    let new = new_run(Authority::Actor { user_id: USER }, max_attempts);
    Run::queued(new, RUN, T0).0
}

fn counts(succeeded: u64, failed: u64, skipped: u64, blocked: u64) -> SummaryCounts {
    let total = succeeded + failed + skipped + blocked;
    let c = SummaryCounts { total, succeeded, failed, skipped, blocked, ..Default::default() };
    c.recount()
}

// ---------------------------------------------------------------------------
// SPEC §4, as data. `When` is the table's "when" column, read off an event.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum When {
    GateAllowedAtClaim,
    GateDeniedFinal,
    RetryableDenial,
    CancelledBeforeStart,
    HandlerFinished,
    RetryableFailureOrRescue,
    GateDeniedBetweenItems,
    CancelledBetweenItems,
    WorkerStopped,
    /// No row of the table describes the event.
    Nothing,
}

fn when(event: &RunEvent) -> When {
    match event {
        RunEvent::Start { decision: d, .. } if d.allowed => When::GateAllowedAtClaim,
        RunEvent::Block { decision: d, counts: None } if !d.allowed => When::GateDeniedFinal,
        // Stopped between items: the rest, at least one, counted blocked (§3.6).
        RunEvent::Block { decision: d, counts: Some(c) } if !d.allowed && c.blocked > 0 => When::GateDeniedBetweenItems,
        RunEvent::ScheduleRetry { decision: Some(d), failure: None, .. } if d.retryable => When::RetryableDenial,
        RunEvent::ScheduleRetry { decision: None, .. } => When::RetryableFailureOrRescue,
        RunEvent::Cancel { counts: None, .. } => When::CancelledBeforeStart,
        RunEvent::Cancel { counts: Some(_), .. } => When::CancelledBetweenItems,
        RunEvent::Complete { outcome: Succeeded | PartiallySucceeded | Failed, .. } => When::HandlerFinished,
        RunEvent::HandBack { .. } => When::WorkerStopped,
        _ => When::Nothing,
    }
}

struct Row {
    from: (RunStatus, RunOutcome),
    when: When,
    to: RunStatus,
    outcomes: &'static [RunOutcome],
    audit: &'static str,
}

const fn row(from: RunStatus, when: When, to: RunStatus, outcomes: &'static [RunOutcome], audit: &'static str) -> Row {
    Row { from: (from, Pending), when, to, outcomes, audit }
}

/// The transition table. A gate denial between items ends `blocked` or
/// `partially_succeeded` there; §3.6 says its outcome follows §4, whose outcome
/// table makes "none succeeded, some failed (blocked or not)" `failed`.
#[rustfmt::skip]
const TABLE: &[Row] = &[
    row(Queued, When::GateAllowedAtClaim, Running, &[Pending], "operation.started"),
    row(Queued, When::GateDeniedFinal, Completed, &[Blocked], "operation.blocked"),
    row(Queued, When::RetryableDenial, Queued, &[Pending], "operation.retry_scheduled"),
    row(Queued, When::CancelledBeforeStart, Completed, &[Cancelled], "operation.cancelled"),
    row(Running, When::HandlerFinished, Completed, &[Succeeded, PartiallySucceeded, Failed], "operation.completed"),
    row(Running, When::RetryableFailureOrRescue, Queued, &[Pending], "operation.retry_scheduled"),
    row(Running, When::GateDeniedBetweenItems, Completed, &[Blocked, PartiallySucceeded, Failed], "operation.blocked"),
    row(Running, When::CancelledBetweenItems, Completed, &[Cancelled, PartiallySucceeded], "operation.cancelled"),
    row(Running, When::WorkerStopped, Queued, &[Pending], "operation.retry_scheduled"),
];

fn row_for(run: &Run, event: &RunEvent) -> Option<&'static Row> {
    let (from, w) = ((run.status, run.outcome), when(event));
    TABLE.iter().find(|r| r.from == from && r.when == w)
}

// ---------------------------------------------------------------------------
// Generators.

fn arb_decision() -> impl Strategy<Value = Decision> {
    prop_oneof![Just(allowed()), Just(denied()), Just(unavailable())]
}

fn arb_counts(min_blocked: u64) -> impl Strategy<Value = SummaryCounts> {
    let blocked = min_blocked..4;
    (0u64..4, 0u64..4, 0u64..4, blocked).prop_map(|(s, f, k, b)| counts(s, f, k, b))
}

fn arb_event() -> impl Strategy<Value = RunEvent> {
    let failure = |code: &str| Failure { code: code.into(), message: "try again".into() };
    let failures = prop_oneof![Just(failure("provider_unavailable")), Just(failure("throttled"))];
    let actors = prop_oneof![Just(Actor::System), Just(Actor::User { user_id: USER })];
    let outcomes = prop::sample::select(RunOutcome::ALL.to_vec());
    let retry = (proptest::option::of(arb_decision()), proptest::option::of(failures.clone()), 0i64..60_000);
    prop_oneof![
        arb_decision().prop_map(|decision| RunEvent::Start { decision, lease: lease() }),
        (arb_decision(), proptest::option::of(arb_counts(1)))
            .prop_map(|(decision, counts)| RunEvent::Block { decision, counts }),
        retry.prop_map(|(decision, failure, ms)| {
            let run_after = T0.plus_millis(ms);
            RunEvent::ScheduleRetry { decision, failure, run_after }
        }),
        (actors, proptest::option::of(arb_counts(0))).prop_map(|(by, counts)| RunEvent::Cancel { by, counts }),
        (outcomes, arb_counts(0)).prop_map(|(outcome, counts)| {
            let (result, failures) = (json!({"ok": true}), Vec::new());
            RunEvent::Complete { outcome, counts, result, failures }
        }),
        failures.prop_map(|failure| RunEvent::HandBack { failure }),
    ]
}

/// Any status/outcome pair, the impossible ones included; mostly active runs.
fn arb_run() -> impl Strategy<Value = Run> {
    let any_state = (prop::sample::select(RunStatus::ALL.to_vec()), prop::sample::select(RunOutcome::ALL.to_vec()));
    let state = prop_oneof![
        2 => Just((Queued, Pending)),
        2 => Just((Running, Pending)),
        3 => any_state,
    ];
    let parts = (state, 0u32..3, any::<bool>(), arb_counts(0));
    parts.prop_map(|((status, outcome), attempt, ran, counts)| {
        let mut run = queued(3);
        (run.status, run.outcome, run.attempt) = (status, outcome, attempt);
        // A queued run may have run before (a retry); a running one has.
        if ran || status == Running {
            (run.started_at, run.summary_counts) = (Some(T0), counts);
        }
        run.lease = (status == Running).then(lease);
        run
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn a_completed_run_never_changes(events in proptest::collection::vec(arb_event(), 1..16)) {
        let mut run = queued(3);
        let mut t = T0;
        for event in events {
            t = t.plus_millis(1);
            let name = event.name();
            match transition(&run, event, t) {
                Ok(_) if run.status == Completed => {
                    return Err(TestCaseError::fail(format!("a completed run took {name}")));
                }
                Ok((next, _)) => {
                    prop_assert_eq!(next.status == Completed, next.outcome != Pending);
                    prop_assert_eq!(next.lease.is_some(), next.status == Running);
                    prop_assert_eq!(next.completed_at.is_some(), next.status == Completed);
                    run = next;
                }
                Err(e) => {
                    prop_assert_eq!((e.status, e.outcome, e.event), (run.status.as_str(), run.outcome.as_str(), name));
                }
            }
        }
    }

    #[test]
    fn transitions_are_exactly_the_spec_table(run in arb_run(), event in arb_event()) {
        let at = T0.plus_millis(5);
        let result = transition(&run, event.clone(), at);
        let Some(row) = row_for(&run, &event) else {
            prop_assert!(result.is_err(), "accepted {:?} from {:?}/{:?}", event, run.status, run.outcome);
            return Ok(());
        };
        let (next, audit) = result.map_err(|e| TestCaseError::fail(format!("refused: {e}")))?;
        prop_assert_eq!(next.status, row.to);
        prop_assert!(row.outcomes.contains(&next.outcome), "{:?} not in {:?}", next.outcome, row.outcomes);
        prop_assert_eq!(audit.action.as_str(), row.audit);
        prop_assert_eq!(&audit.subject, &format!("run:{RUN}"));
        prop_assert_eq!(audit.workspace_id, Some(WS));
        prop_assert_eq!(audit.data["attempt"].as_u64(), Some(u64::from(next.attempt)));
        let evaluated = matches!(row.when, When::GateAllowedAtClaim | When::GateDeniedFinal | When::RetryableDenial);
        // An attempt its stopping worker handed back does not count.
        let attempt =
            if row.when == When::WorkerStopped { run.attempt.saturating_sub(1) } else { run.attempt + u32::from(evaluated) };
        prop_assert_eq!(next.attempt, attempt, "each claim evaluation is an attempt");
        match &event {
            RunEvent::Cancel { by, .. } => prop_assert_eq!(&audit.actor, by),
            _ => prop_assert_eq!(&audit.actor, &Actor::System),
        }
        match &event {
            RunEvent::Complete { outcome, counts, .. } => {
                prop_assert_eq!(next.outcome, *outcome);
                prop_assert_eq!(next.summary_counts, counts.recount());
            }
            RunEvent::Block { counts: Some(c), .. } | RunEvent::Cancel { counts: Some(c), .. } => {
                prop_assert_eq!(next.summary_counts, c.recount());
            }
            _ => {}
        }
        if let RunEvent::Start { decision, .. } | RunEvent::Block { decision, .. } = &event {
            prop_assert_eq!(next.decision.as_ref(), Some(decision));
        }
        prop_assert_eq!(next.completed_at, (next.status == Completed).then_some(at));
        prop_assert_eq!(next.lease.is_some(), next.status == Running);
        let first_start = run.started_at.or(Some(at));
        let started_at = if row.when == When::GateAllowedAtClaim { first_start } else { run.started_at };
        prop_assert_eq!(next.started_at, started_at, "started_at is the first start");
        if row.when == When::GateDeniedFinal && run.started_at.is_none() {
            prop_assert_eq!(next.summary_counts, SummaryCounts::default());
        }
    }

    #[test]
    fn retryable_denials_end_blocked_after_max_attempts(max_attempts in 1u32..6) {
        let mut run = queued(max_attempts);
        let mut actions = Vec::new();
        let mut t = T0;
        while run.status != Completed && actions.len() < 20 {
            t = t.plus_millis(1_000);
            let event = claim_event(&run, unavailable(), lease(), t.plus_millis(500));
            let (next, audit) = transition(&run, event, t).map_err(|e| TestCaseError::fail(e.to_string()))?;
            actions.push(audit.action);
            run = next;
        }
        prop_assert_eq!((run.attempt, run.outcome), (max_attempts, Blocked));
        prop_assert_eq!((run.started_at, run.summary_counts.processed), (None, 0));
        let reason = run.decision.and_then(|d| d.reason_code);
        prop_assert_eq!(reason, Some(ReasonCode::EvaluationUnavailable));
        let mut expected = vec!["operation.retry_scheduled".to_owned(); max_attempts as usize - 1];
        expected.push("operation.blocked".into());
        prop_assert_eq!(actions, expected);
    }
}

// ---------------------------------------------------------------------------
// Unit tests.

fn apply_at(run: &Run, event: RunEvent, at: Timestamp) -> (Run, AuditDraft) {
    match transition(run, event, at) {
        Ok(ok) => ok,
        Err(e) => panic!("unexpected {e}"),
    }
}

fn apply(run: &Run, event: RunEvent) -> (Run, AuditDraft) {
    apply_at(run, event, T0.plus_millis(10))
}

#[test]
fn a_run_blocked_before_it_started_never_ran() {
    let run = queued(3);
    let block = RunEvent::Block { decision: denied(), counts: None };
    let (blocked, audit) = apply(&run, block);
    assert_eq!((blocked.status, blocked.outcome), (Completed, Blocked));
    assert_eq!(blocked.started_at, None);
    assert_eq!(blocked.summary_counts.processed, 0);
    assert_eq!(blocked.summary_counts, SummaryCounts::default());
    assert_eq!(blocked.attempt, run.attempt + 1);
    assert_eq!(blocked.completed_at, Some(T0.plus_millis(10)));
    assert_eq!(blocked.decision, Some(denied()));
    assert_eq!((audit.action.as_str(), &audit.actor), ("operation.blocked", &Actor::System));
    assert_eq!(audit.data["initiator_user_id"], json!(USER));
    let reason = &audit.data["decision"]["reason_code"];
    assert_eq!(reason, &json!("capability_revoked"));
}

#[test]
fn claim_event_follows_the_decision() {
    let run = queued(3);
    let claim = |run: &Run, d: Decision| claim_event(run, d, lease(), T0);
    assert!(matches!(claim(&run, allowed()), RunEvent::Start { .. }));
    assert!(matches!(claim(&run, denied()), RunEvent::Block { counts: None, .. }));
    let retry = claim(&run, unavailable());
    assert!(matches!(retry, RunEvent::ScheduleRetry { decision: Some(_), .. }));
    let last = Run { attempt: 2, ..run };
    assert!(matches!(claim(&last, unavailable()), RunEvent::Block { counts: None, .. }));
}

#[test]
fn failures_retry_while_attempts_remain_then_fail() {
    let mut run = queued(3);
    let failure = || Failure { code: "provider_unavailable".into(), message: "503".into() };
    let retry_at = T0.plus_millis(100);
    for attempt in 1..=3u32 {
        let at = T0.plus_millis(i64::from(attempt) * 1_000);
        let (started, _) = apply_at(&run, claim_event(&run, allowed(), lease(), at), at);
        assert_eq!((started.status, started.attempt), (Running, attempt));
        let first_start = Some(T0.plus_millis(1_000));
        assert_eq!(started.started_at, first_start, "started_at is the first start");
        let event = failure_event(&started, failure(), true, counts(0, 1, 0, 0), retry_at);
        let (next, audit) = apply(&started, event);
        if attempt < 3 {
            assert_eq!((next.status, next.outcome), (Queued, Pending), "attempt {attempt}");
            assert_eq!(audit.action, "operation.retry_scheduled");
            assert_eq!((&next.lease, next.run_after), (&None, retry_at));
        } else {
            assert_eq!((next.status, next.outcome), (Completed, Failed));
            assert_eq!(audit.action, "operation.completed");
            assert_eq!(next.failures.len(), 3);
        }
        run = next;
    }
    let (started, _) = apply(&queued(3), start());
    let fatal = failure_event(&started, failure(), false, SummaryCounts::default(), T0);
    assert!(matches!(fatal, RunEvent::Complete { outcome: Failed, .. }));
}

#[test]
fn items_that_failed_only_retryably_send_the_run_back_while_attempts_remain() {
    let item = |n: u32| Failure { code: "provider_unavailable".into(), message: format!("Policy {n}: 503") };
    let failures: Vec<Failure> = (1..=5).map(item).collect();
    let only_retryable = ItemFailures { failed: 5, retryable: 5 };
    let end = |run: &Run, items: ItemFailures| {
        let c = counts(23, 5, 0, 0);
        items_end_event(run, PartiallySucceeded, c, json!({}), failures.clone(), items, T0.plus_millis(500))
    };
    let (started, _) = apply(&queued(3), start());
    let RunEvent::ScheduleRetry { decision: None, failure: Some(f), run_after } = end(&started, only_retryable) else {
        panic!("a retry expected")
    };
    assert_eq!((f.code.as_str(), run_after), ("provider_unavailable", T0.plus_millis(500)));
    assert!(
        f.message.starts_with("5 of 28 items failed with retryable errors; attempt 2 tries them again: Policy 1"),
        "{}",
        f.message
    );
    assert!(f.message.ends_with("; and 2 more"), "{}", f.message);
    let (back, audit) = apply(&started, end(&started, only_retryable));
    assert_eq!((back.status, back.outcome, audit.action.as_str()), (Queued, Pending, "operation.retry_scheduled"));

    // A permanent failure among them, no failure at all, or the last attempt: the run completes.
    for items in [ItemFailures { failed: 5, retryable: 4 }, ItemFailures::default()] {
        assert!(matches!(end(&started, items), RunEvent::Complete { outcome: PartiallySucceeded, .. }), "{items:?}");
    }
    let last = Run { attempt: 3, ..started };
    let RunEvent::Complete { failures: listed, .. } = end(&last, only_retryable) else {
        panic!("the last attempt completes")
    };
    assert_eq!(listed, failures, "each item's last error");
}

#[test]
fn queued_runs_record_their_initiator_and_a_sound_context() {
    let actor = Authority::Actor { user_id: USER };
    let (run, audit) = Run::queued(new_run(actor.clone(), 3), RUN, T0);
    assert_eq!((run.status, run.outcome, run.attempt), (Queued, Pending, 0));
    assert_eq!(run.initiator_user_id, Some(USER));
    assert_eq!(audit.action, "operation.queued");
    assert_eq!(audit.actor, Actor::User { user_id: USER });
    assert_eq!(audit.tenant_id, Some(TENANT));
    match run.execution_context().check() {
        Ok(c) => assert_eq!((c.authority, c.workspace_id, c.tenant_id), (actor, WS, Some(TENANT))),
        Err(e) => panic!("context of a fresh run is invalid: {e}"),
    }

    let system = new_run(Authority::schedule(SCHEDULE, T0), 0);
    let (sys, audit) = Run::queued(system, RUN, T0);
    assert_eq!(sys.initiator_user_id, None);
    assert_eq!(sys.authority_mode, AuthorityKind::SystemAuthority);
    assert_eq!(sys.max_attempts, 1, "at least one attempt");
    assert_eq!((audit.action.as_str(), audit.actor), ("operation.queued", Actor::System));
    assert_eq!(audit.data["source"]["schedule_id"], json!(SCHEDULE));
    let checked = sys.execution_context().check().map(|c| c.authority);
    assert!(matches!(checked, Ok(Authority::System { schedule_id: SCHEDULE, .. })));
}

#[test]
fn illegal_transitions_name_what_was_refused() {
    let (result, failures) = (json!({}), vec![]);
    let complete = RunEvent::Complete { outcome: Succeeded, counts: counts(1, 0, 0, 0), result, failures };
    let refused = IllegalTransition { status: "queued", outcome: "pending", event: "complete" };
    assert_eq!(transition(&queued(3), complete, T0), Err(refused));
}
