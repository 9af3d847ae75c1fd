#!/usr/bin/env node
'use strict';
// Independent checks of what run.js wrote:   node selftest.js DIR
//
//  - the CSV headers are ethereum-etl's (and equal the fixtures' when
//    ETHEREUM_ETL_FIXTURES points at the ethereum-etl fixture folder);
//  - every block / tx / receipt / log in the CSVs is in rpc/ and vice versa;
//  - token_transfers.csv is exactly the ERC-20 Transfer logs;
//  - traces.csv (from trace_block) agrees with the callTracer recordings;
//  - per-address ETH balances recomputed from the CSVs (genesis rows +
//    successful value traces - fees + priority fees to the coinbase) and
//    recomputed again from the callTracer JSON equal eth_getBalance in
//    truth.json; USDT balances from token_transfers.csv equal balanceOf;
//  - the mixer deposits/withdrawals, bridge deposits, swaps and failed txs of
//    truth.json are what the logs and traces say.
// Exits 1 on any mismatch. Prints "N passed, N failed" as its last line.

const fs = require('fs');
const path = require('path');
const L = require('./lib');

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node selftest.js DIR');
  process.exit(2);
}

let passed = 0;
let failed = 0;
const problems = [];
function check(name, fn) {
  const errs = [];
  const fail = (msg) => {
    if (errs.length < 20) errs.push(msg);
    else if (errs.length === 20) errs.push('... (more)');
  };
  try {
    fn(fail);
  } catch (e) {
    errs.push('exception: ' + (e.stack || e.message));
  }
  if (errs.length) {
    failed++;
    problems.push(name);
    console.log(`FAIL ${name}`);
    for (const e of errs) console.log('    ' + e);
  } else {
    passed++;
    console.log(`ok   ${name}`);
  }
}

// ---------------------------------------------------------------- load

const readText = (f) => fs.readFileSync(path.join(dir, f), 'utf8');
const csv = {};
for (const n of ['blocks', 'transactions', 'transactions_enriched', 'receipts', 'logs', 'token_transfers', 'traces', 'tokens']) {
  csv[n] = L.readCsvObjects(readText(n + '.csv'));
}
const truth = JSON.parse(readText('truth.json'));
const rpcDir = path.join(dir, 'rpc');
const index = JSON.parse(fs.readFileSync(path.join(rpcDir, 'index.json'), 'utf8'));
const rpcByKey = new Map(); // method + JSON(params) -> response
for (const e of index) {
  const f = path.join(rpcDir, e.file);
  if (fs.existsSync(f)) rpcByKey.set(e.method + JSON.stringify(e.params), JSON.parse(fs.readFileSync(f, 'utf8')));
}
const rpc = (method, params) => {
  const r = rpcByKey.get(method + JSON.stringify(params));
  if (!r) throw new Error(`no recorded response for ${method} ${JSON.stringify(params)}`);
  if (r.error) throw new Error(`recorded error for ${method}: ${JSON.stringify(r.error)}`);
  return r.result;
};
const hx = (n) => '0x' + BigInt(n).toString(16);
const big = (s) => (s === '' || s === null || s === undefined ? 0n : BigInt(s));
const lc = (a) => (a ? a.toLowerCase() : '');
const ZERO = '0x0000000000000000000000000000000000000000';

// ---------------------------------------------------------------- checks

check('CSV headers are ethereum-etl column lists', (fail) => {
  for (const [n, t] of Object.entries(csv)) {
    if (t.header.join(',') !== L.HEADERS[n]) fail(`${n}.csv header ${t.header.join(',')}`);
  }
  const fx = process.env.ETHEREUM_ETL_FIXTURES;
  if (fx) {
    const files = {
      blocks: 'test_export_blocks_job/block_with_logs/expected_blocks.csv',
      transactions: 'test_export_blocks_job/block_with_logs/expected_transactions.csv',
      receipts: 'test_export_receipts_job/receipts_with_logs/expected_receipts.csv',
      logs: 'test_export_receipts_job/receipts_with_logs/expected_logs.csv',
      token_transfers: 'test_export_token_transfers_job/block_with_transfers/expected_token_transfers.csv',
      traces: 'test_export_traces_job/block_with_error/expected_traces.csv',
      tokens: 'test_export_tokens_job/token_with_invalid_data/expected_tokens.csv',
    };
    for (const [n, f] of Object.entries(files)) {
      const h = fs.readFileSync(path.join(fx, f), 'utf8').split('\n')[0].trim();
      if (h !== csv[n].header.join(',')) fail(`${n}.csv header differs from fixture ${f}`);
    }
  }
});

check('rpc/index.json files exist and none is an error', (fail) => {
  for (const e of index) {
    if (!fs.existsSync(path.join(rpcDir, e.file))) fail(`missing ${e.file}`);
    if (e.error) fail(`recorded error ${e.method} ${JSON.stringify(e.params)}`);
  }
  const onDisk = fs.readdirSync(rpcDir).filter((f) => f !== 'index.json');
  if (onDisk.length !== index.length) fail(`${onDisk.length} files on disk, ${index.length} in index.json`);
});

const blocksRpc = [];
check('blocks.csv = eth_getBlockByNumber responses', (fail) => {
  const rows = csv.blocks.rows;
  if (rows.length !== truth.final_block + 1) fail(`blocks.csv has ${rows.length} rows, final_block ${truth.final_block}`);
  rows.forEach((r, i) => {
    if (r.number !== String(i)) fail(`row ${i} number ${r.number}`);
    const b = rpc('eth_getBlockByNumber', [hx(r.number), true]);
    blocksRpc[i] = b;
    const want = {
      hash: b.hash, parent_hash: b.parentHash, miner: lc(b.miner), timestamp: BigInt(b.timestamp).toString(),
      transaction_count: String(b.transactions.length), gas_used: BigInt(b.gasUsed).toString(),
      base_fee_per_gas: BigInt(b.baseFeePerGas).toString(), state_root: b.stateRoot, logs_bloom: b.logsBloom,
    };
    for (const [k, v] of Object.entries(want)) if (r[k] !== v) fail(`block ${r.number} ${k}: csv ${r[k]} rpc ${v}`);
    if (i > 0 && r.parent_hash !== rows[i - 1].hash) fail(`block ${i} parent hash chain broken`);
  });
});

const txByHash = new Map(csv.transactions.rows.map((r) => [r.hash, r]));
const rcByHash = new Map(csv.receipts.rows.map((r) => [r.transaction_hash, r]));
const blockByNo = new Map(csv.blocks.rows.map((r) => [r.number, r]));

check('every transactions.csv row is in rpc/ (block, receipt, block receipts, callTracer) and vice versa', (fail) => {
  let nRpc = 0;
  for (const b of blocksRpc) {
    for (const t of b.transactions) {
      nRpc++;
      const r = txByHash.get(t.hash);
      if (!r) {
        fail(`rpc tx ${t.hash} not in transactions.csv`);
        continue;
      }
      const want = {
        nonce: BigInt(t.nonce).toString(), block_hash: t.blockHash, block_number: BigInt(t.blockNumber).toString(),
        transaction_index: BigInt(t.transactionIndex).toString(), from_address: lc(t.from), to_address: lc(t.to),
        value: BigInt(t.value).toString(), gas: BigInt(t.gas).toString(), gas_price: BigInt(t.gasPrice).toString(),
        input: t.input, block_timestamp: BigInt(b.timestamp).toString(), transaction_type: BigInt(t.type).toString(),
        max_fee_per_gas: t.maxFeePerGas ? BigInt(t.maxFeePerGas).toString() : '',
        max_priority_fee_per_gas: t.maxPriorityFeePerGas ? BigInt(t.maxPriorityFeePerGas).toString() : '',
      };
      for (const [k, v] of Object.entries(want)) if (r[k] !== v) fail(`tx ${t.hash} ${k}: csv ${r[k]} rpc ${v}`);
    }
  }
  if (nRpc !== csv.transactions.rows.length) fail(`${csv.transactions.rows.length} csv txs, ${nRpc} in rpc blocks`);
  for (const r of csv.transactions.rows) {
    const rc = rpc('eth_getTransactionReceipt', [r.hash]);
    const br = rpc('eth_getBlockReceipts', [hx(r.block_number)]).find((x) => x.transactionHash === r.hash);
    if (!br) fail(`tx ${r.hash} missing from eth_getBlockReceipts`);
    else if (JSON.stringify(br) !== JSON.stringify(rc)) fail(`tx ${r.hash}: eth_getBlockReceipts and eth_getTransactionReceipt differ`);
    rpc('debug_traceTransaction', [r.hash, { tracer: 'callTracer' }]);
    const c = rcByHash.get(r.hash);
    if (!c) {
      fail(`tx ${r.hash} has no receipts.csv row`);
      continue;
    }
    const want = {
      transaction_index: BigInt(rc.transactionIndex).toString(), block_hash: rc.blockHash, block_number: BigInt(rc.blockNumber).toString(),
      cumulative_gas_used: BigInt(rc.cumulativeGasUsed).toString(), gas_used: BigInt(rc.gasUsed).toString(),
      contract_address: lc(rc.contractAddress), status: BigInt(rc.status).toString(), effective_gas_price: BigInt(rc.effectiveGasPrice).toString(),
    };
    for (const [k, v] of Object.entries(want)) if (c[k] !== v) fail(`receipt ${r.hash} ${k}: csv ${c[k]} rpc ${v}`);
  }
  if (csv.receipts.rows.length !== csv.transactions.rows.length) fail('receipts.csv and transactions.csv row counts differ');
});

check('transactions_enriched.csv = transactions.csv + receipt columns', (fail) => {
  const rows = csv.transactions_enriched.rows;
  if (rows.length !== csv.transactions.rows.length) fail('row count');
  rows.forEach((e, i) => {
    const t = csv.transactions.rows[i];
    const c = rcByHash.get(e.hash);
    for (const k of csv.transactions.header) if (e[k] !== t[k]) fail(`${e.hash} ${k}`);
    const m = { receipt_cumulative_gas_used: 'cumulative_gas_used', receipt_gas_used: 'gas_used', receipt_contract_address: 'contract_address', receipt_root: 'root', receipt_status: 'status', receipt_effective_gas_price: 'effective_gas_price' };
    for (const [k, v] of Object.entries(m)) if (e[k] !== c[v]) fail(`${e.hash} ${k}`);
  });
});

check('logs.csv = the logs of the recorded receipts', (fail) => {
  const want = [];
  for (const r of csv.transactions.rows) {
    for (const lg of rpc('eth_getTransactionReceipt', [r.hash]).logs) {
      want.push([BigInt(lg.logIndex).toString(), lg.transactionHash, BigInt(lg.transactionIndex).toString(), lg.blockHash, BigInt(lg.blockNumber).toString(), lc(lg.address), lg.data, lg.topics.join(',')].join('|'));
    }
  }
  const got = csv.logs.rows.map((r) => csv.logs.header.map((h) => r[h]).join('|'));
  if (got.length !== want.length) fail(`${got.length} csv logs, ${want.length} rpc logs`);
  want.forEach((w, i) => {
    if (got[i] !== w) fail(`log ${i}: csv ${got[i]} rpc ${w}`);
  });
});

check('token_transfers.csv = the ERC-20 Transfer logs', (fail) => {
  const want = [];
  for (const lg of csv.logs.rows) {
    const topics = lg.topics.split(',');
    if (topics[0] !== truth.event_topics.erc20_transfer.topic0) continue;
    if (topics.length !== 3 || lg.data.length !== 66) {
      fail(`Transfer log ${lg.transaction_hash}/${lg.log_index} is not ERC-20 shaped`);
      continue;
    }
    want.push([lg.address, L.topicToAddress(topics[1]), L.topicToAddress(topics[2]), BigInt(lg.data).toString(), lg.transaction_hash, lg.log_index, lg.block_number].join('|'));
  }
  const got = csv.token_transfers.rows.map((r) => csv.token_transfers.header.map((h) => r[h]).join('|'));
  if (got.length !== want.length) fail(`${got.length} transfers, ${want.length} Transfer logs`);
  want.forEach((w, i) => {
    if (got[i] !== w) fail(`transfer ${i}: csv ${got[i]} log ${w}`);
  });
  for (const r of csv.token_transfers.rows) {
    const t = txByHash.get(r.transaction_hash);
    if (!t) fail(`transfer in unknown tx ${r.transaction_hash}`);
    else if (rcByHash.get(r.transaction_hash).status !== '1') fail(`transfer in failed tx ${r.transaction_hash}`);
  }
});

// callTracer tree -> flat list in trace_address order
function flattenCall(frame, addr = [], parentFailed = false, out = []) {
  const failedHere = parentFailed || !!frame.error;
  out.push({ addr: addr.join(','), type: frame.type, from: lc(frame.from), to: lc(frame.to), value: big(frame.value), failed: failedHere, error: frame.error || '' });
  (frame.calls || []).forEach((c, i) => flattenCall(c, addr.concat([i]), failedHere, out));
  return out;
}
const txTraceRows = csv.traces.rows.filter((r) => r.transaction_hash !== '');

check('traces.csv (trace_block) agrees with debug_traceTransaction callTracer', (fail) => {
  const byTx = new Map();
  for (const r of txTraceRows) {
    if (!byTx.has(r.transaction_hash)) byTx.set(r.transaction_hash, []);
    byTx.get(r.transaction_hash).push(r);
  }
  for (const t of csv.transactions.rows) {
    const rows = byTx.get(t.hash) || [];
    const flat = flattenCall(rpc('debug_traceTransaction', [t.hash, { tracer: 'callTracer' }]));
    if (rows.length !== flat.length) {
      fail(`${t.hash}: ${rows.length} trace rows, ${flat.length} callTracer frames`);
      continue;
    }
    flat.forEach((f, i) => {
      const r = rows[i];
      const type = f.type.toLowerCase();
      const isCreate = type === 'create' || type === 'create2';
      if (r.trace_address !== f.addr) fail(`${t.hash} frame ${i}: trace_address ${r.trace_address} vs ${f.addr}`);
      if (r.trace_type !== (isCreate ? 'create' : 'call')) fail(`${t.hash} frame ${i}: trace_type ${r.trace_type} vs ${type}`);
      if (!isCreate && r.call_type !== type) fail(`${t.hash} frame ${i}: call_type ${r.call_type} vs ${type}`);
      if (r.from_address !== f.from || r.to_address !== f.to) fail(`${t.hash} frame ${i}: ${r.from_address}->${r.to_address} vs ${f.from}->${f.to}`);
      if (big(r.value) !== f.value) fail(`${t.hash} frame ${i}: value ${r.value} vs ${f.value}`);
      if ((r.status === '0') !== f.failed) fail(`${t.hash} frame ${i}: status ${r.status} vs callTracer failed=${f.failed}`);
      if (r.trace_id !== `${r.trace_type}_${t.hash}_${f.addr.split(',').filter(Boolean).join('_')}`) fail(`${t.hash} frame ${i}: trace_id ${r.trace_id}`);
      if (r.block_number !== t.block_number || r.transaction_index !== t.transaction_index) fail(`${t.hash} frame ${i}: block/index`);
    });
    const root = rows[0];
    if (root && (root.from_address !== t.from_address || big(root.value) !== big(t.value))) fail(`${t.hash}: root trace differs from the tx`);
    if (root && (root.status === '1') !== (rcByHash.get(t.hash).status === '1')) fail(`${t.hash}: root trace status vs receipt status`);
  }
  for (const h of byTx.keys()) if (!txByHash.has(h)) fail(`traces for unknown tx ${h}`);
});

// fees paid per sender, priority fees per coinbase
function feeFlows() {
  const fees = new Map();
  const add = (m, a, v) => m.set(a, (m.get(a) || 0n) + v);
  for (const t of csv.transactions.rows) {
    const c = rcByHash.get(t.hash);
    const fee = big(c.gas_used) * big(c.effective_gas_price);
    add(fees, t.from_address, -fee);
    const b = blockByNo.get(t.block_number);
    add(fees, b.miner, big(c.gas_used) * (big(c.effective_gas_price) - big(b.base_fee_per_gas)));
  }
  return fees;
}
const VALUE_CALLS = new Set(['call', 'create', 'create2', 'suicide', 'selfdestruct']);

check('ETH balances from the CSVs (genesis + traces - fees + tips) = eth_getBalance', (fail) => {
  const bal = new Map();
  const add = (a, v) => bal.set(a, (bal.get(a) || 0n) + v);
  for (const r of csv.traces.rows) {
    if (r.status !== '1' || big(r.value) === 0n) continue;
    if (r.trace_type === 'genesis') {
      add(r.to_address, big(r.value));
      continue;
    }
    const kind = r.trace_type === 'call' ? r.call_type : r.trace_type;
    if (!VALUE_CALLS.has(kind)) continue;
    add(r.from_address, -big(r.value));
    add(r.to_address, big(r.value));
  }
  for (const [a, v] of feeFlows()) add(a, v);
  for (const [a, v] of Object.entries(truth.final_balances)) {
    const got = bal.get(a) || 0n;
    if (got !== BigInt(v.eth_wei)) fail(`${a} (${(truth.addresses[a] || {}).label}): csv ${got} node ${v.eth_wei}`);
  }
  for (const [a, v] of bal) if (v !== 0n && !truth.final_balances[a]) fail(`${a} has ${v} wei in the CSVs but no oracle balance`);
  for (const [a, v] of Object.entries(truth.initial_balances)) {
    const g = csv.traces.rows.filter((r) => r.trace_type === 'genesis' && r.to_address === a).reduce((s, r) => s + big(r.value), 0n);
    if (g !== BigInt(v.eth_wei)) fail(`${a}: genesis rows ${g} vs initial balance ${v.eth_wei}`);
  }
});

check('ETH balances from the callTracer JSON + receipts JSON = eth_getBalance', (fail) => {
  const bal = new Map();
  const add = (a, v) => bal.set(a, (bal.get(a) || 0n) + v);
  for (const [a, v] of Object.entries(truth.initial_balances)) {
    const g = BigInt(rpc('eth_getBalance', [a, '0x0']));
    if (g !== BigInt(v.eth_wei)) fail(`${a}: recorded block-0 balance ${g} vs truth ${v.eth_wei}`);
    add(a, g);
  }
  for (const b of blocksRpc) {
    for (const t of b.transactions) {
      const rc = rpc('eth_getTransactionReceipt', [t.hash]);
      const fee = BigInt(rc.gasUsed) * BigInt(rc.effectiveGasPrice);
      add(lc(t.from), -fee);
      add(lc(b.miner), BigInt(rc.gasUsed) * (BigInt(rc.effectiveGasPrice) - BigInt(b.baseFeePerGas)));
      for (const f of flattenCall(rpc('debug_traceTransaction', [t.hash, { tracer: 'callTracer' }]))) {
        const type = f.type.toLowerCase();
        if (f.failed || f.value === 0n || type === 'delegatecall' || type === 'staticcall' || type === 'callcode') continue;
        const to = type.startsWith('create') && !f.to ? lc(rc.contractAddress) : f.to;
        add(f.from, -f.value);
        add(to, f.value);
      }
    }
  }
  const last = hx(truth.final_block);
  for (const [a, v] of Object.entries(truth.final_balances)) {
    const got = bal.get(a) || 0n;
    if (got !== BigInt(v.eth_wei)) fail(`${a}: callTracer ${got} node ${v.eth_wei}`);
    if (BigInt(rpc('eth_getBalance', [a, last])) !== BigInt(v.eth_wei)) fail(`${a}: truth.json and recorded eth_getBalance differ`);
  }
});

check('USDT balances from token_transfers.csv = balanceOf; tokens.csv', (fail) => {
  const tok = truth.contracts.usdt.address;
  const bal = new Map();
  const add = (a, v) => bal.set(a, (bal.get(a) || 0n) + v);
  let minted = 0n;
  for (const r of csv.token_transfers.rows) {
    if (r.token_address !== tok) fail(`unexpected token ${r.token_address}`);
    if (r.from_address === ZERO) minted += big(r.value);
    else add(r.from_address, -big(r.value));
    add(r.to_address, big(r.value));
  }
  for (const [a, v] of Object.entries(truth.final_balances)) {
    if ((bal.get(a) || 0n) !== BigInt(v.usdt_units)) fail(`${a}: transfers ${bal.get(a) || 0n} balanceOf ${v.usdt_units}`);
  }
  for (const [a, v] of bal) if (v < 0n) fail(`${a} negative USDT ${v}`);
  const t = csv.tokens.rows;
  if (t.length !== 1) fail(`tokens.csv rows ${t.length}`);
  else {
    if (t[0].address !== tok || t[0].decimals !== '6' || t[0].symbol !== 'USDT') fail(`tokens.csv row ${JSON.stringify(t[0])}`);
    if (big(t[0].total_supply) !== minted) fail(`total_supply ${t[0].total_supply} != minted ${minted}`);
  }
});

const logsOf = (h) => csv.logs.rows.filter((r) => r.transaction_hash === h);
const topicsOf = (lg) => lg.topics.split(',');
const valueTraces = (h) => txTraceRows.filter((r) => r.transaction_hash === h && r.status === '1' && big(r.value) > 0n);

check('truth steps are the transactions (status, block, sender)', (fail) => {
  if (truth.steps.length !== csv.transactions.rows.length) fail(`${truth.steps.length} steps, ${csv.transactions.rows.length} txs`);
  for (const s of truth.steps) {
    const t = txByHash.get(s.tx_hash);
    if (!t) {
      fail(`step ${s.step} tx ${s.tx_hash} missing`);
      continue;
    }
    if (t.from_address !== s.from || t.to_address !== (s.to || '') || t.value !== s.value_wei || t.block_number !== String(s.block_number)) fail(`step ${s.step} differs from its tx`);
    if (rcByHash.get(s.tx_hash).status !== String(s.status)) fail(`step ${s.step} status`);
    if (big(rcByHash.get(s.tx_hash).gas_used) * big(rcByHash.get(s.tx_hash).effective_gas_price) !== BigInt(s.fee_wei)) fail(`step ${s.step} fee`);
  }
});

check('mixer deposits and withdrawals match the Deposit/Withdrawal logs and internal transfers', (fail) => {
  const T = truth.event_topics;
  const pools = new Set([truth.contracts.mixer_1eth.address, truth.contracts.mixer_10eth.address]);
  let nDep = 0;
  let nWd = 0;
  for (const lg of csv.logs.rows) {
    if (!pools.has(lg.address)) continue;
    if (topicsOf(lg)[0] === T.mixer_deposit.topic0) nDep++;
    else if (topicsOf(lg)[0] === T.mixer_withdrawal.topic0) nWd++;
    else fail(`unexpected pool log ${lg.topics}`);
  }
  if (nDep !== truth.mixer.deposits.length) fail(`${nDep} Deposit logs, truth ${truth.mixer.deposits.length}`);
  if (nWd !== truth.mixer.withdrawals.length) fail(`${nWd} Withdrawal logs, truth ${truth.mixer.withdrawals.length}`);
  for (const d of truth.mixer.deposits) {
    const lg = logsOf(d.tx_hash).find((l) => l.address === d.pool && topicsOf(l)[0] === T.mixer_deposit.topic0);
    if (!lg) {
      fail(`deposit note ${d.note}: no Deposit log`);
      continue;
    }
    const [leaf, ts] = L.decode(['uint32', 'uint256'], lg.data);
    if (topicsOf(lg)[1] !== d.commitment) fail(`note ${d.note}: commitment`);
    if (leaf !== BigInt(d.leaf_index)) fail(`note ${d.note}: leaf ${leaf} vs ${d.leaf_index}`);
    if (ts.toString() !== blockByNo.get(lg.block_number).timestamp) fail(`note ${d.note}: timestamp`);
    const t = txByHash.get(d.tx_hash);
    if (t.to_address !== d.pool || t.value !== d.denomination_wei || t.from_address !== d.depositor) fail(`note ${d.note}: deposit tx`);
  }
  for (const w of truth.mixer.withdrawals) {
    const lg = logsOf(w.tx_hash).find((l) => l.address === w.pool && topicsOf(l)[0] === T.mixer_withdrawal.topic0);
    if (!lg) {
      fail(`withdrawal note ${w.note}: no Withdrawal log`);
      continue;
    }
    const [to, nh, fee] = L.decode(['address', 'bytes32', 'uint256'], lg.data);
    if (to !== w.recipient || nh !== w.nullifier_hash || fee.toString() !== w.fee_wei || L.topicToAddress(topicsOf(lg)[1]) !== w.relayer) fail(`note ${w.note}: Withdrawal log fields`);
    const dep = truth.mixer.deposits.find((d) => d.note === w.note);
    if (!dep || dep.tx_hash !== w.deposit_tx_hash || dep.pool !== w.pool || !dep.spent) fail(`note ${w.note}: deposit link`);
    const vt = valueTraces(w.tx_hash).filter((r) => r.trace_address !== '');
    const toRecipient = vt.find((r) => r.from_address === w.pool && r.to_address === w.recipient && r.value === w.amount_to_recipient_wei);
    if (!toRecipient) fail(`note ${w.note}: no internal transfer pool -> recipient of ${w.amount_to_recipient_wei}`);
    if (BigInt(w.fee_wei) > 0n && !vt.find((r) => r.from_address === w.pool && r.to_address === w.relayer && r.value === w.fee_wei)) fail(`note ${w.note}: no relayer fee transfer`);
    if (BigInt(w.amount_to_recipient_wei) + BigInt(w.fee_wei) !== BigInt(dep ? dep.denomination_wei : 0)) fail(`note ${w.note}: amounts`);
  }
  // pool balance = unspent notes
  for (const p of pools) {
    const unspent = truth.mixer.unspent_notes.filter((n) => n.pool === p).length;
    const denom = BigInt(p === truth.contracts.mixer_1eth.address ? truth.contracts.mixer_1eth.denomination_wei : truth.contracts.mixer_10eth.denomination_wei);
    if (BigInt(truth.final_balances[p].eth_wei) !== denom * BigInt(unspent)) fail(`pool ${p}: balance vs ${unspent} unspent notes`);
  }
});

check('bridge deposits match the bridge Deposit logs (bech32 recipients valid)', (fail) => {
  const T = truth.event_topics;
  const br = truth.contracts.bridge.address;
  const logs = csv.logs.rows.filter((l) => l.address === br);
  if (logs.length !== truth.bridge_deposits.length) fail(`${logs.length} bridge logs, truth ${truth.bridge_deposits.length}`);
  for (const d of truth.bridge_deposits) {
    const lg = logsOf(d.tx_hash).find((l) => l.address === br && topicsOf(l)[0] === T.bridge_deposit.topic0);
    if (!lg) {
      fail(`bridge nonce ${d.nonce}: no log`);
      continue;
    }
    const [destChain, recipient, nonce, token, amount] = L.decode(['uint256', 'string', 'uint256', 'address', 'uint256'], lg.data);
    if (destChain.toString() !== d.dest_chain || recipient !== d.recipient || nonce.toString() !== d.nonce || token !== d.token || amount.toString() !== d.amount) fail(`bridge nonce ${d.nonce}: log fields ${destChain} ${recipient} ${nonce} ${token} ${amount}`);
    if (d.dest_chain === truth.bitcoin_chain_id && !L.segwitDecode(d.recipient)) fail(`bridge nonce ${d.nonce}: ${d.recipient} is not a valid bech32 address`);
    const t = txByHash.get(d.tx_hash);
    if (d.token === ZERO) {
      if (t.value !== d.amount || t.to_address !== br) fail(`bridge nonce ${d.nonce}: ETH value`);
    } else if (!csv.token_transfers.rows.find((x) => x.transaction_hash === d.tx_hash && x.to_address === br && x.value === d.amount && x.token_address === d.token)) {
      fail(`bridge nonce ${d.nonce}: no token transfer into the bridge`);
    }
  }
});

check('router swaps match the THORChain-style Deposit logs and the internal transfer to the vault', (fail) => {
  const T = truth.event_topics;
  const router = truth.contracts.router.address;
  const vault = truth.contracts.router.vault;
  const logs = csv.logs.rows.filter((l) => l.address === router);
  if (logs.length !== truth.swaps.length) fail(`${logs.length} router logs, truth ${truth.swaps.length}`);
  for (const s of truth.swaps) {
    const lg = logsOf(s.tx_hash).find((l) => l.address === router && topicsOf(l)[0] === T.router_deposit.topic0);
    if (!lg) {
      fail(`swap ${s.tx_hash}: no log`);
      continue;
    }
    const [amount, memo] = L.decode(['uint256', 'string'], lg.data);
    if (L.topicToAddress(topicsOf(lg)[1]) !== vault || L.topicToAddress(topicsOf(lg)[2]) !== s.asset) fail(`swap ${s.tx_hash}: indexed to/asset`);
    if (amount.toString() !== s.amount || memo !== s.memo) fail(`swap ${s.tx_hash}: amount/memo`);
    const parts = memo.split(':');
    if (!['SWAP', '=', 's', 'S'].includes(parts[0]) || parts[1] !== s.dest_asset || parts[2] !== s.dest_address) fail(`swap ${s.tx_hash}: memo parse ${memo}`);
    if (s.dest_asset === 'BTC.BTC' && !L.segwitDecode(s.dest_address)) fail(`swap ${s.tx_hash}: ${s.dest_address} is not valid bech32`);
    if (!valueTraces(s.tx_hash).find((r) => r.trace_address !== '' && r.from_address === router && r.to_address === vault && r.value === s.amount)) fail(`swap ${s.tx_hash}: no internal router -> vault transfer`);
  }
});

check('failed txs: status 0, fee paid, no value moved, no logs', (fail) => {
  const failedCsv = csv.receipts.rows.filter((r) => r.status === '0').map((r) => r.transaction_hash).sort();
  const failedTruth = truth.failed_txs.map((f) => f.tx_hash).sort();
  if (JSON.stringify(failedCsv) !== JSON.stringify(failedTruth)) fail(`failed txs csv ${failedCsv} truth ${failedTruth}`);
  if (failedTruth.length < 1) fail('no failed tx in the scenario');
  for (const f of truth.failed_txs) {
    if (logsOf(f.tx_hash).length) fail(`${f.tx_hash}: has logs`);
    if (valueTraces(f.tx_hash).length) fail(`${f.tx_hash}: has successful value traces`);
    const rows = txTraceRows.filter((r) => r.transaction_hash === f.tx_hash);
    if (!rows.length || rows.some((r) => r.status !== '0') || !rows[0].error) fail(`${f.tx_hash}: trace status/error`);
    if (BigInt(f.fee_wei) <= 0n) fail(`${f.tx_hash}: no fee`);
  }
});

check('truth counts = CSV row counts; scenario has the required parts', (fail) => {
  const c = truth.counts;
  const eq = (k, v) => {
    if (c[k] !== v) fail(`counts.${k} ${c[k]} vs ${v}`);
  };
  eq('blocks', csv.blocks.rows.length);
  eq('transactions', csv.transactions.rows.length);
  eq('logs', csv.logs.rows.length);
  eq('token_transfers', csv.token_transfers.rows.length);
  eq('traces', csv.traces.rows.length);
  eq('mixer_deposits', truth.mixer.deposits.length);
  eq('mixer_withdrawals', truth.mixer.withdrawals.length);
  eq('bridge_deposits', truth.bridge_deposits.length);
  eq('swaps', truth.swaps.length);
  eq('rpc_files', index.length);
  const internal = txTraceRows.filter((r) => r.trace_address !== '' && big(r.value) > 0n && r.status === '1').length;
  eq('internal_value_traces', internal);
  if (internal < 1) fail('no internal value transfer');
  if (!truth.mixer.withdrawals.some((w) => BigInt(w.fee_wei) > 0n)) fail('no relayed withdrawal');
  if (!truth.swaps.some((s) => s.memo.startsWith('SWAP:BTC.BTC:')) || !truth.swaps.some((s) => /^=:BTC\.BTC:[^:]+:\d/.test(s.memo))) fail('missing a memo form');
  if (!Object.values(truth.addresses).some((a) => a.role === 'innocent')) fail('no background activity');
});

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
