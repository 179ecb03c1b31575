//! The blind index: searching patients by name without storing names.
//!
//! A name is normalised (Unicode NFKD, combining marks dropped, lower case) and split into words
//! at anything that is not a letter or digit. For every word the index stores a keyed hash of the
//! whole word (`w:` + word) and of each of its prefixes from [`MIN_PREFIX`] letters (`p:` + prefix);
//! a search hashes the query's words the same way and intersects. The key is random, wrapped by the
//! master key and never leaves the server, so a stolen database holds only 16-byte HMAC-SHA256
//! tags. What it does reveal: which patients share a name word or prefix, and how common one is.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;
use zeroize::Zeroizing;

use crate::{Error, Result};

/// The shortest prefix that is indexed and searchable.
pub const MIN_PREFIX: usize = 2;

/// One stored (or searched-for) index tag.
pub type Tag = [u8; 16];

/// The secret key of the blind index.
#[derive(Clone)]
pub struct BlindIndexKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for BlindIndexKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlindIndexKey(..)")
    }
}

/// How a search word must match a name word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// The whole word.
    Exact,
    /// The beginning of the word.
    Prefix,
}

impl BlindIndexKey {
    pub(crate) fn from_bytes(key: [u8; 32]) -> Self {
        Self(Zeroizing::new(key))
    }

    fn tag(&self, kind: &str, word: &str) -> Tag {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.0.as_ref()).expect("any key length");
        mac.update(kind.as_bytes());
        mac.update(word.as_bytes());
        let full = mac.finalize().into_bytes();
        full[..16].try_into().expect("16 of 32 bytes")
    }

    /// The name of the record a client's resource id (`Observation/bp-1`) stands for: keyed, so
    /// that the store's record ids do not let anyone who reads them test guesses of client ids
    /// (which may be built from medical record numbers).
    pub fn record_tag(&self, resource: &str) -> Tag {
        self.tag("r:", resource)
    }

    /// Every tag to store for `name`, without duplicates.
    pub fn tags_for_name(&self, name: &str) -> Vec<Tag> {
        let mut tags = Vec::new();
        for word in words(name) {
            tags.push(self.tag("w:", &word));
            let chars: Vec<char> = word.chars().collect();
            for len in MIN_PREFIX..=chars.len() {
                let prefix: String = chars[..len].iter().collect();
                tags.push(self.tag("p:", &prefix));
            }
        }
        tags.sort_unstable();
        tags.dedup();
        tags
    }

    /// The tags a stored name must all carry to match `query`.
    pub fn tags_for_query(&self, query: &str, how: Match) -> Result<Vec<Tag>> {
        let words = words(query);
        if words.is_empty() || words.iter().any(|w| w.chars().count() < MIN_PREFIX) {
            return Err(Error::SearchTooShort(MIN_PREFIX));
        }
        let kind = match how {
            Match::Exact => "w:",
            Match::Prefix => "p:",
        };
        let mut tags: Vec<Tag> = words.iter().map(|w| self.tag(kind, w)).collect();
        tags.sort_unstable();
        tags.dedup();
        Ok(tags)
    }
}

/// The normalised words of a name.
pub fn words(name: &str) -> Vec<String> {
    let folded: String = name
        .nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect();
    folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{Keyring, MasterKey};

    fn key() -> BlindIndexKey {
        Keyring::new(MasterKey::generate().unwrap(), vec![])
            .new_index_key()
            .unwrap()
            .0
    }

    #[test]
    fn names_normalise_to_plain_lower_case_words() {
        assert_eq!(
            words("  José  MARÍA o'Brien-Smith "),
            ["jose", "maria", "o", "brien", "smith"]
        );
        assert_eq!(words("Ｍüller"), ["muller"]);
    }

    #[test]
    fn exact_and_prefix_queries_find_the_name() {
        let key = key();
        let stored = key.tags_for_name("María Gómez");
        let finds = |q, how| {
            key.tags_for_query(q, how)
                .unwrap()
                .iter()
                .all(|t| stored.contains(t))
        };
        assert!(finds("maria", Match::Exact));
        assert!(finds("GOMEZ maria", Match::Exact));
        assert!(finds("gó", Match::Prefix));
        assert!(finds("mar gom", Match::Prefix));
        assert!(!finds("mar", Match::Exact));
        assert!(!finds("garcia", Match::Prefix));
        assert!(matches!(
            key.tags_for_query("m", Match::Prefix),
            Err(Error::SearchTooShort(2))
        ));
    }

    #[test]
    fn another_key_gives_other_tags() {
        assert_ne!(key().tags_for_name("Smith"), key().tags_for_name("Smith"));
    }
}
