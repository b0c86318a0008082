/* The set of keys this store instance holds, so that usage counts pages
 * exactly (a put that overwrites a key is not a new page) without asking
 * the servers. Open addressing with linear probing; thread-safe. */
#ifndef TP_KEY_SET_H
#define TP_KEY_SET_H

#include <pthread.h>
#include <stdint.h>

struct key_set {
    pthread_mutex_t lock;
    uint64_t *slots;   /* KEY_SET_EMPTY where free */
    uint64_t mask;     /* slot count - 1 */
    uint64_t count;    /* keys held, including the one kept in has_empty_key */
    int has_empty_key; /* the key equal to KEY_SET_EMPTY is held */
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

#endif
