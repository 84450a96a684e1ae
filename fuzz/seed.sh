#!/usr/bin/env bash
# Writes seed inputs into corpus/<target>/ for the targets that read raw bytes:
# tarballs of every format GNU tar writes (for untar_raw) and a few HTTP requests (for
# server_request). Seeds are generated here rather than checked in. Idempotent.
set -euo pipefail
cd "$(dirname "$0")"

mkdir -p corpus/untar_raw corpus/server_request
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if command -v tar > /dev/null; then
  tree="$work/tree"
  mkdir -p "$tree/dir/sub" "$tree/$(printf 'l%.0s' {1..120})"
  printf 'hello\n' > "$tree/a.txt"
  printf 'kind: ConfigMap\n' > "$tree/dir/sub/ünï.yaml"
  printf '#!/bin/sh\n' > "$tree/dir/run.sh" && chmod 755 "$tree/dir/run.sh"
  : > "$tree/empty"
  ln -s a.txt "$tree/link"
  ln "$tree/a.txt" "$tree/hard"
  for format in ustar gnu pax v7 oldgnu; do
    tar --format="$format" -cf "corpus/untar_raw/$format.tar" -C "$tree" . 2> /dev/null || true
    tar --format="$format" -czf "corpus/untar_raw/$format.tar.gz" -C "$tree" . 2> /dev/null || true
  done
  tar -cf corpus/untar_raw/one-file.tar -C "$tree" a.txt
else
  echo "seed.sh: no tar on PATH, untar_raw starts from an empty corpus" >&2
fi

seed() { printf "$2" > "corpus/server_request/$1"; }
seed root 'GET / HTTP/1.1\r\nHost: x\r\n\r\n'
seed file 'GET /k/ns/n/a.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n'
seed head 'HEAD /k/ns/n/latest.tar.gz HTTP/1.0\r\n\r\n'
seed range 'GET /k/ns/n/a.tar.gz HTTP/1.1\r\nRange: bytes=2-5\r\nIf-Range: "x"\r\n\r\n'
seed pipelined 'GET / HTTP/1.1\r\n\r\nGET /escape/secret.txt HTTP/1.1\r\n\r\nGET /%2e%2e/x HTTP/1.1\r\nConnection: close\r\n\r\n'
seed conditional 'GET /k/ns/n/a.tar.gz HTTP/1.1\r\nIf-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT\r\nIf-None-Match: *\r\n\r\n'
seed body 'GET /k/ns/n/a.tar.gz HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc'
seed absolute 'GET http://host:9090/k/ns/n/a.tar.gz?x=1 HTTP/1.1\r\n\r\n'
