/* tests/refuse_membarrier.h - make the kernel refuse membarrier(2), as a
 * sandbox's seccomp filter installed after weft started would.  For the
 * tests of the membarrier fallback (bug 4 of issue #12); used in a child
 * process, since the filter cannot be removed. */
#ifndef WEFT_TESTS_REFUSE_MEMBARRIER_H
#define WEFT_TESTS_REFUSE_MEMBARRIER_H

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* From now on membarrier(2) fails with EPERM in every thread of this
 * process (SECCOMP_FILTER_FLAG_TSYNC).  Returns 0; -1 when no_new_privs
 * could not be set; -2 when the kernel did not take the filter. */
static inline int refuse_membarrier(void)
{
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_membarrier, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { (unsigned short)(sizeof code / sizeof code[0]), code };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog) != 0)
        return -2;
    return 0;
}

#endif
