package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/directus-ircd/directus-ircd/internal/config"
)

func checkConfig(args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (YAML)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c, err := config.Load(*path, environ)
	if err != nil {
		fmt.Fprintln(stderr, "directus-ircd:", err)
		return 1
	}
	if _, err := c.MOTDLines(); err != nil {
		fmt.Fprintln(stderr, "directus-ircd: config:", err)
		return 1
	}
	fmt.Fprint(stdout, "# configuration is valid; effective values (secrets masked):\n", c.Masked())
	return 0
}
