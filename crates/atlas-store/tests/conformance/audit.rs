//! The audit log: sealing, verification (and that each kind of tampering is
//! caught and pinned on the right event), export, the reader, and sealing
//! under concurrent writers.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use atlas_core::audit::{Actor, AuditDraft};
use atlas_store::admin::ChangeBy;
use atlas_store::audit::{AuditEvent, AuditFilter, BreakReason, VerifyReport, GENESIS_HASH};
use atlas_store::{Dialect, Store};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::fixture;

conformance!(
    intact_log_verifies,
    hash_follows_the_documented_encoding,
    large_backlog_seals_in_batches,
    edit_is_detected,
    deleted_middle_event_is_detected,
    deleted_newest_event_is_detected,
    reordering_is_detected,
    unsealing_an_event_is_detected,
    event_left_out_of_its_chain_is_detected,
    head_tampering_is_detected,
    verify_scopes_to_one_workspace,
    reader_filters_newest_first,
    concurrent_writers_seal_into_valid_chains,
    events_waiting_unsealed_are_counted_and_the_old_ones_named,
);

fn draft(workspace_id: Option<Uuid>, n: usize) -> AuditDraft {
    AuditDraft {
        action: "test.event".into(),
        actor: Actor::System,
        workspace_id,
        tenant_id: None,
        subject: format!("test:{n}"),
        data: json!({"n": n, "text": "quote \" and, comma"}),
    }
}

/// Verifies until nothing is left unsealed (`sealed` sums every round). On
/// PostgreSQL the horizon is the cluster's oldest transaction in flight, which
/// other tests may briefly hold.
async fn seal_all(store: &Store) -> VerifyReport {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut sealed = 0;
    loop {
        let mut report = store.audit_verify(None).await.unwrap();
        sealed += report.sealed;
        if report.unsealed == 0 {
            report.sealed = sealed;
            return report;
        }
        assert!(Instant::now() < deadline, "events stay unsealed: {report:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A workspace whose chain holds `workspace.created` plus `n` events, each
/// appended in a transaction with a global event; all sealed. Returns the
/// workspace and its chain in order.
async fn sealed_log(store: &Store, n: usize) -> (Uuid, Vec<AuditEvent>) {
    let ws = fixture::workspace(store).await.id;
    for i in 0..n {
        store.audit_append_for_tests(&[draft(Some(ws), i), draft(None, i)], Duration::ZERO).await.unwrap();
    }
    let report = seal_all(store).await;
    assert!(report.is_intact(), "{report:?}");
    (ws, chain(store, ws).await)
}

async fn chain(store: &Store, ws: Uuid) -> Vec<AuditEvent> {
    let filter = AuditFilter { workspace_id: Some(ws), limit: AuditFilter::MAX_LIMIT, ..AuditFilter::default() };
    let mut events = store.audit_events(filter).await.unwrap();
    events.sort_by_key(|e| e.chain_index);
    events
}

/// Verifies and returns the break, which must be in `ws`'s chain.
async fn broken(store: &Store, ws: Uuid) -> atlas_store::audit::BrokenEvent {
    let report = store.audit_verify(None).await.unwrap();
    let Some(broken) = report.broken.clone() else { panic!("tampering not detected: {report:?}") };
    assert_eq!(broken.chain, ws.to_string());
    let scoped = store.audit_verify(Some(ws)).await.unwrap();
    assert_eq!(scoped.broken.as_ref(), Some(&broken), "workspace-scoped verify disagrees");
    broken
}

async fn raw(store: &Store, sql: &str) {
    store.execute_raw(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn intact_log_verifies(store: Store) {
    let (ws, events) = sealed_log(&store, 5).await;
    store.user_create("a@example.com", "A", None, &ChangeBy::cli()).await.unwrap();
    let report = seal_all(&store).await;
    assert_eq!(report.broken, None);
    assert_eq!(report.chains_checked, 2, "the workspace chain and global");
    assert_eq!(report.events_checked, 6 + 5 + 1);

    assert_eq!(events.len(), 6);
    assert_eq!(events[0].action, "workspace.created");
    assert_eq!(events[0].prev_hash.as_deref(), Some(GENESIS_HASH));
    for (i, pair) in events.windows(2).enumerate() {
        assert_eq!(pair[1].chain_index, Some(i as i64 + 2));
        assert_eq!(pair[1].prev_hash, pair[0].hash, "event {} links to its predecessor", i + 2);
    }

    let scoped = store.audit_verify(Some(ws)).await.unwrap();
    assert_eq!((scoped.chains_checked, scoped.events_checked, scoped.broken), (1, 6, None));
    let again = store.audit_seal().await.unwrap();
    assert_eq!(again.sealed, 0, "nothing is sealed twice");

    let mut out = Vec::new();
    assert_eq!(store.audit_export(&mut out).await.unwrap(), 12);
    let lines: Vec<serde_json::Value> =
        String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 12);
    assert!(lines.windows(2).all(|w| w[0]["seq"].as_i64() < w[1]["seq"].as_i64()), "seq order");
    assert!(lines.iter().all(|l| l["hash"].is_string()), "export seals first");
    assert_eq!(lines[0]["action"], "workspace.created");
}

/// Pins the hash definition (module doc of `atlas_store::audit`), so that a
/// change to it is deliberate: an outside auditor recomputes exactly this.
async fn hash_follows_the_documented_encoding(store: Store) {
    let (ws, events) = sealed_log(&store, 1).await;
    let e = &events[1];
    let canonical = json!([
        "atlas-audit-v1",
        ws.to_string(),
        e.chain_index,
        e.seq,
        e.id.to_string(),
        ws.to_string(),
        null,
        "system",
        "test.event",
        "test:0",
        serde_json::to_string(&e.data).unwrap(),
        e.created_at.micros(),
        e.prev_hash,
    ]);
    let expected = hex::encode(Sha256::digest(canonical.to_string().as_bytes()));
    assert_eq!(e.hash.as_deref(), Some(expected.as_str()));
}

async fn large_backlog_seals_in_batches(store: Store) {
    let ws = fixture::workspace(&store).await.id;
    let drafts: Vec<AuditDraft> = (0..2500).map(|i| draft(Some(ws), i)).collect();
    store.audit_append_for_tests(&drafts, Duration::ZERO).await.unwrap();
    let report = seal_all(&store).await;
    assert_eq!(report.sealed, 2501, "three rounds of up to 1000");
    assert_eq!((report.events_checked, report.broken), (2501, None));

    // A break on the third page of the walk is still found.
    let events = chain(&store, ws).await; // newest 1000: indexes 1502..=2501
    let victim = events.iter().find(|e| e.chain_index == Some(2100)).unwrap();
    raw(&store, &format!("UPDATE audit_events SET subject = 'x' WHERE id = '{}'", victim.id)).await;
    let b = broken(&store, ws).await;
    assert_eq!((b.chain_index, b.event_id, b.reason), (2100, Some(victim.id), BreakReason::HashMismatch));
}

async fn edit_is_detected(store: Store) {
    let (ws, events) = sealed_log(&store, 5).await;
    let victim = &events[2];
    raw(&store, &format!(r#"UPDATE audit_events SET data = '{{"n": 99}}' WHERE id = '{}'"#, victim.id)).await;
    let b = broken(&store, ws).await;
    assert_eq!(b.chain_index, 3);
    assert_eq!(b.seq, Some(victim.seq));
    assert_eq!(b.event_id, Some(victim.id));
    assert_eq!(b.reason, BreakReason::HashMismatch);
    assert!(b.to_string().contains(&victim.id.to_string()), "{b}");
}

async fn deleted_middle_event_is_detected(store: Store) {
    let (ws, events) = sealed_log(&store, 5).await;
    raw(&store, &format!("DELETE FROM audit_events WHERE id = '{}'", events[2].id)).await;
    let b = broken(&store, ws).await;
    // The chain breaks at the event after the hole, which names the missing position.
    assert_eq!((b.chain_index, b.event_id), (4, Some(events[3].id)));
    assert_eq!(b.reason, BreakReason::Gap { expected_index: 3 });
    assert!(b.to_string().contains("#3"), "{b}");
}

async fn deleted_newest_event_is_detected(store: Store) {
    let (ws, events) = sealed_log(&store, 5).await;
    let newest = events.last().unwrap();
    raw(&store, &format!("DELETE FROM audit_events WHERE id = '{}'", newest.id)).await;
    let b = broken(&store, ws).await;
    assert_eq!((b.chain_index, b.seq, b.event_id), (6, Some(newest.seq), None));
    assert_eq!(b.reason, BreakReason::TailMissing { head_index: 6 });

    // A later event sealed onto the truncated chain does not paper over it.
    store.audit_append_for_tests(&[draft(Some(ws), 9)], Duration::ZERO).await.unwrap();
    seal_all(&store).await;
    let b = broken(&store, ws).await;
    assert_eq!((b.chain_index, b.reason), (7, BreakReason::Gap { expected_index: 6 }));
}

async fn reordering_is_detected(store: Store) {
    let (ws, events) = sealed_log(&store, 5).await;
    let (a, b) = (&events[1], &events[3]); // chain indexes 2 and 4
    let intact = |store: &Store| {
        let store = store.clone();
        async move { assert_eq!(store.audit_verify(None).await.unwrap().broken, None, "restored") }
    };

    let swap_index = format!(
        "UPDATE audit_seals SET chain_index = CASE chain_index WHEN 2 THEN 4 ELSE 2 END WHERE seq IN ({a}, {b})",
        a = a.seq,
        b = b.seq
    );
    raw(&store, &swap_index).await;
    let found = broken(&store, ws).await;
    assert_eq!((found.chain_index, found.event_id), (2, Some(b.id)), "the event now at #2");
    assert_eq!(found.reason, BreakReason::LinkMismatch);
    raw(&store, &swap_index).await;
    intact(&store).await;

    let swap_time = format!(
        "UPDATE audit_events SET created_at = CASE id WHEN '{a}' THEN {tb} ELSE {ta} END WHERE id IN ('{a}', '{b}')",
        a = a.id,
        b = b.id,
        ta = a.created_at.micros(),
        tb = b.created_at.micros() + 1,
    );
    raw(&store, &swap_time).await;
    let found = broken(&store, ws).await;
    assert_eq!((found.chain_index, found.event_id, found.reason), (2, Some(a.id), BreakReason::HashMismatch));
    raw(&store, &format!("UPDATE audit_events SET created_at = {} WHERE id = '{}'", a.created_at.micros(), a.id)).await;
    raw(&store, &format!("UPDATE audit_events SET created_at = {} WHERE id = '{}'", b.created_at.micros(), b.id)).await;
    intact(&store).await;

    // PostgreSQL refuses updates of an identity column: the tamperer must drop that first.
    if store.dialect() == Dialect::Postgres {
        raw(&store, "ALTER TABLE audit_events ALTER COLUMN seq SET GENERATED BY DEFAULT").await;
    }
    let swap_seq = format!(
        "UPDATE audit_events SET seq = -1 WHERE seq = {sa}; \
         UPDATE audit_events SET seq = {sa} WHERE seq = {sb}; \
         UPDATE audit_events SET seq = {sb} WHERE seq = -1;",
        sa = a.seq,
        sb = b.seq
    );
    raw(&store, &swap_seq).await;
    // Seals stay with their seq: the seal at #2 now meets event b.
    let found = broken(&store, ws).await;
    assert_eq!((found.chain_index, found.seq, found.event_id), (2, Some(a.seq), Some(b.id)));
    assert_eq!(found.reason, BreakReason::HashMismatch);
    raw(&store, &swap_seq).await;
    intact(&store).await;
}

async fn unsealing_an_event_is_detected(store: Store) {
    let (ws, events) = sealed_log(&store, 5).await;
    // Deleting a seal leaves a hole in the chain.
    raw(&store, &format!("DELETE FROM audit_seals WHERE seq = {}", events[1].seq)).await;
    let b = broken(&store, ws).await;
    assert_eq!((b.chain_index, b.event_id), (3, Some(events[2].id)));
    assert_eq!(b.reason, BreakReason::Gap { expected_index: 2 });
}

/// An event inside the sealed log that is in no chain is named even where no
/// hole shows it: here the newest, its seal deleted and the head moved back.
async fn event_left_out_of_its_chain_is_detected(store: Store) {
    let (ws, events) = sealed_log(&store, 3).await;
    let newest = events.last().unwrap();
    let before = &events[events.len() - 2];
    raw(&store, &format!("DELETE FROM audit_seals WHERE seq = {}", newest.seq)).await;
    raw(
        &store,
        &format!(
            "UPDATE audit_chain_heads SET last_index = {}, last_seq = {}, last_hash = '{}' WHERE chain = '{ws}'",
            before.chain_index.unwrap(),
            before.seq,
            before.hash.as_deref().unwrap()
        ),
    )
    .await;
    let b = broken(&store, ws).await;
    assert_eq!((b.seq, b.event_id, b.reason.clone()), (Some(newest.seq), Some(newest.id), BreakReason::Unsealed));
    assert!(b.to_string().contains("in no chain"), "{b}");
}

async fn head_tampering_is_detected(store: Store) {
    let (ws, events) = sealed_log(&store, 3).await;
    let last = events.last().unwrap();
    let restore = format!(
        "UPDATE audit_chain_heads SET last_index = 4, last_seq = {}, last_hash = '{}' WHERE chain = '{ws}'",
        last.seq,
        last.hash.as_deref().unwrap()
    );

    raw(&store, &format!("UPDATE audit_chain_heads SET last_hash = '{}' WHERE chain = '{ws}'", "f".repeat(64))).await;
    let b = broken(&store, ws).await;
    assert_eq!((b.chain_index, b.event_id, b.reason), (4, Some(last.id), BreakReason::HeadMismatch));
    raw(&store, &restore).await;

    raw(&store, &format!("UPDATE audit_chain_heads SET last_index = 3 WHERE chain = '{ws}'")).await;
    let b = broken(&store, ws).await;
    assert_eq!((b.chain_index, b.event_id, b.reason), (4, Some(last.id), BreakReason::HeadMismatch));
    raw(&store, &restore).await;

    raw(&store, &format!("UPDATE audit_chain_heads SET last_index = 5 WHERE chain = '{ws}'")).await;
    let b = broken(&store, ws).await;
    assert_eq!((b.chain_index, b.reason), (5, BreakReason::TailMissing { head_index: 5 }));
    raw(&store, &restore).await;
    assert!(store.audit_verify(None).await.unwrap().is_intact());

    raw(&store, &format!("DELETE FROM audit_chain_heads WHERE chain = '{ws}'")).await;
    let b = broken(&store, ws).await;
    assert_eq!((b.chain_index, b.event_id, b.reason), (4, Some(last.id), BreakReason::HeadMissing));
}

async fn verify_scopes_to_one_workspace(store: Store) {
    let (a, a_events) = sealed_log(&store, 2).await;
    let (b, _) = sealed_log(&store, 2).await;
    raw(&store, &format!("UPDATE audit_events SET actor = 'x' WHERE id = '{}'", a_events[1].id)).await;
    let other = store.audit_verify(Some(b)).await.unwrap();
    assert_eq!((other.chains_checked, other.events_checked, other.broken), (1, 3, None));
    let found = broken(&store, a).await;
    assert_eq!(found.event_id, Some(a_events[1].id));
    let nothing = store.audit_verify(Some(Uuid::now_v7())).await.unwrap();
    assert_eq!((nothing.chains_checked, nothing.events_checked, nothing.broken), (0, 0, None));
}

async fn reader_filters_newest_first(store: Store) {
    let (ws, _) = sealed_log(&store, 4).await;
    let user = store.user_create("b@example.com", "B", None, &ChangeBy::cli()).await.unwrap();
    let all = store.audit_events(AuditFilter::default()).await.unwrap();
    assert_eq!(all.len(), 1 + 4 + 4 + 1);
    assert!(all.windows(2).all(|w| w[0].seq > w[1].seq), "newest first");
    assert_eq!(all[0].action, "user.created");
    assert_eq!(all[0].chain, "global");

    let page1 =
        store.audit_events(AuditFilter { workspace_id: Some(ws), limit: 3, ..AuditFilter::default() }).await.unwrap();
    let page2 = store
        .audit_events(AuditFilter {
            workspace_id: Some(ws),
            before_seq: Some(page1[2].seq),
            limit: 3,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!((page1.len(), page2.len()), (3, 2));
    assert!(page1.iter().chain(&page2).all(|e| e.workspace_id == Some(ws)));
    assert!(page1[2].seq > page2[0].seq);
    assert_eq!(page2[1].action, "workspace.created");

    let by_subject = AuditFilter { subject: Some(format!("user:{}", user.id)), ..AuditFilter::default() };
    assert_eq!(store.audit_events(by_subject).await.unwrap().len(), 1);
    let by_action =
        AuditFilter { action: Some("test.event".into()), actor: Some("system".into()), ..AuditFilter::default() };
    assert_eq!(store.audit_events(by_action).await.unwrap().len(), 8);
    let by_tenant = AuditFilter { tenant_id: Some(Uuid::now_v7()), ..AuditFilter::default() };
    assert!(store.audit_events(by_tenant).await.unwrap().is_empty());
}

/// 8 writers × 50 transactions, each appending to one workspace chain and the
/// global chain and holding its transaction open 0–3 ms (so transaction order
/// and commit order differ), while two sealers and a verifier run. Every event
/// ends up sealed exactly once, in (xact, seq) order, in contiguous chains.
async fn concurrent_writers_seal_into_valid_chains(store: Store) {
    const WRITERS: usize = 8;
    const TXS: usize = 50;
    let ws = fixture::workspace(&store).await.id;
    let stop = Arc::new(AtomicBool::new(false));
    let sealed = Arc::new(AtomicU64::new(0));

    let mut sealers = Vec::new();
    for s in 0..2 {
        let (store, stop, sealed) = (store.clone(), stop.clone(), sealed.clone());
        sealers.push(tokio::spawn(async move {
            let mut round = 0;
            while !stop.load(Ordering::Relaxed) {
                sealed.fetch_add(store.audit_seal().await.unwrap().sealed, Ordering::Relaxed);
                if s == 0 && round % 10 == 0 {
                    let report = store.audit_verify(None).await.unwrap();
                    assert_eq!(report.broken, None, "mid-flight verify");
                    sealed.fetch_add(report.sealed, Ordering::Relaxed);
                }
                round += 1;
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        }));
    }
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..TXS {
                let n = w * TXS + i;
                let hold = Duration::from_millis((n % 4) as u64);
                store.audit_append_for_tests(&[draft(Some(ws), n), draft(None, n)], hold).await.unwrap();
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for sealer in sealers {
        sealer.await.unwrap();
    }

    let total = (1 + 2 * WRITERS * TXS) as u64;
    let report = seal_all(&store).await;
    sealed.fetch_add(report.sealed, Ordering::Relaxed);
    assert_eq!((report.unsealed, report.broken), (0, None));
    assert_eq!((report.chains_checked, report.events_checked), (2, total));
    assert_eq!(sealed.load(Ordering::Relaxed), total, "every event sealed exactly once");

    let order = store.audit_seal_order_for_tests().await.unwrap();
    assert_eq!(order.len() as u64, total);
    for chain in [ws.to_string(), "global".to_owned()] {
        let links: Vec<_> = order.iter().filter(|l| l.0 == chain).collect();
        let expected_len = if chain == "global" { WRITERS * TXS } else { WRITERS * TXS + 1 };
        assert_eq!(links.len(), expected_len, "chain {chain}");
        for (i, (_, index, xact, seq)) in links.iter().enumerate() {
            assert_eq!(*index, i as i64 + 1, "contiguous indexes in {chain}");
            if i > 0 {
                let (_, _, px, ps) = links[i - 1];
                assert!((*px, *ps) < (*xact, *seq), "chain {chain} follows (xact, seq) at #{index}");
            }
        }
    }
}

/// Unsealed events are counted with the age of the oldest; those older than
/// the bound are named (an edit to them would be sealed as if intact), and a
/// seal takes them all off the list.
async fn events_waiting_unsealed_are_counted_and_the_old_ones_named(store: Store) {
    let (ws, _) = sealed_log(&store, 1).await;
    assert_eq!(store.audit_unsealed(None, 60).await.unwrap().unsealed, 0);
    store.audit_append_for_tests(&[draft(Some(ws), 7), draft(Some(ws), 8)], Duration::ZERO).await.unwrap();
    let fresh = store.audit_unsealed(None, 60).await.unwrap();
    assert_eq!((fresh.unsealed, fresh.stale), (2, 0), "{fresh:?}");
    assert!(fresh.stale_events.is_empty());
    // The first of them waited two minutes.
    raw(&store, "UPDATE audit_events SET created_at = created_at - 120000000 WHERE subject = 'test:7'").await;
    let old = store.audit_unsealed(None, 60).await.unwrap();
    assert_eq!((old.unsealed, old.stale), (2, 1), "{old:?}");
    assert!(old.oldest_age_secs.is_some_and(|a| (120..180).contains(&a)), "{old:?}");
    assert_eq!(old.stale_events.len(), 1);
    assert_eq!(old.stale_events[0].action, "test.event");
    assert!(old.stale_events[0].age_secs >= 120);
    let scoped = store.audit_unsealed(Some(Uuid::now_v7()), 60).await.unwrap();
    assert_eq!((scoped.unsealed, scoped.stale), (0, 0), "another workspace's chain has nothing waiting");
    seal_all(&store).await;
    assert_eq!(store.audit_unsealed(None, 60).await.unwrap(), Default::default());
}
