#!/usr/bin/env bash
# Side-by-side timings of the SDK against the Go Artifact SDK's algorithms and common
# tools, on the same corpora and files, alternating runs, printing medians and ratios.
#
#   bash benches/compare/compare.sh [--large] [--runs N] [--no-server]
#
# --large adds the ~300 MiB chart-mix corpus. The script installs nothing: the Go
# stand-ins need `go` (Debian: golang-go), the tool comparisons `tar`, `gzip`, `pigz`,
# and the server comparison `wrk` and `curl`; whatever is missing is skipped.
# Everything listens on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/../.."

runs=7
large=0
server=1
while [ $# -gt 0 ]; do
  case "$1" in
    --large) large=1 ;;
    --runs) runs=$2; shift ;;
    --no-server) server=0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

have() { command -v "$1" >/dev/null 2>&1; }
work=target/compare
mkdir -p "$work"
scratch=$(mktemp -d "${FLUX_BENCH_SCRATCH:-/dev/shm}/flux-compare.XXXXXX" 2>/dev/null || mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; done
  rm -rf "$scratch"
}
trap cleanup EXIT

echo "== building"
cargo build -q --release -p flux-artifact-benches --bins
cargo build -q --release -p flux-artifact-server --example serve
rust_archive=target/release/archive-dir
rust_serve=target/release/examples/serve
go_archive=""
go_server=""
if have go; then
  (cd benches/compare/go && go build -o "../../../$work/go-archive" ./archive && go build -o "../../../$work/go-fileserver" ./fileserver)
  go_archive=$work/go-archive
  go_server=$work/go-fileserver
  echo "go: $(go version)"
else
  echo "go: not installed, skipping the Go stand-ins"
fi
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"

corpora=(manifests)
[ "$large" = 1 ] && corpora+=(chart-mix)

# Median wall time in seconds of a command run $runs times; the first result of
# every command is also kept for size checks.
now() { date +%s%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

declare -A times
time_once() { # name, command...
  local name=$1; shift
  local start end
  sync
  start=$(now)
  "$@" >/dev/null 2>&1
  end=$(now)
  times[$name]+="$(awk -v s="$start" -v e="$end" 'BEGIN {print (e - s) / 1e9}') "
}

for corpus in "${corpora[@]}"; do
  read -r tree files dirs bytes < <(target/release/corpus "$corpus" target/bench-corpora)
  mib=$(awk -v b="$bytes" 'BEGIN {printf "%.1f", b / 1048576}')
  echo
  echo "== archive: $corpus ($files files, $dirs dirs, $mib MiB), $runs alternating runs, median"
  times=()
  out=$scratch/out
  mkdir -p "$out"
  for _ in $(seq "$runs"); do
    time_once "sdk-level6" "$rust_archive" "$tree" "$out/rust"
    [ -n "$go_archive" ] && time_once "go-level6" "$go_archive" "$tree" "$out/go.tar.gz"
    time_once "sdk-level0" "$rust_archive" --level 0 "$tree" "$out/rust0"
    [ -n "$go_archive" ] && time_once "go-level0" "$go_archive" -level 0 "$tree" "$out/go0.tar.gz"
    time_once "tar|gzip-6|sha256sum" bash -c "tar --sort=name -cf - -C '$tree' . | gzip -6 | tee '$out/tar.tar.gz' | sha256sum"
    have pigz && time_once "tar|pigz-6|sha256sum" bash -c "tar --sort=name -cf - -C '$tree' . | pigz -6 | tee '$out/pigz.tar.gz' | sha256sum"
  done
  size() { stat -c %s "$1" 2>/dev/null || echo 0; }
  sdk_size=$(size "$out/rust/bench/ns/n/a.tar.gz")
  go_size=$(size "$out/go.tar.gz")
  printf "%-24s %10s %12s %14s %12s\n" "tool" "median s" "MiB/s input" "output bytes" "vs go-level6"
  for name in sdk-level6 go-level6 sdk-level0 go-level0 "tar|gzip-6|sha256sum" "tar|pigz-6|sha256sum"; do
    [ -n "${times[$name]:-}" ] || continue
    m=$(tr ' ' '\n' <<<"${times[$name]}" | grep . | median)
    case "$name" in
      sdk-level6) s=$sdk_size ;; go-level6) s=$go_size ;;
      sdk-level0) s=$(size "$out/rust0/bench/ns/n/a.tar.gz") ;; go-level0) s=$(size "$out/go0.tar.gz") ;;
      tar*gzip*) s=$(size "$out/tar.tar.gz") ;; tar*pigz*) s=$(size "$out/pigz.tar.gz") ;;
    esac
    ratio="-"
    if [ -n "${times[go-level6]:-}" ]; then
      g=$(tr ' ' '\n' <<<"${times[go-level6]}" | grep . | median)
      ratio=$(awk -v g="$g" -v m="$m" 'BEGIN {printf "%.2fx", g / m}')
    fi
    printf "%-24s %10.3f %12.1f %14s %12s\n" "$name" "$m" "$(awk -v b="$bytes" -v m="$m" 'BEGIN {print b / 1048576 / m}')" "$s" "$ratio"
  done
  if [ -n "$go_archive" ]; then
    g0=$(tr ' ' '\n' <<<"${times[go-level0]}" | grep . | median)
    s0=$(tr ' ' '\n' <<<"${times[sdk-level0]}" | grep . | median)
    echo "level 0 (stored): sdk time / go time = $(awk -v a="$s0" -v b="$g0" 'BEGIN {printf "%.2f", a / b}')"
    echo "output size at level 6: sdk / go = $(awk -v a="$sdk_size" -v b="$go_size" 'BEGIN {printf "%.4f", a / b}')"
  fi
  if [ -x /usr/bin/time ]; then
    rss=$(/usr/bin/time -f %M "$rust_archive" "$tree" "$out/rss" 2>&1 >/dev/null | tail -1)
    line="peak RSS: sdk $((rss / 1024)) MiB"
    if [ -n "$go_archive" ]; then
      grss=$(/usr/bin/time -f %M "$go_archive" "$tree" "$out/go-rss.tar.gz" 2>&1 >/dev/null | tail -1)
      line+=", go $((grss / 1024)) MiB"
    fi
    echo "$line"
  fi
done

if [ "$server" = 0 ] || ! have wrk; then
  [ "$server" = 1 ] && echo && echo "== server: wrk not installed, skipping"
  exit 0
fi

echo
echo "== server: wrk -t2 -c64 -d5s, 3 alternating rounds, median"
root=$scratch/serve
mkdir -p "$root/bench/ns/n"
head -c 10240 /dev/urandom >"$root/bench/ns/n/10k.tar.gz"
head -c 1048576 /dev/urandom >"$root/bench/ns/n/1m.tar.gz"
head -c 1073741824 /dev/urandom >"$root/bench/ns/n/1g.tar.gz"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
rust_port=$(free_port)
"$rust_serve" --storage-path "$root" --storage-addr "127.0.0.1:$rust_port" >/dev/null 2>&1 &
pids+=($!)
rust_pid=$!
targets=("sdk 127.0.0.1:$rust_port $rust_pid")
if [ -n "$go_server" ]; then
  go_port=$(free_port)
  "$go_server" "$root" "127.0.0.1:$go_port" >/dev/null 2>&1 &
  pids+=($!)
  targets+=("go 127.0.0.1:$go_port $!")
fi
sleep 1

declare -A rps p99
for file in 10k 1m; do
  for _ in 1 2 3; do
    for target in "${targets[@]}"; do
      read -r name address _ <<<"$target"
      result=$(wrk -t2 -c64 -d5s --latency "http://$address/bench/ns/n/$file.tar.gz")
      rps[$name-$file]+="$(awk '/Requests\/sec/ {print $2}' <<<"$result") "
      p99[$name-$file]+="$(awk '$1 == "99%" {v = $2; if (v ~ /ms$/) v = v + 0; else if (v ~ /us$/) v = v / 1000; else if (v ~ /s$/) v = v * 1000; print v}' <<<"$result") "
    done
  done
done
printf "%-12s %14s %12s %12s\n" "file" "server" "req/s" "p99 ms"
for file in 10k 1m; do
  for target in "${targets[@]}"; do
    read -r name _ _ <<<"$target"
    printf "%-12s %14s %12.0f %12.2f\n" "$file" "$name" \
      "$(tr ' ' '\n' <<<"${rps[$name-$file]}" | grep . | median)" "$(tr ' ' '\n' <<<"${p99[$name-$file]}" | grep . | median)"
  done
  if [ -n "$go_server" ]; then
    echo "  $file req/s ratio sdk/go: $(awk -v a="$(tr ' ' '\n' <<<"${rps[sdk-$file]}" | grep . | median)" -v b="$(tr ' ' '\n' <<<"${rps[go-$file]}" | grep . | median)" 'BEGIN {printf "%.2f", a / b}')"
  fi
done

echo
echo "== server: one 1 GiB download (wrk -t1 -c1 -d6s, 3 rounds, and curl), median"
for target in "${targets[@]}"; do
  read -r name address _ <<<"$target"
  speeds=""
  for _ in 1 2 3; do
    speeds+="$(wrk -t1 -c1 -d6s "http://$address/bench/ns/n/1g.tar.gz" | awk '/Transfer\/sec/ {v = $2; if (v ~ /GB$/) v = v * 1024; else v = v + 0; print v}') "
  done
  curl_speed=$(curl -s -o /dev/null -w '%{speed_download}' "http://$address/bench/ns/n/1g.tar.gz" | awk '{printf "%.0f", $1 / 1048576}')
  printf "%-6s wrk %8.0f MiB/s   curl %6s MiB/s\n" "$name" "$(tr ' ' '\n' <<<"$speeds" | grep . | median)" "$curl_speed"
done

echo
echo "== server: peak RSS after the load above"
for target in "${targets[@]}"; do
  read -r name _ pid <<<"$target"
  echo "$name $(awk '/VmHWM/ {printf "%.1f MiB", $2 / 1024}' "/proc/$pid/status")"
done
