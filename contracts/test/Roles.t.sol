// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IAccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/IAccessControlDefaultAdminRules.sol";
import {IMedLedger} from "../src/IMedLedger.sol";
import {MedLedger} from "../src/MedLedger.sol";
import {Fixture} from "./utils/Fixture.sol";

/// Who becomes a doctor, an admin or an auditor, and how (the thesis let anyone call registerDoctor).
contract RolesTest is Fixture {
    function test_adminRegistersDoctor() public {
        address newDoctor = address(0xD0C3);
        vm.expectEmit(address(ledger));
        emit IMedLedger.DoctorRegistered(newDoctor, admin);
        vm.prank(admin);
        ledger.registerDoctor(newDoctor);
        assertTrue(ledger.isDoctor(newDoctor), "approved doctor is a doctor");
    }

    function test_nobodyBecomesADoctorOnTheirOwnBehalf() public {
        bytes32 adminRole = ledger.ADMIN_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, adminRole)
        );
        vm.prank(stranger);
        ledger.registerDoctor(stranger);
        assertFalse(ledger.isDoctor(stranger), "stranger stays a stranger");
    }

    function test_doctorCannotApproveAnotherDoctor() public {
        bytes32 adminRole = ledger.ADMIN_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, doctor, adminRole)
        );
        vm.prank(doctor);
        ledger.registerDoctor(stranger);
    }

    function test_adminCannotApproveThemselves() public {
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.SelfApproval.selector, admin));
        vm.prank(admin);
        ledger.registerDoctor(admin);
    }

    function test_adminCannotGrantThemselvesTheDoctorRoleEither() public {
        bytes32 doctorRole = ledger.DOCTOR_ROLE();
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.SelfApproval.selector, admin));
        vm.prank(admin);
        ledger.grantRole(doctorRole, admin);
    }

    function test_registerDoctorRejectsZeroAndDuplicates() public {
        vm.startPrank(admin);
        vm.expectRevert(IMedLedger.ZeroWallet.selector);
        ledger.registerDoctor(address(0));
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.AlreadyADoctor.selector, doctor));
        ledger.registerDoctor(doctor);
        vm.stopPrank();
    }

    function test_grantRolePathAnnouncesTheDoctorToo() public {
        bytes32 doctorRole = ledger.DOCTOR_ROLE();
        vm.expectEmit(address(ledger));
        emit IMedLedger.DoctorRegistered(stranger, admin);
        vm.prank(admin);
        ledger.grantRole(doctorRole, stranger);
    }

    function test_revokeDoctor() public {
        vm.expectEmit(address(ledger));
        emit IMedLedger.DoctorRevoked(doctor, admin);
        vm.prank(admin);
        ledger.revokeDoctor(doctor);
        assertFalse(ledger.isDoctor(doctor), "revoked doctor is no doctor");

        vm.expectRevert(abi.encodeWithSelector(IMedLedger.NotADoctor.selector, doctor));
        vm.prank(admin);
        ledger.revokeDoctor(doctor);
    }

    function test_renouncingAnnouncesTheRevocation() public {
        bytes32 doctorRole = ledger.DOCTOR_ROLE();
        vm.expectEmit(address(ledger));
        emit IMedLedger.DoctorRevoked(doctor, doctor);
        vm.prank(doctor);
        ledger.renounceRole(doctorRole, doctor);
    }

    function test_revokedDoctorCanNeitherWriteNorRegister() public {
        uint256 id = addPatientAs(doctor, patient);
        vm.prank(admin);
        ledger.revokeDoctor(doctor);

        vm.expectRevert(abi.encodeWithSelector(IMedLedger.NotADoctor.selector, doctor));
        vm.prank(doctor);
        ledger.updateMedicalHistory(id, commitment(1), 0, 0);

        vm.expectRevert(abi.encodeWithSelector(IMedLedger.NotADoctor.selector, doctor));
        vm.prank(doctor);
        ledger.addPatient(patient2);

        assertFalse(ledger.hasAccess(doctor, id), "revoked doctor's consent grants nothing");
    }

    function test_adminAppointsAuditor() public {
        bytes32 auditorRole = ledger.AUDITOR_ROLE();
        vm.prank(admin);
        ledger.grantRole(auditorRole, relayer);
        assertTrue(ledger.hasRole(auditorRole, relayer), "auditor appointed");
    }

    function test_theDeployingServerAnchorsFromTheStart() public {
        MedLedger fresh = new MedLedger(address(forwarder), admin, relayer, ADMIN_DELAY);
        assertTrue(fresh.hasRole(fresh.AUDITOR_ROLE(), relayer), "the named auditor holds the role");
        assertFalse(fresh.hasRole(fresh.AUDITOR_ROLE(), admin), "nobody else does");
        vm.prank(relayer);
        fresh.anchorAudit(keccak256("head 1"), 1);
        (bytes32 head, uint64 sequence,) = fresh.auditAnchorOf(relayer);
        assertEq(head, keccak256("head 1"), "anchored without an admin's grant");
        assertEq(sequence, 1, "at its sequence");
        assertFalse(ledger.hasRole(ledger.AUDITOR_ROLE(), address(0)), "a zero auditor grants nothing");
    }

    function test_defaultAdminTransferWaitsForTheDelay() public {
        address successor = address(0x5CC);
        vm.prank(admin);
        ledger.beginDefaultAdminTransfer(successor);
        (, uint48 schedule) = ledger.pendingDefaultAdmin();
        assertEq(schedule, block.timestamp + ADMIN_DELAY, "transfer scheduled after the delay");

        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControlDefaultAdminRules.AccessControlEnforcedDefaultAdminDelay.selector, schedule
            )
        );
        vm.prank(successor);
        ledger.acceptDefaultAdminTransfer();

        vm.warp(uint256(schedule) + 1);
        vm.prank(successor);
        ledger.acceptDefaultAdminTransfer();
        assertEq(ledger.defaultAdmin(), successor, "successor is the default admin");
    }

    function test_defaultAdminRoleCannotBeGrantedDirectly() public {
        bytes32 defaultAdminRole = ledger.DEFAULT_ADMIN_ROLE();
        vm.expectRevert(IAccessControlDefaultAdminRules.AccessControlEnforcedDefaultAdminRules.selector);
        vm.prank(admin);
        ledger.grantRole(defaultAdminRole, stranger);
    }

    function test_supportsItsInterfaces() public view {
        assertTrue(ledger.supportsInterface(type(IMedLedger).interfaceId), "IMedLedger");
        assertTrue(ledger.supportsInterface(type(IAccessControl).interfaceId), "IAccessControl");
        assertFalse(ledger.supportsInterface(0xdeadbeef), "not everything");
    }

    /// Only an admin's call makes a doctor; any other caller fails and changes nothing.
    function testFuzz_onlyAdminsMakeDoctors(address caller, address candidate) public {
        vm.assume(caller != admin && candidate != address(0) && !ledger.isDoctor(candidate));
        vm.prank(caller);
        try ledger.registerDoctor(candidate) {
            fail("a non-admin made a doctor");
        } catch {}
        assertFalse(ledger.isDoctor(candidate), "candidate is still not a doctor");
    }
}
