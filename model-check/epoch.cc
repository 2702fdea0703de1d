/*
 * epoch.cc - model checking of weft_epoch's protocols (src/epoch_sync.h and
 * the sections of src/epoch_internal.h, as they ship) under Relacy, with
 * the advance's heavy fence as membarrier (asymmetric: the shim makes the
 * sections' light fence a seq_cst fence while membarrier works, see
 * shim/weft_model.h) and as a seq_cst fence (the symmetric form of the TSan
 * build and of a kernel without membarrier).
 *
 * epoch.c itself is not included (its records live in thread-local storage
 * and its thread-exit hook needs pthreads): the harness makes one record
 * per model thread in the domain's list, as claim_record would, and
 * weft_model_epoch_rec returns the calling fiber's.  Advances run on one
 * thread at a time, as under the domain's mutex.
 *
 * What every scenario asserts:
 *  - no early free: a reader loads a shared pointer inside a section and
 *    reads the node's payload (an rl::var); the node's free_fn writes the
 *    payload, so a free that is not ordered after the section's end is a
 *    data race Relacy reports, and the value read must not be the poison;
 *  - progress of reclamation: once every thread is done, enough advances
 *    free every retired node (after()).
 */
#include "model.h"

#include "eventcount.c"
#include "epoch_sync.h"
#include "epoch_model.h"

namespace
{

const int POISON = -1;

struct node {
    rl::var<int> data;
    bool freed;
};

void node_free(void *p)
{
    node *n = static_cast<node *>(p);
    n->data($) = POISON;
    n->freed = true;
}

template <class Derived, int Threads, bool Asym>
struct epoch_scenario : weft_model::scenario<Derived, Threads> {
    weft_epoch *d;
    rl::atomic<node *> shared;
    node nodes[3];
    int next_node;

    void before()
    {
        (void)weft_model::membarrier_ok_flag($);
        d = model_epoch_new(Threads, Asym);
        for (node &n : nodes) {
            n.data($) = 1;
            n.freed = false;
        }
        shared($).store(&nodes[0], rl::mo_relaxed);
        next_node = 1;
    }

    /* A reader's section: what it reads must not be freed under it. */
    void read_section(bool nested)
    {
        struct epoch_rec *r = epoch_enter(d);
        if (nested) {
            epoch_enter(d);
            epoch_exit(r);
        }
        node *n = shared($).load(rl::mo_acquire);
        RL_ASSERT(n->data($) != POISON);
        epoch_exit(r);
    }

    /* A writer replaces the shared node and retires the old one. */
    void replace_and_retire(unsigned thread)
    {
        node *fresh = &nodes[next_node++];
        node *old = shared($).exchange(fresh, rl::mo_acq_rel);
        RL_ASSERT(log_append(d, model_epoch_recs[thread], old, node_free));
    }

    void advance(int times)
    {
        for (int k = 0; k < times; k++) {
            (void)try_advance(d);
            free_old(d);
        }
    }

    void after()
    {
        /* every thread is outside: EPOCH_GRACE advances free everything
         * retired */
        for (int k = 0; k < EPOCH_GRACE; k++)
            RL_ASSERT(try_advance(d));
        free_old(d);
        for (int i = 0; i < next_node - 1; i++)
            RL_ASSERT(nodes[i].freed);
    }
};

/* One reader, a writer that retires, an advancer that advances four times:
 * the basic Dekker pair of the section's announcement with the scan. */
template <bool Asym> struct reader_vs_reclaim : epoch_scenario<reader_vs_reclaim<Asym>, 3, Asym> {
    void thread(unsigned i)
    {
        if (i == 0)
            this->read_section(false);
        else if (i == 1)
            this->replace_and_retire(1);
        else
            this->advance(4);
    }
};

/* The writer advances itself after its retire (what synchronize does). */
template <bool Asym> struct writer_reclaims : epoch_scenario<writer_reclaims<Asym>, 2, Asym> {
    void thread(unsigned i)
    {
        if (i == 0) {
            this->read_section(false);
        } else {
            this->replace_and_retire(1);
            this->advance(4);
        }
    }
};

/* A nested section, and a reader that enters twice in a row, against two
 * retires and the advances between them. */
template <bool Asym>
struct nested_and_repeated : epoch_scenario<nested_and_repeated<Asym>, 3, Asym> {
    void thread(unsigned i)
    {
        if (i == 0) {
            this->read_section(true);
            this->read_section(false);
        } else if (i == 1) {
            this->replace_and_retire(1);
            this->replace_and_retire(1);
        } else {
            this->advance(5);
        }
    }
};

/* Two readers and a writer that retires, then advances. */
template <bool Asym> struct two_readers : epoch_scenario<two_readers<Asym>, 3, Asym> {
    void thread(unsigned i)
    {
        if (i < 2) {
            this->read_section(false);
        } else {
            this->replace_and_retire(2);
            this->advance(4);
        }
    }
};

} /* namespace */

struct epoch_rec *weft_model_epoch_rec(weft_epoch *d)
{
    (void)d;
    return model_epoch_recs[rl::thread_index()];
}

int main()
{
    using namespace weft_model;
    /* context-bounded: a full search of three threads with four advances
     * does not end in minutes */
    run<reader_vs_reclaim<true>>("epoch: reader vs retire and advances (membarrier)", bounded(3));
    run<reader_vs_reclaim<false>>("epoch: reader vs retire and advances (fences)", bounded(3));
    run<writer_reclaims<true>>("epoch: reader vs a writer that advances (membarrier)", bounded(4));
    run<writer_reclaims<false>>("epoch: reader vs a writer that advances (fences)", bounded(4));
    run<nested_and_repeated<true>>("epoch: nested and repeated sections (membarrier)", bounded(2));
    run<two_readers<false>>("epoch: two readers vs a writer (fences)", bounded(2));
    return exit_status();
}
