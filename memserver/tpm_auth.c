#include "tpm_auth.h"

#include <errno.h>
#include <fcntl.h>
#include <nettle/hmac.h>
#include <nettle/memops.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

int tpm_key_load(const char *path, struct tpm_key *key, char *why, size_t why_len)
{
    memset(key, 0, sizeof *key);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int e = errno;
        snprintf(why, why_len, "key file %s: %s", path, strerror(e));
        if (fd >= 0)
            close(fd);
        return -e;
    }
    int rc = 0;
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, why_len, "key file %s: not a regular file", path);
        rc = -EINVAL;
    } else if (st.st_mode & 077) {
        snprintf(why, why_len, "key file %s: mode %04o lets others than its owner read it (chmod 600 it)", path,
                 (unsigned)(st.st_mode & 07777));
        rc = -EPERM;
    } else if (st.st_size > TPM_KEY_MAX + 1) {
        snprintf(why, why_len, "key file %s: %lld bytes, more than the %d a key may have", path,
                 (long long)st.st_size, TPM_KEY_MAX);
        rc = -EFBIG;
    }
    uint8_t buf[TPM_KEY_MAX + 2];
    ssize_t n = rc ? 0 : read(fd, buf, sizeof buf);
    if (!rc && n < 0) {
        snprintf(why, why_len, "key file %s: %s", path, strerror(errno));
        rc = -errno;
    }
    close(fd);
    if (rc)
        return rc;
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    if (n < TPM_KEY_MIN || n > TPM_KEY_MAX) {
        snprintf(why, why_len, "key file %s: %zd bytes, expected %d to %d (e.g. head -c 32 /dev/urandom | base64)",
                 path, n, TPM_KEY_MIN, TPM_KEY_MAX);
        memset(buf, 0, sizeof buf);
        return -EINVAL;
    }
    memcpy(key->bytes, buf, (size_t)n);
    key->length = (size_t)n;
    memset(buf, 0, sizeof buf);
    return 0;
}

void tpm_key_wipe(struct tpm_key *key)
{
    /* volatile: a store the compiler may not drop as dead. */
    volatile uint8_t *p = key->bytes;
    for (size_t i = 0; i < sizeof key->bytes; i++)
        p[i] = 0;
    key->length = 0;
}

int tpm_nonce(uint8_t nonce[TPM_NONCE_BYTES])
{
    size_t got = 0;
    while (got < TPM_NONCE_BYTES) {
        ssize_t n = getrandom(nonce + got, TPM_NONCE_BYTES - got, 0);
        if (n < 0 && errno != EINTR)
            return -errno;
        if (n > 0)
            got += (size_t)n;
    }
    return 0;
}

static const char server_label[] = "tierpage server";
static const char client_label[] = "tierpage client";

void tpm_server_proof(const struct tpm_key *key, const uint8_t client_nonce[TPM_NONCE_BYTES],
                      const uint8_t server_nonce[TPM_NONCE_BYTES], uint8_t proof[TPM_PROOF_BYTES])
{
    struct hmac_sha256_ctx ctx;
    hmac_sha256_set_key(&ctx, key->length, key->bytes);
    hmac_sha256_update(&ctx, sizeof server_label, (const uint8_t *)server_label);
    hmac_sha256_update(&ctx, TPM_NONCE_BYTES, client_nonce);
    hmac_sha256_update(&ctx, TPM_NONCE_BYTES, server_nonce);
    hmac_sha256_digest(&ctx, TPM_PROOF_BYTES, proof);
}

void tpm_client_proof(const struct tpm_key *key, const uint8_t server_nonce[TPM_NONCE_BYTES],
                      const uint8_t client_nonce[TPM_NONCE_BYTES], const char *namespace_name, uint64_t session,
                      uint8_t proof[TPM_PROOF_BYTES])
{
    struct hmac_sha256_ctx ctx;
    uint8_t session_bytes[8];
    for (int i = 0; i < 8; i++)
        session_bytes[i] = (uint8_t)(session >> (8 * i));
    hmac_sha256_set_key(&ctx, key->length, key->bytes);
    hmac_sha256_update(&ctx, sizeof client_label, (const uint8_t *)client_label);
    hmac_sha256_update(&ctx, TPM_NONCE_BYTES, server_nonce);
    hmac_sha256_update(&ctx, TPM_NONCE_BYTES, client_nonce);
    /* With its NUL: "ab" + "c..." and "abc" + "..." never hash alike. */
    hmac_sha256_update(&ctx, strlen(namespace_name) + 1, (const uint8_t *)namespace_name);
    hmac_sha256_update(&ctx, sizeof session_bytes, session_bytes);
    hmac_sha256_digest(&ctx, TPM_PROOF_BYTES, proof);
}

int tpm_proof_equal(const uint8_t a[TPM_PROOF_BYTES], const uint8_t b[TPM_PROOF_BYTES])
{
    return memeql_sec(a, b, TPM_PROOF_BYTES);
}
