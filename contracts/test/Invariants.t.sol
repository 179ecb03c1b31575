// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IMedLedger} from "../src/IMedLedger.sol";
import {MedLedger} from "../src/MedLedger.sol";
import {Fixture} from "./utils/Fixture.sol";
import {Test} from "./utils/Test.sol";

/// Random admins', doctors', patients' and strangers' actions, each checked against a model of what
/// MedLedger must allow. Any call the model forbids that succeeds (or the reverse) is a violation.
contract LedgerHandler is Test {
    MedLedger internal immutable ledger;
    address internal immutable admin;
    address[3] internal doctors;
    address[3] internal patients;
    address[2] internal strangers;

    // The model.
    mapping(address => bool) public modelIsDoctor;
    mapping(address => uint256) public modelPatientId;
    mapping(uint256 => mapping(address => uint64)) internal consentUntil;
    mapping(uint256 => mapping(address => uint64)) internal emergencyUntil;
    mapping(uint256 => uint64) public modelCount;
    mapping(uint256 => bytes24) public modelHead;
    uint256 public modelPatients;

    uint256 public violations;
    string public lastViolation;
    uint256 public writes;

    constructor(MedLedger ledger_, address admin_, address[3] memory doctors_, address[3] memory patients_) {
        ledger = ledger_;
        admin = admin_;
        doctors = doctors_;
        patients = patients_;
        strangers = [address(0x5770), address(0x5771)];
        modelIsDoctor[doctors_[0]] = true;
        modelIsDoctor[doctors_[1]] = true;
    }

    // ------------------------------------------------------------------ actions

    function approveDoctor(uint256 d) external {
        address doc = doctors[d % 3];
        expect(as_(admin, abi.encodeCall(IMedLedger.registerDoctor, (doc))), !modelIsDoctor[doc], "approve");
        modelIsDoctor[doc] = true;
    }

    function revokeDoctor(uint256 d) external {
        address doc = doctors[d % 3];
        expect(as_(admin, abi.encodeCall(IMedLedger.revokeDoctor, (doc))), modelIsDoctor[doc], "revoke doctor");
        modelIsDoctor[doc] = false;
    }

    function addPatient(uint256 d, uint256 p) external {
        address doc = doctors[d % 3];
        address wallet = patients[p % 3];
        bool allowed = modelIsDoctor[doc] && modelPatientId[wallet] == 0;
        if (expect(as_(doc, abi.encodeCall(IMedLedger.addPatient, (wallet))), allowed, "addPatient")) {
            uint256 id = ++modelPatients;
            modelPatientId[wallet] = id;
            consentUntil[id][doc] = type(uint64).max;
        }
    }

    function registerSelf(uint256 p) external {
        address wallet = patients[p % 3];
        bool allowed = modelPatientId[wallet] == 0;
        if (expect(as_(wallet, abi.encodeCall(IMedLedger.registerPatient, ())), allowed, "registerPatient")) {
            modelPatientId[wallet] = ++modelPatients;
        }
    }

    function grant(uint256 p, uint256 d, uint32 lifetime, bool forever) external {
        address wallet = patients[p % 3];
        address doc = doctors[d % 3];
        uint256 id = modelPatientId[wallet];
        uint64 until = forever ? 0 : uint64(block.timestamp) + uint64(bound(lifetime, 1, 30 days));
        bool allowed = id != 0 && modelIsDoctor[doc];
        if (expect(as_(wallet, abi.encodeCall(IMedLedger.grantAccess, (id, doc, until))), allowed, "grant")) {
            consentUntil[id][doc] = forever ? type(uint64).max : until;
        }
    }

    function revoke(uint256 p, uint256 d) external {
        address wallet = patients[p % 3];
        address doc = doctors[d % 3];
        uint256 id = modelPatientId[wallet];
        bool allowed = id != 0 && (block.timestamp < consentUntil[id][doc] || block.timestamp < emergencyUntil[id][doc]);
        if (expect(as_(wallet, abi.encodeCall(IMedLedger.revokeAccess, (id, doc))), allowed, "revoke access")) {
            consentUntil[id][doc] = 0;
            emergencyUntil[id][doc] = 0;
        }
    }

    function emergency(uint256 d, uint256 p, uint32 duration) external {
        address doc = doctors[d % 3];
        uint256 id = modelPatientId[patients[p % 3]];
        uint64 dur = uint64(bound(duration, 1, 1 days));
        bytes memory call = abi.encodeCall(IMedLedger.openEmergencyAccess, (id, keccak256("reason"), dur));
        if (expect(as_(doc, call), modelIsDoctor[doc] && id != 0, "emergency")) {
            emergencyUntil[id][doc] = uint64(block.timestamp) + dur;
        }
    }

    function append(uint256 d, uint256 p, uint256 seed) external {
        address doc = doctors[d % 3];
        uint256 id = modelPatientId[patients[p % 3]];
        uint64 count = modelCount[id];
        bytes32 c = keccak256(abi.encode(seed, count));
        uint8 kind = uint8(seed % 64);
        uint64 supersedes = uint64(seed % (uint256(count) + 1));
        bytes memory call = abi.encodeCall(IMedLedger.updateMedicalHistory, (id, c, kind, supersedes));
        (bool ok, bytes memory ret) = call_(doc, call);
        if (expect(ok, id != 0 && modelAccess(doc, id), "append")) {
            uint64 version = abi.decode(ret, (uint64));
            if (version != count + 1) violate("version did not increase by one");
            modelHead[id] = bytes24(keccak256(abi.encode(modelHead[id], c, uint256(kind), uint256(supersedes), doc, uint256(version))));
            modelCount[id] = version;
            writes++;
        }
    }

    function appendBatch(uint256 d, uint256 p, uint256 seed, uint8 size) external {
        address doc = doctors[d % 3];
        uint256 id = modelPatientId[patients[p % 3]];
        uint256 n = bound(size, 1, 8);
        bytes32[] memory cs = new bytes32[](n);
        bytes memory kinds = new bytes(n);
        for (uint256 i; i < n; i++) {
            cs[i] = keccak256(abi.encode(seed, i));
            kinds[i] = bytes1(uint8((seed >> i) % 64));
        }
        bytes memory call = abi.encodeCall(IMedLedger.updateMedicalHistoryBatch, (id, cs, kinds));
        bool ok = as_(doc, call);
        if (expect(ok, id != 0 && modelAccess(doc, id), "appendBatch")) {
            bytes24 head = modelHead[id];
            uint64 v = modelCount[id];
            for (uint256 i; i < n; i++) {
                v++;
                head = bytes24(keccak256(abi.encode(head, cs[i], uint256(uint8(kinds[i])), uint256(0), doc, uint256(v))));
            }
            modelHead[id] = head;
            modelCount[id] = v;
            writes++;
        }
    }

    /// A stranger tries everything a stranger might: none of it may work.
    function strangerTries(uint256 s, uint256 p, uint8 what) external {
        address who = strangers[s % 2];
        uint256 id = bound(p, 0, modelPatients + 1);
        bytes memory call;
        uint256 pick = what % 5;
        if (pick == 0) call = abi.encodeCall(IMedLedger.registerDoctor, (who));
        else if (pick == 1) call = abi.encodeCall(IMedLedger.grantAccess, (id, doctors[0], 0));
        else if (pick == 2) call = abi.encodeCall(IMedLedger.updateMedicalHistory, (id, keccak256("x"), 0, 0));
        else if (pick == 3) call = abi.encodeCall(IMedLedger.openEmergencyAccess, (id, keccak256("x"), 60));
        else call = abi.encodeCall(IMedLedger.revokeAccess, (id, doctors[0]));
        expect(as_(who, call), false, "stranger action");
    }

    function passTime(uint32 secs) external {
        vm.warp(block.timestamp + bound(secs, 1, 3 days));
    }

    // ------------------------------------------------------------------ model helpers

    function modelAccess(address doc, uint256 id) public view returns (bool) {
        return modelIsDoctor[doc] && (block.timestamp < consentUntil[id][doc] || block.timestamp < emergencyUntil[id][doc]);
    }

    function doctorAt(uint256 i) external view returns (address) {
        return doctors[i];
    }

    function strangerAt(uint256 i) external view returns (address) {
        return strangers[i];
    }

    function as_(address who, bytes memory call) internal returns (bool ok) {
        (ok,) = call_(who, call);
    }

    function call_(address who, bytes memory call) internal returns (bool ok, bytes memory ret) {
        vm.prank(who);
        (ok, ret) = address(ledger).call(call);
    }

    function expect(bool ok, bool allowed, string memory what) internal returns (bool) {
        if (ok != allowed) violate(string.concat(what, ok ? ": succeeded against the model" : ": refused against the model"));
        return ok;
    }

    function violate(string memory why) internal {
        violations++;
        lastViolation = why;
    }
}

/// The invariants: whatever sequence of actions runs, these hold.
contract InvariantsTest is Fixture {
    LedgerHandler internal handler;

    function setUp() public override {
        super.setUp();
        handler = new LedgerHandler(ledger, admin, [doctor, doctor2, address(0xD0C3)], [patient, patient2, address(0xFA73)]);
        targetContract(address(handler));
    }

    /// Every action succeeded exactly when the model said it may.
    function invariant_everyActionMatchesTheModel() public view {
        assertEq(handler.violations(), 0, handler.lastViolation());
    }

    /// Only admins make doctors: the role set is the model's, which only admin actions change.
    function invariant_onlyAdminsMakeDoctors() public view {
        for (uint256 i; i < 3; i++) {
            address d = handler.doctorAt(i);
            assertEq(ledger.isDoctor(d), handler.modelIsDoctor(d), "doctor role");
        }
        for (uint256 i; i < 2; i++) {
            assertFalse(ledger.isDoctor(handler.strangerAt(i)), "a stranger became a doctor");
        }
    }

    /// Access is exactly consent or emergency, unexpired and unrevoked, held by a current doctor;
    /// a stranger never has any.
    function invariant_accessIsConsentOrEmergency() public view {
        uint256 n = handler.modelPatients();
        assertEq(ledger.patientCount(), n, "patient count");
        for (uint256 id = 1; id <= n + 1; id++) {
            for (uint256 i; i < 3; i++) {
                address d = handler.doctorAt(i);
                assertEq(ledger.hasAccess(d, id), handler.modelAccess(d, id), "doctor access");
            }
            for (uint256 i; i < 2; i++) {
                assertFalse(ledger.hasAccess(handler.strangerAt(i), id), "a stranger has access");
            }
        }
    }

    /// History is append-only: every patient's count and head are the model's, which only grows.
    function invariant_historyIsAppendOnlyAndLinked() public view {
        uint256 n = handler.modelPatients();
        for (uint256 id = 1; id <= n; id++) {
            (,, uint64 count, bytes24 head) = ledger.getPatient(id);
            assertEq(count, handler.modelCount(id), "entry count");
            assertEq(head, handler.modelHead(id), "history head");
        }
    }
}
