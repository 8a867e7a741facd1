//! Authentication between client and server: a challenge-response over a shared key file
//! (`--auth-key-file` on both ends). Each side sends 32 random bytes (a nonce); each proves
//! it holds the key with HMAC-SHA-256(key, its own label || client nonce || server nonce).
//! The key never travels, a recorded exchange cannot be replayed (the other side's nonce is
//! new every time), and the two labels keep one side's proof from being reflected as the
//! other's. It authenticates, it does not encrypt: measurement traffic is not secret.

use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Bytes of each nonce.
pub const NONCE_LEN: usize = 32;
/// A shorter key is refused: guessable keys would make authentication decoration.
pub const MIN_KEY_LEN: usize = 16;

/// Which side a proof is from (its label in the MAC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// `copybench run --connect`.
    Client,
    /// `copybench server`.
    Server,
}

impl Side {
    fn label(self) -> &'static [u8] {
        match self {
            Side::Client => b"copybench-v2 client proof",
            Side::Server => b"copybench-v2 server proof",
        }
    }
}

/// Why a key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Missing, unreadable, a directory...
    #[error("--auth-key-file {}: cannot read it: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Too short to be a key.
    #[error(
        "--auth-key-file {}: the key is {len} bytes, at least {MIN_KEY_LEN} are needed \
         (make one with `head -c 32 /dev/urandom | base64 > FILE` and copy it to both hosts)",
        path.display()
    )]
    TooShort {
        /// The file.
        path: PathBuf,
        /// Bytes it holds (surrounding whitespace removed).
        len: usize,
    },
}

/// A shared key, as read from a key file.
pub struct AuthKey(Vec<u8>);

impl std::fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthKey(..)") // never print the key
    }
}

impl AuthKey {
    /// Reads the key: the file's bytes, surrounding whitespace removed (so a key written with
    /// `echo` reads the same on both hosts).
    pub fn load(path: &Path) -> Result<AuthKey, KeyError> {
        let bytes = std::fs::read(path).map_err(|source| KeyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let key = bytes.trim_ascii();
        if key.len() < MIN_KEY_LEN {
            return Err(KeyError::TooShort {
                path: path.to_path_buf(),
                len: key.len(),
            });
        }
        warn_if_readable_by_others(path);
        Ok(AuthKey(key.to_vec()))
    }

    /// A key from bytes, for tests.
    #[cfg(test)]
    pub fn for_tests(key: &[u8]) -> AuthKey {
        AuthKey(key.to_vec())
    }

    /// `side`'s proof over both nonces, in hex.
    pub fn proof(&self, side: Side, client_nonce: &[u8], server_nonce: &[u8]) -> String {
        hex(&self
            .mac(side, client_nonce, server_nonce)
            .finalize()
            .into_bytes())
    }

    /// Whether `proof` (hex) is `side`'s proof over both nonces; compared in constant time.
    pub fn verify(
        &self,
        side: Side,
        client_nonce: &[u8],
        server_nonce: &[u8],
        proof: &str,
    ) -> bool {
        let Some(tag) = unhex(proof) else {
            return false;
        };
        self.mac(side, client_nonce, server_nonce)
            .verify_slice(&tag)
            .is_ok()
    }

    fn mac(&self, side: Side, client_nonce: &[u8], server_nonce: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .expect("HMAC takes keys of any length");
        mac.update(side.label());
        mac.update(client_nonce);
        mac.update(server_nonce);
        mac
    }
}

/// A key file others may read is a key others may hold: say so, but do not refuse (the
/// user may have reasons, e.g. a group of operators).
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            eprintln!(
                "warning: --auth-key-file {}: other users may read it (chmod 600 it)",
                path.display()
            );
        }
    }
}

/// A new random nonce.
pub fn nonce() -> Result<[u8; NONCE_LEN], getrandom::Error> {
    let mut n = [0u8; NONCE_LEN];
    getrandom::fill(&mut n)?;
    Ok(n)
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Decodes hex; `None` for anything else (odd length, non-hex digits).
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// A nonce from its hex form: exactly [`NONCE_LEN`] bytes.
pub fn parse_nonce(s: &str) -> Option<Vec<u8>> {
    unhex(s).filter(|n| n.len() == NONCE_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &[u8]) -> AuthKey {
        AuthKey(k.to_vec())
    }

    #[test]
    fn proofs_verify_only_with_the_same_key_nonces_and_side() {
        let (k, cn, sn) = (key(b"0123456789abcdef"), [1u8; 32], [2u8; 32]);
        let p = k.proof(Side::Client, &cn, &sn);
        assert!(k.verify(Side::Client, &cn, &sn, &p));
        assert!(!k.verify(Side::Server, &cn, &sn, &p), "reflected");
        assert!(!k.verify(Side::Client, &sn, &cn, &p), "nonces swapped");
        assert!(!key(b"0123456789abcdeX").verify(Side::Client, &cn, &sn, &p));
        assert!(!k.verify(Side::Client, &cn, &sn, &p[..10]), "truncated");
        assert!(!k.verify(Side::Client, &cn, &sn, "zz"));
        assert!(!k.verify(Side::Client, &cn, &sn, "é"));
    }

    #[test]
    fn hex_round_trips_and_rejects_garbage() {
        assert_eq!(unhex(&hex(&[0, 255, 16])).unwrap(), vec![0, 255, 16]);
        assert!(unhex("abc").is_none());
        assert!(unhex("gg").is_none());
        assert!(unhex("+f").is_none());
        assert!(parse_nonce(&hex(&[0; 31])).is_none());
        assert_ne!(nonce().unwrap(), nonce().unwrap());
    }

    #[test]
    fn short_and_missing_key_files_name_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let short = dir.path().join("short");
        std::fs::write(&short, "tiny\n").unwrap();
        let e = AuthKey::load(&short).unwrap_err().to_string();
        assert!(
            e.contains("--auth-key-file") && e.contains("at least 16"),
            "{e}"
        );
        let e = AuthKey::load(&dir.path().join("absent"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--auth-key-file") && e.contains("cannot read"),
            "{e}"
        );
    }
}
