#!/bin/sh
# stress/mutants.sh - mutation testing of the stress suite.
#
# Two lists of mutants: the hand-written one below (the default), and the
# systematic one that stress/mutagen.py derives from src/ (--systematic).
#
# HAND-WRITTEN.  Copies the committed sources (git archive HEAD; or the whole
# tree when it is not a git checkout) to a temporary directory, builds them
# once with clang + ThreadSanitizer + --enable-chaos, then for each mutant
# below plants ONE bug (a literal text replacement in one library file),
# rebuilds, runs `weft-stress --quick --chaos` under a time-out and prints
# whether the suite noticed:
#   killed     weft-stress exited non-zero (a failed check, a TSan report,
#              the watchdog, a crash)
#   survived   it passed: the suite missed the bug
#   ERROR      the patch did not apply (the text is gone: the code changed)
#              or the mutant did not build
# Then "K/N killed" (ERRORs count in N: a mutant that cannot be planted
# proves nothing).  Exit status 0 when every mutant was killed except the
# expected survivors (EXPECTED_SURVIVORS, each explained in its comment).
#
# usage: stress/mutants.sh [SRCDIR] [--keep] [--list] [--dry-run] [NAME...]
#   SRCDIR   the weft source tree (default: the one holding this script)
#   --keep   keep the temporary directory (printed)
#   --list   print the mutants and exit
#   --dry-run only check that every patch still applies to HEAD
#   NAME     run only these mutants
# Environment: MUTANT_FLAGS (default "--quick --chaos"), MUTANT_TIMEOUT
# (seconds per run, default 240; 180 for --systematic), TSAN_OPTIONS
# (default halt_on_error=1).
# Not part of make check or CI (it takes about a minute per mutant);
# `make mutants-hand` runs it.
#
# SYSTEMATIC (--systematic; `make mutants`, `make mutants-sample`).  Every
# memory_order_* argument of src/ weakened by one step, every fence removed,
# every wake-up call removed (the operators and patterns: stress/mutagen.py,
# `stress/mutagen.py patterns`).  For each mutant, the build forms that
# compile it (tsan: clang + TSan, the WEFT_TSAN branches and the deque's
# access form; access: plain gcc, deque access form, the asymmetric
# membarrier branches; fences: plain gcc, -DWEFT_DEQUE_FENCES=1) come from
# preprocessing; then its layers run in order, stopping at the first kill:
#   model-check  `make model-check` (Relacy, mk/model_check.am) in a plain
#                build without chaos (form "mc"), when it has the target and
#                programs (else n/a): the programs of the mutant's parts in
#                the forms that compile it (model-check/<part>_<form>; none:
#                "none"); a FAIL in their .trs is a kill.  The interface it
#                relies on is at run_model_check below
#   unit         the part's programs of tests/ (test_<part>*), in the build
#                of each form the mutant runs in (off with --no-unit); a
#                time-out there is inconclusive ("timeout"), not a kill
#   tsan-stress  weft-stress $MUTANT_FLAGS in the clang + TSan + chaos build
#   gcc-stress   for mutants TSan does not compile: the same run in a plain
#                gcc + chaos build of each form that compiles it (access,
#                fences; one of two forms that compile identical code)
# A kill is a failed check, the watchdog (3), a TSan report (66), a crash or
# the time-out.  A form whose object code the mutant leaves unchanged
# (objects compared without debug info) is not run: "same-code".  Mutants
# that do not build are DROPPED; those with an illegal ordering pair or a
# wake whose value is used are dropped by the generator (mutagen.py list
# --dropped); those that no shipped form compiles are NO-FORM.
#
# usage: stress/mutants.sh [SRCDIR] --systematic [--hand] [--jobs N]
#            [--sample N] [--seed S] [--only ID|GLOB|K]... [--list] [--dry-run]
#            [--results FILE] [--no-unit] [--also-plain] [--keep]
#   --hand       also run the hand-written list (first)
#   --jobs N     N independent copies of the tree under /tmp, each configured
#                once per form it needs; one mutant at a time each (default 1)
#   --sample N   a random sample of N mutants (seeded; the seed is printed)
#   --seed S     the sample's seed (default: random)
#   --only PAT   only the mutants whose id matches PAT (an id, a glob such
#                as 'src/deque.c:*' or '*:wake.remove', or a number K);
#                repeatable
#   --list       print the generated list (number, id, description) and exit
#   --dry-run    print each selected mutant's forms and planned layers, no build
#   --results F  the TSV result file (default ./mutants-systematic.tsv);
#                `stress/mutagen.py summary [--markdown] F` summarises it
#   --no-unit    skip the unit-test layer
#   --also-plain also run gcc-stress for mutants that survive tsan-stress
#                and are compiled by a plain form too (e.g. code TSan
#                compiles but never runs, such as the membarrier path)
#   --keep       keep the copies (printed)
# Output: one line per mutant (number, id, forms, KILLED by which layer or
# SURVIVED, seconds), then a summary table per operator and the survivors.
# Exit status 0 when the run completed (survivors are reported, not an
# error), 99 when it could not run (the unmutated code fails a layer, a
# build fails).  Environment as above, plus UNIT_TIMEOUT (seconds per test
# program, default 30 or 3x the slowest unmutated one), MODEL_CHECK_TIMEOUT (default 600), MUTANT_CC
# (default gcc), MUTANT_TSAN_CC (default clang), PYTHON (default python3).

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
keep=no list=no dry=no names=
systematic=no hand=no jobs=1 sample= seed= only= results= unit=yes also_plain=no
usage() {
  echo "usage: $0 [SRCDIR] [--keep] [--list] [--dry-run] [NAME...]" >&2
  echo "       $0 [SRCDIR] --systematic [--hand] [--jobs N] [--sample N] [--seed S] [--only ID|GLOB|K]..." >&2
  echo "            [--list] [--dry-run] [--results FILE] [--no-unit] [--also-plain] [--keep]" >&2
  exit 99
}
needarg() { test "$1" -ge 2 || usage; }
while test $# -gt 0; do
  a=$1
  case $a in
    --keep) keep=yes ;;
    --list) list=yes ;;
    --dry-run) dry=yes ;;
    --systematic) systematic=yes ;;
    --hand) hand=yes ;;
    --no-unit) unit=no ;;
    --also-plain) also_plain=yes ;;
    --jobs) needarg $#; jobs=$2; shift ;;
    --jobs=*) jobs=${a#*=} ;;
    --sample) needarg $#; sample=$2; shift ;;
    --sample=*) sample=${a#*=} ;;
    --seed) needarg $#; seed=$2; shift ;;
    --seed=*) seed=${a#*=} ;;
    --only) needarg $#; only="$only
$2"; shift ;;
    --only=*) only="$only
${a#*=}" ;;
    --results) needarg $#; results=$2; shift ;;
    --results=*) results=${a#*=} ;;
    -*) usage ;;
    *) if test -d "$a" && test -f "$a/configure.ac"; then src=$(cd "$a" && pwd)
       else names="$names $a"; fi ;;
  esac
  shift
done
case $jobs in ''|*[!0-9]*|0) echo "mutants: --jobs wants a positive number" >&2; exit 99 ;; esac
case $sample in *[!0-9]*) echo "mutants: --sample wants a number" >&2; exit 99 ;; esac
case $seed in *[!0-9]*) echo "mutants: --seed wants a number" >&2; exit 99 ;; esac
if test "$systematic" = no && { test "$hand" = yes || test "$jobs" != 1 || test -n "$sample$seed$only$results" ||
                                test "$unit" = no || test "$also_plain" = yes; }; then
  echo "mutants: --hand, --jobs, --sample, --seed, --only, --results, --no-unit and --also-plain go with --systematic" >&2
  exit 99
fi
if test "$systematic" = yes; then
  : "${MUTANT_FLAGS:=--quick --chaos}" "${MUTANT_TIMEOUT:=180}"
else
  : "${MUTANT_FLAGS:=--quick --chaos}" "${MUTANT_TIMEOUT:=240}"
fi
TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1}
export TSAN_OPTIONS

# ===========================================================================
# The systematic run.
# ===========================================================================
user_unit_timeout=${UNIT_TIMEOUT:-}
: "${UNIT_TIMEOUT:=30}" "${MODEL_CHECK_TIMEOUT:=600}" "${PYTHON:=python3}"
: "${MUTANT_CC:=gcc}" "${MUTANT_TSAN_CC:=clang}"
export MUTANT_CC MUTANT_TSAN_CC
gen="$here/mutagen.py"
tab=$(printf '\t')

now_ms() { date +%s%3N; }
secs() { awk -v ms="$1" 'BEGIN { printf "%.1f", ms / 1000 }'; }

# The configure arguments of each form.
configure_form() {  # FORM SRCDIR
  case $1 in
    tsan) "$2/configure" CC="$MUTANT_TSAN_CC" CXX=clang++ --enable-sanitizer=thread --enable-chaos ;;
    access) "$2/configure" CC="$MUTANT_CC" --enable-chaos CPPFLAGS=-DWEFT_DEQUE_FENCES=0 ;;
    fences) "$2/configure" CC="$MUTANT_CC" --enable-chaos CPPFLAGS=-DWEFT_DEQUE_FENCES=1 ;;
    mc) "$2/configure" CC="$MUTANT_CC" ;;  # the model checker's build: no sanitizer, no chaos
    *) return 1 ;;
  esac
}

# The test programs of tests/ for PARTS (comma list), in build DIR: those
# named test_<part> or test_<part>_<variant> in its Makefile.
unit_progs() {  # DIR PARTS
  for p in $(echo "$2" | tr ',' ' '); do
    test "$p" = - && continue
    grep -o 'tests/test_[A-Za-z0-9_]*\$(EXEEXT)' "$1/Makefile" | sed 's/\$(EXEEXT)//' | sort -u |
      grep -E "^tests/test_$p(_[A-Za-z0-9_]+)?\$"
  done | sort -u | tr '\n' ' '
}

# Object files of a build without their debug information, hashed: "path hash".
objhash() {  # DIR
  (cd "$1" && find src tests -name '*.o' 2>/dev/null | sort | while read -r o; do
     objcopy --strip-debug "$o" "$o.nodebug.tmp" 2>/dev/null &&
       printf '%s %s\n' "$o" "$(sha1sum < "$o.nodebug.tmp" | cut -c1-40)"
     rm -f "$o.nodebug.tmp"
   done)
}

# Why a run of weft-stress or of a test program failed, from its status and log.
kill_reason() {  # STATUS LOG
  case $1 in
    1) r=$(grep -m1 -E '^ *FAIL|^not ok' "$2" | sed 's/^ *//' | cut -c1-80)
       echo "check failed${r:+: $r}" ;;
    3) echo "watchdog: no progress" ;;
    66) echo "TSan: $(grep -m1 'WARNING: ThreadSanitizer' "$2" | sed 's/.*ThreadSanitizer: //; s/ (pid=[0-9]*)//' | cut -c1-60)" ;;
    124|137) echo "time-out" ;;
    *) echo "exit status $1" ;;
  esac | tr '\t' ' '
}

# Layer 1: `make model-check` (mk/model_check.am, model-check/README.md).
# HOOK: these functions are the only place that knows its interface.  What
# they rely on:
#   - the target model-check in a build configured without sanitizer and
#     without --enable-chaos (our form "mc": plain $MUTANT_CC), with the
#     programs in MODEL_CHECK_PROGS (empty: not configured, e.g. no
#     relacy-dev), each named model-check/<part> or model-check/<part>_<form>
#     with <form> one of access, fences, tsan;
#   - MODEL_CHECK_PROGS (and check_PROGRAMS) set on the command line select
#     which of them are built and run: a mutant runs the programs of its
#     parts (the src/*.c that include its file) in the forms that compile it
#     (a program without a form suffix in every form);
#   - the automake harness's results: model-check/<prog>.trs (a FAIL or ERROR
#     result = a kill, the first "not ok" line of the .log is the detail; a
#     missing .trs = the model did not build: "error", not a kill).
# A time-out (MODEL_CHECK_TIMEOUT) is "timeout", not a kill.  What would be
# nicer: a documented selection variable (MODEL_CHECK_FORMS / _PARTS) instead
# of overriding MODEL_CHECK_PROGS, and a model-check target that does not go
# through `make check` (which builds `all` first).
mc_programs() {  # DIR: the model-check programs of a configured build
  printf 'weft-mutants-print-mc-progs:\n\t@echo $(MODEL_CHECK_PROGS)\n' > "$1/.mutants-print.mk"
  (cd "$1" && make -s -f Makefile -f .mutants-print.mk weft-mutants-print-mc-progs 2> /dev/null)
}
mc_select() {  # FORMS PARTS: the programs for a mutant
  for prog in $mc_progs_all; do
    b=${prog##*/} p=${prog##*/} sfx=
    case $b in *_*) p=${b%%_*} sfx=${b#*_} ;; esac
    case ",$2," in *",$p,"*) ;; *) continue ;; esac
    case $sfx in
      access|fences|tsan) case ",$1," in *",$sfx,"*) echo "$prog" ;; esac ;;
      *) echo "$prog" ;;
    esac
  done | tr '\n' ' ' | sed 's/ $//'
}
run_model_check() {  # DIR PROGS -> sets mc, mc_detail; 0 when killed
  mc_detail=
  if test -z "$2"; then mc=none; return 1; fi
  for prog in $2; do rm -f "$1/$prog.trs" "$1/$prog.log"; done
  (cd "$1" && timeout -k 10 "$MODEL_CHECK_TIMEOUT" make -j"$mj" model-check \
     MODEL_CHECK_PROGS="$2" check_PROGRAMS="$2") > "$w/log.mc" 2>&1
  st=$?
  case $st in 124|137) mc=timeout; mc_detail="time-out after $MODEL_CHECK_TIMEOUT s"; return 1 ;; esac
  for prog in $2; do
    if ! test -f "$1/$prog.trs"; then
      mc=error; mc_detail="${prog##*/} did not run: $(grep -m1 -E 'error|Error' "$w/log.mc" | cut -c1-70 | tr '\t' ' ')"
      return 1
    fi
    if grep -qE '^:(global-)?test-result: (FAIL|ERROR)' "$1/$prog.trs"; then
      mc="kill"
      mc_detail="${prog##*/}: $(grep -m1 '^not ok' "$1/$prog.log" | cut -c1-80 | tr '\t' ' ')"
      return 0
    fi
  done
  mc=pass
  return 1
}

# Build the targets of the current mutant in form F (once per mutant) and
# record which objects changed.  0 when it built.
build_form() {  # F
  f=$1
  case " $built " in *" $f:0 "*) return 0 ;; *" $f:1 "*) return 1 ;; esac
  tb=$(now_ms)
  targets="stress/weft-stress"
  test "$unit" = yes && targets="$targets $(unit_progs "$w/$f" "$parts")"
  if (cd "$w/$f" && make -j"$mj" $targets) > "$w/log.build.$f" 2>&1; then
    objhash "$w/$f" > "$w/$f.objs.now"
    # changed objects: lines of the new list not in the baseline list
    grep -vxF -f "$w/$f.objs.base" "$w/$f.objs.now" | cut -d' ' -f1 > "$w/$f.changed"
    built="$built $f:0"; rc=0
  else
    built="$built $f:1"; rc=1
  fi
  build_ms=$((build_ms + $(now_ms) - tb))
  return $rc
}
lib_changed() { grep -q 'libweft_la-' "$w/$1.changed"; }
unit_changed() {
  lib_changed "$1" && return 0
  for p in $(echo "$parts" | tr ',' ' '); do grep -q "test_$p" "$w/$1.changed" && return 0; done
  return 1
}

# Layer: the unit tests of the mutant's parts in form F.  0 when killed.
run_unit() {  # F
  progs=$(unit_progs "$w/$1" "$parts")
  if test -z "$progs"; then u=none; return 1; fi
  if ! unit_changed "$1"; then u=same-code; return 1; fi
  for prog in $progs; do
    (cd "$w/$1" && timeout -k 10 "$UNIT_TIMEOUT" "./$prog") > "$w/log.unit" 2>&1
    st=$?
    case $st in
      0|77) ;;
      # a time-out here is no proof (a loaded machine, and these programs
      # have no progress watchdog): inconclusive; weft-stress's watchdog decides
      124|137) u=timeout; return 1 ;;
      *) u="kill"; u_detail="${prog#tests/}: $(kill_reason "$st" "$w/log.unit")"; return 0 ;;
    esac
  done
  u=pass
  return 1
}

# Layer: weft-stress in form F.  0 when killed.
run_stress() {  # F
  if ! lib_changed "$1"; then s=same-code; return 1; fi
  timeout -k 10 "$MUTANT_TIMEOUT" "$w/$1/stress/weft-stress" $MUTANT_FLAGS > "$w/log.stress" 2>&1
  st=$?
  if test $st -eq 0; then s=pass; return 1; fi
  s="kill"; s_detail=$(kill_reason "$st" "$w/log.stress")
  return 0
}

# Append "value(form)" to a layer's cell.
cell() { if test "$1" = - || test -z "$1"; then echo "$2"; else echo "$1,$2"; fi; }

# One mutant (a line of the plan) in worker $w.
run_one() {
  IFS=$tab read -r idx id op forms runf parts desc <<EOF
$1
EOF
  t0=$(now_ms)
  verdict= layer=- detail= built= build_ms=0
  mc=n/a mc_ms=0 uc=- u_ms=0 tc=- t_ms=0 gc=- g_ms=0
  test "$have_mc" = yes || mc=n/a
  if test "$forms" = -; then
    verdict=NO-FORM detail="no shipped build form compiles it"
  elif ! file=$("$PYTHON" "$gen" apply --tree "$w/src" "$id" 2> "$w/log.apply"); then
    verdict=DROPPED detail="could not be applied: $(head -n1 "$w/log.apply")"
  else
    for f in $(echo "$runf" | tr ',' ' '); do
      if ! build_form "$f"; then
        verdict=DROPPED
        detail="does not build in $f: $(grep -m1 -E 'error|Error' "$w/log.build.$f" | cut -c1-80 | tr '\t' ' ')"
        break
      fi
    done
    if test -z "$verdict" && test "$have_mc" = yes; then
      tl=$(now_ms)
      if run_model_check "$w/mc" "$(mc_select "$forms" "$parts")"; then
        verdict=KILLED layer=model-check detail=$mc_detail
      fi
      mc_ms=$(($(now_ms) - tl))
    fi
    if test -z "$verdict" && test "$unit" = yes; then
      tl=$(now_ms)
      for f in $(echo "$runf" | tr ',' ' '); do
        u_detail=
        if run_unit "$f"; then
          verdict=KILLED layer=unit detail="$f: $u_detail"
        fi
        uc=$(cell "$uc" "$u($f)")
        test -n "$verdict" && break
      done
      u_ms=$(($(now_ms) - tl))
    fi
    plainf=
    for f in $(echo "$runf" | tr ',' ' '); do
      test "$f" = tsan && continue
      plainf="$plainf $f"
    done
    if test -z "$verdict" && case ",$runf," in *,tsan,*) true ;; *) false ;; esac; then
      tl=$(now_ms)
      s_detail=
      if run_stress tsan; then verdict=KILLED layer=tsan-stress detail=$s_detail; fi
      tc=$s
      t_ms=$(($(now_ms) - tl))
      if test -z "$verdict" && test "$also_plain" = yes; then
        # the first plain form that compiles it too (they differ only in deque.c's Dekker helpers)
        for f in $(echo "$forms" | tr ',' ' '); do
          test "$f" = tsan && continue
          if build_form "$f"; then plainf=$f; else plainf=; fi
          break
        done
      fi
    fi
    if test -z "$verdict" && test -n "$plainf"; then
      tl=$(now_ms)
      for f in $plainf; do
        build_form "$f" || continue
        s_detail=
        if run_stress "$f"; then verdict=KILLED layer=gcc-stress detail="$f: $s_detail"; fi
        gc=$(cell "$gc" "$s($f)")
        test -n "$verdict" && break
      done
      g_ms=$(($(now_ms) - tl))
    fi
    if test -z "$verdict"; then
      verdict=SURVIVED
      detail="model-check $mc; unit $uc; tsan-stress $tc; gcc-stress $gc"
    fi
    cp "$work/tree/$file" "$w/src/$file"   # restored (a new mtime: make rebuilds it)
  fi
  total_ms=$(($(now_ms) - t0))
  case $verdict in
    KILLED) shown="KILLED $layer ($detail)" ;;
    *) shown="$verdict${detail:+ ($detail)}" ;;
  esac
  printf '[%s/%s] %4s %-56s %-18s %s %ss\n' "$k" "$total_idx" "$idx" "$id" "$forms" "$shown" "$(secs $total_ms)"
  printf '%s\n' "$idx$tab$id$tab$op$tab$forms$tab$runf$tab$verdict$tab$layer$tab$detail$tab$mc$tab$(secs $mc_ms)$tab$uc$tab$(secs $u_ms)$tab$tc$tab$(secs $t_ms)$tab$gc$tab$(secs $g_ms)$tab$(secs $build_ms)$tab$(secs $total_ms)$tab$desc" >> "$w/results.tsv"
}

# Take the next line of the plan (shared by the workers).  Sets $k.
claim_next() {
  while ! mkdir "$work/lock" 2> /dev/null; do sleep 0.05; done
  k=$(cat "$work/next")
  echo $((k + 1)) > "$work/next"
  rmdir "$work/lock"
  test "$k" -le "$total_idx"
}

worker() {  # J
  w=$work/w$1
  : > "$w/results.tsv"
  while claim_next; do
    run_one "$(sed -n "${k}p" "$work/plan.body")"
  done
}

# Configure and build form F in worker copy W, and hash its objects.
setup_form() {  # W F
  mkdir -p "$1/$2"
  (cd "$1/$2" && configure_form "$2" "$1/src" > "$1/log.configure.$2" 2>&1 &&
     make -j"$mj" stress/weft-stress $(unit_progs "$1/$2" "$allparts") > "$1/log.setup.$2" 2>&1) || return 1
  objhash "$1/$2" > "$1/$2.objs.base"
}

systematic_main() {
  unset MAKEFLAGS MFLAGS MAKELEVEL
  if test "$jobs" -eq 1; then mj=2; else mj=1; fi
  work=$(mktemp -d /tmp/weft-mutants.XXXXXX) || exit 99
  workers_pids=
  trap 'for p in $workers_pids; do kill "$p" 2>/dev/null; done; if test "$keep" = no; then rm -rf "$work"; else echo "mutants: files kept in $work"; fi' EXIT
  trap 'exit 130' INT TERM
  mkdir -p "$work/tree"
  if test -d "$src/.git" && git -C "$src" rev-parse HEAD > /dev/null 2>&1; then
    commit=$(git -C "$src" log -1 --format='%h %s' | cut -c1-70)
    git -C "$src" archive HEAD | tar -x -C "$work/tree" || exit 99
  else
    commit="(not a git checkout: $src)"
    (cd "$src" && tar -c --exclude=./.git --exclude='./build*' --exclude=./autom4te.cache .) |
      tar -x -C "$work/tree" || exit 99
  fi
  echo "mutants: systematic mutants of $commit"
  only_args=
  old_ifs=$IFS; IFS='
'
  set -f # a glob such as 'src/epoch*' is a pattern for ids, not for files here
  for o in $only; do test -n "$o" && only_args="$only_args
--only
$o"; done
  set +f
  IFS=$old_ifs
  if test -n "$sample" && test -z "$seed"; then
    seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
  fi
  if test "$list" = yes; then
    IFS='
'
    set -f
    # shellcheck disable=SC2086
    "$PYTHON" "$gen" list --tree "$work/tree" $only_args ${sample:+--sample
$sample
--seed
$seed}
    st=$?; IFS=$old_ifs; set +f
    return $st
  fi
  if test "$dry" = no && ! test -x "$work/tree/configure"; then
    (cd "$work/tree" && autoreconf -fi > "$work/log.autoreconf" 2>&1) ||
      { echo "mutants: autoreconf failed (see $work/log.autoreconf)"; keep=yes; exit 99; }
  fi
  cfg=
  if test "$dry" = no; then
    # config.h for the preprocessing of the forms: one configured tree
    mkdir -p "$work/cfg"
    (cd "$work/cfg" && configure_form access "$work/tree" > "$work/log.configure.cfg" 2>&1) ||
      { echo "mutants: configure failed (see $work/log.configure.cfg)"; keep=yes; exit 99; }
    cfg="--config-h
$work/cfg"
  fi
  test -n "$sample" && echo "mutants: a sample of $sample mutants, seed $seed (repeat with --sample $sample --seed $seed)"
  IFS='
'
  set -f
  # shellcheck disable=SC2086
  "$PYTHON" "$gen" list --tsv --forms --tree "$work/tree" $cfg $only_args ${sample:+--sample
$sample
--seed
$seed} > "$work/plan.body" 2> "$work/log.plan"
  st=$?; IFS=$old_ifs; set +f
  if test $st -ne 0; then echo "mutants: mutagen.py failed:"; cat "$work/log.plan"; keep=yes; exit 99; fi
  total_idx=$(wc -l < "$work/plan.body")
  ndropped=$("$PYTHON" "$gen" list --dropped --tsv --tree "$work/tree" | wc -l)
  echo "mutants: $total_idx mutants selected ($("$PYTHON" "$gen" list --tree "$work/tree" | wc -l) generated, $ndropped dropped by the generator: mutagen.py list --dropped)"
  if test "$dry" = yes; then
    echo "mutants: forms from a stub config.h (no build in a dry run)"
    while IFS=$tab read -r idx id op forms runf parts desc; do
      layers="model-check (if the build has it)"
      test "$unit" = yes && layers="$layers, unit($runf)"
      case ",$runf," in *,tsan,*) layers="$layers, tsan-stress" ;; ,-,) layers="none (no form compiles it)" ;;
        *) layers="$layers, gcc-stress($runf)" ;; esac
      printf '%4s  %-56s %-18s %s\n' "$idx" "$id" "$forms" "$layers"
    done < "$work/plan.body"
    return 0
  fi
  test "$total_idx" -gt 0 || { echo "mutants: nothing selected"; return 0; }

  # Which forms the selected mutants need, and every part's unit tests.
  need=$(cut -f5 "$work/plan.body" | tr ',' '\n' | grep -v '^-$' | sort -u | tr '\n' ' ')
  if test "$also_plain" = yes; then
    need=$( (echo "$need" | tr ' ' '\n'; cut -f4 "$work/plan.body" | tr ',' '\n' | grep -vxE 'tsan|-') |
      grep -v '^$' | sort -u | tr '\n' ' ')
  fi
  allparts=$(cut -f6 "$work/plan.body" | tr ',' '\n' | grep -v '^-$' | sort -u | tr '\n' ',')
  # The model checker: its own build (no sanitizer, no chaos), its programs.
  mkdir -p "$work/w1"
  cp -R "$work/tree" "$work/w1/src"
  have_mc=no mc_why="no model-check target" mc_progs_all=
  mkdir -p "$work/w1/mc"
  (cd "$work/w1/mc" && configure_form mc "$work/w1/src" > "$work/w1/log.configure.mc" 2>&1) ||
    { echo "mutants: configure of the model-check build failed (see $work/w1/log.configure.mc)"; keep=yes; exit 99; }
  if (cd "$work/w1/mc" && make -n model-check > /dev/null 2>&1); then
    mc_progs_all=$(mc_programs "$work/w1/mc")
    if test -n "$mc_progs_all"; then have_mc=yes
    else mc_why="make model-check is not configured (relacy-dev missing?)"; fi
  fi
  # Does any selected mutant have a model?  Then build and check the models once.
  mc_needed=no
  if test "$have_mc" = yes; then
    while IFS=$tab read -r idx id op forms runf parts desc; do
      test -n "$(mc_select "$forms" "$parts")" && { mc_needed=yes; break; }
    done < "$work/plan.body"
  fi
  echo "mutants: forms built: $need; model-check layer: $(test $have_mc = yes && echo "make model-check ($mc_progs_all)" || echo "n/a ($mc_why)"); unit layer: $unit"
  # Baselines in worker 1: the unmutated code must pass every layer, or a kill means nothing.
  w=$work/w1
  for f in $need; do
    if ! test -f "$w/$f.objs.base" && ! setup_form "$w" "$f"; then
      echo "mutants: the unmutated $f build failed (see $w/log.*.$f)"; keep=yes; exit 99
    fi
    if ! timeout -k 10 "$MUTANT_TIMEOUT" "$w/$f/stress/weft-stress" $MUTANT_FLAGS > "$w/log.baseline.$f" 2>&1; then
      echo "mutants: the UNMUTATED code fails weft-stress $MUTANT_FLAGS in form $f:"; tail -n 20 "$w/log.baseline.$f"
      keep=yes; exit 99
    fi
    if test "$unit" = yes; then
      for prog in $(unit_progs "$w/$f" "$allparts"); do
        tu=$(now_ms)
        if ! (cd "$w/$f" && timeout -k 10 300 "./$prog") > "$w/log.baseline.unit" 2>&1; then
          echo "mutants: the UNMUTATED code fails $prog in form $f:"; tail -n 20 "$w/log.baseline.unit"
          keep=yes; exit 99
        fi
        # the time-out: at least 3x the slowest unmutated program (unless set)
        tu=$(( ($(now_ms) - tu) * 3 / 1000 + 1 ))
        if test -z "$user_unit_timeout" && test "$tu" -gt "$UNIT_TIMEOUT"; then UNIT_TIMEOUT=$tu; fi
      done
    fi
    echo "mutants: baseline $f passes ($(tail -n 1 "$w/log.baseline.$f"))"
  done
  if test "$mc_needed" = yes; then
    if run_model_check "$w/mc" "$mc_progs_all" || test "$mc" != pass; then
      echo "mutants: the UNMUTATED code fails make model-check ($mc $mc_detail; see $w/log.mc)"; keep=yes; exit 99
    fi
    echo "mutants: baseline model-check passes ($mc_progs_all)"
  fi
  j=2
  while test "$j" -le "$jobs"; do
    mkdir -p "$work/w$j"
    cp -R "$work/tree" "$work/w$j/src"
    for f in $need; do
      setup_form "$work/w$j" "$f" || { echo "mutants: the $f build of copy $j failed"; keep=yes; exit 99; }
    done
    if test "$mc_needed" = yes; then
      mkdir -p "$work/w$j/mc"
      (cd "$work/w$j/mc" && configure_form mc "$work/w$j/src" > "$work/w$j/log.configure.mc" 2>&1 &&
         make -j"$mj" model-check > "$work/w$j/log.setup.mc" 2>&1) ||
        { echo "mutants: the model-check build of copy $j failed"; keep=yes; exit 99; }
    fi
    j=$((j + 1))
  done
  echo 1 > "$work/next"
  echo "mutants: $total_idx mutants on $jobs cop$(test "$jobs" -eq 1 && echo y || echo ies); weft-stress $MUTANT_FLAGS, time-out ${MUTANT_TIMEOUT} s$(test "$unit" = yes && echo "; unit tests ${UNIT_TIMEOUT} s each")"
  tstart=$(now_ms)
  j=1
  while test "$j" -le "$jobs"; do
    worker "$j" &
    workers_pids="$workers_pids $!"
    j=$((j + 1))
  done
  wait
  workers_pids=
  elapsed=$(($(now_ms) - tstart))
  : "${results:=$PWD/mutants-systematic.tsv}"
  {
    echo "# weft systematic mutants of $commit"
    echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, --jobs $jobs, weft-stress $MUTANT_FLAGS, time-out ${MUTANT_TIMEOUT} s, unit layer $unit, model-check $(test $have_mc = yes && echo yes || echo n/a)${sample:+, sample of $sample, seed $seed}${only:+, $(printf '%s\n' "$only" | sed '/^$/d; s/^/--only /' | tr '\n' ' ' | sed 's/ $//')}, $(secs $elapsed) s in all"
    printf 'index%sid%soperator%sforms%srun_forms%sverdict%slayer%sdetail%smodel_check%smodel_check_s%sunit%sunit_s%stsan_stress%stsan_stress_s%sgcc_stress%sgcc_stress_s%sbuild_s%stotal_s%sdescription\n' \
      "$tab" "$tab" "$tab" "$tab" "$tab" "$tab" "$tab" "$tab" "$tab" "$tab" "$tab" "$tab" "$tab" "$tab" "$tab" "$tab" "$tab" "$tab"
    cat "$work"/w*/results.tsv | sort -t "$tab" -k1,1n
  } > "$results"
  echo
  "$PYTHON" "$gen" summary "$results"
  echo
  echo "mutants: results in $results ($(secs $elapsed) s)"
  return 0
}

if test "$systematic" = yes; then
  if test "$hand" = yes && test "$list" = no && test "$dry" = no; then
    echo "mutants: the hand-written list first"
    sh "$0" "$src" $(test "$keep" = yes && echo --keep)
    echo
  fi
  systematic_main
  exit $?
fi

# ===========================================================================
# The hand-written run.
# ===========================================================================

# ---------------------------------------------------------------------------
# The mutants.  mutant NAME FILE 'TEXT' 'REPLACEMENT' [OCCURRENCE] replaces
# the OCCURRENCE-th (default: first) literal occurrence of TEXT in FILE.
# Above each: the bug, and what is expected to catch it.  Mutants target
# what the TSan build compiles (e.g. the deque's seq_cst-RMW form of its
# Dekker pairs, not the fence form).
# ---------------------------------------------------------------------------
the_list() {
# mpmc: the producer publishes the slot with a relaxed store: the consumer's
# acquire no longer synchronises with the payload writes.  TSan: data race
# on the item (every ring scenario).
mutant mpmc-publish-relaxed src/mpmc.c \
'atomic_store_explicit(&s->seq, full_of(t), memory_order_release);' \
'atomic_store_explicit(&s->seq, full_of(t), memory_order_relaxed);'

# mpmc: claim_run reads the slots' sequence numbers relaxed (consumers
# and producers alike).  TSan: data race on the item.
mutant mpmc-claim-acquire-relaxed src/mpmc.c \
'seq = atomic_load_explicit(&slot_of(q, p + m)->seq, memory_order_acquire);' \
'seq = atomic_load_explicit(&slot_of(q, p + m)->seq, memory_order_relaxed);'

# mpmc: off-by-one in the "closed and drained" test: a consumer returns
# EPIPE while the last item is still in the ring.  Checker: items left in
# the ring after EPIPE / accepted item never popped (mpmc-block, -close).
mutant mpmc-drained-off-by-one src/mpmc.c \
'return (t & CLOSED) != 0 && (int64_t)(h - (t & ~CLOSED)) >= 0;' \
'return (t & CLOSED) != 0 && (int64_t)(h - (t & ~CLOSED)) >= -1;'

# mpmc: a push wakes no parked consumer (missing notify).  Watchdog: the
# consumers of mpmc-block sleep forever once the producers park on full.
mutant mpmc-no-wake-consumers src/mpmc.c \
'    weft_internal_ec_notify(not_empty(q), n);' \
'    (void)n;'

# mpmc: close wakes the consumers but not the producers parked on full.
# Watchdog: mpmc-close's parked producers never return EPIPE.
mutant mpmc-close-no-wake src/mpmc.c \
'    weft_internal_ec_notify(not_full(q), INT_MAX);
}' \
'}'

# spsc: the producer publishes a line's word relaxed.  TSan: race on the
# item.
mutant spsc-publish-relaxed src/spsc.c \
'atomic_store_explicit(published_at(q, word), t + 1, memory_order_release);' \
'atomic_store_explicit(published_at(q, word), t + 1, memory_order_relaxed);'

# spsc: the full test lets the producer run 8 capacities ahead, past the
# end of the array (about 4 capacities): it overwrites items not yet
# popped.  (An off-by-one no longer loses items: the array has slack.)
# Checker: lost items and duplicates (spsc-* with capacity 1-8).
mutant spsc-full-overruns src/spsc.c \
'    size_t space = cap - (t - q->prod_head_cache);
    if (UNLIKELY(space < want)) {' \
'    size_t space = 8 * cap - (t - q->prod_head_cache);
    if (UNLIKELY(space < want)) {'

# spsc: the consumer takes any published word other than its position as
# news, so a word left from an earlier lap (or a line never filled) makes
# it pop a slot again.  Checker: duplicates or foreign items.
mutant spsc-stale-lap src/spsc.c \
'    if (!later(published, pos))' \
'    if (published == pos)'

# spsc: a pop on a sealed ring reports EPIPE without waiting for a push
# that is between its closed check and its publication.  Checker: an
# accepted push is never popped (spsc-close, live rounds; the chaos point
# inside push widens the window).
mutant spsc-close-ignores-inflight src/spsc.c \
'if (entered == consumer_head(q))' \
'if (1)'

# spsc: a push that finds the ring closed leaves its announcement in
# prod_entered: a pop on the sealed, empty ring then waits for a push that
# will never publish.  Watchdog (spsc-close, spsc-close-race).
mutant spsc-close-no-withdraw src/spsc.c \
'atomic_store_explicit(&q->prod_entered, t, memory_order_relaxed);' \
'(void)t;'

# spsc: the consumer never wakes a producer parked on full.  Watchdog.
mutant spsc-no-wake-producer src/spsc.c \
'    weft_internal_ec_notify_fenced(ec_of(&q->not_full), 1);' \
'    (void)0;'

# deque: push publishes bottom relaxed.  TSan: race on the item in a thief.
mutant deque-push-release-relaxed src/deque_internal.h \
'atomic_store_explicit(&d->bottom, b + 1, memory_order_release);
    return 0;' \
'atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
    return 0;'

# deque: a thief reads bottom relaxed (the TSan build's seq_cst load in
# dekker_thief): no acquire of the owner's push.  TSan: race on the item.
mutant deque-steal-bottom-relaxed src/deque.c \
'    *b = atomic_load_explicit(&d->bottom, memory_order_seq_cst);' \
'    *b = atomic_load_explicit(&d->bottom, memory_order_relaxed);'

# deque: off-by-one in pop: the owner takes the last item without racing
# the thieves for it (t <= b instead of t < b).  Checker: duplicates
# (deque-race, deque-steal).
mutant deque-pop-last-off-by-one src/deque_internal.h \
'    if (LIKELY(t < b)) {' \
'    if (LIKELY(t <= b)) {'

# deque: the thief reads its slot AFTER the CAS on top (PITFALLS: the owner
# may have refilled the slot by then).  Checker: duplicate/lost items with
# small arrays (deque-steal/-race, capacity 2).  The chaos point moves with
# the read, between the CAS and the read.
mutant deque-steal-read-after-cas src/deque.c \
'    void *x = atomic_load_explicit(&a->slots[(size_t)t & a->mask], memory_order_relaxed);
    WEFT_CHAOS_POINT();
    if (!claim(d, &t))
        return WEFT_STEAL_RETRY;
    *item = x;' \
'    if (!claim(d, &t))
        return WEFT_STEAL_RETRY;
    WEFT_CHAOS_POINT();
    *item = atomic_load_explicit(&a->slots[(size_t)t & a->mask], memory_order_relaxed);'

# deque: the owner's half of the Dekker pair in pop weakened: the TSan
# build's seq_cst exchange of bottom becomes a plain release store, so the
# owner's store of bottom and its load of top may be reordered (store
# buffer) and owner and thief can both take the last-but-one item.
# EXPECTED SURVIVOR, kept to show the limit of the method: TSan checks
# happens-before, not sequential consistency, so it cannot see a missing
# store->load order; the duplicate needs a hardware reordering inside a
# window of tens of nanoseconds while two thieves and the owner race for
# one item, i.e. three running threads, and this machine has two cores.
# The fence form (sc_fence dropped in dekker_owner, non-TSan build) also
# survived deque-race/-steal/-oversub for 5 s each and deque-race 10 s with
# --chaos.  Only a model checker (GenMC, not in Debian) or a machine with
# more cores could kill it; see stress/README.md.
mutant deque-dekker-owner-weakened src/deque_internal.h \
'(void)atomic_exchange_explicit(&d->bottom, b, memory_order_seq_cst);' \
'atomic_store_explicit(&d->bottom, b, memory_order_release);'

# eventcount: the notify fast path misses a lone waiter (waiters > 1
# instead of != 0): off-by-one that loses wake-ups.  Watchdog (spsc-block:
# one consumer parks alone).
mutant eventcount-lone-waiter src/eventcount_internal.h \
'return atomic_load_explicit(&e->waiters, memory_order_relaxed) != 0;' \
'return atomic_load_explicit(&e->waiters, memory_order_relaxed) > 1;'

# eventcount: a notifier wakes the futex without bumping the epoch: a
# waiter between prepare and its futex wait sleeps on an unchanged word and
# misses the wake-up.  Watchdog (seen in pool-for: a parallel_for waiter).
mutant eventcount-wake-without-bump src/eventcount.c \
'    atomic_fetch_add_explicit(&e->epoch, 1, memory_order_release);
    syscall' \
'    syscall'

# pool: a stolen group task's completion is counted with a relaxed CAS:
# the waiter's acquire of pending no longer sees the task's writes.  TSan:
# race on the child's result in pool-nested (read after weft_group_wait).
mutant pool-group-done-relaxed src/pool_sync.h \
'atomic_compare_exchange_weak_explicit(&c->pending, &old, next, memory_order_release,' \
'atomic_compare_exchange_weak_explicit(&c->pending, &old, next, memory_order_relaxed,'

# pool: a future is marked done with a relaxed store.  TSan: race on the
# future's value / the task's writes (pool-futures).
mutant pool-future-done-relaxed src/pool_sync.h \
'atomic_store_explicit(&fs->done, 1, memory_order_release);' \
'atomic_store_explicit(&fs->done, 1, memory_order_relaxed);'

# pool: off-by-one in parallel_for's split (the right half starts at
# mid + 1): index mid is never visited.  Checker: coverage (pool-for, and
# the loops nested in pool-nested's tasks).
mutant pool-for-split-off-by-one src/pool_parallel.c \
'struct pfor_part right = { pf, mid, e };' \
'struct pfor_part right = { pf, mid + 1, e };'

# deque: pop takes every item as a private one (deque_internal.h, "Private
# items"): it lowers only the owner's end, never bottom, so a public item
# stays in thieves' sight while the owner takes it without a CAS.
# Checker: duplicates (deque-steal, deque-race and the rest of the deque
# scenarios; pool-nested runs a task twice).
mutant deque-pop-public-as-private src/deque_internal.h \
'    if (d->end == d->own_bottom)
        return deque_pop_public(d, item);' \
'    if (d->end < d->own_bottom)
        return deque_pop_public(d, item);'

# pool: weft_join returns without waiting for the thief of its second
# call.  Checker: pool-nested (a 2-child node joined with weft_join finds
# its stolen child not yet run, "ran 0 times"; TSan: race on its result);
# test_pool too (fib by weft_join comes out wrong, then a crash).
mutant pool-join-skips-thief src/pool_group.c \
'    group_wait_worker(w, g); /* t was stolen: wait for its thief */' \
'    (void)0; /* t was stolen: wait for its thief */'

# pool: parallel_for's lazy splitting caps a piece at all of the rest
# instead of half of it: the piece can end the range, and the call after
# the loop gets an empty range (or one shorter than grain).  Checker:
# pool-for (every call non-empty and at least grain long).
mutant pool-for-lazy-chunk-uncapped src/pool_parallel.c \
'        chunk = chunk <= half / 2 ? chunk * 2 : half;' \
'        chunk = chunk <= half / 2 ? chunk * 2 : half * 2;'

# pool: new work never wakes a parked worker (missing notify).  Watchdog:
# an outside thread waits forever for a tree whose root nobody runs.
mutant pool-no-wake-for-new-work src/pool_sync.h \
'        weft_internal_ec_notify_fenced(e, 1);
}' \
'        (void)0;
}'

# pool: the end of a group does not wake its waiter when that is a worker
# parked beside the idle workers (ON_POOL: on the pool's eventcount).
# Watchdog: the waiter sleeps until some new work happens to wake it; once
# the submitters stop, never.
mutant pool-no-wake-group-waiter src/pool_sync.h \
'        weft_eventcount_notify_all(pool_ec);
        return;' \
'        return;'

# pool: the runner of a future does not wake a worker parked for it on the
# pool's eventcount.  Watchdog: the last future of each outside thread of
# pool-futures parks a worker with no other work left to wake it.
mutant pool-no-wake-future-waiter src/pool_sync.h \
'    if (atomic_load_explicit(&fs->on_pool, memory_order_relaxed))
        weft_eventcount_notify_all(pool_ec);' \
'        (void)0;'

# epoch: an object is freed one advance after its retire instead of three,
# while a reader that entered before the retire may still hold it.
# Checker: epoch-readers (poison seen inside a section; TSan: race with the
# free); test_epoch too.
mutant epoch-grace-one src/epoch_internal.h \
'    EPOCH_GRACE = 3' \
'    EPOCH_GRACE = 1'

# epoch: the advance ignores readers still announced in an older epoch.
# Checker: epoch-readers (a node freed inside a long section).
mutant epoch-advance-ignores-readers src/epoch.c \
'        if ((s & EPOCH_ACTIVE) && s >> 1 != e)
            return false;' \
'        (void)s;'

# queue: head moves past a segment without first moving tail past it, so
# a producer can enter a segment after its retire (and its reuse as the
# spare).  EXPECTED SURVIVOR: it needs a producer stopped between linking
# a segment and moving tail for three epoch advances, and the chaos point
# there (src/queue.c, push_next) has not made queue-flow hit it in --quick
# runs; model-check/queue.cc's bounded searches do not reach it either
# (and a freed segment's cells are atomics there, not raced data).
mutant queue-retire-before-tail src/queue.c \
'    atomic_compare_exchange_strong_explicit(&q->tail, &t, n, memory_order_release,
                                            memory_order_relaxed);
    /* release: pairs with the acquire load of head in pop_in' \
'    (void)t;
    /* release: pairs with the acquire load of head in pop_in'

# queue: close seals at once, without the grace period that waits for the
# pushes in flight: a push that returned 0 can be left behind by consumers
# that already saw EPIPE.  Checker: queue-close-race (pushed != popped).
mutant queue-close-no-grace src/queue.c \
'    weft_internal_epoch_barrier(q->dom);' \
'    (void)0;'

# queue: a push that finds the queue closed reports EPIPE at once, before
# close sealed it, while a push that began earlier may still succeed after
# it: close is no longer linearizable (the bug queue-lin found first).
# Checker: queue-lin (V4: a pop found the queue empty although the late
# push's item was provably there, given the earlier EPIPE).
mutant queue-refuse-before-seal src/queue.c \
'    else if (rc == EPIPE)
        return push_refused(q);' \
'    else if (rc == EPIPE)
        return EPIPE;'

# queue: the producer's CAS publishes the item with relaxed ordering.
# Checker: TSan (the item's payload races with its consumer).
mutant queue-publish-relaxed src/queue.c \
'                    &c->state, &empty, CELL_FULL, memory_order_release, memory_order_relaxed)))' \
'                    &c->state, &empty, CELL_FULL, memory_order_relaxed, memory_order_relaxed)))'
}

# ---------------------------------------------------------------------------
n=0 killed=0 survived=0 errors=0 expected=0
# Survivors explained in the list (not counted as a failure of the run).
EXPECTED_SURVIVORS="deque-dekker-owner-weakened queue-retire-before-tail"
results=
work=
cleanup() { if test "$keep" = no && test -n "$work"; then rm -rf "$work"; fi; }

selected() {
  test -z "$names" && return 0
  for x in $names; do test "$x" = "$1" && return 0; done
  return 1
}

# replace FILE TEXT REPLACEMENT OCCURRENCE: exit 0 when replaced
replace() {
  perl -e '
    my ($f, $from, $to, $n) = @ARGV;
    open(my $in, "<", $f) or exit 2; local $/; my $s = <$in>; close $in;
    my ($pos, $i) = (-1, 0);
    while (($pos = index($s, $from, $pos + 1)) >= 0) {
      if (++$i == $n) {
        substr($s, $pos, length $from) = $to;
        open(my $out, ">", $f) or exit 2; print $out $s; close $out; exit 0;
      }
    }
    exit 1;' "$1" "$2" "$3" "$4"
}

mutant() {
  name=$1 file=$2 from=$3 to=$4 occ=${5:-1}
  selected "$name" || return 0
  if test "$list" = yes; then printf '%-28s %s\n' "$name" "$file"; return 0; fi
  if test "$dry" = yes; then
    tmpf=$(mktemp) && git -C "$src" show "HEAD:$file" > "$tmpf" 2>/dev/null &&
      replace "$tmpf" "$from" "$to" "$occ" && ok=applies || ok="ERROR: does not apply"
    rm -f "$tmpf"
    printf '%-28s %s\n' "$name" "$ok"
    return 0
  fi
  n=$((n + 1))
  cp "$work/orig/$file" "$work/src/$file"
  if ! replace "$work/src/$file" "$from" "$to" "$occ" ||
     cmp -s "$work/orig/$file" "$work/src/$file"; then
    verdict="ERROR (patch did not apply: text not found in $file)"
    errors=$((errors + 1))
  elif ! (cd "$work/build" && make -s stress/weft-stress > "$work/log.$name" 2>&1); then
    verdict="ERROR (does not build, see $work/log.$name)"
    errors=$((errors + 1))
  else
    t0=$(date +%s)
    timeout -k 10 "$MUTANT_TIMEOUT" "$work/build/stress/weft-stress" $MUTANT_FLAGS \
      > "$work/run.$name" 2>&1
    st=$?
    t1=$(date +%s)
    case $st in
      0) case " $EXPECTED_SURVIVORS " in
           *" $name "*) verdict="survived (expected: beyond TSan and 2 cores, see its comment)"
                        expected=$((expected + 1)) ;;
           *) verdict="survived"; survived=$((survived + 1)) ;;
         esac ;;
      1) verdict="killed (check failed: $(grep -m1 '^    FAIL' "$work/run.$name" | sed 's/^ *FAIL //' | cut -c1-90))" ;;
      3) verdict="killed (watchdog: no progress)" ;;
      66) verdict="killed (TSan: $(grep -m1 'WARNING: ThreadSanitizer' "$work/run.$name" | sed 's/.*ThreadSanitizer: //'))" ;;
      124|137) verdict="killed (time-out after ${MUTANT_TIMEOUT} s)" ;;
      *) verdict="killed (exit status $st)" ;;
    esac
    case $verdict in killed*) killed=$((killed + 1)) ;; esac
    verdict="$verdict [$((t1 - t0)) s]"
  fi
  cp "$work/orig/$file" "$work/src/$file"
  printf '%-28s %s\n' "$name" "$verdict"
}

if test "$list" = no && test "$dry" = no; then
  work=$(mktemp -d /tmp/weft-mutants.XXXXXX) || exit 99
  trap cleanup EXIT
  mkdir -p "$work/src" "$work/build"
  if test -d "$src/.git" && git -C "$src" rev-parse HEAD > /dev/null 2>&1; then
    echo "mutants: sources of $(git -C "$src" log -1 --format='%h %s' | cut -c1-70)"
    git -C "$src" archive HEAD | tar -x -C "$work/src" || exit 99
  else
    echo "mutants: sources of $src (not a git checkout)"
    (cd "$src" && tar -c --exclude=./.git --exclude='./build*' --exclude=./autom4te.cache .) |
      tar -x -C "$work/src" || exit 99
  fi
  cp -R "$work/src" "$work/orig"
  if ! test -x "$work/src/configure"; then
    (cd "$work/src" && autoreconf -fi > "$work/log.autoreconf" 2>&1) ||
      { echo "mutants: autoreconf failed (see $work/log.autoreconf)"; keep=yes; exit 99; }
    rm -rf "$work/orig" && cp -R "$work/src" "$work/orig"
  fi
  echo "mutants: building the unmutated library with clang + TSan + chaos in $work/build"
  (cd "$work/build" && "$work/src/configure" CC=clang CXX=clang++ --enable-sanitizer=thread \
     --enable-chaos > "$work/log.configure" 2>&1 && make -j2 stress/weft-stress > "$work/log.build" 2>&1) ||
    { echo "mutants: the unmutated build failed (see $work/log.configure, $work/log.build)"; keep=yes; exit 99; }
  # The unmutated code must pass, or every kill below means nothing.
  if ! timeout -k 10 "$MUTANT_TIMEOUT" "$work/build/stress/weft-stress" $MUTANT_FLAGS > "$work/run.baseline" 2>&1; then
    echo "mutants: the UNMUTATED code fails weft-stress $MUTANT_FLAGS:"; tail -n 20 "$work/run.baseline"
    keep=yes; exit 99
  fi
  echo "mutants: baseline passes ($(tail -n 1 "$work/run.baseline")); running weft-stress $MUTANT_FLAGS per mutant"
fi

the_list
if test "$list" = no && test "$dry" = no; then
  echo "$killed/$n killed"
  test "$expected" -gt 0 && echo "mutants: $expected expected survivor(s), explained in the list: $EXPECTED_SURVIVORS"
  test "$keep" = yes && echo "mutants: files kept in $work"
  test "$errors" -eq 0 && test "$survived" -eq 0
fi
