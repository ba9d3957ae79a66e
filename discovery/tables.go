package discovery

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// haTablesJSON is a trimmed copy of Home Assistant's own validation tables.
// It is data rather than Go so that following a new Home Assistant release
// is a copy of the reference file, reviewed as a diff.
//
//go:embed ha_tables.json
var haTablesJSON []byte

// haTables are the tables Home Assistant validates a discovery config with.
type haTables struct {
	SensorClasses       []string             `json:"sensor_device_classes"`
	SensorNonNumeric    []string             `json:"sensor_non_numeric"`
	SensorUnits         map[string][]*string `json:"sensor_device_class_units"`
	BinarySensorClasses []string             `json:"binary_sensor_device_classes"`
	SwitchClasses       []string             `json:"switch_device_classes"`
	ButtonClasses       []string             `json:"button_device_classes"`
	NumberClasses       []string             `json:"number_device_classes"`
	CoverClasses        []string             `json:"cover_device_classes"`
	EventClasses        []string             `json:"event_device_classes"`
	// SensorStateClasses are the state classes Home Assistant keeps
	// statistics for, by device class; it logs any other as impossible.
	SensorStateClasses map[string][]string `json:"sensor_device_class_state_classes"`
}

// tables is parsed once at start. The file is compiled in, so a parse error
// is a build defect that must fail every run, like regexp.MustCompile.
var tables = mustParseTables(haTablesJSON)

func mustParseTables(b []byte) haTables {
	var t haTables
	if err := json.Unmarshal(b, &t); err != nil {
		panic(fmt.Sprintf("discovery: embedded ha_tables.json: %v", err))
	}
	if len(t.SensorClasses) == 0 || len(t.SensorUnits) == 0 || len(t.BinarySensorClasses) == 0 || len(t.SwitchClasses) == 0 || len(t.SensorStateClasses) == 0 ||
		len(t.ButtonClasses) == 0 || len(t.NumberClasses) == 0 || len(t.CoverClasses) == 0 || len(t.EventClasses) == 0 {
		panic("discovery: embedded ha_tables.json: a table is missing")
	}
	return t
}

// classes returns the device classes Home Assistant accepts for component.
func classes(component string) []string {
	switch component {
	case "sensor":
		return tables.SensorClasses
	case "binary_sensor":
		return tables.BinarySensorClasses
	case "switch":
		return tables.SwitchClasses
	case "button":
		return tables.ButtonClasses
	case "number":
		return tables.NumberClasses
	case "cover":
		return tables.CoverClasses
	case "event":
		return tables.EventClasses
	}
	return nil
}

// nonNumericClass reports whether a sensor of this device class carries
// text (a timestamp, a date, an enum option) rather than a number.
func nonNumericClass(class string) bool {
	return slices.Contains(tables.SensorNonNumeric, class)
}

// normalizeUnit applies Home Assistant's AMBIGUOUS_UNITS rewrite before the
// unit check: the legacy micro sign (U+00B5) becomes the Greek mu (U+03BC).
func normalizeUnit(u string) string {
	return strings.ReplaceAll(u, "\u00b5", "\u03bc")
}

// checkUnit reports why unit is not valid for a sensor of device class
// class, with the units that are, or nil if Home Assistant accepts it.
func checkUnit(class, unit string) error {
	if class == "" {
		return nil // Home Assistant checks units only against a device class.
	}
	if nonNumericClass(class) {
		if unit != "" {
			return fmt.Errorf("unit %q is not valid for device class %s, whose states are not numbers; leave the unit empty", unit, class)
		}
		return nil
	}
	if class == "monetary" {
		if !isCurrencyCode(unit) {
			return fmt.Errorf("unit %q is not valid for device class monetary; use an ISO 4217 currency code such as EUR", unit)
		}
		return nil
	}
	allowed, ok := tables.SensorUnits[class]
	if !ok {
		return nil // no table for the class: Home Assistant does not check it
	}
	var names []string
	noUnit := false
	for _, a := range allowed {
		if a == nil {
			noUnit = true
			continue
		}
		if normalizeUnit(unit) == *a {
			return nil
		}
		names = append(names, *a)
	}
	if unit == "" {
		if noUnit {
			return nil
		}
		return fmt.Errorf("device class %s needs a unit: one of %s", class, strings.Join(names, ", "))
	}
	if len(names) == 0 {
		return fmt.Errorf("unit %q is not valid for device class %s, which takes no unit; leave it empty", unit, class)
	}
	return fmt.Errorf("unit %q is not valid for device class %s; use one of %s", unit, class, strings.Join(names, ", "))
}

// isCurrencyCode reports whether s looks like an ISO 4217 code: three
// upper-case letters.
func isCurrencyCode(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// checkStateClass reports why Home Assistant would call state class state
// impossible for a sensor of device class class, or nil.
func checkStateClass(class, state string) error {
	allowed, ok := tables.SensorStateClasses[class]
	if !ok || state == "" || slices.Contains(allowed, state) {
		return nil
	}
	if len(allowed) == 0 {
		return fmt.Errorf("state class %s is not valid for device class %s, which takes none; use drivers.StateNone", state, class)
	}
	return fmt.Errorf("state class %s is not valid for device class %s (Home Assistant would keep no statistics); use %s", state, class, strings.Join(allowed, " or "))
}
