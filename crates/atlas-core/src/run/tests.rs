//! The run state machine against SPEC §4's transition table, written as data.

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::gate::{CheckName, CheckResult, CheckResultKind, CheckedContext, ReasonCode};

const WS: Uuid = Uuid::from_u128(0x10);
const TENANT: Uuid = Uuid::from_u128(0x20);
const USER: Uuid = Uuid::from_u128(0x30);
const SCHEDULE: Uuid = Uuid::from_u128(0x40);
const RUN: Uuid = Uuid::from_u128(0x70);
const T0: Timestamp = Timestamp(1_795_000_000_000_000);

fn decision(allowed: bool, reason: Option<ReasonCode>) -> Decision {
    let result = if allowed {
        CheckResultKind::Pass
    } else {
        CheckResultKind::Fail
    };
    Decision {
        allowed,
        authority_mode: Some(AuthorityKind::ActorBound),
        denial_class: reason.map(ReasonCode::class),
        reason_code: reason,
        retryable: reason.is_some_and(ReasonCode::retryable),
        message: "test".into(),
        checks: vec![CheckResult {
            check: CheckName::Context,
            result,
            detail: None,
        }],
        evaluated_at: T0,
        attempt: 1,
    }
}

fn allowed() -> Decision {
    decision(true, None)
}

fn denied() -> Decision {
    decision(false, Some(ReasonCode::CapabilityRevoked))
}

fn unavailable() -> Decision {
    decision(false, Some(ReasonCode::EvaluationUnavailable))
}

fn lease() -> Lease {
    Lease {
        owner: "worker-1".into(),
        token: Uuid::from_u128(0x80),
        expires_at: T0.plus_millis(30_000),
    }
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
    Run::queued(
        new_run(Authority::Actor { user_id: USER }, max_attempts),
        RUN,
        T0,
    )
    .0
}

fn counts(succeeded: u64, failed: u64, skipped: u64, blocked: u64) -> SummaryCounts {
    let total = succeeded + failed + skipped + blocked;
    SummaryCounts {
        total,
        succeeded,
        failed,
        skipped,
        blocked,
        ..SummaryCounts::default()
    }
    .recount()
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
    /// No row of the table describes the event.
    Nothing,
}

fn when(event: &RunEvent) -> When {
    match event {
        RunEvent::Start { decision, .. } if decision.allowed => When::GateAllowedAtClaim,
        RunEvent::Block {
            decision,
            counts: None,
        } if !decision.allowed => When::GateDeniedFinal,
        RunEvent::Block {
            decision,
            counts: Some(c),
        } if !decision.allowed && c.blocked > 0 => When::GateDeniedBetweenItems,
        RunEvent::ScheduleRetry {
            decision: Some(d),
            failure: None,
            ..
        } if d.retryable => When::RetryableDenial,
        RunEvent::ScheduleRetry { decision: None, .. } => When::RetryableFailureOrRescue,
        RunEvent::Cancel { counts: None, .. } => When::CancelledBeforeStart,
        RunEvent::Cancel {
            counts: Some(_), ..
        } => When::CancelledBetweenItems,
        RunEvent::Complete {
            outcome: RunOutcome::Succeeded | RunOutcome::PartiallySucceeded | RunOutcome::Failed,
            ..
        } => When::HandlerFinished,
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

use RunOutcome::{Blocked, Cancelled, Failed, PartiallySucceeded, Pending, Succeeded};
use RunStatus::{Completed, Queued, Running};

const TABLE: &[Row] = &[
    Row {
        from: (Queued, Pending),
        when: When::GateAllowedAtClaim,
        to: Running,
        outcomes: &[Pending],
        audit: "operation.started",
    },
    Row {
        from: (Queued, Pending),
        when: When::GateDeniedFinal,
        to: Completed,
        outcomes: &[Blocked],
        audit: "operation.blocked",
    },
    Row {
        from: (Queued, Pending),
        when: When::RetryableDenial,
        to: Queued,
        outcomes: &[Pending],
        audit: "operation.retry_scheduled",
    },
    Row {
        from: (Queued, Pending),
        when: When::CancelledBeforeStart,
        to: Completed,
        outcomes: &[Cancelled],
        audit: "operation.cancelled",
    },
    Row {
        from: (Running, Pending),
        when: When::HandlerFinished,
        to: Completed,
        outcomes: &[Succeeded, PartiallySucceeded, Failed],
        audit: "operation.completed",
    },
    Row {
        from: (Running, Pending),
        when: When::RetryableFailureOrRescue,
        to: Queued,
        outcomes: &[Pending],
        audit: "operation.retry_scheduled",
    },
    // The transition table names blocked and partially_succeeded; §3.6 says "the
    // outcome follows §4", whose outcome table makes "none succeeded, some failed
    // (blocked or not)" a `failed` run.
    Row {
        from: (Running, Pending),
        when: When::GateDeniedBetweenItems,
        to: Completed,
        outcomes: &[Blocked, PartiallySucceeded, Failed],
        audit: "operation.blocked",
    },
    Row {
        from: (Running, Pending),
        when: When::CancelledBetweenItems,
        to: Completed,
        outcomes: &[Cancelled, PartiallySucceeded],
        audit: "operation.cancelled",
    },
];

fn row_for(run: &Run, event: &RunEvent) -> Option<&'static Row> {
    let w = when(event);
    TABLE
        .iter()
        .find(|r| r.from == (run.status, run.outcome) && r.when == w)
}

// ---------------------------------------------------------------------------
// Generators.

fn arb_decision() -> impl Strategy<Value = Decision> {
    prop_oneof![Just(allowed()), Just(denied()), Just(unavailable())]
}

fn arb_counts() -> impl Strategy<Value = SummaryCounts> {
    (0u64..4, 0u64..4, 0u64..4, 0u64..4).prop_map(|(s, f, k, b)| counts(s, f, k, b))
}

/// Counts of a run stopped between items: the rest (at least one) counted blocked.
fn arb_stopped_counts() -> impl Strategy<Value = SummaryCounts> {
    (0u64..4, 0u64..4, 0u64..4, 1u64..4).prop_map(|(s, f, k, b)| counts(s, f, k, b))
}

fn arb_failure() -> impl Strategy<Value = Failure> {
    prop_oneof![Just("provider_unavailable"), Just("throttled")].prop_map(|code| Failure {
        code: code.into(),
        message: "try again".into(),
    })
}

fn arb_actor() -> impl Strategy<Value = Actor> {
    prop_oneof![Just(Actor::System), Just(Actor::User { user_id: USER })]
}

fn arb_event() -> impl Strategy<Value = RunEvent> {
    prop_oneof![
        arb_decision().prop_map(|decision| RunEvent::Start {
            decision,
            lease: lease()
        }),
        (arb_decision(), proptest::option::of(arb_stopped_counts()))
            .prop_map(|(decision, counts)| RunEvent::Block { decision, counts }),
        (
            proptest::option::of(arb_decision()),
            proptest::option::of(arb_failure()),
            0i64..60_000
        )
            .prop_map(|(decision, failure, ms)| RunEvent::ScheduleRetry {
                decision,
                failure,
                run_after: T0.plus_millis(ms)
            }),
        (arb_actor(), proptest::option::of(arb_counts()))
            .prop_map(|(by, counts)| RunEvent::Cancel { by, counts }),
        (prop::sample::select(RunOutcome::ALL.to_vec()), arb_counts()).prop_map(
            |(outcome, counts)| {
                RunEvent::Complete {
                    outcome,
                    counts,
                    result: json!({"ok": true}),
                    failures: Vec::new(),
                }
            }
        ),
    ]
}

/// Any status/outcome pair, the impossible ones included.
fn arb_run() -> impl Strategy<Value = Run> {
    let statuses = prop::sample::select(RunStatus::ALL.to_vec());
    let outcomes = prop::sample::select(RunOutcome::ALL.to_vec());
    (statuses, outcomes, 0u32..3, any::<bool>(), arb_counts()).prop_map(
        |(status, outcome, attempt, ran, counts)| {
            let mut run = queued(3);
            run.status = status;
            run.outcome = outcome;
            run.attempt = attempt;
            // A queued run may have run before (a retry); a running one has.
            if ran || status == Running {
                run.started_at = Some(T0);
                run.summary_counts = counts;
            }
            if status == Running {
                run.lease = Some(lease());
            }
            run
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn a_completed_run_never_changes(events in proptest::collection::vec(arb_event(), 1..16)) {
        let mut run = queued(3);
        let mut t = T0;
        for event in events {
            t = t.plus_millis(1);
            let before = run.clone();
            let result = transition(&run, event, t);
            if before.status == Completed {
                prop_assert!(result.is_err(), "a completed run moved");
                prop_assert_eq!(&run, &before);
                continue;
            }
            if let Ok((next, _)) = result {
                prop_assert_eq!(next.status == Completed, next.outcome != Pending);
                prop_assert_eq!(next.lease.is_some(), next.status == Running);
                prop_assert_eq!(next.completed_at.is_some(), next.status == Completed);
                run = next;
            }
        }
    }

    #[test]
    fn transitions_are_exactly_the_spec_table(run in arb_run(), event in arb_event()) {
        let row = row_for(&run, &event);
        let at = T0.plus_millis(5);
        let result = transition(&run, event.clone(), at);
        let Some(row) = row else {
            prop_assert!(result.is_err(), "accepted {:?} from {:?}/{:?}", event, run.status, run.outcome);
            return Ok(());
        };
        let (next, audit) = match result {
            Ok(ok) => ok,
            Err(e) => return Err(TestCaseError::fail(format!("refused a table transition: {e}"))),
        };
        prop_assert_eq!(next.status, row.to);
        prop_assert!(row.outcomes.contains(&next.outcome), "outcome {:?} not in {:?}", next.outcome, row.outcomes);
        prop_assert_eq!(audit.action.as_str(), row.audit);
        prop_assert_eq!(audit.subject, format!("run:{RUN}"));
        prop_assert_eq!(audit.workspace_id, Some(WS));
        prop_assert_eq!(audit.data["attempt"].as_u64(), Some(u64::from(next.attempt)));
        let evaluated = matches!(row.when, When::GateAllowedAtClaim | When::GateDeniedFinal | When::RetryableDenial);
        prop_assert_eq!(next.attempt, run.attempt + u32::from(evaluated), "every claim evaluation is an attempt");
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
        let started_at = if row.when == When::GateAllowedAtClaim { run.started_at.or(Some(at)) } else { run.started_at };
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
            match transition(&run, event, t) {
                Ok((next, audit)) => {
                    actions.push(audit.action);
                    run = next;
                }
                Err(e) => return Err(TestCaseError::fail(e.to_string())),
            }
        }
        prop_assert_eq!(run.attempt, max_attempts);
        prop_assert_eq!(run.outcome, Blocked);
        prop_assert_eq!(run.started_at, None);
        prop_assert_eq!(run.summary_counts.processed, 0);
        prop_assert_eq!(run.decision.and_then(|d| d.reason_code), Some(ReasonCode::EvaluationUnavailable));
        let mut expected = vec!["operation.retry_scheduled".to_owned(); max_attempts as usize - 1];
        expected.push("operation.blocked".into());
        prop_assert_eq!(actions, expected);
    }
}

// ---------------------------------------------------------------------------
// Unit tests.

fn apply(run: &Run, event: RunEvent) -> (Run, AuditDraft) {
    apply_at(run, event, T0.plus_millis(10))
}

fn apply_at(run: &Run, event: RunEvent, at: Timestamp) -> (Run, AuditDraft) {
    match transition(run, event, at) {
        Ok(ok) => ok,
        Err(e) => panic!("unexpected {e}"),
    }
}

#[test]
fn a_run_blocked_before_it_started_never_ran() {
    let run = queued(3);
    let (blocked, audit) = apply(
        &run,
        RunEvent::Block {
            decision: denied(),
            counts: None,
        },
    );
    assert_eq!((blocked.status, blocked.outcome), (Completed, Blocked));
    assert_eq!(blocked.started_at, None);
    assert_eq!(blocked.summary_counts.processed, 0);
    assert_eq!(blocked.summary_counts, SummaryCounts::default());
    assert_eq!(blocked.attempt, run.attempt + 1);
    assert_eq!(blocked.completed_at, Some(T0.plus_millis(10)));
    assert_eq!(blocked.decision, Some(denied()));
    assert_eq!(audit.action, "operation.blocked");
    assert_eq!(audit.actor, Actor::System);
    assert_eq!(audit.data["initiator_user_id"], json!(USER));
    assert_eq!(
        audit.data["decision"]["reason_code"],
        json!("capability_revoked")
    );
}

#[test]
fn claim_event_follows_the_decision() {
    let run = queued(3);
    assert!(matches!(
        claim_event(&run, allowed(), lease(), T0),
        RunEvent::Start { .. }
    ));
    assert!(matches!(
        claim_event(&run, denied(), lease(), T0),
        RunEvent::Block { counts: None, .. }
    ));
    assert!(matches!(
        claim_event(&run, unavailable(), lease(), T0),
        RunEvent::ScheduleRetry {
            decision: Some(_),
            ..
        }
    ));
    let mut last = run.clone();
    last.attempt = 2;
    assert!(matches!(
        claim_event(&last, unavailable(), lease(), T0),
        RunEvent::Block { counts: None, .. }
    ));
}

#[test]
fn failures_retry_while_attempts_remain_then_fail() {
    let mut run = queued(3);
    let failure = || Failure {
        code: "provider_unavailable".into(),
        message: "503".into(),
    };
    let mut first_start = None;
    for attempt in 1..=3u32 {
        let at = T0.plus_millis(i64::from(attempt) * 1_000);
        let (started, _) = apply_at(&run, claim_event(&run, allowed(), lease(), at), at);
        assert_eq!((started.status, started.attempt), (Running, attempt));
        first_start = first_start.or(started.started_at);
        assert_eq!(
            started.started_at, first_start,
            "started_at is the first start"
        );
        assert_eq!(first_start, Some(T0.plus_millis(1_000)));
        let event = failure_event(
            &started,
            failure(),
            true,
            counts(0, 1, 0, 0),
            T0.plus_millis(100),
        );
        let (next, audit) = apply(&started, event);
        if attempt < 3 {
            assert_eq!(
                (next.status, next.outcome),
                (Queued, Pending),
                "attempt {attempt}"
            );
            assert_eq!(audit.action, "operation.retry_scheduled");
            assert_eq!(next.lease, None);
        } else {
            assert_eq!((next.status, next.outcome), (Completed, Failed));
            assert_eq!(audit.action, "operation.completed");
            assert_eq!(next.failures.len(), 3);
        }
        run = next;
    }
    let (started, _) = apply(
        &queued(3),
        RunEvent::Start {
            decision: allowed(),
            lease: lease(),
        },
    );
    let fatal = failure_event(&started, failure(), false, SummaryCounts::default(), T0);
    assert!(matches!(
        fatal,
        RunEvent::Complete {
            outcome: RunOutcome::Failed,
            ..
        }
    ));
}

#[test]
fn queued_runs_record_their_initiator_and_a_sound_context() {
    let (run, audit) = Run::queued(new_run(Authority::Actor { user_id: USER }, 3), RUN, T0);
    assert_eq!((run.status, run.outcome, run.attempt), (Queued, Pending, 0));
    assert_eq!(run.initiator_user_id, Some(USER));
    assert_eq!(audit.action, "operation.queued");
    assert_eq!(audit.actor, Actor::User { user_id: USER });
    assert_eq!(audit.tenant_id, Some(TENANT));
    match run.execution_context().check() {
        Ok(c) => {
            assert_eq!(c.authority, Authority::Actor { user_id: USER });
            assert_eq!((c.workspace_id, c.tenant_id), (WS, Some(TENANT)));
        }
        Err(e) => panic!("context of a fresh run is invalid: {e}"),
    }

    let (sys, audit) = Run::queued(new_run(Authority::schedule(SCHEDULE, T0), 0), RUN, T0);
    assert_eq!(sys.initiator_user_id, None);
    assert_eq!(sys.authority_mode, AuthorityKind::SystemAuthority);
    assert_eq!(sys.max_attempts, 1, "at least one attempt");
    assert_eq!(audit.actor, Actor::System);
    assert_eq!(audit.data["source"]["schedule_id"], json!(SCHEDULE));
    assert!(matches!(
        sys.execution_context().check(),
        Ok(CheckedContext {
            authority: Authority::System {
                schedule_id: SCHEDULE,
                ..
            },
            ..
        })
    ));
}

#[test]
fn illegal_transitions_name_what_was_refused() {
    let run = queued(3);
    let complete = RunEvent::Complete {
        outcome: Succeeded,
        counts: counts(1, 0, 0, 0),
        result: json!({}),
        failures: vec![],
    };
    assert_eq!(
        transition(&run, complete, T0),
        Err(IllegalTransition {
            status: "queued",
            outcome: "pending",
            event: "complete"
        })
    );
}
