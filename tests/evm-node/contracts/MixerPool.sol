// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// A fixed-denomination mixing pool shaped like a Tornado Cash ETH instance
/// (one contract per denomination: 1 ETH and 10 ETH are deployed), without
/// the zero-knowledge part: the pool trusts the caller of withdraw() and only
/// checks that the nullifier was not spent before and that no more notes are
/// withdrawn than were deposited. Events have Tornado's signatures:
///   Deposit(bytes32 indexed commitment, uint32 leafIndex, uint256 timestamp)
///   Withdrawal(address to, bytes32 nullifierHash, address indexed relayer, uint256 fee)
/// Payouts are internal calls, so call traces show internal ETH transfers.
contract MixerPool {
    uint256 public immutable denomination;
    uint32 public nextIndex;
    uint32 public withdrawn;
    mapping(bytes32 => bool) public commitments;
    mapping(bytes32 => bool) public nullifierHashes;

    event Deposit(bytes32 indexed commitment, uint32 leafIndex, uint256 timestamp);
    event Withdrawal(address to, bytes32 nullifierHash, address indexed relayer, uint256 fee);

    constructor(uint256 _denomination) {
        require(_denomination > 0, "denomination");
        denomination = _denomination;
    }

    function deposit(bytes32 commitment) external payable {
        require(msg.value == denomination, "Please send `mixDenomination` ETH along with transaction");
        require(!commitments[commitment], "The commitment has been submitted");
        commitments[commitment] = true;
        uint32 index = nextIndex;
        nextIndex = index + 1;
        emit Deposit(commitment, index, block.timestamp);
    }

    function withdraw(bytes32 nullifierHash, address payable recipient, address payable relayer, uint256 fee)
        external
    {
        require(fee <= denomination, "Fee exceeds transfer value");
        require(!nullifierHashes[nullifierHash], "The note has been already spent");
        require(withdrawn < nextIndex, "No unspent deposits");
        nullifierHashes[nullifierHash] = true;
        withdrawn += 1;
        (bool ok, ) = recipient.call{value: denomination - fee}("");
        require(ok, "payment to recipient did not go thru");
        if (fee > 0) {
            (ok, ) = relayer.call{value: fee}("");
            require(ok, "payment to relayer did not go thru");
        }
        emit Withdrawal(recipient, nullifierHash, relayer, fee);
    }
}
