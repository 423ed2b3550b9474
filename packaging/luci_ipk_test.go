package packaging

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The LuCI app's package: ipk.sh packs luci-app/ into
// luci-app-ndproxy_<version>_all.ipk, as OpenWrt's luci.mk would. Building
// it needs no Go compile, so these tests are cheap.

const luciPkg = "luci-app-ndproxy"

// buildLuciIPK runs TOP/packaging/ipk.sh with no architecture, which packs
// only TOP/luci-app, into out and returns the package's path and what the
// script wrote to standard error.
func buildLuciIPK(t *testing.T, top, out string) (ipk, stderr string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(top, "packaging", "ipk.sh"), out)
	cmd.Env = append(os.Environ(), "VERSION=v1.2.3-4-gabc1234", "RELEASE=2",
		"SOURCE_DATE_EPOCH="+strconv.Itoa(ipkEpoch), "LICENSE=")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("ipk.sh: %v\n%s%s", err, b, errb.Bytes())
	}
	t.Logf("ipk.sh:\n%s%s", b, errb.Bytes())
	return filepath.Join(out, luciPkg+"_1.2.3.4~abc1234-r2_all.ipk"), errb.String()
}

func TestLuciIPK(t *testing.T) {
	ipk, _ := buildLuciIPK(t, "..", t.TempDir())
	checkLuciIPK(t, ipk, "..", ipkEpoch)

	// Reproducible: a second build gives the same bytes.
	again, _ := buildLuciIPK(t, "..", t.TempDir())
	if a, b := sha256File(t, ipk), sha256File(t, again); a != b {
		t.Errorf("two builds differ: %x and %x", a, b)
	}

	// What the issue asks for, named here so that a change to luci-app/
	// cannot drop it unnoticed.
	files := unpackIPK(t, ipk)
	for _, name := range []string{
		"./www/luci-static/resources/view/ndproxy/settings.js",
		"./www/luci-static/resources/view/ndproxy/status.js",
		"./usr/share/luci/menu.d/luci-app-ndproxy.json",
		"./usr/share/rpcd/acl.d/luci-app-ndproxy.json",
	} {
		if _, ok := files[name]; !ok {
			t.Errorf("the package has no %s", name)
		}
	}
	for name := range files {
		if strings.HasSuffix(name, ".pot") || strings.HasSuffix(name, ".po") || strings.HasSuffix(name, ".lmo") {
			t.Errorf("the package holds translation file %s", name)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(ipk), "*.tmp")); len(left) != 0 {
		t.Errorf("left %q behind", left)
	}
}

// TestLuciIPKTree packs a copy of luci-app/ with things added that the
// package must leave out, normalize or refuse.
func TestLuciIPKTree(t *testing.T) {
	top := t.TempDir()
	if err := os.MkdirAll(filepath.Join(top, "packaging"), 0o755); err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile("ipk.sh")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(top, "packaging", "ipk.sh"), script, 0o755); err != nil {
		t.Fatal(err)
	}
	copyTree(t, "../luci-app", filepath.Join(top, "luci-app"))
	add := func(name string, mode fs.FileMode) {
		t.Helper()
		p := filepath.Join(top, "luci-app", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("test "+name+"\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // whatever the umask
			t.Fatal(err)
		}
	}
	view := "htdocs/luci-static/resources/view/ndproxy/"
	add(view+".settings.js.swp", 0o644)
	add(view+"status.js~", 0o644)
	add("root/.gitkeep", 0o644)
	add("root/usr/share/.cache/x", 0o644)
	add("root/usr/libexec/rpcd/luci.ndproxy-test", 0o750) // an rpcd plugin keeps its x bit
	add("root/usr/share/ndproxy-test/private", 0o600)     // but not odd modes
	add("po/de/ndproxy.po", 0o644)

	ipk, stderr := buildLuciIPK(t, top, t.TempDir())
	checkLuciIPK(t, ipk, top, ipkEpoch)
	outer := t.TempDir()
	run(t, "tar", "-xzf", ipk, "-C", outer)
	modes := tarModes(t, filepath.Join(outer, "data.tar.gz"))
	for name := range modes {
		if strings.Contains(name, "/.") || strings.HasSuffix(name, "~") {
			t.Errorf("the package holds %s", name)
		}
	}
	for name, want := range map[string]fs.FileMode{
		"./usr/libexec/rpcd/luci.ndproxy-test": 0o755,
		"./usr/share/ndproxy-test/private":     0o644,
	} {
		if got, ok := modes[name]; !ok {
			t.Errorf("the package has no %s", name)
		} else if got != want {
			t.Errorf("%s has mode %v, want %v", name, got, want)
		}
	}
	if !strings.Contains(stderr, "luci-app/po/de/ is not packed") {
		t.Errorf("ipk.sh said nothing of po/de/: %q", stderr)
	}

	// A symbolic link is refused rather than packed as one.
	if err := os.Symlink("settings.js", filepath.Join(top, "luci-app", view, "link.js")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(top, "packaging", "ipk.sh"), t.TempDir())
	cmd.Env = append(os.Environ(), "VERSION=v1.2.3", "SOURCE_DATE_EPOCH=1")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "neither files nor directories") {
		t.Errorf("ipk.sh with a symlink in luci-app/: %v\n%s", err, out)
	}
}

// tarModes returns the permission bits of each member of a gzip'd tar.
func tarModes(t *testing.T, path string) map[string]fs.FileMode {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	modes := map[string]fs.FileMode{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return modes
		}
		if err != nil {
			t.Fatal(err)
		}
		modes[h.Name] = fs.FileMode(h.Mode).Perm()
	}
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// luciFiles returns what luci.mk installs from TOP/luci-app, by package
// path: htdocs/* under ./www/, root/* under ./. Like OpenWrt's package
// build it leaves out dot files and editor backups (*~).
func luciFiles(t *testing.T, top string) map[string]string {
	t.Helper()
	files := map[string]string{}
	for _, m := range []struct{ src, dst string }{{"htdocs", "www"}, {"root", ""}} {
		base := filepath.Join(top, "luci-app", m.src)
		err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if p != base && (strings.HasPrefix(d.Name(), ".") || strings.HasSuffix(d.Name(), "~")) {
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				return nil
			}
			rel, _ := filepath.Rel(base, p)
			files["./"+path.Join(m.dst, filepath.ToSlash(rel))] = p
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// luciEntries is the data tar the files make, in GNU tar's --sort=name
// order (each directory's entries by name, depth first): directories
// 0755, files 0755 when their source is executable, else 0644.
func luciEntries(t *testing.T, files map[string]string) []entry {
	t.Helper()
	type node struct {
		children map[string]*node
		mode     fs.FileMode
	}
	root := &node{children: map[string]*node{}}
	for name, src := range files {
		info, err := os.Stat(src)
		if err != nil {
			t.Fatal(err)
		}
		mode := fs.FileMode(0o644)
		if info.Mode()&0o111 != 0 {
			mode = 0o755
		}
		n := root
		parts := strings.Split(strings.TrimPrefix(name, "./"), "/")
		for i, part := range parts {
			c := n.children[part]
			if c == nil {
				c = &node{children: map[string]*node{}, mode: fs.ModeDir | 0o755}
				n.children[part] = c
			}
			if i == len(parts)-1 {
				c.mode = mode
			}
			n = c
		}
	}
	out := []entry{dirEntry("./")}
	var walk func(prefix string, n *node)
	walk = func(prefix string, n *node) {
		names := make([]string, 0, len(n.children))
		for name := range n.children {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			c := n.children[name]
			if c.mode.IsDir() {
				out = append(out, entry{prefix + name + "/", c.mode})
				walk(prefix+name+"/", c)
			} else {
				out = append(out, entry{prefix + name, c.mode})
			}
		}
	}
	walk("./", root)
	return out
}

// checkLuciIPK checks the LuCI app's package as opkg would take it, and
// its data against TOP/luci-app.
func checkLuciIPK(t *testing.T, ipk, top string, epoch int64) {
	t.Helper()
	base := filepath.Base(ipk)
	if !strings.HasPrefix(base, luciPkg+"_") || !strings.HasSuffix(base, "_all.ipk") {
		t.Errorf("file name %s is not %s_<version>_all.ipk", base, luciPkg)
	}
	version := strings.TrimSuffix(strings.TrimPrefix(base, luciPkg+"_"), "_all.ipk")

	outer := checkOuter(t, ipk, epoch)

	// The data: luci-app's files where luci.mk puts them, byte for byte.
	dataTar := filepath.Join(outer, "data.tar.gz")
	want := luciFiles(t, top)
	checkTar(t, dataTar, epoch, luciEntries(t, want))
	got := unpackIPK(t, ipk)
	for name, src := range want {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[name], b) {
			t.Errorf("%s differs from %s", name, src)
		}
	}
	checkLuciJSON(t, got)

	// The control files.
	controlTar := filepath.Join(outer, "control.tar.gz")
	checkTar(t, controlTar, epoch, []entry{
		dirEntry("./"), {"./control", 0o644}, {"./postinst", 0o755},
		{"./postinst-pkg", 0o755}, {"./postrm", 0o755}, {"./prerm", 0o755},
	})
	ctl := t.TempDir()
	run(t, "tar", "-xzf", controlTar, "-C", ctl)
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
		"Package":        luciPkg,
		"Version":        wantVersion,
		"Revision":       wantRevision,
		"Architecture":   "all",
		"Section":        "luci",
		"Depends":        "luci-base, ndproxy",
		"Installed-Size": strconv.FormatInt(unpacked, 10),
	} {
		if got := pkg[field]; got != want {
			t.Errorf("control %s = %q, want %q", field, got, want)
		}
	}
	if !strings.HasPrefix(pkg["Description"], "LuCI support for ndproxy") {
		t.Errorf("control Description = %q", pkg["Description"])
	}

	// postinst and prerm are the ones every OpenWrt package has;
	// postinst-pkg (which default_postinst runs) and postrm are the app's.
	for _, script := range []string{"postinst", "prerm"} {
		checkMaintainerScript(t, luciPkg, filepath.Join(ctl, script))
	}
	for _, script := range []string{"postinst-pkg", "postrm"} {
		checkRefreshOffline(t, filepath.Join(ctl, script))
	}
}

// checkLuciJSON checks that the menu and ACL files parse, that the menu's
// views are in the package, and that the menu depends on the app's own
// ACL group, which its acl.d file defines: without that group rpcd gives
// LuCI's session no access to ndproxy's ubus methods.
func checkLuciJSON(t *testing.T, files map[string][]byte) {
	t.Helper()
	type menuEntry struct {
		Action struct {
			Type string `json:"type"`
			Path string `json:"path"`
		} `json:"action"`
		Depends struct {
			ACL []string `json:"acl"`
		} `json:"depends"`
	}
	groups := map[string]bool{}
	menus := map[string]map[string]menuEntry{}
	for name, b := range files {
		dir, file := path.Split(name)
		switch dir {
		case "./usr/share/rpcd/acl.d/":
			var acl map[string]struct {
				Read  map[string]json.RawMessage `json:"read"`
				Write map[string]json.RawMessage `json:"write"`
			}
			if err := json.Unmarshal(b, &acl); err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			for g, spec := range acl {
				if len(spec.Read) == 0 && len(spec.Write) == 0 {
					t.Errorf("%s: group %s grants nothing", name, g)
				}
				groups[g] = true
			}
		case "./usr/share/luci/menu.d/":
			var m map[string]menuEntry
			if err := json.Unmarshal(b, &m); err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			menus[file] = m
		default:
			if strings.HasSuffix(name, ".json") && !json.Valid(b) {
				t.Errorf("%s is not valid JSON", name)
			}
		}
	}
	if !groups[luciPkg] {
		t.Errorf("no acl.d file defines the group %s (found %v)", luciPkg, groups)
	}
	usesGroup := false
	views := 0
	for file, m := range menus {
		for p, e := range m {
			if e.Action.Type == "view" {
				views++
				js := "./www/luci-static/resources/view/" + e.Action.Path + ".js"
				if _, ok := files[js]; !ok {
					t.Errorf("menu.d/%s: %s shows view %q, but the package has no %s", file, p, e.Action.Path, js)
				}
			}
			for _, g := range e.Depends.ACL {
				if g == luciPkg {
					usesGroup = true
				}
			}
		}
	}
	if views == 0 {
		t.Errorf("the menu (%d menu.d files) shows no view", len(menus))
	}
	if !usesGroup {
		t.Errorf("no menu entry depends on the ACL group %s", luciPkg)
	}
}

// checkRefreshOffline runs the app's own script (postinst-pkg, postrm) as
// it runs while an image is built: with IPKG_INSTROOT set it must do
// nothing. PATH leads nowhere, so any command it ran would fail aloud. It
// also runs shellcheck on the script when shellcheck is installed.
func checkRefreshOffline(t *testing.T, script string) {
	t.Helper()
	name := filepath.Base(script)
	for _, sh := range shells(t) {
		cmd := exec.Command(sh[0], append(sh[1:], script)...)
		cmd.Env = []string{"PATH=" + t.TempDir(), "IPKG_INSTROOT=" + t.TempDir()}
		out, err := cmd.CombinedOutput()
		if err != nil || len(out) != 0 {
			t.Errorf("%s %s with IPKG_INSTROOT set: %v %q", sh, name, err, out)
		}
	}
	if sc, err := exec.LookPath("shellcheck"); err == nil {
		if out, err := exec.Command(sc, "-s", "sh", script).CombinedOutput(); err != nil {
			t.Errorf("shellcheck %s: %v\n%s", name, err, out)
		}
	} else {
		t.Logf("shellcheck is not installed: %s not linted", name)
	}
}

// TestLuciIPKRefresh runs the app's maintainer scripts as opkg runs them
// on a router, for real: in a chroot whose /tmp holds LuCI's caches and
// whose /etc/init.d/rpcd records how it is called. The chroot has the
// shell under test as /bin/sh and the host's rm; its lib/functions.sh
// stands in for OpenWrt's and does of default_postinst only what concerns
// this package: it runs <pkg>.postinst-pkg from opkg's info directory, in
// a subshell. (OpenWrt's own default_postinst also removes
// /tmp/luci-indexcache.*; the stand-in does not, so that what is removed
// here is the package's doing.) Needs root or user namespaces.
func TestLuciIPKRefresh(t *testing.T) {
	prefix := chrootPrefix(t)
	ipk, _ := buildLuciIPK(t, "..", t.TempDir())
	outer := t.TempDir()
	run(t, "tar", "-xzf", ipk, "-C", outer)
	ctl := t.TempDir()
	run(t, "tar", "-xzf", filepath.Join(outer, "control.tar.gz"), "-C", ctl)
	rm, err := exec.LookPath("rm")
	if err != nil {
		t.Fatal(err)
	}

	const functions = `# test stand-in for OpenWrt's lib/functions.sh
default_postinst() {
	pkg=${1##*/}
	pkg=${pkg%.*}
	info=$IPKG_INSTROOT/usr/lib/opkg/info
	[ ! -f "$info/$pkg.postinst-pkg" ] || ( . "$info/$pkg.postinst-pkg" )
}
default_prerm() { :; }
`
	const rpcd = "#!/bin/sh\n# test stand-in for rpcd's init script\necho \"$*\" >>/rpcd.calls\n"
	caches := []string{"tmp/luci-indexcache", "tmp/luci-indexcache.0123abcd.json",
		"tmp/luci-modulecache/luci.dispatcher.lua", "tmp/luci-modulecache/luci/model/uci.lua"}
	others := []string{"tmp/luci-sessions/x", "tmp/keep", "tmp/luci-uploads/y"}

	for _, sh := range shells(t) {
		t.Run(filepath.Base(sh[0]), func(t *testing.T) {
			for _, tc := range []struct {
				name     string
				script   string // in opkg's info directory
				instroot bool   // IPKG_INSTROOT=/img, as while an image is built
				noRPCD   bool   // no /etc/init.d/rpcd
				want     string // rpcd calls; "" and caches kept when instroot
			}{
				{name: "install", script: "postinst", want: "reload\n"},
				{name: "postinst-pkg", script: "postinst-pkg", want: "reload\n"},
				{name: "remove", script: "postrm", want: "reload\n"},
				{name: "install without rpcd", script: "postinst", noRPCD: true},
				{name: "image", script: "postinst", instroot: true},
				{name: "image remove", script: "postrm", instroot: true},
			} {
				t.Run(tc.name, func(t *testing.T) {
					root := t.TempDir()
					installProgram(t, root, sh[0], "/bin/sh")
					installProgram(t, root, rm, "/bin/rm")
					write := func(name, body string, mode fs.FileMode) {
						t.Helper()
						p := filepath.Join(root, name)
						if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
							t.Fatal(err)
						}
						if err := os.WriteFile(p, []byte(body), mode); err != nil {
							t.Fatal(err)
						}
					}
					if err := os.MkdirAll(filepath.Join(root, "dev"), 0o755); err != nil {
						t.Fatal(err)
					}
					for _, f := range append(append([]string{}, caches...), others...) {
						write(f, "cache\n", 0o600)
					}
					if !tc.noRPCD {
						write("etc/init.d/rpcd", rpcd, 0o755)
					}
					// The installed package: on the router under /, while an
					// image is built under IPKG_INSTROOT.
					pkgRoot := "/"
					if tc.instroot {
						pkgRoot = "/img/"
					}
					write(pkgRoot+"lib/functions.sh", functions, 0o644)
					for _, s := range []string{"postinst", "postinst-pkg", "prerm", "postrm"} {
						b, err := os.ReadFile(filepath.Join(ctl, s))
						if err != nil {
							t.Fatal(err)
						}
						write(pkgRoot+"usr/lib/opkg/info/"+luciPkg+"."+s, string(b), 0o755)
					}

					env := []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
					if tc.instroot {
						env = append(env, "IPKG_INSTROOT=/img")
					}
					args := append(append([]string{}, prefix[1:]...), root, "/bin/sh",
						pkgRoot+"usr/lib/opkg/info/"+luciPkg+"."+tc.script)
					cmd := exec.Command(prefix[0], args...)
					cmd.Env = env
					out, err := cmd.CombinedOutput()
					if err != nil || len(out) != 0 {
						t.Errorf("%s: %v %q", tc.script, err, out)
					}

					calls, _ := os.ReadFile(filepath.Join(root, "rpcd.calls"))
					if string(calls) != tc.want {
						t.Errorf("rpcd init script called with %q, want %q", calls, tc.want)
					}
					for _, f := range caches {
						_, err := os.Stat(filepath.Join(root, f))
						if gone := os.IsNotExist(err); gone != !tc.instroot {
							t.Errorf("%s: removed %v, want %v", f, gone, !tc.instroot)
						}
					}
					_, err = os.Stat(filepath.Join(root, "tmp/luci-modulecache"))
					if gone := os.IsNotExist(err); gone != !tc.instroot {
						t.Errorf("tmp/luci-modulecache/: removed %v, want %v", gone, !tc.instroot)
					}
					for _, f := range others {
						if _, err := os.Stat(filepath.Join(root, f)); err != nil {
							t.Errorf("%s: %v", f, err)
						}
					}
				})
			}
		})
	}
}

// chrootPrefix is the command that runs a program in a chroot: chroot as
// root, else chroot in a user namespace (unshare -r). It skips the test
// when neither works.
func chrootPrefix(t *testing.T) []string {
	t.Helper()
	chroot, err := exec.LookPath("chroot")
	if err != nil {
		chroot = "/usr/sbin/chroot"
	}
	if os.Geteuid() == 0 {
		return []string{chroot}
	}
	if unshare, err := exec.LookPath("unshare"); err == nil {
		if exec.Command(unshare, "-r", chroot, "/", "true").Run() == nil {
			return []string{unshare, "-r", chroot}
		}
	}
	t.Skip("needs root or user namespaces (unshare -r) to chroot")
	return nil
}

// installProgram copies the host's program to dest in root, with the
// shared libraries ldd names, each at its own path.
func installProgram(t *testing.T, root, program, dest string) {
	t.Helper()
	copyFile := func(src, dst string) {
		t.Helper()
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, dst)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(program, dest)
	out, err := exec.Command("ldd", program).CombinedOutput()
	if err != nil {
		if bytes.Contains(out, []byte("not a dynamic executable")) || bytes.Contains(out, []byte("statically linked")) {
			return
		}
		t.Fatalf("ldd %s: %v\n%s", program, err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		lib := ""
		switch {
		case len(f) >= 3 && f[1] == "=>":
			lib = f[2]
		case len(f) >= 1:
			lib = f[0]
		}
		if strings.HasPrefix(lib, "/") {
			copyFile(lib, lib)
		}
	}
}
