//! Witnesses end to end: a ledger server configured with two witnesses collects their
//! cosignatures of each new checkpoint and serves the cosigned checkpoint; a witness refuses a
//! checkpoint of a forked history (same key, another root) and a rollback.

use std::time::Duration;

use tranche_audit::note::SignedNote;
use tranche_audit::witness::{count_cosignatures, Cosigner};
use tranche_ledger::domain::Command;
use tranche_tests::{t0, Backend};

async fn witness(
    name: &str,
    seed: u8,
    logs: Vec<tranche_audit::note::NoteVerifier>,
    dir: &std::path::Path,
) -> (String, Cosigner) {
    let cosigner = Cosigner::from_seed(name, [seed; 32]).expect("key");
    let again = Cosigner::from_seed(name, [seed; 32]).expect("key");
    let app = tranche_api::witness::router(again, logs, dir.join(format!("{seed}.state")))
        .expect("router");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serves") });
    (url, cosigner)
}

fn get(url: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent.get(url).call().expect("answers");
    (
        r.status().as_u16(),
        r.body_mut().read_to_string().expect("body"),
    )
}

fn post(url: &str, body: String) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent.post(url).send(body).expect("answers");
    (
        r.status().as_u16(),
        r.body_mut().read_to_string().expect("body"),
    )
}

fn accounts(n: usize) -> Vec<Command> {
    (0..n)
        .map(|i| Command::open_account(&format!("bank:w{i}"), "asset", None).expect("valid"))
        .collect()
}

#[test]
fn witnesses_cosign_each_new_checkpoint_and_refuse_a_fork() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        let t = tranche_tests::ledger(Backend::Sqlite)
            .await
            .expect("sqlite");
        let ledger = t.ledger.clone();
        let dir = tempfile::tempdir().expect("dir");
        let logs = vec![ledger.verifier().clone()];
        let (u1, w1) = witness("witness.test/w1", 31, logs.clone(), dir.path()).await;
        let (u2, w2) = witness("witness.test/w2", 32, logs.clone(), dir.path()).await;
        let configs = vec![
            tranche_api::server::cosign::WitnessConfig::parse(&format!(
                "{u1}={}",
                w1.verifier().to_vkey()
            ))
            .expect("w1"),
            tranche_api::server::cosign::WitnessConfig::parse(&format!(
                "{u2}={}",
                w2.verifier().to_vkey()
            ))
            .expect("w2"),
        ];
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let served = ledger.clone();
        tokio::spawn(async move {
            tranche_api::server::serve_with(
                listener,
                served,
                tranche_api::server::ServeOptions {
                    witnesses: configs,
                    behind_tls: false,
                },
                std::future::pending(),
            )
            .await
            .expect("serves");
        });
        let witnesses = [w1.verifier().clone(), w2.verifier().clone()];
        for round in 0..3 {
            let appended = ledger
                .append(
                    &accounts(3)
                        .into_iter()
                        .map(|c| match c {
                            Command::OpenAccount {
                                name,
                                account_type,
                                description,
                            } => Command::OpenAccount {
                                name: tranche_audit::account::AccountName::parse(&format!(
                                    "{name}r{round}"
                                ))
                                .expect("name"),
                                account_type,
                                description,
                            },
                            other => other,
                        })
                        .collect::<Vec<_>>(),
                    "test",
                    t0(),
                )
                .await
                .expect("append");
            let want = appended.checkpoint.size;
            let mut cosigned = None;
            for _ in 0..100 {
                let base = base.clone();
                let (status, note) = tokio::task::spawn_blocking(move || {
                    get(&format!("{base}/v1/checkpoint/cosigned"))
                })
                .await
                .expect("get");
                if status == 200 {
                    let parsed = SignedNote::parse(&note).expect("note");
                    let cp =
                        tranche_audit::note::Checkpoint::parse(&parsed.text).expect("checkpoint");
                    if cp.size == want && count_cosignatures(&parsed, &witnesses).0 == 2 {
                        parsed
                            .verify(ledger.verifier())
                            .expect("the ledger's signature too");
                        cosigned = Some(cp.size);
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert_eq!(
                cosigned,
                Some(want),
                "round {round}: not cosigned by both witnesses"
            );
        }

        // A forked history under the same key: the witness refuses to cosign it.
        let fork = tranche_ledger::Ledger::open(&{
            let mut c = tranche_ledger::Config::new(dir.path().join("fork"));
            c.key_path = Some(t.config.key_path());
            c.origin = t.config.origin.clone();
            c
        })
        .await
        .expect("a second journal under the same key");
        let a = fork
            .append(&accounts(20), "test", t0())
            .await
            .expect("append");
        let (status, _) = tokio::task::spawn_blocking({
            let u1 = u1.clone();
            let note = a.checkpoint.note.clone();
            move || post(&format!("{u1}/add-checkpoint"), format!("old 0\n\n{note}"))
        })
        .await
        .expect("post");
        assert_eq!(
            status, 409,
            "a witness that cosigned size > 0 wants a proof from there"
        );
        let have = ledger
            .store()
            .latest_checkpoint()
            .await
            .expect("cp")
            .expect("some")
            .size;
        let (status, body) = tokio::task::spawn_blocking({
            let u1 = u1.clone();
            let note = a.checkpoint.note.clone();
            move || {
                post(
                    &format!("{u1}/add-checkpoint"),
                    format!("old {have}\n\n{note}"),
                )
            }
        })
        .await
        .expect("post");
        assert!(
            status == 409 || status == 422 || status == 400,
            "a fork must not be cosigned: {status} {body}"
        );
    });
}
