package ubus

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// JSON is the lingua franca around ubus (`ubus call`, rpcd, LuCI), so
// blobmsg values convert to and from it the way libubox's blobmsg_json.c
// does: integers become int32 when they fit and int64 otherwise, booleans
// int8, null unspec. Going through JSON also gives struct decoding with the
// usual `json` tags for free.

// MarshalJSON writes t as a JSON object, fields in wire order.
func (t Table) MarshalJSON() ([]byte, error) {
	return appendJSON(nil, t)
}

// MarshalJSON writes a as a JSON array.
func (a Array) MarshalJSON() ([]byte, error) {
	return appendJSON(nil, a)
}

func appendJSON(dst []byte, v Value) ([]byte, error) {
	var err error
	switch v := v.(type) {
	case Table:
		dst = append(dst, '{')
		for i, f := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, f.Name)
			dst = append(dst, ':')
			if dst, err = appendJSON(dst, f.Value); err != nil {
				return nil, err
			}
		}
		return append(dst, '}'), nil
	case Array:
		dst = append(dst, '[')
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = appendJSON(dst, e); err != nil {
				return nil, err
			}
		}
		return append(dst, ']'), nil
	case String:
		return appendJSONString(dst, string(v)), nil
	case Int64:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case Int32:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case Int16:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case Int8:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case Bool:
		return strconv.AppendBool(dst, bool(v)), nil
	case Double:
		f := float64(v)
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, fmt.Errorf("double %v has no JSON form", f)
		}
		// Keep a '.' or an exponent so that the number reads back as a
		// double, as blobmsg_format_json's "%lf" does.
		s := strconv.FormatFloat(f, 'g', -1, 64)
		if !strings.ContainsAny(s, ".e") {
			s += ".0"
		}
		return append(dst, s...), nil
	case Unspec, nil:
		return append(dst, "null"...), nil
	}
	return nil, fmt.Errorf("unknown value type %T", v)
}

// appendJSONString quotes s for JSON; invalid UTF-8 becomes U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return append(dst, b...)
}

// ParseJSON converts a JSON object into a Table the way `ubus call` converts
// its argument (blobmsg_add_json_from_string), keeping the key order.
func ParseJSON(data []byte) (Table, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("parse json: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("parse json: not an object")
	}
	t, err := parseJSONObject(dec, 0)
	if err != nil {
		return nil, fmt.Errorf("parse json: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("parse json: data after the object")
	}
	return t, nil
}

func parseJSONObject(dec *json.Decoder, depth int) (Table, error) {
	t := Table{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, _ := tok.(string) // the decoder allows only strings as keys
		v, err := parseJSONValue(dec, depth)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", name, err)
		}
		t = append(t, Field{Name: name, Value: v})
	}
	_, err := dec.Token() // '}'
	return t, err
}

func parseJSONValue(dec *json.Decoder, depth int) (Value, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok := tok.(type) {
	case json.Delim:
		if depth >= maxDepth {
			return nil, fmt.Errorf("nested deeper than %d", maxDepth)
		}
		if tok == '{' {
			return parseJSONObject(dec, depth+1)
		}
		arr := Array{}
		for dec.More() {
			v, err := parseJSONValue(dec, depth+1)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		_, err := dec.Token() // ']'
		return arr, err
	case string:
		return String(tok), nil
	case bool:
		return Bool(tok), nil
	case nil:
		return Unspec(nil), nil
	case json.Number:
		s := string(tok)
		if strings.ContainsAny(s, ".eE") {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, err
			}
			return Double(f), nil
		}
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("integer %s does not fit int64", s)
		}
		if i >= math.MinInt32 && i <= math.MaxInt32 {
			return Int32(i), nil
		}
		return Int64(i), nil
	}
	return nil, fmt.Errorf("unexpected json token %v", tok)
}

// Encode converts any value that encoding/json can marshal into a JSON
// object (a struct, a map) into a Table, field order as JSON writes it.
func Encode(v any) (Table, error) {
	if t, ok := v.(Table); ok {
		return t, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	return ParseJSON(b)
}

// Decode stores t into v with encoding/json rules, so a struct with `json`
// tags reads a method's arguments or a reply.
func (t Table) Decode(v any) error {
	b, err := t.MarshalJSON()
	if err != nil {
		return fmt.Errorf("decode into %T: %w", v, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode into %T: %w", v, err)
	}
	return nil
}

// Map returns t as plain Go values: map[string]any for tables, []any for
// arrays, and string, bool, int8, int16, int32, int64, float64 or nil for
// the rest. A later field wins over an earlier one of the same name.
func (t Table) Map() map[string]any {
	m := make(map[string]any, len(t))
	for _, f := range t {
		m[f.Name] = plain(f.Value)
	}
	return m
}

// Slice returns a as plain Go values, like Table.Map.
func (a Array) Slice() []any {
	s := make([]any, len(a))
	for i, v := range a {
		s[i] = plain(v)
	}
	return s
}

func plain(v Value) any {
	switch v := v.(type) {
	case Table:
		return v.Map()
	case Array:
		return v.Slice()
	case String:
		return string(v)
	case Int64:
		return int64(v)
	case Int32:
		return int32(v)
	case Int16:
		return int16(v)
	case Int8:
		return int8(v)
	case Bool:
		return bool(v)
	case Double:
		return float64(v)
	}
	return nil
}
