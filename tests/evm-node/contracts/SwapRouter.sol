// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// Shaped like THORChain's router: ETH sent with a memo is forwarded to the
/// vault (an EOA watched by the network's signers) with an internal call, and
/// the router emits THORChain's event
///   Deposit(address indexed to, address indexed asset, uint256 amount, string memo)
/// with asset = address(0) for ETH. The memo names the destination asset and
/// address, e.g. "SWAP:BTC.BTC:bc1..." or "=:BTC.BTC:bc1...:limit".
contract SwapRouter {
    address payable public immutable vault;

    event Deposit(address indexed to, address indexed asset, uint256 amount, string memo);

    constructor(address payable _vault) {
        vault = _vault;
    }

    function swapOut(string calldata memo) external payable {
        require(msg.value > 0, "no value");
        (bool ok, ) = vault.call{value: msg.value}("");
        require(ok, "vault transfer failed");
        emit Deposit(vault, address(0), msg.value, memo);
    }
}
