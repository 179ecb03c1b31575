//! Sign-In with Ethereum (EIP-4361): parsing a message and checking every field of it.
//!
//! [`SiweMessage::parse`] accepts exactly the ABNF of EIP-4361 (field order, line breaks, an
//! optional statement, optional fields). [`SiweMessage::verify`] checks, against what this server
//! expects: the scheme and domain (host and port), that the URI is on this origin, version `1`,
//! the chain id, that it was issued no later than now (with a small clock allowance), that it has
//! an expiry in the future no further away than the longest session, `not-before`, an EIP-55
//! checksummed address, field lengths, and that the signature (EIP-191 `personal_sign`) recovers to
//! that address. Whether the nonce was issued by this server and is still unused is for the caller
//! to settle atomically, when it consumes the nonce.

use alloy::primitives::{Address, Signature, eip191_hash_message};

/// What a sign-in message may be at most, in bytes.
pub const MAX_MESSAGE: usize = 4096;
/// What a statement may be at most, in bytes.
pub const MAX_STATEMENT: usize = 512;
/// How far a client's clock may run ahead of the server's, in seconds.
pub const CLOCK_ALLOWANCE: u64 = 60;

/// A parsed EIP-4361 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiweMessage {
    /// `https` or `http`, if the message names one.
    pub scheme: Option<String>,
    /// The host (and port) asking for the sign-in.
    pub domain: String,
    /// The account, as written (EIP-55 checksummed).
    pub address: Address,
    /// The human-readable statement, if any.
    pub statement: Option<String>,
    /// The resource the sign-in is for.
    pub uri: String,
    /// Always `1`.
    pub version: String,
    /// The chain the account is on.
    pub chain_id: u64,
    /// The server's single-use nonce.
    pub nonce: String,
    /// When it was issued (Unix seconds).
    pub issued_at: u64,
    /// When it expires (Unix seconds).
    pub expiration_time: Option<u64>,
    /// Not valid before (Unix seconds).
    pub not_before: Option<u64>,
    /// A request id, if any.
    pub request_id: Option<String>,
    /// Resources, if any.
    pub resources: Vec<String>,
}

/// What this server expects of a sign-in.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    /// `https` or `http`.
    pub scheme: &'a str,
    /// This server's host and port, as the browser sees it (`127.0.0.1:8080`).
    pub domain: &'a str,
    /// This server's chain id.
    pub chain_id: u64,
    /// Now (Unix seconds).
    pub now: u64,
    /// The longest a signed-in session may be asked for, in seconds.
    pub max_lifetime: u64,
}

/// Why a sign-in is refused (each says what to fix).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SiweError {
    /// Not an EIP-4361 message.
    #[error("not a Sign-In with Ethereum message: {0}")]
    Malformed(String),
    /// A field does not match this server.
    #[error("the sign-in message's {field} is {found:?}, and this server expects {expected:?}")]
    Mismatch {
        /// Which field.
        field: &'static str,
        /// What the message says.
        found: String,
        /// What was expected.
        expected: String,
    },
    /// Issued in the future.
    #[error("the sign-in message is issued in the future (check the device's clock)")]
    IssuedInFuture,
    /// Expired, or has no expiry, or one too far away.
    #[error("{0}")]
    Expiry(String),
    /// Not valid yet.
    #[error("the sign-in message is not valid before its Not Before time")]
    NotYetValid,
    /// The address is not EIP-55 checksummed.
    #[error("the address {0} is not written with its EIP-55 checksum")]
    Checksum(String),
    /// The signature does not recover to the address.
    #[error("the signature is not {0}'s signature of this message")]
    BadSignature(Address),
}

fn malformed(what: impl Into<String>) -> SiweError {
    SiweError::Malformed(what.into())
}

const PREAMBLE: &str = " wants you to sign in with your Ethereum account:";

use crate::calendar::{parse_rfc3339, rfc3339};

impl SiweMessage {
    /// Parses a message exactly as EIP-4361 lays it out.
    pub fn parse(text: &str) -> Result<Self, SiweError> {
        if text.len() > MAX_MESSAGE {
            return Err(malformed(format!("longer than {MAX_MESSAGE} bytes")));
        }
        if text.contains('\r') {
            return Err(malformed("lines must end with LF only"));
        }
        let mut lines = text.split('\n').peekable();
        let first = lines.next().unwrap_or_default();
        let origin = first.strip_suffix(PREAMBLE).ok_or_else(|| {
            malformed("the first line is not \"DOMAIN wants you to sign in with your Ethereum account:\"")
        })?;
        let (scheme, domain) = match origin.split_once("://") {
            Some((scheme, domain)) => (Some(scheme.to_owned()), domain.to_owned()),
            None => (None, origin.to_owned()),
        };
        if domain.is_empty() || domain.len() > 255 || domain.contains(|c: char| c.is_whitespace() || c == '/')
        {
            return Err(malformed("the domain is empty or not a host[:port]"));
        }
        let address_text = lines.next().ok_or_else(|| malformed("no address line"))?;
        if address_text.len() != 42 || !address_text.starts_with("0x") {
            return Err(malformed("the address is not 0x and 40 hexadecimal digits"));
        }
        let address = Address::parse_checksummed(address_text, None).map_err(|_| {
            if address_text.parse::<Address>().is_ok() {
                SiweError::Checksum(address_text.to_owned())
            } else {
                malformed("the address is not 0x and 40 hexadecimal digits")
            }
        })?;
        if lines.next() != Some("") {
            return Err(malformed("no blank line after the address"));
        }
        let statement = match lines.next() {
            Some("") => None,
            Some(statement) => {
                if lines.next() != Some("") {
                    return Err(malformed("no blank line after the statement"));
                }
                if statement.len() > MAX_STATEMENT {
                    return Err(malformed(format!(
                        "the statement is longer than {MAX_STATEMENT} bytes"
                    )));
                }
                Some(statement.to_owned())
            }
            None => return Err(malformed("the message ends after the address")),
        };
        let mut field = |name: &str| -> Result<String, SiweError> {
            let line = lines
                .next()
                .ok_or_else(|| malformed(format!("no \"{name}:\" line")))?;
            let value = line
                .strip_prefix(name)
                .and_then(|l| l.strip_prefix(": "))
                .ok_or_else(|| malformed(format!("expected \"{name}: …\", found {line:?}")))?;
            if value.is_empty() || value.len() > 512 {
                return Err(malformed(format!("{name} is empty or too long")));
            }
            Ok(value.to_owned())
        };
        let uri = field("URI")?;
        let version = field("Version")?;
        let chain_id = field("Chain ID")?
            .parse()
            .map_err(|_| malformed("Chain ID is not a number"))?;
        let nonce = field("Nonce")?;
        if nonce.len() < 8 || !nonce.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(malformed("the nonce is not at least 8 letters and digits"));
        }
        let issued_at = parse_rfc3339(&field("Issued At")?)
            .ok_or_else(|| malformed("Issued At is not an RFC 3339 time"))?;
        let mut optional = |name: &str| -> Result<Option<String>, SiweError> {
            match lines.peek() {
                Some(line) if line.starts_with(&format!("{name}: ")) => {
                    let line = lines.next().unwrap_or_default();
                    Ok(Some(line[name.len() + 2..].to_owned()))
                }
                _ => Ok(None),
            }
        };
        let time = |value: Option<String>, name: &str| -> Result<Option<u64>, SiweError> {
            value
                .map(|v| {
                    parse_rfc3339(&v).ok_or_else(|| malformed(format!("{name} is not an RFC 3339 time")))
                })
                .transpose()
        };
        let expiration_time = time(optional("Expiration Time")?, "Expiration Time")?;
        let not_before = time(optional("Not Before")?, "Not Before")?;
        let request_id = optional("Request ID")?;
        let mut resources = Vec::new();
        if lines.peek() == Some(&"Resources:") {
            lines.next();
            while let Some(line) = lines.peek() {
                let Some(resource) = line.strip_prefix("- ") else {
                    break;
                };
                resources.push(resource.to_owned());
                lines.next();
            }
        }
        match lines.next() {
            None => {}
            Some("") if lines.next().is_none() => {}
            Some(extra) => return Err(malformed(format!("unexpected line {extra:?}"))),
        }
        Ok(Self {
            scheme,
            domain,
            address,
            statement,
            uri,
            version,
            chain_id,
            nonce,
            issued_at,
            expiration_time,
            not_before,
            request_id,
            resources,
        })
    }

    /// A sign-in to MedLedger at `url` (`http[s]://host[:port]`) for `address` on `chain_id`, with
    /// the server's `nonce`, issued now (less a few seconds of clock allowance) and valid for
    /// `valid_secs`: what a wallet outside a browser (the CLI, a script, a test) signs.
    pub fn sign_in(url: &str, address: Address, chain_id: u64, nonce: &str, valid_secs: u64) -> Self {
        let now = crate::calendar::now_secs();
        let (scheme, domain) = match url.split_once("://") {
            Some((scheme, rest)) => (Some(scheme), rest),
            None => (None, url),
        };
        Self {
            // The domain is the origin's host and port; the scheme is left implicit (https is
            // assumed, an http origin is accepted for its loopback development servers).
            scheme: None,
            domain: domain.trim_end_matches('/').to_owned(),
            address,
            statement: Some("Sign in to MedLedger.".to_owned()),
            uri: format!(
                "{}://{}/",
                scheme.unwrap_or("https"),
                domain.trim_end_matches('/')
            ),
            version: "1".to_owned(),
            chain_id,
            nonce: nonce.to_owned(),
            issued_at: now.saturating_sub(5),
            expiration_time: Some(now + valid_secs),
            not_before: None,
            request_id: None,
            resources: Vec::new(),
        }
    }

    /// Checks every field against `expected`, and `signature` (65 bytes) over `text` (the exact
    /// message that was parsed) against the address. Returns the signed-in address.
    pub fn verify(
        &self,
        text: &str,
        signature: &[u8],
        expected: &Expected<'_>,
    ) -> Result<Address, SiweError> {
        let mismatch = |field, found: &str, wanted: &str| SiweError::Mismatch {
            field,
            found: found.to_owned(),
            expected: wanted.to_owned(),
        };
        if let Some(scheme) = &self.scheme
            && scheme != expected.scheme
        {
            return Err(mismatch("scheme", scheme, expected.scheme));
        }
        if self.domain != expected.domain {
            return Err(mismatch("domain", &self.domain, expected.domain));
        }
        let origin = format!("{}://{}", expected.scheme, expected.domain);
        let on_origin = self.uri == origin || self.uri.starts_with(&format!("{origin}/"));
        if !on_origin {
            return Err(mismatch("URI", &self.uri, &format!("{origin}/…")));
        }
        if self.version != "1" {
            return Err(mismatch("version", &self.version, "1"));
        }
        if self.chain_id != expected.chain_id {
            return Err(mismatch(
                "chain id",
                &self.chain_id.to_string(),
                &expected.chain_id.to_string(),
            ));
        }
        if self.issued_at > expected.now + CLOCK_ALLOWANCE {
            return Err(SiweError::IssuedInFuture);
        }
        let Some(expires) = self.expiration_time else {
            return Err(SiweError::Expiry(
                "the sign-in message needs an Expiration Time".into(),
            ));
        };
        if expires <= expected.now {
            return Err(SiweError::Expiry(
                "the sign-in message has expired; sign in again".into(),
            ));
        }
        if expires.saturating_sub(self.issued_at) > expected.max_lifetime {
            return Err(SiweError::Expiry(format!(
                "the sign-in message asks for more than {} s; ask for less",
                expected.max_lifetime
            )));
        }
        if self
            .not_before
            .is_some_and(|nb| nb > expected.now + CLOCK_ALLOWANCE)
        {
            return Err(SiweError::NotYetValid);
        }
        let signature = Signature::try_from(signature).map_err(|_| SiweError::BadSignature(self.address))?;
        let signer = signature
            .recover_address_from_prehash(&eip191_hash_message(text.as_bytes()))
            .map_err(|_| SiweError::BadSignature(self.address))?;
        if signer != self.address {
            return Err(SiweError::BadSignature(self.address));
        }
        Ok(self.address)
    }
}

/// The message as EIP-4361 lays it out, the text a wallet signs ([`SiweMessage::parse`] reads it
/// back to the same message).
impl std::fmt::Display for SiweMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(scheme) = &self.scheme {
            write!(f, "{scheme}://")?;
        }
        writeln!(f, "{}{PREAMBLE}", self.domain)?;
        writeln!(f, "{}", self.address.to_checksum(None))?;
        writeln!(f)?;
        if let Some(statement) = &self.statement {
            writeln!(f, "{statement}")?;
        }
        writeln!(f)?;
        writeln!(f, "URI: {}", self.uri)?;
        writeln!(f, "Version: {}", self.version)?;
        writeln!(f, "Chain ID: {}", self.chain_id)?;
        writeln!(f, "Nonce: {}", self.nonce)?;
        write!(f, "Issued At: {}", rfc3339(self.issued_at))?;
        if let Some(at) = self.expiration_time {
            write!(f, "\nExpiration Time: {}", rfc3339(at))?;
        }
        if let Some(at) = self.not_before {
            write!(f, "\nNot Before: {}", rfc3339(at))?;
        }
        if let Some(id) = &self.request_id {
            write!(f, "\nRequest ID: {id}")?;
        }
        if !self.resources.is_empty() {
            write!(f, "\nResources:")?;
            for resource in &self.resources {
                write!(f, "\n- {resource}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use alloy::signers::SignerSync;
    use alloy::signers::local::PrivateKeySigner;

    use super::*;

    #[test]
    fn a_message_written_reads_back_the_same() {
        let wallet = PrivateKeySigner::random();
        let mut message = SiweMessage::sign_in(
            "http://127.0.0.1:8080",
            wallet.address(),
            19788,
            "abcdefgh1234",
            600,
        );
        let text = message.to_string();
        assert!(text.starts_with("127.0.0.1:8080 wants you to sign in"), "{text}");
        assert_eq!(SiweMessage::parse(&text).unwrap(), message);
        message.statement = None;
        message.scheme = Some("https".into());
        message.not_before = Some(message.issued_at);
        message.request_id = Some("r-1".into());
        message.resources = vec!["https://example.org/a".into(), "ipfs://b".into()];
        assert_eq!(SiweMessage::parse(&message.to_string()).unwrap(), message);
    }

    const NOW: u64 = 1_795_503_600; // 2026-11-24T07:00:00Z

    fn expected() -> Expected<'static> {
        Expected {
            scheme: "http",
            domain: "127.0.0.1:8080",
            chain_id: 19_788,
            now: NOW,
            max_lifetime: 86_400,
        }
    }

    fn message(address: Address, edit: impl FnOnce(&mut Vec<String>)) -> String {
        let mut lines: Vec<String> = [
            "http://127.0.0.1:8080 wants you to sign in with your Ethereum account:".to_owned(),
            address.to_checksum(None),
            String::new(),
            "Sign in to MedLedger.".to_owned(),
            String::new(),
            "URI: http://127.0.0.1:8080/login".to_owned(),
            "Version: 1".to_owned(),
            "Chain ID: 19788".to_owned(),
            "Nonce: a1b2c3d4e5f6g7h8".to_owned(),
            "Issued At: 2026-11-24T06:59:30Z".to_owned(),
            "Expiration Time: 2026-11-24T07:10:00.000Z".to_owned(),
        ]
        .into();
        edit(&mut lines);
        lines.join("\n")
    }

    fn sign_in(edit: impl FnOnce(&mut Vec<String>), expect: Expected<'_>) -> Result<Address, SiweError> {
        let wallet = PrivateKeySigner::random();
        let text = message(wallet.address(), edit);
        let signature = wallet.sign_message_sync(text.as_bytes()).unwrap().as_bytes();
        SiweMessage::parse(&text)?.verify(&text, &signature, &expect)
    }

    #[test]
    fn times_parse_as_rfc_3339() {
        assert_eq!(parse_rfc3339("2026-11-24T07:00:00Z"), Some(NOW));
        assert_eq!(parse_rfc3339("2026-11-24T08:00:00.123+01:00"), Some(NOW));
        assert_eq!(parse_rfc3339("2000-02-29T23:59:59Z"), Some(951_868_799));
        for bad in [
            "2026-11-24 07:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-24T07:00:00",
            "yesterday",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn times_print_as_rfc_3339_and_parse_back() {
        assert_eq!(rfc3339(NOW), "2026-11-24T07:00:00Z");
        assert_eq!(rfc3339(951_868_799), "2000-02-29T23:59:59Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        for secs in [0, 68_169_599, 951_868_799, NOW, 4_102_444_800] {
            assert_eq!(parse_rfc3339(&rfc3339(secs)), Some(secs));
        }
    }

    #[test]
    fn a_well_formed_message_signs_in_its_address() {
        let wallet = PrivateKeySigner::random();
        let text = message(wallet.address(), |_| {});
        let parsed = SiweMessage::parse(&text).unwrap();
        assert_eq!(parsed.statement.as_deref(), Some("Sign in to MedLedger."));
        assert_eq!((parsed.chain_id, parsed.issued_at), (19_788, NOW - 30));
        let signature = wallet.sign_message_sync(text.as_bytes()).unwrap().as_bytes();
        assert_eq!(
            parsed.verify(&text, &signature, &expected()),
            Ok(wallet.address())
        );

        // Optional parts: no statement, no scheme, resources.
        let plain = sign_in(
            |l| {
                l[0] = "127.0.0.1:8080 wants you to sign in with your Ethereum account:".into();
                l.remove(3);
                l.remove(3);
                l.insert(3, String::new());
                l.extend(["Resources:".into(), "- http://127.0.0.1:8080/records".into()]);
            },
            expected(),
        );
        assert!(plain.is_ok(), "{plain:?}");
    }

    #[test]
    fn no_forged_or_foreign_sign_in_opens_a_session() {
        type Edit = Box<dyn FnOnce(&mut Vec<String>)>;
        let cases: Vec<(&str, &str, Edit)> = vec![
            (
                "another domain",
                "domain",
                Box::new(|l| l[0] = l[0].replace("127.0.0.1:8080", "evil.example")),
            ),
            (
                "another scheme",
                "scheme",
                Box::new(|l| l[0] = l[0].replace("http://", "https://")),
            ),
            (
                "another origin's URI",
                "URI",
                Box::new(|l| l[5] = "URI: http://127.0.0.1:8080.evil.example/".into()),
            ),
            (
                "another chain",
                "chain id",
                Box::new(|l| l[7] = "Chain ID: 1".into()),
            ),
            (
                "another version",
                "version",
                Box::new(|l| l[6] = "Version: 2".into()),
            ),
            (
                "issued in the future",
                "future",
                Box::new(|l| l[9] = "Issued At: 2026-11-24T07:05:00Z".into()),
            ),
            (
                "expired",
                "expired",
                Box::new(|l| l[10] = "Expiration Time: 2026-11-24T06:59:59Z".into()),
            ),
            (
                "no expiry",
                "needs an Expiration",
                Box::new(|l| drop(l.remove(10))),
            ),
            (
                "too long a session",
                "more than",
                Box::new(|l| l[10] = "Expiration Time: 2026-12-24T07:00:00Z".into()),
            ),
            (
                "not valid yet",
                "Not Before",
                Box::new(|l| l.push("Not Before: 2026-11-24T08:00:00Z".into())),
            ),
            ("a short nonce", "nonce", Box::new(|l| l[8] = "Nonce: abc".into())),
            (
                "an unchecksummed address",
                "checksum",
                Box::new(|l| l[1] = l[1].to_lowercase()),
            ),
            ("CRLF line ends", "LF only", Box::new(|l| l[0].push('\r'))),
            (
                "an extra line",
                "unexpected line",
                Box::new(|l| l.push("Admin: yes".into())),
            ),
        ];
        for (what, why, edit) in cases {
            match sign_in(edit, expected()) {
                Ok(address) => panic!("{what} signed in {address}"),
                Err(err) => assert!(err.to_string().contains(why), "{what}: refused, but for {err}"),
            }
        }
        // A tampered byte after signing, and another account's signature.
        let wallet = PrivateKeySigner::random();
        let text = message(wallet.address(), |_| {});
        let signature = wallet.sign_message_sync(text.as_bytes()).unwrap().as_bytes();
        let tampered = text.replace("Nonce: a1b2c3d4e5f6g7h8", "Nonce: a1b2c3d4e5f6g7h9");
        let parsed = SiweMessage::parse(&tampered).unwrap();
        assert_eq!(
            parsed.verify(&tampered, &signature, &expected()),
            Err(SiweError::BadSignature(wallet.address()))
        );
        let other = PrivateKeySigner::random()
            .sign_message_sync(text.as_bytes())
            .unwrap()
            .as_bytes();
        let parsed = SiweMessage::parse(&text).unwrap();
        assert_eq!(
            parsed.verify(&text, &other, &expected()),
            Err(SiweError::BadSignature(wallet.address()))
        );
        // Over plain HTTP the browser's origin is http://…; the same message is refused on HTTPS.
        let https = Expected {
            scheme: "https",
            ..expected()
        };
        let refused = sign_in(|_| {}, https).unwrap_err();
        assert!(refused.to_string().contains("scheme"), "{refused}");
    }
}
