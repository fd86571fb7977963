// Command directus-ircd runs an IRC server whose one channel is a Directus collection.
//
//	directus-ircd [run] [-config FILE]       run the daemon
//	directus-ircd setup [flags]              provision Directus for the bridge
//	directus-ircd check-config [-config FILE] validate and print the effective configuration
//	directus-ircd healthcheck [-url URL]     exit 0 if the daemon's readiness endpoint answers 200
//	directus-ircd version | --version        print version, commit and Go version
//	directus-ircd help | -h | --help         print usage
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/directus-ircd/directus-ircd/internal/daemon"
	"github.com/directus-ircd/directus-ircd/internal/version"
)

// Exit statuses are daemon's: ExitUsage for a bad command line, ExitConfig (78, EX_CONFIG)
// for a configuration that cannot work, which the systemd unit does not restart on.
const (
	exitUsage  = daemon.ExitUsage
	exitConfig = daemon.ExitConfig
)

func main() {
	os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

func run(args, environ []string, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 {
		switch a := args[0]; {
		case a == "-h" || a == "-help" || a == "--help" || a == "help":
			usage(stdout)
			return 0
		case a == "-version" || a == "--version" || a == "version":
			fmt.Fprintln(stdout, version.Get())
			return 0
		case !strings.HasPrefix(a, "-"):
			cmd, args = a, args[1:]
		}
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
	default:
		fmt.Fprintf(stderr, "directus-ircd: unknown command %q\n", cmd)
		usage(stderr)
		return exitUsage
	}
}

// parseFlags parses a command's flags. ok is false when the command must end with code:
// 0 after -h (the flag package has printed the flags), exitUsage after a bad flag.
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	err := fs.Parse(args)
	switch {
	case err == nil:
		return 0, true
	case errors.Is(err, flag.ErrHelp):
		return 0, false
	default:
		return exitUsage, false
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  directus-ircd [run] [-config FILE]          run the daemon
  directus-ircd setup [flags]                 provision Directus (collection, role, bridge token, demo users)
  directus-ircd check-config [-config FILE]   validate and print the effective configuration (secrets masked)
  directus-ircd healthcheck [-url URL]        exit 0 if the daemon's readiness endpoint answers 200
  directus-ircd version                       print version, commit and Go version (also --version)
  directus-ircd help                          print this (also -h, --help)
Run a command with -h for its flags.
`)
}
