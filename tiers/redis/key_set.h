/* The set of keys this store instance holds, so that usage counts pages
 * exactly (a put that overwrites a key is not a new page) without asking
 * the servers, each with a value: the version of the page last written
 * under it and two flags. Open addressing with linear probing; thread-safe. */
#ifndef TP_KEY_SET_H
#define TP_KEY_SET_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* A key's value: its page's version and flags. */
#define KEY_SET_BUSY (1ull << 63)     /* its copies are being written (claimed) */
#define KEY_SET_DEGRADED (1ull << 62) /* some server may lack its current copy */
#define KEY_SET_VERSION_MASK (KEY_SET_DEGRADED - 1)

struct key_set {
    pthread_mutex_t lock;
    pthread_cond_t unclaimed; /* a claimed key was given back */
    uint64_t *slots;   /* KEY_SET_EMPTY where free */
    uint64_t *values;  /* the value of the key in the same slot */
    uint64_t mask;     /* slot count - 1 */
    uint64_t count;    /* keys held, including the one kept in has_empty_key */
    uint64_t degraded; /* keys with KEY_SET_DEGRADED */
    int has_empty_key; /* the key equal to KEY_SET_EMPTY is held */
    uint64_t empty_key_value;
};

int key_set_init(struct key_set *set);
void key_set_destroy(struct key_set *set);
int key_set_contains(struct key_set *set, uint64_t key);
/* 1 when added, 0 when already there, -ENOMEM. */
int key_set_add(struct key_set *set, uint64_t key);
/* 1 when removed, 0 when absent. */
int key_set_remove(struct key_set *set, uint64_t key);
uint64_t key_set_count(struct key_set *set);
void key_set_clear(struct key_set *set);

/* 1 and the key's value, or 0 when absent. */
int key_set_get(struct key_set *set, uint64_t key, uint64_t *value);
/* Waits while another thread has the key claimed, then claims it (sets
 * KEY_SET_BUSY). 1 and its value when present, 0 when absent (nothing
 * claimed). */
int key_set_claim(struct key_set *set, uint64_t key, uint64_t *value);
/* For a batch: waits until no other thread has any of the keys i with
 * skip[i] == 0 claimed, then claims every one of them present, all in one
 * step (a key given twice is claimed once). A batch never holds some
 * claims while it waits for others, so two batches that share keys, in
 * any order, cannot wait on each other. */
void key_set_claim_all(struct key_set *set, size_t count, const uint64_t *keys, const int *skip);
/* The same without waiting: 0 when the key is absent or claimed. */
int key_set_try_claim(struct key_set *set, uint64_t key, uint64_t *value);
/* Sets KEY_SET_DEGRADED on a present key, claimed or not. */
void key_set_mark_degraded(struct key_set *set, uint64_t key);
/* Gives the key the value (adding the key when new; BUSY cleared) and
 * wakes threads waiting for it. 1 when added, 0 when updated, -ENOMEM. */
int key_set_settle(struct key_set *set, uint64_t key, uint64_t value);
/* Clears a claim without changing the version. */
void key_set_unclaim(struct key_set *set, uint64_t key);
/* Marks every key DEGRADED (a server came back: its copies are unknown). */
void key_set_degrade_all(struct key_set *set);
uint64_t key_set_degraded(struct key_set *set);
/* Up to max DEGRADED keys, from the slot *cursor on (0 to start); the cursor
 * moves past them, and is 0 again after the last slot. */
size_t key_set_list_degraded(struct key_set *set, uint64_t *keys, size_t max, uint64_t *cursor);

#endif
