// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

interface IERC20Like {
    function transferFrom(address from, address to, uint256 value) external returns (bool);
}

/// Lock-side of a cross-chain bridge: ETH or ERC-20 is locked here and an
/// off-chain relayer mints/pays on the destination chain. The recipient is a
/// string so that non-EVM destinations (a bc1... Bitcoin address) fit.
contract Bridge {
    uint256 public nonce;

    event Deposit(uint256 destChain, string recipient, uint256 nonce, address token, uint256 amount);

    /// ETH deposit (token = address(0) in the event).
    function deposit(uint256 destChain, string calldata recipient) external payable {
        require(msg.value > 0, "no value");
        require(bytes(recipient).length > 0, "no recipient");
        emit Deposit(destChain, recipient, nonce++, address(0), msg.value);
    }

    /// ERC-20 deposit: the bridge pulls `amount` with transferFrom (approve first).
    function depositToken(address token, uint256 amount, uint256 destChain, string calldata recipient) external {
        require(amount > 0, "no value");
        require(bytes(recipient).length > 0, "no recipient");
        require(IERC20Like(token).transferFrom(msg.sender, address(this), amount), "transferFrom");
        emit Deposit(destChain, recipient, nonce++, token, amount);
    }
}
