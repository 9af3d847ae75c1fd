#!/usr/bin/env node
// The DuckDB recipe of docs/columns.md, run for real: DuckDB (the engine, from npm) loads a
// `cointrail export-columns` directory with its schema.sql and load.sql, writes every table
// as Parquet, and computes the `cointrail stats` figures twice: from the loaded CSV tables
// and from the Parquet files alone (a fresh database that reads nothing else). Both must
// agree; the Parquet figures are printed as one JSON document shaped like `stats --json`,
// every number exact (DuckDB's sums cast to text, never through a double).
//
//   node recipe.js EXPORT_DIR PARQUET_DIR > figures.json
'use strict';
const fs = require('fs');
const path = require('path');
const { DuckDBInstance } = require('@duckdb/node-api');

const TABLES = ['blocks', 'txs', 'outputs', 'inputs', 'addresses', 'entities', 'labels'];
const TYPES = ['nonstandard', 'p2pk', 'p2pkh', 'p2sh', 'p2wpkh', 'p2wsh', 'p2tr',
    'witness_unknown', 'multisig', 'nulldata'];

// Fees recomputed from the inputs' spent values and the outputs, over the txs that are not
// coinbases and have no unresolved input (as `stats` counts them), not read from txs.fee.
const FIGURES = `
WITH paid AS (SELECT tx_id FROM txs WHERE NOT coinbase
              AND tx_id NOT IN (SELECT tx_id FROM inputs WHERE kind = 'unresolved'))
SELECT
  (SELECT count(*) FROM blocks)::VARCHAR AS blocks,
  (SELECT max(height) FROM blocks)::VARCHAR AS tip_height,
  (SELECT hash FROM blocks ORDER BY height DESC LIMIT 1) AS tip_hash,
  (SELECT count(*) FROM txs)::VARCHAR AS txs,
  (SELECT count(*) FROM inputs)::VARCHAR AS inputs,
  (SELECT count(*) FROM outputs)::VARCHAR AS outputs,
  (SELECT coalesce(sum(value), 0) FROM outputs)::VARCHAR AS total_output_value,
  ((SELECT coalesce(sum(value), 0) FROM inputs WHERE tx_id IN (SELECT tx_id FROM paid))
   - (SELECT coalesce(sum(value), 0) FROM outputs WHERE tx_id IN (SELECT tx_id FROM paid)))::VARCHAR
     AS total_fees,
  (SELECT coalesce(sum(fee), 0) FROM txs)::VARCHAR AS fee_column_sum,
  (SELECT count(*) FROM outputs WHERE spent_by_input_id IS NULL)::VARCHAR AS utxo_count,
  (SELECT coalesce(sum(value), 0) FROM outputs WHERE spent_by_input_id IS NULL)::VARCHAR
     AS utxo_value,
  (SELECT count(*) FROM addresses)::VARCHAR AS addresses,
  (SELECT count(*) FROM inputs WHERE kind = 'unresolved')::VARCHAR AS unresolved_inputs`;
const BY_TYPE = `SELECT script_type, count(*)::VARCHAR AS n FROM outputs GROUP BY script_type
                 ORDER BY script_type`;

async function figures(con) {
    const row = (await con.runAndReadAll(FIGURES)).getRowObjects()[0];
    const by = {};
    for (const t of TYPES) by[t] = '0';
    for (const r of (await con.runAndReadAll(BY_TYPE)).getRowObjects()) {
        if (!(r.script_type in by)) throw new Error(`unknown script_type ${r.script_type}`);
        by[r.script_type] = r.n;
    }
    row.outputs_by_type = by;
    return row;
}

// JSON with the numbers written as the exact decimal text DuckDB gave.
function toJson(f) {
    const num = (v) => (v === null ? 'null' : /^-?[0-9]+$/.test(v) ? v : JSON.stringify(v));
    const parts = [];
    for (const [k, v] of Object.entries(f)) {
        if (k === 'fee_column_sum') continue;
        if (typeof v === 'object' && v !== null) {
            const inner = Object.entries(v).map(([a, b]) => `${JSON.stringify(a)}: ${num(b)}`);
            parts.push(`  ${JSON.stringify(k)}: {${inner.join(', ')}}`);
        } else {
            parts.push(`  ${JSON.stringify(k)}: ${k === 'tip_hash' ? JSON.stringify(v) : num(v)}`);
        }
    }
    return `{\n${parts.join(',\n')}\n}\n`;
}

async function main() {
    const [exportDir, parquetDir] = process.argv.slice(2);
    if (!exportDir || !parquetDir) {
        console.error('usage: node recipe.js EXPORT_DIR PARQUET_DIR');
        process.exit(2);
    }
    const exp = path.resolve(exportDir), pq = path.resolve(parquetDir);
    fs.mkdirSync(pq, { recursive: true });

    // 1. the CSV tables, typed by schema.sql, loaded by load.sql (paths relative to the export)
    const csvDb = await DuckDBInstance.create(':memory:');
    const csv = await csvDb.connect();
    process.chdir(exp);
    await csv.run(fs.readFileSync('schema.sql', 'utf8'));
    await csv.run(fs.readFileSync('load.sql', 'utf8'));
    // 2. each table to Parquet (zstd-compressed)
    for (const t of TABLES)
        await csv.run(`COPY ${t} TO '${path.join(pq, t + '.parquet')}' (FORMAT parquet, COMPRESSION zstd)`);
    const fromCsv = await figures(csv);

    // 3. a fresh database over the Parquet files only
    const pqDb = await DuckDBInstance.create(':memory:');
    const p = await pqDb.connect();
    for (const t of TABLES)
        await p.run(`CREATE VIEW ${t} AS SELECT * FROM read_parquet('${path.join(pq, t + '.parquet')}')`);
    const fromParquet = await figures(p);

    const a = JSON.stringify(fromCsv), b = JSON.stringify(fromParquet);
    if (a !== b) throw new Error(`CSV and Parquet figures differ:\n${a}\n${b}`);
    if (fromParquet.total_fees !== fromParquet.fee_column_sum)
        throw new Error(`txs.fee sums to ${fromParquet.fee_column_sum}, inputs - outputs to ${fromParquet.total_fees}`);
    process.stdout.write(toJson(fromParquet));
}

main().catch((e) => {
    console.error(`recipe.js: ${e.message}`);
    process.exit(1);
});
