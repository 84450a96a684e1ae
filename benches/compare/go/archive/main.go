// Command archive does what the Go Artifact SDK's Storage.Archive does, with the
// standard library only, so that the Rust SDK can be timed against the Go algorithm on
// the same machine: walk the tree in lexical order, write sanitized tar headers (root
// ".", relative names, uid/gid 0, no owner names, zero times, modes 0750/0700/0600),
// gzip at the default level, hash the compressed bytes with sha256 in the same pass,
// write a temporary file next to the target and rename it into place.
//
// Usage: archive [-level N] DIR OUT
package main

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func main() {
	level := flag.Int("level", gzip.DefaultCompression, "gzip level (-1 default, 0 stored)")
	flag.Parse()
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: archive [-level N] DIR OUT")
		os.Exit(2)
	}
	dir, out := flag.Arg(0), flag.Arg(1)
	digest, size, err := archive(dir, out, *level)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("sha256:%x %d\n", digest, size)
}

func archive(dir, out string, level int) ([]byte, int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(out), filepath.Base(out)+"*")
	if err != nil {
		return nil, 0, err
	}
	defer os.Remove(tmp.Name())
	hash := sha256.New()
	size := &counter{}
	gz, err := gzip.NewWriterLevel(io.MultiWriter(hash, tmp, size), level)
	if err != nil {
		return nil, 0, err
	}
	tw := tar.NewWriter(gz)
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if m := fi.Mode(); !(m.IsRegular() || m.IsDir()) {
			return nil
		}
		header, err := tar.FileInfoHeader(fi, p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		header.Name = filepath.ToSlash(rel)
		header.Uid, header.Gid, header.Uname, header.Gname = 0, 0, "", ""
		header.ModTime, header.AccessTime, header.ChangeTime = time.Time{}, time.Time{}, time.Time{}
		switch {
		case fi.IsDir():
			header.Mode = 0o750
		case fi.Mode()&0o111 != 0:
			header.Mode = 0o700
		default:
			header.Mode = 0o600
		}
		if err := tw.WriteHeader(header); err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	if err := tw.Close(); err != nil {
		return nil, 0, err
	}
	if err := gz.Close(); err != nil {
		return nil, 0, err
	}
	if err := tmp.Close(); err != nil {
		return nil, 0, err
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return nil, 0, err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return nil, 0, err
	}
	return hash.Sum(nil), size.n, nil
}
