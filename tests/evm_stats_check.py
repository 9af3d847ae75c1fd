#!/usr/bin/env python3
"""evm_stats_check.py CHECK FILE: a figure of one JSON answer of cointrail's EVM side that
e2e_evm.sh knows from the export it imported; exit 0 when it holds, 1 when not.

  b17173049 FILE      `evm-stats --json` of blocks 17173049-17173050: failed txs, withdrawals
                      and more than 100 ERC-20 transfers
  reorg-counts FILE   `evm-import --json` of the fork: 1 block removed, 1 added, 1 skipped
  selfdestruct FILE   `evm-stats --json` of block_with_suicide: one internal transfer of
                      0.05 ETH and a 5 ETH block reward
  failed-call FILE    `evm-stats --json` of block_with_error: one failed tx, 1.1 ETH of
                      top-level value
  token-meta FILE     `evm-address --json`: the token balance carries tokens.csv's symbol TST,
                      6 decimals, and the balance 100000
"""
import json
import sys


def main(check, path):
    j = json.load(open(path))
    if check == "b17173049":
        return not (j['failed_txs'] > 0 and j['transfers_by_kind']['withdrawal'] > 0 and j['transfers_by_kind']['erc20'] > 100)
    if check == "reorg-counts":
        return not (j['blocks_removed']==1 and j['blocks_added']==1 and j['blocks_skipped']==1)
    if check == "selfdestruct":
        return not (j['transfers_by_kind']['internal']==1 and j['native_internal_value']=='50000000000000000' and j['rewards']=='5000000000000000000')
    if check == "failed-call":
        return not (j['failed_txs']==1 and j['native_tx_value']=='1100000000000000000')
    if check == "token-meta":
        b=[x for x in j['balances'] if x['token']][0]; return not (b['symbol']=='TST' and b['decimals']==6 and b['balance']=='100000')
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
