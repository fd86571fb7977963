package main

import (
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/directus-ircd/directus-ircd/internal/dtest"
	"github.com/directus-ircd/directus-ircd/internal/irctest"
)

// dockerfile is what the test reads from the Dockerfile, so that it checks the file as shipped.
type dockerfile struct {
	buildFlags  []string          // go build flags of the RUN line
	env         map[string]string // ENV
	entrypoint  []string          // ENTRYPOINT + CMD
	healthcheck []string          // HEALTHCHECK CMD
	from        []string          // the image of each FROM, in order
	args        map[string]string // ARG defaults declared before the first FROM
	stageArgs   []map[string]bool // ARGs (re)declared in each stage, by stage
	labels      map[string]string // LABEL key="value"
}

func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	raw, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	// Join continuation lines, then read one instruction per line.
	text := strings.ReplaceAll(string(raw), "\\\n", " ")
	d := dockerfile{env: map[string]string{}, args: map[string]string{}, labels: map[string]string{}}
	jsonArgs := func(s string) []string {
		var out []string
		if err := json.Unmarshal([]byte(strings.TrimSpace(s)), &out); err != nil {
			t.Fatalf("Dockerfile: %q is not an exec-form JSON array: %v", s, err)
		}
		return out
	}
	var cmd []string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "RUN CGO_ENABLED=0 go build "):
			// RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/... ./cmd/directus-ircd
			rest := strings.TrimPrefix(line, "RUN CGO_ENABLED=0 go build ")
			for rest != "" {
				rest = strings.TrimSpace(rest)
				var f string
				if strings.HasPrefix(rest, `"`) {
					end := strings.Index(rest[1:], `"`) + 1
					f, rest = rest[1:end], rest[end+1:]
				} else if i := strings.IndexByte(rest, ' '); i >= 0 {
					f, rest = rest[:i], rest[i:]
				} else {
					f, rest = rest, ""
				}
				d.buildFlags = append(d.buildFlags, f)
			}
		case strings.HasPrefix(line, "FROM "):
			d.from = append(d.from, strings.Fields(line)[1])
			d.stageArgs = append(d.stageArgs, map[string]bool{})
		case strings.HasPrefix(line, "ARG "):
			k, v, _ := strings.Cut(strings.TrimPrefix(line, "ARG "), "=")
			if len(d.stageArgs) == 0 {
				d.args[k] = v
			} else {
				d.stageArgs[len(d.stageArgs)-1][k] = true
			}
		case strings.HasPrefix(line, "LABEL "):
			for _, m := range labelRE.FindAllStringSubmatch(line, -1) {
				d.labels[m[1]] = m[2]
			}
		case strings.HasPrefix(line, "ENV "):
			for _, kv := range strings.Fields(strings.TrimPrefix(line, "ENV ")) {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					t.Fatalf("Dockerfile: ENV %q is not KEY=VALUE", kv)
				}
				d.env[k] = v
			}
		case strings.HasPrefix(line, "HEALTHCHECK "):
			_, c, ok := strings.Cut(line, " CMD ")
			if !ok {
				t.Fatalf("Dockerfile: HEALTHCHECK without CMD: %q", line)
			}
			d.healthcheck = jsonArgs(c)
		case strings.HasPrefix(line, "ENTRYPOINT "):
			d.entrypoint = jsonArgs(strings.TrimPrefix(line, "ENTRYPOINT "))
		case strings.HasPrefix(line, "CMD "):
			cmd = jsonArgs(strings.TrimPrefix(line, "CMD "))
		}
	}
	d.entrypoint = append(d.entrypoint, cmd...)
	if len(d.buildFlags) == 0 || len(d.entrypoint) == 0 || len(d.healthcheck) == 0 {
		t.Fatalf("Dockerfile: build %q, entrypoint %q, healthcheck %q: one is missing", d.buildFlags, d.entrypoint, d.healthcheck)
	}
	return d
}

// labelRE is one key="value" pair of a LABEL instruction.
var labelRE = regexp.MustCompile(`([a-z0-9.-]+)="([^"]*)"`)

// goBuildFlags are the Dockerfile's go build flags for a build into this test's directory,
// with the build args given expanded as `docker build --build-arg` would.
func (d dockerfile) goBuildFlags(buildArgs map[string]string) []string {
	var flags []string
	for i := 0; i < len(d.buildFlags); i++ {
		switch f := d.buildFlags[i]; f {
		case "-o":
			i++ // the image's path; the test builds into its own directory
		case "./cmd/directus-ircd":
		default:
			flags = append(flags, os.Expand(f, func(k string) string { return buildArgs[k] }))
		}
	}
	return flags
}

// The image's metadata as registries and scanners read it, and the binary's version as the
// build args stamp it: base images resolve without a registry search list (podman, buildah),
// the OCI labels are there with the build's version and commit, and the binary built with the
// Dockerfile's flags reports them.
func TestDockerfileMetadata(t *testing.T) {
	d := readDockerfile(t)
	if len(d.from) != 2 {
		t.Fatalf("FROM %q: want a build stage and a runtime stage", d.from)
	}
	for _, img := range d.from {
		// A fully qualified name starts with a registry host (a dot or a port in it).
		host, _, _ := strings.Cut(img, "/")
		if !strings.ContainsAny(host, ".:") {
			t.Errorf("FROM %s is not fully qualified (registry/namespace/name)", img)
		}
	}
	if !strings.HasPrefix(d.from[0], "docker.io/library/golang:1.26") {
		t.Errorf("build stage FROM %s, want docker.io/library/golang:1.26…", d.from[0])
	}
	for _, arg := range []string{"VERSION", "COMMIT"} {
		if _, ok := d.args[arg]; !ok {
			t.Errorf("no global ARG %s", arg)
		}
		for i, stage := range d.stageArgs {
			if !stage[arg] {
				t.Errorf("stage %d (%s) does not redeclare ARG %s, so ${%s} is empty there", i, d.from[i], arg, arg)
			}
		}
	}
	want := map[string]string{
		"org.opencontainers.image.title":   "directus-ircd",
		"org.opencontainers.image.version": "${VERSION}", "org.opencontainers.image.revision": "${COMMIT}",
		"org.opencontainers.image.source": "", "org.opencontainers.image.licenses": "", "org.opencontainers.image.description": "",
	}
	for k, v := range want {
		got, ok := d.labels[k]
		if !ok || got == "" || (v != "" && got != v) {
			t.Errorf("LABEL %s = %q (present %v), want %q", k, got, ok, v)
		}
	}

	bin := buildDaemon(t, "", d.goBuildFlags(map[string]string{"VERSION": "v9.8.7", "COMMIT": "0123abcd"})...)
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "directus-ircd v9.8.7 (commit 0123abcd, go1.") {
		t.Fatalf("--version of the image's binary: %v %q", err, out)
	}
	// The default build args stamp the development version; the commit then comes from the
	// build info.
	bin = buildDaemon(t, "", d.goBuildFlags(d.args)...)
	if out, _ := exec.Command(bin, "version").CombinedOutput(); !strings.HasPrefix(string(out), "directus-ircd "+d.args["VERSION"]+" (commit ") {
		t.Fatalf("version with the default build args: %q", out)
	}
}

// The container image as the Dockerfile defines it, without Docker (this machine has no
// engine): the binary built with the Dockerfile's flags is static (the distroless/static
// base has no libc); with only the image's ENV plus the two variables of the README's compose
// file and no config file, ENTRYPOINT+CMD serves IRC clients; the HEALTHCHECK command reports
// healthy once the daemon is ready; logs are JSON without the token; SIGTERM (docker stop)
// exits 0.
func TestContainerEntrypoint(t *testing.T) {
	d := readDockerfile(t)
	dx, res := dtest.StartProvisioned(t, dtest.Options{})
	dir := t.TempDir()
	bin := buildDaemon(t, dir, d.goBuildFlags(d.args)...)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("the binary needs a dynamic loader; distroless/static has none")
		}
	}
	f.Close()

	// The image listens on all interfaces; here the same settings are moved to free loopback ports.
	ircAddr, healthAddr := "127.0.0.1:"+freePort(t), "127.0.0.1:"+freePort(t)
	env := []string{"DIRECTUS_IRCD_DIRECTUS_URL=" + dx.URL, "DIRECTUS_IRCD_DIRECTUS_TOKEN=" + res.BridgeToken}
	for k, v := range d.env {
		v = strings.Replace(v, "0.0.0.0:6667", ircAddr, 1)
		v = strings.Replace(v, "0.0.0.0:8081", healthAddr, 1)
		env = append(env, k+"="+v)
	}
	if !strings.HasPrefix(d.entrypoint[0], "/usr/local/bin/directus-ircd") {
		t.Fatalf("ENTRYPOINT %q does not run the binary the image installs", d.entrypoint)
	}
	daemon := exec.Command(bin, d.entrypoint[1:]...)
	daemon.Env, daemon.Dir = env, dir // no config file anywhere near it
	w := startWatched(t, daemon, func(line string) {
		if !json.Valid([]byte(line)) {
			t.Errorf("a log line is not JSON (DIRECTUS_IRCD_LOG_FORMAT=json): %s", line)
		}
		if strings.Contains(line, res.BridgeToken) {
			t.Errorf("a log line shows the token: %s", line)
		}
	})
	t.Cleanup(func() { _ = daemon.Process.Kill() })
	w.waitLine(t, "listening for IRC clients", 60*time.Second)

	// HEALTHCHECK runs the binary's own probe (the image has no curl); Docker retries it, so
	// does this test, until the daemon's Directus subscription is live.
	probe := append([]string{}, d.healthcheck[1:]...)
	for i, a := range probe {
		probe[i] = strings.Replace(a, "127.0.0.1:8081", healthAddr, 1)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := exec.Command(bin, probe...).CombinedOutput()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("HEALTHCHECK %q never passed: %v %s", probe, err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}

	alice := irctest.Dial(t, ircAddr)
	alice.RegisterSASL("a", "alice", "alicepass")
	alice.Join("#chat")
	bob := irctest.Dial(t, ircAddr)
	bob.RegisterSASL("b", "bob", "bobpass")
	bob.Join("#chat")
	alice.Send("PRIVMSG", "#chat", "hello from the container")
	bob.ExpectFunc("alice's line", func(m ircmsg.Message) bool {
		return m.Command == "PRIVMSG" && m.Params[len(m.Params)-1] == "hello from the container"
	})

	_ = daemon.Process.Signal(syscall.SIGTERM) // docker stop
	if reason := alice.Closed(); !strings.Contains(reason, "shutting down") {
		t.Errorf("ERROR on SIGTERM = %q", reason)
	}
	w.waitExit(t, "after SIGTERM", 30*time.Second)
}
