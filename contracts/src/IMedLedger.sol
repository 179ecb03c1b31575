// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title IMedLedger: what MedLedger's registry promises, apart from how it keeps it.
/// @notice Roles, the patient registry, consent, emergency access, per-patient hash-linked history
/// commitments and audit-log anchors. Nothing here carries a name or any clinical content: a history
/// entry is a salted commitment (keccak256 over a random salt and the entry's canonical form, see
/// docs/commitments.md), so its content cannot be guessed from the chain.
interface IMedLedger {
    // ------------------------------------------------------------------ events

    /// An admin approved `doctor`.
    event DoctorRegistered(address indexed doctor, address indexed approvedBy);
    /// `doctor` lost the doctor role (revoked by an admin, or renounced).
    event DoctorRevoked(address indexed doctor, address indexed revokedBy);
    /// A wallet became patient `patientId`; `registeredBy` is the doctor, or zero for self-registration.
    event PatientAdded(uint256 indexed patientId, address indexed wallet, address indexed registeredBy);
    /// Entry `version` of `patientId` was appended by `author`. `supersedes` is the version it
    /// amends (0 for none); `head` is the history head after this entry.
    event MedicalHistoryUpdated(
        uint256 indexed patientId,
        address indexed author,
        uint64 version,
        uint8 kind,
        uint64 supersedes,
        bytes32 commitment,
        bytes24 head
    );
    /// Entries `firstVersion .. firstVersion + commitments.length - 1` were appended in one call,
    /// none of them amending another; `kinds[i]` is the kind of `commitments[i]`.
    event MedicalHistoryBatchUpdated(
        uint256 indexed patientId,
        address indexed author,
        uint64 firstVersion,
        bytes32[] commitments,
        bytes kinds,
        bytes24 head
    );
    /// The patient let `doctor` read and write their history until `expiresAt` (`type(uint64).max`:
    /// until revoked).
    event AccessGranted(uint256 indexed patientId, address indexed doctor, uint64 expiresAt);
    /// The patient withdrew every access `doctor` had, consent and emergency alike.
    event AccessRevoked(uint256 indexed patientId, address indexed doctor);
    /// `doctor` opened break-glass access until `expiresAt`, for the reason whose salted hash is
    /// `reasonHash` (the reason itself is kept off-chain, encrypted, and shown to the patient).
    event EmergencyAccess(uint256 indexed patientId, address indexed doctor, bytes32 reasonHash, uint64 expiresAt);
    /// `doctor` closed their emergency access before it expired.
    event EmergencyAccessClosed(uint256 indexed patientId, address indexed doctor);
    /// `auditor` anchored the head of its off-chain audit log after `sequence` records.
    event AuditAnchored(address indexed auditor, uint64 sequence, bytes32 head);

    // ------------------------------------------------------------------ errors

    /// The wallet is the zero address.
    error ZeroWallet();
    /// `account` is not a doctor (never approved, or revoked).
    error NotADoctor(address account);
    /// `account` is a doctor already.
    error AlreadyADoctor(address account);
    /// An admin may not approve themselves as a doctor; another admin must.
    error SelfApproval(address account);
    /// No patient has id `patientId`.
    error UnknownPatient(uint256 patientId);
    /// `wallet` is patient `patientId` already.
    error AlreadyRegistered(address wallet, uint256 patientId);
    /// Only patient `patientId`'s own wallet may do this; `caller` is not it.
    error NotThePatient(uint256 patientId, address caller);
    /// `doctor` has no current access (consent or emergency) to patient `patientId`.
    error NoAccess(address doctor, uint256 patientId);
    /// A grant must expire in the future: `expiresAt` is not after `nowTs`.
    error ExpiryNotInFuture(uint64 expiresAt, uint256 nowTs);
    /// `doctor` holds no access to patient `patientId` that could be revoked.
    error NothingToRevoke(uint256 patientId, address doctor);
    /// A commitment must not be zero.
    error EmptyCommitment();
    /// `kind` is not one of the entry kinds (0 to 63).
    error UnknownEntryKind(uint8 kind);
    /// `supersedes` must name an earlier entry: 1 to `entryCount`, or 0 for none.
    error InvalidSupersedes(uint64 supersedes, uint64 entryCount);
    /// A batch holds 1 to `max` entries and one kind byte per commitment.
    error InvalidBatch(uint256 commitments, uint256 kinds, uint256 max);
    /// Emergency access lasts 1 second to `max` seconds; `duration` is outside that.
    error InvalidEmergencyDuration(uint64 duration, uint64 max);
    /// An emergency access must state a reason: `reasonHash` must not be zero.
    error EmptyReason();
    /// `doctor` has no open emergency access to patient `patientId`.
    error NoEmergencyAccess(uint256 patientId, address doctor);
    /// Audit sequences strictly increase: `sequence` is not above the last anchored `last`.
    error StaleAuditSequence(uint64 sequence, uint64 last);
    /// An audit head must not be zero.
    error EmptyAuditHead();

    // ------------------------------------------------------------------ doctors

    /// Approve `doctor` (admins only; never oneself).
    function registerDoctor(address doctor) external;
    /// Withdraw `doctor`'s role (admins only). Their consents stay recorded but grant nothing.
    function revokeDoctor(address doctor) external;
    /// Whether `account` is a doctor now.
    function isDoctor(address account) external view returns (bool);

    // ------------------------------------------------------------------ patients

    /// A doctor registers `wallet` as a patient; the doctor starts with access the patient can revoke.
    function addPatient(address wallet) external returns (uint256 patientId);
    /// As `addPatient`, with the patient's first entries (imports, or a first diagnosis).
    function addPatientWithHistory(address wallet, bytes32[] calldata commitments, bytes calldata kinds)
        external
        returns (uint256 patientId);
    /// The caller registers their own wallet as a patient.
    function registerPatient() external returns (uint256 patientId);
    /// The patient's wallet, the doctor who registered them (zero if self-registered), how many
    /// entries their history holds and its head.
    function getPatient(uint256 patientId)
        external
        view
        returns (address wallet, address registeredBy, uint64 entryCount, bytes24 head);
    /// The id of the patient whose wallet is `wallet`, or 0.
    function patientIdOf(address wallet) external view returns (uint256);
    /// How many patients are registered; ids run from 1 to this.
    function patientCount() external view returns (uint256);

    // ------------------------------------------------------------------ history

    /// Append one entry to `patientId`'s history (doctors with access only); returns its version.
    /// An unknown patient is refused as `NoAccess`: nobody has access to a patient who is not there.
    function updateMedicalHistory(uint256 patientId, bytes32 commitment, uint8 kind, uint64 supersedes)
        external
        returns (uint64 version);
    /// Append many new entries at once (doctors with access only); returns the first version.
    function updateMedicalHistoryBatch(uint256 patientId, bytes32[] calldata commitments, bytes calldata kinds)
        external
        returns (uint64 firstVersion);

    // ------------------------------------------------------------------ consent and emergency access

    /// The patient lets a doctor in until `expiresAt` (0: until revoked).
    function grantAccess(uint256 patientId, address doctor, uint64 expiresAt) external;
    /// The patient withdraws every access `doctor` has.
    function revokeAccess(uint256 patientId, address doctor) external;
    /// A doctor opens break-glass access for `duration` seconds, stating a reason (its salted hash).
    function openEmergencyAccess(uint256 patientId, bytes32 reasonHash, uint64 duration) external;
    /// A doctor closes their own emergency access early.
    function closeEmergencyAccess(uint256 patientId) external;
    /// Whether `doctor` is a doctor with unexpired, unrevoked consent or emergency access now.
    function hasAccess(address doctor, uint256 patientId) external view returns (bool);
    /// The raw access record: consent and emergency expiries (0: none).
    function accessOf(uint256 patientId, address doctor)
        external
        view
        returns (uint64 consentExpiresAt, uint64 emergencyExpiresAt);

    // ------------------------------------------------------------------ audit anchoring

    /// An auditor (a hospital's server account) anchors its audit log's head.
    function anchorAudit(bytes32 head, uint64 sequence) external;
    /// The last anchor of `auditor`.
    function auditAnchorOf(address auditor) external view returns (bytes32 head, uint64 sequence, uint64 anchoredAt);
}
