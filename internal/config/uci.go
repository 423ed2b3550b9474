package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"

	uci "github.com/digineo/go-uci"
)

// rawSection is one section as the file has it, before any validation.
type rawSection struct {
	Type string
	Name string // "" for an anonymous section
	// Index counts the earlier sections of the same Type; uci(1) calls an
	// anonymous section "@Type[Index]".
	Index   int
	Options []rawOption
}

// rawOption is one option of a section. go-uci folds repeated lines of one
// name into a single rawOption: "option" replaces the values, "list" appends
// the values it does not hold yet.
type rawOption struct {
	Name   string
	List   bool // first written as "list"
	Values []string
}

// uciFile is the name of the copy go-uci reads (see readUCI).
const uciFile = "config"

// readUCI parses data, the UCI file of package pkg, with go-uci.
//
// go-uci (at the version in go.mod) has no entry point for bytes: its Tree
// reads files from a directory by package name. So data goes through a file
// in a private temporary directory.
func readUCI(pkg string, data []byte) ([]rawSection, error) {
	dir, err := os.MkdirTemp("", "ndproxy-config-")
	if err != nil {
		return nil, fmt.Errorf("parse config: %w", err)
	}
	defer os.RemoveAll(dir)

	// go-uci fails on an unquoted value at the very end of the input
	// ("unterminated unquoted string"); libuci reads it.
	if len(data) > 0 && data[len(data)-1] != '\n' {
		data = append(data[:len(data):len(data)], '\n')
	}
	tree, err := loadUCI(dir, data)
	if msg, ok := syntaxError(err); ok {
		return nil, &Error{
			Path: pkg,
			Msg:  fmt.Sprintf("line %d: syntax error: %s", syntaxLine(dir, data), msg),
		}
	}
	if err != nil {
		return nil, fmt.Errorf("parse config: %w", err)
	}
	return sectionsOf(tree)
}

func loadUCI(dir string, data []byte) (uci.Tree, error) {
	if err := os.WriteFile(filepath.Join(dir, uciFile), data, 0o600); err != nil {
		return nil, err
	}
	tree := uci.NewTree(dir)
	return tree, tree.LoadConfig(uciFile, true)
}

// syntaxError returns the text of a go-uci parse error. go-uci returns a
// *ParseError from its lexer and a ParseError for "package" lines.
func syntaxError(err error) (string, bool) {
	var ptr *uci.ParseError
	if errors.As(err, &ptr) && ptr != nil {
		return string(*ptr), true
	}
	var val uci.ParseError
	if errors.As(err, &val) {
		return string(val), true
	}
	return "", false
}

// syntaxLine returns the 1-based line of the syntax error in data, which ends
// with a newline. go-uci's errors carry no position, but its grammar goes line
// by line: a prefix of whole lines fails to parse exactly when it holds the
// bad line, so the shortest failing prefix ends with it. Only called on error.
func syntaxLine(dir string, data []byte) int {
	var ends []int // ends[i] is the offset just past line i+1
	for i, b := range data {
		if b == '\n' {
			ends = append(ends, i+1)
		}
	}
	i := sort.Search(len(ends), func(i int) bool {
		_, err := loadUCI(dir, data[:ends[i]])
		return err != nil
	})
	return min(i, len(ends)-1) + 1
}

// errUCIShape means go-uci's parsed tree is not what sectionsOf expects.
var errUCIShape = errors.New("parse config: unexpected go-uci internals " +
	"(written for github.com/digineo/go-uci v0.0.0-20210918132103-37c7b10c14fa)")

// sectionsOf returns the sections tree parsed from uciFile, in file order.
//
// go-uci keeps what it parsed in unexported types, and its Tree only answers
// questions about names the caller already knows (Get(config, section,
// option), GetSections(config, type)). It cannot list the section types or
// options in a file, nor say whether an option was written as "option" or
// "list", and strict validation needs all three. So this reads the parsed
// tree by reflection, read only: tree.configs[uciFile].Sections[i].{Type,
// Name, Options[j].{Name, Type, Values}}. Every step checks the shape and
// fails with errUCIShape rather than panicking if a go-uci update changes it;
// the tests of this package then fail at once.
func sectionsOf(tree uci.Tree) ([]rawSection, error) {
	configs := field(reflect.ValueOf(tree), "configs", reflect.Map)
	if !configs.IsValid() || configs.Type().Key().Kind() != reflect.String {
		return nil, errUCIShape
	}
	sections := field(configs.MapIndex(reflect.ValueOf(uciFile)), "Sections", reflect.Slice)
	if !sections.IsValid() {
		return nil, errUCIShape
	}

	seen := make(map[string]int) // sections per type so far
	out := make([]rawSection, 0, sections.Len())
	for i := range sections.Len() {
		s := sections.Index(i)
		typ := field(s, "Type", reflect.String)
		name := field(s, "Name", reflect.String)
		options := field(s, "Options", reflect.Slice)
		if !typ.IsValid() || !name.IsValid() || !options.IsValid() {
			return nil, errUCIShape
		}
		rs := rawSection{Type: typ.String(), Name: name.String(), Index: seen[typ.String()]}
		seen[rs.Type]++

		for j := range options.Len() {
			o := options.Index(j)
			oname := field(o, "Name", reflect.String)
			otype := field(o, "Type", reflect.Int)
			values := field(o, "Values", reflect.Slice)
			if !oname.IsValid() || !otype.IsValid() || !values.IsValid() ||
				values.Type().Elem().Kind() != reflect.String {
				return nil, errUCIShape
			}
			ro := rawOption{
				Name:   oname.String(),
				List:   otype.Int() == int64(uci.TypeList),
				Values: make([]string, values.Len()),
			}
			for k := range ro.Values {
				ro.Values[k] = values.Index(k).String()
			}
			rs.Options = append(rs.Options, ro)
		}
		out = append(out, rs)
	}
	return out, nil
}

// field returns the field called name of the struct v (or v points to) if it
// has kind k, or the zero Value.
func field(v reflect.Value, name string, k reflect.Kind) reflect.Value {
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return reflect.Value{}
	}
	if f := v.FieldByName(name); f.Kind() == k {
		return f
	}
	return reflect.Value{}
}
