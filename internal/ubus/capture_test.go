package ubus

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// captured is one message of a recorded conversation in testdata/captures.
type captured struct {
	fromServer bool   // "<": ubusd to the client
	typ        string // message type as the file names it
	raw        []byte
	where      string // file:line, for failure messages
}

// loadCapture reads testdata/captures/name (testdata/name if name has a
// directory): one message per line, "<"/">" TYPE HEX, '#' comments.
func loadCapture(t testing.TB, name string) []captured {
	t.Helper()
	path := filepath.Join("testdata", "captures", name)
	if strings.Contains(name, "/") {
		path = filepath.Join("testdata", name)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var msgs []captured
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 3 || (fields[0] != "<" && fields[0] != ">") {
			t.Fatalf("%s:%d: malformed line", path, n)
		}
		raw, err := hex.DecodeString(fields[2])
		if err != nil {
			t.Fatalf("%s:%d: %v", path, n, err)
		}
		msgs = append(msgs, captured{
			fromServer: fields[0] == "<",
			typ:        fields[1],
			raw:        raw,
			where:      fmt.Sprintf("%s:%d", path, n),
		})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return msgs
}

// captureFiles lists every recorded conversation.
func captureFiles(t testing.TB) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", "captures", "*.txt"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no captures: %v", err)
	}
	for i, n := range names {
		names[i] = filepath.Base(n)
	}
	return names
}

// msgAt returns the i-th message of a capture and checks its type, so that
// a test names what it expects to find there.
func msgAt(t testing.TB, name string, i int, typ string) captured {
	t.Helper()
	msgs := loadCapture(t, name)
	if i >= len(msgs) || msgs[i].typ != typ {
		t.Fatalf("%s: message %d is not a %s", name, i, typ)
	}
	return msgs[i]
}

func mustParse(t testing.TB, c captured) Message {
	t.Helper()
	m, err := ParseMessage(c.raw)
	if err != nil {
		t.Fatalf("%s: %v", c.where, err)
	}
	return m
}
