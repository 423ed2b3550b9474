package deb

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// builtDir holds the binaries the tests build, for all tests of a run.
var builtDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ndproxy-deb-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	builtDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// goEnv is the Go target of each Debian architecture, as the Makefile's
// deb target builds it.
var goEnv = map[string][]string{
	"amd64":   {"GOARCH=amd64", "GOAMD64=v1"},
	"arm64":   {"GOARCH=arm64"},
	"armhf":   {"GOARCH=arm", "GOARM=6"},
	"i386":    {"GOARCH=386"},
	"riscv64": {"GOARCH=riscv64"},
}

var elfMachine = map[string]elf.Machine{
	"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "armhf": elf.EM_ARM, "i386": elf.EM_386, "riscv64": elf.EM_RISCV,
}

// hostArch is this machine's Debian architecture.
func hostArch(t *testing.T) string {
	t.Helper()
	if out, err := exec.Command("dpkg", "--print-architecture").Output(); err == nil {
		return strings.TrimSpace(string(out))
	}
	for deb, env := range goEnv {
		if env[0] == "GOARCH="+runtime.GOARCH {
			return deb
		}
	}
	t.Skipf("no Debian architecture for GOARCH %s", runtime.GOARCH)
	return ""
}

func needDpkgDeb(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb is not installed")
	}
}

var (
	buildMu sync.Mutex
	builds  = map[string]string{}
)

// binary builds cmd/ndproxy for a Debian architecture as `make deb` does,
// once per run, and returns its path.
func binary(t *testing.T, arch string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if bin, ok := builds[arch]; ok {
		return bin
	}
	bin := filepath.Join(builtDir, arch, "ndproxy")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=test", "-o", bin, "./cmd/ndproxy")
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), append([]string{"CGO_ENABLED=0", "GOOS=linux"}, goEnv[arch]...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build for %s: %v\n%s", arch, err, out)
	}
	builds[arch] = bin
	return bin
}

const (
	debEpoch   = 1700000000
	debVersion = "1.2.3.4~abc1234-1" // from VERSION=v1.2.3-4-gabc1234
)

// buildDeb runs deb.sh for arch in out and returns the package's path.
func buildDeb(t *testing.T, arch, out string) string {
	t.Helper()
	bin := filepath.Join(out, "deb", arch, "ndproxy")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(binary(t, arch))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("./deb.sh", out, arch)
	cmd.Env = append(os.Environ(), "VERSION=v1.2.3-4-gabc1234", "SOURCE_DATE_EPOCH="+strconv.Itoa(debEpoch),
		"MAINTAINER=ndproxy tests <tests@ndproxy.example>")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("deb.sh: %v\n%s", err, b)
	}
	return filepath.Join(out, "ndproxy_"+debVersion+"_"+arch+".deb")
}

func dpkgDeb(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("dpkg-deb", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// wantFiles are the package's files with their modes; directories are
// 0755, everything belongs to root.
var wantFiles = map[string]string{
	"./usr/sbin/ndproxy":                                    "-rwxr-xr-x",
	"./lib/systemd/system/ndproxy.service":                  "-rw-r--r--",
	"./usr/share/dbus-1/system.d/org.ndproxy.NDProxy1.conf": "-rw-r--r--",
	"./etc/config/ndproxy":                                  "-rw-r--r--",
	"./etc/iproute2/rt_protos.d/ndproxy.conf":               "-rw-r--r--",
	"./usr/share/doc/ndproxy/README.md":                     "-rw-r--r--",
	"./usr/share/doc/ndproxy/linux.md":                      "-rw-r--r--",
	"./usr/share/doc/ndproxy/config.md":                     "-rw-r--r--",
	"./usr/share/doc/ndproxy/status.md":                     "-rw-r--r--",
	"./usr/share/doc/ndproxy/copyright":                     "-rw-r--r--",
	"./usr/share/doc/ndproxy/changelog.Debian.gz":           "-rw-r--r--",
	"./usr/share/lintian/overrides/ndproxy":                 "-rw-r--r--",
}

// checkDeb checks one package: its control fields, files, modes, owners,
// conffiles, that the binary is static and for arch, that the files are
// the ones in the tree, and lintian's verdict where lintian is installed.
func checkDeb(t *testing.T, deb, arch, version string) {
	t.Helper()
	fields := dpkgDeb(t, "--field", deb, "Package", "Version", "Architecture", "Section", "Priority", "Maintainer", "Installed-Size", "Description")
	for _, want := range []string{"Package: ndproxy\n", "Version: " + version + "\n", "Architecture: " + arch + "\n", "Section: net\n", "Priority: optional\n", "Maintainer: ", "Installed-Size: ", "Description: IPv6 NDP proxy"} {
		if !strings.Contains(fields, want) {
			t.Errorf("control has no %q:\n%s", want, fields)
		}
	}
	if conffiles := dpkgDeb(t, "--info", deb, "conffiles"); conffiles != "/etc/config/ndproxy\n/etc/iproute2/rt_protos.d/ndproxy.conf\n" {
		t.Errorf("conffiles:\n%s", conffiles)
	}

	seen := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(dpkgDeb(t, "--contents", deb)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 {
			t.Errorf("cannot read %q", sc.Text())
			continue
		}
		mode, owner, name := f[0], f[1], f[5]
		if owner != "root/root" {
			t.Errorf("%s belongs to %s", name, owner)
		}
		if strings.HasSuffix(name, "/") {
			if mode != "drwxr-xr-x" {
				t.Errorf("%s has mode %s", name, mode)
			}
			continue
		}
		want, ok := wantFiles[name]
		switch {
		case !ok:
			t.Errorf("unexpected file %s", name)
		case mode != want:
			t.Errorf("%s has mode %s, want %s", name, mode, want)
		}
		seen[name] = true
	}
	for name := range wantFiles {
		if !seen[name] {
			t.Errorf("%s is missing", name)
		}
	}

	dir := t.TempDir()
	dpkgDeb(t, "-x", deb, dir)
	bin := filepath.Join(dir, "usr/sbin/ndproxy")
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	if f.Machine != elfMachine[arch] {
		t.Errorf("the binary is for %v, want %v", f.Machine, elfMachine[arch])
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary is not static: it has %v", p.Type)
		}
	}
	f.Close()
	for name, src := range map[string]string{
		"lib/systemd/system/ndproxy.service":                  "../../files/systemd/ndproxy.service",
		"usr/share/dbus-1/system.d/org.ndproxy.NDProxy1.conf": "../../files/dbus/org.ndproxy.NDProxy1.conf",
		"etc/config/ndproxy":                                  "ndproxy.conf",
		"etc/iproute2/rt_protos.d/ndproxy.conf":               "../../files/etc/iproute2/rt_protos.d/ndproxy.conf",
	} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s", name, src)
		}
	}
	ctl := t.TempDir()
	dpkgDeb(t, "-e", deb, ctl)
	md5 := exec.Command("md5sum", "--quiet", "-c", filepath.Join(ctl, "md5sums"))
	md5.Dir = dir
	if out, err := md5.CombinedOutput(); err != nil {
		t.Errorf("md5sums: %v\n%s", err, out)
	}

	if _, err := exec.LookPath("lintian"); err != nil {
		t.Log("lintian is not installed: not run")
		return
	}
	out, err := exec.Command("lintian", "--fail-on", "error,warning", deb).CombinedOutput()
	if err != nil {
		t.Errorf("lintian: %v\n%s", err, out)
	} else {
		t.Logf("lintian:\n%s", out)
	}
}

func sha256File(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// TestDeb builds the package for this machine and checks it, and that a
// second build gives the same bytes.
func TestDeb(t *testing.T) {
	needDpkgDeb(t)
	arch := hostArch(t)
	deb := buildDeb(t, arch, t.TempDir())
	checkDeb(t, deb, arch, debVersion)
	if again := buildDeb(t, arch, t.TempDir()); sha256File(t, deb) != sha256File(t, again) {
		t.Error("two builds of the same tree differ")
	}
}

// TestBuiltDebs checks the packages `make deb` wrote: it sets
// NDPROXY_DEB_DIR to the directory and NDPROXY_DEB_ARCHES to the list.
func TestBuiltDebs(t *testing.T) {
	dir := os.Getenv("NDPROXY_DEB_DIR")
	if dir == "" {
		t.Skip("NDPROXY_DEB_DIR is not set; `make deb` sets it")
	}
	needDpkgDeb(t)
	for _, arch := range strings.Fields(os.Getenv("NDPROXY_DEB_ARCHES")) {
		t.Run(arch, func(t *testing.T) {
			found, _ := filepath.Glob(filepath.Join(dir, "ndproxy_*_"+arch+".deb"))
			if len(found) != 1 {
				t.Fatalf("want one ndproxy_*_%s.deb in %s, found %v", arch, dir, found)
			}
			version := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(found[0]), "ndproxy_"), "_"+arch+".deb")
			checkDeb(t, found[0], arch, version)
		})
	}
}

// TestInstall runs `make install`'s script into a staging root with a
// PREFIX of /usr/local: the unit must start the binary where it went, the
// policy go where dbus-daemon reads it, and an existing configuration stay.
func TestInstall(t *testing.T) {
	root := t.TempDir()
	bin := binary(t, hostArch(t))
	install := func() string {
		cmd := exec.Command("./install.sh", bin)
		cmd.Env = append(os.Environ(), "DESTDIR="+root, "PREFIX=/usr/local")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("install.sh: %v\n%s", err, out)
		}
		return string(out)
	}
	install()
	for _, name := range []string{
		"usr/local/sbin/ndproxy",
		"usr/local/lib/systemd/system/ndproxy.service",
		"etc/dbus-1/system.d/org.ndproxy.NDProxy1.conf",
		"etc/config/ndproxy",
		"etc/iproute2/rt_protos.d/ndproxy.conf",
	} {
		if _, err := os.Stat(filepath.Join(root, name)); err != nil {
			t.Error(err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "usr/local/share/doc")); err == nil {
		t.Error("documentation installed without DOCS=1")
	}
	unit, err := os.ReadFile(filepath.Join(root, "usr/local/lib/systemd/system/ndproxy.service"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "ExecStart=/usr/local/sbin/ndproxy run") || strings.Contains(string(unit), "/usr/sbin/ndproxy") {
		t.Errorf("the unit does not start /usr/local/sbin/ndproxy:\n%s", unit)
	}

	conf := filepath.Join(root, "etc/config/ndproxy")
	if err := os.WriteFile(conf, []byte("# mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := install(); !strings.Contains(out, "keeping") {
		t.Errorf("install.sh does not say it keeps the configuration: %q", out)
	}
	if b, _ := os.ReadFile(conf); string(b) != "# mine\n" {
		t.Errorf("install.sh replaced an existing configuration: %q", b)
	}
}

// TestUnit checks the unit with systemd-analyze and holds it to what
// docs/linux.md promises.
func TestUnit(t *testing.T) {
	unit, err := os.ReadFile("../../files/systemd/ndproxy.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Type=notify\n",
		"ExecStart=/usr/sbin/ndproxy run -c /etc/config/ndproxy\n",
		"ExecReload=/usr/sbin/ndproxy check --config-only -c /etc/config/ndproxy\n",
		"ExecReload=/bin/kill -HUP $MAINPID\n",
		"Restart=on-failure\n",
		"CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW\n",
		"AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW\n",
		"ProtectSystem=strict\n",
		"PrivateTmp=yes\n",
		"WantedBy=multi-user.target\n",
	} {
		if !bytes.Contains(unit, []byte(want)) {
			t.Errorf("the unit has no %q", want)
		}
	}
	if bytes.Contains(unit, []byte("ProtectKernelTunables=yes")) {
		t.Error("ProtectKernelTunables=yes makes /proc/sys read-only: ndproxy must write accept_ra and forwarding")
	}

	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	// systemd-analyze wants the binaries the unit starts to exist.
	dir := t.TempDir()
	bin := binary(t, hostArch(t))
	text := strings.ReplaceAll(string(unit), "/usr/sbin/ndproxy", bin)
	path := filepath.Join(dir, "ndproxy.service")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestMaintainerScripts runs postinst, prerm and postrm with stand-ins for
// deb-systemd-helper, deb-systemd-invoke and systemctl that record their
// arguments. (With systemd running, TestDebInSystemd runs the real ones.)
func TestMaintainerScripts(t *testing.T) {
	stubs := t.TempDir()
	log := filepath.Join(stubs, "log")
	for _, name := range []string{"deb-systemd-helper", "deb-systemd-invoke", "systemctl"} {
		script := fmt.Sprintf("#!/bin/sh\necho \"%s $*\" >>%s\n[ \"$*\" != '--quiet was-enabled ndproxy.service' ] || exit \"${WAS_ENABLED:-0}\"\n", name, log)
		if err := os.WriteFile(filepath.Join(stubs, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	systemd := false
	if fi, err := os.Stat("/run/systemd/system"); err == nil && fi.IsDir() {
		systemd = true
	}
	run := func(env []string, script string, args ...string) []string {
		os.Remove(log)
		cmd := exec.Command("./"+script, args...)
		cmd.Env = append(append(os.Environ(), "PATH="+stubs+":"+os.Getenv("PATH")), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", script, args, err, out)
		}
		b, _ := os.ReadFile(log)
		var calls []string
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if l != "" && (systemd || !strings.HasPrefix(l, "systemctl ") && !strings.HasPrefix(l, "deb-systemd-invoke ")) {
				calls = append(calls, l)
			}
		}
		return calls
	}
	for _, tc := range []struct {
		name   string
		env    []string
		script string
		args   []string
		want   []string // without the calls that need systemd running
		withSD []string // and those, after them
	}{
		{"fresh install", nil, "postinst", []string{"configure"},
			[]string{"deb-systemd-helper unmask ndproxy.service", "deb-systemd-helper --quiet was-enabled ndproxy.service", "deb-systemd-helper enable ndproxy.service"},
			[]string{"systemctl --system daemon-reload", "deb-systemd-invoke start ndproxy.service"}},
		{"upgrade, disabled by hand", []string{"WAS_ENABLED=1"}, "postinst", []string{"configure", "0.9-1"},
			[]string{"deb-systemd-helper unmask ndproxy.service", "deb-systemd-helper --quiet was-enabled ndproxy.service", "deb-systemd-helper update-state ndproxy.service"},
			[]string{"systemctl --system daemon-reload", "deb-systemd-invoke restart ndproxy.service"}},
		{"remove", nil, "prerm", []string{"remove"}, nil, []string{"deb-systemd-invoke stop ndproxy.service"}},
		{"upgrade keeps it running", nil, "prerm", []string{"upgrade", "1.0-1"}, nil, nil},
		{"removed", nil, "postrm", []string{"remove"}, []string{"deb-systemd-helper mask ndproxy.service"}, []string{"systemctl --system daemon-reload"}},
		{"purged", nil, "postrm", []string{"purge"}, []string{"deb-systemd-helper purge ndproxy.service", "deb-systemd-helper unmask ndproxy.service"}, []string{"systemctl --system daemon-reload"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := run(tc.env, tc.script, tc.args...)
			want := tc.want
			if systemd {
				if tc.script == "postrm" {
					want = append(append([]string{}, tc.withSD...), tc.want...)
				} else {
					want = append(append([]string{}, tc.want...), tc.withSD...)
				}
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// TestDebInSystemd boots this machine's own system in a container
// (systemd-nspawn on a throw-away overlay of /, with a private network) and
// there installs the package with dpkg, configures a proxy, reloads,
// checks the capabilities the daemon runs with, calls it over D-Bus as root
// and as nobody, reloads a bad file, kills it to see it restarted, stops it
// and removes and purges the package (container.sh). Nothing it does
// reaches the host.
func TestDebInSystemd(t *testing.T) {
	switch {
	case testing.Short():
		t.Skip("-short: boots a container")
	case os.Geteuid() != 0:
		t.Skip("needs root to boot a container")
	}
	for _, tool := range []string{"systemd-nspawn", "unshare", "dbus-daemon", "busctl", "dbus-send"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (apt-get install systemd-container dbus)", tool)
		}
	}
	needDpkgDeb(t)
	work := t.TempDir()
	deb := buildDeb(t, hostArch(t), filepath.Join(work, "build"))
	root, out := filepath.Join(work, "root"), filepath.Join(work, "out")
	for _, d := range []string{root, out} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script, err := os.ReadFile("testdata/container.sh")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "test.sh"), script, 0o755); err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(work, "ndp-test.service")
	if err := os.WriteFile(unit, []byte("[Unit]\nDescription=ndproxy package test\n\n[Service]\nType=oneshot\nExecStart=/bin/sh /ndp-out/test.sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// nspawn refuses / itself as the tree: a bind mount of it, in a mount
	// namespace of its own, is the same tree under another name.
	nspawn := strings.Join([]string{
		"systemd-nspawn", "--quiet", "--register=no", "--keep-unit", "--private-network",
		"--volatile=overlay", "--console=pipe", "-D", root,
		"--bind=" + out + ":/ndp-out", "--bind-ro=" + deb + ":/ndp-pkg/ndproxy.deb",
		"--bind-ro=" + unit + ":/run/systemd/system/ndp-test.service",
		"-b", "--", "--unit=ndp-test.service", "systemd.firstboot=off", "systemd.log_color=0",
	}, " ")
	cmd := exec.CommandContext(ctx, "unshare", "-m", "--propagation", "private", "sh", "-c",
		fmt.Sprintf("mount --bind / %s && exec %s", root, nspawn))
	start := time.Now()
	boot, err := cmd.CombinedOutput()
	log, _ := os.ReadFile(filepath.Join(out, "log"))
	result, _ := os.ReadFile(filepath.Join(out, "result"))
	t.Logf("container ran %v", time.Since(start).Round(time.Millisecond))
	if strings.TrimSpace(string(result)) != "PASS" {
		t.Errorf("in the container: %q (nspawn: %v)\n--- test.sh:\n%s\n--- boot:\n%s", result, err, log, tail(string(boot), 60))
	} else {
		t.Logf("test.sh:\n%s", log)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
