/* The shared secret between tierpage-memserver (--key-file) and the rdma
 * tier (key_file:): a challenge-response with HMAC-SHA256 (nettle) over the
 * control messages, so that the secret itself never crosses the wire.
 *
 *   client: AUTH {nonce = Nc}
 *   server: AUTH_OK {nonce = Ns}
 *   client: HELLO {..., proof = HMAC(K, "tierpage client" Ns Nc namespace
 *           session)}
 *   server: checks the client's proof before it serves anything (a client
 *           that fails is refused and logged); HELLO_OK {proof =
 *           HMAC(K, "tierpage server" Nc Ns)}
 *   client: checks the server's proof before it asks for a slab or sends a
 *           page: its pages go only to a server that holds the key.
 *
 * Fresh nonces from both sides make every proof good for one connection
 * only; the labels keep a server's proof from ever serving as a client's.
 * Built into both tierpage-memserver and the rdma tier (a static library,
 * position-independent for the tier's shared object). */
#ifndef TPM_AUTH_H
#define TPM_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define TPM_NONCE_BYTES 32
#define TPM_PROOF_BYTES 32
#define TPM_KEY_MIN 16
#define TPM_KEY_MAX 4096

struct tpm_key {
    size_t length;
    uint8_t bytes[TPM_KEY_MAX];
};

/* Read the key: the file's bytes (one trailing newline dropped), 16 to 4096
 * of them, from a regular file that only its owner may read (mode 0600 or
 * 0400, as ssh asks of a private key). 0, or -errno with the reason in why. */
int tpm_key_load(const char *path, struct tpm_key *key, char *why, size_t why_len);
/* Forget the key (before its memory is freed or reused). */
void tpm_key_wipe(struct tpm_key *key);
/* Fresh random bytes from the kernel: 0, or -errno. */
int tpm_nonce(uint8_t nonce[TPM_NONCE_BYTES]);
void tpm_server_proof(const struct tpm_key *key, const uint8_t client_nonce[TPM_NONCE_BYTES],
                      const uint8_t server_nonce[TPM_NONCE_BYTES], uint8_t proof[TPM_PROOF_BYTES]);
void tpm_client_proof(const struct tpm_key *key, const uint8_t server_nonce[TPM_NONCE_BYTES],
                      const uint8_t client_nonce[TPM_NONCE_BYTES], const char *namespace_name, uint64_t session,
                      uint8_t proof[TPM_PROOF_BYTES]);
/* Whether two proofs are equal, in time that does not depend on where
 * they differ. */
int tpm_proof_equal(const uint8_t a[TPM_PROOF_BYTES], const uint8_t b[TPM_PROOF_BYTES]);

#endif
