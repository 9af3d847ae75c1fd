#!/usr/bin/env node
'use strict';
// Checks that selftest.js notices corruption:   node mutations.js DIR
// Copies DIR (a run.js output that passes selftest) to a temporary folder once
// per mutation, breaks one thing, and expects selftest.js to exit 1.

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const src = process.argv[2];
if (!src) {
  console.error('usage: node mutations.js DIR');
  process.exit(2);
}
const selftest = path.join(__dirname, 'selftest.js');
const truth = JSON.parse(fs.readFileSync(path.join(src, 'truth.json'), 'utf8'));
const failedTx = truth.failed_txs[0].tx_hash;
const withdrawal = truth.mixer.withdrawals[0];

const edit = (dir, file, fn) => {
  const p = path.join(dir, file);
  const before = fs.readFileSync(p, 'utf8');
  const after = fn(before);
  if (after === before) throw new Error(`mutation did not change ${file}`);
  fs.writeFileSync(p, after);
};
const editLines = (dir, file, fn) => edit(dir, file, (t) => t.split('\n').map(fn).join('\n'));
const editJson = (dir, file, fn) => edit(dir, file, (t) => {
  const j = JSON.parse(t);
  fn(j);
  return JSON.stringify(j, null, 2) + '\n';
});

const mutations = {
  'internal transfer value +1 wei in traces.csv': (d) =>
    editLines(d, 'traces.csv', (l) => (l.startsWith(String(withdrawal.block_number) + ',' + withdrawal.tx_hash) && l.includes(',' + withdrawal.amount_to_recipient_wei + ',') ? l.replace(',' + withdrawal.amount_to_recipient_wei + ',', ',' + (BigInt(withdrawal.amount_to_recipient_wei) + 1n) + ',') : l)),
  'one token transfer row dropped': (d) => edit(d, 'token_transfers.csv', (t) => t.split('\n').filter((_, i) => i !== 3).join('\n')),
  'oracle balance +1 wei in truth.json': (d) => editJson(d, 'truth.json', (j) => {
    const a = Object.keys(j.final_balances)[2];
    j.final_balances[a].eth_wei = (BigInt(j.final_balances[a].eth_wei) + 1n).toString();
  }),
  'a receipt file deleted from rpc/': (d) => fs.rmSync(path.join(d, 'rpc', fs.readdirSync(path.join(d, 'rpc')).find((f) => f.includes('eth_getTransactionReceipt')))),
  'effective gas price changed in receipts.csv': (d) =>
    editLines(d, 'receipts.csv', (l, i) => {
      if (i !== 5) return l;
      const f = l.split(',');
      f[9] = String(BigInt(f[9]) + 1n);
      return f.join(',');
    }),
  'failed tx marked successful in receipts.csv': (d) =>
    editLines(d, 'receipts.csv', (l) => {
      if (!l.startsWith(failedTx)) return l;
      const f = l.split(',');
      f[8] = '1';
      return f.join(',');
    }),
  'a transaction row dropped': (d) => edit(d, 'transactions.csv', (t) => t.split('\n').filter((l) => !l.startsWith(failedTx)).join('\n')),
  'bridge recipient changed in truth.json': (d) => editJson(d, 'truth.json', (j) => {
    j.bridge_deposits[0].recipient = j.bridge_deposits[0].recipient.slice(0, -1) + (j.bridge_deposits[0].recipient.endsWith('q') ? 'p' : 'q');
  }),
  'mixer withdrawal linked to the wrong deposit': (d) => editJson(d, 'truth.json', (j) => {
    const other = j.mixer.deposits.find((x) => x.note !== j.mixer.withdrawals[0].note);
    j.mixer.withdrawals[0].deposit_tx_hash = other.tx_hash;
  }),
  'genesis value changed in traces.csv': (d) =>
    editLines(d, 'traces.csv', (l) => {
      if (!l.endsWith(',genesis_0_0')) return l;
      const f = l.split(',');
      f[5] = String(BigInt(f[5]) + 1n);
      return f.join(',');
    }),
  'swap memo changed in truth.json': (d) => editJson(d, 'truth.json', (j) => {
    j.swaps[0].memo = j.swaps[0].memo.replace('BTC.BTC', 'ETH.ETH');
  }),
};

let passed = 0;
let failed = 0;
for (const [name, fn] of Object.entries(mutations)) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'evmnode-mut-'));
  try {
    fs.cpSync(src, tmp, { recursive: true });
    fn(tmp);
    const r = spawnSync(process.execPath, [selftest, tmp], { encoding: 'utf8' });
    if (r.status === 1) {
      passed++;
      const n = (r.stdout.match(/^FAIL /gm) || []).length;
      console.log(`ok   ${name} (selftest: ${n} failing checks)`);
    } else {
      failed++;
      console.log(`FAIL ${name}: selftest exited ${r.status}`);
    }
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e.message}`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
