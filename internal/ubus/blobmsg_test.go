package ubus

import (
	"bytes"
	"encoding/hex"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "|", "").Replace(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Encodings the captures do not show, worked out from libubox blobmsg.c
// (blobmsg_new, blobmsg_hdrlen): header | name header | value | padding.
func TestTableEncoding(t *testing.T) {
	tests := []struct {
		name string
		in   Table
		want string
	}{
		{"int16", tbl("x", Int16(-2)), "86 00 00 0a | 00 01 78 00 | ff fe | 00 00"},
		{"int8 not a bool", tbl("x", Int8(5)), "87 00 00 09 | 00 01 78 00 | 05 | 00 00 00"},
		{"bool false", tbl("x", Bool(false)), "87 00 00 09 | 00 01 78 00 | 00 | 00 00 00"},
		{"null", tbl("n", Unspec(nil)), "80 00 00 08 | 00 01 6e 00"},
		{"nil is null", tbl("n", nil), "80 00 00 08 | 00 01 6e 00"},
		{"unspec bytes", tbl("n", Unspec{1, 2}), "80 00 00 0a | 00 01 6e 00 | 01 02 | 00 00"},
		{"double", tbl("d", Double(-0.5)), "88 00 00 10 | 00 01 64 00 | bf e0 00 00 00 00 00 00"},
		{"int64", tbl("i", Int64(-1)), "84 00 00 10 | 00 01 69 00 | ff ff ff ff ff ff ff ff"},
		{"name padded", tbl("abc", Int32(1)), "85 00 00 10 | 00 03 61 62 63 00 00 00 | 00 00 00 01"},
		{"name fills its padding", tbl("a", Int32(1)), "85 00 00 0c | 00 01 61 00 | 00 00 00 01"},
		{"empty name", tbl("", String("")), "83 00 00 09 | 00 00 00 00 | 00 | 00 00 00"},
		{"empty string", tbl("s", String("")), "83 00 00 09 | 00 01 73 00 | 00 | 00 00 00"},
		{"empty table and array", tbl("t", Table{}, "a", Array{}), "82 00 00 08 | 00 01 74 00 | 81 00 00 08 | 00 01 61 00"},
		{"array of arrays", tbl("a", Array{Array{Int32(7)}}),
			"81 00 00 1c | 00 01 61 00 | 81 00 00 14 | 00 00 00 00 | 85 00 00 0c | 00 00 00 00 | 00 00 00 07"},
		{"nothing", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AppendTable(nil, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			want := unhex(t, tt.want)
			if !bytes.Equal(got, want) {
				t.Fatalf("got  %x\nwant %x", got, want)
			}
			back, err := ParseTable(got)
			if err != nil {
				t.Fatal(err)
			}
			in := tt.in
			if len(in) > 0 && in[0].Value == nil {
				in = tbl(in[0].Name, Unspec(nil))
			}
			if diff := cmp.Diff(in, back, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("decoded (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTableEncodingLimits(t *testing.T) {
	if _, err := AppendTable(nil, tbl(strings.Repeat("n", math.MaxUint16+1), Int32(1))); err == nil {
		t.Error("name of 65536 bytes encoded")
	}
	if _, err := AppendTable(nil, tbl("s", String(make([]byte, attrLenMask)))); err == nil {
		t.Error("value over 16 MiB encoded")
	}
}

func TestTableDecoding(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Table
		wantErr string
	}{
		{name: "int8 other than 0 and 1", in: "87 00 00 09 00 01 78 00 ff 00 00 00", want: tbl("x", Int8(-1))},
		{name: "padding content ignored", in: "87 00 00 0d 00 02 61 62 00 ee ee ee 01 ee ee ee", want: tbl("ab", Bool(true))},
		{name: "double longer than 8", in: "88 00 00 14 00 01 64 00 3f f8 00 00 00 00 00 00 12 34 56 78", want: tbl("d", Double(1.5))},
		{name: "plain attribute skipped", in: "03 00 00 08 00 00 00 03 85 00 00 0c 00 01 61 00 00 00 00 01", want: tbl("a", Int32(1))},
		{name: "header cut", in: "85 00 00", wantErr: "truncated"},
		{name: "shorter than header", in: "85 00 00 03", wantErr: "shorter than its header"},
		{name: "longer than buffer", in: "85 00 00 10 00 01 61 00 00 00 00 01", wantErr: "truncated"},
		{name: "padding missing", in: "87 00 00 09 00 01 78 00 01", wantErr: "truncated"},
		{name: "no name header", in: "85 00 00 05 00 00 00 00", wantErr: "name header"},
		{name: "name overruns", in: "85 00 00 08 00 09 61 00", wantErr: "overruns"},
		{name: "name without NUL", in: "85 00 00 0c 00 01 61 62 00 00 00 01", wantErr: "NUL-terminated"},
		{name: "int32 of 3 bytes", in: "85 00 00 0b 00 01 61 00 00 00 01 00", wantErr: "int32 of 3 bytes"},
		{name: "int64 of 4 bytes", in: "84 00 00 0c 00 01 61 00 00 00 00 01", wantErr: "int64 of 4 bytes"},
		{name: "double of 4 bytes", in: "88 00 00 0c 00 01 61 00 00 00 00 01", wantErr: "double of 4 bytes"},
		{name: "string without NUL", in: "83 00 00 09 00 01 73 00 41 00 00 00", wantErr: "string is not NUL-terminated"},
		{name: "empty string value", in: "83 00 00 08 00 01 73 00", wantErr: "string is not NUL-terminated"},
		{name: "unknown type", in: "89 00 00 08 00 01 78 00", wantErr: "unknown blobmsg type 9"},
		{name: "bad child", in: "82 00 00 0c 00 01 74 00 85 00 00 03", wantErr: `field "t": attribute length 3`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTable(unhex(t, tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestTableDepthLimit(t *testing.T) {
	v := Value(Int32(1))
	for range maxDepth + 1 {
		v = Array{v}
	}
	b, err := AppendTable(nil, tbl("deep", v))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseTable(b); err == nil || !strings.Contains(err.Error(), "nested deeper") {
		t.Fatalf("error %v, want the depth limit", err)
	}
}
