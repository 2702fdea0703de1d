/*
 * stress/pool.c - scenarios for weft_pool (added once the pool exists).
 */
#include "config.h"

#include "stress.h"

const struct scenario stress_pool_scenarios[] = {
    { NULL, NULL, NULL, NULL, 0, 0, 0, 0 },
};
const size_t stress_pool_count = 0;
