// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC2771Forwarder} from "@openzeppelin/contracts/metatx/ERC2771Forwarder.sol";
import {IMedLedger} from "../src/IMedLedger.sol";
import {MedLedgerForwarder} from "../src/MedLedgerForwarder.sol";
import {Fixture} from "./utils/Fixture.sol";

/// Gasless writes: EIP-712 requests signed by the user, relayed through the ERC-2771 forwarder.
contract RelayedTest is Fixture {
    function addPatientData(address wallet) internal pure returns (bytes memory) {
        return abi.encodeCall(IMedLedger.addPatient, (wallet));
    }

    function test_relayedWriteActsAsTheSignerNotTheRelayer() public {
        relay(signedRequest(DOCTOR_KEY, addPatientData(patient), soon()));
        (, address registeredBy,,) = ledger.getPatient(1);
        assertEq(registeredBy, doctor, "the signer registered the patient");
        assertTrue(ledger.hasAccess(doctor, 1), "the signer got access");
        assertFalse(ledger.hasAccess(relayer, 1), "the relayer got nothing");

        bytes memory data = abi.encodeCall(IMedLedger.updateMedicalHistory, (1, commitment(1), 0, 0));
        ERC2771Forwarder.ForwardRequestData memory request = signedRequest(DOCTOR_KEY, data, soon());
        vm.expectEmit(address(ledger));
        emit IMedLedger.MedicalHistoryUpdated(
            1, doctor, 1, 0, 0, commitment(1), expectedHead(0, commitment(1), 0, 0, doctor, 1)
        );
        relay(request);
    }

    function test_relayedAdminApproval() public {
        relay(signedRequest(ADMIN_KEY, abi.encodeCall(IMedLedger.registerDoctor, (stranger)), soon()));
        assertTrue(ledger.isDoctor(stranger), "approved by the admin's signature");
    }

    function test_relayedRequestCannotBeReplayed() public {
        ERC2771Forwarder.ForwardRequestData memory request = signedRequest(DOCTOR_KEY, addPatientData(patient), soon());
        relay(request);
        assertFalse(forwarder.verify(request), "a used request no longer verifies");
        // The nonce moved on, so the same signature now recovers to some other address.
        vm.prank(relayer);
        (bool ok,) = address(forwarder).call(abi.encodeCall(ERC2771Forwarder.execute, (request)));
        assertFalse(ok, "replay refused");
        assertEq(ledger.patientCount(), 1, "still one patient");
    }

    function test_forgedRequestIsRefused() public {
        // The stranger signs a request that claims to come from the doctor.
        ERC2771Forwarder.ForwardRequestData memory forged =
            signedRequestFrom(STRANGER_KEY, doctor, addPatientData(patient), soon());
        vm.expectRevert(
            abi.encodeWithSelector(ERC2771Forwarder.ERC2771ForwarderInvalidSigner.selector, stranger, doctor)
        );
        relay(forged);

        // A relayer that edits the signed data breaks the signature.
        ERC2771Forwarder.ForwardRequestData memory tampered =
            signedRequest(DOCTOR_KEY, addPatientData(patient), soon());
        tampered.data = addPatientData(stranger);
        vm.prank(relayer);
        (bool ok,) = address(forwarder).call(abi.encodeCall(ERC2771Forwarder.execute, (tampered)));
        assertFalse(ok, "tampered data refused");
        assertEq(ledger.patientCount(), 0, "nothing registered");
    }

    function test_expiredRequestIsRefused() public {
        uint48 deadline = soon();
        ERC2771Forwarder.ForwardRequestData memory request = signedRequest(DOCTOR_KEY, addPatientData(patient), deadline);
        vm.warp(uint256(deadline) + 1);
        vm.expectRevert(
            abi.encodeWithSelector(ERC2771Forwarder.ERC2771ForwarderExpiredRequest.selector, deadline)
        );
        relay(request);
    }

    function test_rejectionCarriesTheContractsReason() public {
        // A stranger's validly signed request reaches MedLedger, which refuses it by name.
        ERC2771Forwarder.ForwardRequestData memory request =
            signedRequest(STRANGER_KEY, addPatientData(patient), soon());
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.NotADoctor.selector, stranger));
        relay(request);
        assertEq(forwarder.nonces(stranger), 0, "a refused request does not use its nonce");
    }

    function test_relayerCannotSpoofASenderWithoutTheForwarder() public {
        // Calling MedLedger directly with a doctor's address appended is just a call from the relayer.
        bytes memory spoof = abi.encodePacked(addPatientData(patient), doctor);
        vm.prank(relayer);
        (bool ok, bytes memory reason) = address(ledger).call(spoof);
        assertFalse(ok, "spoofed suffix refused");
        assertEq(reason, abi.encodeWithSelector(IMedLedger.NotADoctor.selector, relayer), "acts as the relayer");
    }

    function test_txOriginIsNeverTheAuthority() public {
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.NotADoctor.selector, stranger));
        vm.prank(stranger, doctor); // msg.sender stranger, tx.origin doctor
        ledger.addPatient(patient);
    }

    function test_batchOfSignedRequestsInOneTransaction() public {
        ERC2771Forwarder.ForwardRequestData[] memory batch = new ERC2771Forwarder.ForwardRequestData[](2);
        batch[0] = signedRequest(DOCTOR_KEY, addPatientData(patient), soon());
        batch[1] = signedRequest(DOCTOR2_KEY, addPatientData(patient2), soon());
        vm.prank(relayer);
        forwarder.executeBatch(batch, payable(relayer));
        assertEq(ledger.patientCount(), 2, "both relayed");
        (, address by2,,) = ledger.getPatient(2);
        assertEq(by2, doctor2, "each request acts as its own signer");
    }

    function test_executeEachRunsEveryRequestOnItsOwn() public {
        ERC2771Forwarder.ForwardRequestData[] memory each = new ERC2771Forwarder.ForwardRequestData[](4);
        each[0] = signedRequest(DOCTOR_KEY, addPatientData(patient), soon());
        // A stranger is no doctor: MedLedger refuses, and says why.
        each[1] = signedRequest(STRANGER_KEY, addPatientData(patient2), soon());
        // Forged: claims to come from doctor2.
        each[2] = signedRequestFrom(STRANGER_KEY, doctor2, addPatientData(patient2), soon());
        each[3] = signedRequest(DOCTOR2_KEY, addPatientData(patient2), soon());
        vm.expectEmit(address(forwarder));
        emit MedLedgerForwarder.ForwardRequestFailed(
            1, stranger, abi.encodeWithSelector(IMedLedger.NotADoctor.selector, stranger)
        );
        vm.expectEmit(address(forwarder));
        emit MedLedgerForwarder.ForwardRequestFailed(
            2,
            doctor2,
            abi.encodeWithSelector(ERC2771Forwarder.ERC2771ForwarderInvalidSigner.selector, stranger, doctor2)
        );
        vm.prank(relayer);
        forwarder.executeEach(each);
        assertEq(ledger.patientCount(), 2, "the valid requests ran");
        (, address by2,,) = ledger.getPatient(2);
        assertEq(by2, doctor2, "each request acts as its own signer");
        assertEq(forwarder.nonces(stranger), 0, "a refused request leaves its nonce unused");
        assertEq(forwarder.nonces(doctor), 1, "a request that ran used its nonce");
        assertEq(forwarder.nonces(doctor2), 1, "the forged one used none of doctor2's");
    }

    function test_executeEachCannotBeReplayed() public {
        ERC2771Forwarder.ForwardRequestData[] memory each = new ERC2771Forwarder.ForwardRequestData[](2);
        each[0] = signedRequest(DOCTOR_KEY, addPatientData(patient), soon());
        each[1] = each[0];
        vm.prank(relayer);
        forwarder.executeEach(each);
        assertEq(ledger.patientCount(), 1, "the same request twice in one batch runs once");
        vm.prank(stranger);
        forwarder.executeEach(each);
        assertEq(ledger.patientCount(), 1, "and never again, whoever sends it");
    }

    /// A signature from any key other than `from`'s never executes.
    function testFuzz_onlyTheSignerCanAuthorise(uint256 key) public {
        key = bound(key, 1, 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140);
        vm.assume(key != DOCTOR_KEY);
        ERC2771Forwarder.ForwardRequestData memory request =
            signedRequestFrom(key, doctor, addPatientData(patient), soon());
        assertFalse(forwarder.verify(request), "foreign signature verifies");
        vm.prank(relayer);
        (bool ok,) = address(forwarder).call(abi.encodeCall(ERC2771Forwarder.execute, (request)));
        assertFalse(ok, "foreign signature executed");
    }
}
