//! MST keys: their layer in the tree, shared prefixes, and the `collection/rkey` syntax.

use sha2::{Digest, Sha256};

/// Longest key accepted, in bytes (the repository spec's bound).
pub const MAX_KEY_BYTES: usize = 1024;

/// The layer of `key`: the leading zero bits of SHA-256(key), divided by two (rounded down).
pub fn key_height(key: &[u8]) -> u32 {
    let digest = Sha256::digest(key);
    let mut zeros = 0;
    for byte in digest {
        zeros += byte.leading_zeros();
        if byte != 0 {
            break;
        }
    }
    zeros / 2
}

/// How many leading bytes `a` and `b` share.
pub fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Checks that `key` is `collection/rkey`: an NSID-like collection and a record key, both non-empty
/// and made of the characters the spec allows, with exactly one `/`.
pub fn validate_key(key: &[u8]) -> Result<(), &'static str> {
    if key.is_empty() {
        return Err("empty key");
    }
    if key.len() > MAX_KEY_BYTES {
        return Err("key longer than 1024 bytes");
    }
    let mut parts = key.splitn(2, |&b| b == b'/');
    let collection = parts.next().unwrap_or_default();
    let Some(rkey) = parts.next() else {
        return Err("key has no '/' between collection and record key");
    };
    if collection.is_empty() {
        return Err("empty collection");
    }
    if !collection
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || *b == b'.' || *b == b'-')
    {
        return Err("collection has a character outside A-Za-z0-9.-");
    }
    if rkey.is_empty() {
        return Err("empty record key");
    }
    if rkey == b"." || rkey == b".." {
        return Err("record key is '.' or '..'");
    }
    if !rkey
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || b".-_:~".contains(b))
    {
        return Err("record key has a character outside A-Za-z0-9.-_:~");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heights_of_known_keys() {
        assert_eq!(key_height(b""), 0);
        assert_eq!(key_height(b"blue"), 1);
        assert_eq!(key_height(b"app.bsky.feed.post/9adeb165882c"), 8);
    }

    #[test]
    fn key_syntax() {
        assert!(validate_key(b"app.bsky.feed.post/3jzfcijpj2z2a").is_ok());
        assert!(validate_key(b"com.example.thing/self:~x_y").is_ok());
        for bad in [
            &b""[..],
            b"app.bsky.feed.post",
            b"/rkey",
            b"app.bsky.feed.post/",
            b"app.bsky.feed.post/a/b",
            b"app bsky/x",
            b"app.bsky.feed.post/..",
        ] {
            assert!(
                validate_key(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
