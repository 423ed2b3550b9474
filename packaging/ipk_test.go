package packaging

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// validateDataEnv makes the test binary act as validate_data (see
// validateData) for the init script shim.
const validateDataEnv = "NDPROXY_TEST_VALIDATE_DATA"

// builtDir holds the binaries the tests build, for all tests of a run.
var builtDir string

func TestMain(m *testing.M) {
	if os.Getenv(validateDataEnv) == "1" {
		os.Exit(validateDataMain(os.Args[1:]))
	}
	dir, err := os.MkdirTemp("", "ndproxy-packaging-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	builtDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func validateDataMain(args []string) int {
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: validate_data DATATYPE VALUE")
		return 2
	}
	ok, err := validateData(args[0], args[1])
	switch {
	case err != nil:
		fmt.Fprintln(os.Stderr, err)
		return 2
	case !ok:
		return 1
	}
	return 0
}

// goEnv is the Go environment of each OpenWrt architecture the tests
// build; the Makefile's goenv_* has all of them.
var goEnv = map[string][]string{
	"host":        nil, // the machine the tests run on
	"x86_64":      {"GOARCH=amd64", "GOAMD64=v1"},
	"mipsel_24kc": {"GOARCH=mipsle", "GOMIPS=softfloat"},
}

// elfWant is what the ELF header of each architecture's binary says.
var elfWant = map[string]struct {
	machine elf.Machine
	class   elf.Class
	data    elf.Data
}{
	"x86_64":                   {elf.EM_X86_64, elf.ELFCLASS64, elf.ELFDATA2LSB},
	"aarch64_cortex-a53":       {elf.EM_AARCH64, elf.ELFCLASS64, elf.ELFDATA2LSB},
	"aarch64_generic":          {elf.EM_AARCH64, elf.ELFCLASS64, elf.ELFDATA2LSB},
	"arm_cortex-a7_neon-vfpv4": {elf.EM_ARM, elf.ELFCLASS32, elf.ELFDATA2LSB},
	"mipsel_24kc":              {elf.EM_MIPS, elf.ELFCLASS32, elf.ELFDATA2LSB},
	"mips_24kc":                {elf.EM_MIPS, elf.ELFCLASS32, elf.ELFDATA2MSB},
}

var (
	buildMu sync.Mutex
	builds  = map[string]string{}
)

// ndproxyBinary builds cmd/ndproxy for an OpenWrt arch the way `make cross`
// does, once per test run, and returns DIST: DIST/arch/ndproxy is the
// binary.
func ndproxyBinary(t *testing.T, arch string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if dist, ok := builds[arch]; ok {
		return dist
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build ndproxy: %v", err)
	}
	dist := filepath.Join(builtDir, "dist")
	cmd := exec.Command(goTool, "build", "-trimpath", "-ldflags", "-s -w -X main.version=test",
		"-o", filepath.Join(dist, arch, "ndproxy"), "./cmd/ndproxy")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), append([]string{"CGO_ENABLED=0", "GOOS=linux"}, goEnv[arch]...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build for %s: %v\n%s", arch, err, out)
	}
	builds[arch] = dist
	return dist
}

// ipkEpoch is the SOURCE_DATE_EPOCH the tests build with.
const ipkEpoch = 1700000000

// buildIPK runs packaging/ipk.sh for arch on a copy of DIST in out and
// returns the path of the package.
func buildIPK(t *testing.T, dist, arch, out string) string {
	t.Helper()
	bin := filepath.Join(out, arch, "ndproxy")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dist, arch, "ndproxy"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("./ipk.sh", out, arch)
	cmd.Env = append(os.Environ(), "VERSION=v1.2.3-4-gabc1234", "RELEASE=2",
		"SOURCE_DATE_EPOCH="+strconv.Itoa(ipkEpoch), "LICENSE=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ipk.sh: %v\n%s", err, b)
	} else {
		t.Logf("ipk.sh:\n%s", b)
	}
	return filepath.Join(out, "ndproxy_1.2.3.4~abc1234-r2_"+arch+".ipk")
}

func TestIPK(t *testing.T) {
	for _, arch := range []string{"x86_64", "mipsel_24kc"} {
		t.Run(arch, func(t *testing.T) {
			if arch != "x86_64" && testing.Short() {
				t.Skip("-short: builds only x86_64")
			}
			dist := ndproxyBinary(t, arch)
			ipk := buildIPK(t, dist, arch, t.TempDir())
			checkIPK(t, ipk, arch, ipkEpoch)

			// Reproducible: a second build gives the same bytes.
			again := buildIPK(t, dist, arch, t.TempDir())
			if a, b := sha256File(t, ipk), sha256File(t, again); a != b {
				t.Errorf("two builds differ: %x and %x", a, b)
			}

			bin, err := os.ReadFile(filepath.Join(dist, arch, "ndproxy"))
			if err != nil {
				t.Fatal(err)
			}
			files := unpackIPK(t, ipk)
			if !bytes.Equal(files["./usr/sbin/ndproxy"], bin) {
				t.Error("./usr/sbin/ndproxy is not the binary that was packed")
			}
			for name, src := range map[string]string{
				"./etc/init.d/ndproxy":                    "../files/etc/init.d/ndproxy",
				"./etc/config/ndproxy":                    "../files/etc/config/ndproxy",
				"./etc/iproute2/rt_protos.d/ndproxy.conf": "../files/etc/iproute2/rt_protos.d/ndproxy.conf",
			} {
				want, err := os.ReadFile(src)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(files[name], want) {
					t.Errorf("%s differs from %s", name, src)
				}
			}
		})
	}
}

// TestBuiltIPKs checks the packages `make ipk` wrote: it sets
// NDPROXY_IPK_DIR to the directory and NDPROXY_IPK_ARCHES to the list. The
// LuCI app's package is checked as well.
func TestBuiltIPKs(t *testing.T) {
	dir := os.Getenv("NDPROXY_IPK_DIR")
	if dir == "" {
		t.Skip("NDPROXY_IPK_DIR is not set; `make ipk` sets it")
	}
	epoch := os.Getenv("NDPROXY_IPK_EPOCH")
	e, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil {
		t.Fatalf("NDPROXY_IPK_EPOCH=%q: %v", epoch, err)
	}
	for _, arch := range strings.Fields(os.Getenv("NDPROXY_IPK_ARCHES")) {
		t.Run(arch, func(t *testing.T) {
			found, _ := filepath.Glob(filepath.Join(dir, "ndproxy_*_"+arch+".ipk"))
			if len(found) != 1 {
				t.Fatalf("want one ndproxy_*_%s.ipk in %s, found %q", arch, dir, found)
			}
			checkIPK(t, found[0], arch, e)
		})
	}
	t.Run("luci-app-ndproxy", func(t *testing.T) {
		found, _ := filepath.Glob(filepath.Join(dir, "luci-app-ndproxy_*_all.ipk"))
		if len(found) != 1 {
			t.Fatalf("want one luci-app-ndproxy_*_all.ipk in %s, found %q", dir, found)
		}
		checkLuciIPK(t, found[0], "..", e)
	})
}

func sha256File(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// entry is what a tar member must be.
type entry struct {
	name string
	mode fs.FileMode // permission bits; fs.ModeDir for directories
}

func dirEntry(name string) entry { return entry{name, fs.ModeDir | 0o755} }

// checkIPK checks one package as opkg would take it. Real gzip and tar
// unpack it; Go's archive/tar reads the headers they do not show exactly.
func checkIPK(t *testing.T, ipk, arch string, epoch int64) {
	t.Helper()
	base := filepath.Base(ipk)
	if !strings.HasPrefix(base, "ndproxy_") || !strings.HasSuffix(base, "_"+arch+".ipk") {
		t.Errorf("file name %s is not ndproxy_<version>_%s.ipk", base, arch)
	}
	version := strings.TrimSuffix(strings.TrimPrefix(base, "ndproxy_"), "_"+arch+".ipk")

	outer := checkOuter(t, ipk, epoch)

	// The data.
	dataTar := filepath.Join(outer, "data.tar.gz")
	checkTar(t, dataTar, epoch, []entry{
		dirEntry("./"), dirEntry("./etc/"), dirEntry("./etc/config/"),
		{"./etc/config/ndproxy", 0o600},
		dirEntry("./etc/init.d/"),
		{"./etc/init.d/ndproxy", 0o755},
		dirEntry("./etc/iproute2/"), dirEntry("./etc/iproute2/rt_protos.d/"),
		{"./etc/iproute2/rt_protos.d/ndproxy.conf", 0o644},
		dirEntry("./usr/"), dirEntry("./usr/sbin/"),
		{"./usr/sbin/ndproxy", 0o755},
	})
	root := t.TempDir()
	run(t, "tar", "-xzf", dataTar, "-C", root)
	checkELF(t, filepath.Join(root, "usr/sbin/ndproxy"), arch)

	// The control files.
	controlTar := filepath.Join(outer, "control.tar.gz")
	checkTar(t, controlTar, epoch, []entry{
		dirEntry("./"), {"./conffiles", 0o644}, {"./control", 0o644},
		{"./postinst", 0o755}, {"./prerm", 0o755},
	})
	ctl := t.TempDir()
	run(t, "tar", "-xzf", controlTar, "-C", ctl)
	if b, _ := os.ReadFile(filepath.Join(ctl, "conffiles")); string(b) != "/etc/config/ndproxy\n" {
		t.Errorf("conffiles is %q, want %q", b, "/etc/config/ndproxy\n")
	}
	control, err := os.ReadFile(filepath.Join(ctl, "control"))
	if err != nil {
		t.Fatal(err)
	}
	pkg, err := parseControl(control)
	if err != nil {
		t.Fatalf("control: %v\n%s", err, control)
	}
	unpacked, err := gunzipSize(dataTar)
	if err != nil {
		t.Fatal(err)
	}
	cut := strings.LastIndexByte(version, '-')
	wantVersion, wantRevision := version[:max(cut, 0)], version[cut+1:]
	for field, want := range map[string]string{
		"Package":        "ndproxy",
		"Version":        wantVersion,
		"Revision":       wantRevision,
		"Architecture":   arch,
		"Section":        "net",
		"Installed-Size": strconv.FormatInt(unpacked, 10),
		"Depends":        "", // static binary: no libc, nothing
	} {
		if got := pkg[field]; got != want {
			t.Errorf("control %s = %q, want %q", field, got, want)
		}
	}
	if !strings.HasPrefix(pkg["Description"], "IPv6 NDP proxy") {
		t.Errorf("control Description = %q", pkg["Description"])
	}
	for _, script := range []string{"postinst", "prerm"} {
		checkMaintainerScript(t, "ndproxy", filepath.Join(ctl, script))
	}
}

// checkTar checks the members of a gzip'd tar, in order: names, types,
// modes, owner 0:0 and mtimes. It also checks the gzip header carries no
// name and no time, as gzip -n writes it.
func checkTar(t *testing.T, path string, epoch int64, want []entry) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		t.Errorf("%s: gzip header has name %q, time %v", path, zr.Name, zr.ModTime)
	}
	tr := tar.NewReader(zr)
	var got []entry
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		e := entry{h.Name, fs.FileMode(h.Mode).Perm()}
		switch h.Typeflag {
		case tar.TypeDir:
			e.mode |= fs.ModeDir
		case tar.TypeReg:
		default:
			t.Errorf("%s: %s has type %q", path, h.Name, h.Typeflag)
		}
		got = append(got, e)
		if h.Uid != 0 || h.Gid != 0 || (h.Uname != "" && h.Uname != "root") || (h.Gname != "" && h.Gname != "root") {
			t.Errorf("%s: %s is owned by %d:%d (%q:%q), want 0:0", path, h.Name, h.Uid, h.Gid, h.Uname, h.Gname)
		}
		if !h.ModTime.Equal(time.Unix(epoch, 0)) {
			t.Errorf("%s: %s has mtime %v, want %v", path, h.Name, h.ModTime, time.Unix(epoch, 0))
		}
		if h.Format != tar.FormatGNU {
			t.Errorf("%s: %s is in tar format %v, want GNU", path, h.Name, h.Format)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: members\n%v\nwant\n%v", path, got, want)
	}
}

func gunzipSize(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return 0, err
	}
	return io.Copy(io.Discard, zr)
}

// unpackIPK returns the regular files of the package's data, by name.
func unpackIPK(t *testing.T, ipk string) map[string][]byte {
	t.Helper()
	outer := t.TempDir()
	run(t, "tar", "-xzf", ipk, "-C", outer)
	root := t.TempDir()
	run(t, "tar", "-xzf", filepath.Join(outer, "data.tar.gz"), "-C", root)
	files := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		files["./"+rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// parseControl reads a control file as opkg does (opkg-lede
// libopkg/pkg_parse.c, pkg_parse_line), for the fields opkg acts on. Like
// opkg it splits Version at the last "-" into Version and Revision and
// joins the continuation lines of Description. It is stricter than opkg
// where opkg would silently misread: a line that is neither "Field: value"
// nor a continuation, a continuation outside Description, a blank line
// (for opkg, the end of the package) or a missing final newline.
//
// opkg matches field names by prefix only, so "SourceName:" also sets its
// Source (to "ame: ..."). OpenWrt's own packages carry both fields in the
// same order; opkg does nothing with Source.
func parseControl(b []byte) (map[string]string, error) {
	if len(b) == 0 || b[len(b)-1] != '\n' {
		return nil, errors.New("no final newline")
	}
	out := map[string]string{}
	field := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.TrimSpace(line) == "":
			return nil, fmt.Errorf("line %d is blank: opkg ends the package there", n)
		case line[0] == ' ':
			if field != "Description" {
				return nil, fmt.Errorf("line %d continues %q; opkg continues only Description and Conffiles", n, field)
			}
			out[field] += line
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("line %d is not \"Field: value\": %q", n, line)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("line %d repeats %s", n, name)
		}
		field = name
		value = strings.TrimSpace(value)
		if name == "Version" {
			if i := strings.LastIndexByte(value, '-'); i >= 0 {
				out["Revision"] = value[i+1:]
				value = value[:i]
			}
		}
		out[name] = value
	}
	for _, f := range []string{"Package", "Version", "Architecture", "Description"} {
		if out[f] == "" {
			return nil, fmt.Errorf("no %s", f)
		}
	}
	return out, sc.Err()
}

// checkELF checks that the binary is a static executable for arch, and for
// MIPS that it uses no FPU: OpenWrt's MIPS kernels have no FPU emulation.
func checkELF(t *testing.T, path, arch string) {
	t.Helper()
	want, ok := elfWant[arch]
	if !ok {
		t.Fatalf("no ELF expectations for %s", arch)
	}
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer f.Close()
	if f.Machine != want.machine || f.Class != want.class || f.Data != want.data {
		t.Errorf("%s: %v %v %v, want %v %v %v", arch, f.Machine, f.Class, f.Data, want.machine, want.class, want.data)
	}
	if f.Type != elf.ET_EXEC {
		t.Errorf("%s: type %v, want ET_EXEC", arch, f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s: has %v: not a static binary", arch, p.Type)
		}
	}
	if f.Section(".symtab") != nil {
		t.Errorf("%s: has .symtab: not stripped", arch)
	}
	if want.machine == elf.EM_MIPS {
		checkMIPSSoftFloat(t, f, arch)
	}
}

// checkMIPSSoftFloat checks the two marks of a GOMIPS=softfloat build: the
// .MIPS.abiflags fp_abi byte the kernel reads is Val_GNU_MIPS_ABI_FP_SOFT
// (3; Go's hardfloat writes 1), and .text has no coprocessor 1 instruction.
// The ELF header flags are the same for both.
func checkMIPSSoftFloat(t *testing.T, f *elf.File, arch string) {
	t.Helper()
	const fpABISoft = 3
	abi := f.Section(".MIPS.abiflags")
	if abi == nil {
		t.Errorf("%s: no .MIPS.abiflags", arch)
	} else if b, err := abi.Data(); err != nil || len(b) < 8 {
		t.Errorf("%s: .MIPS.abiflags: %v (%d bytes)", arch, err, len(b))
	} else if b[7] != fpABISoft {
		t.Errorf("%s: .MIPS.abiflags fp_abi = %d, want %d (soft float)", arch, b[7], fpABISoft)
	}
	text := f.Section(".text")
	if text == nil {
		t.Fatalf("%s: no .text", arch)
	}
	code, err := text.Data()
	if err != nil {
		t.Fatal(err)
	}
	fpu := 0
	for i := 0; i+4 <= len(code); i += 4 {
		// Major opcodes of COP1, COP1X, LWC1, LDC1, SWC1 and SDC1.
		switch f.ByteOrder.Uint32(code[i:]) >> 26 {
		case 0x11, 0x13, 0x31, 0x35, 0x39, 0x3d:
			fpu++
		}
	}
	if fpu != 0 {
		t.Errorf("%s: .text has %d FPU instructions", arch, fpu)
	}
}

// checkMaintainerScript runs package pkg's standard opkg maintainer script
// (postinst or prerm) in a fake install root whose lib/functions.sh stands
// in for OpenWrt's: it records how default_postinst or default_prerm is
// called. Run by each shell OpenWrt's could be (busybox ash) or that is
// close to it (dash).
func checkMaintainerScript(t *testing.T, pkg, script string) {
	t.Helper()
	name := filepath.Base(script)
	body, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	for _, sh := range shells(t) {
		root := t.TempDir()
		info := filepath.Join(root, "usr/lib/opkg/info")
		if err := os.MkdirAll(info, 0o755); err != nil {
			t.Fatal(err)
		}
		// opkg runs the copy in its info directory, as <package>.<script>.
		installed := filepath.Join(info, pkg+"."+name)
		if err := os.WriteFile(installed, body, 0o755); err != nil {
			t.Fatal(err)
		}
		runScript := func(env ...string) string {
			t.Helper()
			log := filepath.Join(root, "calls")
			os.Remove(log)
			cmd := exec.Command(sh[0], append(sh[1:], installed)...)
			cmd.Env = append(os.Environ(), append([]string{"IPKG_INSTROOT=" + root}, env...)...)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s %s: %v\n%s", sh, name, err, out)
			}
			calls, _ := os.ReadFile(log)
			return string(calls)
		}

		// Without OpenWrt's functions.sh the script does nothing.
		if got := runScript(); got != "" {
			t.Errorf("%s %s without lib/functions.sh called %q", sh, name, got)
		}

		fn := filepath.Join(root, "lib/functions.sh")
		if err := os.MkdirAll(filepath.Dir(fn), 0o755); err != nil {
			t.Fatal(err)
		}
		stub := "# test stand-in for OpenWrt's lib/functions.sh\n" +
			"default_postinst() { echo \"default_postinst $*\" >>\"$IPKG_INSTROOT/calls\"; }\n" +
			"default_prerm() { echo \"default_prerm $*\" >>\"$IPKG_INSTROOT/calls\"; }\n"
		if err := os.WriteFile(fn, []byte(stub), 0o644); err != nil {
			t.Fatal(err)
		}
		want := "default_" + name + " " + installed + "\n"
		if got := runScript(); got != want {
			t.Errorf("%s %s called %q, want %q", sh, name, got, want)
		}
		if name == "postinst" {
			if got := runScript("IPKG_NO_SCRIPT=1"); got != "" {
				t.Errorf("%s postinst with IPKG_NO_SCRIPT=1 called %q", sh, got)
			}
		}
	}
}

var (
	shellsOnce sync.Once
	shellList  [][]string
	noBusybox  bool
)

// shells lists the POSIX shells to run OpenWrt scripts with: busybox ash,
// which OpenWrt runs, when installed, and dash.
func shells(t *testing.T) [][]string {
	t.Helper()
	shellsOnce.Do(func() {
		if p, err := exec.LookPath("busybox"); err == nil && exec.Command(p, "sh", "-c", "true").Run() == nil {
			shellList = append(shellList, []string{p, "sh"})
		} else {
			noBusybox = true
		}
		if p, err := exec.LookPath("dash"); err == nil {
			shellList = append(shellList, []string{p})
		}
	})
	if len(shellList) == 0 {
		t.Fatal("neither busybox nor dash is installed")
	}
	if noBusybox {
		t.Log("busybox is not installed, so OpenWrt's shell (busybox ash) is not tested: apt-get install busybox")
	}
	return shellList
}

// run runs a command and returns its standard output; it fails the test
// if the command fails.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.Bytes())
	}
	return string(out)
}

func TestIPKVersion(t *testing.T) {
	for _, tc := range []struct{ describe, want string }{
		{"v1.2.3", "1.2.3-r1"},
		{"v1.2.3-4-gabc1234", "1.2.3.4~abc1234-r1"},
		{"v1.2.3-rc1", "1.2.3~rc1-r1"},
		{"e22ed00", "0.0.0~e22ed00-r1"},
		{"1a2b3c4-dirty", "0.0.0~1a2b3c4+dirty-r1"},
		{"v0.1.0-12-g0123abc-dirty", "0.1.0.12~0123abc+dirty-r1"},
		{"dev", "0.0.0~dev-r1"},
	} {
		cmd := exec.Command("./ipk.sh", "--version")
		cmd.Env = append(os.Environ(), "VERSION="+tc.describe, "RELEASE=")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("ipk.sh --version: %v", err)
		}
		if got := strings.TrimSpace(string(out)); got != tc.want {
			t.Errorf("VERSION=%s: version %s, want %s", tc.describe, got, tc.want)
		}
	}
}

// checkOuter checks an ipk's outer container, a gzip'd tar of three members
// in ipkg-build's order, and returns the directory it was unpacked in.
func checkOuter(t *testing.T, ipk string, epoch int64) string {
	t.Helper()
	run(t, "gzip", "-t", ipk)
	if got, want := run(t, "tar", "-tzf", ipk), "./debian-binary\n./data.tar.gz\n./control.tar.gz\n"; got != want {
		t.Errorf("tar -tzf: members\n%s\nwant\n%s", got, want)
	}
	outer := t.TempDir()
	run(t, "tar", "-xzf", ipk, "-C", outer)
	checkTar(t, ipk, epoch, []entry{
		{"./debian-binary", 0o644}, {"./data.tar.gz", 0o644}, {"./control.tar.gz", 0o644},
	})
	if b, _ := os.ReadFile(filepath.Join(outer, "debian-binary")); string(b) != "2.0\n" {
		t.Errorf("debian-binary is %q, want %q", b, "2.0\n")
	}
	return outer
}
