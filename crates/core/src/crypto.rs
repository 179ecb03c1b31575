//! Encryption at rest.
//!
//! Every patient has a random 256-bit data key. Their entries are sealed with it using
//! XChaCha20-Poly1305 (a fresh random 192-bit nonce per ciphertext, stored in front of it), and the
//! associated data names the patient, the record and the revision: a ciphertext copied to another
//! patient, another record or an older revision's row does not authenticate. The data key is stored
//! only wrapped (sealed) by the master key, with the patient in the associated data, so rotating the
//! master key re-wraps 32-byte keys and never touches an entry.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::entry::{PatientId, RecordId};
use crate::{Error, Result};

const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// Fills `buf` from the operating system's random source.
pub fn random_bytes(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|e| Error::Random(e.to_string()))
}

/// A 256-bit secret key that is wiped from memory when dropped.
#[derive(Clone)]
struct Secret(Zeroizing<[u8; 32]>);

impl Secret {
    fn generate() -> Result<Self> {
        let mut key = Zeroizing::new([0u8; 32]);
        random_bytes(key.as_mut())?;
        Ok(Self(key))
    }

    fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        random_bytes(&mut nonce)?;
        let cipher = XChaCha20Poly1305::new(self.0.as_ref().into());
        let sealed = cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad })
            .map_err(|_| Error::Malformed("plaintext (too long to seal)"))?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(Error::Decrypt);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let cipher = XChaCha20Poly1305::new(self.0.as_ref().into());
        cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad })
            .map(Zeroizing::new)
            .map_err(|_| Error::Decrypt)
    }

    fn derive(&self, label: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.0.as_ref()).expect("any key length");
        mac.update(label);
        mac.finalize().into_bytes().into()
    }
}

/// Names a master key without revealing it: the first 8 bytes of an HMAC of a fixed label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(pub [u8; 8]);

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&alloy::hex::encode(self.0))
    }
}

/// The server's master key. It wraps data keys and the blind-index key, and nothing else.
#[derive(Clone)]
pub struct MasterKey {
    secret: Secret,
    id: KeyId,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

impl MasterKey {
    /// A new random master key.
    pub fn generate() -> Result<Self> {
        Ok(Self::from_secret(Secret::generate()?))
    }

    /// The key written as 64 hexadecimal digits (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<Self> {
        let bytes = Zeroizing::new(alloy::hex::decode(text.trim()).map_err(|_| Error::MalformedKey)?);
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| Error::MalformedKey)?;
        Ok(Self::from_secret(Secret(Zeroizing::new(key))))
    }

    /// The key as 64 hexadecimal digits, for its key file.
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(alloy::hex::encode(self.secret.0.as_ref()))
    }

    fn from_secret(secret: Secret) -> Self {
        let tag = secret.derive(b"medledger.master-key.id.v1");
        let mut id = [0u8; 8];
        id.copy_from_slice(&tag[..8]);
        Self {
            secret,
            id: KeyId(id),
        }
    }

    /// This key's public name.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// Wraps a key for storage; `context` says whose key it is and must be given again to unwrap.
    fn wrap(&self, key: &Secret, context: &[u8]) -> Result<WrappedKey> {
        Ok(WrappedKey {
            master: self.id,
            sealed: self.secret.seal(key.0.as_ref(), context)?,
        })
    }

    fn unwrap(&self, wrapped: &WrappedKey, context: &[u8]) -> Result<Secret> {
        let plain = self.secret.open(&wrapped.sealed, context)?;
        let key: [u8; 32] = plain
            .as_slice()
            .try_into()
            .map_err(|_| Error::Malformed("wrapped key"))?;
        Ok(Secret(Zeroizing::new(key)))
    }
}

/// A key sealed by a master key, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    /// The master key that sealed it.
    pub master: KeyId,
    /// Nonce, ciphertext and tag.
    pub sealed: Vec<u8>,
}

/// The master keys the server holds: the current one (which wraps new keys) and, during a rotation,
/// the one being replaced.
#[derive(Debug, Clone)]
pub struct Keyring {
    current: MasterKey,
    others: Vec<MasterKey>,
}

impl Keyring {
    /// A keyring wrapping with `current` and also able to unwrap with `others`.
    pub fn new(current: MasterKey, others: Vec<MasterKey>) -> Self {
        Self { current, others }
    }

    /// The key that wraps new keys.
    pub fn current(&self) -> &MasterKey {
        &self.current
    }

    fn find(&self, id: KeyId) -> Result<&MasterKey> {
        std::iter::once(&self.current)
            .chain(&self.others)
            .find(|k| k.id == id)
            .ok_or_else(|| Error::UnknownMasterKey(id.to_string()))
    }

    /// A new data key for `patient`, and its wrapped form for the store.
    pub fn new_data_key(&self, patient: PatientId) -> Result<(DataKey, WrappedKey)> {
        let key = Secret::generate()?;
        let wrapped = self.current.wrap(&key, &DataKey::context(patient))?;
        Ok((DataKey(key), wrapped))
    }

    /// Unwraps `patient`'s stored data key.
    pub fn data_key(&self, patient: PatientId, wrapped: &WrappedKey) -> Result<DataKey> {
        Ok(DataKey(
            self.find(wrapped.master)?
                .unwrap(wrapped, &DataKey::context(patient))?,
        ))
    }

    /// A new blind-index key and its wrapped form.
    pub fn new_index_key(&self) -> Result<(crate::blind::BlindIndexKey, WrappedKey)> {
        let key = Secret::generate()?;
        let wrapped = self.current.wrap(&key, INDEX_KEY_CONTEXT)?;
        Ok((crate::blind::BlindIndexKey::from_bytes(*key.0), wrapped))
    }

    /// Unwraps the stored blind-index key.
    pub fn index_key(&self, wrapped: &WrappedKey) -> Result<crate::blind::BlindIndexKey> {
        let key = self.find(wrapped.master)?.unwrap(wrapped, INDEX_KEY_CONTEXT)?;
        Ok(crate::blind::BlindIndexKey::from_bytes(*key.0))
    }

    /// Re-wraps a stored key under the current master key; `whose` is the patient, or `None` for
    /// the blind-index key. The key itself does not change, so nothing it sealed needs re-sealing.
    pub fn rewrap(&self, whose: Option<PatientId>, wrapped: &WrappedKey) -> Result<WrappedKey> {
        let context = match whose {
            Some(patient) => DataKey::context(patient),
            None => INDEX_KEY_CONTEXT.to_vec(),
        };
        let key = self.find(wrapped.master)?.unwrap(wrapped, &context)?;
        self.current.wrap(&key, &context)
    }
}

const INDEX_KEY_CONTEXT: &[u8] = b"medledger.blind-index-key.v1";

impl Keyring {
    /// A new key for the files of `owner`'s export job `job`, and its wrapped form for the store
    /// (bound to both: a job whose owner is changed in the database opens for nobody).
    pub fn new_export_key(&self, job: &str, owner: &[u8]) -> Result<(ExportKey, WrappedKey)> {
        let key = Secret::generate()?;
        let wrapped = self.current.wrap(&key, &ExportKey::context(job, owner))?;
        Ok((ExportKey(key), wrapped))
    }

    /// Re-wraps the stored key of `owner`'s export job `job` under the current master key.
    pub fn rewrap_export(&self, job: &str, owner: &[u8], wrapped: &WrappedKey) -> Result<WrappedKey> {
        let context = ExportKey::context(job, owner);
        let key = self.find(wrapped.master)?.unwrap(wrapped, &context)?;
        self.current.wrap(&key, &context)
    }

    /// Unwraps the stored key of `owner`'s export job `job`.
    pub fn export_key(&self, job: &str, owner: &[u8], wrapped: &WrappedKey) -> Result<ExportKey> {
        Ok(ExportKey(
            self.find(wrapped.master)?
                .unwrap(wrapped, &ExportKey::context(job, owner))?,
        ))
    }
}

/// The key of one Bulk Data export job's files (health data, kept in the database until fetched:
/// sealed like entries, so that what the database holds is neither readable nor alterable unseen).
#[derive(Clone)]
pub struct ExportKey(Secret);

impl ExportKey {
    fn context(job: &str, owner: &[u8]) -> Vec<u8> {
        let mut context = b"medledger.export-key.v2".to_vec();
        context.extend_from_slice(owner);
        context.extend_from_slice(job.as_bytes());
        context
    }

    fn aad(job: &str, name: &str) -> Vec<u8> {
        let mut aad = b"medledger.export.v1".to_vec();
        aad.extend_from_slice(job.as_bytes());
        aad.push(0);
        aad.extend_from_slice(name.as_bytes());
        aad
    }

    /// Seals file `name` of job `job`.
    pub fn seal(&self, job: &str, name: &str, plaintext: &[u8]) -> Result<Vec<u8>> {
        self.0.seal(plaintext, &Self::aad(job, name))
    }

    /// Opens what was sealed as file `name` of job `job`, and nothing else.
    pub fn open(&self, job: &str, name: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        self.0.open(sealed, &Self::aad(job, name))
    }
}

impl std::fmt::Debug for ExportKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExportKey(..)")
    }
}

/// What a ciphertext is bound to: its patient, its record and the record's revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding {
    /// The patient whose record it is.
    pub patient: PatientId,
    /// The record.
    pub record: RecordId,
    /// The record's revision, from 1.
    pub revision: u32,
}

impl Binding {
    fn aad(&self) -> [u8; 18 + 16 + 16 + 4] {
        let mut aad = [0u8; 54];
        aad[..18].copy_from_slice(b"medledger.entry.v1");
        aad[18..34].copy_from_slice(&self.patient.0);
        aad[34..50].copy_from_slice(&self.record.0);
        aad[50..].copy_from_slice(&self.revision.to_be_bytes());
        aad
    }
}

/// A patient's data key, unwrapped.
#[derive(Clone)]
pub struct DataKey(Secret);

impl DataKey {
    fn context(patient: PatientId) -> Vec<u8> {
        let mut context = b"medledger.data-key.v1".to_vec();
        context.extend_from_slice(&patient.0);
        context
    }

    /// Seals `plaintext` bound to `binding`.
    pub fn seal(&self, binding: &Binding, plaintext: &[u8]) -> Result<Vec<u8>> {
        self.0.seal(plaintext, &binding.aad())
    }

    /// Opens a ciphertext sealed for exactly `binding`.
    pub fn open(&self, binding: &Binding, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        self.0.open(sealed, &binding.aad())
    }

    pub(crate) fn seal_raw(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        self.0.seal(plaintext, aad)
    }

    pub(crate) fn open_raw(&self, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        self.0.open(sealed, aad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding() -> Binding {
        Binding {
            patient: PatientId([1; 16]),
            record: RecordId([2; 16]),
            revision: 1,
        }
    }

    #[test]
    fn an_export_file_opens_only_as_itself_with_its_jobs_key() {
        let ring = Keyring::new(MasterKey::generate().unwrap(), vec![]);
        let (key, wrapped) = ring.new_export_key("job-1", &[1; 20]).unwrap();
        let sealed = key.seal("job-1", "Condition", b"{}").unwrap();
        let again = ring.export_key("job-1", &[1; 20], &wrapped).unwrap();
        assert_eq!(
            again.open("job-1", "Condition", &sealed).unwrap().as_slice(),
            b"{}"
        );
        assert!(
            again.open("job-1", "Observation", &sealed).is_err(),
            "another file's name"
        );
        assert!(
            again.open("job-2", "Condition", &sealed).is_err(),
            "another job's"
        );
        assert!(
            ring.export_key("job-2", &[1; 20], &wrapped).is_err(),
            "the key is bound to its job"
        );
        assert!(
            ring.export_key("job-1", &[2; 20], &wrapped).is_err(),
            "and to its owner"
        );
    }

    #[test]
    fn sealed_data_opens_only_under_its_own_binding() {
        let ring = Keyring::new(MasterKey::generate().unwrap(), vec![]);
        let (key, _) = ring.new_data_key(PatientId([1; 16])).unwrap();
        let sealed = key.seal(&binding(), b"Asthma").unwrap();
        assert_eq!(key.open(&binding(), &sealed).unwrap().as_slice(), b"Asthma");
        for other in [
            Binding {
                patient: PatientId([9; 16]),
                ..binding()
            },
            Binding {
                record: RecordId([9; 16]),
                ..binding()
            },
            Binding {
                revision: 2,
                ..binding()
            },
        ] {
            assert!(matches!(key.open(&other, &sealed), Err(Error::Decrypt)));
        }
        let mut edited = sealed.clone();
        *edited.last_mut().unwrap() ^= 1;
        assert!(matches!(key.open(&binding(), &edited), Err(Error::Decrypt)));
    }

    #[test]
    fn data_keys_survive_rotation_and_stay_bound_to_their_patient() {
        let old = MasterKey::generate().unwrap();
        let ring = Keyring::new(old.clone(), vec![]);
        let patient = PatientId([1; 16]);
        let (key, wrapped) = ring.new_data_key(patient).unwrap();
        let sealed = key.seal(&binding(), b"Asthma").unwrap();

        let new = MasterKey::generate().unwrap();
        let rotating = Keyring::new(new.clone(), vec![old]);
        let rewrapped = rotating.rewrap(Some(patient), &wrapped).unwrap();
        assert_eq!(rewrapped.master, new.id());

        let after = Keyring::new(new, vec![]);
        let key = after.data_key(patient, &rewrapped).unwrap();
        assert_eq!(key.open(&binding(), &sealed).unwrap().as_slice(), b"Asthma");
        assert!(
            after.data_key(PatientId([2; 16]), &rewrapped).is_err(),
            "wrapped key moved to another patient"
        );
        assert!(matches!(
            after.data_key(patient, &wrapped),
            Err(Error::UnknownMasterKey(_))
        ));
    }

    #[test]
    fn master_keys_round_trip_through_hex() {
        let key = MasterKey::generate().unwrap();
        let again = MasterKey::from_hex(&format!(" {}\n", key.to_hex().as_str())).unwrap();
        assert_eq!(key.id(), again.id());
        assert!(MasterKey::from_hex("abcd").is_err());
        assert!(!format!("{key:?}").contains(key.to_hex().as_str()));
    }
}
