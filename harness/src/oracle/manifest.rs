//! The manifest: the oracle's expectations as plain serde data, and its file I/O. The types are
//! `verify`'s ([`verify::manifest`]), so what the harness writes is exactly what `verify --expect`
//! reads; the format is documented there.

pub use verify::manifest::{
    AbsentRecord, ActorExpectation, DeadLetterExpectation, LabelExpectation, MANIFEST_FORMAT,
    Manifest, ManifestError, RecordExpectation,
};
