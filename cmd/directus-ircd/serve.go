package main

import (
	"io"

	"github.com/directus-ircd/directus-ircd/internal/daemon"
	"github.com/directus-ircd/directus-ircd/internal/version"
)

func serve(args, environ []string, stderr io.Writer) int {
	return daemon.Main(args, environ, stderr, daemon.Options{Version: version.Get().Version})
}
