/*
 * uid.c - DICOM UIDs (PS3.5 9): random and seeded, under 2.25 or a root.
 *
 * PS3.5 B.2: a UUID may be turned into a UID as "2.25." followed by the
 * UUID's 128-bit value in decimal (ITU-T X.667).  Random UIDs come from a
 * version 4 UUID filled by getrandom(2).  Seeded UIDs (reproducible
 * phantoms) come from a version 8 UUID (RFC 9562: custom, here a hash of
 * the seed and a name) so the same inputs always give the same UID.  Under
 * an organisation's own root the suffix is a 64-bit decimal.
 */
#include "nova/dicom_write.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>

bool nova_uid_is_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > NOVA_UID_MAX)
        return false;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            /* Each component: at least one digit, no leading zero unless
             * it is the single digit 0 (PS3.5 9.1). */
            if (i == start)
                return false;
            if (s[start] == '0' && i - start > 1)
                return false;
            start = i + 1;
        } else if (s[i] < '0' || s[i] > '9') {
            return false;
        }
    }
    return true;
}

/* 128-bit big-endian bytes to decimal (no leading zeros). */
static void u128_to_decimal(const uint8_t bytes[16], char *out)
{
    uint32_t limb[4];
    for (int i = 0; i < 4; i++)
        limb[i] = (uint32_t)bytes[4 * i] << 24 |
                  (uint32_t)bytes[4 * i + 1] << 16 |
                  (uint32_t)bytes[4 * i + 2] << 8 | bytes[4 * i + 3];
    char digits[48];
    int nd = 0;
    for (;;) {
        bool zero = true;
        uint64_t rem = 0;
        for (int i = 0; i < 4; i++) {
            uint64_t cur = rem << 32 | limb[i];
            limb[i] = (uint32_t)(cur / 10);
            rem = cur % 10;
            if (limb[i])
                zero = false;
        }
        digits[nd++] = (char)('0' + rem);
        if (zero)
            break;
    }
    for (int i = 0; i < nd; i++)
        out[i] = digits[nd - 1 - i];
    out[nd] = '\0';
}

static bool uuid_to_uid(NovaError **error, const uint8_t uuid[16], char *out)
{
    char dec[48];
    u128_to_decimal(uuid, dec);
    snprintf(out, NOVA_UID_MAX + 1, "2.25.%s", dec);
    return true;
}

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Two independent 64-bit hashes of (seed, name): FNV-1a over the bytes
 * feeding splitmix64 streams.  Not cryptographic; UIDs only need to be
 * distinct, not secret. */
static void hash128(uint64_t seed, const char *name, uint64_t out[2])
{
    uint64_t h = 0xCBF29CE484222325ull ^ seed;
    for (const char *p = name ? name : ""; *p; p++) {
        h ^= (uint8_t)*p;
        h *= 0x100000001B3ull;
    }
    uint64_t state = h ^ (seed * 0xD6E8FEB86659FD93ull);
    out[0] = splitmix64(&state);
    out[1] = splitmix64(&state);
}

static bool root_ok(NovaError **error, const char *root)
{
    if (!nova_uid_is_valid(root))
        return nova_error_set(error, NOVA_ERROR_INVALID, "invalid UID root",
                              "UID root '%s' is not a valid UID prefix "
                              "(PS3.5 9.1)",
                              root);
    return true;
}

static bool root_suffix(NovaError **error, const char *root, uint64_t v,
                        char *out)
{
    int n =
        snprintf(out, NOVA_UID_MAX + 1, "%s.%llu", root, (unsigned long long)v);
    if (n < 0 || n > NOVA_UID_MAX)
        return nova_error_set(error, NOVA_ERROR_RANGE, "UID too long",
                              "UID root '%s' leaves no room for a 64-bit "
                              "suffix within 64 characters",
                              root);
    return true;
}

static bool is_uuid_root(const char *root)
{
    return root == NULL || root[0] == '\0' || strcmp(root, "2.25") == 0;
}

bool nova_uid_generate(NovaError **error, char *out)
{
    uint8_t uuid[16];
    size_t got = 0;
    while (got < sizeof uuid) {
        ssize_t r = getrandom(uuid + got, sizeof uuid - got, 0);
        if (r < 0)
            return nova_error_set(error, NOVA_ERROR_IO, "no randomness",
                                  "getrandom failed while making a UID");
        got += (size_t)r;
    }
    /* RFC 9562 5.4: version 4, variant 10xx. */
    uuid[6] = (uint8_t)((uuid[6] & 0x0F) | 0x40);
    uuid[8] = (uint8_t)((uuid[8] & 0x3F) | 0x80);
    return uuid_to_uid(error, uuid, out);
}

bool nova_uid_generate_under(NovaError **error, const char *root, char *out)
{
    if (is_uuid_root(root))
        return nova_uid_generate(error, out);
    if (!root_ok(error, root))
        return false;
    uint64_t v;
    if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v)
        return nova_error_set(error, NOVA_ERROR_IO, "no randomness",
                              "getrandom failed while making a UID");
    return root_suffix(error, root, v, out);
}

bool nova_uid_from_seed(NovaError **error, const char *root, uint64_t seed,
                        const char *name, char *out)
{
    uint64_t h[2];
    hash128(seed, name, h);
    if (!is_uuid_root(root)) {
        if (!root_ok(error, root))
            return false;
        return root_suffix(error, root, h[0], out);
    }
    uint8_t uuid[16];
    for (int i = 0; i < 8; i++) {
        uuid[i] = (uint8_t)(h[0] >> (56 - 8 * i));
        uuid[8 + i] = (uint8_t)(h[1] >> (56 - 8 * i));
    }
    /* RFC 9562 5.8: version 8 (custom), variant 10xx. */
    uuid[6] = (uint8_t)((uuid[6] & 0x0F) | 0x80);
    uuid[8] = (uint8_t)((uuid[8] & 0x3F) | 0x80);
    return uuid_to_uid(error, uuid, out);
}
