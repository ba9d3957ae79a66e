package hatest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// template is a value template of the one form MQTT integrations use to
// pick a value out of a payload: {{ value }}, {{ value_json }} or
// {{ value_json.key }}, {{ value_json['key'] }} and chains of those. Home
// Assistant renders any Jinja; the double evaluates only this form, the way
// Home Assistant would, and reports any other template as something it
// cannot check.
type template struct {
	raw  string
	json bool     // value_json rather than value
	path []string // keys below value_json
}

var (
	templateWhole = regexp.MustCompile(`^\{\{\s*(value|value_json)((?:\.[A-Za-z_][A-Za-z0-9_]*|\[\s*(?:'[^']*'|"[^"]*")\s*\])*)\s*\}\}$`)
	templateStep  = regexp.MustCompile(`\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*(?:'([^']*)'|"([^"]*)")\s*\]`)
)

// parseTemplate parses s, or says why the double cannot evaluate it.
func parseTemplate(s string) (*template, error) {
	m := templateWhole.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return nil, fmt.Errorf("hatest evaluates only {{ value }} and {{ value_json.key }} templates, not %q", s)
	}
	t := &template{raw: s, json: m[1] == "value_json"}
	if !t.json && m[2] != "" {
		return nil, fmt.Errorf("hatest cannot evaluate %q: value is a string, it has no keys", s)
	}
	for _, step := range templateStep.FindAllStringSubmatch(m[2], -1) {
		t.path = append(t.path, step[1]+step[2]+step[3])
	}
	return t, nil
}

// render renders t for payload as Home Assistant does: the result is
// stripped of surrounding white space, an undefined value renders as ""
// and comes with the warning Home Assistant logs for it.
func (t *template) render(payload string) (out, warning string) {
	if !t.json {
		return strings.TrimSpace(payload), ""
	}
	v, ok := decodeJSON(payload)
	if !ok {
		return "", fmt.Sprintf("Home Assistant logs \"Template variable warning: 'value_json' is undefined when rendering '%s'\": the payload is not JSON", t.raw)
	}
	for _, key := range t.path {
		obj, isObj := v.(map[string]any)
		next, found := obj[key]
		if !isObj || !found {
			what := "'dict object'"
			if !isObj {
				what = pyTypeName(v) + " object"
			}
			return "", fmt.Sprintf("Home Assistant logs \"Template variable warning: %s has no attribute '%s' when rendering '%s'\"", what, key, t.raw)
		}
		v = next
	}
	return strings.TrimSpace(pyStr(v)), ""
}

// decodeJSON decodes a payload the way Home Assistant's json_loads does,
// keeping numbers as written.
func decodeJSON(payload string) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader([]byte(payload)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil, false
	}
	return v, true
}

func pyTypeName(v any) string {
	switch x := v.(type) {
	case nil:
		return "'NoneType'"
	case bool:
		return "'bool'"
	case string:
		return "'str'"
	case []any:
		return "'list'"
	case json.Number:
		if isJSONInt(x) {
			return "'int'"
		}
		return "'float'"
	}
	return "'object'"
}

// pyStr is str() of a decoded JSON value in Python, which is what a
// template renders: None, True, 50, 50.0, 'text' without quotes.
func pyStr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case string:
		return x
	case json.Number:
		return pyNumber(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = pyRepr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		parts := make([]string, 0, len(x))
		for _, k := range slices.Sorted(maps.Keys(x)) {
			parts = append(parts, pyRepr(k)+": "+pyRepr(x[k]))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v)
}

func pyRepr(v any) string {
	if s, ok := v.(string); ok {
		return "'" + strings.ReplaceAll(s, "'", `\'`) + "'"
	}
	return pyStr(v)
}

// isJSONInt reports whether n is written as an integer, which Python's
// json module decodes to an int (50), not a float (50.0, 5e1).
func isJSONInt(n json.Number) bool {
	return !strings.ContainsAny(string(n), ".eE")
}

// pyNumber is str() of a JSON number as Python decodes it.
func pyNumber(n json.Number) string {
	if isJSONInt(n) {
		return strings.TrimPrefix(string(n), "+")
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		return string(n)
	}
	return pyFloat(f)
}

// pyFloat is Python's repr of a float: the shortest digits that read back,
// a ".0" on whole numbers, exponent form below 1e-4 and from 1e16.
func pyFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	if a := math.Abs(f); a != 0 && (a < 1e-4 || a >= 1e16) {
		s := strconv.FormatFloat(f, 'e', -1, 64)
		// Go writes 1e+16 and 1e-05; Python 1e+16 and 1e-05 too.
		return s
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}
