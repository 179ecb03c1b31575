// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IMedLedger} from "../src/IMedLedger.sol";
import {Fixture} from "./utils/Fixture.sol";

/// The patient registry and the append-only, hash-linked history.
contract PatientsTest is Fixture {
    function test_doctorAddsPatientAndStartsWithAccess() public {
        vm.expectEmit(address(ledger));
        emit IMedLedger.PatientAdded(1, patient, doctor);
        vm.expectEmit(address(ledger));
        emit IMedLedger.AccessGranted(1, doctor, type(uint64).max);
        uint256 id = addPatientAs(doctor, patient);

        assertEq(id, 1, "ids start at 1");
        assertEq(ledger.patientCount(), 1, "one patient");
        assertEq(ledger.patientIdOf(patient), 1, "wallet maps to id");
        (address wallet, address registeredBy, uint64 count, bytes24 head) = ledger.getPatient(id);
        assertEq(wallet, patient, "wallet");
        assertEq(registeredBy, doctor, "registering doctor");
        assertEq(count, 0, "no entries yet");
        assertEq(head, bytes24(0), "empty history head");
        assertTrue(ledger.hasAccess(doctor, id), "registering doctor has access");
        assertFalse(ledger.hasAccess(doctor2, id), "another doctor has none");
    }

    function test_idsAreSequential() public {
        assertEq(addPatientAs(doctor, patient), 1, "first");
        assertEq(addPatientAs(doctor2, patient2), 2, "second");
        vm.prank(stranger);
        assertEq(ledger.registerPatient(), 3, "third");
    }

    function test_patientRegistersThemselves() public {
        vm.expectEmit(address(ledger));
        emit IMedLedger.PatientAdded(1, patient, address(0));
        vm.prank(patient);
        uint256 id = ledger.registerPatient();
        (address wallet, address registeredBy,,) = ledger.getPatient(id);
        assertEq(wallet, patient, "own wallet");
        assertEq(registeredBy, address(0), "nobody registered them");
        assertFalse(ledger.hasAccess(doctor, id), "no doctor has access");
    }

    function test_aWalletIsOnePatient() public {
        addPatientAs(doctor, patient);
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.AlreadyRegistered.selector, patient, 1));
        vm.prank(doctor2);
        ledger.addPatient(patient);
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.AlreadyRegistered.selector, patient, 1));
        vm.prank(patient);
        ledger.registerPatient();
    }

    function test_onlyDoctorsAddPatients() public {
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.NotADoctor.selector, stranger));
        vm.prank(stranger);
        ledger.addPatient(patient);
        vm.expectRevert(IMedLedger.ZeroWallet.selector);
        vm.prank(doctor);
        ledger.addPatient(address(0));
    }

    function test_unknownPatientIsAnError() public {
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.UnknownPatient.selector, 7));
        ledger.getPatient(7);
    }

    function test_appendLinksEachEntryToTheHead() public {
        uint256 id = addPatientAs(doctor, patient);
        bytes24 head;
        for (uint64 v = 1; v <= 3; v++) {
            bytes32 c = commitment(v);
            head = expectedHead(head, c, 2, 0, doctor, v);
            vm.expectEmit(address(ledger));
            emit IMedLedger.MedicalHistoryUpdated(id, doctor, v, 2, 0, c, head);
            vm.prank(doctor);
            assertEq(ledger.updateMedicalHistory(id, c, 2, 0), v, "version");
        }
        (,, uint64 count, bytes24 onChain) = ledger.getPatient(id);
        assertEq(count, 3, "three entries");
        assertEq(onChain, head, "head links all three");
    }

    function test_amendmentNamesAnEarlierEntry() public {
        uint256 id = addPatientAs(doctor, patient);
        appendAs(doctor, id, commitment(1));
        vm.prank(doctor);
        uint64 v = ledger.updateMedicalHistory(id, commitment(2), 0, 1);
        assertEq(v, 2, "an amendment is a new entry");

        vm.expectRevert(abi.encodeWithSelector(IMedLedger.InvalidSupersedes.selector, 3, 2));
        vm.prank(doctor);
        ledger.updateMedicalHistory(id, commitment(3), 0, 3);
    }

    function test_entriesMustBeCommitmentsOfAKnownKind() public {
        uint256 id = addPatientAs(doctor, patient);
        vm.startPrank(doctor);
        vm.expectRevert(IMedLedger.EmptyCommitment.selector);
        ledger.updateMedicalHistory(id, bytes32(0), 0, 0);
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.UnknownEntryKind.selector, 64));
        ledger.updateMedicalHistory(id, commitment(1), 64, 0);
        ledger.updateMedicalHistory(id, commitment(1), 63, 0);
        vm.stopPrank();
    }

    function test_writersNeedAccess() public {
        uint256 id = addPatientAs(doctor, patient);
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.NoAccess.selector, doctor2, id));
        appendAs(doctor2, id, commitment(1));
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.NotADoctor.selector, patient));
        appendAs(patient, id, commitment(1));
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.NoAccess.selector, doctor, 9));
        appendAs(doctor, 9, commitment(1));
    }

    function test_batchEqualsOneByOne() public {
        uint256 a = addPatientAs(doctor, patient);
        uint256 b = addPatientAs(doctor, patient2);
        bytes32[] memory cs = new bytes32[](5);
        bytes memory kinds = new bytes(5);
        for (uint256 i; i < 5; i++) {
            cs[i] = commitment(i);
            kinds[i] = bytes1(uint8(i % 6));
            vm.prank(doctor);
            ledger.updateMedicalHistory(a, cs[i], uint8(i % 6), 0);
        }
        vm.prank(doctor);
        assertEq(ledger.updateMedicalHistoryBatch(b, cs, kinds), 1, "first version");
        (,, uint64 countA, bytes24 headA) = ledger.getPatient(a);
        (,, uint64 countB, bytes24 headB) = ledger.getPatient(b);
        assertEq(countB, countA, "same count");
        assertEq(headB, headA, "same head");
    }

    function test_addPatientWithHistory() public {
        bytes32[] memory cs = new bytes32[](2);
        cs[0] = commitment(1);
        cs[1] = commitment(2);
        bytes24 head = expectedHead(bytes24(0), cs[0], 0, 0, doctor, 1);
        head = expectedHead(head, cs[1], 1, 0, doctor, 2);
        vm.expectEmit(address(ledger));
        emit IMedLedger.PatientAdded(1, patient, doctor);
        vm.expectEmit(address(ledger));
        emit IMedLedger.AccessGranted(1, doctor, type(uint64).max);
        vm.expectEmit(address(ledger));
        emit IMedLedger.MedicalHistoryBatchUpdated(1, doctor, 1, cs, hex"0001", head);
        vm.prank(doctor);
        uint256 id = ledger.addPatientWithHistory(patient, cs, hex"0001");
        (,, uint64 count, bytes24 onChain) = ledger.getPatient(id);
        assertEq(count, 2, "two entries");
        assertEq(onChain, head, "head");
    }

    function test_batchShapeIsChecked() public {
        uint256 id = addPatientAs(doctor, patient);
        uint256 max = ledger.MAX_BATCH();
        vm.startPrank(doctor);
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.InvalidBatch.selector, 0, 0, max));
        ledger.updateMedicalHistoryBatch(id, new bytes32[](0), "");
        bytes32[] memory one = new bytes32[](1);
        one[0] = commitment(1);
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.InvalidBatch.selector, 1, 2, max));
        ledger.updateMedicalHistoryBatch(id, one, hex"0000");
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.InvalidBatch.selector, max + 1, max + 1, max));
        ledger.updateMedicalHistoryBatch(id, new bytes32[](max + 1), new bytes(max + 1));
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.UnknownEntryKind.selector, 200));
        ledger.updateMedicalHistoryBatch(id, one, hex"c8");
        vm.stopPrank();
    }

    /// The assembly link equals the documented `keccak256(abi.encode(...))` for every input.
    function testFuzz_linkHeadIsTheDocumentedHash(
        bytes24 prev,
        bytes32 c,
        uint8 kind,
        uint64 supersedes,
        address author,
        uint64 version
    ) public view {
        assertEq(
            ledger.linkHead(prev, c, kind, supersedes, author, version),
            expectedHead(prev, c, kind, supersedes, author, version),
            "link"
        );
    }

    /// Whatever is appended, versions go up by one and the head commits to every entry in order.
    function testFuzz_historyIsAppendOnly(uint8 entries, uint256 seed) public {
        uint256 id = addPatientAs(doctor, patient);
        uint256 n = bound(entries, 1, 40);
        vm.prank(patient);
        ledger.grantAccess(id, doctor2, 0);
        bytes24 head;
        for (uint256 i; i < n; i++) {
            bytes32 c = keccak256(abi.encode(seed, i));
            uint8 kind = uint8(uint256(c) % 6);
            uint64 count = uint64(i);
            uint64 supersedes = count == 0 ? 0 : uint64(uint256(c) % (count + 1));
            vm.prank(i % 2 == 0 ? doctor : doctor2);
            uint64 v = ledger.updateMedicalHistory(id, c, kind, supersedes);
            assertEq(v, count + 1, "versions strictly increase by one");
            head = expectedHead(head, c, kind, supersedes, i % 2 == 0 ? doctor : doctor2, v);
        }
        (,, uint64 total, bytes24 onChain) = ledger.getPatient(id);
        assertEq(total, n, "nothing lost");
        assertEq(onChain, head, "head commits to every entry in order");
    }
}
