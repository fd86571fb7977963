package daemon

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/directus-ircd/directus-ircd/internal/config"
	"github.com/directus-ircd/directus-ircd/internal/sdnotify"
)

// readyWait bounds how long start-up waits for the Directus subscription before telling
// systemd the daemon is ready anyway (well under systemd's default TimeoutStartSec of 90 s).
const readyWait = 30 * time.Second

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
	notify, err := sdnotify.New(environ)
	if err != nil {
		log.Warn().Err(err).Msg("cannot notify systemd")
	}
	d, err := New(cfg, log, opts)
	if err != nil {
		if IsConfigError(err) {
			fmt.Fprintln(stderr, "directus-ircd:", err)
			return ExitConfig
		}
		log.Error().Err(err).Msg("cannot start")
		return ExitFailure
	}
	// systemd hears READY=1 once the Directus subscription is live, or after readyWait with a
	// status saying Directus is not reachable yet (IRC clients are served meanwhile).
	up := d.Bridge().Up()
	readyTimer := time.NewTimer(readyWait)
	defer readyTimer.Stop()
	wdCtx, wdStop := context.WithCancel(context.Background())
	defer wdStop()
	go func() {
		// The server lock taken is the health probe: a Directus outage is not a reason for
		// systemd to restart the daemon, a wedged daemon is.
		_ = notify.Watchdog(wdCtx, func() bool { d.Server().ClientCount(); return true })
	}()
	code := ExitOK
wait:
	for {
		select {
		case <-up:
			up = nil
			readyTimer.Stop()
			_ = notify.Ready("serving IRC; Directus subscription live")
		case <-readyTimer.C:
			if up != nil {
				_ = notify.Ready("serving IRC; Directus not reachable yet, retrying")
			}
		case s := <-sig:
			if s == syscall.SIGHUP {
				_ = notify.Reloading()
				if cfg, err := config.Load(*path, environ); err != nil {
					log.Error().Err(err).Msg("reload refused: configuration invalid")
				} else {
					d.Reload(cfg)
				}
				_ = notify.Ready("configuration reloaded")
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
	_ = notify.Stopping("shutting down")
	if err := d.Shutdown(); err != nil {
		log.Warn().Err(err).Msg("shutdown cut short at server.shutdown_timeout")
	}
	log.Info().Msg("stopped")
	return code
}
