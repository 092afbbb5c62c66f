//! `inspect` run as operators run it, on the real reference-PDS output and on broken input.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn realpds() -> PathBuf {
    testkit::fixture("realpds")
}

fn inspect(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_inspect"))
        .args(args)
        .output()
        .expect("running inspect")
}

fn json_lines(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each stdout line is JSON"))
        .collect()
}

#[test]
fn every_real_repo_verifies_with_the_expected_counts() {
    let expected: Value =
        serde_json::from_slice(&std::fs::read(realpds().join("expected.json")).unwrap()).unwrap();
    let docs = realpds().join("did-docs.json");
    let mut repos = 0;
    for entry in std::fs::read_dir(realpds().join("repos")).unwrap() {
        let car = entry.unwrap().path();
        let out = inspect(&[
            "car",
            car.to_str().unwrap(),
            "--did-doc",
            docs.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}: {}",
            car.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let lines = json_lines(&out);
        let summary = &lines.last().unwrap()["summary"];
        let did = summary["did"].as_str().unwrap();
        let truth = &expected["byRepo"][did];
        assert_eq!(summary["commit"], truth["head"], "{did}");
        assert_eq!(summary["rev"], truth["rev"], "{did}");
        assert_eq!(summary["collections"], truth["collections"], "{did}");
        assert!(
            summary["verification"]["signature"]
                .as_str()
                .unwrap()
                .starts_with("verified")
        );
        // One line per record, then the summary.
        assert_eq!(lines.len() as u64 - 1, summary["records"].as_u64().unwrap());
        for record in &lines[..lines.len() - 1] {
            assert_eq!(record["record"]["$type"], record["collection"]);
        }
        repos += 1;
    }
    assert_eq!(repos, 30);
}

#[test]
fn a_repo_signed_by_another_key_is_refused() {
    let dir = realpds().join("repos");
    let car = dir.join("did_plc_2fyeopchadpsyisrt7mod5dx.car");
    // Another account's document: the DID must match, so hand it over under this DID's name.
    let docs: Value =
        serde_json::from_slice(&std::fs::read(realpds().join("did-docs.json")).unwrap()).unwrap();
    let mut other = docs["did:plc:hrbiowvmqmg7safhq44ecp3v"]["body"].clone();
    other["id"] = Value::from("did:plc:2fyeopchadpsyisrt7mod5dx");
    let doc_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(doc_file.path(), other.to_string()).unwrap();
    let out = inspect(&[
        "car",
        car.to_str().unwrap(),
        "--did-doc",
        doc_file.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("signature"),
        "{out:?}"
    );
}

#[test]
fn broken_cars_exit_1_with_a_message() {
    let car = realpds().join("repos/did_plc_2fyeopchadpsyisrt7mod5dx.car");
    let bytes = std::fs::read(&car).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("truncated.car", bytes[..bytes.len() / 2].to_vec()),
        ("empty.car", Vec::new()),
        ("garbage.car", b"<html>502 Bad Gateway</html>".to_vec()),
    ];
    for (name, content) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let out = inspect(&["car", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.starts_with("inspect: ") && !stderr.contains("panicked"),
            "{name}: {stderr}"
        );
    }
    let wrong_did = inspect(&[
        "car",
        car.to_str().unwrap(),
        "--did",
        "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa",
    ]);
    assert_eq!(wrong_did.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&wrong_did.stderr).contains("expected did:plc:aaaa"));
}

#[test]
fn the_real_firehose_capture_decodes_frame_by_frame() {
    let out = inspect(&[
        "frames",
        realpds().join("firehose.frames").to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1130);
    let commits: Vec<&Value> = lines
        .iter()
        .filter(|l| l["header"]["t"] == "#commit")
        .collect();
    assert_eq!(commits.len(), 1032);
    for commit in commits {
        assert!(commit["body"]["blocks"]["bytes"].as_u64().is_some());
        for op in commit["body"]["ops"].as_array().unwrap() {
            let has_record = !op["record"].is_null();
            assert_eq!(has_record, op["action"] != "delete", "{op}");
        }
    }
    let future = inspect(&[
        "frames",
        realpds()
            .join("firehose-futurecursor.frames")
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(json_lines(&future)[0]["body"]["error"], "FutureCursor");
}

#[test]
fn a_cut_or_corrupt_capture_exits_1_after_printing_what_decoded() {
    let bytes = std::fs::read(realpds().join("firehose.frames")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.frames");
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
    let out = inspect(&["frames", cut.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_lines(&out).len(), 1129);
    assert!(String::from_utf8_lossy(&out.stderr).contains("truncated"));

    // A frame whose body is not CBOR: one error line, the others still print.
    let mut corrupt = Vec::new();
    corrupt.extend_from_slice(&3u32.to_be_bytes());
    corrupt.extend_from_slice(&[0xff, 0xff, 0xff]);
    let first_len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
    corrupt.extend_from_slice(&bytes[..4 + first_len]);
    let path = dir.path().join("corrupt.frames");
    std::fs::write(&path, corrupt).unwrap();
    let out = inspect(&["frames", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 2);
    assert!(lines[0]["error"].is_string());
    assert!(lines[1]["header"].is_object());
}
