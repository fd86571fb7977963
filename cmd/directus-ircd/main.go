// Command directus-ircd runs an IRC server whose one channel is a Directus collection.
//
//	directus-ircd [run] [-config FILE]       run the daemon
//	directus-ircd setup [flags]              provision Directus for the bridge
//	directus-ircd check-config [-config FILE] validate and print the effective configuration
//	directus-ircd healthcheck [-url URL]     exit 0 if the daemon's readiness endpoint answers 200
//	directus-ircd version
package main

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

func run(args, environ []string, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run":
		return serve(args, environ, stderr)
	case "setup":
		return setup(args, environ, stdout, stderr)
	case "check-config":
		return checkConfig(args, environ, stdout, stderr)
	case "healthcheck":
		return healthcheck(args, stderr)
	case "version":
		fmt.Fprintln(stdout, "directus-ircd", version)
		return 0
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "directus-ircd: unknown command %q\n", cmd)
		usage(stderr)
		return 2
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  directus-ircd [run] [-config FILE]          run the daemon
  directus-ircd setup [flags]                 provision Directus (collection, role, bridge token, demo users)
  directus-ircd check-config [-config FILE]   validate and print the effective configuration (secrets masked)
  directus-ircd version
Run a command with -h for its flags.
`)
}
