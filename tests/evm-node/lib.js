'use strict';
// Small helpers shared by run.js and selftest.js: JSON-RPC over fetch,
// a minimal ABI encoder/decoder, bech32/bech32m, CSV writing and reading.
// No third-party code: only Node.js built-ins.

// ---------------------------------------------------------------- JSON-RPC

class RpcClient {
  constructor(url) {
    this.url = url;
    this.nextId = 1;
  }

  // Returns the whole JSON-RPC response object ({jsonrpc, id, result|error}).
  async raw(method, params = []) {
    const body = JSON.stringify({ jsonrpc: '2.0', id: this.nextId++, method, params });
    const res = await fetch(this.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    if (!res.ok) throw new Error(`${method}: HTTP ${res.status}`);
    return res.json();
  }

  async call(method, params = []) {
    const r = await this.raw(method, params);
    if (r.error) {
      const e = new Error(`${method} failed: ${JSON.stringify(r.error)}`);
      e.rpcError = r.error;
      throw e;
    }
    return r.result;
  }
}

// ---------------------------------------------------------------- numbers

const hexToBig = (h) => (h === null || h === undefined ? null : BigInt(h));
const hexToDec = (h) => (h === null || h === undefined || h === '' ? '' : BigInt(h).toString(10));
const toHex = (n) => '0x' + BigInt(n).toString(16);
const ETH = 10n ** 18n;
const GWEI = 10n ** 9n;

// "12.5" ETH -> wei (exact, no floating point)
function parseUnits(s, decimals) {
  const [i, f = ''] = String(s).split('.');
  if (f.length > decimals) throw new Error(`too many decimals in ${s}`);
  return BigInt(i) * 10n ** BigInt(decimals) + BigInt((f + '0'.repeat(decimals)).slice(0, decimals) || '0');
}
const eth = (s) => parseUnits(s, 18);

// ---------------------------------------------------------------- ABI

function pad32(hex) {
  if (hex.length > 64) throw new Error('word too long');
  return hex.padStart(64, '0');
}

function encodeWord(type, v) {
  if (type === 'address') return pad32(v.toLowerCase().replace(/^0x/, ''));
  if (type === 'bytes32') {
    const h = v.replace(/^0x/, '');
    if (h.length !== 64) throw new Error('bytes32 must be 32 bytes');
    return h;
  }
  if (type === 'bool') return pad32(v ? '1' : '0');
  if (/^uint\d*$/.test(type)) {
    const n = BigInt(v);
    if (n < 0n) throw new Error('negative uint');
    return pad32(n.toString(16));
  }
  throw new Error(`unsupported static type ${type}`);
}

const isDynamic = (t) => t === 'string' || t === 'bytes';

function encodeDynamic(type, v) {
  const buf = type === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v.replace(/^0x/, ''), 'hex');
  const hex = buf.toString('hex');
  const padded = hex + '0'.repeat((64 - (hex.length % 64)) % 64);
  return pad32(buf.length.toString(16)) + padded;
}

// encode(['uint256','string'], [1n, 'x']) -> hex without 0x
function encode(types, values) {
  let head = '';
  let tail = '';
  const headSize = 32 * types.length;
  types.forEach((t, i) => {
    if (isDynamic(t)) {
      head += pad32((headSize + tail.length / 2).toString(16));
      tail += encodeDynamic(t, values[i]);
    } else {
      head += encodeWord(t, values[i]);
    }
  });
  return head + tail;
}

// decode(['uint256','string'], '0x...') -> array (uint as BigInt, address lowercase, string)
function decode(types, data) {
  const h = data.replace(/^0x/, '');
  const word = (i) => h.slice(i * 64, i * 64 + 64);
  return types.map((t, i) => {
    const w = word(i);
    if (t === 'address') return '0x' + w.slice(24);
    if (t === 'bytes32') return '0x' + w;
    if (t === 'bool') return BigInt('0x' + w) !== 0n;
    if (/^uint\d*$/.test(t)) return BigInt('0x' + w);
    if (isDynamic(t)) {
      const off = Number(BigInt('0x' + w)) * 2;
      const len = Number(BigInt('0x' + h.slice(off, off + 64)));
      const bytes = Buffer.from(h.slice(off + 64, off + 64 + len * 2), 'hex');
      return t === 'string' ? bytes.toString('utf8') : '0x' + bytes.toString('hex');
    }
    throw new Error(`unsupported type ${t}`);
  });
}

const topicToAddress = (t) => '0x' + t.slice(-40).toLowerCase();

// ---------------------------------------------------------------- bech32 (BIP 173 / BIP 350)

const B32 = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const BECH32_CONST = 1;
const BECH32M_CONST = 0x2bc830a3;

function polymod(values) {
  const G = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
  let chk = 1;
  for (const v of values) {
    const b = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((b >>> i) & 1) chk ^= G[i];
  }
  return chk >>> 0;
}
const hrpExpand = (hrp) => [...hrp].map((c) => c.charCodeAt(0) >> 5).concat([0], [...hrp].map((c) => c.charCodeAt(0) & 31));

function convertBits(data, from, to, pad) {
  let acc = 0;
  let bits = 0;
  const out = [];
  const maxv = (1 << to) - 1;
  for (const v of data) {
    acc = (acc << from) | v;
    bits += from;
    while (bits >= to) {
      bits -= to;
      out.push((acc >> bits) & maxv);
    }
  }
  if (pad) {
    if (bits > 0) out.push((acc << (to - bits)) & maxv);
  } else if (bits >= from || ((acc << (to - bits)) & maxv)) {
    return null;
  }
  return out;
}

// Segwit address from witness version and program bytes (Buffer).
function segwitEncode(hrp, version, program) {
  const data = [version].concat(convertBits([...program], 8, 5, true));
  const c = version === 0 ? BECH32_CONST : BECH32M_CONST;
  const values = hrpExpand(hrp).concat(data, [0, 0, 0, 0, 0, 0]);
  const mod = polymod(values) ^ c;
  const checksum = [];
  for (let i = 0; i < 6; i++) checksum.push((mod >>> (5 * (5 - i))) & 31);
  return hrp + '1' + data.concat(checksum).map((d) => B32[d]).join('');
}

// Returns {hrp, version, program} or null if the address is not a valid segwit address.
function segwitDecode(addr) {
  if (addr !== addr.toLowerCase() && addr !== addr.toUpperCase()) return null;
  const a = addr.toLowerCase();
  const pos = a.lastIndexOf('1');
  if (pos < 1 || pos + 7 > a.length || a.length > 90) return null;
  const hrp = a.slice(0, pos);
  const data = [];
  for (const ch of a.slice(pos + 1)) {
    const d = B32.indexOf(ch);
    if (d < 0) return null;
    data.push(d);
  }
  const pm = polymod(hrpExpand(hrp).concat(data));
  const version = data[0];
  if (!((version === 0 && pm === BECH32_CONST) || (version > 0 && pm === BECH32M_CONST))) return null;
  const program = convertBits(data.slice(1, -6), 5, 8, false);
  if (!program || program.length < 2 || program.length > 40 || version > 16) return null;
  if (version === 0 && program.length !== 20 && program.length !== 32) return null;
  return { hrp, version, program: Buffer.from(program) };
}

// ---------------------------------------------------------------- CSV (RFC 4180, as Python's csv module writes it)

function csvField(v) {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}
const csvLine = (fields) => fields.map(csvField).join(',') + '\n';

function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let q = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (q) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else q = false;
      } else field += c;
    } else if (c === '"') q = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field !== '' || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

// -> array of objects keyed by the header row
function readCsvObjects(text) {
  const rows = parseCsv(text);
  if (rows.length === 0) return { header: [], rows: [] };
  const header = rows[0];
  return {
    header,
    rows: rows.slice(1).map((r) => {
      if (r.length !== header.length) throw new Error(`CSV row has ${r.length} fields, header ${header.length}`);
      const o = {};
      header.forEach((h, i) => (o[h] = r[i]));
      return o;
    }),
  };
}

// ---------------------------------------------------------------- ethereum-etl column lists
// Copied from the ethereum-etl test fixtures (expected_*.csv header rows).

const HEADERS = {
  blocks:
    'number,hash,parent_hash,nonce,sha3_uncles,logs_bloom,transactions_root,state_root,receipts_root,miner,difficulty,total_difficulty,size,extra_data,gas_limit,gas_used,timestamp,transaction_count,base_fee_per_gas,withdrawals_root,withdrawals',
  transactions:
    'hash,nonce,block_hash,block_number,transaction_index,from_address,to_address,value,gas,gas_price,input,block_timestamp,max_fee_per_gas,max_priority_fee_per_gas,transaction_type',
  receipts:
    'transaction_hash,transaction_index,block_hash,block_number,cumulative_gas_used,gas_used,contract_address,root,status,effective_gas_price,l1_fee,l1_gas_used,l1_gas_price,l1_fee_scalar',
  logs: 'log_index,transaction_hash,transaction_index,block_hash,block_number,address,data,topics',
  token_transfers: 'token_address,from_address,to_address,value,transaction_hash,log_index,block_number',
  traces:
    'block_number,transaction_hash,transaction_index,from_address,to_address,value,input,output,trace_type,call_type,reward_type,gas,gas_used,subtraces,trace_address,error,status,trace_id',
  tokens: 'address,symbol,name,decimals,total_supply,block_number',
};
// transactions.csv plus the receipt_* columns that ethereum-etl's enrichment
// (stream / BigQuery crypto_ethereum.transactions) adds, in that order.
HEADERS.transactions_enriched =
  HEADERS.transactions +
  ',receipt_cumulative_gas_used,receipt_gas_used,receipt_contract_address,receipt_root,receipt_status,receipt_effective_gas_price';

const TRANSFER_TOPIC = '0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef';

module.exports = {
  RpcClient,
  hexToBig,
  hexToDec,
  toHex,
  ETH,
  GWEI,
  parseUnits,
  eth,
  encode,
  decode,
  topicToAddress,
  segwitEncode,
  segwitDecode,
  csvLine,
  parseCsv,
  readCsvObjects,
  HEADERS,
  TRANSFER_TOPIC,
};
