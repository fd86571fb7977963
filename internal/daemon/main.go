package daemon

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/directus-ircd/directus-ircd/internal/config"
)

// Exit statuses of Main. ExitConfig (EX_CONFIG from sysexits.h) means the configuration or
// the credentials in it cannot work, so a supervisor should not restart the daemon until an
// operator fixes them (the systemd unit has RestartPreventExitStatus=78); ExitFailure is a
// transient failure worth a restart.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
	ExitConfig  = 78
)

// Main runs the daemon until SIGTERM or SIGINT (SIGHUP reloads the configuration) and returns
// the exit status.
func Main(args, environ []string, stderr io.Writer, opts Options) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (YAML)")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return ExitOK
		}
		return ExitUsage
	}
	cfg, err := config.Load(*path, environ)
	if err != nil {
		fmt.Fprintln(stderr, "directus-ircd:", err)
		return ExitConfig
	}
	log := newLogger(cfg.Log, stderr)
	// Signals are caught before anything starts, so that a stop during start-up is orderly too.
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sig)
	d, err := New(cfg, log, opts)
	if err != nil {
		if IsConfigError(err) {
			fmt.Fprintln(stderr, "directus-ircd:", err)
			return ExitConfig
		}
		log.Error().Err(err).Msg("cannot start")
		return ExitFailure
	}
	code := ExitOK
wait:
	for {
		select {
		case s := <-sig:
			if s == syscall.SIGHUP {
				if cfg, err := config.Load(*path, environ); err != nil {
					log.Error().Err(err).Msg("reload refused: configuration invalid")
				} else {
					d.Reload(cfg)
				}
				continue
			}
			log.Info().Str("signal", s.String()).Msg("shutting down")
			break wait
		case err := <-d.Fatal():
			code = ExitFailure
			if IsConfigError(err) {
				code = ExitConfig
			}
			log.Error().Err(err).Msg("cannot continue; shutting down")
			break wait
		}
	}
	if err := d.Shutdown(); err != nil {
		log.Warn().Err(err).Msg("shutdown cut short at server.shutdown_timeout")
	}
	log.Info().Msg("stopped")
	return code
}
