//! The two kinds of live subscription: a relay's repo firehose and a labeler's label stream.
//!
//! Both speak the same framing and cursor rules; they differ in the endpoint, the stream they feed,
//! and how a frame becomes entries. Keeping that difference in one small enum lets the reader and
//! the writer stay the same code for both.

use protocol::frames::Frame;
use streams::names::{FIELD_EVENT, FIELD_LABELS, FIREHOSE_LIVE, LABEL_LIVE};

use super::convert::{
    CollectionFilter, ConvertError, account_entry, commit_entries, identity_entry, labels_entry,
    sync_entry,
};

/// What a subscription reads and where its entries go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feed {
    /// `com.atproto.sync.subscribeRepos` into `firehose_live`, keeping collections `filter` allows.
    Repos {
        /// Which collections' record events are kept.
        filter: CollectionFilter,
    },
    /// `com.atproto.label.subscribeLabels` into `label_live`.
    Labels,
}

impl Feed {
    /// The XRPC method subscribed to.
    pub fn endpoint(&self) -> &'static str {
        match self {
            Feed::Repos { .. } => "com.atproto.sync.subscribeRepos",
            Feed::Labels => "com.atproto.label.subscribeLabels",
        }
    }

    /// The stream the entries are appended to.
    pub fn stream(&self) -> &'static str {
        match self {
            Feed::Repos { .. } => FIREHOSE_LIVE,
            Feed::Labels => LABEL_LIVE,
        }
    }

    /// The entry field holding the payload.
    pub fn field(&self) -> &'static str {
        match self {
            Feed::Repos { .. } => FIELD_EVENT,
            Feed::Labels => FIELD_LABELS,
        }
    }

    /// A short name for logs, metrics and task names: `firehose` or `labeler`.
    pub fn name(&self) -> &'static str {
        match self {
            Feed::Repos { .. } => "firehose",
            Feed::Labels => "labeler",
        }
    }

    /// The entries of a sequenced frame (none when every op was filtered out).
    pub fn entries(&self, frame: &Frame) -> Result<Vec<String>, ConvertError> {
        match (self, frame) {
            (Feed::Repos { filter }, Frame::Commit(f)) => commit_entries(f, filter),
            (Feed::Repos { .. }, Frame::Sync(f)) => sync_entry(f).map(|e| vec![e]),
            (Feed::Repos { .. }, Frame::Identity(f)) => identity_entry(f).map(|e| vec![e]),
            (Feed::Repos { .. }, Frame::Account(f)) => account_entry(f).map(|e| vec![e]),
            (Feed::Labels, Frame::Labels(f)) => labels_entry(f).map(|e| vec![e]),
            (_, other) => Err(ConvertError::Unexpected {
                seq: other.seq().unwrap_or(-1),
                t: frame_type(other),
            }),
        }
    }
}

/// The header type of a frame, for messages.
pub(crate) fn frame_type(frame: &Frame) -> &'static str {
    match frame {
        Frame::Commit(_) => "#commit",
        Frame::Sync(_) => "#sync",
        Frame::Identity(_) => "#identity",
        Frame::Account(_) => "#account",
        Frame::Info(_) => "#info",
        Frame::Labels(_) => "#labels",
        Frame::Error(_) => "error",
        Frame::Unknown { .. } => "unknown",
    }
}
