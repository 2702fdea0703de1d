#!/usr/bin/env python3
"""mutagen.py - derive mutants of weft's orderings, fences and wake-ups from src/.

The systematic half of stress/mutants.sh (see its --systematic option and the
mutants section of stress/README.md).  It reads whatever src/ holds when it
runs, on the token level (comments and strings never match), and derives:

  ORDERINGS  every memory_order_* (or __ATOMIC_*) argument of an atomic
             operation, weakened by ONE step, by the kind of the operation:
               load   seq_cst -> acquire; acquire -> relaxed; consume -> relaxed
               store  seq_cst -> release; release -> relaxed
               rmw    seq_cst -> acq_rel; acq_rel -> release; acq_rel -> acquire;
                      release -> relaxed; acquire -> relaxed; consume -> relaxed
               fence  seq_cst -> acq_rel; acq_rel -> release; acq_rel -> acquire
                      (release/acquire -> relaxed would be a no-op fence: the
                      same mutant as fence.remove, so it is dropped as such)
               cas    success: as rmw; failure: as load; each separately, and
                      the pair must stay legal (C11 7.17.7.4p2: failure neither
                      release nor acq_rel, and no stronger than success)
  FENCES     every atomic_thread_fence(...) / atomic_signal_fence(...) call
             statement removed (fence.remove, signal-fence.remove);
             every call statement of a fence helper defined in src/ (a
             callee with a "fence" name component: sc_fence, heavy_fence,
             notify_fence, weft_internal_ec_fence_light, ...) removed
             (fence-call.remove); every membarrier() system call that runs
             the barrier (MEMBARRIER_CMD_* other than REGISTER/QUERY)
             replaced by 0, i.e. "succeeded" without a barrier
             (membarrier.remove).
  WAKES      every call statement that wakes a waiter removed (wake.remove):
             a callee with a name component starting "notify" or "wake"
             (weft_eventcount_notify_one/_all, weft_internal_ec_notify,
             _notify_fenced, weft_internal_ec_wake, and the parts' own
             wrappers such as notify_consumers, wake_for_new_work,
             group_wake_waiter), pthread_cond_signal/_broadcast, and
             syscall(SYS_futex, ...) with a FUTEX_WAKE*/FUTEX_*REQUEUE op.
             Fence helpers (notify_fence) count as fences, not wakes.

Each mutant: id = FILE:LINE:COLUMN:OPERATOR (1-based line and column of the
mutated token, or of the removed call's name), a one-line description, and
an index K (1-based, in the sorted list).  Mutants that cannot be planted
legally (an illegal ordering pair, a wake whose value is used, an ordering of
an operation the table does not know) are listed with --dropped, with the
reason; the runner drops those that do not compile.  A mutant never changes
the number of lines of its file (line numbers in reports stay true).

Forms (which shipped builds compile a mutant): the file's translation units
(src/*.c that include it) are preprocessed with each form's compiler and
macros, unmutated and mutated; a form compiles the mutant when the outputs
differ.  Two plain forms whose mutated outputs are identical compile the same
code, so the runner runs only the first of them.

usage:
  mutagen.py list    [--tree DIR] [--dropped | --all] [--only PAT ...]
                     [--sample N [--seed S]] [--forms [--config-h DIR]] [--tsv]
  mutagen.py apply   --tree DIR ID|K      plant mutant ID (or number K) in DIR
  mutagen.py forms   --tree DIR [--config-h DIR] ID|K ...
  mutagen.py summary [--markdown] RESULTS.tsv
  mutagen.py patterns                     the operator and pattern tables
PAT is an id, a glob over ids (fnmatch: 'src/deque.c:*', '*:wake.remove') or
a number K.  Environment: MUTANT_TSAN_CC (default clang), MUTANT_CC
(default gcc): the compilers the forms are preprocessed with.
Python 3 standard library only.
"""

import argparse
import concurrent.futures
import fnmatch
import glob
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile

ORDERS = ("relaxed", "consume", "acquire", "release", "acq_rel", "seq_cst")

# One step weaker, per operation kind.  Legal orderings only: a load is never
# release/acq_rel, a store never acquire/consume/acq_rel.
LADDER = {
    "load": {"seq_cst": ["acquire"], "acquire": ["relaxed"], "consume": ["relaxed"]},
    "store": {"seq_cst": ["release"], "release": ["relaxed"]},
    "rmw": {
        "seq_cst": ["acq_rel"],
        "acq_rel": ["release", "acquire"],
        "release": ["relaxed"],
        "acquire": ["relaxed"],
        "consume": ["relaxed"],
    },
    "fence": {
        "seq_cst": ["acq_rel"],
        "acq_rel": ["release", "acquire"],
        "release": ["relaxed"],
        "acquire": ["relaxed"],
        "consume": ["relaxed"],
    },
}
LADDER["signal-fence"] = LADDER["fence"]
LADDER["cas-success"] = LADDER["rmw"]
LADDER["cas-failure"] = LADDER["load"]

# C11 7.17.7.4p2: the failure ordering may be neither release nor acq_rel and
# no stronger than the success ordering.
LEGAL_FAILURE = {
    "seq_cst": {"seq_cst", "acquire", "consume", "relaxed"},
    "acq_rel": {"acquire", "consume", "relaxed"},
    "acquire": {"acquire", "consume", "relaxed"},
    "consume": {"consume", "relaxed"},
    "release": {"relaxed"},
    "relaxed": {"relaxed"},
}

# Operation kind of a callee, and for compare-exchange which argument
# (0-based) is the success and which the failure ordering.
CALLEES = {
    "atomic_load_explicit": "load",
    "atomic_store_explicit": "store",
    "atomic_exchange_explicit": "rmw",
    "atomic_fetch_add_explicit": "rmw",
    "atomic_fetch_sub_explicit": "rmw",
    "atomic_fetch_or_explicit": "rmw",
    "atomic_fetch_xor_explicit": "rmw",
    "atomic_fetch_and_explicit": "rmw",
    "atomic_flag_test_and_set_explicit": "rmw",
    "atomic_flag_clear_explicit": "store",
    "atomic_thread_fence": "fence",
    "atomic_signal_fence": "signal-fence",
    "atomic_compare_exchange_strong_explicit": ("cas", 3, 4),
    "atomic_compare_exchange_weak_explicit": ("cas", 3, 4),
    "__atomic_load_n": "load",
    "__atomic_load": "load",
    "__atomic_store_n": "store",
    "__atomic_store": "store",
    "__atomic_clear": "store",
    "__atomic_exchange_n": "rmw",
    "__atomic_exchange": "rmw",
    "__atomic_test_and_set": "rmw",
    "__atomic_thread_fence": "fence",
    "__atomic_signal_fence": "signal-fence",
    "__atomic_compare_exchange_n": ("cas", 4, 5),
    "__atomic_compare_exchange": ("cas", 4, 5),
}
RMW_RE = re.compile(r"^__atomic_(fetch_[a-z]+|[a-z]+_fetch)$")
FENCE_CALLS = {"atomic_thread_fence": "fence.remove",
               "atomic_signal_fence": "signal-fence.remove",
               "__atomic_thread_fence": "fence.remove",
               "__atomic_signal_fence": "signal-fence.remove"}
ORDER_RE = re.compile(r"^(?:memory_order_|__ATOMIC_)(relaxed|consume|acquire|release|acq_rel|"
                      r"seq_cst|RELAXED|CONSUME|ACQUIRE|RELEASE|ACQ_REL|SEQ_CST)$")
# Wake-ups and fence helpers, by the callee's name components.
WAKE_NAME_RE = re.compile(r"(?:^|_)(?:notify|wake)")
WAKE_CALLS = {"pthread_cond_signal", "pthread_cond_broadcast"}
FENCE_NAME_RE = re.compile(r"(?:^|_)fence(?:_|$)")
FUTEX_SYS = {"SYS_futex", "__NR_futex", "SYS_futex_time64", "__NR_futex_time64"}
FUTEX_WAKE_RE = re.compile(r"^FUTEX_(WAKE\w*|\w*REQUEUE\w*)$")
MEMBARRIER_SYS = {"SYS_membarrier", "__NR_membarrier"}
MEMBARRIER_CMD_RE = re.compile(r"^MEMBARRIER_CMD_(?!.*(REGISTER|QUERY))\w+$")

OPERATOR_CLASSES = [
    "load.seq_cst-acquire", "load.acquire-relaxed", "load.consume-relaxed",
    "store.seq_cst-release", "store.release-relaxed",
    "rmw.seq_cst-acq_rel", "rmw.acq_rel-release", "rmw.acq_rel-acquire",
    "rmw.release-relaxed", "rmw.acquire-relaxed", "rmw.consume-relaxed",
    "cas-success.seq_cst-acq_rel", "cas-success.acq_rel-release", "cas-success.acq_rel-acquire",
    "cas-success.release-relaxed", "cas-success.acquire-relaxed",
    "cas-failure.seq_cst-acquire", "cas-failure.acquire-relaxed", "cas-failure.consume-relaxed",
    "fence.seq_cst-acq_rel", "fence.acq_rel-release", "fence.acq_rel-acquire",
    "signal-fence.seq_cst-acq_rel", "signal-fence.acq_rel-release", "signal-fence.acq_rel-acquire",
    "fence.remove", "signal-fence.remove", "fence-call.remove", "membarrier.remove",
    "wake.remove",
]

# The shipped build forms: name -> (compiler variable, default compiler,
# extra flags).  tsan: clang + ThreadSanitizer (the WEFT_TSAN branches, the
# deque's access form); access: a plain build with the deque's access form
# (x86's default); fences: a plain build with the deque's fence form
# (the default on other targets).
FORMS = [
    ("tsan", "MUTANT_TSAN_CC", "clang", ["-fsanitize=thread", "-DWEFT_TSAN=1"]),
    ("access", "MUTANT_CC", "gcc", ["-DWEFT_DEQUE_FENCES=0"]),
    ("fences", "MUTANT_CC", "gcc", ["-DWEFT_DEQUE_FENCES=1"]),
]


# ---- lexing ------------------------------------------------------------------

class Tok:
    __slots__ = ("kind", "text", "start", "end", "line", "col", "stream")

    def __init__(self, kind, text, start, end, line, col, stream):
        self.kind, self.text, self.start, self.end = kind, text, start, end
        self.line, self.col, self.stream = line, col, stream


TOKEN_RE = re.compile(r"""
    (?P<ws>[ \t\f\v\r]+|\\\n)
  | (?P<nl>\n)
  | (?P<bc>/\*.*?\*/)
  | (?P<lc>//(?:\\\n|[^\n])*)
  | (?P<str>(?:u8|[uUL])?"(?:\\.|\\\n|[^"\\\n])*")
  | (?P<chr>(?:u8|[uUL])?'(?:\\.|[^'\\\n])*')
  | (?P<id>[A-Za-z_]\w*)
  | (?P<num>\.?\d(?:[eEpP][+-]|[\w.'])*)
  | (?P<p3>\.\.\.|<<=|>>=)
  | (?P<p2>->|\+\+|--|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%&|^]=|\#\#|::)
  | (?P<p1>.)
""", re.S | re.X)


def lex(text):
    """Tokens of text, comments and whitespace dropped.  Each token's stream
    is 0 for code and a positive number per preprocessor directive line, so
    that a #define body is analysed on its own."""
    toks = []
    line, line_start = 1, 0
    pos, n = 0, len(text)
    at_line_start = True
    stream, next_stream = 0, 1
    while pos < n:
        m = TOKEN_RE.match(text, pos)
        kind = m.lastgroup
        s, e = m.start(), m.end()
        frag = m.group()
        if kind == "nl":
            stream = 0
            at_line_start = True
        elif kind in ("ws", "bc", "lc"):
            pass
        else:
            if at_line_start and frag == "#":
                stream, next_stream = next_stream, next_stream + 1
            at_line_start = False
            toks.append(Tok(kind, frag, s, e, line, s - line_start + 1, stream))
        # advance line counters over everything consumed
        nls = frag.count("\n")
        if nls:
            line += nls
            line_start = s + frag.rindex("\n") + 1
        pos = e
    return toks


def streams(toks):
    out = {}
    for t in toks:
        out.setdefault(t.stream, []).append(t)
    return out


def match_brackets(ts):
    pairs = {}
    stack = []
    opening = {"(": ")", "[": "]", "{": "}"}
    closing = {")", "]", "}"}
    for i, t in enumerate(ts):
        if t.kind != "p1":
            continue
        if t.text in opening:
            stack.append(i)
        elif t.text in closing and stack:
            j = stack.pop()
            pairs[i], pairs[j] = j, i
    return pairs


def function_spans(ts, pairs, is_directive):
    """(start index, end index, name) of each function body in a stream, or
    the macro name for a directive."""
    if is_directive:
        if len(ts) > 2 and ts[1].text == "define":
            return [(0, len(ts) - 1, ts[2].text + " (macro)")]
        return []
    spans = []
    depth = 0
    for i, t in enumerate(ts):
        if t.kind == "p1" and t.text == "{":
            if depth == 0 and i > 0 and ts[i - 1].text == ")" and (i - 1) in pairs:
                j = pairs[i - 1]
                if j > 0 and ts[j - 1].kind == "id" and i in pairs:
                    spans.append((i, pairs[i], ts[j - 1].text))
            depth += 1
        elif t.kind == "p1" and t.text == "}":
            depth = max(0, depth - 1)
    return spans


def enclosing_call(ts, pairs, i):
    """For token i: (index of the open paren of the innermost call around it,
    callee name or None, 0-based argument number)."""
    depth = 0
    arg = 0
    k = i - 1
    while k >= 0:
        t = ts[k]
        if t.kind == "p1":
            if t.text in ")]}":
                k = pairs.get(k, k) - 1
                continue
            if t.text == ",":
                arg += 1
            elif t.text in "([{":
                if t.text != "(":
                    return None, None, arg
                callee = ts[k - 1].text if k > 0 and ts[k - 1].kind == "id" else None
                return k, callee, arg
        k -= 1
    return None, None, arg


def call_args(ts, pairs, open_i):
    """Token index ranges [a, b) of the arguments of the call at open_i."""
    close = pairs.get(open_i)
    if close is None:
        return []
    args, a, k = [], open_i + 1, open_i + 1
    while k < close:
        t = ts[k]
        if t.kind == "p1" and t.text in "([{" and k in pairs:
            k = pairs[k] + 1
            continue
        if t.kind == "p1" and t.text == ",":
            args.append((a, k))
            a = k + 1
        k += 1
    if close > open_i + 1:
        args.append((a, close))
    return args


STATEMENT_START = {";", "{", "}", ":"}


def call_statement(ts, pairs, name_i):
    """If the call whose callee is token name_i forms a whole expression
    statement (optionally cast to void), return (first token index, close
    paren index); 'value' if its value is used; None for a declaration or
    definition (not a call)."""
    open_i = name_i + 1
    close = pairs.get(open_i)
    if close is None:
        return None
    first = name_i
    while first >= 2 and ts[first - 1].text == "::" and ts[first - 2].kind == "id":
        first -= 2  # std::atomic_thread_fence(...)
    prev = ts[first - 1] if first > 0 else None
    cast = False
    while prev is not None and prev.text == ")" and (first - 1) in pairs:
        j = pairs[first - 1]
        inner = [x.text for x in ts[j + 1:first - 1]]
        before = ts[j - 1].text if j > 0 else ";"
        if inner == ["void"] and not cast:
            first, cast = j, True  # (void)f(...);
            prev = ts[j - 1] if j > 0 else None
        elif before in ("if", "while", "for"):
            prev = None  # body of a condition: a statement of its own
        else:
            return "value"
    if prev is None or prev.text in STATEMENT_START or prev.text in ("else", "do"):
        nxt = ts[close + 1] if close + 1 < len(ts) else None
        if nxt is not None and nxt.text == ";":
            return first, close
        return "value"
    if prev.kind == "id" or prev.text == "*":
        return None  # a declaration or definition: "void f(...)", "int *f(...)"
    return "value"


# ---- mutants ---------------------------------------------------------------

class Mutant:
    def __init__(self, path, tok, op, desc, edits, dropped=None):
        self.path, self.line, self.col = path, tok.line, tok.col
        self.offset = tok.start
        self.op, self.desc, self.edits, self.dropped = op, desc, edits, dropped
        self.id = "%s:%d:%d:%s" % (path, tok.line, tok.col, op)
        self.index = None

    def apply(self, text):
        for s, e, repl in sorted(self.edits, key=lambda x: -x[0]):
            text = text[:s] + repl + text[e:]
        return text


def order_of(text):
    m = ORDER_RE.match(text)
    return m.group(1).lower() if m else None


def spell(tok_text, order):
    if tok_text.startswith("__ATOMIC_"):
        return "__ATOMIC_" + order.upper()
    return "memory_order_" + order


def removal(text, ts, first, close, repl="(void)0"):
    s, e = ts[first].start, ts[close].end
    return (s, e, repl + "\n" * text.count("\n", s, e))


# A wrapper's kind guessed from its name components (a later spelling such
# as weft_atomic_load(p, memory_order_acquire)); its description says so.
GUESS = [(re.compile(r"(?:^|_)(?:compare_exchange|cas)(?:_|$)"), "cas?"),
         (re.compile(r"(?:^|_)fence(?:_|$)"), "fence"),
         (re.compile(r"(?:^|_)load(?:_|$)"), "load"),
         (re.compile(r"(?:^|_)store(?:_|$)"), "store"),
         (re.compile(r"(?:^|_)(?:exchange|fetch|swap|rmw)(?:_|$)"), "rmw")]


def classify(callee):
    """(kind, guessed) of the operation a callee performs, or (None, False)."""
    if callee is None:
        return None, False
    if callee in CALLEES:
        return CALLEES[callee], False
    if RMW_RE.match(callee):
        return "rmw", False
    for rx, kind in GUESS:
        if rx.search(callee):
            return kind, True
    return None, False


def mutants_of_file(root, path):
    text = open(os.path.join(root, path), encoding="utf-8", errors="surrogateescape").read()
    toks = lex(text)
    out = []
    for sid, ts in sorted(streams(toks).items()):
        pairs = match_brackets(ts)
        spans = function_spans(ts, pairs, sid != 0)

        def where(i):
            for a, b, name in spans:
                if a <= i <= b:
                    return name + "()" if not name.endswith("(macro)") else name
            return "file scope"

        for i, t in enumerate(ts):
            if t.kind != "id":
                continue
            order = order_of(t.text)
            if order is not None:
                out.extend(ordering_mutants(text, path, ts, pairs, i, order, where(i)))
                continue
            if i + 1 >= len(ts) or ts[i + 1].text != "(":
                continue
            out.extend(call_mutants(text, path, ts, pairs, i, where(i)))
    return out


def ordering_mutants(text, path, ts, pairs, i, order, fn):
    t = ts[i]
    open_i, callee, arg = enclosing_call(ts, pairs, i)
    kind, guessed = classify(callee)
    what = (callee or "?") + (" (kind guessed from its name)" if guessed else "")
    if kind is None:
        return [Mutant(path, t, "ordering.unknown", "%s: %s in a call of %s" % (fn, t.text, what),
                       [], dropped="ordering of an operation the table does not know (%s)" % what)]
    partner = None
    if kind == "cas?":
        # a wrapper: its literal ordering arguments are success, failure
        args = call_args(ts, pairs, open_i)
        lits = [n for n, (a, b) in enumerate(args) if b - a == 1 and order_of(ts[a].text)]
        if len(lits) != 2 or arg not in lits:
            return [Mutant(path, t, "ordering.unknown", "%s: %s in a call of %s" % (fn, t.text, what),
                           [], dropped="compare-exchange wrapper without two literal orderings")]
        kind = ("cas", lits[0], lits[1])
    if isinstance(kind, tuple):
        _, si, fi = kind
        args = call_args(ts, pairs, open_i)
        if arg == si:
            kind, other = "cas-success", fi
        elif arg == fi:
            kind, other = "cas-failure", si
        else:
            return []
        if other < len(args):
            a, b = args[other]
            partner = order_of(ts[a].text) if b - a == 1 else None
    res = []
    for weaker in LADDER[kind].get(order, []):
        op = "%s.%s-%s" % (kind, order, weaker)
        desc = "%s: %s %s%s -> %s" % (fn, what, "success " if kind == "cas-success" else
                                      "failure " if kind == "cas-failure" else "", order, weaker)
        edits = [(t.start, t.end, spell(t.text, weaker))]
        dropped = None
        if kind in ("fence", "signal-fence") and weaker == "relaxed":
            dropped = "a relaxed fence does nothing: the same mutant as %s.remove" % kind
        elif kind == "cas-success":
            if partner is None:
                dropped = "failure ordering is not a literal: legality unchecked"
            elif partner not in LEGAL_FAILURE[weaker]:
                dropped = "illegal pair: failure %s is stronger than success %s" % (partner, weaker)
        elif kind == "cas-failure":
            if partner is None:
                dropped = "success ordering is not a literal: legality unchecked"
            elif weaker not in LEGAL_FAILURE[partner]:
                dropped = "illegal pair: failure %s with success %s" % (weaker, partner)
        res.append(Mutant(path, t, op, desc, edits, dropped))
    return res


def call_mutants(text, path, ts, pairs, i, fn):
    t = ts[i]
    name = t.text
    op = None
    repl = "(void)0"
    if name in FENCE_CALLS:
        op, what = FENCE_CALLS[name], "%s(...) removed" % name
    elif name == "syscall":
        args = call_args(ts, pairs, i + 1)
        if not args:
            return []
        a0 = [x.text for x in ts[args[0][0]:args[0][1]]]
        inside = [x.text for x in ts[i + 2:pairs.get(i + 1, i + 1)]]
        if len(a0) == 1 and a0[0] in FUTEX_SYS and any(FUTEX_WAKE_RE.match(x) for x in inside):
            op, what = "wake.remove", "futex wake system call removed"
        elif len(a0) == 1 and a0[0] in MEMBARRIER_SYS:
            cmds = [x for x in inside if MEMBARRIER_CMD_RE.match(x)]
            if not cmds:
                return []
            # replace the call (statement or value) by 0: "it worked", no barrier
            close = pairs[i + 1]
            return [Mutant(path, t, "membarrier.remove",
                           "%s: membarrier(%s) reports success without the barrier" % (fn, cmds[0]),
                           [removal(text, ts, i, close, "0")])]
        else:
            return []
    elif FENCE_NAME_RE.search(name) and not name.startswith(("atomic_", "__atomic_")):
        op, what = "fence-call.remove", "call of the fence helper %s() removed" % name
    elif WAKE_NAME_RE.search(name) or name in WAKE_CALLS:
        op, what = "wake.remove", "call of %s() removed" % name
    if op is None:
        return []
    st = call_statement(ts, pairs, i)
    if st is None:
        return []  # declaration or definition
    if st == "value":
        return [Mutant(path, t, op, "%s: %s" % (fn, what), [],
                       dropped="the call's value is used: no statement to remove")]
    first, close = st
    return [Mutant(path, t, op, "%s: %s" % (fn, what), [removal(text, ts, first, close)])]


def source_files(root):
    files = []
    for pat in ("src/*.c", "src/*.h"):
        files.extend(glob.glob(os.path.join(root, pat)))
    return sorted(os.path.relpath(f, root) for f in files)


def generate(root):
    """(valid mutants with their index, dropped mutants), sorted by file and
    position; stable for a given src/."""
    allm = []
    for path in source_files(root):
        allm.extend(mutants_of_file(root, path))
    allm.sort(key=lambda m: (m.path, m.offset, m.op))
    seen = set()
    valid, dropped = [], []
    for m in allm:
        if m.id in seen:
            continue
        seen.add(m.id)
        if m.dropped:
            dropped.append(m)
        else:
            valid.append(m)
            m.index = len(valid)
    return valid, dropped


def select(valid, pats):
    if not pats:
        return list(valid)
    out = []
    for m in valid:
        for p in pats:
            if (p.isdigit() and int(p) == m.index) or fnmatch.fnmatchcase(m.id, p):
                out.append(m)
                break
    return out


def find(valid, key):
    for m in valid:
        if m.id == key or (key.isdigit() and int(key) == m.index):
            return m
    return None


# ---- forms -------------------------------------------------------------------

class FormChecker:
    """Preprocess the translation units under each form, unmutated and
    mutated, in a scratch copy of src/ and include/."""

    def __init__(self, root, config_h_dir=None):
        self.root = root
        self.scratch = tempfile.mkdtemp(prefix="mutagen.")
        for d in ("src", "include"):
            if os.path.isdir(os.path.join(root, d)):
                shutil.copytree(os.path.join(root, d), os.path.join(self.scratch, d))
        self.extra = []
        if config_h_dir:
            self.inc = os.path.abspath(config_h_dir)
        else:
            self.inc = os.path.join(self.scratch, "stub")
            os.makedirs(self.inc)
            open(os.path.join(self.inc, "config.h"), "w").close()
            self.extra = ["-D_GNU_SOURCE", "-DWEFT_CHAOS=1"]
        self.tus = sorted(os.path.relpath(f, self.scratch)
                          for f in glob.glob(os.path.join(self.scratch, "src", "*.c")))
        self.orig = {}

    def close(self):
        shutil.rmtree(self.scratch, ignore_errors=True)

    def cpp(self, form, tu):
        name, var, default, flags = form
        cc = os.environ.get(var, default).split()
        cmd = cc + ["-E", "-std=c11"] + flags + self.extra + [
            "-I" + os.path.join(self.scratch, "include"), "-I" + os.path.join(self.scratch, "src"),
            "-I" + self.inc, os.path.join(self.scratch, tu)]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           errors="replace")
        if p.returncode != 0:
            return None, set()
        body, files = [], set()
        for ln in p.stdout.splitlines():
            if ln.startswith("# "):
                parts = ln.split('"')
                if len(parts) > 1:
                    files.add(os.path.relpath(parts[1], self.scratch)
                              if parts[1].startswith(self.scratch) else parts[1])
                continue
            if ln.strip():
                body.append(ln)
        return "\n".join(body), files

    def original(self, form, tu):
        key = (form[0], tu)
        if key not in self.orig:
            self.orig[key] = self.cpp(form, tu)
        return self.orig[key]

    def forms_of(self, m):
        """(forms that compile m, forms to run: plain forms with the same
        mutated code collapsed into the first)."""
        # the unmutated outputs first (cached), then the mutant's
        users = {}
        for form in FORMS:
            users[form[0]] = [tu for tu in self.tus if m.path in self.original(form, tu)[1]]
        path = os.path.join(self.scratch, m.path)
        text = open(path, encoding="utf-8", errors="surrogateescape").read()
        try:
            with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
                f.write(m.apply(text))
            compiled, code = [], {}
            for form in FORMS:
                outs = []
                changed = False
                for tu in users[form[0]]:
                    out, _ = self.cpp(form, tu)
                    outs.append(out)
                    if out != self.original(form, tu)[0]:
                        changed = True
                if changed:
                    compiled.append(form[0])
                    code[form[0]] = tuple(outs)
        finally:
            with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
                f.write(text)
        run = []
        if "tsan" in compiled:
            run = ["tsan"]
        else:
            for f in compiled:
                if not any(code[r] == code[f] for r in run):
                    run.append(f)
        parts = sorted({os.path.splitext(os.path.basename(tu))[0]
                        for f in compiled for tu in users[f]})
        return compiled, run, parts


# ---- results -----------------------------------------------------------------

TSV_FIELDS = ["index", "id", "operator", "forms", "run_forms", "verdict", "layer", "detail",
              "model_check", "model_check_s", "unit", "unit_s", "tsan_stress", "tsan_stress_s",
              "gcc_stress", "gcc_stress_s", "build_s", "total_s", "description"]


def read_tsv(path):
    rows, meta = [], []
    with open(path, encoding="utf-8") as f:
        header = None
        for ln in f:
            ln = ln.rstrip("\n")
            if ln.startswith("#"):
                meta.append(ln)
                continue
            cells = ln.split("\t")
            if header is None:
                header = cells
                continue
            rows.append(dict(zip(header, cells)))
    return meta, rows


def same_code(r):
    """A survivor that no layer ran on changed code: every form it was
    built in produced the unmutated object code."""
    cells = ",".join(r.get(k, "") for k in ("model_check", "unit", "tsan_stress", "gcc_stress"))
    return "same-code" in cells and not re.search(r"(^|,)(pass|kill|timeout)", cells)


def summary(path, markdown):
    """Per operator: mutants, kills per layer, survivors (same-code: of
    them, those whose object code was unchanged in every form built),
    dropped, compiled by no form; then the mean seconds per layer and the
    survivors."""
    meta, rows = read_tsv(path)
    layers = ["model-check", "unit", "tsan-stress", "gcc-stress"]
    table = {}
    for r in rows:
        t = table.setdefault(r["operator"], {"n": 0, "survived": 0, "same-code": 0, "dropped": 0,
                                              "no-form": 0,
                                              **{k: 0 for k in layers}})
        t["n"] += 1
        v = r["verdict"]
        if v == "KILLED":
            t[r["layer"]] = t.get(r["layer"], 0) + 1
        elif v == "SURVIVED":
            t["survived"] += 1
            if same_code(r):
                t["same-code"] += 1
        elif v == "DROPPED":
            t["dropped"] += 1
        elif v == "NO-FORM":
            t["no-form"] += 1
    cols = ["n"] + layers + ["survived", "same-code", "dropped", "no-form"]
    order = [o for o in OPERATOR_CLASSES if o in table] + sorted(o for o in table
                                                                  if o not in OPERATOR_CLASSES)
    total = {c: sum(table[o][c] for o in table) for c in cols}
    for ln in meta:
        print(ln if not markdown else ln.lstrip("# "))
    if markdown:
        print()
        print("| operator | " + " | ".join(cols) + " |")
        print("|---|" + "---:|" * len(cols))
        for o in order:
            print("| %s | %s |" % (o, " | ".join(str(table[o][c]) for c in cols)))
        print("| **all** | %s |" % " | ".join("**%d**" % total[c] for c in cols))
    else:
        w = max([len(o) for o in order] + [8])
        print("%-*s %s" % (w, "operator", " ".join("%11s" % c for c in cols)))
        for o in order:
            print("%-*s %s" % (w, o, " ".join("%11d" % table[o][c] for c in cols)))
        print("%-*s %s" % (w, "all", " ".join("%11d" % total[c] for c in cols)))
    # seconds per mutant per layer, over the mutants whose layer ran
    print()
    parts = []
    for name, res, sec in (("build", None, "build_s"), ("model-check", "model_check", "model_check_s"),
                           ("unit", "unit", "unit_s"), ("tsan-stress", "tsan_stress", "tsan_stress_s"),
                           ("gcc-stress", "gcc_stress", "gcc_stress_s"), ("per mutant", None, "total_s")):
        ran = [r for r in rows if r.get(sec) not in (None, "") and
               (res is None or re.search(r"(^|,)(pass|kill|timeout)", r.get(res, "")))]
        if sec in ("build_s", "total_s"):
            ran = [r for r in rows if r["verdict"] in ("KILLED", "SURVIVED")]
        if not ran:
            continue
        vals = [float(r[sec]) for r in ran]
        kills = [float(r[sec]) for r in ran if res and re.search(r"(^|,)kill", r.get(res, ""))]
        passes = [float(r[sec]) for r in ran if res and not re.search(r"(^|,)kill", r.get(res, ""))]
        txt = "%s %.1f s mean over %d" % (name, sum(vals) / len(vals), len(vals))
        if kills and passes:
            txt += " (kill %.1f, pass %.1f)" % (sum(kills) / len(kills), sum(passes) / len(passes))
        parts.append(txt)
    print(("Seconds: " if markdown else "seconds: ") + "; ".join(parts))
    surv = [r for r in rows if r["verdict"] == "SURVIVED"]
    if surv:
        print()
        print("survivors:" if not markdown else "Survivors:\n")
        for r in surv:
            line = "%s  [%s]  %s  (%s)" % (r["id"], r["forms"], r["description"], r["detail"])
            print(("- `%s` [%s] %s (%s)" % (r["id"], r["forms"], r["description"], r["detail"]))
                  if markdown else "  " + line)
    other = [r for r in rows if r["verdict"] in ("DROPPED", "NO-FORM")]
    if other:
        print()
        print("dropped / compiled by no form:" if not markdown else "Dropped / compiled by no form:\n")
        for r in other:
            print(("- `%s` %s: %s" if markdown else "  %s  %s: %s") % (r["id"], r["verdict"],
                                                                      r["detail"]))


# ---- command line ------------------------------------------------------------

def main(argv):
    ap = argparse.ArgumentParser(prog="mutagen.py", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    pl = sub.add_parser("list")
    pl.add_argument("--tree", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    pl.add_argument("--dropped", action="store_true", help="only the dropped mutants, with reasons")
    pl.add_argument("--all", action="store_true", help="valid and dropped")
    pl.add_argument("--only", action="append", default=[])
    pl.add_argument("--sample", type=int)
    pl.add_argument("--seed", type=int)
    pl.add_argument("--forms", action="store_true")
    pl.add_argument("--config-h")
    pl.add_argument("--tsv", action="store_true",
                    help="index, id, operator, forms, run forms, parts, description")
    pa = sub.add_parser("apply")
    pa.add_argument("--tree", required=True)
    pa.add_argument("mutant")
    pf = sub.add_parser("forms")
    pf.add_argument("--tree", required=True)
    pf.add_argument("--config-h")
    pf.add_argument("mutants", nargs="+")
    ps = sub.add_parser("summary")
    ps.add_argument("--markdown", action="store_true")
    ps.add_argument("results")
    sub.add_parser("patterns")
    a = ap.parse_args(argv)

    if a.cmd == "patterns":
        print("operators:")
        for o in OPERATOR_CLASSES:
            print("  " + o)
        print("ordering arguments: memory_order_<order>, __ATOMIC_<ORDER>; operation kinds:")
        for k, v in sorted(CALLEES.items()):
            print("  %-42s %s" % (k, v if isinstance(v, str) else "cas (success arg %d, failure arg %d)"
                                  % (v[1] + 1, v[2] + 1)))
        print("  %-42s rmw" % RMW_RE.pattern)
        print("fence removal: " + ", ".join(sorted(FENCE_CALLS)))
        print("fence helpers (call statements removed): callee matching /%s/" % FENCE_NAME_RE.pattern)
        print("membarrier: syscall(%s, /%s/, ...) -> 0" % ("|".join(sorted(MEMBARRIER_SYS)),
                                                           MEMBARRIER_CMD_RE.pattern))
        print("wakes (call statements removed): callee matching /%s/ (not a fence helper), %s,"
              % (WAKE_NAME_RE.pattern, ", ".join(sorted(WAKE_CALLS))))
        print("       syscall(%s, ... /%s/ ...)" % ("|".join(sorted(FUTEX_SYS)), FUTEX_WAKE_RE.pattern))
        print("forms: " + "; ".join("%s = $%s (%s) %s" % (n, v, d, " ".join(f)) for n, v, d, f in FORMS))
        return 0

    if a.cmd == "summary":
        summary(a.results, a.markdown)
        return 0

    root = os.path.abspath(a.tree)
    valid, dropped = generate(root)

    if a.cmd == "apply":
        m = find(valid, a.mutant)
        if m is None:
            d = [x for x in dropped if x.id == a.mutant]
            print("mutagen: %s: %s" % (a.mutant, ("dropped: " + d[0].dropped) if d else "no such mutant"),
                  file=sys.stderr)
            return 2
        path = os.path.join(root, m.path)
        text = open(path, encoding="utf-8", errors="surrogateescape").read()
        new = m.apply(text)
        if new == text or new.count("\n") != text.count("\n"):
            print("mutagen: %s changes nothing or the line count" % m.id, file=sys.stderr)
            return 1
        with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(new)
        print(m.path)
        return 0

    if a.cmd == "forms":
        fc = FormChecker(root, a.config_h)
        try:
            for key in a.mutants:
                m = find(valid, key)
                if m is None:
                    print("%s\tNO-SUCH-MUTANT" % key)
                    continue
                compiled, run, parts = fc.forms_of(m)
                print("%d\t%s\t%s\t%s\t%s" % (m.index, m.id, ",".join(compiled) or "-",
                                              ",".join(run) or "-", ",".join(parts) or "-"))
        finally:
            fc.close()
        return 0

    # list
    chosen = select(valid, a.only)
    if a.sample is not None:
        seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1 << 31)
        print("# sample of %d from %d, seed %d" % (min(a.sample, len(chosen)), len(chosen), seed),
              file=sys.stderr)
        rng = random.Random(seed)
        chosen = sorted(rng.sample(chosen, min(a.sample, len(chosen))), key=lambda m: m.index)
    if a.dropped or a.all:
        ds = [d for d in dropped if not a.only or any(fnmatch.fnmatchcase(d.id, p) for p in a.only)]
    else:
        ds = []
    if a.dropped:
        chosen = []
    info = {}
    if a.forms and chosen:
        fc = FormChecker(root, a.config_h)
        try:
            # warm the cache of unmutated outputs in parallel, then check
            with concurrent.futures.ThreadPoolExecutor(max_workers=2) as ex:
                list(ex.map(lambda ft: fc.original(*ft), [(f, tu) for f in FORMS for tu in fc.tus]))
            for m in chosen:
                info[m.id] = fc.forms_of(m)
        finally:
            fc.close()
    for m in chosen:
        if a.tsv:
            compiled, run, parts = info.get(m.id, ([], [], []))
            print("%d\t%s\t%s\t%s\t%s\t%s\t%s" % (m.index, m.id, m.op, ",".join(compiled) or "-",
                                                  ",".join(run) or "-", ",".join(parts) or "-",
                                                  m.desc))
        elif a.forms:
            compiled, run, parts = info[m.id]
            print("%4d  %-58s %-20s %s" % (m.index, m.id, ",".join(compiled) or "NO FORM", m.desc))
        else:
            print("%4d  %-58s %s" % (m.index, m.id, m.desc))
    for d in ds:
        if a.tsv:
            print("-\t%s\t%s\t-\t-\t-\tDROPPED: %s" % (d.id, d.op, d.dropped))
        else:
            print("   -  %-58s DROPPED: %s (%s)" % (d.id, d.dropped, d.desc))
    return 0


if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # mutagen.py list | head
    sys.exit(main(sys.argv[1:]))
