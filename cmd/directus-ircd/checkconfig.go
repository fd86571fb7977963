package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/directus-ircd/directus-ircd/internal/config"
)

// loadConfig is the configuration as `run` accepts it; check-config uses it too, so that a
// config that passes check-config is one the daemon starts with.
func loadConfig(path string, environ []string) (config.Config, error) {
	c, err := config.Load(path, environ)
	if err != nil {
		return c, err
	}
	if c.Directus.Token == "" {
		return c, &config.FieldError{Key: "directus.token", Msg: "is required: run `directus-ircd setup` to create the bridge user and its token"}
	}
	if _, err := c.MOTDLines(); err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	return c, nil
}

func checkConfig(args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (YAML)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	c, err := loadConfig(*path, environ)
	if err != nil {
		fmt.Fprintln(stderr, "directus-ircd:", err)
		return exitConfig
	}
	fmt.Fprint(stdout, "# configuration is valid; effective values (secrets masked):\n", c.Masked())
	return 0
}
