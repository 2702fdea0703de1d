/*
 * doorbell_model.h - src/doorbell.c for the model-check programs, with an
 * eventfd of the model's own: a counter that write(2) bumps (release) and
 * read(2) takes (acquire), as the kernel's eventfd does under its lock, and
 * a futex on it for the loop's poll (weft_model_fd_wait), so that a loop
 * left waiting on an fd that nobody writes is a deadlock Relacy reports.
 * Include it after eventcount.c.
 */
#ifndef WEFT_MODEL_DOORBELL_MODEL_H
#define WEFT_MODEL_DOORBELL_MODEL_H

#include "doorbell_internal.h"

namespace
{
const int MODEL_FDS = 8;
atomic_uint_least32_t *model_fd[MODEL_FDS];
int model_fd_next;

atomic_uint_least32_t *model_fd_word(int fd)
{
    RL_ASSERT(fd >= 0 && fd < MODEL_FDS && model_fd[fd] != nullptr);
    return model_fd[fd];
}
} /* namespace */

int weft_model_fd_make(void)
{
    int fd = model_fd_next++ % MODEL_FDS;
    model_fd[fd] = (atomic_uint_least32_t *)malloc(sizeof(atomic_uint_least32_t));
    atomic_init(model_fd[fd], 0);
    return fd;
}

void weft_model_fd_write(int fd)
{
    atomic_uint_least32_t *w = model_fd_word(fd);
    atomic_fetch_add_explicit(w, 1, memory_order_release);
    syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

bool weft_model_fd_read(int fd)
{
    return atomic_exchange_explicit(model_fd_word(fd), 0, memory_order_acquire) != 0;
}

namespace
{
/* The loop's poll: returns once the fd is readable. */
void weft_model_fd_wait(int fd)
{
    atomic_uint_least32_t *w = model_fd_word(fd);
    while (atomic_load_explicit(w, memory_order_acquire) == 0)
        syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
}

/* Is the fd readable now (a poll with a zero timeout)? */
bool weft_model_fd_readable(int fd)
{
    return atomic_load_explicit(model_fd_word(fd), memory_order_relaxed) != 0;
}
} /* namespace */

#include "doorbell.c"

#endif /* WEFT_MODEL_DOORBELL_MODEL_H */
