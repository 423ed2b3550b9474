package packaging

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The init script runs under testdata/rc.common.shim, which records what it
// asks procd to do instead of doing it (the shim says what it is not). The
// script's `ndproxy check` is the real one, built from this tree.

const (
	initScript = "../files/etc/init.d/ndproxy"
	shim       = "testdata/rc.common.shim"
)

// island is a valid configuration with one enabled proxy.
const island = `config global 'global'
	option log_level 'info'

config proxy 'island'
	option upstream 'wlan0'
	list downstream 'eth0'
	list prefix '2001:db8:abc:123:40::/76'
	option verify 'probe'
`

// initRun is one run of the init script and what it asked of procd.
type initRun struct {
	prog, config string     // PROG and CONFIG as the copy of the script has them
	calls        [][]string // one recorded call each, name first
	stderr       string
}

// runInit runs the init script's ACTION with the UCI file config under
// shell sh. running is what procd_running answers.
func runInit(t *testing.T, sh []string, action, config string, running bool) initRun {
	t.Helper()
	dir := t.TempDir()
	confDir := filepath.Join(dir, "etc/config")
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		t.Fatal(err)
	}
	r := initRun{
		prog:   filepath.Join(ndproxyBinary(t, "host"), "host", "ndproxy"),
		config: filepath.Join(confDir, "ndproxy"),
	}
	if err := os.WriteFile(r.config, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}

	// A copy of the script whose PROG and CONFIG point into the test.
	src, err := os.ReadFile(initScript)
	if err != nil {
		t.Fatal(err)
	}
	script := string(src)
	for _, v := range []struct{ old, new string }{
		{"\nPROG=/usr/sbin/ndproxy\n", "\nPROG=" + r.prog + "\n"},
		{"\nCONFIG=/etc/config/ndproxy\n", "\nCONFIG=" + r.config + "\n"},
	} {
		if n := strings.Count(script, v.old); n != 1 {
			t.Fatalf("%s has %q %d times, want once", initScript, strings.TrimSpace(v.old), n)
		}
		script = strings.Replace(script, v.old, v.new, 1)
	}
	// Named as on the router: the service name is the script's name.
	copied := filepath.Join(dir, "etc/init.d/ndproxy")
	if err := os.MkdirAll(filepath.Dir(copied), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(copied, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}

	validate, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if real := os.Getenv(realValidateDataEnv); real != "" {
		validate = real
	}
	log := filepath.Join(dir, "procd.log")
	running1 := "0"
	if running {
		running1 = "1"
	}
	cmd := exec.Command(sh[0], append(sh[1:], shim, copied, action)...)
	cmd.Env = append(os.Environ(),
		"SHIM_LOG="+log,
		"UCI_CONFIG_DIR="+confDir,
		"SHIM_RUNNING="+running1,
		"SHIM_VALIDATE="+validate,
		validateDataEnv+"=1",
		// A -race test binary waits 1 s on exit unless told not to.
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"),
	)
	out, err := cmd.CombinedOutput()
	r.stderr = string(out)
	if strings.Contains(r.stderr, "not implemented") {
		t.Fatalf("the validate_data double lacks a datatype:\n%s", out)
	}
	if err != nil && action != "start" {
		t.Fatalf("%s %s: %v\n%s", sh, action, err, out)
	}
	b, err := os.ReadFile(log)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if line != "" {
			r.calls = append(r.calls, strings.Split(line, "\t"))
		}
	}
	return r
}

// find returns the recorded calls of procd function fn.
func (r initRun) find(fn string) [][]string {
	var out [][]string
	for _, c := range r.calls {
		if c[0] == fn {
			out = append(out, c[1:])
		}
	}
	return out
}

func (r initRun) started() bool { return len(r.find("procd_open_instance")) > 0 }

func join(calls [][]string) string {
	var b strings.Builder
	for _, c := range calls {
		b.WriteString(strings.Join(c, " "))
		b.WriteByte('\n')
	}
	return b.String()
}

func TestInitScriptStart(t *testing.T) {
	for _, sh := range shells(t) {
		t.Run(filepath.Base(sh[0]), func(t *testing.T) {
			def, err := os.ReadFile("../files/etc/config/ndproxy")
			if err != nil {
				t.Fatal(err)
			}
			for name, config := range map[string]string{"default": string(def), "island": island} {
				r := runInit(t, sh, "start", config, false)
				if !r.started() {
					t.Fatalf("%s: no instance started\n%s%s", name, join(r.calls), r.stderr)
				}
				// The instance, in the order procd receives it.
				var got [][]string
				for _, c := range r.calls {
					if c[0] == "procd_open_instance" || c[0] == "procd_set_param" || c[0] == "procd_append_param" || c[0] == "procd_close_instance" {
						got = append(got, c)
					}
				}
				want := join([][]string{
					{"procd_open_instance"},
					{"procd_set_param", "command", r.prog, "run", "-c", r.config},
					{"procd_set_param", "respawn", "3600", "5", "5"},
					{"procd_set_param", "stdout", "1"},
					{"procd_set_param", "stderr", "1"},
					{"procd_close_instance"},
				})
				if join(got) != want {
					t.Errorf("%s: instance\n%swant\n%s", name, join(got), want)
				}
				if svc := r.find("procd_open_service"); len(svc) != 1 || svc[0][0] != "ndproxy" {
					t.Errorf("%s: procd_open_service calls %q, want one for ndproxy", name, svc)
				}
				checkTriggers(t, r)
			}
		})
	}
}

// checkTriggers checks the triggers: a reload on config.change of the
// ndproxy package, no interface trigger, and validation of both section
// types.
func checkTriggers(t *testing.T, r initRun) {
	t.Helper()
	if got := r.find("procd_add_reload_trigger"); join(got) != "ndproxy\n" {
		t.Errorf("reload triggers %q, want ndproxy alone", got)
	}
	for _, fn := range []string{"procd_add_interface_trigger", "procd_add_reload_interface_trigger", "procd_add_config_trigger", "procd_add_raw_trigger"} {
		if got := r.find(fn); len(got) != 0 {
			t.Errorf("%s %q: the daemon follows interfaces itself", fn, got)
		}
	}
	types := map[string]bool{}
	for _, v := range r.find("uci_validate_section") {
		if v[0] != "ndproxy" {
			t.Errorf("validation for package %s", v[0])
		}
		types[v[1]] = true
	}
	var got []string
	for typ := range types {
		got = append(got, typ)
	}
	slices.Sort(got)
	if want := []string{"global", "mdns", "proxy", "wireguard"}; !slices.Equal(got, want) {
		t.Errorf("validation covers section types %v, want %v", types, want)
	}
}

func TestInitScriptReload(t *testing.T) {
	for _, sh := range shells(t) {
		t.Run(filepath.Base(sh[0]), func(t *testing.T) {
			// Running: SIGHUP (procd's default signal) and nothing else,
			// neither a new instance nor a stop.
			r := runInit(t, sh, "reload", island, true)
			if got, want := join(r.calls), "procd_send_signal ndproxy\n"; got != want {
				t.Errorf("reload while running asked procd for\n%swant\n%s", got, want)
			}
			// Not running: reload starts it.
			r = runInit(t, sh, "reload", island, false)
			if !r.started() || len(r.find("procd_send_signal")) != 0 {
				t.Errorf("reload while stopped asked procd for\n%swant a start", join(r.calls))
			}
		})
	}
}

func TestInitScriptStopEnable(t *testing.T) {
	for _, sh := range shells(t) {
		t.Run(filepath.Base(sh[0]), func(t *testing.T) {
			if got := join(runInit(t, sh, "stop", island, true).calls); got != "procd_kill ndproxy\n" {
				t.Errorf("stop asked procd for\n%s", got)
			}
			if got := join(runInit(t, sh, "enable", island, false).calls); got != "enable S60ndproxy K15ndproxy\n" {
				t.Errorf("enable made %s", got)
			}
		})
	}
}

// TestInitScriptValidation starts the service with bad files: each must be
// refused with a message, and no instance sent to procd. The first cases
// fail the uci_validate_section types; the last pass them and are left to
// `ndproxy check`.
func TestInitScriptValidation(t *testing.T) {
	section := "config proxy 'island'\n"
	for _, tc := range []struct {
		name, old, new, msg string
	}{
		{"verify", "option verify 'probe'", "option verify 'prob'", "ndproxy.island.verify=prob validates as"},
		{"enabled", section, section + "\toption enabled 'maybe'\n", "ndproxy.island.enabled=maybe"},
		{"upstream slash", "option upstream 'wlan0'", "option upstream 'wlan0/1'", "ndproxy.island.upstream=wlan0/1"},
		{"upstream long", "option upstream 'wlan0'", "option upstream 'abcdefghijklmnop'", "ndproxy.island.upstream="},
		{"downstream", "list downstream 'eth0'", "list downstream 'eth0'\n\tlist downstream 'a/b'", "ndproxy.island.downstream=a/b"},
		{"prefix", "list prefix '2001:db8:abc:123:40::/76'", "list prefix 'zz'", "ndproxy.island.prefix=zz"},
		{"prefix_from", section, section + "\tlist prefix_from 'wan6'\n\tlist prefix_from 'a b/c'\n", "ndproxy.island.prefix_from=a b/c"},
		{"route", section, section + "\toption route 'all'\n", "ndproxy.island.route=all"},
		{"route_metric", section, section + "\toption route_metric '0'\n", "ndproxy.island.route_metric=0"},
		{"probe_retries", section, section + "\toption probe_retries '11'\n", "ndproxy.island.probe_retries=11"},
		{"valid_ttl", section, section + "\toption valid_ttl '1.5s'\n", "ndproxy.island.valid_ttl=1.5s"},
		{"probe_timeout", section, section + "\toption probe_timeout '1m30s'\n", "ndproxy.island.probe_timeout=1m30s"},
		{"log_level", "option log_level 'info'", "option log_level 'verbose'", "ndproxy.global.log_level=verbose"},
		{"socket", "option log_level 'info'", "option socket 'run/ndproxy.sock'", "ndproxy.global.socket=run/ndproxy.sock"},
		// Left to ndproxy check:
		{"host bits", "2001:db8:abc:123:40::/76", "2001:db8:abc:123:40::1/76", "host bits set"},
		{"unknown option", "option verify 'probe'", "option upsteam 'wlan0'", "unknown option"},
		{"valid_ttl range", section, section + "\toption valid_ttl '2h'\n", "ndproxy.island.valid_ttl"},
		{"missing upstream", "option upstream 'wlan0'", "", "ndproxy.island.upstream"},
	} {
		if !strings.Contains(island, tc.old) {
			t.Fatalf("%s: %q is not in the base configuration", tc.name, tc.old)
		}
		config := strings.Replace(island, tc.old, tc.new, 1)
		for _, sh := range shells(t) {
			t.Run(tc.name+"/"+filepath.Base(sh[0]), func(t *testing.T) {
				r := runInit(t, sh, "start", config, false)
				if r.started() {
					t.Errorf("started with a bad file:\n%s", config)
				}
				if !strings.Contains(r.stderr, tc.msg) {
					t.Errorf("output does not say %q:\n%s", tc.msg, r.stderr)
				}
				if logged := join(r.find("logger")); !strings.Contains(logged, "is not valid; not starting") {
					t.Errorf("logged %q", logged)
				}
			})
		}
	}
}

// everySection has one section of each type, so that starting validates
// them all.
const everySection = island + `
config mdns 'reflector'
	list interface 'wlan0'
	list interface 'eth0'

config wireguard 'wg0'
	option device 'wg0'
`

// TestInitScriptSchema checks that the script validates the options of
// docs/config.md, no more and no fewer.
func TestInitScriptSchema(t *testing.T) {
	docs := docOptions(t)
	r := runInit(t, shells(t)[0], "start", everySection, false)
	seen := map[string]bool{}
	for _, v := range r.find("uci_validate_section") {
		for _, spec := range v[2:] {
			opt, dt, ok := strings.Cut(spec, ":")
			if !ok || dt == "" || strings.Contains(dt, ":") {
				t.Errorf("%s: spec %q is not option:datatype", v[1], spec)
			}
			key := v[1] + "." + opt
			seen[key] = true
			if !docs[key] {
				t.Errorf("%s is validated but not in docs/config.md", key)
			}
		}
	}
	for key := range docs {
		if !seen[key] {
			t.Errorf("%s is in docs/config.md but not validated", key)
		}
	}
}

// docOptions reads the option tables of docs/config.md as section.option.
func docOptions(t *testing.T) map[string]bool {
	t.Helper()
	f, err := os.Open("../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	heading := regexp.MustCompile("^## Section `([a-z]+)`")
	row := regexp.MustCompile("^\\| `([a-z0-9_]+)` \\|")
	out := map[string]bool{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if m := heading.FindStringSubmatch(line); m != nil {
			section = m[1]
			continue
		}
		if strings.HasPrefix(line, "#") {
			section = ""
		}
		if m := row.FindStringSubmatch(line); m != nil && section != "" {
			out[section+"."+m[1]] = true
		}
	}
	if len(out) == 0 {
		t.Fatal("found no option tables in docs/config.md")
	}
	return out
}
