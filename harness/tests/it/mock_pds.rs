//! The mock PDS: account statuses in listRepos and getRepo, rate limits per client, handle
//! resolution and its own event stream.

use std::time::Duration;

use crate::support::mock::*;
use harness::mock::{
    AccountStatus, MockOptions, MockPds, PdsAccount, PdsOptions, PdsState, RateLimit,
};

fn account(n: u8, status: AccountStatus) -> PdsAccount {
    let did = format!("did:plc:pds{n:021}");
    let (car, key) = test_repo(&did, 3, n);
    let mut account = PdsAccount::from_car(&did, 1_000 + i64::from(n), car).unwrap();
    account.status = status;
    account.signing_key = Some(key);
    account.handle = Some(format!("user{n}.test"));
    account
}

fn state() -> PdsState {
    PdsState {
        accounts: vec![
            account(1, AccountStatus::Active),
            account(2, AccountStatus::Takendown),
            account(3, AccountStatus::Suspended),
            account(4, AccountStatus::Deleted),
            account(5, AccountStatus::Deactivated),
        ],
    }
}

#[tokio::test]
async fn listing_shows_inactive_accounts_with_their_status_and_hides_deleted_ones() {
    let pds = MockPds::start(state(), MockOptions::default(), PdsOptions::default())
        .await
        .unwrap();
    let client = client();
    let page = client.list_repos(&pds.url(), None, 100).await.unwrap();
    let listed: Vec<(String, Option<bool>, Option<String>)> = page
        .repos
        .iter()
        .map(|r| (r.did.clone(), r.active, r.status.clone()))
        .collect();
    assert_eq!(listed.len(), 4);
    assert_eq!(listed[0].1, Some(true));
    assert_eq!(listed[0].2, None);
    assert_eq!(listed[1].2.as_deref(), Some("takendown"));
    assert_eq!(listed[2].2.as_deref(), Some("suspended"));
    assert_eq!(listed[3].2.as_deref(), Some("deactivated"));
    assert!(listed[1..].iter().all(|r| r.1 == Some(false)));
    // A cursor on every non-empty page; the page after the last is empty and has none.
    let cursor = page.cursor.expect("cursor on a non-empty page");
    assert_eq!(cursor, format!("1005::{}", listed[3].0));
    let last = client
        .list_repos(&pds.url(), Some(&cursor), 100)
        .await
        .unwrap();
    assert!(last.repos.is_empty());
    assert!(last.cursor.is_none());

    let bad = client
        .list_repos(&pds.url(), Some("not-a-cursor"), 10)
        .await
        .unwrap_err();
    assert_eq!(bad.status(), Some(400));
    pds.stop().await;
}

#[tokio::test]
async fn get_repo_answers_the_named_errors_per_status() {
    let pds = MockPds::start(state(), MockOptions::default(), PdsOptions::default())
        .await
        .unwrap();
    let client = client();
    let get = |n: u8| {
        let client = client.clone();
        let url = pds.url();
        async move {
            client
                .get_repo(&url, &format!("did:plc:pds{n:021}"), None, u64::MAX)
                .await
        }
    };
    assert!(get(1).await.is_ok());
    assert!(get(2).await.unwrap_err().is_taken_down());
    assert!(get(3).await.unwrap_err().is_suspended());
    assert!(get(4).await.unwrap_err().is_repo_not_found());
    assert!(get(5).await.unwrap_err().is_deactivated());
    assert!(get(6).await.unwrap_err().is_repo_not_found());
    let missing = http()
        .get(pds.url().join("/xrpc/com.atproto.sync.getRepo").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 400);
    pds.stop().await;
}

#[tokio::test]
async fn rate_limits_per_client_with_headers_and_429s() {
    let limit = RateLimit {
        limit: 5,
        window_secs: 60,
    };
    let pds = MockPds::start(
        state(),
        MockOptions::default(),
        PdsOptions {
            rate_limit: Some(limit),
        },
    )
    .await
    .unwrap();
    let http = http();
    let url = pds.url().join("/xrpc/com.atproto.sync.listRepos").unwrap();
    let before = harness_unix_now();
    for expected_remaining in (0..5).rev() {
        let response = http.get(url.clone()).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let headers = response.headers();
        assert_eq!(headers["ratelimit-limit"], "5");
        assert_eq!(
            headers["ratelimit-remaining"],
            expected_remaining.to_string().as_str()
        );
        assert_eq!(headers["ratelimit-policy"], "5;w=60");
        let reset: u64 = headers["ratelimit-reset"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            reset >= before && reset <= harness_unix_now() + 61,
            "absolute reset time"
        );
    }
    let refused = http.get(url.clone()).send().await.unwrap();
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after));
    assert_eq!(refused.headers()["ratelimit-remaining"], "0");

    // The pipeline's client sees back-pressure, with the wait.
    let error = client().list_repos(&pds.url(), None, 10).await.unwrap_err();
    assert!(error.is_rate_limited(), "{error}");

    let limiter = pds.limiter();
    assert_eq!(limiter.requests().len(), 7);
    assert_eq!(limiter.limited_count(), 2);
    assert_eq!(limiter.max_in_window(None, Duration::from_secs(60)), 7);
    let host = pds.server().host();
    assert_eq!(
        limiter.max_in_window(Some(&host), Duration::from_secs(60)),
        7
    );
    assert_eq!(
        limiter.max_in_window(Some("elsewhere.test"), Duration::from_secs(60)),
        0
    );

    // Lifting the limit takes effect at once.
    limiter.set_limit(None);
    assert_eq!(http.get(url).send().await.unwrap().status(), 200);
    pds.stop().await;
}

fn harness_unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn resolves_its_accounts_handles() {
    let pds = MockPds::start(state(), MockOptions::default(), PdsOptions::default())
        .await
        .unwrap();
    let client = client();
    let did = client
        .resolve_handle(&pds.url(), "USER1.test")
        .await
        .unwrap();
    assert_eq!(did, format!("did:plc:pds{:021}", 1));
    let unknown = client
        .resolve_handle(&pds.url(), "nobody.test")
        .await
        .unwrap_err();
    assert_eq!(unknown.status(), Some(400));
    pds.stop().await;
}

#[tokio::test]
async fn serves_its_own_event_stream() {
    let pds = MockPds::start(state(), MockOptions::default(), PdsOptions::default())
        .await
        .unwrap();
    pds.events().append_frame(&identity_frame(3)).unwrap();
    let url = pds
        .server()
        .ws_url()
        .join("/xrpc/com.atproto.sync.subscribeRepos?cursor=0")
        .unwrap();
    let mut ws = connect(url.as_str()).await;
    assert_eq!(seq_of(&next_binary(&mut ws).await), 3);
    pds.events().append_frame(&identity_frame(4)).unwrap();
    assert_eq!(seq_of(&next_binary(&mut ws).await), 4);
    assert!(
        pds.events().append_frame(&identity_frame(4)).is_err(),
        "seqs only increase"
    );
    pds.stop().await;
}
