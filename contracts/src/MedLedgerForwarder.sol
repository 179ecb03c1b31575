// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC2771Forwarder} from "@openzeppelin/contracts/metatx/ERC2771Forwarder.sol";

/// @title MedLedgerForwarder: relays users' EIP-712-signed requests so they need no gas.
/// @notice OpenZeppelin's ERC2771Forwarder under the EIP-712 domain ("MedLedgerForwarder", "1").
/// It checks the signature, the per-signer nonce (no replay) and the deadline, and appends the
/// signer's address to the call so MedLedger's `_msgSender()` is the signer, never the relayer.
/// @dev One change: when the relayed call reverts, `execute` reverts with the target's own revert
/// data (e.g. MedLedger's `NoAccess(doctor, patientId)`) instead of OpenZeppelin's bare
/// `FailedCall()`, so a rejected request carries the contract's reason to the user. One addition:
/// `executeEach`, many users' requests in one transaction, each all or nothing on its own.
contract MedLedgerForwarder is ERC2771Forwarder {
    /// @notice Request `index` of an `executeEach` did not run: `reason` is its revert data (the
    /// forwarder's, such as a nonce not yet due or an expired deadline, or the target's, such as
    /// MedLedger's `NoAccess`). Its nonce was left unused.
    event ForwardRequestFailed(uint256 indexed index, address indexed signer, bytes reason);

    constructor() ERC2771Forwarder("MedLedgerForwarder") {}

    /// @notice Runs each request as `execute` does, each on its own: one that fails is undone
    /// alone, its nonce left unused, and reported by `ForwardRequestFailed`; the others go on. A
    /// relayer anchors many users' requests in one transaction this way. (OpenZeppelin's
    /// `executeBatch` instead skips invalid requests silently, and spends the nonce of a request
    /// whose call reverts, its reason lost.) Requests carry no value.
    function executeEach(ForwardRequestData[] calldata requests) external {
        for (uint256 i; i < requests.length; ++i) {
            // A call to itself, so that a failure reverts that request's effects and nonce only.
            // `execute` trusts nothing about its caller: each request stands on its signature. The
            // event can only follow the call (it reports the call's own revert data).
            // slither-disable-next-line calls-loop,reentrancy-events
            try this.execute(requests[i]) {}
            catch (bytes memory reason) {
                emit ForwardRequestFailed(i, requests[i].from, reason);
            }
        }
    }

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
