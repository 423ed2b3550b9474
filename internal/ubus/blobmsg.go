package ubus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// maxDepth bounds table and array nesting when decoding, so that a hostile
// message cannot make the decoder recurse for as long as it likes. Real
// payloads (netifd's interface dump) nest about five deep.
const maxDepth = 64

// A blobmsg attribute is an extended blob attribute whose payload starts with
// a name header (libubox struct blobmsg_hdr), then the value:
//
//	namelen  big-endian uint16
//	name     namelen bytes, then a NUL, then zeros up to pad4(2+namelen+1)
//	value    big-endian integers, IEEE 754 double, NUL-terminated string,
//	         or, for tables and arrays, more blobmsg attributes
//
// Array elements carry an empty name.

// nameHeaderLen is blobmsg_hdrlen: the name header padded to 4 bytes.
func nameHeaderLen(namelen int) int {
	return pad4(2 + namelen + 1)
}

// AppendTable appends the blobmsg encoding of t's fields, without a header of
// its own: the form that goes into a ubus DATA attribute. It fails only for
// names over 65535 bytes or values over 16 MiB, which the wire cannot carry.
func AppendTable(dst []byte, t Table) ([]byte, error) {
	var err error
	for _, f := range t {
		if dst, err = appendValue(dst, f.Name, f.Value); err != nil {
			return dst, fmt.Errorf("field %q: %w", f.Name, err)
		}
	}
	return dst, nil
}

// appendValue appends one named blobmsg attribute. A nil Value is encoded as
// Unspec, JSON null.
func appendValue(dst []byte, name string, v Value) ([]byte, error) {
	if len(name) > math.MaxUint16 {
		return dst, fmt.Errorf("name of %d bytes is too long", len(name))
	}
	if v == nil {
		v = Unspec(nil)
	}
	dst, start := beginAttr(dst)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(name)))
	dst = append(dst, name...)
	for len(dst)-start-attrHeaderLen < nameHeaderLen(len(name)) {
		dst = append(dst, 0) // the name's NUL and padding
	}
	var err error
	switch v := v.(type) {
	case Table:
		dst, err = AppendTable(dst, v)
	case Array:
		for i, e := range v {
			if dst, err = appendValue(dst, "", e); err != nil {
				err = fmt.Errorf("element %d: %w", i, err)
				break
			}
		}
	case String:
		dst = append(dst, v...)
		dst = append(dst, 0)
	case Int64:
		dst = binary.BigEndian.AppendUint64(dst, uint64(v))
	case Int32:
		dst = binary.BigEndian.AppendUint32(dst, uint32(v))
	case Int16:
		dst = binary.BigEndian.AppendUint16(dst, uint16(v))
	case Int8:
		dst = append(dst, uint8(v))
	case Bool:
		b := uint8(0)
		if v {
			b = 1
		}
		dst = append(dst, b)
	case Double:
		dst = binary.BigEndian.AppendUint64(dst, math.Float64bits(float64(v)))
	case Unspec:
		dst = append(dst, v...)
	}
	if err != nil {
		return dst[:start], err
	}
	return endAttr(dst, start, uint8(v.Type()), true)
}

// ParseTable decodes a list of blobmsg attributes, such as the payload of a
// ubus DATA attribute. Attributes without the extended flag have no name and
// are skipped, as blobmsg_parse does; anything else malformed is an error.
func ParseTable(b []byte) (Table, error) {
	return parseTable(b, 0)
}

func parseTable(b []byte, depth int) (Table, error) {
	var t Table
	for len(b) > 0 {
		a, rest, err := splitAttr(b)
		if err != nil {
			return nil, err
		}
		b = rest
		if !a.extended {
			continue
		}
		name, v, err := parseValue(a, depth)
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", name, err)
		}
		t = append(t, Field{Name: name, Value: v})
	}
	return t, nil
}

func parseArray(b []byte, depth int) (Array, error) {
	var arr Array
	for len(b) > 0 {
		a, rest, err := splitAttr(b)
		if err != nil {
			return nil, err
		}
		b = rest
		if !a.extended {
			continue
		}
		_, v, err := parseValue(a, depth)
		if err != nil {
			return nil, fmt.Errorf("element %d: %w", len(arr), err)
		}
		arr = append(arr, v)
	}
	return arr, nil
}

// parseValue decodes one extended attribute, checking what
// blobmsg_check_attr checks: a NUL-terminated name inside the payload, exact
// sizes for integers, at least 8 bytes for a double, a NUL-terminated string.
func parseValue(a rawAttr, depth int) (string, Value, error) {
	p := a.payload
	if len(p) < 2 {
		return "", nil, errors.New("no room for the name header")
	}
	namelen := int(binary.BigEndian.Uint16(p))
	hl := nameHeaderLen(namelen)
	if hl > len(p) {
		return "", nil, fmt.Errorf("name of %d bytes overruns the attribute", namelen)
	}
	if p[2+namelen] != 0 {
		return "", nil, errors.New("name is not NUL-terminated")
	}
	name := string(p[2 : 2+namelen])
	p = p[hl:]

	fixed := func(n int) error {
		if len(p) != n {
			return fmt.Errorf("%s of %d bytes, want %d", Type(a.id), len(p), n)
		}
		return nil
	}
	switch Type(a.id) {
	case TypeTable, TypeArray:
		if depth >= maxDepth {
			return name, nil, fmt.Errorf("nested deeper than %d", maxDepth)
		}
		if Type(a.id) == TypeTable {
			t, err := parseTable(p, depth+1)
			return name, t, err
		}
		arr, err := parseArray(p, depth+1)
		return name, arr, err
	case TypeString:
		if len(p) == 0 || p[len(p)-1] != 0 {
			return name, nil, errors.New("string is not NUL-terminated")
		}
		return name, String(p[:len(p)-1]), nil
	case TypeInt64:
		if err := fixed(8); err != nil {
			return name, nil, err
		}
		return name, Int64(binary.BigEndian.Uint64(p)), nil
	case TypeInt32:
		if err := fixed(4); err != nil {
			return name, nil, err
		}
		return name, Int32(binary.BigEndian.Uint32(p)), nil
	case TypeInt16:
		if err := fixed(2); err != nil {
			return name, nil, err
		}
		return name, Int16(binary.BigEndian.Uint16(p)), nil
	case TypeInt8:
		if err := fixed(1); err != nil {
			return name, nil, err
		}
		if p[0] <= 1 {
			return name, Bool(p[0] == 1), nil
		}
		return name, Int8(p[0]), nil
	case TypeDouble:
		if len(p) < 8 {
			return name, nil, fmt.Errorf("double of %d bytes", len(p))
		}
		return name, Double(math.Float64frombits(binary.BigEndian.Uint64(p))), nil
	case TypeUnspec:
		if len(p) == 0 {
			return name, Unspec(nil), nil
		}
		return name, Unspec(append([]byte(nil), p...)), nil
	}
	return name, nil, fmt.Errorf("unknown blobmsg type %d", a.id)
}
