package ubus

import "fmt"

// Type is a blobmsg value type (libubox enum blobmsg_type). It is also what a
// method signature declares for each argument, as `ubus -v list` shows.
type Type uint8

// The blobmsg types. TypeBool is TypeInt8: libubox has no separate boolean.
const (
	TypeUnspec Type = iota
	TypeArray
	TypeTable
	TypeString
	TypeInt64
	TypeInt32
	TypeInt16
	TypeInt8
	TypeDouble

	TypeBool = TypeInt8
)

var typeNames = [...]string{"unspec", "array", "table", "string", "int64", "int32", "int16", "int8", "double"}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Value is one blobmsg value: a Table, Array, String, Int64, Int32, Int16,
// Int8, Bool, Double or Unspec. The set is closed so that encoding can never
// meet a type it does not know.
type Value interface {
	// Type is the blobmsg type the value is encoded as.
	Type() Type
	isValue()
}

// Field is one named member of a Table.
type Field struct {
	Name  string
	Value Value
}

// Table is a blobmsg table: named values in wire order. Order matters to
// nobody on the bus (blobmsg_parse looks members up by name) but keeping it
// makes encoding reproducible byte for byte. A ubus message's DATA is the
// content of a table.
type Table []Field

// Array is a blobmsg array: values without names.
type Array []Value

// String is a blobmsg string, sent with its terminating NUL.
type String string

// Int64 is a blobmsg int64.
type Int64 int64

// Int32 is a blobmsg int32, the type `ubus call` gives JSON integers that fit.
type Int32 int32

// Int16 is a blobmsg int16.
type Int16 int16

// Int8 is a blobmsg int8 holding something other than 0 or 1. Decoding turns
// 0 and 1 into Bool, because everything on the bus (blobmsg_get_bool, JSON
// conversion in both directions) treats int8 as a boolean.
type Int8 int8

// Bool is a blobmsg int8 holding 0 or 1.
type Bool bool

// Double is a blobmsg double (IEEE 754, big-endian).
type Double float64

// Unspec is a blobmsg value without a type; empty, it is JSON null.
type Unspec []byte

func (Table) Type() Type  { return TypeTable }
func (Array) Type() Type  { return TypeArray }
func (String) Type() Type { return TypeString }
func (Int64) Type() Type  { return TypeInt64 }
func (Int32) Type() Type  { return TypeInt32 }
func (Int16) Type() Type  { return TypeInt16 }
func (Int8) Type() Type   { return TypeInt8 }
func (Bool) Type() Type   { return TypeBool }
func (Double) Type() Type { return TypeDouble }
func (Unspec) Type() Type { return TypeUnspec }

func (Table) isValue()  {}
func (Array) isValue()  {}
func (String) isValue() {}
func (Int64) isValue()  {}
func (Int32) isValue()  {}
func (Int16) isValue()  {}
func (Int8) isValue()   {}
func (Bool) isValue()   {}
func (Double) isValue() {}
func (Unspec) isValue() {}

// Add returns t with one more field, for building tables inline:
//
//	ubus.Table{}.Add("interface", ubus.String("wan6")).Add("up", ubus.Bool(true))
func (t Table) Add(name string, v Value) Table {
	return append(t, Field{Name: name, Value: v})
}

// Get returns the value of the first field called name.
func (t Table) Get(name string) (Value, bool) {
	for _, f := range t {
		if f.Name == name {
			return f.Value, true
		}
	}
	return nil, false
}
