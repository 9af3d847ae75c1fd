#!/usr/bin/env node
'use strict';
// Issue 7 test harness: plays a DPRK-style laundering scenario on a local
// anvil node (from npm), then records every JSON-RPC response, exports
// ethereum-etl-format CSVs and writes truth.json.
//
//   node run.js --out DIR [--port 8545]
//
// See README.md in this folder.

const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { spawn } = require('child_process');
const L = require('./lib');
const { eth, toHex, ETH, GWEI } = L;

// ---------------------------------------------------------------- fixed parameters

const MNEMONIC = 'test test test test test test test test test test test junk';
const CHAIN_ID = 31337;
const HARDFORK = 'prague';
const GENESIS_TS = 1700000000; // 2023-11-14T22:13:20Z
const N_ACCOUNTS = 22;
const BITCOIN_CHAIN_ID = 8332n; // the bridge's id for Bitcoin (its RPC port, by convention here)
const OPTIMISM_CHAIN_ID = 10n;
const USDT_SUPPLY = 50_000_000n * 10n ** 6n;

// Valid bech32/bech32m addresses. The first three are BIP 173 / BIP 86 test
// vectors; the rest are derived deterministically (P2WPKH programs = first 20
// bytes of sha256(label)) and are checksum-valid too.
const BTC = {
  bridge1: 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4', // BIP 173 P2WPKH
  bridgeToken: 'bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3', // BIP 173 P2WSH
  bridge2: 'bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0', // BIP 86 P2TR
};
for (const label of ['swap1', 'swap2', 'swapAfterMix', 'bridgeAfterMix', 'erin']) {
  const prog = crypto.createHash('sha256').update('cointrail-evm-node:' + label).digest().subarray(0, 20);
  BTC[label] = L.segwitEncode('bc', 0, prog);
}
for (const [k, a] of Object.entries(BTC)) {
  if (!L.segwitDecode(a)) throw new Error(`internal: invalid bech32 address ${k} ${a}`);
}

// Account roles: index into the mnemonic's accounts -> label, role.
const ROLES = [
  ['deployer', 'service', 'deploys the contracts, issues the token'],
  ['hot_wallet', 'victim', 'exchange hot wallet that gets drained'],
  ['thief', 'thief', 'first hop of the stolen funds'],
  ['split_mix10', 'thief', 'fresh address: 10 ETH mixer deposits'],
  ['split_mix1', 'thief', 'fresh address: 1 ETH mixer deposits (and the failed deposit)'],
  ['split_bridge', 'thief', 'fresh address: ETH bridge deposits to Bitcoin'],
  ['split_swap', 'thief', 'fresh address: router swaps to BTC'],
  ['split_token_bridge', 'thief', 'fresh address: USDT bridged to Bitcoin'],
  ['split_token_otc', 'thief', 'fresh address: USDT sent to an OTC desk'],
  ['relayer', 'service', 'mixer relayer: submits withdrawals, earns the fee'],
  ['mix_out1', 'thief', 'fresh address: receives two 10 ETH mixer notes'],
  ['mix_out2', 'thief', 'fresh address: receives one 10 ETH mixer note'],
  ['mix_out3', 'thief', 'fresh address: receives two 1 ETH mixer notes'],
  ['thor_vault', 'service', 'THORChain-style Asgard vault (EOA) the router forwards to'],
  ['alice', 'innocent', 'background user'],
  ['bob', 'innocent', 'background user'],
  ['carol', 'innocent', 'mixer user (1 ETH pool)'],
  ['dave', 'innocent', 'mixer user (10 ETH pool) and bridge user'],
  ['erin', 'innocent', 'router swap user'],
  ['otc_desk', 'innocent', 'OTC desk receiving USDT'],
  ['customer', 'innocent', 'exchange customer paid by the hot wallet'],
  ['block_producer', 'service', 'coinbase of every block (gets the priority fees)'],
];
const INITIAL_ETH = {
  deployer: '100',
  hot_wallet: '600',
  relayer: '5',
  alice: '50',
  bob: '50',
  carol: '50',
  dave: '50',
  erin: '50',
  otc_desk: '10',
  // every other account starts empty
};

// ---------------------------------------------------------------- arguments

function parseArgs(argv) {
  const a = { port: 8545, out: null, keepRunning: false };
  for (let i = 2; i < argv.length; i++) {
    if (argv[i] === '--out') a.out = argv[++i];
    else if (argv[i] === '--port') a.port = Number(argv[++i]);
    else if (argv[i] === '--keep-running') a.keepRunning = true;
    else if (argv[i] === '-h' || argv[i] === '--help') {
      console.log('usage: node run.js --out DIR [--port 8545] [--keep-running]');
      process.exit(0);
    } else throw new Error(`unknown argument ${argv[i]}`);
  }
  if (!a.out) throw new Error('usage: node run.js --out DIR [--port 8545]');
  if (!Number.isInteger(a.port) || a.port < 1 || a.port > 65535) throw new Error('--port must be 1..65535');
  return a;
}

// ---------------------------------------------------------------- node

function findAnvil() {
  if (process.env.ANVIL_BIN) return process.env.ANVIL_BIN;
  try {
    const pj = require.resolve('@foundry-rs/anvil-linux-amd64/package.json');
    return path.join(path.dirname(pj), 'bin', 'anvil');
  } catch (e) {
    throw new Error('anvil binary not found: run `npm ci` here (package @foundry-rs/anvil-linux-amd64, Linux x64 only) or set ANVIL_BIN');
  }
}

function anvilVersion(bin) {
  const r = require('child_process').spawnSync(bin, ['--version'], { encoding: 'utf8' });
  return (r.stdout || '').split('\n')[0].trim();
}

async function startAnvil(bin, port, logFile) {
  const url = `http://127.0.0.1:${port}`;
  // Refuse to talk to a node we did not start.
  let busy = false;
  try {
    await new L.RpcClient(url).raw('eth_chainId');
    busy = true;
  } catch (e) {
    /* nothing listening: good */
  }
  if (busy) throw new Error(`port ${port} on 127.0.0.1 already answers HTTP; pick another with --port`);
  const args = [
    '--host', '127.0.0.1',
    '--port', String(port),
    '--mnemonic', MNEMONIC,
    '--accounts', String(N_ACCOUNTS),
    '--balance', '0',
    '--chain-id', String(CHAIN_ID),
    '--hardfork', HARDFORK,
    '--timestamp', String(GENESIS_TS),
    '--no-mining',
    '--order', 'fifo',
    '--gas-limit', '30000000',
    '--block-base-fee-per-gas', '1000000000',
    '--disable-default-create2-deployer',
  ];
  // --keep-running: the node outlives this script, so its output goes to a file, not a pipe
  // that would close when we exit.
  const fd = logFile ? fs.openSync(logFile, 'w') : null;
  const child = spawn(bin, args, { stdio: ['ignore', fd === null ? 'pipe' : fd, fd === null ? 'pipe' : fd], detached: fd !== null });
  let log = '';
  if (fd === null) {
    child.stdout.on('data', (d) => (log += d));
    child.stderr.on('data', (d) => (log += d));
  } else fs.closeSync(fd);
  let exited = null;
  child.on('exit', (code) => (exited = code));
  const rpc = new L.RpcClient(url);
  for (let i = 0; i < 200; i++) {
    if (exited !== null) throw new Error(`anvil exited with ${exited}:\n${log}`);
    try {
      const id = await rpc.call('eth_chainId');
      if (Number(id) === CHAIN_ID) return { child, rpc, args, getLog: () => log };
    } catch (e) {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`anvil did not start on ${url}:\n${log}`);
}

// ---------------------------------------------------------------- compile

function compile() {
  const solc = require('solc');
  const dir = path.join(__dirname, 'contracts');
  const sources = {};
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.sol')).sort()) {
    sources[f] = { content: fs.readFileSync(path.join(dir, f), 'utf8') };
  }
  const input = {
    language: 'Solidity',
    sources,
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: 'cancun',
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.methodIdentifiers'] } },
    },
  };
  const out = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (out.errors || []).filter((e) => e.severity === 'error');
  if (errors.length) throw new Error('solc: ' + errors.map((e) => e.formattedMessage).join('\n'));
  const c = {};
  for (const file of Object.keys(out.contracts)) {
    for (const [name, v] of Object.entries(out.contracts[file])) {
      c[name] = { bytecode: '0x' + v.evm.bytecode.object, methods: v.evm.methodIdentifiers, abi: v.abi };
    }
  }
  return { contracts: c, solcVersion: solc.version() };
}

// calldata for a function given its full signature, e.g. 'deposit(bytes32)'
function calldata(contract, sig, values) {
  const sel = contract.methods[sig];
  if (!sel) throw new Error(`no method ${sig}`);
  const types = sig.slice(sig.indexOf('(') + 1, -1).split(',').filter(Boolean);
  return '0x' + sel + L.encode(types, values);
}

// ---------------------------------------------------------------- scenario engine

class Chain {
  constructor(rpc) {
    this.rpc = rpc;
    this.nonces = new Map();
    this.pending = [];
    this.steps = [];
    this.blockNo = 0;
  }

  // Queue a transaction for the next block. opts: {from,to,value,data,gas,type,tip,gasPrice,expectFail,kind,label,...extra}
  async send(opts) {
    const from = opts.from.toLowerCase();
    const nonce = this.nonces.get(from) || 0;
    this.nonces.set(from, nonce + 1);
    const tx = { from, nonce: toHex(nonce), gas: toHex(opts.gas || 21000), value: toHex(opts.value || 0n) };
    if (opts.to) tx.to = opts.to;
    if (opts.data) tx.data = opts.data;
    if (opts.legacy) {
      tx.gasPrice = toHex(opts.gasPrice || 5n * GWEI);
    } else {
      tx.maxFeePerGas = toHex(30n * GWEI);
      tx.maxPriorityFeePerGas = toHex(opts.tip || 1n * GWEI);
    }
    const hash = await this.rpc.call('eth_sendTransaction', [tx]);
    const step = {
      step: this.steps.length + 1,
      label: opts.label,
      kind: opts.kind,
      tx_hash: hash,
      from,
      to: opts.to ? opts.to.toLowerCase() : null,
      value_wei: (opts.value || 0n).toString(),
      expect_failure: !!opts.expectFail,
      ...(opts.extra || {}),
    };
    this.pending.push(step);
    this.steps.push(step);
    return step;
  }

  async mine(ts) {
    await this.rpc.call('evm_setNextBlockTimestamp', [ts]);
    await this.rpc.call('evm_mine', []);
    this.blockNo += 1;
    const block = await this.rpc.call('eth_getBlockByNumber', [toHex(this.blockNo), false]);
    if (!block || Number(block.timestamp) !== ts) throw new Error(`block ${this.blockNo}: unexpected timestamp`);
    const want = this.pending.map((s) => s.tx_hash);
    if (JSON.stringify(block.transactions) !== JSON.stringify(want)) {
      throw new Error(`block ${this.blockNo}: txs ${JSON.stringify(block.transactions)} != queued ${JSON.stringify(want)}`);
    }
    for (const s of this.pending) {
      const r = await this.rpc.call('eth_getTransactionReceipt', [s.tx_hash]);
      s.block_number = Number(r.blockNumber);
      s.transaction_index = Number(r.transactionIndex);
      s.status = Number(r.status);
      s.gas_used = L.hexToDec(r.gasUsed);
      s.effective_gas_price = L.hexToDec(r.effectiveGasPrice);
      s.fee_wei = (BigInt(r.gasUsed) * BigInt(r.effectiveGasPrice)).toString();
      if (r.contractAddress) s.contract_address = r.contractAddress.toLowerCase();
      if (s.status !== (s.expect_failure ? 0 : 1)) {
        throw new Error(`step ${s.step} ${s.label}: status ${s.status}, expected ${s.expect_failure ? 0 : 1}`);
      }
      if (s.expect_failure) {
        const t = await this.rpc.call('debug_traceTransaction', [s.tx_hash, { tracer: 'callTracer' }]);
        s.error = t.error || null;
        s.revert_reason = t.revertReason || null;
      }
      s.block_timestamp = ts;
    }
    this.pending = [];
    return block;
  }
}

const noteHash = (kind, i) => '0x' + crypto.createHash('sha256').update(`cointrail-evm-node:${kind}:${i}`).digest('hex');

// THORChain memo -> {function, asset, dest_address, limit}
function parseMemo(memo) {
  const p = memo.split(':');
  return { function: p[0], asset: p[1], dest_address: p[2], limit: p[3] === undefined ? null : p[3] };
}

async function playScenario(rpc, compiled) {
  const C = compiled.contracts;
  const chain = new Chain(rpc);
  const accounts = (await rpc.call('eth_accounts')).map((a) => a.toLowerCase());
  if (accounts.length !== N_ACCOUNTS) throw new Error('unexpected account count');
  const A = {};
  ROLES.forEach(([label], i) => (A[label] = accounts[i]));

  // Block-0 state ("genesis allocation"): set before the first block is mined.
  for (const [label] of ROLES) {
    await rpc.call('anvil_setBalance', [A[label], toHex(eth(INITIAL_ETH[label] || '0'))]);
  }
  await rpc.call('anvil_setCoinbase', [A.block_producer]);

  let t = GENESIS_TS;
  const at = (dt) => (t += dt);
  const thiefTip = 2n * GWEI; // the thief pays a higher priority fee than everyone else
  const thiefSet = new Set(ROLES.filter((r) => r[1] === 'thief').map((r) => A[r[0]]));

  // ---- block 1: token deployment
  const sUsdt = await chain.send({
    from: A.deployer, gas: 1_500_000, kind: 'deploy', label: 'deploy TestUSDT',
    data: C.TestUSDT.bytecode + L.encode(['uint256'], [USDT_SUPPLY]),
  });
  await chain.mine(at(12));
  const usdt = sUsdt.contract_address;

  // ---- block 2: the other contracts
  const sPool1 = await chain.send({
    from: A.deployer, gas: 1_000_000, kind: 'deploy', label: 'deploy MixerPool 1 ETH',
    data: C.MixerPool.bytecode + L.encode(['uint256'], [eth('1')]),
  });
  const sPool10 = await chain.send({
    from: A.deployer, gas: 1_000_000, kind: 'deploy', label: 'deploy MixerPool 10 ETH',
    data: C.MixerPool.bytecode + L.encode(['uint256'], [eth('10')]),
  });
  const sBridge = await chain.send({ from: A.deployer, gas: 1_000_000, kind: 'deploy', label: 'deploy Bridge', data: C.Bridge.bytecode });
  const sRouter = await chain.send({
    from: A.deployer, gas: 1_000_000, kind: 'deploy', label: 'deploy SwapRouter',
    data: C.SwapRouter.bytecode + L.encode(['address'], [A.thor_vault]),
  });
  await chain.mine(at(12));
  const pool1 = sPool1.contract_address;
  const pool10 = sPool10.contract_address;
  const bridge = sBridge.contract_address;
  const router = sRouter.contract_address;
  const pools = { [pool1]: { denomination: eth('1') }, [pool10]: { denomination: eth('10') } };

  const tokenTransfer = (from, to, amount, label, kind = 'token_transfer') =>
    chain.send({
      from, to: usdt, gas: 80_000, kind, label,
      data: calldata(C.TestUSDT, 'transfer(address,uint256)', [to, amount]),
      tip: thiefSet.has(from) ? thiefTip : undefined,
      extra: { token: usdt, token_from: from, token_to: to, token_amount: amount.toString() },
    });
  const usd = (n) => BigInt(n) * 10n ** 6n;

  // ---- block 3: normal life
  await tokenTransfer(A.deployer, A.hot_wallet, usd(5_000_000), 'issuer funds exchange hot wallet with USDT');
  await tokenTransfer(A.deployer, A.alice, usd(20_000), 'issuer pays alice USDT');
  await tokenTransfer(A.deployer, A.bob, usd(15_000), 'issuer pays bob USDT');
  await chain.send({ from: A.hot_wallet, to: A.customer, value: eth('2.5'), legacy: true, kind: 'eth_transfer', label: 'exchange withdrawal to a customer (legacy tx)' });
  await chain.send({ from: A.alice, to: A.bob, value: eth('1.25'), kind: 'eth_transfer', label: 'background: alice pays bob' });
  await chain.mine(at(12));

  // mixer helpers
  const deposits = [];
  const withdrawals = [];
  let noteNo = 0;
  const mixDeposit = async (from, pool, label, owner) => {
    const i = ++noteNo;
    const commitment = noteHash('commitment', i);
    const nullifierHash = noteHash('nullifier', i);
    const s = await chain.send({
      from, to: pool, value: pools[pool].denomination, gas: 150_000, kind: 'mixer_deposit', label,
      tip: owner === 'thief' ? thiefTip : undefined,
      data: calldata(C.MixerPool, 'deposit(bytes32)', [commitment]),
      extra: { pool, commitment },
    });
    const d = { note: i, pool, denomination_wei: pools[pool].denomination.toString(), commitment, nullifier_hash: nullifierHash, owner, step: s };
    deposits.push(d);
    return d;
  };
  const mixWithdraw = async (caller, note, recipient, relayer, fee, label, expectFail = false) => {
    const d = deposits.find((x) => x.note === note);
    const s = await chain.send({
      from: caller, to: d.pool, gas: 150_000, kind: 'mixer_withdrawal', label, expectFail,
      tip: d.owner === 'thief' ? thiefTip : undefined,
      data: calldata(C.MixerPool, 'withdraw(bytes32,address,address,uint256)', [d.nullifier_hash, recipient, relayer, fee]),
      extra: { pool: d.pool, nullifier_hash: d.nullifier_hash, recipient, relayer, fee_wei: fee.toString() },
    });
    if (!expectFail) withdrawals.push({ note, deposit: d, recipient, relayer, fee, step: s });
    return s;
  };

  // ---- block 4: innocent mixer users build the anonymity set
  await mixDeposit(A.carol, pool1, 'background: carol deposits 1 ETH into the mixer', 'innocent');
  await mixDeposit(A.dave, pool10, 'background: dave deposits 10 ETH into the mixer', 'innocent');
  await tokenTransfer(A.bob, A.alice, usd(3_000), 'background: bob pays alice USDT');
  await chain.mine(at(3600));

  // ---- block 5: the hack (attacker holds the hot wallet key)
  await chain.send({ from: A.hot_wallet, to: A.thief, value: eth('320'), kind: 'eth_transfer', label: 'HACK: hot wallet drained of ETH', tip: thiefTip });
  await tokenTransfer(A.hot_wallet, A.thief, usd(4_200_000), 'HACK: hot wallet drained of USDT');
  await chain.send({ from: A.alice, to: A.customer, value: eth('0.3'), kind: 'eth_transfer', label: 'background: alice pays the customer' });
  await chain.mine(at(12));

  // ---- block 6: peel/split to fresh addresses
  const split = async (to, amount, label) =>
    chain.send({ from: A.thief, to, value: eth(amount), kind: 'eth_transfer', label, tip: thiefTip });
  await split(A.split_mix10, '51', 'split: ETH for 10 ETH mixer deposits');
  await split(A.split_mix1, '6', 'split: ETH for 1 ETH mixer deposits');
  await split(A.split_bridge, '40', 'split: ETH for the bridge');
  await split(A.split_swap, '60', 'split: ETH for router swaps');
  await split(A.split_token_bridge, '0.5', 'split: gas money for the USDT bridger');
  await split(A.split_token_otc, '0.3', 'split: gas money for the USDT OTC sender');
  await tokenTransfer(A.thief, A.split_token_bridge, usd(2_500_000), 'split: USDT to a fresh address (bridge)');
  await tokenTransfer(A.thief, A.split_token_otc, usd(1_700_000), 'split: USDT to a fresh address (OTC)');
  await chain.mine(at(12));

  // ---- block 7: into the mixer; one deposit fails (wrong denomination)
  for (let k = 0; k < 5; k++) await mixDeposit(A.split_mix10, pool10, `mixer: thief deposit ${k + 1}/5 into the 10 ETH pool`, 'thief');
  for (let k = 0; k < 3; k++) await mixDeposit(A.split_mix1, pool1, `mixer: thief deposit ${k + 1}/3 into the 1 ETH pool`, 'thief');
  const failedDeposit = await chain.send({
    from: A.split_mix1, to: pool1, value: eth('2'), gas: 150_000, kind: 'mixer_deposit', label: 'FAILED: 2 ETH sent to the 1 ETH pool (reverts)',
    expectFail: true, tip: thiefTip,
    data: calldata(C.MixerPool, 'deposit(bytes32)', [noteHash('commitment', 'failed')]),
    extra: { pool: pool1, commitment: noteHash('commitment', 'failed') },
  });
  await chain.mine(at(12));

  // ---- block 8: bridge to Bitcoin
  const bridgeDeposits = [];
  let bridgeNonce = 0n;
  const bridgeEth = async (from, amount, destChain, recipient, label, owner) => {
    const s = await chain.send({
      from, to: bridge, value: eth(amount), gas: 150_000, kind: 'bridge_deposit', label,
      tip: owner === 'thief' ? thiefTip : undefined,
      data: calldata(C.Bridge, 'deposit(uint256,string)', [destChain, recipient]),
    });
    bridgeDeposits.push({ nonce: (bridgeNonce++).toString(), dest_chain: destChain.toString(), recipient, token: '0x0000000000000000000000000000000000000000', amount: eth(amount).toString(), from, owner, tx_hash: s.tx_hash, step: s.step });
  };
  await bridgeEth(A.split_bridge, '25', BITCOIN_CHAIN_ID, BTC.bridge1, 'bridge: 25 ETH to Bitcoin', 'thief');
  await bridgeEth(A.split_bridge, '14', BITCOIN_CHAIN_ID, BTC.bridge2, 'bridge: 14 ETH to Bitcoin (taproot recipient)', 'thief');
  await chain.send({
    from: A.split_token_bridge, to: usdt, gas: 80_000, kind: 'token_approve', label: 'bridge: approve USDT', tip: thiefTip,
    data: calldata(C.TestUSDT, 'approve(address,uint256)', [bridge, usd(2_000_000)]),
  });
  {
    const s = await chain.send({
      from: A.split_token_bridge, to: bridge, gas: 200_000, kind: 'bridge_deposit', label: 'bridge: 2,000,000 USDT to Bitcoin', tip: thiefTip,
      data: calldata(C.Bridge, 'depositToken(address,uint256,uint256,string)', [usdt, usd(2_000_000), BITCOIN_CHAIN_ID, BTC.bridgeToken]),
      extra: { token: usdt, token_from: A.split_token_bridge, token_to: bridge, token_amount: usd(2_000_000).toString() },
    });
    bridgeDeposits.push({ nonce: (bridgeNonce++).toString(), dest_chain: BITCOIN_CHAIN_ID.toString(), recipient: BTC.bridgeToken, token: usdt, amount: usd(2_000_000).toString(), from: A.split_token_bridge, owner: 'thief', tx_hash: s.tx_hash, step: s.step });
  }
  await bridgeEth(A.dave, '1', OPTIMISM_CHAIN_ID, A.dave, 'background: dave bridges 1 ETH to chain 10 (EVM recipient)', 'innocent');
  await chain.mine(at(12));

  // ---- block 9: THORChain-style swaps out to BTC, USDT to the OTC desk
  const swaps = [];
  const swap = async (from, amount, memo, label, owner) => {
    const s = await chain.send({
      from, to: router, value: eth(amount), gas: 120_000, kind: 'router_swap', label,
      tip: owner === 'thief' ? thiefTip : undefined,
      data: calldata(C.SwapRouter, 'swapOut(string)', [memo]),
      extra: { memo },
    });
    const m = parseMemo(memo);
    swaps.push({ memo, dest_asset: m.asset, dest_address: m.dest_address, limit: m.limit, amount: eth(amount).toString(), asset: '0x0000000000000000000000000000000000000000', from, vault: A.thor_vault, owner, tx_hash: s.tx_hash, step: s.step });
  };
  await swap(A.split_swap, '20', `SWAP:BTC.BTC:${BTC.swap1}`, 'router: 20 ETH swapped to BTC (SWAP: memo)', 'thief');
  await swap(A.split_swap, '35', `=:BTC.BTC:${BTC.swap2}:185000000`, 'router: 35 ETH swapped to BTC (=: memo with limit)', 'thief');
  await swap(A.erin, '2', `=:BTC.BTC:${BTC.erin}`, 'background: erin swaps 2 ETH to BTC', 'innocent');
  await tokenTransfer(A.split_token_otc, A.otc_desk, usd(1_700_000), 'cash-out: USDT to an OTC desk');
  await chain.mine(at(12));

  // ---- block 10 (a day later): withdrawals through the relayer
  const fee10 = eth('0.05');
  const thiefNotes10 = deposits.filter((d) => d.owner === 'thief' && d.pool === pool10).map((d) => d.note);
  const thiefNotes1 = deposits.filter((d) => d.owner === 'thief' && d.pool === pool1).map((d) => d.note);
  const carolNote = deposits.find((d) => d.owner === 'innocent' && d.pool === pool1).note;
  const daveNote = deposits.find((d) => d.owner === 'innocent' && d.pool === pool10).note;
  await mixWithdraw(A.relayer, thiefNotes10[0], A.mix_out1, A.relayer, fee10, 'mixer: relayed withdrawal to mix_out1');
  await mixWithdraw(A.relayer, thiefNotes10[1], A.mix_out2, A.relayer, fee10, 'mixer: relayed withdrawal to mix_out2');
  await mixWithdraw(A.relayer, thiefNotes10[2], A.mix_out1, A.relayer, fee10, 'mixer: relayed withdrawal to mix_out1 (second note)');
  await mixWithdraw(A.carol, carolNote, A.carol, '0x0000000000000000000000000000000000000000', 0n, 'background: carol withdraws her own note');
  await chain.mine(at(86400));

  // ---- block 11: direct withdrawals (thief pays gas), a double spend fails
  await mixWithdraw(A.thief, thiefNotes1[0], A.mix_out3, '0x0000000000000000000000000000000000000000', 0n, 'mixer: direct withdrawal to mix_out3');
  await mixWithdraw(A.thief, thiefNotes1[1], A.mix_out3, '0x0000000000000000000000000000000000000000', 0n, 'mixer: direct withdrawal to mix_out3 (second note)');
  const failedWithdraw = await mixWithdraw(A.relayer, thiefNotes1[0], A.mix_out3, A.relayer, eth('0.01'), 'FAILED: relayer replays a spent note (reverts)', true);
  await mixWithdraw(A.dave, daveNote, A.dave, '0x0000000000000000000000000000000000000000', 0n, 'background: dave withdraws his own note');
  await chain.mine(at(12));

  // ---- block 12 (another day): chain hops after the mixer
  await swap(A.mix_out1, '19', `=:BTC.BTC:${BTC.swapAfterMix}:97000000/1/0`, 'router: mixed ETH swapped to BTC (streaming-swap limit)', 'thief');
  await bridgeEth(A.mix_out2, '9', BITCOIN_CHAIN_ID, BTC.bridgeAfterMix, 'bridge: mixed ETH to Bitcoin', 'thief');
  await chain.send({ from: A.bob, to: A.alice, value: eth('0.5'), kind: 'eth_transfer', label: 'background: bob pays alice' });
  await chain.mine(at(86400));

  return {
    chain, A, accounts, usdt, pool1, pool10, bridge, router, deposits, withdrawals, bridgeDeposits, swaps,
    failed: [failedDeposit, failedWithdraw],
  };
}

// ---------------------------------------------------------------- recording

function fileNameFor(method, params) {
  const flat = [];
  const walk = (p) => {
    if (p === null || p === undefined) flat.push('null');
    else if (typeof p === 'object' && !Array.isArray(p)) {
      for (const k of Object.keys(p).sort()) {
        flat.push(k);
        walk(p[k]);
      }
    } else flat.push(String(p));
  };
  params.forEach(walk);
  return `web3_response.${[method, ...flat].join('_')}.json`.replace(/[^A-Za-z0-9_.\-]/g, '_');
}

class Recorder {
  constructor(rpc, dir) {
    this.rpc = rpc;
    this.dir = dir;
    this.index = [];
    this.id = 1;
    fs.mkdirSync(dir, { recursive: true });
  }
  // Calls, saves the response ({jsonrpc, result|error, id}), returns result (throws on error unless allowError).
  async call(method, params, allowError = false) {
    const r = await this.rpc.raw(method, params);
    const file = fileNameFor(method, params);
    const saved = { jsonrpc: '2.0' };
    if (r.error) saved.error = r.error;
    else saved.result = r.result;
    saved.id = this.id++;
    fs.writeFileSync(path.join(this.dir, file), JSON.stringify(saved, null, 4) + '\n');
    this.index.push({ method, params, file, error: !!r.error });
    if (r.error && !allowError) throw new Error(`${method} ${JSON.stringify(params)}: ${JSON.stringify(r.error)}`);
    return r.error ? null : r.result;
  }
  finish() {
    fs.writeFileSync(path.join(this.dir, 'index.json'), JSON.stringify(this.index, null, 1) + '\n');
  }
}

// ---------------------------------------------------------------- export

const lc = (a) => (a ? a.toLowerCase() : '');

async function exportAll(rpc, S, outDir) {
  const rec = new Recorder(rpc, path.join(outDir, 'rpc'));
  const latest = Number(await rec.call('eth_blockNumber', []));
  await rec.call('eth_chainId', []);
  const blocks = [];
  const receipts = new Map(); // tx hash -> receipt
  const parityTraces = [];
  for (let n = 0; n <= latest; n++) {
    const h = toHex(n);
    const b = await rec.call('eth_getBlockByNumber', [h, true]);
    blocks.push(b);
    const br = await rec.call('eth_getBlockReceipts', [h]);
    for (const tx of b.transactions) {
      const r = await rec.call('eth_getTransactionReceipt', [tx.hash]);
      receipts.set(tx.hash, r);
      await rec.call('debug_traceTransaction', [tx.hash, { tracer: 'callTracer' }]);
    }
    if (br.length !== b.transactions.length) throw new Error(`block ${n}: eth_getBlockReceipts count`);
    await rec.call('debug_traceBlockByNumber', [h, { tracer: 'callTracer' }], n === 0);
    const tb = await rec.call('trace_block', [h], n === 0);
    if (tb) parityTraces.push(...tb);
  }
  const hLatest = toHex(latest);

  // token metadata, like ethereum-etl export_tokens (eth_call name/symbol/decimals/totalSupply)
  const call = async (to, data) => rec.call('eth_call', [{ to, data }, hLatest]);
  const T = S.compiled.contracts.TestUSDT.methods;
  const tokName = L.decode(['string'], await call(S.usdt, '0x' + T['name()']))[0];
  const tokSymbol = L.decode(['string'], await call(S.usdt, '0x' + T['symbol()']))[0];
  const tokDecimals = L.decode(['uint8'], await call(S.usdt, '0x' + T['decimals()']))[0];
  const tokSupply = L.decode(['uint256'], await call(S.usdt, '0x' + T['totalSupply()']))[0];
  const usdtCreation = S.chain.steps.find((s) => s.contract_address === S.usdt).block_number;

  // balances: every account and contract, at block 0 and at the last block
  const addrs = [...S.accounts, S.usdt, S.pool1, S.pool10, S.bridge, S.router];
  const initial = {};
  const final = {};
  for (const a of addrs) {
    initial[a] = { eth_wei: BigInt(await rec.call('eth_getBalance', [a, '0x0'])).toString() };
    final[a] = {
      eth_wei: BigInt(await rec.call('eth_getBalance', [a, hLatest])).toString(),
      usdt_units: L.decode(['uint256'], await call(S.usdt, calldata(S.compiled.contracts.TestUSDT, 'balanceOf(address)', [a])))[0].toString(),
    };
  }
  rec.finish();

  // ---- CSVs
  const w = (name, header, rows) => {
    const f = fs.openSync(path.join(outDir, name + '.csv'), 'w');
    fs.writeSync(f, header + '\n');
    for (const r of rows) fs.writeSync(f, L.csvLine(r));
    fs.closeSync(f);
    return rows.length;
  };
  const D = L.hexToDec;
  const counts = {};

  counts.blocks = w('blocks', L.HEADERS.blocks, blocks.map((b) => [
    D(b.number), b.hash, b.parentHash, b.nonce, b.sha3Uncles, b.logsBloom, b.transactionsRoot, b.stateRoot,
    b.receiptsRoot, lc(b.miner), D(b.difficulty), D(b.totalDifficulty), D(b.size), b.extraData, D(b.gasLimit),
    D(b.gasUsed), D(b.timestamp), b.transactions.length, D(b.baseFeePerGas), b.withdrawalsRoot || '',
    (b.withdrawals || []).map((x) => JSON.stringify({ index: Number(x.index), validator_index: Number(x.validatorIndex), address: lc(x.address), amount: Number(x.amount) })).join(','),
  ]));

  const txRows = [];
  const enrichedRows = [];
  const receiptRows = [];
  const logRows = [];
  const transferRows = [];
  for (const b of blocks) {
    for (const tx of b.transactions) {
      const r = receipts.get(tx.hash);
      const row = [
        tx.hash, D(tx.nonce), tx.blockHash, D(tx.blockNumber), D(tx.transactionIndex), lc(tx.from), lc(tx.to),
        D(tx.value), D(tx.gas), D(tx.gasPrice), tx.input, D(b.timestamp), D(tx.maxFeePerGas),
        D(tx.maxPriorityFeePerGas), D(tx.type),
      ];
      txRows.push(row);
      enrichedRows.push([...row, D(r.cumulativeGasUsed), D(r.gasUsed), lc(r.contractAddress), r.root || '', D(r.status), D(r.effectiveGasPrice)]);
      receiptRows.push([
        r.transactionHash, D(r.transactionIndex), r.blockHash, D(r.blockNumber), D(r.cumulativeGasUsed), D(r.gasUsed),
        lc(r.contractAddress), r.root || '', D(r.status), D(r.effectiveGasPrice), '', '', '', '',
      ]);
      for (const lg of r.logs) {
        logRows.push([D(lg.logIndex), lg.transactionHash, D(lg.transactionIndex), lg.blockHash, D(lg.blockNumber), lc(lg.address), lg.data, lg.topics.join(',')]);
        // ethereum-etl token transfer extraction: topic0 = Transfer and topics+data words == 4
        if (lg.topics.length && lg.topics[0].toLowerCase() === L.TRANSFER_TOPIC) {
          const dataWords = lg.data && lg.data.length > 2 ? lg.data.slice(2).match(/.{1,64}/g).map((x) => '0x' + x) : [];
          const words = [...lg.topics, ...dataWords];
          if (words.length === 4) {
            transferRows.push([lc(lg.address), L.topicToAddress(words[1]), L.topicToAddress(words[2]), BigInt(words[3]).toString(), lg.transactionHash, D(lg.logIndex), D(lg.blockNumber)]);
          }
        }
      }
    }
  }
  counts.transactions = w('transactions', L.HEADERS.transactions, txRows);
  w('transactions_enriched', L.HEADERS.transactions_enriched, enrichedRows);
  counts.receipts = w('receipts', L.HEADERS.receipts, receiptRows);
  counts.logs = w('logs', L.HEADERS.logs, logRows);
  counts.token_transfers = w('token_transfers', L.HEADERS.token_transfers, transferRows);

  // traces: genesis allocation rows (as ethereum-etl --genesis-traces) + trace_block rows
  const traceRows = [];
  const genesis = Object.entries(initial).filter(([, v]) => BigInt(v.eth_wei) > 0n).map(([a, v]) => [a, v.eth_wei]).sort((x, y) => (x[0] < y[0] ? -1 : 1));
  genesis.forEach(([a, v], i) => traceRows.push(['0', '', '', '', a, v, '', '', 'genesis', '', '', '', '', '', '', '', '1', `genesis_0_${i}`]));
  // status: 0 if the trace or any ancestor has an error (ethereum-etl trace_status_calculator)
  const failedAddr = new Map(); // tx -> set of failed trace addresses
  for (const tr of parityTraces) {
    const key = tr.transactionHash;
    if (!failedAddr.has(key)) failedAddr.set(key, new Set());
    const set = failedAddr.get(key);
    const addr = tr.traceAddress.join(',');
    const parent = tr.traceAddress.slice(0, -1).join(',');
    const failed = !!tr.error || (tr.traceAddress.length > 0 && set.has(parent));
    if (failed) set.add(addr);
    const a = tr.action || {};
    const res = tr.result || {};
    let from = '', to = '', value = '', input = '', output = '', callType = '', gas = '', gasUsed = '';
    if (tr.type === 'call' || tr.type === 'create') {
      from = lc(a.from);
      value = D(a.value);
      gas = D(a.gas);
      gasUsed = D(res.gasUsed);
    }
    if (tr.type === 'call') {
      callType = a.callType;
      to = lc(a.to);
      input = a.input;
      output = res.output === undefined ? '' : res.output;
    } else if (tr.type === 'create') {
      to = lc(res.address);
      input = a.init;
      output = res.code === undefined ? '' : res.code;
    } else if (tr.type === 'suicide') {
      from = lc(a.address);
      to = lc(a.refundAddress);
      value = D(a.balance);
    } else {
      throw new Error(`unexpected trace type ${tr.type}`);
    }
    traceRows.push([
      String(tr.blockNumber), tr.transactionHash, String(tr.transactionPosition), from, to, value, input, output,
      tr.type, callType, '', gas, gasUsed, String(tr.subtraces), tr.traceAddress.join(','), tr.error || '',
      failed ? '0' : '1', `${tr.type}_${tr.transactionHash}_${tr.traceAddress.join('_')}`,
    ]);
  }
  counts.traces = w('traces', L.HEADERS.traces, traceRows);
  counts.tokens = w('tokens', L.HEADERS.tokens, [[S.usdt, tokSymbol, tokName, tokDecimals.toString(), tokSupply.toString(), String(usdtCreation)]]);

  return { latest, initial, final, counts, rpcFiles: rec.index.length, token: { address: S.usdt, name: tokName, symbol: tokSymbol, decimals: Number(tokDecimals), total_supply: tokSupply.toString() } };
}

// ---------------------------------------------------------------- main

async function main() {
  const args = parseArgs(process.argv);
  const started = Date.now();
  const outDir = path.resolve(args.out);
  fs.mkdirSync(outDir, { recursive: true });
  // remove only what this script writes
  fs.rmSync(path.join(outDir, 'rpc'), { recursive: true, force: true });
  for (const f of ['blocks', 'transactions', 'transactions_enriched', 'receipts', 'logs', 'token_transfers', 'traces', 'tokens']) {
    fs.rmSync(path.join(outDir, f + '.csv'), { force: true });
  }
  fs.rmSync(path.join(outDir, 'truth.json'), { force: true });

  const compiled = compile();
  const bin = findAnvil();
  const node = await startAnvil(bin, args.port, args.keepRunning ? path.join(outDir, 'anvil.log') : null);
  node.version = anvilVersion(bin);
  let keep = false;
  const stop = () => {
    if (keep) return;
    try {
      node.child.kill('SIGTERM');
    } catch (e) {
      /* already gone */
    }
  };
  process.on('exit', stop);
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));
  try {
    const rpc = node.rpc;
    // event topics, computed by the node (web3_sha3)
    const sigs = {
      erc20_transfer: 'Transfer(address,address,uint256)',
      erc20_approval: 'Approval(address,address,uint256)',
      mixer_deposit: 'Deposit(bytes32,uint32,uint256)',
      mixer_withdrawal: 'Withdrawal(address,bytes32,address,uint256)',
      bridge_deposit: 'Deposit(uint256,string,uint256,address,uint256)',
      router_deposit: 'Deposit(address,address,uint256,string)',
    };
    const topics = {};
    for (const [k, s] of Object.entries(sigs)) {
      topics[k] = { signature: s, topic0: await rpc.call('web3_sha3', ['0x' + Buffer.from(s).toString('hex')]) };
    }
    if (topics.erc20_transfer.topic0 !== L.TRANSFER_TOPIC) throw new Error('web3_sha3 disagrees with the Transfer topic');

    const S = await playScenario(rpc, compiled);
    S.compiled = compiled;
    const ex = await exportAll(rpc, S, outDir);

    const label = {};
    ROLES.forEach(([l, role, desc], i) => (label[S.accounts[i]] = { label: l, role, description: desc, mnemonic_index: i }));
    label[S.usdt] = { label: 'usdt', role: 'contract', description: 'TestUSDT ERC-20 (6 decimals)' };
    label[S.pool1] = { label: 'mixer_1eth', role: 'contract', description: 'MixerPool, 1 ETH denomination' };
    label[S.pool10] = { label: 'mixer_10eth', role: 'contract', description: 'MixerPool, 10 ETH denomination' };
    label[S.bridge] = { label: 'bridge', role: 'contract', description: 'Bridge (lock side)' };
    label[S.router] = { label: 'router', role: 'contract', description: 'SwapRouter (THORChain-style)' };

    const spent = new Set(S.withdrawals.map((w) => w.note));
    const stepRef = (s) => ({ step: s.step, tx_hash: s.tx_hash, block_number: s.block_number, transaction_index: s.transaction_index });
    const truth = {
      format: 'cointrail evm-node truth v1',
      generator: {
        script: 'tests/evm-node/run.js',
        node: node.version,
        node_args: node.args.map((a) => (a === String(args.port) ? '<port>' : a)),
        solc: compiled.solcVersion,
        solc_settings: { optimizer_runs: 200, evm_version: 'cancun' },
        mnemonic: MNEMONIC,
        chain_id: CHAIN_ID,
        hardfork: HARDFORK,
        genesis_timestamp: GENESIS_TS,
      },
      notes: [
        'Amounts are decimal strings: wei for ETH, base units (6 decimals) for USDT.',
        'initial_balances are the block-0 state (set with anvil_setBalance before block 1; the CSV traces carry them as genesis rows).',
        'final_balances are read from the node with eth_getBalance and balanceOf at final_block: an oracle independent of the CSVs.',
        'Every account pays fee_wei = gas_used * effective_gas_price per sent tx; the block producer (coinbase) receives gas_used * (effective_gas_price - base_fee); the rest is burnt.',
      ],
      final_block: ex.latest,
      bitcoin_chain_id: BITCOIN_CHAIN_ID.toString(),
      event_topics: topics,
      contracts: {
        usdt: { address: S.usdt, ...ex.token },
        mixer_1eth: { address: S.pool1, denomination_wei: eth('1').toString() },
        mixer_10eth: { address: S.pool10, denomination_wei: eth('10').toString() },
        bridge: { address: S.bridge },
        router: { address: S.router, vault: S.A.thor_vault },
      },
      addresses: label,
      steps: S.chain.steps,
      mixer: {
        deposits: S.deposits.map((d) => ({
          note: d.note, pool: d.pool, denomination_wei: d.denomination_wei, commitment: d.commitment, nullifier_hash: d.nullifier_hash,
          depositor: d.step.from, owner: d.owner, leaf_index: S.deposits.filter((x) => x.pool === d.pool && x.note < d.note).length,
          spent: spent.has(d.note), ...stepRef(d.step),
        })),
        withdrawals: S.withdrawals.map((w) => ({
          note: w.note, pool: w.deposit.pool, nullifier_hash: w.deposit.nullifier_hash, caller: w.step.from,
          recipient: w.recipient.toLowerCase(), relayer: w.relayer.toLowerCase(), fee_wei: w.fee.toString(),
          amount_to_recipient_wei: (BigInt(w.deposit.denomination_wei) - w.fee).toString(), owner: w.deposit.owner,
          deposit_tx_hash: w.deposit.step.tx_hash, deposit_commitment: w.deposit.commitment, ...stepRef(w.step),
        })),
        unspent_notes: S.deposits.filter((d) => !spent.has(d.note)).map((d) => ({ note: d.note, pool: d.pool, commitment: d.commitment, owner: d.owner, deposit_tx_hash: d.step.tx_hash })),
      },
      bridge_deposits: S.bridgeDeposits.map((b) => {
        const s = S.chain.steps.find((x) => x.tx_hash === b.tx_hash);
        return { ...b, block_number: s.block_number };
      }),
      swaps: S.swaps.map((w) => {
        const s = S.chain.steps.find((x) => x.tx_hash === w.tx_hash);
        return { ...w, block_number: s.block_number };
      }),
      failed_txs: S.failed.map((s) => ({
        ...stepRef(s), from: s.from, to: s.to, value_wei: s.value_wei, gas_used: s.gas_used, effective_gas_price: s.effective_gas_price,
        fee_wei: s.fee_wei, error: s.error, revert_reason: s.revert_reason, label: s.label,
      })),
      initial_balances: ex.initial,
      final_balances: ex.final,
      counts: {
        blocks: ex.counts.blocks,
        transactions: ex.counts.transactions,
        failed_transactions: S.failed.length,
        logs: ex.counts.logs,
        token_transfers: ex.counts.token_transfers,
        traces: ex.counts.traces,
        internal_value_traces: 0, // filled below
        mixer_deposits: S.deposits.length,
        mixer_withdrawals: S.withdrawals.length,
        bridge_deposits: S.bridgeDeposits.length,
        swaps: S.swaps.length,
        rpc_files: ex.rpcFiles,
      },
    };
    const traces = L.readCsvObjects(fs.readFileSync(path.join(outDir, 'traces.csv'), 'utf8')).rows;
    truth.counts.internal_value_traces = traces.filter((r) => r.trace_address !== '' && r.value !== '' && BigInt(r.value) > 0n && r.status === '1').length;
    fs.writeFileSync(path.join(outDir, 'truth.json'), JSON.stringify(truth, (k, v) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n');

    const secs = ((Date.now() - started) / 1000).toFixed(1);
    console.log(`wrote ${outDir}: ${JSON.stringify(truth.counts)} in ${secs}s`);
    if (args.keepRunning) {
      // the caller stops the node: kill $(cat DIR/anvil.pid)
      fs.writeFileSync(path.join(outDir, 'anvil.pid'), `${node.child.pid}\n`);
      node.child.unref();
      keep = true;
      console.log(`node left running: pid ${node.child.pid}, http://127.0.0.1:${args.port}`);
    }
  } finally {
    stop();
  }
}

main().catch((e) => {
  console.error('run.js: ' + (e.stack || e.message));
  process.exit(1);
});
