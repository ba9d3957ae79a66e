package drivertest

// Strict decoding of a device's own keys, as the agent's loader does it
// (agent/config.go): the keys are encoded again as a TOML document of their
// own and decoded into the driver's value with a fresh toml.Decode, so that
// MetaData.Undecoded lists this device's unknown keys and no other's. Every
// key of the wrong type is found, not only the first: a key that fails is
// dropped and the rest decoded again. Messages use the agent's words.
//
// Like scan.go, this is a copy of the agent's loader, which a driver's
// tests must not import; TestAgentAgrees keeps the two in step.

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// commonKeys are the keys of a [[device]] table that the agent keeps for
// itself; the driver never sees them.
var commonKeys = []string{"id", "driver", "name", "interval"}

// maxDecodeErrors bounds the type errors reported per device, as the
// agent's loader does.
const maxDecodeErrors = 20

// decoder is the Decode function handed to one device's factory.
type decoder struct {
	p      *parser
	path   keyPath
	driver string         // "" when the test did not say (Config)
	keys   map[string]any // the driver's keys: the table without id, driver, name, interval
	called bool
	closed bool         // the factory has returned
	err    *ConfigError // what decode returned, when it failed
}

// decode decodes the driver's keys into v strictly: each key v does not
// take and each value of the wrong type is a problem naming its key and
// line. All of them are found, not only the first: a key that fails is
// dropped and the rest decoded again.
func (d *decoder) decode(v any) error {
	switch {
	case d.closed:
		return fmt.Errorf("%s: Decode called after the driver's factory returned", d.where())
	case d.called:
		return fmt.Errorf("%s: Decode called twice", d.where())
	}
	d.called = true
	var probs []Problem
	rest := cloneMap(d.keys)
	for {
		// A fresh parse of this device's keys alone gives a MetaData whose
		// undecoded keys are this device's and no other's.
		var buf bytes.Buffer
		if err := toml.NewEncoder(&buf).Encode(rest); err != nil {
			probs = append(probs, d.p.problem(d.path, err, "cannot pass the table to %s: %v", d.driverName(), err))
			break
		}
		md, err := toml.Decode(buf.String(), v)
		if err == nil {
			probs = append(probs, d.unknown(md.Undecoded(), reflect.TypeOf(v))...)
			break
		}
		if len(probs) == maxDecodeErrors {
			// Each retry decodes the whole table again; a table of
			// thousands of bad values must not take seconds.
			probs = append(probs, d.p.problem(d.path, nil, "more keys of the wrong type; fix the ones above first"))
			break
		}
		key, msg := splitDecodeError(err)
		if len(key) == 0 || !deleteKey(rest, key) {
			probs = append(probs, d.p.problem(d.path, err, "%s cannot decode its keys: %s", d.driverName(), msg))
			break
		}
		if v, ok := lookup(d.keys, key); ok {
			// Show the value too when it is a short scalar: "not an
			// integer (17)".
			if base, found := strings.CutSuffix(msg, ", not "+typeName(v)); found {
				msg = base + ", not " + describe(v)
			}
		}
		probs = append(probs, d.p.problem(d.path.keys(key...), err, "%s", msg))
	}
	if len(probs) == 0 {
		return nil
	}
	// The agent prints a configuration's problems sorted by line.
	sortByLine(probs)
	d.err = &ConfigError{Problems: probs}
	return d.err
}

// where names the table in messages that have no key: its path in a
// document, as the agent writes it, or the file for a body.
func (d *decoder) where() string {
	if len(d.path) == 0 {
		return d.p.file
	}
	return d.path.String()
}

// driverName names the driver in messages as the agent does, or as "the
// driver" when the test gave no name.
func (d *decoder) driverName() string {
	if d.driver == "" {
		return "the driver"
	}
	return fmt.Sprintf("driver %q", d.driver)
}

// unknown turns the undecoded keys into problems, reporting only the
// outermost key of an unknown table and leaving alone keys under a value
// that takes anything (an `any` field or map).
func (d *decoder) unknown(keys []toml.Key, target reflect.Type) []Problem {
	undecoded := map[string]bool{}
	for _, k := range keys {
		undecoded[k.String()] = true
	}
	var probs []Problem
	for _, k := range keys {
		inner := false
		for j := 1; j < len(k); j++ {
			if undecoded[k[:j].String()] {
				inner = true
				break
			}
		}
		if inner || takesAny(target, k) {
			continue
		}
		known := fieldNames(typeAt(target, k[:len(k)-1]))
		if len(k) == 1 {
			known = append(slices.Clone(commonKeys), known...)
		}
		msg := "unknown key"
		if s := suggest(k[len(k)-1], known); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		} else if len(known) > 0 {
			msg += fmt.Sprintf(" (%s takes: %s)", d.driverName(), strings.Join(known, ", "))
		}
		probs = append(probs, d.p.problem(d.path.keys(k...), nil, "%s", msg))
	}
	return probs
}

// lastKeyRE matches the context toml puts in front of its decode errors.
var lastKeyRE = regexp.MustCompile(`(?s)^toml: (?:line \d+ )?\(last key ("(?:[^"\\]|\\.)*")\): (.*)$`)

// incompatibleRE and notTableRE match toml's type errors.
var (
	incompatibleRE = regexp.MustCompile(`^incompatible types: TOML value has type (.+); destination has type (.+)$`)
	notTableRE     = regexp.MustCompile(`^type mismatch for .+: expected table but found (.+)$`)
)

// splitDecodeError splits a toml decode error into the key it is about and a
// message in the words of a config file rather than of Go types.
func splitDecodeError(err error) ([]string, string) {
	var key, msg string
	var pe toml.ParseError
	if errors.As(err, &pe) {
		key, msg = pe.LastKey, pe.Message
	} else if m := lastKeyRE.FindStringSubmatch(err.Error()); m != nil {
		k, uerr := strconv.Unquote(m[1])
		if uerr != nil {
			return nil, m[2]
		}
		key, msg = k, m[2]
	} else {
		return nil, strings.TrimPrefix(err.Error(), "toml: ")
	}
	if m := incompatibleRE.FindStringSubmatch(msg); m != nil {
		msg = fmt.Sprintf("must be %s, not %s", goDest(m[2]), goSource(m[1]))
	} else if m := notTableRE.FindStringSubmatch(msg); m != nil {
		msg = fmt.Sprintf("must be a table, not %s", goSource(m[1]))
	} else if strings.HasPrefix(msg, "invalid duration") {
		msg += `: use a number with a unit, such as "30s" or "500ms"`
	}
	if key == "" {
		return nil, msg
	}
	return splitKey(key), msg
}

// goSource names a value's TOML type from the Go type toml reports.
func goSource(goType string) string {
	switch goType {
	case "string":
		return "a string"
	case "int64":
		return "an integer"
	case "float64":
		return "a float"
	case "bool":
		return "a boolean"
	case "time.Time":
		return "a date-time"
	case "[]any", "[]interface {}":
		return "an array"
	case "map[string]any", "map[string]interface {}":
		return "a table"
	case "[]map[string]any", "[]map[string]interface {}":
		return "an array of tables"
	}
	return goType
}

// goDest names what a destination of toml's kind takes.
func goDest(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "integer":
		return "an integer"
	case "float":
		return "a number"
	case "boolean":
		return "a boolean"
	case "slice":
		return "an array"
	case "map":
		return "a table"
	case "primitive (string-like)":
		return "a string or a number"
	}
	return kind
}

// deleteKey removes key from m, or the outermost key of the path that
// leads through something other than tables. It reports whether anything
// was removed.
func deleteKey(m map[string]any, key []string) bool {
	for i, k := range key {
		v, ok := m[k]
		if !ok {
			return false
		}
		next, isMap := v.(map[string]any)
		if i == len(key)-1 || !isMap {
			delete(m, k)
			return true
		}
		m = next
	}
	return false
}

// lookup finds the value at key in m, through tables only.
func lookup(m map[string]any, key []string) (any, bool) {
	var v any = m
	for _, k := range key {
		t, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = t[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

// cloneMap copies the tables of m deeply, so that dropping keys for a
// retry does not change the parsed document.
func cloneMap(m map[string]any) map[string]any {
	c := make(map[string]any, len(m))
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			v = cloneMap(sub)
		}
		c[k] = v
	}
	return c
}

// takesAny reports whether key, under a value of type t, lands in an
// `any`: toml decodes nothing into one, so every key under it reads as
// undecoded although the driver asked for them all.
func takesAny(t reflect.Type, key []string) bool {
	for len(key) > 0 {
		for t != nil && t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t == nil {
			return false
		}
		switch t.Kind() {
		case reflect.Interface:
			return true
		case reflect.Slice, reflect.Array:
			t = t.Elem() // toml's key paths do not count array elements
		case reflect.Map:
			t, key = t.Elem(), key[1:]
		case reflect.Struct:
			f, ok := fieldType(t, key[0])
			if !ok {
				return false
			}
			t, key = f, key[1:]
		default:
			return false
		}
	}
	return false
}

// typeAt is the struct type that holds key's last element, or nil.
func typeAt(t reflect.Type, key []string) reflect.Type {
	for {
		for t != nil && (t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			t = t.Elem()
		}
		if t == nil || len(key) == 0 {
			return t
		}
		switch t.Kind() {
		case reflect.Map:
			t, key = t.Elem(), key[1:]
		case reflect.Struct:
			f, ok := fieldType(t, key[0])
			if !ok {
				return nil
			}
			t, key = f, key[1:]
		default:
			return nil
		}
	}
}

// fieldType finds the field toml would decode key into: an exact name
// first, then a case-insensitive one, as toml does.
func fieldType(t reflect.Type, key string) (reflect.Type, bool) {
	var fold reflect.Type
	for _, f := range fields(t) {
		if f.name == key {
			return f.typ, true
		}
		if fold == nil && strings.EqualFold(f.name, key) {
			fold = f.typ
		}
	}
	return fold, fold != nil
}

// fieldNames lists the keys a struct type takes.
func fieldNames(t reflect.Type) []string {
	var names []string
	for _, f := range fields(t) {
		names = append(names, f.name)
	}
	return names
}

type structField struct {
	name string
	typ  reflect.Type
}

// fields lists the keys a struct takes, following toml's rules: the tag
// names the key, "-" hides the field, untagged embedded structs are
// flattened.
func fields(t reflect.Type) []structField {
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	var out []structField
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				out = append(out, fields(ft)...)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, structField{name: name, typ: f.Type})
	}
	return out
}

// tables returns v as a list of tables: an array of tables ([[x]]) or an
// inline array of inline tables.
func tables(v any) ([]map[string]any, bool) {
	switch v := v.(type) {
	case []map[string]any:
		return v, true
	case []any:
		out := make([]map[string]any, 0, len(v))
		for _, e := range v {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, false
			}
			out = append(out, m)
		}
		return out, true
	}
	return nil, false
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// typeName names the TOML type of a parsed value.
func typeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case time.Time:
		return "a date-time"
	case map[string]any:
		return "a table"
	case []map[string]any:
		return "an array of tables"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("a %T", v)
}

// describe names a value's type and, for a short scalar, the value.
func describe(v any) string {
	switch x := v.(type) {
	case string:
		if len(x) <= 40 {
			return fmt.Sprintf("%s (%q)", typeName(v), x)
		}
	case int64, bool:
		return fmt.Sprintf("%s (%v)", typeName(v), x)
	case float64:
		return fmt.Sprintf("%s (%s)", typeName(v), strconv.FormatFloat(x, 'g', -1, 64))
	}
	return typeName(v)
}

// suggest returns the known key closest to key, within an edit
// distance of 2 (ignoring case), or else the known key that key starts with
// or that starts with key ("warning" for "warn"), or "".
func suggest(key string, known []string) string {
	best, bestD := "", 3
	lk := strings.ToLower(key)
	for _, k := range known {
		if d := distance(lk, strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" {
		return best
	}
	for _, k := range known {
		lower := strings.ToLower(k)
		short, long := lower, lk
		if len(short) > len(long) {
			short, long = long, short
		}
		if len(short) >= 4 && strings.HasPrefix(long, short) {
			return k
		}
	}
	return ""
}

// distance is the optimal string alignment distance between a and b
// (Levenshtein plus adjacent transpositions), or 3 if it is more than 2.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if d := len(ra) - len(rb); d > 2 || d < -2 {
		return 3
	}
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return min(prev[len(rb)], 3)
}
