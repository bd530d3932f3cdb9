# Shared by the bench scripts: find or build the Debian 12 corpus, build the release binary.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)
# The corpus (../shared/corpus/make-debian-pair.sh): CORPUS=dir that holds corpus.env.
CORPUS=${CORPUS:-$top/bench/out/corpus}
if [ ! -f "$CORPUS/corpus.env" ]; then
  script=${CORPUS_SCRIPT:-$top/../shared/corpus/make-debian-pair.sh}
  echo "bench: building the corpus in $CORPUS with $script (4-5 minutes)" >&2
  bash "$script" "$CORPUS" >&2
fi
# shellcheck disable=SC1091
. "$CORPUS/corpus.env"
REPO_ARCHIVE="$CORPUS/$CORPUS_REPO_ARCHIVE"
REPO_BARE_USER="$CORPUS/$CORPUS_REPO_BARE_USER"
command -v /usr/bin/time >/dev/null || { apt-get install -y -qq time >/dev/null; }
(cd "$top" && cargo build --release --quiet --bin ostree-encap --example ideal_update)
BIN="$top/target/release/ostree-encap"
IDEAL="$top/target/release/examples/ideal_update"
OUT=${OUT:-$top/bench/out/run}
mkdir -p "$OUT"

# measure NAME CMD...: runs CMD under /usr/bin/time, prints "NAME wall_s cpu_s peak_MiB".
measure() {
  local name=$1; shift
  /usr/bin/time -f "%e %U %S %M" -o "$OUT/.time" "$@" >"$OUT/.stdout" 2>"$OUT/.stderr" || { cat "$OUT/.stderr" >&2; return 1; }
  read -r wall user sys rss < "$OUT/.time"
  awk -v n="$name" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" 'BEGIN { printf "%-34s wall %7.2f s  cpu %7.2f s  peak %6.1f MiB\n", n, w, u + s, r / 1024 }'
}

# median: the median of the numbers on stdin (space- or line-separated; the mean of the
# two middle ones for an even count). bench/ab and bench/composefs compare medians of runs.
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
