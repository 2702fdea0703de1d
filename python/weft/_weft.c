/*
 * _weft.c - the C half of the Python package weft: a weft_msgq in memory
 * that the Python half maps (a memfd, so that processes started by fork,
 * spawn or forkserver share it), with a message counter beside it.
 *
 * _weft.footprint(capacity_bytes) -> bytes of the mapping to make
 * _weft.MsgQ(buffer, capacity_bytes, init) -> a queue over buffer (a
 *   writable buffer of footprint bytes, page-aligned: an mmap); init builds
 *   an empty queue there, otherwise the one already there is used.
 * MsgQ methods (the GIL is released while they wait; a first try keeps it):
 *   put(obj, timeout) -> True, or False on timeout: bytes go as they are,
 *     anything else pickled (protocol 5), with a tag byte after the data
 *     that says which; timeout None waits for ever, 0 does not wait.
 *     Raises BrokenPipeError when closed, ValueError when the message is
 *     longer than the queue, pickle's errors (then nothing was sent).
 *   get(timeout, default) -> the oldest object (bytes, or unpickled), or
 *     default on timeout; BrokenPipeError once closed and drained.
 *   close(), closed(), count(), capacity(), bytes_used().
 *   set_eventfd(fd), arm(), disarm(), clear(): the asyncio bell (below).
 * A wait with no timeout is cut into slices of 50 ms so that signals
 * (KeyboardInterrupt) are seen.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <weft/msgq.h>

/* What follows the queue in the mapping: the number of messages in it,
 * for qsize (a hint: counted after a send, before a receive's return), and
 * the bell of the asyncio receivers.
 *
 * The bell is weft_doorbell's protocol (weft/doorbell.h) over an eventfd
 * that every process holding the queue has a copy of: an event loop about
 * to wait arms it (PREPARED, then a seq_cst fence, then it looks at the
 * queue once more); a sender, after its message is published, fences, and
 * only if it finds exactly PREPARED claims the round (PREPARED | RUNG, one
 * CAS among the senders) and writes the eventfd: one write(2) per sleep of
 * the loop, none while it is busy.  The loop clears the bell (reading the
 * eventfd only when RUNG) before it looks again.  Either the loop's look
 * after its fence sees the message or the sender's load after its fence
 * sees PREPARED (the Dekker pair). */
enum { BELL_PREPARED = 1, BELL_RUNG = 2 };

struct extra {
    atomic_llong count;
    atomic_uint bell;
};

static size_t extra_offset(size_t capacity_bytes)
{
    size_t q = weft_msgq_footprint(capacity_bytes);
    return (q + 63) / 64 * 64;
}

static size_t footprint(size_t capacity_bytes)
{
    size_t q = weft_msgq_footprint(capacity_bytes);
    return q ? extra_offset(capacity_bytes) + sizeof(struct extra) : 0;
}

typedef struct {
    PyObject_HEAD Py_buffer view; /* keeps the mapping alive */
    int have_view;
    weft_msgq *q;
    struct extra *extra;
    int efd; /* this process's copy of the bell's eventfd, or -1 */
} MsgQ;

static const uint64_t SLICE_NS = 50 * 1000 * 1000;

static void msgq_dealloc(MsgQ *self)
{
    if (self->have_view)
        PyBuffer_Release(&self->view);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int msgq_init(MsgQ *self, PyObject *args, PyObject *kw)
{
    static char buffer_kw[] = "buffer", capacity_kw[] = "capacity_bytes", init_kw[] = "init";
    static char *names[] = { buffer_kw, capacity_kw, init_kw, NULL };
    PyObject *buf;
    Py_ssize_t cap;
    int init;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "Onp", names, &buf, &cap, &init))
        return -1;
    if (cap <= 0 || footprint((size_t)cap) == 0) {
        PyErr_SetString(PyExc_ValueError, "capacity_bytes must be positive and not huge");
        return -1;
    }
    self->efd = -1;
    if (PyObject_GetBuffer(buf, &self->view, PyBUF_WRITABLE) != 0)
        return -1;
    self->have_view = 1;
    if ((size_t)self->view.len < footprint((size_t)cap) ||
        (uintptr_t)self->view.buf % WEFT_MSGQ_ALIGN != 0) {
        PyErr_SetString(PyExc_ValueError, "buffer too small or misaligned for the queue");
        return -1;
    }
    self->extra = (struct extra *)(void *)((char *)self->view.buf + extra_offset((size_t)cap));
    if (init) {
        /* robust: a worker killed in the middle of a put or a get (terminate,
         * the OOM killer) costs that one item, not the queue */
        self->q = weft_msgq_init(self->view.buf, (size_t)cap, WEFT_SHARED | WEFT_MSGQ_ROBUST);
        if (self->q == NULL) {
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
        /* atomic_init: the mapping is not shared yet; the children that
         * share it are started after this (fork, or spawn with the fd) */
        atomic_init(&self->extra->count, 0);
        atomic_init(&self->extra->bell, 0);
    } else {
        self->q = (weft_msgq *)self->view.buf;
    }
    return 0;
}

/* timeout (None or seconds) -> nanoseconds; UINT64_MAX for None. */
static int timeout_ns(PyObject *t, uint64_t *ns)
{
    if (t == Py_None) {
        *ns = UINT64_MAX;
        return 0;
    }
    double s = PyFloat_AsDouble(t);
    if (s == -1.0 && PyErr_Occurred())
        return -1;
    if (s < 0) {
        PyErr_SetString(PyExc_ValueError, "'timeout' must be a non-negative number");
        return -1;
    }
    *ns = s > 1e9 ? UINT64_MAX - 1 : (uint64_t)(s * 1e9);
    return 0;
}

/* A sender (or close), after its message is published. */
static void ring_bell(MsgQ *self)
{
    /* seq_cst: the sender's half of the Dekker pair; pairs with the fence
     * in msgq_arm */
    atomic_thread_fence(memory_order_seq_cst);
    unsigned expect = BELL_PREPARED;
    /* relaxed: ordered by the fence above; the CAS only picks the one
     * sender that writes this round (the loop's read of the eventfd orders
     * the rest: the kernel's lock) */
    if (atomic_load_explicit(&self->extra->bell, memory_order_relaxed) == BELL_PREPARED &&
        self->efd >= 0 &&
        atomic_compare_exchange_strong_explicit(&self->extra->bell, &expect,
                                                BELL_PREPARED | BELL_RUNG, memory_order_relaxed,
                                                memory_order_relaxed)) {
        uint64_t one = 1;
        /* EAGAIN: the counter is saturated, so it is readable already */
        (void)!write(self->efd, &one, sizeof one);
    }
}

static PyObject *closed_error(void)
{
    PyErr_SetString(PyExc_BrokenPipeError, "the queue is closed");
    return NULL;
}

/* An errno of a send or a receive as the exception put and get raise
 * (-1: the exception is set already). */
static PyObject *rc_error(int rc)
{
    if (rc == -1)
        return NULL;
    if (rc == EPIPE)
        return closed_error();
    errno = rc;
    return PyErr_SetFromErrno(PyExc_OSError);
}

/* Send the n bytes at data with the tag byte after them: one try holding
 * the GIL, then, unless ns is 0, waits of at most SLICE_NS with the GIL
 * released, for ns nanoseconds in all (UINT64_MAX: for ever).
 * Returns: True; False when the time ran out; NULL with BrokenPipeError
 *   (closed), ValueError (longer than the queue) or a signal's exception. */
static PyObject *send_tagged(MsgQ *self, const void *data, size_t n, int tag, uint64_t ns)
{
    size_t len = n + 1;
    if (len > weft_msgq_max_message(self->q)) {
        PyErr_Format(PyExc_ValueError,
                     "message of %zu bytes is longer than the queue (%zu bytes); "
                     "make the queue with a larger capacity_bytes",
                     len, weft_msgq_max_message(self->q));
        return NULL;
    }
    unsigned char small[512];
    unsigned char *m = len <= sizeof small ? small : PyMem_RawMalloc(len);
    if (m == NULL)
        return PyErr_NoMemory();
    memcpy(m, data, n);
    m[n] = (unsigned char)tag;
    int rc = weft_msgq_try_send(self->q, m, len);
    if (rc == EAGAIN)
        rc = ETIMEDOUT;
    while (rc == ETIMEDOUT && ns != 0) {
        uint64_t slice = ns < SLICE_NS ? ns : SLICE_NS;
        PyThreadState *ts = PyEval_SaveThread(); /* the GIL is released while we wait */
        rc = weft_msgq_send_timed(self->q, m, len, slice);
        PyEval_RestoreThread(ts);
        if (ns != UINT64_MAX)
            ns -= slice;
        if (rc == ETIMEDOUT && PyErr_CheckSignals() != 0)
            rc = -1;
    }
    if (m != small)
        PyMem_RawFree(m);
    if (rc == 0) {
        /* relaxed: a hint for qsize */
        atomic_fetch_add_explicit(&self->extra->count, 1, memory_order_relaxed);
        ring_bell(self);
        Py_RETURN_TRUE;
    }
    if (rc == ETIMEDOUT)
        Py_RETURN_FALSE;
    return rc_error(rc);
}

/* Receive one message, waiting as send_tagged: into small (cap bytes), or
 * into *big, a new bytes object of the length EMSGSIZE told (another
 * receiver may take that message meanwhile: then on to the next).  *at and
 * *len tell where it is, tag included.
 * Returns: 0; ETIMEDOUT; -1 with an exception set (a signal's, memory,
 *   BrokenPipeError once closed and drained, OSError). */
static int recv_tagged(MsgQ *self, uint64_t ns, unsigned char *small, size_t cap,
                       const unsigned char **at, size_t *len, PyObject **big)
{
    unsigned char *into = small;
    *big = NULL;
    int rc = weft_msgq_try_recv(self->q, into, cap, len);
    for (;;) {
        if (rc == EAGAIN)
            rc = ETIMEDOUT;
        if (rc == EMSGSIZE) {
            Py_XDECREF(*big);
            *big = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)*len);
            if (*big == NULL)
                return -1;
            into = (unsigned char *)PyBytes_AS_STRING(*big);
            cap = *len;
            rc = weft_msgq_try_recv(self->q, into, cap, len);
            continue;
        }
        if (rc != ETIMEDOUT || ns == 0)
            break;
        uint64_t slice = ns < SLICE_NS ? ns : SLICE_NS;
        PyThreadState *ts = PyEval_SaveThread();
        rc = weft_msgq_recv_timed(self->q, into, cap, len, slice);
        PyEval_RestoreThread(ts);
        if (ns != UINT64_MAX)
            ns -= slice;
        if (rc == ETIMEDOUT && PyErr_CheckSignals() != 0)
            rc = -1;
    }
    if (rc == 0 && *len == 0) { /* not one of ours: every message ends with its tag */
        PyErr_SetString(PyExc_ValueError, "an empty message: the queue's memory is corrupt");
        rc = -1;
    } else if (rc == 0) {
        /* relaxed: a hint for qsize */
        atomic_fetch_sub_explicit(&self->extra->count, 1, memory_order_relaxed);
        *at = into;
        return 0;
    }
    Py_CLEAR(*big);
    if (rc != ETIMEDOUT && rc != -1) {
        (void)rc_error(rc);
        rc = -1;
    }
    return rc;
}

/* What put pickles with (pickle.dumps, protocol 5) and get unpickles with
 * (pickle.loads): set at import. */
static PyObject *pickle_dumps, *pickle_loads, *protocol_5;
enum { TAG_RAW = 0, TAG_PICKLED = 1 }; /* the byte after each message */

static PyObject *msgq_put(MsgQ *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "put(obj, timeout) takes 2 arguments");
        return NULL;
    }
    uint64_t ns;
    if (timeout_ns(args[1], &ns) != 0)
        return NULL;
    PyObject *obj = args[0];
    if (PyBytes_CheckExact(obj))
        return send_tagged(self, PyBytes_AS_STRING(obj), (size_t)PyBytes_GET_SIZE(obj), TAG_RAW,
                           ns);
    PyObject *pargs[2] = { obj, protocol_5 };
    PyObject *data = PyObject_Vectorcall(pickle_dumps, pargs, 2, NULL);
    if (data == NULL)
        return NULL; /* unpicklable: nothing was sent */
    PyObject *r =
        send_tagged(self, PyBytes_AS_STRING(data), (size_t)PyBytes_GET_SIZE(data), TAG_PICKLED, ns);
    Py_DECREF(data);
    return r;
}

static PyObject *msgq_get(MsgQ *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "get(timeout, default) takes 2 arguments");
        return NULL;
    }
    uint64_t ns;
    if (timeout_ns(args[0], &ns) != 0)
        return NULL;
    unsigned char small[512];
    const unsigned char *at;
    size_t len;
    PyObject *big, *b;
    int rc = recv_tagged(self, ns, small, sizeof small, &at, &len, &big);
    if (rc == ETIMEDOUT) {
        Py_INCREF(args[1]);
        return args[1];
    }
    if (rc != 0)
        return NULL;
    int tag = at[len - 1];
    if (big == NULL) {
        b = PyBytes_FromStringAndSize((const char *)at, (Py_ssize_t)(len - 1));
    } else {
        b = big;
        if (_PyBytes_Resize(&b, (Py_ssize_t)(len - 1)) != 0)
            b = NULL;
    }
    if (b == NULL || tag == TAG_RAW)
        return b;
    PyObject *obj = PyObject_Vectorcall(pickle_loads, &b, 1, NULL);
    Py_DECREF(b);
    return obj;
}

static PyObject *msgq_close(MsgQ *self, PyObject *unused)
{
    (void)unused;
    weft_msgq_close(self->q);
    ring_bell(self); /* an armed loop must see the close too */
    Py_RETURN_NONE;
}

static PyObject *msgq_set_eventfd(MsgQ *self, PyObject *arg)
{
    long fd = PyLong_AsLong(arg);
    if (fd == -1 && PyErr_Occurred())
        return NULL;
    self->efd = (int)fd;
    Py_RETURN_NONE;
}

/* The loop is about to wait: arm the bell, then the caller looks at the
 * queue once more. */
static PyObject *msgq_arm(MsgQ *self, PyObject *unused)
{
    (void)unused;
    /* relaxed: the fence orders it (as in weft_doorbell_prepare) */
    atomic_fetch_or_explicit(&self->extra->bell, BELL_PREPARED, memory_order_relaxed);
    /* seq_cst: the loop's half of the Dekker pair; pairs with the fence in
     * ring_bell */
    atomic_thread_fence(memory_order_seq_cst);
    Py_RETURN_NONE;
}

/* The loop found a message after arming: it will not wait. */
static PyObject *msgq_disarm(MsgQ *self, PyObject *unused)
{
    (void)unused;
    /* relaxed: ends the round; RUNG stays for the clear after its write */
    atomic_fetch_and_explicit(&self->extra->bell, ~(unsigned)BELL_PREPARED, memory_order_relaxed);
    Py_RETURN_NONE;
}

/* The eventfd was readable (or the wait ended): reset the bell, reading
 * the eventfd when a sender wrote it. */
static PyObject *msgq_clear(MsgQ *self, PyObject *unused)
{
    (void)unused;
    /* relaxed: reading RUNG is all this needs (see weft_doorbell_clear) */
    unsigned old = atomic_exchange_explicit(&self->extra->bell, 0, memory_order_relaxed);
    if ((old & BELL_RUNG) && self->efd >= 0) {
        uint64_t v;
        if (read(self->efd, &v, sizeof v) != (ssize_t)sizeof v)
            /* the claimed write has not landed yet: keep it claimed, so
             * that the next clear reads it.  relaxed: as above */
            atomic_fetch_or_explicit(&self->extra->bell, BELL_RUNG, memory_order_relaxed);
    }
    Py_RETURN_NONE;
}

static PyObject *msgq_closed(MsgQ *self, PyObject *unused)
{
    (void)unused;
    return PyBool_FromLong(weft_msgq_closed(self->q));
}

static PyObject *msgq_count(MsgQ *self, PyObject *unused)
{
    (void)unused;
    /* relaxed: a hint */
    long long n = atomic_load_explicit(&self->extra->count, memory_order_relaxed);
    return PyLong_FromLongLong(n < 0 ? 0 : n);
}

static PyObject *msgq_capacity(MsgQ *self, PyObject *unused)
{
    (void)unused;
    return PyLong_FromSize_t(weft_msgq_capacity(self->q));
}

static PyObject *msgq_bytes_used(MsgQ *self, PyObject *unused)
{
    (void)unused;
    return PyLong_FromSize_t(weft_msgq_bytes_used(self->q));
}

static PyMethodDef msgq_methods[] = {
    { "put", (PyCFunction)(void (*)(void))msgq_put, METH_FASTCALL,
      "put(obj, timeout) -> True, or False when the timeout passed" },
    { "get", (PyCFunction)(void (*)(void))msgq_get, METH_FASTCALL,
      "get(timeout, default) -> the oldest object, or default when the timeout passed" },
    { "close", (PyCFunction)msgq_close, METH_NOARGS, "close the queue (idempotent)" },
    { "set_eventfd", (PyCFunction)msgq_set_eventfd, METH_O,
      "set_eventfd(fd): this process's copy of the asyncio bell's eventfd" },
    { "arm", (PyCFunction)msgq_arm, METH_NOARGS, "a loop is about to wait: arm the bell" },
    { "disarm", (PyCFunction)msgq_disarm, METH_NOARGS, "the loop will not wait after all" },
    { "clear", (PyCFunction)msgq_clear, METH_NOARGS, "reset the bell after the fd was readable" },
    { "closed", (PyCFunction)msgq_closed, METH_NOARGS, "True once closed" },
    { "count", (PyCFunction)msgq_count, METH_NOARGS, "messages in the queue (a hint)" },
    { "capacity", (PyCFunction)msgq_capacity, METH_NOARGS, "bytes of message storage" },
    { "bytes_used", (PyCFunction)msgq_bytes_used, METH_NOARGS, "bytes held by messages" },
    { NULL, NULL, 0, NULL }
};

static PyTypeObject MsgQType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "weft._weft.MsgQ",
    .tp_doc = "a weft_msgq in a writable buffer (see weft/msgq.h)",
    .tp_basicsize = sizeof(MsgQ),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)msgq_init,
    .tp_dealloc = (destructor)msgq_dealloc,
    .tp_methods = msgq_methods,
};

static PyObject *py_footprint(PyObject *mod, PyObject *arg)
{
    (void)mod;
    Py_ssize_t cap = PyLong_AsSsize_t(arg);
    if (cap == -1 && PyErr_Occurred())
        return NULL;
    if (cap <= 0 || footprint((size_t)cap) == 0) {
        PyErr_SetString(PyExc_ValueError, "capacity_bytes must be positive and not huge");
        return NULL;
    }
    return PyLong_FromSize_t(footprint((size_t)cap));
}

static PyMethodDef module_methods[] = { { "footprint", py_footprint, METH_O,
                                          "footprint(capacity_bytes) -> bytes to map" },
                                        { NULL, NULL, 0, NULL } };

static struct PyModuleDef module = { PyModuleDef_HEAD_INIT,
                                     "_weft",
                                     "the C half of weft (see weft/__init__.py)",
                                     -1,
                                     module_methods,
                                     NULL,
                                     NULL,
                                     NULL,
                                     NULL };

PyMODINIT_FUNC PyInit__weft(void); /* the one exported symbol */

PyMODINIT_FUNC PyInit__weft(void)
{
    if (PyType_Ready(&MsgQType) < 0)
        return NULL;
    if (pickle_dumps == NULL) {
        PyObject *pickle = PyImport_ImportModule("pickle");
        if (pickle == NULL)
            return NULL;
        pickle_dumps = PyObject_GetAttrString(pickle, "dumps");
        pickle_loads = PyObject_GetAttrString(pickle, "loads");
        Py_DECREF(pickle);
        protocol_5 = PyLong_FromLong(5);
        if (pickle_dumps == NULL || pickle_loads == NULL || protocol_5 == NULL)
            return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&MsgQType);
    if (PyModule_AddObject(m, "MsgQ", (PyObject *)&MsgQType) < 0) {
        Py_DECREF(&MsgQType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
