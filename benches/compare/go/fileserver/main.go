// Command fileserver serves a directory the way the Go Artifact SDK's server.Start
// does (http.FileServer over http.Dir), on a loopback address, for load comparisons.
//
// Usage: fileserver DIR ADDR
package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: fileserver DIR ADDR")
		os.Exit(2)
	}
	server := &http.Server{Addr: os.Args[2], Handler: http.FileServer(http.Dir(os.Args[1]))}
	if err := server.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
