//! The official atproto data-model interop vectors, and JSON → CBOR → JSON round trips.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use proptest::prelude::*;
use proptest::test_runner::Config;
use protocol::data_model::{DataModelError, cbor_to_json, cid_for_cbor, json_to_cbor, verify_cid};
use serde_json::{Map, Value, json};

fn load(file: &str) -> Vec<Value> {
    let path = testkit::fixture(&format!("interop/data-model/{file}"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let all: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert!(!all.is_empty(), "{file} is empty");
    all
}

#[test]
fn fixtures_encode_to_the_exact_bytes_and_cid() {
    for fixture in load("data-model-fixtures.json") {
        let json = &fixture["json"];
        let want = STANDARD_NO_PAD
            .decode(fixture["cbor_base64"].as_str().unwrap())
            .unwrap();
        let bytes = json_to_cbor(json).unwrap();
        assert_eq!(bytes, want, "encoding of {json}");
        let cid = cid_for_cbor(&bytes);
        assert_eq!(cid.to_string(), fixture["cid"].as_str().unwrap());
        verify_cid(&cid, &bytes).unwrap();
    }
}

#[test]
fn fixtures_decode_to_the_exact_json() {
    for fixture in load("data-model-fixtures.json") {
        let bytes = STANDARD_NO_PAD
            .decode(fixture["cbor_base64"].as_str().unwrap())
            .unwrap();
        let json = cbor_to_json(&bytes).unwrap();
        assert_eq!(json, fixture["json"]);
        // Never arrays of integers: bytes and links keep their `$bytes` / `$link` form.
        assert!(!json.to_string().contains("[1,"), "{json}");
    }
}

#[test]
fn valid_json_is_accepted_and_round_trips() {
    for case in load("data-model-valid.json") {
        let json = &case["json"];
        let bytes = json_to_cbor(json).unwrap_or_else(|e| panic!("{}: {e}", case["note"]));
        let back = cbor_to_json(&bytes).unwrap();
        // `123.0` comes back as `123`: compare by re-encoding.
        assert_eq!(json_to_cbor(&back).unwrap(), bytes, "{}", case["note"]);
    }
}

#[test]
fn invalid_json_is_rejected() {
    for case in load("data-model-invalid.json") {
        let result = json_to_cbor(&case["json"]);
        assert!(
            matches!(result, Err(DataModelError::Json { .. })),
            "{} was accepted",
            case["note"]
        );
    }
}

/// Arbitrary atproto JSON values: integers, strings, booleans, null, bytes, links, arrays, maps.
fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        proptest::collection::vec(any::<u8>(), 0..40)
            .prop_map(|b| json!({"$bytes": STANDARD_NO_PAD.encode(b)})),
        proptest::collection::vec(any::<u8>(), 1..64)
            .prop_map(|b| json!({"$link": cid_for_cbor(&b).to_string()})),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            proptest::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_]{0,10}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

proptest! {
    #![proptest_config(Config { cases: 512, failure_persistence: None, ..Config::default() })]

    #[test]
    fn json_cbor_json_round_trip(fields in proptest::collection::btree_map("[a-z]{1,8}", arb_value(), 0..8)) {
        let record = Value::Object(fields.into_iter().collect());
        let bytes = json_to_cbor(&record).unwrap();
        let back = cbor_to_json(&bytes).unwrap();
        prop_assert_eq!(&back, &record);
        // Canonical: encoding the decoded value gives the same bytes, so the same CID.
        prop_assert_eq!(json_to_cbor(&back).unwrap(), bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = cbor_to_json(&bytes);
    }
}
