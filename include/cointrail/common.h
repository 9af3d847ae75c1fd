/* cointrail/common.h: what every part of the public API shares: the export macro, the error
 * codes and the error struct, script types.
 *
 * Conventions of the whole API (the same as libgit2's):
 *   - every public name starts with ct_ (functions, types) or CT_ (macros, constants);
 *   - a function that can fail returns 0 (CT_OK) or a negative CT_E* code, and fills the
 *     caller's ct_error (which may be NULL) with a message naming the file, offset, field or
 *     argument concerned;
 *   - results come back either in a struct the caller provides, or in a struct the library
 *     allocates and the caller frees with the matching ct_*_free function;
 *   - strings in result structs are NUL-terminated UTF-8; "borrowed" strings point into a
 *     ct_store and stay valid until that store is closed.
 * This header is included by cointrail.h; include that one. */
#ifndef CT_PUBLIC_COMMON_H
#define CT_PUBLIC_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#define CT_BEGIN_DECL extern "C" {
#define CT_END_DECL }
#else
#define CT_BEGIN_DECL
#define CT_END_DECL
#endif

/* Marks the functions the shared library exports: it is built with -fvisibility=hidden, so
 * nothing else is visible to a program that links it. */
#if defined(__GNUC__)
#define CT_EXTERN(type) __attribute__((visibility("default"))) type
#else
#define CT_EXTERN(type) type
#endif

CT_BEGIN_DECL

/* Error codes. The values are fixed: new codes are only ever added. */
typedef enum {
    CT_OK = 0,
    CT_EIO = -1,       /* the operating system refused a read, write or map */
    CT_EFORMAT = -2,   /* input bytes or text are not what the format says */
    CT_ENOTFOUND = -3, /* a txid, output, address or store that does not exist */
    CT_EINVAL = -4,    /* a bad argument (malformed txid or address, bad option) */
    CT_ENOMEM = -5,    /* an allocation failed */
    CT_ECORRUPT = -6,  /* a store file disagrees with its MANIFEST */
    CT_EBUSY = -7,     /* another process holds a lock the call needs */
} ct_error_code;

/* Size of ct_error.message, terminating NUL included. */
#define CT_ERROR_MESSAGE_SIZE 768

/* What went wrong. The caller owns it (usually on the stack); functions fill it on failure
 * and leave it untouched on success. */
typedef struct ct_error {
    int code;                            /* a ct_error_code */
    char message[CT_ERROR_MESSAGE_SIZE]; /* NUL-terminated, names what failed */
} ct_error;

/* The name of an error code ("io", "format", "not_found", ...); "unknown" for anything else.
 *
 * @param code  a ct_error_code
 * @return      a static string; never NULL */
CT_EXTERN(const char *) ct_error_code_name(int code);

/* Output script types. The order is that of the store's statistics
 * (ct_store_totals.outputs_by_type). */
typedef enum {
    CT_SCRIPT_NONSTANDARD = 0,
    CT_SCRIPT_P2PK,
    CT_SCRIPT_P2PKH,
    CT_SCRIPT_P2SH,
    CT_SCRIPT_P2WPKH,
    CT_SCRIPT_P2WSH,
    CT_SCRIPT_P2TR,
    CT_SCRIPT_WITNESS_UNKNOWN,
    CT_SCRIPT_MULTISIG,
    CT_SCRIPT_NULLDATA,
    CT_SCRIPT_NTYPES /* number of types; not a type */
} ct_script_type;

/* The name of a script type as the CLI's JSON spells it ("p2pkh", "nulldata", ...).
 *
 * @param type  a ct_script_type
 * @return      a static string; "?" for a value out of range */
CT_EXTERN(const char *) ct_script_type_name(int type);

/* Room for a txid or block hash in display hex, NUL included. */
#define CT_HASH_HEX_SIZE 65
/* Room for an address in its canonical text form, NUL included. */
#define CT_ADDRESS_SIZE 128

CT_END_DECL

#endif
