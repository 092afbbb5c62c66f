//! Broken repositories served by the mock PDS, each observed by the pipeline's loader
//! (`protocol::repo::load_repo` and its record walk) as the matching typed error, and only that.

use crate::support::mock::*;
use harness::faults::{
    Fault, FaultError, FaultPlan, FaultRule, Faults, Matcher, RepoDefect, corrupt_repo,
};
use harness::mock::{MockOptions, MockPds, PdsAccount, PdsOptions, PdsState};
use protocol::car::{CarError, CarLimits};
use protocol::crypto::Keypair;
use protocol::data_model::cbor_to_json;
use protocol::repo::{BlockKind, LoadOptions, LoadedRepo, RepoError, RepoRecord, load_repo};

const DID: &str = "did:plc:broken00000000000000000";

struct Net {
    pds: MockPds,
    faults: Faults,
    key: Keypair,
}

async fn net(with_key: bool) -> Net {
    let (car, key) = test_repo(DID, 12, 9);
    let mut account = PdsAccount::from_car(DID, 1, car).unwrap();
    account.signing_key = with_key.then(|| key.clone());
    let faults = Faults::none();
    let pds = MockPds::start(
        PdsState {
            accounts: vec![account],
        },
        MockOptions {
            faults: faults.clone(),
            ..MockOptions::default()
        },
        PdsOptions::default(),
    )
    .await
    .unwrap();
    Net { pds, faults, key }
}

impl Net {
    /// Serves the repo once with `defect`, then loads it as the backfiller would.
    async fn load_with(
        &self,
        defect: RepoDefect,
        options: &LoadOptions,
    ) -> Result<LoadedRepo, RepoError> {
        let when = Matcher {
            did: Some(DID.into()),
            ..Matcher::default()
        };
        self.faults
            .set_plan(FaultPlan::none().with(FaultRule::first(
                1,
                when,
                Fault::BrokenRepo { defect },
            )))
            .unwrap();
        let fired_before = self.faults.fired().len();
        let body = client()
            .get_repo(&self.pds.url(), DID, None, u64::MAX)
            .await
            .unwrap();
        let loaded = load_repo(body, DID, Some(&self.key.public_key()), options).await;
        assert_eq!(
            self.faults.fired().len(),
            fired_before + 1,
            "the fault fired"
        );
        loaded
    }
}

fn records(repo: &LoadedRepo) -> Result<Vec<RepoRecord>, RepoError> {
    repo.records().collect()
}

#[tokio::test]
async fn structural_defects_are_reported_as_such() {
    let net = net(true).await;
    let options = LoadOptions::default();

    let error = net
        .load_with(RepoDefect::BadBlockHash, &options)
        .await
        .unwrap_err();
    assert!(
        matches!(error, RepoError::Car(CarError::HashMismatch { .. })),
        "{error:?}"
    );

    let error = net
        .load_with(RepoDefect::WrongRoot, &options)
        .await
        .unwrap_err();
    assert!(matches!(error, RepoError::BadCommit { .. }), "{error:?}");

    let repo = net
        .load_with(RepoDefect::MissingBlock, &options)
        .await
        .unwrap();
    let error = records(&repo).unwrap_err();
    assert!(
        matches!(
            error,
            RepoError::MissingBlock {
                kind: BlockKind::Record,
                ..
            }
        ),
        "{error:?}"
    );

    let error = net
        .load_with(RepoDefect::BadSignature, &options)
        .await
        .unwrap_err();
    assert!(matches!(error, RepoError::BadSignature { .. }), "{error:?}");

    let other = "did:plc:someoneelse0000000000000".to_owned();
    let error = net
        .load_with(RepoDefect::OtherDid { did: other.clone() }, &options)
        .await
        .unwrap_err();
    match error {
        RepoError::WrongDid {
            actual, expected, ..
        } => {
            assert_eq!(actual, other);
            assert_eq!(expected, DID);
        }
        other => panic!("expected WrongDid, got {other:?}"),
    }

    // The fault was for one request: the repo is whole again.
    let body = client()
        .get_repo(&net.pds.url(), DID, None, u64::MAX)
        .await
        .unwrap();
    let repo = load_repo(body, DID, Some(&net.key.public_key()), &options)
        .await
        .unwrap();
    assert_eq!(records(&repo).unwrap().len(), 13);
    net.pds.stop().await;
}

#[tokio::test]
async fn record_defects_leave_a_valid_signed_repo_with_one_bad_record() {
    let net = net(true).await;
    let options = LoadOptions::default();

    // Invalid CBOR: the commit verifies, the tree walks, one record does not decode.
    let repo = net
        .load_with(RepoDefect::InvalidCbor, &options)
        .await
        .unwrap();
    let all = records(&repo).unwrap();
    assert_eq!(all.len(), 13);
    let bad: Vec<&RepoRecord> = all
        .iter()
        .filter(|r| cbor_to_json(&r.bytes).is_err())
        .collect();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].collection, "app.bsky.feed.post");

    // NUL in a string: valid CBOR whose text holds a NUL.
    let repo = net
        .load_with(RepoDefect::NulInString, &options)
        .await
        .unwrap();
    let with_nul: Vec<serde_json::Value> = records(&repo)
        .unwrap()
        .iter()
        .map(|r| cbor_to_json(&r.bytes).unwrap())
        .filter(|json| json["text"].as_str().is_some_and(|t| t.contains('\0')))
        .collect();
    assert_eq!(with_nul.len(), 1);

    // Oversized: refused under the default limits ...
    let defect = RepoDefect::OversizedRecord {
        bytes: 3 * 1024 * 1024,
    };
    let error = net.load_with(defect.clone(), &options).await.unwrap_err();
    assert!(
        matches!(error, RepoError::Car(CarError::BlockTooLarge { .. })),
        "{error:?}"
    );
    // ... and otherwise a valid repo whose one record is far over 1 MB.
    let roomy = LoadOptions {
        limits: CarLimits {
            max_block_bytes: 8 * 1024 * 1024,
            ..CarLimits::default()
        },
        ..LoadOptions::default()
    };
    let repo = net.load_with(defect, &roomy).await.unwrap();
    let biggest = records(&repo)
        .unwrap()
        .iter()
        .map(|r| r.bytes.len())
        .max()
        .unwrap();
    assert!(biggest > 3 * 1024 * 1024 - 200, "{biggest}");
    net.pds.stop().await;
}

#[tokio::test]
async fn defects_that_re_sign_need_the_key() {
    let net = net(false).await;
    let when = Matcher::default();
    net.faults
        .set_plan(FaultPlan::none().with(FaultRule::always(
            when,
            Fault::BrokenRepo {
                defect: RepoDefect::InvalidCbor,
            },
        )))
        .unwrap();
    let error = client()
        .get_repo(&net.pds.url(), DID, None, u64::MAX)
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(500));
    assert!(error.to_string().contains("signing key"), "{error}");

    let (car, _) = test_repo(DID, 1, 9);
    assert!(matches!(
        corrupt_repo(&car, &RepoDefect::NulInString, None),
        Err(FaultError::NeedsKey { .. })
    ));
    assert!(matches!(
        corrupt_repo(b"not a car", &RepoDefect::WrongRoot, None),
        Err(FaultError::Car(_))
    ));
    net.pds.stop().await;
}
