/* btc: Bitcoin's wire format. Parses blocks and transactions (txids hashed from the same
 * bytes as they are parsed), classifies output scripts, encodes and decodes addresses,
 * reads Bitcoin Core block files (framing, zero padding, xor.dat) and computes chain work. */
#ifndef CT_BTC_H
#define CT_BTC_H

#include <stddef.h>
#include <stdint.h>

#include "../util/util.h"

/* Script types, in the order of their JSON names (btc_script_type_name). */
typedef enum {
    BTC_NONSTANDARD = 0,
    BTC_P2PK,
    BTC_P2PKH,
    BTC_P2SH,
    BTC_P2WPKH,
    BTC_P2WSH,
    BTC_P2TR,
    BTC_WITNESS_UNKNOWN,
    BTC_MULTISIG,
    BTC_NULLDATA,
    BTC_NSCRIPT_TYPES
} btc_script_type;

const char *btc_script_type_name(int type);

/* What can spend an output, as a fixed-size key. kind is one of BTC_ADDR_* (0 = no address).
 * P2PK outputs get the P2PKH address of their key. prog holds the 20- or 32-byte hash or
 * witness program, zero-padded; len says how many bytes count. */
enum {
    BTC_ADDR_NONE = 0,
    BTC_ADDR_P2PKH,
    BTC_ADDR_P2SH,
    BTC_ADDR_P2WPKH,
    BTC_ADDR_P2WSH,
    BTC_ADDR_P2TR,
    BTC_ADDR_WITNESS_UNKNOWN
};
typedef struct btc_addr {
    uint8_t kind;
    uint8_t witver; /* witness version for BTC_ADDR_WITNESS_UNKNOWN */
    uint8_t len;
    uint8_t pad;
    uint8_t prog[32];
} btc_addr;

/* Classify a scriptPubKey and derive its address (addr->kind == 0 if none). Witness programs
 * longer than 32 bytes (unused on mainnet) are classified but get no address. */
int btc_classify_script(const uint8_t *script, size_t len, btc_addr *addr);

/* Mainnet string form of an address; out holds at least 128 bytes. Returns the length. */
size_t btc_addr_encode(char *out, const btc_addr *addr);
/* Parse a mainnet address string. 0, or UTIL_EINVAL with err naming what is wrong. */
int btc_addr_decode(btc_addr *addr, const char *s, util_err *err);
/* The payload of an OP_RETURN (nulldata) script: the data of its pushes concatenated (OP_0 and
 * small-integer opcodes add nothing). out holds at least len bytes. Returns the payload length
 * (0 if the script does not start with OP_RETURN). */
size_t btc_nulldata_payload(const uint8_t *script, size_t len, uint8_t *out);
/* Name of an address kind as a script type name ("p2pkh", ...). */
const char *btc_addr_kind_name(int kind);

/* One parsed block. Pointers (script) point into the caller's block bytes, which must outlive
 * this view. Arrays are owned by the btc_block and reused by the next btc_parse_block call. */
typedef struct btc_txin {
    uint8_t prev_txid[32];
    uint32_t prev_vout;
} btc_txin;

typedef struct btc_txout {
    int64_t value;
    const uint8_t *script;
    uint32_t script_len;
    uint8_t type; /* btc_script_type */
    btc_addr addr;
} btc_txout;

typedef struct btc_tx {
    uint8_t txid[32];
    uint32_t first_in, n_in;   /* into btc_block.ins */
    uint32_t first_out, n_out; /* into btc_block.outs */
    uint32_t size, vsize, weight;
    uint32_t offset;      /* byte offset of the tx inside the block */
    uint32_t witness_off; /* byte offset of its witness section, 0 for a tx without one */
    uint8_t coinbase;
} btc_tx;

typedef struct btc_header {
    uint8_t hash[32];
    uint8_t prev[32];
    uint8_t merkle[32];
    uint32_t version, time, bits, nonce;
} btc_header;

typedef struct btc_block {
    btc_header hdr;
    uint32_t size;
    uint32_t n_tx, n_in, n_out;
    btc_tx *txs;
    btc_txin *ins;
    btc_txout *outs;
    uint32_t cap_tx, cap_in, cap_out;
} btc_block;

enum {
    /* Recompute the merkle root (catches corrupt tx bytes) and, when the coinbase commits to
     * the witnesses (BIP 141), the witness merkle root (catches corrupt witness bytes). */
    BTC_PARSE_VERIFY_MERKLE = 1,
};

/* Parse the 80-byte header at p (n >= 80). */
void btc_parse_header(btc_header *hdr, const uint8_t *p);

/* Step 2: Parse a whole raw block of n bytes into blk (arrays grown as needed). On a format
 * error returns UTIL_EFORMAT with err naming the byte offset inside the block. */
int btc_parse_block(btc_block *blk, const uint8_t *p, size_t n, unsigned flags, util_err *err);
void btc_block_free(btc_block *blk);

/* Chain work of one header's target, as Bitcoin Core computes it: 2^256 / (target + 1).
 * Saturates at 2^128-1 (a target below 2^128, which no header with a checked proof of work
 * reaches: mainnet's whole chain has about 2^95); 0 for a target btc_compact_decode refuses. */
unsigned __int128 btc_work_from_bits(uint32_t bits);

/* ---- proof of work and difficulty (Bitcoin Core's pow.cpp) ---- */

/* The networks whose rules the importer applies. REGTEST is "regtest-like": Bitcoin Core's
 * regtest proof-of-work rules (powLimit 0x207fffff, no retargeting), declared by a genesis
 * whose bits are 0x207fffff, as `cointrail generate` writes. */
typedef enum { BTC_NET_UNKNOWN = 0, BTC_NET_MAINNET, BTC_NET_TESTNET, BTC_NET_REGTEST } btc_net;

const char *btc_net_name(btc_net net); /* "mainnet", "testnet", "regtest", "unknown" */
/* Parse a network name; BTC_NET_UNKNOWN if it is none of the three. */
btc_net btc_net_parse(const char *name);
/* The network a genesis block belongs to: mainnet or testnet3 by hash, else REGTEST if its
 * bits are 0x207fffff, else UNKNOWN. hash in internal byte order. */
btc_net btc_net_of_genesis(const uint8_t hash[32], uint32_t bits);
/* The network's genesis hash (internal byte order), or NULL for REGTEST (any genesis). */
const uint8_t *btc_net_genesis(btc_net net);
/* powLimit in compact form (0x1d00ffff, or 0x207fffff for REGTEST). */
uint32_t btc_pow_limit_bits(btc_net net);

/* Decode a compact target into target (32 bytes, little-endian: the byte order of a hash).
 * 0, or -1 for what Bitcoin Core's SetCompact flags as negative or overflowing, and for a zero
 * target. */
int btc_compact_decode(uint32_t bits, uint8_t target[32]);
/* Encode a target (little-endian, 32 bytes) compactly, as GetCompact does. */
uint32_t btc_compact_encode(const uint8_t target[32]);

/* CheckProofOfWork: the bits decode, the target is at most net's powLimit, and the hash is at
 * most the target. 0, or UTIL_EFORMAT with err saying which. */
int btc_check_pow(const uint8_t hash[32], uint32_t bits, btc_net net, util_err *err);

/* CalculateNextWorkRequired: the bits after a 2016-block period that began at first_time and
 * whose last block has last_bits and last_time: the timespan clamped to [1/4, 4] x two weeks,
 * the target scaled by it and capped at net's powLimit. REGTEST never retargets (last_bits). */
uint32_t btc_retarget(uint32_t last_bits, int64_t first_time, int64_t last_time, btc_net net);

/* What GetNextWorkRequired needs to know about a block's parent. last_bits is the bits of the
 * nearest ancestor (the parent included) that is at a multiple of 2016 or is not at powLimit:
 * testnet's min-difficulty rule falls back to it. */
typedef struct btc_pow_parent {
    uint64_t height; /* the parent's */
    uint32_t bits, time, last_bits;
    int64_t period_start_time; /* time of block height+1-2016, used when height+1 is a multiple
                                  of 2016 */
} btc_pow_parent;

/* GetNextWorkRequired: the bits a block at time `time` on parent p must carry. */
uint32_t btc_next_bits(const btc_pow_parent *p, uint32_t time, btc_net net);
/* The last_bits of a block at height with bits, given its parent's last_bits (has_parent 0
 * for a genesis), see btc_pow_parent. */
uint32_t btc_last_bits(uint64_t height, uint32_t bits, int has_parent, uint32_t parent_last_bits,
                       btc_net net);

/* Block subsidy at height: 50 BTC halved every 210,000 blocks on mainnet and testnet. A
 * regtest-like chain does not declare its halving interval (`cointrail generate
 * --halving-interval` is free), so for REGTEST this is 50 BTC at every height: an upper bound
 * for any halving schedule. */
int64_t btc_subsidy(uint64_t height, btc_net net);

/* A Bitcoin Core block file, memory-mapped (xor.dat applied on read). */
typedef struct btc_blockfile {
    char path[4096];
    const uint8_t *map;
    size_t size;
    uint8_t xor_key[8];
    int xored;
} btc_blockfile;

/* Open and map path; xor_key (NULL or 8 bytes) is the key from xor.dat. */
int btc_blockfile_open(btc_blockfile *f, const char *path, const uint8_t *xor_key, util_err *err);
void btc_blockfile_close(btc_blockfile *f);
/* Copy n bytes at off into dst, undoing the xor obfuscation. */
void btc_blockfile_read(const btc_blockfile *f, size_t off, uint8_t *dst, size_t n);

/* Step 1: Find the next block record at or after *off. Zero padding is skipped. On success
 * returns 1 and sets *block_off and *block_size (the raw block, after the 8-byte frame) and
 * advances *off past it; returns 0 at the end of the file; or UTIL_EFORMAT naming the file and
 * offset for a wrong magic or a size that runs past the end. */
int btc_blockfile_next(const btc_blockfile *f, size_t *off, size_t *block_off, size_t *block_size,
                       util_err *err);

/* Read xor.dat in dir (if present) into key; *present set to 1 if a non-zero key was found. */
int btc_read_xor_key(const char *dir, uint8_t key[8], int *present, util_err *err);

extern const uint8_t btc_mainnet_magic[4];
/* Whether 4 bytes are a block-file magic: mainnet f9beb4d9, testnet3 0b110907 or regtest
 * fabfb5da. */
int btc_is_magic(const uint8_t m[4]);

#endif
