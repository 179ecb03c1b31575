// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IMedLedger} from "../src/IMedLedger.sol";
import {Fixture} from "./utils/Fixture.sol";

/// Consent, emergency (break-glass) access and audit anchoring.
contract ConsentTest is Fixture {
    uint256 internal id;

    function setUp() public override {
        super.setUp();
        id = addPatientAs(doctor, patient);
    }

    function test_patientGrantsAndRevokes() public {
        uint64 until = uint64(block.timestamp + 1 days);
        vm.expectEmit(address(ledger));
        emit IMedLedger.AccessGranted(id, doctor2, until);
        vm.prank(patient);
        ledger.grantAccess(id, doctor2, until);
        assertTrue(ledger.hasAccess(doctor2, id), "granted");
        appendAs(doctor2, id, commitment(1));

        vm.expectEmit(address(ledger));
        emit IMedLedger.AccessRevoked(id, doctor2);
        vm.prank(patient);
        ledger.revokeAccess(id, doctor2);
        assertFalse(ledger.hasAccess(doctor2, id), "revoked");
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.NoAccess.selector, doctor2, id));
        appendAs(doctor2, id, commitment(2));
    }

    function test_grantWithoutExpiryLastsUntilRevoked() public {
        vm.prank(patient);
        ledger.grantAccess(id, doctor2, 0);
        (uint64 consent,) = ledger.accessOf(id, doctor2);
        assertEq(consent, type(uint64).max, "no expiry");
        vm.warp(block.timestamp + 3650 days);
        assertTrue(ledger.hasAccess(doctor2, id), "still there ten years on");
    }

    function test_grantExpires() public {
        uint64 until = uint64(block.timestamp + 1 hours);
        vm.prank(patient);
        ledger.grantAccess(id, doctor2, until);
        vm.warp(until - 1);
        assertTrue(ledger.hasAccess(doctor2, id), "open until the last second");
        vm.warp(until);
        assertFalse(ledger.hasAccess(doctor2, id), "closed at expiry");
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.NoAccess.selector, doctor2, id));
        appendAs(doctor2, id, commitment(1));
    }

    function test_patientCanRevokeTheRegisteringDoctor() public {
        vm.prank(patient);
        ledger.revokeAccess(id, doctor);
        assertFalse(ledger.hasAccess(doctor, id), "registering doctor revoked");
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.NoAccess.selector, doctor, id));
        appendAs(doctor, id, commitment(1));
    }

    function test_onlyThePatientManagesConsent() public {
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.NotThePatient.selector, id, doctor2));
        vm.prank(doctor2);
        ledger.grantAccess(id, doctor2, 0);
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.NotThePatient.selector, id, doctor));
        vm.prank(doctor);
        ledger.grantAccess(id, doctor2, 0);
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.NotThePatient.selector, id, stranger));
        vm.prank(stranger);
        ledger.revokeAccess(id, doctor);
    }

    function test_grantsGoToDoctorsAndExpireInTheFuture() public {
        vm.startPrank(patient);
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.NotADoctor.selector, stranger));
        ledger.grantAccess(id, stranger, 0);
        uint64 past = uint64(block.timestamp);
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.ExpiryNotInFuture.selector, past, block.timestamp));
        ledger.grantAccess(id, doctor2, past);
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.NothingToRevoke.selector, id, doctor2));
        ledger.revokeAccess(id, doctor2);
        vm.stopPrank();
    }

    function test_emergencyAccessIsTimeLimitedAndAnnounced() public {
        bytes32 reason = keccak256("salted reason");
        uint64 until = uint64(block.timestamp + 2 hours);
        vm.expectEmit(address(ledger));
        emit IMedLedger.EmergencyAccess(id, doctor2, reason, until);
        vm.prank(doctor2);
        ledger.openEmergencyAccess(id, reason, 2 hours);
        assertTrue(ledger.hasAccess(doctor2, id), "break-glass opens access");
        appendAs(doctor2, id, commitment(1));

        vm.warp(until);
        assertFalse(ledger.hasAccess(doctor2, id), "and it closes by itself");
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.NoAccess.selector, doctor2, id));
        appendAs(doctor2, id, commitment(2));
    }

    function test_emergencyNeedsADoctorAReasonAndABoundedDuration() public {
        uint64 max = ledger.MAX_EMERGENCY_DURATION();
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.NotADoctor.selector, stranger));
        vm.prank(stranger);
        ledger.openEmergencyAccess(id, keccak256("r"), 1 hours);
        vm.startPrank(doctor2);
        vm.expectRevert(IMedLedger.EmptyReason.selector);
        ledger.openEmergencyAccess(id, bytes32(0), 1 hours);
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.InvalidEmergencyDuration.selector, 0, max));
        ledger.openEmergencyAccess(id, keccak256("r"), 0);
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.InvalidEmergencyDuration.selector, max + 1, max));
        ledger.openEmergencyAccess(id, keccak256("r"), max + 1);
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.UnknownPatient.selector, 99));
        ledger.openEmergencyAccess(99, keccak256("r"), 1 hours);
        vm.stopPrank();
    }

    function test_doctorClosesEmergencyEarly() public {
        vm.startPrank(doctor2);
        ledger.openEmergencyAccess(id, keccak256("r"), 1 hours);
        vm.expectEmit(address(ledger));
        emit IMedLedger.EmergencyAccessClosed(id, doctor2);
        ledger.closeEmergencyAccess(id);
        assertFalse(ledger.hasAccess(doctor2, id), "closed");
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.NoEmergencyAccess.selector, id, doctor2));
        ledger.closeEmergencyAccess(id);
        vm.stopPrank();
    }

    function test_revokeEndsEmergencyAccessToo() public {
        vm.prank(doctor2);
        ledger.openEmergencyAccess(id, keccak256("r"), 1 hours);
        vm.prank(patient);
        ledger.revokeAccess(id, doctor2);
        assertFalse(ledger.hasAccess(doctor2, id), "revoked");
    }

    function test_auditorAnchorsAuditHeads() public {
        bytes32 auditorRole = ledger.AUDITOR_ROLE();
        vm.prank(admin);
        ledger.grantRole(auditorRole, relayer);

        vm.expectEmit(address(ledger));
        emit IMedLedger.AuditAnchored(relayer, 10, keccak256("audit head 10"));
        vm.prank(relayer);
        ledger.anchorAudit(keccak256("audit head 10"), 10);
        (bytes32 head, uint64 seq, uint64 at) = ledger.auditAnchorOf(relayer);
        assertEq(head, keccak256("audit head 10"), "head");
        assertEq(seq, 10, "sequence");
        assertEq(at, block.timestamp, "when");

        vm.startPrank(relayer);
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.StaleAuditSequence.selector, 10, 10));
        ledger.anchorAudit(keccak256("again"), 10);
        vm.expectRevert(IMedLedger.EmptyAuditHead.selector);
        ledger.anchorAudit(bytes32(0), 11);
        vm.stopPrank();

        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, doctor, auditorRole)
        );
        vm.prank(doctor);
        ledger.anchorAudit(keccak256("x"), 1);
    }

    /// Nobody who was never given access has it, whatever patient id they ask about.
    function testFuzz_strangerNeverHasAccess(address who, uint256 patientId) public {
        vm.assume(who != doctor);
        assertFalse(ledger.hasAccess(who, patientId), "no access without a grant");
        vm.prank(who);
        try ledger.updateMedicalHistory(patientId, commitment(1), 0, 0) {
            fail("a stranger wrote");
        } catch {}
    }

    /// A grant gives access exactly until it expires or is revoked, and never after.
    function testFuzz_expiredOrRevokedGrantGivesNoAccessNorWrite(uint64 lifetime, uint64 elapsed, bool revoke)
        public
    {
        lifetime = uint64(bound(lifetime, 1, 3650 days));
        elapsed = uint64(bound(elapsed, 0, 2 * 3650 days));
        vm.prank(patient);
        ledger.grantAccess(id, doctor2, uint64(block.timestamp) + lifetime);
        if (revoke) {
            vm.prank(patient);
            ledger.revokeAccess(id, doctor2);
        }
        vm.warp(block.timestamp + elapsed);
        bool open = !revoke && elapsed < lifetime;
        assertEq(ledger.hasAccess(doctor2, id), open, "access matches the grant");
        vm.prank(doctor2);
        try ledger.updateMedicalHistory(id, commitment(1), 0, 0) {
            assertTrue(open, "wrote without access");
        } catch {
            assertFalse(open, "refused despite access");
        }
    }
}
