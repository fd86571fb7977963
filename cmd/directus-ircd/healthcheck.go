package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"
)

// healthcheck probes the readiness endpoint, for container HEALTHCHECKs on images without curl.
func healthcheck(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:8081/readyz", "readiness URL")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get(*url)
	if err != nil {
		fmt.Fprintln(stderr, "healthcheck:", err)
		return 1
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(stderr, "healthcheck:", resp.Status)
		return 1
	}
	return 0
}
