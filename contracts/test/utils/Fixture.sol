// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC2771Forwarder} from "@openzeppelin/contracts/metatx/ERC2771Forwarder.sol";
import {MedLedger} from "../../src/MedLedger.sol";
import {MedLedgerForwarder} from "../../src/MedLedgerForwarder.sol";
import {Test} from "./Test.sol";

/// A deployed MedLedger with an admin, two approved doctors, two patient wallets and a stranger,
/// plus helpers to sign EIP-712 forward requests the way a wallet does.
abstract contract Fixture is Test {
    bytes32 internal constant FORWARD_REQUEST_TYPEHASH = keccak256(
        "ForwardRequest(address from,address to,uint256 value,uint256 gas,uint256 nonce,uint48 deadline,bytes data)"
    );
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    uint48 internal constant ADMIN_DELAY = 3 days;

    uint256 internal constant ADMIN_KEY = 0xA11CE;
    uint256 internal constant DOCTOR_KEY = 0xD0C;
    uint256 internal constant DOCTOR2_KEY = 0xD0C2;
    uint256 internal constant PATIENT_KEY = 0xFA7;
    uint256 internal constant PATIENT2_KEY = 0xFA72;
    uint256 internal constant STRANGER_KEY = 0xBAD;
    uint256 internal constant RELAYER_KEY = 0x5E1A7;

    MedLedgerForwarder internal forwarder;
    MedLedger internal ledger;
    address internal admin;
    address internal doctor;
    address internal doctor2;
    address internal patient;
    address internal patient2;
    address internal stranger;
    address internal relayer;

    function setUp() public virtual {
        vm.warp(1_800_000_000);
        admin = vm.addr(ADMIN_KEY);
        doctor = vm.addr(DOCTOR_KEY);
        doctor2 = vm.addr(DOCTOR2_KEY);
        patient = vm.addr(PATIENT_KEY);
        patient2 = vm.addr(PATIENT2_KEY);
        stranger = vm.addr(STRANGER_KEY);
        relayer = vm.addr(RELAYER_KEY);
        forwarder = new MedLedgerForwarder();
        ledger = new MedLedger(address(forwarder), admin, address(0), ADMIN_DELAY);
        vm.prank(admin);
        ledger.registerDoctor(doctor);
        vm.prank(admin);
        ledger.registerDoctor(doctor2);
    }

    /// A salted commitment as the server makes one (the content does not matter to the contract).
    function commitment(uint256 n) internal pure returns (bytes32) {
        return keccak256(abi.encode("salt", n));
    }

    /// `by` registers `wallet` as a patient directly.
    function addPatientAs(address by, address wallet) internal returns (uint256 id) {
        vm.prank(by);
        id = ledger.addPatient(wallet);
    }

    /// `by` appends one new entry directly.
    function appendAs(address by, uint256 patientId, bytes32 c) internal returns (uint64) {
        vm.prank(by);
        return ledger.updateMedicalHistory(patientId, c, 0, 0);
    }

    /// The head the contract must hold after appending `c` to `prev`.
    function expectedHead(bytes24 prev, bytes32 c, uint8 kind, uint64 supersedes, address author, uint64 version)
        internal
        pure
        returns (bytes24)
    {
        return bytes24(keccak256(abi.encode(prev, c, uint256(kind), uint256(supersedes), author, uint256(version))));
    }

    function domainSeparator() internal view returns (bytes32) {
        return keccak256(
            abi.encode(
                DOMAIN_TYPEHASH, keccak256("MedLedgerForwarder"), keccak256("1"), block.chainid, address(forwarder)
            )
        );
    }

    /// A forward request for `data` on the ledger, signed with `key` as the wallet would.
    function signedRequest(uint256 key, bytes memory data, uint48 deadline)
        internal
        view
        returns (ERC2771Forwarder.ForwardRequestData memory request)
    {
        return signedRequestFrom(key, vm.addr(key), data, deadline);
    }

    /// As `signedRequest`, but claiming to be from `from` (to forge requests).
    function signedRequestFrom(uint256 key, address from, bytes memory data, uint48 deadline)
        internal
        view
        returns (ERC2771Forwarder.ForwardRequestData memory request)
    {
        request.from = from;
        request.to = address(ledger);
        request.value = 0;
        request.gas = 300_000;
        request.deadline = deadline;
        request.data = data;
        bytes32 structHash = keccak256(
            abi.encode(
                FORWARD_REQUEST_TYPEHASH,
                from,
                address(ledger),
                uint256(0),
                request.gas,
                forwarder.nonces(from),
                deadline,
                keccak256(data)
            )
        );
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", domainSeparator(), structHash));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        request.signature = abi.encodePacked(r, s, v);
    }

    /// The relayer submits `request`.
    function relay(ERC2771Forwarder.ForwardRequestData memory request) internal {
        vm.prank(relayer);
        forwarder.execute(request);
    }

    function soon() internal view returns (uint48) {
        return uint48(block.timestamp + 1 hours);
    }
}
