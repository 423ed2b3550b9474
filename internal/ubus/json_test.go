package ubus

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// ParseJSON follows blobmsg_add_json_element; MarshalJSON follows
// blobmsg_format_json closely enough to read back the same.
func TestJSON(t *testing.T) {
	in := `{"a":1,"b":-2147483649,"c":true,"d":null,"e":1.0,"f":[{"x":"y\u00e9"}],"g":{},"h":[]}`
	want := tbl("a", Int32(1), "b", Int64(-2147483649), "c", Bool(true), "d", Unspec(nil), "e", Double(1),
		"f", Array{tbl("x", String("yé"))}, "g", Table{}, "h", Array{})
	got, err := ParseJSON([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("ParseJSON (-want +got):\n%s", diff)
	}
	out, err := got.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if w := `{"a":1,"b":-2147483649,"c":true,"d":null,"e":1.0,"f":[{"x":"yé"}],"g":{},"h":[]}`; string(out) != w {
		t.Errorf("MarshalJSON\n got %s\nwant %s", out, w)
	}
	for _, bad := range []string{`[1]`, `{"a":1} {}`, `{"a":99999999999999999999}`, `{"a":`, ``} {
		if _, err := ParseJSON([]byte(bad)); err == nil {
			t.Errorf("ParseJSON(%q) succeeded", bad)
		}
	}
	if _, err := tbl("x", Double(0)).Add("nan", Double(nan())).MarshalJSON(); err == nil {
		t.Error("NaN marshaled")
	}
}

func nan() float64 {
	zero := 0.0
	return zero / zero
}

func TestEncodeDecode(t *testing.T) {
	type iface struct {
		Interface string   `json:"interface"`
		Up        bool     `json:"up"`
		Mtu       int      `json:"mtu,omitempty"`
		Prefixes  []string `json:"ipv6-prefix"`
	}
	in := iface{Interface: "wan6", Up: true, Prefixes: []string{"2001:db8::/56"}}
	got, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	want := tbl("interface", String("wan6"), "up", Bool(true), "ipv6-prefix", Array{String("2001:db8::/56")})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("Encode (-want +got):\n%s", diff)
	}
	var back iface
	if err := got.Decode(&back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, back); diff != "" {
		t.Errorf("Decode (-want +got):\n%s", diff)
	}
	if _, err := Encode([]int{1}); err == nil || !strings.Contains(err.Error(), "not an object") {
		t.Errorf("Encode of a slice: %v", err)
	}
	if same, _ := Encode(want); cmp.Diff(want, same) != "" {
		t.Error("Encode of a Table changed it")
	}
}

func TestMap(t *testing.T) {
	in := tbl("t", tbl("k", String("v")), "a", Array{Int32(1), Bool(false), Unspec(nil)},
		"i8", Int8(3), "i16", Int16(4), "i64", Int64(5), "d", Double(0.5))
	want := map[string]any{
		"t": map[string]any{"k": "v"}, "a": []any{int32(1), false, nil},
		"i8": int8(3), "i16": int16(4), "i64": int64(5), "d": 0.5,
	}
	if diff := cmp.Diff(want, in.Map()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
