//! `IdentityResolver` against axum servers: the reference PLC answers for every DID in
//! `fixtures/realpds/did-docs.json` (and its 404), did:web on `localhost:PORT`, documents that
//! lie about themselves, private-endpoint refusal, cache TTL and shared concurrent lookups, and
//! handle resolution through a resolver service and through DNS TXT.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::support::{realpds_json, serve, test_client};
use axum::Router;
use axum::extract::{Path, Query};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use protocol::crypto::{KeyKind, PublicKey};
use serde_json::{Value, json};
use url::Url;
use xrpc::{IdentityConfig, IdentityError, IdentityResolver, XrpcError};

fn json_response(status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).expect("status");
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// A PLC directory serving the recorded answers, counting requests.
async fn plc_server(hits: Arc<AtomicUsize>) -> Url {
    let docs = realpds_json("did-docs.json");
    serve(Router::new().route(
        "/{did}",
        get(move |Path(did): Path<String>| {
            let docs = docs.clone();
            let hits = hits.clone();
            async move {
                hits.fetch_add(1, Ordering::SeqCst);
                match docs.get(&did) {
                    Some(answer) => {
                        let status = answer["status"]
                            .as_u64()
                            .and_then(|s| u16::try_from(s).ok());
                        json_response(status.unwrap_or(500), &answer["body"])
                    }
                    None => json_response(
                        404,
                        &json!({"message": format!("DID not registered: {did}")}),
                    ),
                }
            }
        }),
    ))
    .await
}

fn config(plc: Url) -> IdentityConfig {
    IdentityConfig {
        allow_private_hosts: true,
        ..IdentityConfig::new(plc)
    }
}

#[tokio::test]
async fn resolves_every_recorded_plc_document() {
    let hits = Arc::new(AtomicUsize::new(0));
    let plc = plc_server(hits.clone()).await;
    let resolver = IdentityResolver::new(test_client(), config(plc));
    let docs = realpds_json("did-docs.json");
    let mut resolved = 0;
    for (did, answer) in docs.as_object().expect("object") {
        if answer["status"] != 200 {
            continue;
        }
        let identity = resolver.resolve_did(did).await.expect(did);
        let body = &answer["body"];
        assert_eq!(identity.did.as_str(), did);
        assert_eq!(identity.pds_endpoint.as_str(), "http://localhost:52583/");
        let expected_handle = body["alsoKnownAs"][0]
            .as_str()
            .and_then(|aka| aka.strip_prefix("at://"));
        assert_eq!(identity.handle.as_deref(), expected_handle);
        // The #atproto key, not #atproto_label (the first DID has both).
        let atproto = body["verificationMethod"]
            .as_array()
            .and_then(|methods| methods.iter().find(|m| m["id"] == "#atproto"))
            .and_then(|m| m["publicKeyMultibase"].as_str())
            .expect("key");
        let expected_key = PublicKey::from_legacy_multibase(KeyKind::K256, atproto).expect("key");
        assert_eq!(identity.signing_key, expected_key);
        resolved += 1;
    }
    assert!(resolved >= 30);
    assert_eq!(hits.load(Ordering::SeqCst), resolved);
}

#[tokio::test]
async fn unknown_did_is_not_found_and_remembered_briefly() {
    let hits = Arc::new(AtomicUsize::new(0));
    let plc = plc_server(hits.clone()).await;
    let resolver = IdentityResolver::new(test_client(), config(plc));
    for _ in 0..3 {
        let err = resolver
            .resolve_did("did:plc:notregistered00000000000")
            .await
            .expect_err("404");
        assert!(err.is_not_found() && err.is_permanent(), "{err}");
        assert!(err.to_string().contains("DID not registered"), "{err}");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1, "negative answer cached");
    assert!(matches!(
        resolver.resolve_did("not a did").await,
        Err(IdentityError::InvalidDid { .. })
    ));
    assert!(matches!(
        resolver
            .resolve_did("did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme")
            .await,
        Err(IdentityError::UnsupportedDid { .. })
    ));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn cache_ttl_and_invalidation() {
    let did = "did:plc:lt2323nlyuttitt244pgktl2";
    let hits = Arc::new(AtomicUsize::new(0));
    let plc = plc_server(hits.clone()).await;

    let cached = IdentityResolver::new(test_client(), config(plc.clone()));
    cached.resolve_did(did).await.expect("first");
    cached.resolve_did(did).await.expect("cached");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert_eq!(cached.cached_dids(), 1);
    cached.invalidate(did);
    cached.resolve_did(did).await.expect("refetched");
    assert_eq!(hits.load(Ordering::SeqCst), 2);

    let expiring = IdentityResolver::new(
        test_client(),
        IdentityConfig {
            ttl: Duration::ZERO,
            ..config(plc)
        },
    );
    expiring.resolve_did(did).await.expect("first");
    expiring
        .resolve_did(did)
        .await
        .expect("expired, fetched again");
    assert_eq!(hits.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn concurrent_lookups_of_one_did_share_a_request() {
    // Current-thread runtime: each task parks inside resolve_did before the next runs, and the
    // PLC handler holds its answer until every task has arrived.
    let hits = Arc::new(AtomicUsize::new(0));
    let (release, wait) = tokio::sync::watch::channel(false);
    let docs = realpds_json("did-docs.json");
    let counter = hits.clone();
    let plc = serve(Router::new().route(
        "/{did}",
        get(move |Path(did): Path<String>| {
            let docs = docs.clone();
            let hits = counter.clone();
            let mut wait = wait.clone();
            async move {
                hits.fetch_add(1, Ordering::SeqCst);
                let _ = wait.wait_for(|go| *go).await;
                json_response(200, &docs[&did]["body"])
            }
        }),
    ))
    .await;
    let resolver = IdentityResolver::new(test_client(), config(plc));
    let arrived = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let resolver = resolver.clone();
        let arrived = arrived.clone();
        tasks.push(tokio::spawn(async move {
            arrived.fetch_add(1, Ordering::SeqCst);
            resolver
                .resolve_did("did:plc:fdqra2rzttezmbg5aqlvycpu")
                .await
        }));
    }
    tokio::time::timeout(Duration::from_secs(30), async {
        while arrived.load(Ordering::SeqCst) < 10 || hits.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("every lookup started and the request arrived");
    let _ = release.send(true);
    for task in tasks {
        let identity = task.await.expect("join").expect("resolved");
        assert_eq!(identity.handle.as_deref(), Some("bob.test"));
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn private_pds_endpoints_are_refused_unless_allowed() {
    let plc = plc_server(Arc::new(AtomicUsize::new(0))).await;
    // The client may reach the (local) PLC directory; the identity policy still refuses the
    // localhost PDS endpoint the document names.
    let resolver = IdentityResolver::new(
        test_client(),
        IdentityConfig {
            allow_private_hosts: false,
            ..IdentityConfig::new(plc)
        },
    );
    let err = resolver
        .resolve_did("did:plc:lt2323nlyuttitt244pgktl2")
        .await
        .expect_err("private");
    assert!(
        matches!(err, IdentityError::PrivateEndpoint { .. }),
        "{err}"
    );
    // did:web on a private host is refused before any request.
    let err = resolver
        .resolve_did("did:web:localhost%3A1")
        .await
        .expect_err("private did:web");
    match err {
        IdentityError::Fetch { source, .. } => {
            assert!(matches!(*source, XrpcError::PrivateHost { .. }), "{source}")
        }
        other => panic!("expected a refused fetch, got {other}"),
    }
}

/// A did:web document for `did`, with the given id, PDS endpoint and `#atproto` key.
fn web_document(id: &str, pds: &str, key: &PublicKey) -> Value {
    json!({
        "@context": ["https://www.w3.org/ns/did/v1"],
        "id": id,
        "alsoKnownAs": ["https://not-a-handle.example", "at://Web.Example.Com"],
        "verificationMethod": [{
            "id": format!("{id}#atproto"),
            "type": "Multikey",
            "controller": id,
            "publicKeyMultibase": key.to_multikey(),
        }],
        "service": [
            {"id": "#atproto_labeler", "type": "AtprotoLabeler", "serviceEndpoint": "https://labeler.example"},
            {"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": pds},
        ],
    })
}

#[tokio::test]
async fn did_web_on_localhost_and_lying_documents() {
    let key = protocol::crypto::Keypair::from_secret_bytes(KeyKind::P256, &[9; 32])
        .expect("key")
        .public_key();
    // The document names the server's own port, known only once it is bound.
    let (port_tx, port_rx) = tokio::sync::watch::channel(0u16);
    let doc_key = key;
    let base = serve(Router::new().route(
        "/.well-known/did.json",
        get(move || {
            let did = format!("did:web:localhost%3A{}", *port_rx.borrow());
            async move {
                json_response(
                    200,
                    &web_document(&did, "https://pds.example.com", &doc_key),
                )
            }
        }),
    ))
    .await;
    let port = base.port().expect("port");
    let _ = port_tx.send(port);
    let resolver = IdentityResolver::new(
        test_client(),
        config(Url::parse("http://127.0.0.1:1").expect("url")),
    );
    let did = format!("did:web:localhost%3A{port}");
    let identity = resolver.resolve_did(&did).await.expect("did:web");
    assert_eq!(identity.did.as_str(), did);
    assert_eq!(identity.pds_endpoint.as_str(), "https://pds.example.com/");
    assert_eq!(identity.signing_key, key);
    assert_eq!(identity.handle.as_deref(), Some("web.example.com"));

    // A document about another DID is rejected (served from a second host name for the same
    // server, so the cache does not answer).
    let lying = serve(Router::new().route(
        "/.well-known/did.json",
        get(move || async move {
            json_response(
                200,
                &web_document("did:web:evil.example", "https://pds.example.com", &key),
            )
        }),
    ))
    .await;
    let lying_did = format!("did:web:localhost%3A{}", lying.port().expect("port"));
    let err = resolver
        .resolve_did(&lying_did)
        .await
        .expect_err("mismatch");
    assert!(matches!(err, IdentityError::BadDocument { .. }), "{err}");
    assert!(matches!(
        resolver.resolve_did("did:web:example.com:user:alice").await,
        Err(IdentityError::UnsupportedDid { .. })
    ));
}

#[tokio::test]
async fn documents_without_key_or_pds_are_bad() {
    let key = protocol::crypto::Keypair::from_secret_bytes(KeyKind::K256, &[5; 32])
        .expect("key")
        .public_key();
    let did = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";
    let mut no_pds = web_document(did, "https://pds.example.com", &key);
    no_pds["service"] =
        json!([{"id": "#atproto_pds", "type": "Other", "serviceEndpoint": "https://x"}]);
    let mut no_key = web_document(did, "https://pds.example.com", &key);
    no_key["verificationMethod"][0]["id"] = json!("#atproto_label");
    let mut bad_key = web_document(did, "https://pds.example.com", &key);
    bad_key["verificationMethod"][0]["publicKeyMultibase"] = json!("zNotAKey");
    let ftp = web_document(did, "ftp://pds.example.com", &key);
    let cases = [no_pds, no_key, bad_key, ftp];
    let served = Arc::new(cases.to_vec());
    let index = Arc::new(AtomicUsize::new(0));
    let plc = serve(Router::new().route(
        "/{did}",
        get(move || {
            let served = served.clone();
            let index = index.clone();
            async move {
                let i = index.fetch_add(1, Ordering::SeqCst);
                json_response(200, &served[i.min(served.len() - 1)])
            }
        }),
    ))
    .await;
    let resolver = IdentityResolver::new(
        test_client(),
        IdentityConfig {
            negative_ttl: Duration::ZERO,
            ..config(plc)
        },
    );
    for expected in ["no_pds", "no_key", "bad_key", "ftp"] {
        let err = resolver.resolve_did(did).await.expect_err(expected);
        let ok = match expected {
            "bad_key" => matches!(err, IdentityError::BadSigningKey { .. }),
            _ => matches!(err, IdentityError::BadDocument { .. }),
        };
        assert!(ok, "{expected}: {err}");
        assert!(err.is_permanent());
    }
}

#[tokio::test]
async fn handles_through_a_resolver_service() {
    let service = serve(Router::new().route(
        "/xrpc/com.atproto.identity.resolveHandle",
        get(
            |Query(q): Query<std::collections::HashMap<String, String>>| async move {
                match q.get("handle").map(String::as_str) {
                    Some("alice.test") => {
                        json_response(200, &json!({"did": "did:plc:lt2323nlyuttitt244pgktl2"}))
                    }
                    Some("broken.test") => json_response(503, &json!({"error": "Unavailable"})),
                    _ => json_response(
                        400,
                        &json!({"error": "InvalidRequest", "message": "Unable to resolve handle"}),
                    ),
                }
            },
        ),
    ))
    .await;
    let plc = plc_server(Arc::new(AtomicUsize::new(0))).await;
    let resolver = IdentityResolver::new(
        test_client(),
        IdentityConfig {
            handle_resolver_url: Some(service),
            ..config(plc)
        },
    );
    let did = resolver.resolve_handle("Alice.Test").await.expect("alice");
    assert_eq!(
        did.map(|d| d.to_string()).as_deref(),
        Some("did:plc:lt2323nlyuttitt244pgktl2")
    );
    assert_eq!(
        resolver
            .resolve_handle("nobody.test")
            .await
            .expect("nobody"),
        None
    );
    let err = resolver
        .resolve_handle("broken.test")
        .await
        .expect_err("503");
    assert!(!err.is_permanent(), "{err}");
    assert!(matches!(
        resolver.resolve_handle("not a handle").await,
        Err(IdentityError::InvalidHandle { .. })
    ));

    // Both directions: alice's document claims alice.test and the handle points back.
    let alice = resolver
        .resolve_did("did:plc:lt2323nlyuttitt244pgktl2")
        .await
        .expect("alice doc");
    assert_eq!(
        resolver
            .verified_handle(&alice)
            .await
            .expect("verify")
            .as_deref(),
        Some("alice.test")
    );
    // bob's document claims bob.test, which the service does not resolve.
    let bob = resolver
        .resolve_did("did:plc:fdqra2rzttezmbg5aqlvycpu")
        .await
        .expect("bob doc");
    assert_eq!(resolver.verified_handle(&bob).await.expect("verify"), None);
}

/// A one-zone DNS server on UDP: answers TXT queries from `records`, NXDOMAIN otherwise.
async fn dns_server(records: Vec<(&'static str, &'static str)>) -> SocketAddr {
    use hickory_resolver::proto::op::{Message, ResponseCode};
    use hickory_resolver::proto::rr::rdata::TXT;
    use hickory_resolver::proto::rr::{RData, Record, RecordType};

    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("udp");
    let addr = socket.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
                return;
            };
            let Ok(query) = Message::from_vec(&buf[..len]) else {
                continue;
            };
            let mut response = Message::response(query.metadata.id, query.metadata.op_code);
            response.metadata.recursion_desired = query.metadata.recursion_desired;
            response.metadata.recursion_available = true;
            let mut found = false;
            for q in &query.queries {
                response.add_query(q.clone());
                let name = q.name().to_ascii().to_ascii_lowercase();
                for (record_name, value) in &records {
                    if name.trim_end_matches('.') == *record_name
                        && q.query_type() == RecordType::TXT
                    {
                        found = true;
                        response.add_answer(Record::from_rdata(
                            q.name().clone(),
                            60,
                            RData::TXT(TXT::new(vec![value.to_string()])),
                        ));
                    }
                }
            }
            if !found {
                response.metadata.response_code = ResponseCode::NXDomain;
            }
            if let Ok(bytes) = response.to_vec() {
                let _ = socket.send_to(&bytes, peer).await;
            }
        }
    });
    addr
}

#[tokio::test]
async fn handles_through_dns_txt() {
    let dns = dns_server(vec![
        (
            "_atproto.alice.example.com",
            "did=did:plc:lt2323nlyuttitt244pgktl2",
        ),
        (
            "_atproto.twice.example.com",
            "did=did:plc:lt2323nlyuttitt244pgktl2",
        ),
        (
            "_atproto.twice.example.com",
            "did=did:plc:fdqra2rzttezmbg5aqlvycpu",
        ),
    ])
    .await;
    // Private hosts are refused, so the HTTPS fallback cannot leave this machine: the names
    // below do not resolve to anything public from a test sandbox, and if they did, only
    // `.well-known/atproto-did` of an example domain would be asked.
    let resolver = IdentityResolver::new(
        test_client(),
        IdentityConfig {
            dns_servers: vec![dns],
            ..config(Url::parse("http://127.0.0.1:1").expect("url"))
        },
    );
    let did = resolver
        .resolve_handle("alice.example.com")
        .await
        .expect("alice");
    assert_eq!(
        did.map(|d| d.to_string()).as_deref(),
        Some("did:plc:lt2323nlyuttitt244pgktl2")
    );
}
