package devconf

// Strict decoding of a device's own keys: the keys are encoded again as a
// TOML document of their own and decoded into the driver's value with a
// fresh toml.Decode, so that MetaData.Undecoded lists this device's unknown
// keys and no other's. Every key of the wrong type is found, not only the
// first: a key that fails is dropped and the rest decoded again. Messages
// use the words of a configuration file, not of Go types.
//
// Keys match exactly, as the agent's own tables do. toml folds case when it
// looks for a field (encoding/json's rule), so keys that match a field only
// when case is ignored are taken out and reported before toml sees them.

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/pinion-home/pinion/drivers"
)

// MaxDecodeErrors bounds the type errors reported per device: each retry
// decodes the whole table again, and a table of thousands of bad values
// must not take seconds.
const MaxDecodeErrors = 20

// Decoder is the Decode function handed to one device's factory
// (drivers.Config.Decode). Decode may be called once, and only until the
// factory returns. Like the factory, a Decoder runs on one goroutine.
type Decoder struct {
	doc    *Doc
	path   Path
	driver string         // "" when the table does not name it
	id     string         // the table's id, "" when it has none
	keys   map[string]any // the driver's keys: the table without the common keys
	called bool
	closed bool         // the factory has returned
	err    *ConfigError // what Decode returned, when it failed
}

// Decoder returns the decoder of the device table m at path for driver
// (which may be "" when the table does not name one): it decodes the
// table's keys but the common ones.
func (d *Doc) Decoder(path Path, driver string, m map[string]any) *Decoder {
	own := map[string]any{}
	for k, v := range m {
		if !slices.Contains(commonKeys, k) {
			own[k] = v
		}
	}
	id, _ := m["id"].(string)
	return &Decoder{doc: d, path: path, driver: driver, id: id, keys: own}
}

// Decode decodes the driver's keys into v strictly: each key v does not
// take (matching its fields exactly, case included) and each value of the
// wrong type is a problem naming its key and line. All of them are found,
// not only the first: a key that fails is dropped and the rest decoded
// again. The problems are returned as a *ConfigError sorted by line; they
// are not recorded in the Doc, which is the caller's to do (see Returned).
func (dec *Decoder) Decode(v any) error {
	switch {
	case dec.closed:
		return fmt.Errorf("%s: Decode called after the driver's factory returned", dec.where())
	case dec.called:
		return fmt.Errorf("%s: Decode called twice", dec.where())
	}
	dec.called = true
	rest := cloneMap(dec.keys)
	probs := dec.caseOnly(rest, reflect.TypeOf(v), nil)
	for retries := 0; ; retries++ {
		// A fresh parse of this device's keys alone gives a MetaData whose
		// undecoded keys are this device's and no other's.
		var buf bytes.Buffer
		if err := toml.NewEncoder(&buf).Encode(rest); err != nil {
			probs = append(probs, dec.doc.problem(dec.path, err, "cannot pass the table to %s: %v", driverName(dec.driver), err))
			break
		}
		md, err := toml.Decode(buf.String(), v)
		if err == nil {
			probs = append(probs, dec.unknown(md.Undecoded(), reflect.TypeOf(v))...)
			break
		}
		if retries == MaxDecodeErrors {
			probs = append(probs, dec.doc.problem(dec.path, nil, "more keys of the wrong type; fix the ones above first"))
			break
		}
		key, msg := splitDecodeError(err)
		if len(key) == 0 || !deleteKey(rest, key) {
			probs = append(probs, dec.doc.problem(dec.path, err, "%s cannot decode its keys: %s", driverName(dec.driver), msg))
			break
		}
		if v, ok := lookup(dec.keys, key); ok {
			switch secret := slices.ContainsFunc(key, SecretKey); {
			case secret && quotesPart(msg, fmt.Sprint(v)):
				// A driver's UnmarshalText error may quote the value.
				msg = "is not a value this key takes (not shown: it is a secret)"
			case !secret:
				// Show the value too when it is a short scalar: "not
				// an integer (17)".
				if base, found := strings.CutSuffix(msg, ", not "+TypeName(v)); found {
					msg = base + ", not " + describe(v)
				}
			}
		}
		probs = append(probs, dec.doc.problem(dec.path.Keys(key...), err, "%s", msg))
	}
	if len(probs) == 0 {
		return nil
	}
	for i, p := range probs {
		probs[i] = dec.doc.secrets.scrubProblem(p)
	}
	sortByLine(probs)
	dec.err = &ConfigError{Problems: probs}
	return dec.err
}

// Err returns what Decode returned when it failed, or nil. It is the very
// error the factory got, so errors.Is finds it in what the factory returns.
// Its type is *ConfigError so that no nil pointer ends up in a non-nil
// error.
func (dec *Decoder) Err() *ConfigError { return dec.err }

// Returned tells the decoder that the factory returned dev and err, and
// returns every problem with the device's table, sorted by line; Decode
// fails from now on.
//
// The problems are Decode's, then what the factory returned. Each
// drivers.KeyError in err, found through wrapping and errors.Join, is a
// problem at its key and that key's line, unless Decode found that key (or
// the table) wrong already: a factory goes on checking values after Decode
// fails, so that all problems come at once, and a key that did not decode
// leaves its field at a default the factory may find wrong too. The rest of
// err is a problem at the table's header, in the driver's words, with the
// device's id put in front when the message does not name it; Decode's own
// error returned again is left out, since its problems are reported key by
// key already. A factory that returns neither a device nor an error is a
// bug, and one that never called Decode takes no keys, so every key left in
// its table is unknown.
func (dec *Decoder) Returned(dev drivers.Device, err error) []Problem {
	dec.closed = true
	var probs []Problem
	if dec.err != nil {
		probs = append(probs, dec.err.Problems...)
	}
	switch {
	case err != nil:
		dec.factoryProblems(err, "", &probs)
	case dev == nil:
		probs = append(probs, dec.doc.problem(dec.path, nil, "%s returned no device and no error (a bug in the driver)", driverName(dec.driver)))
	case !dec.called:
		for _, k := range sortedKeys(dec.keys) {
			hint := ""
			if s := Suggest(k, commonKeys); s != "" {
				hint = fmt.Sprintf(" (did you mean %q?)", s)
			}
			probs = append(probs, dec.doc.problem(dec.path.Key(k), nil, "unknown key%s: %s takes no keys of its own", hint, driverName(dec.driver)))
		}
	}
	sortByLine(probs)
	return probs
}

// factoryProblems adds the problems of a factory's error err, whose
// enclosing errors said prefix before it, to probs. It goes down the tree
// of wrapped and joined errors only as far as it holds KeyErrors, so that
// an error without any is reported whole, in the driver's words.
func (dec *Decoder) factoryProblems(err error, prefix string, probs *[]Problem) {
	if ke, ok := err.(*drivers.KeyError); ok {
		if p := dec.keyProblem(ke); !dec.decodeFound(p.Key) {
			*probs = append(*probs, p)
		}
		return
	}
	var ke *drivers.KeyError
	if !errors.As(err, &ke) {
		if dec.err != nil && (errors.Is(err, dec.err) || strings.Contains(err.Error(), dec.err.Error())) {
			return // Decode's problems, reported already
		}
		msg := prefix + err.Error()
		if dec.id != "" && !strings.Contains(msg, strconv.Quote(dec.id)) {
			msg = fmt.Sprintf("device %q: %s", dec.id, msg)
		}
		*probs = append(*probs, dec.doc.problem(dec.path, err, "%s", msg))
		return
	}
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, c := range u.Unwrap() {
			if c != nil {
				dec.factoryProblems(c, prefix, probs)
			}
		}
	case interface{ Unwrap() error }:
		// fmt.Errorf("gpio %q: %w", …) says `gpio "door": ` before its
		// cause; an error below it that is no KeyError keeps those words.
		c := u.Unwrap()
		if before, ok := strings.CutSuffix(err.Error(), c.Error()); ok {
			prefix += before
		}
		dec.factoryProblems(c, prefix, probs)
	default:
		// An As method claims a KeyError that the tree does not hold.
		if p := dec.keyProblem(ke); !dec.decodeFound(p.Key) {
			*probs = append(*probs, p)
		}
	}
}

// decodeFound reports whether Decode found a problem with the key at path
// key, with a key that holds it, or with the whole table (too many keys of
// the wrong type, or keys it could not decode at all, which leave every
// field in doubt).
func (dec *Decoder) decodeFound(key string) bool {
	if dec.err == nil {
		return false
	}
	table := dec.path.String()
	for _, p := range dec.err.Problems {
		if p.Key == table || p.Key == key || strings.HasPrefix(key, p.Key+".") || strings.HasPrefix(key, p.Key+"[") {
			return true
		}
	}
	return false
}

// keyProblem is a KeyError as a problem at its key's path and line. The
// message is the KeyError's cause alone: the key path says the rest.
func (dec *Decoder) keyProblem(ke *drivers.KeyError) Problem {
	rel, ok := parseKey(ke.Key)
	if !ok {
		rel = Path{}.Key(ke.Key)
	}
	path := append(dec.path[:len(dec.path):len(dec.path)], rel...)
	msg := "bad value"
	if ke.Err != nil {
		msg = ke.Err.Error()
	}
	return dec.doc.problem(path, ke, "%s", msg)
}

// where names the table in messages that have no key: its path in the
// document, or the file for a table that is the whole document.
func (dec *Decoder) where() string {
	if len(dec.path) == 0 {
		return dec.doc.File
	}
	return dec.path.String()
}

// unknown turns the undecoded keys into problems, reporting only the
// outermost key of an unknown table and leaving alone keys under a value
// that takes anything (an `any` field or map).
func (dec *Decoder) unknown(keys []toml.Key, target reflect.Type) []Problem {
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
		candidates := known
		if len(k) == 1 {
			known = append(slices.Clone(listedKeys), known...)
			candidates = append(slices.Clone(commonKeys), candidates...)
		}
		msg := "unknown key"
		if s := Suggest(k[len(k)-1], candidates); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		} else if len(known) > 0 {
			msg += fmt.Sprintf(" (%s takes: %s)", driverName(dec.driver), strings.Join(known, ", "))
		}
		probs = append(probs, dec.doc.problem(dec.path.Keys(k...), nil, "%s", msg))
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

// cloneMap copies the tables of m deeply, arrays of tables included, so
// that dropping keys does not change the parsed document.
func cloneMap(m map[string]any) map[string]any {
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = cloneValue(v)
	}
	return c
}

// cloneValue copies v deeply if it holds tables.
func cloneValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return cloneMap(v)
	case []map[string]any:
		c := make([]map[string]any, len(v))
		for i, e := range v {
			c[i] = cloneMap(e)
		}
		return c
	case []any:
		c := make([]any, len(v))
		for i, e := range v {
			c[i] = cloneValue(e)
		}
		return c
	}
	return v
}

// caseOnly takes out of v, a value of the table that decodes into a t, the
// keys that match a field of t only when case is ignored, and returns a
// problem for each: toml would decode them, but the agent's keys are
// exact, and with "pin" and "PIN" in one table toml would drop one of
// them silently. at is v's path inside the device's table.
func (dec *Decoder) caseOnly(v any, t reflect.Type, at Path) []Problem {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || decodesItself(t) {
		return nil
	}
	var probs []Problem
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		switch list := v.(type) {
		case []map[string]any:
			for i, e := range list {
				probs = append(probs, dec.caseOnly(e, t.Elem(), at.Index(i))...)
			}
		case []any:
			for i, e := range list {
				probs = append(probs, dec.caseOnly(e, t.Elem(), at.Index(i))...)
			}
		}
	case reflect.Map:
		m, _ := v.(map[string]any)
		for _, k := range sortedKeys(m) {
			probs = append(probs, dec.caseOnly(m[k], t.Elem(), at.Key(k))...)
		}
	case reflect.Struct:
		m, _ := v.(map[string]any)
		for _, k := range sortedKeys(m) {
			if ft, ok := fieldType(t, k); ok {
				probs = append(probs, dec.caseOnly(m[k], ft, at.Key(k))...)
				continue
			}
			for _, f := range fields(t) {
				if strings.EqualFold(f.name, k) {
					path := append(dec.path[:len(dec.path):len(dec.path)], at.Key(k)...)
					probs = append(probs, dec.doc.problem(path, nil, "unknown key (did you mean %q? keys are case-sensitive)", f.name))
					delete(m, k)
					break
				}
			}
		}
	}
	return probs
}

// decodesItself reports whether a value of type t decodes itself from
// whatever the table holds, so that the keys under it are its own.
func decodesItself(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	for _, i := range []reflect.Type{reflect.TypeFor[toml.Unmarshaler](), reflect.TypeFor[encoding.TextUnmarshaler]()} {
		if t.Implements(i) || pt.Implements(i) {
			return true
		}
	}
	return t == reflect.TypeFor[toml.Primitive]()
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

// fieldType finds the field whose name is key exactly. toml would also
// take a field whose name differs in case, but Decode takes such keys out
// first (caseOnly).
func fieldType(t reflect.Type, key string) (reflect.Type, bool) {
	for _, f := range fields(t) {
		if f.name == key {
			return f.typ, true
		}
	}
	return nil, false
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
