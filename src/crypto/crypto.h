/* crypto: the hashes and address encodings Bitcoin and Ethereum use. SHA-256 and RIPEMD-160
 * come from OpenSSL (its SHA extensions path is the hashing bound the import is measured
 * against); Keccak-256 (OpenSSL 3.0 has only SHA3's padding), base58check and bech32/bech32m
 * (BIP 173, BIP 350) are small enough to write here. */
#ifndef CT_CRYPTO_H
#define CT_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

/* Streaming SHA-256. The state is plain memory: no allocation, no free needed. */
typedef struct crypto_sha256_ctx {
    uint64_t opaque[16];
} crypto_sha256_ctx;

void crypto_sha256_init(crypto_sha256_ctx *ctx);
void crypto_sha256_update(crypto_sha256_ctx *ctx, const void *p, size_t n);
void crypto_sha256_final(crypto_sha256_ctx *ctx, uint8_t out[32]);

void crypto_sha256(const void *p, size_t n, uint8_t out[32]);
/* SHA-256 of SHA-256: block hashes, txids, merkle nodes, base58check checksums. */
void crypto_sha256d(const void *p, size_t n, uint8_t out[32]);
/* Finish a streaming context as a double SHA-256 (the txid fused with parsing). */
void crypto_sha256d_final(crypto_sha256_ctx *ctx, uint8_t out[32]);
/* SHA-1, for name-based UUIDs (RFC 9562 version 5: STIX identifiers, MISP uuids); not for
 * anything that needs collision resistance. */
void crypto_sha1(const void *p, size_t n, uint8_t out[20]);
/* RIPEMD-160 of SHA-256: the 20-byte hash inside P2PKH and P2WPKH addresses. */
void crypto_hash160(const void *p, size_t n, uint8_t out[20]);
/* Keccak-256 as Ethereum uses it (original Keccak padding 0x01, not SHA3's 0x06): addresses,
 * tx hashes, event topics, function selectors. */
void crypto_keccak256(const void *p, size_t n, uint8_t out[32]);

/* Base58check of a version byte followed by payload (n bytes). out must hold 128 bytes.
 * Returns the string length. */
size_t crypto_base58check_encode(char *out, uint8_t version, const uint8_t *payload, size_t n);
/* Decode a base58check string. On success fills version, payload (up to cap bytes) and *n.
 * Returns 0, or -1 for a bad character, -2 for a bad checksum, -3 for a bad length. */
int crypto_base58check_decode(const char *s, uint8_t *version, uint8_t *payload, size_t cap,
                              size_t *n);

/* A segwit address: hrp, witness version 0..16 and program of 2..40 bytes. Version 0 is
 * bech32 (BIP 173), versions 1..16 bech32m (BIP 350). out must hold 128 bytes. Returns the
 * string length, or 0 if the program length is not allowed. */
size_t crypto_segwit_encode(char *out, const char *hrp, int version, const uint8_t *prog,
                            size_t prog_len);
/* Decode a segwit address expecting hrp. Returns 0, or -1 bad characters or mixed case, -2
 * bad checksum (or the wrong bech32 variant for the version), -3 bad hrp or lengths. */
int crypto_segwit_decode(const char *s, const char *hrp, int *version, uint8_t prog[40],
                         size_t *prog_len);

#endif
