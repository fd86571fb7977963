package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/directus-ircd/directus-ircd/internal/config"
	"github.com/directus-ircd/directus-ircd/internal/daemon"
)

// checkConfig validates a configuration as `run` does before it starts anything
// (daemon.CheckConfig), with the same message and exit status for what `run` would refuse.
func checkConfig(args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (YAML)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	c, err := config.Load(*path, environ)
	if err == nil {
		err = daemon.CheckConfig(c)
	}
	if err != nil {
		fmt.Fprintln(stderr, "directus-ircd:", err)
		return daemon.ExitConfig
	}
	fmt.Fprint(stdout, "# configuration is valid; effective values (secrets masked):\n", c.Masked())
	return 0
}
