//! `XrpcClient` against small axum servers: real reference-PDS listRepos pages and getRepo
//! errors, each error kind (named, 429, HTML, bad JSON, oversize, timeout), redirects, streamed
//! repo bodies with a size cap, and the private-host refusal.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::{realpds_json, serve, test_client, test_config};
use axum::Router;
use axum::body::Body;
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use xrpc::{ClientConfig, RepoBodyError, XrpcClient, XrpcError};

type Params = Query<HashMap<String, String>>;

fn json_response(status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).expect("status");
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

#[tokio::test]
async fn list_repos_walks_the_real_pds_pages() {
    let pages = realpds_json("listRepos-pages.json");
    let served = pages.clone();
    let router = Router::new().route(
        "/xrpc/com.atproto.sync.listRepos",
        get(move |Query(params): Params| {
            let pages = served.clone();
            async move {
                // Find the recorded page whose request carried the same cursor.
                let wanted = params.get("cursor").cloned();
                let page = pages.as_array().and_then(|pages| {
                    pages.iter().find(|page| {
                        let request = page["request"].as_str().unwrap_or_default();
                        let url = url::Url::parse(&format!("http://x{request}")).ok();
                        let cursor = url.and_then(|u| {
                            u.query_pairs()
                                .find(|(k, _)| k == "cursor")
                                .map(|(_, v)| v.into_owned())
                        });
                        cursor == wanted
                    })
                });
                match page {
                    Some(page) => json_response(200, &page["body"]),
                    None => json_response(400, &json!({"error": "InvalidRequest"})),
                }
            }
        }),
    );
    let base = serve(router).await;
    let client = test_client();
    let mut cursor: Option<String> = None;
    let mut dids = Vec::new();
    let mut inactive = Vec::new();
    loop {
        let page = client
            .list_repos(&base, cursor.as_deref(), 7)
            .await
            .expect("page");
        for repo in &page.repos {
            dids.push(repo.did.clone());
            if repo.active == Some(false) {
                inactive.push((repo.did.clone(), repo.status.clone()));
            }
        }
        match page.cursor {
            Some(next) if !page.repos.is_empty() => cursor = Some(next),
            _ => break,
        }
    }
    let expected: usize = pages
        .as_array()
        .expect("pages")
        .iter()
        .map(|p| p["body"]["repos"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(dids.len(), expected);
    assert!(dids.len() >= 30);
    assert_eq!(
        inactive,
        vec![(
            "did:plc:aiunaqqckjwsduyypggbtfvx".to_owned(),
            Some("deactivated".to_owned())
        )]
    );
}

#[tokio::test]
async fn get_repo_errors_from_the_real_pds_are_named_and_permanent() {
    let errors = realpds_json("getRepo-errors.json");
    let served = errors.clone();
    let router = Router::new().route(
        "/xrpc/com.atproto.sync.getRepo",
        get(move |Query(params): Params| {
            let errors = served.clone();
            async move {
                let answer = &errors[params.get("did").map(String::as_str).unwrap_or("")];
                let status = answer["status"]
                    .as_u64()
                    .and_then(|s| u16::try_from(s).ok());
                json_response(status.unwrap_or(500), &answer["body"])
            }
        }),
    );
    let base = serve(router).await;
    let client = test_client();

    let err = client
        .get_repo(&base, "did:plc:aiunaqqckjwsduyypggbtfvx", None, 1 << 20)
        .await
        .expect_err("deactivated");
    assert!(err.is_deactivated(), "{err}");
    assert!(err.is_permanent());
    assert_eq!(err.status(), Some(400));
    assert!(err.to_string().contains("RepoDeactivated"), "{err}");

    let err = client
        .get_repo(&base, "did:plc:xcuyyygoxjqggjx4puycok43", None, 1 << 20)
        .await
        .expect_err("not found");
    assert!(err.is_repo_not_found(), "{err}");
    assert!(err.is_permanent());
    assert!(!err.is_deactivated());
}

/// A server answering every call with the error named in the `did` parameter.
async fn error_server() -> url::Url {
    async fn answer(Query(params): Params) -> Response {
        let did = params.get("did").cloned().unwrap_or_default();
        match did.as_str() {
            "taken" => json_response(400, &json!({"error": "RepoTakendown", "message": "gone"})),
            "suspended" => json_response(400, &json!({"error": "RepoSuspended"})),
            "db" => json_response(500, &json!({"error": "DatabaseError"})),
            "html" => (
                StatusCode::BAD_GATEWAY,
                [(header::CONTENT_TYPE, "text/html")],
                "<html>\n  <head><title>502 Bad Gateway</title></head>\n<body>nginx</body></html>",
            )
                .into_response(),
            "limited" => {
                let reset = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .expect("clock")
                    .as_secs()
                    + 300;
                let mut headers = HeaderMap::new();
                headers.insert("retry-after", "7".parse().expect("value"));
                headers.insert("ratelimit-reset", reset.to_string().parse().expect("value"));
                headers.insert("ratelimit-limit", "3000".parse().expect("value"));
                headers.insert("ratelimit-remaining", "0".parse().expect("value"));
                (StatusCode::TOO_MANY_REQUESTS, headers, "slow down").into_response()
            }
            "badjson" => json_response(200, &json!({"cid": 5})),
            "huge" => json_response(200, &json!({"cid": "x".repeat(4096), "rev": "r"})),
            "stall" => {
                std::future::pending::<()>().await;
                StatusCode::OK.into_response()
            }
            _ => json_response(200, &json!({"cid": "bafy", "rev": "3abc"})),
        }
    }
    serve(
        Router::new()
            .route("/xrpc/com.atproto.sync.getLatestCommit", get(answer))
            .route("/xrpc/com.atproto.sync.getRepo", get(answer)),
    )
    .await
}

#[tokio::test]
async fn each_error_kind_is_typed() {
    let base = error_server().await;
    let client = XrpcClient::new(ClientConfig {
        max_json_bytes: 1024,
        read_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_secs(5),
        ..test_config()
    })
    .expect("client");
    let call = |did: &'static str| {
        let client = client.clone();
        let base = base.clone();
        async move { client.get_latest_commit(&base, did).await }
    };

    let ok = call("fine").await.expect("ok");
    assert_eq!((ok.cid.as_str(), ok.rev.as_str()), ("bafy", "3abc"));

    let err = call("taken").await.expect_err("taken");
    assert!(err.is_taken_down() && err.is_permanent(), "{err}");
    let err = call("suspended").await.expect_err("suspended");
    assert!(err.is_suspended() && err.is_permanent(), "{err}");

    let err = call("db").await.expect_err("db");
    assert_eq!(err.error_name(), Some("DatabaseError"));
    assert_eq!(err.status(), Some(500));
    assert!(!err.is_permanent());

    match call("html").await.expect_err("html") {
        XrpcError::Status {
            status, snippet, ..
        } => {
            assert_eq!(status, 502);
            assert!(snippet.starts_with("<html> <head><title>502"), "{snippet}");
        }
        other => panic!("expected Status, got {other:?}"),
    }

    match call("limited").await.expect_err("limited") {
        err @ XrpcError::RateLimited {
            retry_after, reset, ..
        } => {
            assert_eq!(retry_after, Some(Duration::from_secs(7)));
            assert!(reset.is_some_and(|r| r > SystemTime::now()));
            assert!(err.is_rate_limited() && !err.is_permanent());
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }

    assert!(matches!(
        call("badjson").await,
        Err(XrpcError::BadJson { .. })
    ));
    assert!(matches!(
        call("huge").await,
        Err(XrpcError::TooLarge { limit: 1024, .. })
    ));
    let err = call("stall").await.expect_err("stall");
    assert!(err.is_timeout(), "{err:?}");
    assert!(!err.is_permanent());
}

#[tokio::test]
async fn private_hosts_are_refused_unless_allowed() {
    let base = error_server().await;
    let strict = XrpcClient::new(ClientConfig::default()).expect("client");
    let err = strict
        .get_latest_commit(&base, "fine")
        .await
        .expect_err("refused");
    assert!(matches!(err, XrpcError::PrivateHost { .. }), "{err:?}");
    assert!(err.is_permanent());
    let localhost =
        url::Url::parse(&format!("http://localhost:{}", base.port().expect("port"))).expect("url");
    assert!(matches!(
        strict.get_repo(&localhost, "fine", None, 10).await,
        Err(XrpcError::PrivateHost { .. })
    ));
    assert!(test_client().get_latest_commit(&base, "fine").await.is_ok());
}

/// The bytes of a real repo, served in small chunks without Content-Length.
fn real_car() -> Bytes {
    let path = testkit::realpds("repos/did_plc_lt2323nlyuttitt244pgktl2.car");
    Bytes::from(std::fs::read(&path).expect("car fixture"))
}

fn chunked(bytes: Bytes, chunk: usize) -> Body {
    let chunks: Vec<Result<Bytes, std::io::Error>> = (0..bytes.len())
        .step_by(chunk)
        .map(|start| Ok(bytes.slice(start..(start + chunk).min(bytes.len()))))
        .collect();
    Body::from_stream(futures::stream::iter(chunks))
}

#[tokio::test]
async fn relay_redirect_to_pds_streams_the_repo() {
    let car = real_car();
    let served = car.clone();
    let pds = serve(Router::new().route(
        "/xrpc/com.atproto.sync.getRepo",
        get(move |Query(params): Params, headers: HeaderMap| {
            let car = served.clone();
            async move {
                assert_eq!(
                    params.get("did").map(String::as_str),
                    Some("did:plc:lt2323nlyuttitt244pgktl2")
                );
                assert_eq!(params.get("since").map(String::as_str), Some("3abc"));
                assert_eq!(
                    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()),
                    Some("application/vnd.ipld.car")
                );
                let mut response = Response::new(chunked(car, 1000));
                let headers = response.headers_mut();
                headers.insert(
                    header::CONTENT_TYPE,
                    "application/vnd.ipld.car".parse().expect("v"),
                );
                headers.insert("ratelimit-limit", "3000".parse().expect("v"));
                headers.insert("ratelimit-remaining", "2999".parse().expect("v"));
                headers.insert("ratelimit-policy", "3000;w=300".parse().expect("v"));
                response
            }
        }),
    ))
    .await;
    let target = pds.clone();
    let relay = serve(Router::new().route(
        "/xrpc/com.atproto.sync.getRepo",
        get(move |uri: Uri| {
            let target = target.clone();
            async move {
                let location = format!("{}{}", target.as_str().trim_end_matches('/'), uri);
                (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
            }
        }),
    ))
    .await;

    let client = test_client();
    let mut body = client
        .get_repo(
            &relay,
            "did:plc:lt2323nlyuttitt244pgktl2",
            Some("3abc"),
            1 << 30,
        )
        .await
        .expect("repo");
    assert_eq!(body.url().port(), pds.port(), "followed the redirect");
    assert_eq!(body.rate_limit().remaining, Some(2999));
    assert_eq!(body.rate_limit().policy.as_deref(), Some("3000;w=300"));
    let mut received = Vec::new();
    body.read_to_end(&mut received).await.expect("read");
    assert_eq!(received.len(), car.len());
    assert!(received == car, "streamed bytes differ from the fixture");
    assert_eq!(body.bytes_read(), car.len() as u64);
}

#[tokio::test]
async fn repo_body_over_the_cap_is_a_typed_read_error() {
    let car = real_car();
    let len = car.len() as u64;
    let served = car.clone();
    let base = serve(Router::new().route(
        "/xrpc/com.atproto.sync.getRepo",
        get(move || {
            let car = served.clone();
            async move { Response::new(chunked(car, 512)) }
        }),
    ))
    .await;
    let client = test_client();
    let mut body = client
        .get_repo(&base, "did:plc:x", None, len / 2)
        .await
        .expect("headers are fine");
    let mut sink = Vec::new();
    let err = body.read_to_end(&mut sink).await.expect_err("cap");
    assert!(
        matches!(
            RepoBodyError::from_io(&err),
            Some(RepoBodyError::TooLarge { .. })
        ),
        "{err}"
    );
    assert!(sink.len() as u64 <= len / 2);
}

#[tokio::test]
async fn content_length_over_the_cap_fails_before_streaming() {
    let base = serve(Router::new().route(
        "/xrpc/com.atproto.sync.getRepo",
        get(|| async { vec![0u8; 4096] }),
    ))
    .await;
    let err = test_client()
        .get_repo(&base, "did:plc:x", None, 100)
        .await
        .expect_err("too large");
    assert!(
        matches!(err, XrpcError::TooLarge { limit: 100, .. }),
        "{err:?}"
    );
    assert!(err.is_permanent());
}

#[tokio::test]
async fn stalled_repo_body_times_out_per_read() {
    let base = serve(Router::new().route(
        "/xrpc/com.atproto.sync.getRepo",
        get(|| async {
            // Some bytes, then silence: a live connection that stopped sending.
            let first = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(
                b"partial car",
            ))]);
            let never = futures::stream::pending();
            Response::new(Body::from_stream(futures::StreamExt::chain(first, never)))
        }),
    ))
    .await;
    let client = XrpcClient::new(ClientConfig {
        read_timeout: Duration::from_millis(300),
        ..test_config()
    })
    .expect("client");
    let mut body = client
        .get_repo(&base, "did:plc:x", None, 1 << 20)
        .await
        .expect("headers");
    let mut sink = Vec::new();
    let err = body.read_to_end(&mut sink).await.expect_err("stall");
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
    assert!(matches!(
        RepoBodyError::from_io(&err),
        Some(RepoBodyError::Timeout { read_bytes: 11, .. })
    ));
    assert_eq!(sink, b"partial car");
}

#[tokio::test]
async fn list_hosts_and_repo_status_parse_with_rate_limits() {
    let base = serve(
        Router::new()
            .route(
                "/xrpc/com.atproto.sync.listHosts",
                get(|Query(params): Params| async move {
                    assert_eq!(params.get("limit").map(String::as_str), Some("2"));
                    let mut response = json_response(
                        200,
                        &json!({"cursor": "42", "hosts": [
                            {"hostname": "pds.example.com", "seq": 9, "accountCount": 12, "status": "active"},
                            {"hostname": "other.example"}
                        ]}),
                    );
                    response
                        .headers_mut()
                        .insert("ratelimit-remaining", "5".parse().expect("v"));
                    response
                }),
            )
            .route(
                "/xrpc/com.atproto.sync.getRepoStatus",
                get(|| async {
                    json_response(200, &json!({"did": "did:plc:x", "active": false, "status": "takendown"}))
                }),
            ),
    )
    .await;
    let client = test_client();
    let page = client.list_hosts(&base, None, 2).await.expect("hosts");
    assert_eq!(page.cursor.as_deref(), Some("42"));
    assert_eq!(page.hosts.len(), 2);
    assert_eq!(page.hosts[0].account_count, Some(12));
    assert_eq!(page.hosts[1].status, None);
    assert_eq!(page.rate_limit.remaining, Some(5));
    let status = client
        .get_repo_status(&base, "did:plc:x")
        .await
        .expect("status");
    assert!(!status.active);
    assert_eq!(status.status.as_deref(), Some("takendown"));
}
