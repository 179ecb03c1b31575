// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {ERC2771Context} from "@openzeppelin/contracts/metatx/ERC2771Context.sol";
import {Context} from "@openzeppelin/contracts/utils/Context.sol";
import {IMedLedger} from "./IMedLedger.sol";

/// @title MedLedger: the registry that decides who is a doctor, who may write a patient's history
/// and who may read it.
/// @notice Every caller is `_msgSender()`: the wallet that sent the transaction, or the wallet that
/// signed an EIP-712 request relayed by the trusted ERC-2771 forwarder. Never the relayer, never
/// `tx.origin`.
/// @dev Roles: the single default admin (hospital governance, transferred only after a delay)
/// appoints admins; admins approve and revoke doctors and auditors. Per patient the contract keeps
/// the wallet, the registering doctor, the entry count and the head of a hash-linked history:
/// `head_v = bytes24(keccak256(abi.encode(head_{v-1}, commitment, uint256(kind),
/// uint256(supersedes), author, uint256(version))))` with `head_0 = 0`. Entries live only in
/// events and that head. The head is 192 bits so that it shares one storage slot with the entry
/// count (one slot read and written per entry instead of two, ~5,000 gas); each entry's own
/// commitment stays a full 256-bit hash in its event.
contract MedLedger is IMedLedger, AccessControlDefaultAdminRules, ERC2771Context {
    /// Hospital admins: approve and revoke doctors and auditors.
    bytes32 public constant ADMIN_ROLE = keccak256("MEDLEDGER_ADMIN");
    /// Approved doctors.
    bytes32 public constant DOCTOR_ROLE = keccak256("MEDLEDGER_DOCTOR");
    /// Hospital server accounts that anchor their audit log's head.
    bytes32 public constant AUDITOR_ROLE = keccak256("MEDLEDGER_AUDITOR");

    /// The longest break-glass access one call opens.
    uint64 public constant MAX_EMERGENCY_DURATION = 1 days;
    /// The most entries one batch appends.
    uint256 public constant MAX_BATCH = 512;
    /// Entry kinds: one FHIR R4 resource type each (0 diagnosis, 1 medication, 2 observation,
    /// 3 note, 4 allergy, 5 demographics, 6 to 45 the rest of the chart: docs/fhir.md
    /// lists them). Up to 63 are accepted, so that a resource type added later needs no new contract.
    uint8 public constant MAX_KIND = 63;

    /// A consent that lasts until the patient revokes it.
    uint64 private constant FOREVER = type(uint64).max;

    struct Patient {
        address wallet;
        address registeredBy;
    }

    /// A patient's history: the one slot an append reads and writes.
    struct History {
        bytes24 head;
        uint64 entryCount;
    }

    /// One doctor's access to one patient; both fields in one slot, so a write reads it once.
    struct Access {
        uint64 consentExpiresAt;
        uint64 emergencyExpiresAt;
    }

    struct AuditAnchor {
        bytes32 head;
        uint64 sequence;
        uint64 anchoredAt;
    }

    uint256 private _patientCount;
    mapping(uint256 patientId => Patient) private _patients;
    mapping(uint256 patientId => History) private _histories;
    mapping(address wallet => uint256 patientId) private _patientIds;
    mapping(uint256 patientId => mapping(address doctor => Access)) private _access;
    mapping(address auditor => AuditAnchor) private _auditAnchors;

    /// @param trustedForwarder the ERC-2771 forwarder whose relayed requests name their signer
    /// @param initialAdmin the default admin and first hospital admin
    /// @param initialAuditor the hospital server's account, which anchors its audit log's head
    /// from the start (so that the log is protected without an admin doing anything); zero for none
    /// @param adminTransferDelay seconds a default-admin transfer waits before it can be accepted
    constructor(address trustedForwarder, address initialAdmin, address initialAuditor, uint48 adminTransferDelay)
        AccessControlDefaultAdminRules(adminTransferDelay, initialAdmin)
        ERC2771Context(trustedForwarder)
    {
        _setRoleAdmin(DOCTOR_ROLE, ADMIN_ROLE);
        _setRoleAdmin(AUDITOR_ROLE, ADMIN_ROLE);
        _grantRole(ADMIN_ROLE, initialAdmin);
        if (initialAuditor != address(0)) _grantRole(AUDITOR_ROLE, initialAuditor);
    }

    // ------------------------------------------------------------------ doctors

    /// @inheritdoc IMedLedger
    function registerDoctor(address doctor) external onlyRole(ADMIN_ROLE) {
        if (doctor == address(0)) revert ZeroWallet();
        if (hasRole(DOCTOR_ROLE, doctor)) revert AlreadyADoctor(doctor);
        _grantRole(DOCTOR_ROLE, doctor);
    }

    /// @inheritdoc IMedLedger
    function revokeDoctor(address doctor) external onlyRole(ADMIN_ROLE) {
        if (!hasRole(DOCTOR_ROLE, doctor)) revert NotADoctor(doctor);
        _revokeRole(DOCTOR_ROLE, doctor);
    }

    /// @inheritdoc IMedLedger
    function isDoctor(address account) public view returns (bool) {
        return hasRole(DOCTOR_ROLE, account);
    }

    // ------------------------------------------------------------------ patients

    /// @inheritdoc IMedLedger
    function addPatient(address wallet) external returns (uint256 patientId) {
        address doctor = _msgSender();
        _requireDoctor(doctor);
        patientId = _register(wallet, doctor);
    }

    /// @inheritdoc IMedLedger
    function addPatientWithHistory(address wallet, bytes32[] calldata commitments, bytes calldata kinds)
        external
        returns (uint256 patientId)
    {
        address doctor = _msgSender();
        _requireDoctor(doctor);
        patientId = _register(wallet, doctor);
        _appendBatch(patientId, _histories[patientId], doctor, commitments, kinds);
    }

    /// @inheritdoc IMedLedger
    function registerPatient() external returns (uint256 patientId) {
        patientId = _register(_msgSender(), address(0));
    }

    /// @inheritdoc IMedLedger
    function getPatient(uint256 patientId)
        external
        view
        returns (address wallet, address registeredBy, uint64 entryCount, bytes24 head)
    {
        Patient storage p = _requirePatient(patientId);
        History storage h = _histories[patientId];
        return (p.wallet, p.registeredBy, h.entryCount, h.head);
    }

    /// @inheritdoc IMedLedger
    function patientIdOf(address wallet) external view returns (uint256) {
        return _patientIds[wallet];
    }

    /// @inheritdoc IMedLedger
    function patientCount() external view returns (uint256) {
        return _patientCount;
    }

    // ------------------------------------------------------------------ history

    /// @inheritdoc IMedLedger
    function updateMedicalHistory(uint256 patientId, bytes32 commitment, uint8 kind, uint64 supersedes)
        external
        returns (uint64 version)
    {
        address author = _msgSender();
        _requireWriter(author, patientId);
        if (commitment == bytes32(0)) revert EmptyCommitment();
        if (kind > MAX_KIND) revert UnknownEntryKind(kind);
        History storage h = _histories[patientId];
        uint64 count = h.entryCount;
        if (supersedes > count) revert InvalidSupersedes(supersedes, count);
        version = count + 1;
        bytes24 head = _link(h.head, commitment, kind, supersedes, author, version);
        h.head = head;
        h.entryCount = version;
        emit MedicalHistoryUpdated(patientId, author, version, kind, supersedes, commitment, head);
    }

    /// @inheritdoc IMedLedger
    function updateMedicalHistoryBatch(uint256 patientId, bytes32[] calldata commitments, bytes calldata kinds)
        external
        returns (uint64 firstVersion)
    {
        address author = _msgSender();
        _requireWriter(author, patientId);
        firstVersion = _appendBatch(patientId, _histories[patientId], author, commitments, kinds);
    }

    // ------------------------------------------------------------------ consent and emergency access

    /// @inheritdoc IMedLedger
    function grantAccess(uint256 patientId, address doctor, uint64 expiresAt) external {
        _requireThePatient(patientId);
        _requireDoctor(doctor);
        uint64 until = expiresAt == 0 ? FOREVER : expiresAt;
        // Expiry is coarse (a consent measured in hours or days); a validator's few seconds of
        // timestamp leeway cannot matter here.
        // slither-disable-next-line timestamp
        if (until <= block.timestamp) revert ExpiryNotInFuture(expiresAt, block.timestamp);
        _access[patientId][doctor].consentExpiresAt = until;
        emit AccessGranted(patientId, doctor, until);
    }

    /// @inheritdoc IMedLedger
    function revokeAccess(uint256 patientId, address doctor) external {
        _requireThePatient(patientId);
        if (!_isOpen(_access[patientId][doctor])) revert NothingToRevoke(patientId, doctor);
        delete _access[patientId][doctor];
        emit AccessRevoked(patientId, doctor);
    }

    /// @inheritdoc IMedLedger
    function openEmergencyAccess(uint256 patientId, bytes32 reasonHash, uint64 duration) external {
        address doctor = _msgSender();
        _requireDoctor(doctor);
        _requirePatient(patientId);
        if (reasonHash == bytes32(0)) revert EmptyReason();
        if (duration == 0 || duration > MAX_EMERGENCY_DURATION) {
            revert InvalidEmergencyDuration(duration, MAX_EMERGENCY_DURATION);
        }
        uint64 until = uint64(block.timestamp) + duration;
        _access[patientId][doctor].emergencyExpiresAt = until;
        emit EmergencyAccess(patientId, doctor, reasonHash, until);
    }

    /// @inheritdoc IMedLedger
    function closeEmergencyAccess(uint256 patientId) external {
        address doctor = _msgSender();
        Access storage a = _access[patientId][doctor];
        // slither-disable-next-line timestamp
        if (a.emergencyExpiresAt <= block.timestamp) revert NoEmergencyAccess(patientId, doctor);
        a.emergencyExpiresAt = 0;
        emit EmergencyAccessClosed(patientId, doctor);
    }

    /// @inheritdoc IMedLedger
    function hasAccess(address doctor, uint256 patientId) public view returns (bool) {
        // Expiries are hours to days long (see grantAccess): timestamp leeway cannot matter.
        // slither-disable-next-line timestamp
        return hasRole(DOCTOR_ROLE, doctor) && _isOpen(_access[patientId][doctor]);
    }

    /// @inheritdoc IMedLedger
    function accessOf(uint256 patientId, address doctor)
        external
        view
        returns (uint64 consentExpiresAt, uint64 emergencyExpiresAt)
    {
        Access storage a = _access[patientId][doctor];
        return (a.consentExpiresAt, a.emergencyExpiresAt);
    }

    // ------------------------------------------------------------------ audit anchoring

    /// @inheritdoc IMedLedger
    function anchorAudit(bytes32 head, uint64 sequence) external onlyRole(AUDITOR_ROLE) {
        if (head == bytes32(0)) revert EmptyAuditHead();
        address auditor = _msgSender();
        AuditAnchor storage anchor = _auditAnchors[auditor];
        if (sequence <= anchor.sequence) revert StaleAuditSequence(sequence, anchor.sequence);
        anchor.head = head;
        anchor.sequence = sequence;
        anchor.anchoredAt = uint64(block.timestamp);
        emit AuditAnchored(auditor, sequence, head);
    }

    /// @inheritdoc IMedLedger
    function auditAnchorOf(address auditor) external view returns (bytes32 head, uint64 sequence, uint64 anchoredAt) {
        AuditAnchor storage anchor = _auditAnchors[auditor];
        return (anchor.head, anchor.sequence, anchor.anchoredAt);
    }

    /// The next history head: `bytes24(keccak256(abi.encode(prev, commitment, kind, supersedes,
    /// author, version)))`, written in assembly so a batch of hundreds reuses the same scratch memory.
    function linkHead(bytes24 prev, bytes32 commitment, uint8 kind, uint64 supersedes, address author, uint64 version)
        external
        pure
        returns (bytes24)
    {
        return _link(prev, commitment, kind, supersedes, author, version);
    }

    // ------------------------------------------------------------------ internals

    function _register(address wallet, address doctor) private returns (uint256 patientId) {
        if (wallet == address(0)) revert ZeroWallet();
        uint256 existing = _patientIds[wallet];
        if (existing != 0) revert AlreadyRegistered(wallet, existing);
        patientId = ++_patientCount;
        _patientIds[wallet] = patientId;
        Patient storage p = _patients[patientId];
        p.wallet = wallet;
        emit PatientAdded(patientId, wallet, doctor);
        if (doctor != address(0)) {
            p.registeredBy = doctor;
            _access[patientId][doctor].consentExpiresAt = FOREVER;
            emit AccessGranted(patientId, doctor, FOREVER);
        }
    }

    function _appendBatch(
        uint256 patientId,
        History storage h,
        address author,
        bytes32[] calldata commitments,
        bytes calldata kinds
    ) private returns (uint64 firstVersion) {
        uint256 n = commitments.length;
        if (n == 0 || n > MAX_BATCH || kinds.length != n) revert InvalidBatch(n, kinds.length, MAX_BATCH);
        firstVersion = h.entryCount + 1;
        bytes24 head = h.head;
        for (uint256 i; i < n; ++i) {
            bytes32 commitment = commitments[i];
            if (commitment == bytes32(0)) revert EmptyCommitment();
            uint8 kind = uint8(kinds[i]);
            if (kind > MAX_KIND) revert UnknownEntryKind(kind);
            // casting to 'uint64' is safe because i < n <= MAX_BATCH
            // forge-lint: disable-next-line(unsafe-typecast)
            head = _link(head, commitment, kind, 0, author, firstVersion + uint64(i));
        }
        // casting to 'uint64' is safe because 0 < n <= MAX_BATCH
        // forge-lint: disable-next-line(unsafe-typecast)
        h.entryCount = firstVersion + uint64(n - 1);
        h.head = head;
        emit MedicalHistoryBatchUpdated(patientId, author, firstVersion, commitments, kinds, head);
    }

    function _link(bytes24 prev, bytes32 commitment, uint8 kind, uint64 supersedes, address author, uint64 version)
        private
        pure
        returns (bytes24 head)
    {
        // Six words at the free-memory pointer, which is left where it was: nothing is allocated.
        // bytes24 is the word's top 24 bytes; narrow types are masked because their upper bits are not guaranteed clean in assembly.
        // slither-disable-next-line assembly
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, and(prev, not(0xffffffffffffffff)))
            mstore(add(p, 0x20), commitment)
            mstore(add(p, 0x40), and(kind, 0xff))
            mstore(add(p, 0x60), and(supersedes, 0xffffffffffffffff))
            mstore(add(p, 0x80), and(author, 0xffffffffffffffffffffffffffffffffffffffff))
            mstore(add(p, 0xa0), and(version, 0xffffffffffffffff))
            head := and(keccak256(p, 0xc0), not(0xffffffffffffffff))
        }
    }

    function _isOpen(Access storage a) private view returns (bool) {
        // slither-disable-next-line timestamp
        return block.timestamp < a.consentExpiresAt || block.timestamp < a.emergencyExpiresAt;
    }

    function _requireDoctor(address account) private view {
        if (!hasRole(DOCTOR_ROLE, account)) revert NotADoctor(account);
    }

    function _requirePatient(uint256 patientId) private view returns (Patient storage p) {
        p = _patients[patientId];
        if (p.wallet == address(0)) revert UnknownPatient(patientId);
    }

    function _requireThePatient(uint256 patientId) private view {
        address caller = _msgSender();
        if (_requirePatient(patientId).wallet != caller) revert NotThePatient(patientId, caller);
    }

    /// Access exists only for registered patients (registration, grants and emergency access all
    /// check the patient), so an unknown patient fails here as `NoAccess` without a wallet read.
    function _requireWriter(address doctor, uint256 patientId) private view {
        _requireDoctor(doctor);
        if (!_isOpen(_access[patientId][doctor])) revert NoAccess(doctor, patientId);
    }

    // ------------------------------------------------------------------ role hooks and ERC-2771 plumbing

    /// Every path to the doctor role (registerDoctor, grantRole) announces it, and none is self-service.
    function _grantRole(bytes32 role, address account) internal override returns (bool granted) {
        address caller = _msgSender();
        // Slither reads this role comparison as a timestamp one (it is not).
        // slither-disable-next-line timestamp
        if (role == DOCTOR_ROLE && account == caller) revert SelfApproval(account);
        granted = super._grantRole(role, account);
        if (granted && role == DOCTOR_ROLE) emit DoctorRegistered(account, caller);
    }

    /// Every path out of the doctor role (revokeDoctor, revokeRole, renounceRole) announces it.
    function _revokeRole(bytes32 role, address account) internal override returns (bool revoked) {
        revoked = super._revokeRole(role, account);
        if (revoked && role == DOCTOR_ROLE) emit DoctorRevoked(account, _msgSender());
    }

    /// @inheritdoc AccessControlDefaultAdminRules
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(IMedLedger).interfaceId || super.supportsInterface(interfaceId);
    }

    function _msgSender() internal view override(Context, ERC2771Context) returns (address) {
        return ERC2771Context._msgSender();
    }

    // Never called here, but the compiler demands the override because Context and
    // ERC2771Context both define it.
    // slither-disable-next-line dead-code
    function _msgData() internal view override(Context, ERC2771Context) returns (bytes calldata) {
        return ERC2771Context._msgData();
    }

    function _contextSuffixLength() internal view override(Context, ERC2771Context) returns (uint256) {
        return ERC2771Context._contextSuffixLength();
    }
}
