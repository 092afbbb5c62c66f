//! `protocol::crypto` against the official interop vectors (`interop/crypto/`): signature
//! fixtures (valid, high-S and DER cases) and the W3C did:key vectors for both curves, plus
//! round trips of our own signing.

use base64::Engine as _;
use protocol::crypto::{KeyError, KeyKind, Keypair, PublicKey, SignatureError};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use serde_json::Value;

fn load(name: &str) -> Vec<Value> {
    let path = testkit::interop("crypto").join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

fn field<'a>(case: &'a Value, name: &str) -> &'a str {
    case[name]
        .as_str()
        .unwrap_or_else(|| panic!("fixture lacks {name}: {case}"))
}

fn b64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(text)
        .unwrap_or_else(|e| panic!("bad base64 {text}: {e}"))
}

#[test]
fn signature_fixtures() {
    let cases = load("signature-fixtures.json");
    assert!(cases.len() >= 6, "expected at least 6 signature fixtures");
    let mut seen_high_s = 0;
    let mut seen_der = 0;
    for case in &cases {
        let comment = field(case, "comment");
        let key = PublicKey::from_did_key(field(case, "publicKeyDid"))
            .unwrap_or_else(|e| panic!("{comment}: {e}"));
        let expected_kind = match field(case, "algorithm") {
            "ES256K" => KeyKind::K256,
            "ES256" => KeyKind::P256,
            other => panic!("{comment}: unknown algorithm {other}"),
        };
        assert_eq!(key.kind(), expected_kind, "{comment}");
        assert_eq!(key.kind().jwt_alg(), field(case, "algorithm"), "{comment}");

        // The fixtures' publicKeyMultibase is the legacy bare-point form of the same key.
        let legacy =
            PublicKey::from_legacy_multibase(key.kind(), field(case, "publicKeyMultibase"))
                .unwrap_or_else(|e| panic!("{comment}: legacy multibase: {e}"));
        assert_eq!(legacy, key, "{comment}");

        let msg = b64(field(case, "messageBase64"));
        let sig = b64(field(case, "signatureBase64"));
        let result = key.verify(&msg, &sig);
        let tags: Vec<&str> = case["tags"]
            .as_array()
            .map(|tags| tags.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if case["validSignature"] == Value::Bool(true) {
            assert_eq!(result, Ok(()), "{comment}");
        } else if tags.contains(&"high-s") {
            seen_high_s += 1;
            assert_eq!(
                result,
                Err(SignatureError::HighS { kind: key.kind() }),
                "{comment}"
            );
        } else if tags.contains(&"der-encoded") {
            seen_der += 1;
            assert!(
                matches!(result, Err(SignatureError::BadLength { .. })),
                "{comment}: {result:?}"
            );
        } else {
            assert!(result.is_err(), "{comment}: invalid signature accepted");
        }
    }
    assert_eq!((seen_high_s, seen_der), (2, 2));
}

#[test]
fn w3c_did_key_k256() {
    let cases = load("w3c_didkey_K256.json");
    assert!(!cases.is_empty());
    for case in &cases {
        let secret = data_encoding::HEXLOWER
            .decode(field(case, "privateKeyBytesHex").as_bytes())
            .expect("hex secret");
        let keypair = Keypair::from_secret_bytes(KeyKind::K256, &secret).expect("k256 secret");
        let did = field(case, "publicDidKey");
        assert_eq!(keypair.public_key().to_did_key(), did);
        let parsed = PublicKey::from_did_key(did).expect("parse did:key");
        assert_eq!(parsed, keypair.public_key());
        assert_eq!(parsed.to_did_key(), did);
        assert_eq!(keypair.secret_bytes().as_slice(), secret.as_slice());
    }
}

#[test]
fn w3c_did_key_p256() {
    let cases = load("w3c_didkey_P256.json");
    assert!(!cases.is_empty());
    for case in &cases {
        let secret = multibase::Base::Base58Btc
            .decode(field(case, "privateKeyBytesBase58"))
            .expect("base58 secret");
        let keypair = Keypair::from_secret_bytes(KeyKind::P256, &secret).expect("p256 secret");
        let did = field(case, "publicDidKey");
        assert_eq!(keypair.public_key().to_did_key(), did);
        let parsed: PublicKey = did.parse().expect("parse did:key");
        assert_eq!(parsed, keypair.public_key());
        let multikey = parsed.to_multikey();
        assert_eq!(PublicKey::from_multikey(&multikey), Ok(parsed));
    }
}

#[test]
fn realpds_legacy_uncompressed_keys() {
    // The reference PLC server publishes `EcdsaSecp256k1VerificationKey2019` with an uncompressed
    // bare point; it must parse and re-encode as a compressed multikey.
    let path = testkit::realpds("did-docs.json");
    let text = std::fs::read_to_string(&path).expect("did-docs.json");
    let docs: serde_json::Map<String, Value> = serde_json::from_str(&text).expect("json");
    let mut parsed = 0;
    for (did, answer) in &docs {
        let Some(methods) = answer["body"]["verificationMethod"].as_array() else {
            continue;
        };
        for method in methods {
            let key = PublicKey::from_legacy_multibase(
                KeyKind::K256,
                field(method, "publicKeyMultibase"),
            )
            .unwrap_or_else(|e| panic!("{did}: {e}"));
            assert_eq!(PublicKey::from_did_key(&key.to_did_key()), Ok(key));
            assert!(key.to_did_key().starts_with("did:key:zQ3s"), "{did}");
            parsed += 1;
        }
    }
    assert!(parsed >= 30, "only {parsed} keys in did-docs.json");
}

#[test]
fn sign_then_verify_is_low_s_on_both_curves() {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    for keypair in [
        Keypair::generate_k256(&mut rng),
        Keypair::generate_p256(&mut rng),
    ] {
        let public = keypair.public_key();
        // Many messages, so that P-256 (which does not normalise by itself) hits high-S raw
        // signatures about half the time.
        for i in 0..64u32 {
            let msg = format!("message {i}");
            let sig = keypair.sign(msg.as_bytes());
            assert_eq!(
                public.verify(msg.as_bytes(), &sig),
                Ok(()),
                "{keypair:?} #{i}"
            );
            assert_eq!(
                public.verify(format!("other {i}").as_bytes(), &sig),
                Err(SignatureError::Mismatch {
                    kind: public.kind()
                })
            );
        }
    }
}

#[test]
fn hostile_key_text_gets_typed_errors() {
    assert!(matches!(
        PublicKey::from_did_key("did:web:example.com"),
        Err(KeyError::MissingPrefix { .. })
    ));
    assert!(matches!(
        PublicKey::from_multikey("m25z9DTpsi"),
        Err(KeyError::MissingPrefix { .. })
    ));
    assert!(matches!(
        PublicKey::from_multikey("z0OIl"),
        Err(KeyError::BadBase58 { .. })
    ));
    assert!(matches!(
        PublicKey::from_multikey(&format!("z{}", "1".repeat(10_000))),
        Err(KeyError::TooLong { .. })
    ));
    // ed25519 multicodec prefix (0xed 0x01): a real key type, but not one atproto signs with.
    let ed25519 = multibase::encode(
        multibase::Base::Base58Btc,
        [[0xed, 0x01].as_slice(), &[7; 32]].concat(),
    );
    assert!(matches!(
        PublicKey::from_multikey(&ed25519),
        Err(KeyError::UnsupportedCodec { .. })
    ));
    // Right prefix, but x is above the field prime (no such point) / the length is wrong.
    let bad_point = multibase::encode(
        multibase::Base::Base58Btc,
        [[0xe7, 0x01, 0x02].as_slice(), &[0xff; 32]].concat(),
    );
    let short = multibase::encode(
        multibase::Base::Base58Btc,
        [[0x80, 0x24].as_slice(), &[0x02; 10]].concat(),
    );
    let bad_tag = multibase::encode(
        multibase::Base::Base58Btc,
        [[0x80, 0x24].as_slice(), &[0x05; 33]].concat(),
    );
    for text in [bad_point, short, bad_tag] {
        assert!(
            matches!(
                PublicKey::from_multikey(&text),
                Err(KeyError::InvalidKey { .. })
            ),
            "{text}"
        );
    }
    assert!(Keypair::from_secret_bytes(KeyKind::K256, &[0; 32]).is_err());
    assert!(Keypair::from_secret_bytes(KeyKind::P256, &[1; 31]).is_err());
}

#[test]
fn malformed_signatures_are_rejected_without_panicking() {
    let keypair = Keypair::from_secret_bytes(KeyKind::K256, &[3; 32]).expect("secret");
    let public = keypair.public_key();
    assert_eq!(
        public.verify(b"m", &[]),
        Err(SignatureError::BadLength { len: 0 })
    );
    assert_eq!(
        public.verify(b"m", &[0; 64]),
        Err(SignatureError::Malformed {
            kind: KeyKind::K256
        })
    );
    assert_eq!(
        public.verify(b"m", &[0xff; 64]),
        Err(SignatureError::Malformed {
            kind: KeyKind::K256
        })
    );
}
