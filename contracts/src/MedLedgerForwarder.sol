// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC2771Forwarder} from "@openzeppelin/contracts/metatx/ERC2771Forwarder.sol";

/// @title MedLedgerForwarder: relays users' EIP-712-signed requests so they need no gas.
/// @notice OpenZeppelin's ERC2771Forwarder under the EIP-712 domain ("MedLedgerForwarder", "1").
/// It checks the signature, the per-signer nonce (no replay) and the deadline, and appends the
/// signer's address to the call so MedLedger's `_msgSender()` is the signer, never the relayer.
/// @dev One change: when the relayed call reverts, `execute` reverts with the target's own revert
/// data (e.g. MedLedger's `NoAccess(doctor, patientId)`) instead of OpenZeppelin's bare
/// `FailedCall()`, so a rejected request carries the contract's reason to the user.
contract MedLedgerForwarder is ERC2771Forwarder {
    constructor() ERC2771Forwarder("MedLedgerForwarder") {}

    /// @inheritdoc ERC2771Forwarder
    function execute(ForwardRequestData calldata request) public payable override {
        if (msg.value != request.value) {
            revert ERC2771ForwarderMismatchedValue(request.value, msg.value);
        }
        if (!_execute(request, true)) {
            // `_execute` makes no external call after the relayed one, so the return-data buffer
            // still holds the target's revert data.
            // slither-disable-next-line assembly
            assembly ("memory-safe") {
                let p := mload(0x40)
                returndatacopy(p, 0, returndatasize())
                revert(p, returndatasize())
            }
        }
    }
}
