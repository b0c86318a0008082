#include "ms_pool.h"

struct ibv_mr *ms_slab_register(struct ibv_pd *pd, void *addr, size_t length)
{
    return ibv_reg_mr(pd, addr, length, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE);
}

void ms_slab_unregister(struct ibv_mr *mr)
{
    ibv_dereg_mr(mr);
}
