package hatest

import (
	_ "embed"
	"encoding/json"
	"fmt"
)

// The two files are verbatim copies of the reference tables that describe
// what Home Assistant's MQTT integration accepts. They are deliberately
// separate from package discovery's trimmed copy: the double must catch a
// discovery bug, so it may not share discovery's data or code.
var (
	//go:embed ha_abbreviations.json
	abbreviationsJSON []byte
	//go:embed ha_enums_and_units.json
	enumsJSON []byte
)

type abbreviationTables struct {
	Root   map[string]string `json:"ABBREVIATIONS"`
	Device map[string]string `json:"DEVICE_ABBREVIATIONS"`
	Origin map[string]string `json:"ORIGIN_ABBREVIATIONS"`
}

type enumTables struct {
	SensorUnits         map[string][]*string `json:"sensor_device_class_units"`
	SensorClasses       []string             `json:"sensor_device_classes"`
	SensorNonNumeric    []string             `json:"sensor_non_numeric"`
	BinarySensorClasses []string             `json:"binary_sensor_device_classes"`
	SwitchClasses       []string             `json:"switch_device_classes"`
	ButtonClasses       []string             `json:"button_device_classes"`
	CoverClasses        []string             `json:"cover_device_classes"`
	EventClasses        []string             `json:"event_device_classes"`
	NumberClasses       []string             `json:"number_device_classes"`
	UpdateClasses       []string             `json:"update_device_classes"`
	Components          []string             `json:"supported_components"`
	CommonKeys          []string             `json:"common_keys"`
	DeviceKeys          []string             `json:"device_keys"`
	OriginKeys          []string             `json:"origin_keys"`
	ROKeys              []string             `json:"ro_keys"`
	RWKeys              []string             `json:"rw_keys"`
	PublishTopicKeys    []string             `json:"publish_topic_keys"`
	ValidColorModes     []string             `json:"valid_color_modes"`
	ColorModesColor     []string             `json:"color_modes_color"`
}

var (
	abbr  = mustDecode[abbreviationTables](abbreviationsJSON, "ha_abbreviations.json")
	enums = mustDecode[enumTables](enumsJSON, "ha_enums_and_units.json")
)

// mustDecode parses a compiled-in table; a failure is a defect of the
// package itself, so it panics at init like regexp.MustCompile.
func mustDecode[T any](b []byte, name string) T {
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		panic(fmt.Sprintf("hatest: embedded %s: %v", name, err))
	}
	return v
}

func set(lists ...[]string) map[string]bool {
	m := map[string]bool{}
	for _, l := range lists {
		for _, s := range l {
			m[s] = true
		}
	}
	return m
}

var (
	supportedComponents = set(enums.Components)
	deviceKeys          = set(enums.DeviceKeys, []string{"via_hub"})
	originKeys          = set(enums.OriginKeys)
	nonNumericSensor    = set(enums.SensorNonNumeric)

	// deviceClasses are the valid device classes per component; a
	// component missing here is not checked.
	deviceClasses = map[string]map[string]bool{
		"sensor":        set(enums.SensorClasses),
		"binary_sensor": set(enums.BinarySensorClasses),
		"switch":        set(enums.SwitchClasses),
		"button":        set(enums.ButtonClasses),
		"cover":         set(enums.CoverClasses),
		"event":         set(enums.EventClasses),
		"number":        set(enums.NumberClasses),
		"update":        set(enums.UpdateClasses),
	}

	// platformKeys are the options each modelled platform knows; Home
	// Assistant silently drops any other key, which hides typos, so the
	// double reports them.
	platformKeys = map[string]map[string]bool{
		"sensor": set(enums.CommonKeys, enums.ROKeys, []string{
			"device_class", "state_class", "unit_of_measurement", "expire_after", "force_update",
			"last_reset_value_template", "options", "suggested_display_precision",
		}),
		"binary_sensor": set(enums.CommonKeys, enums.ROKeys, []string{
			"device_class", "expire_after", "force_update", "off_delay", "payload_on", "payload_off",
		}),
		"switch": set(enums.CommonKeys, enums.RWKeys, []string{
			"command_template", "value_template", "payload_on", "payload_off", "state_on", "state_off", "device_class",
		}),
		"button": set(enums.CommonKeys, []string{
			"command_topic", "command_template", "payload_press", "retain", "device_class",
		}),
		"number": set(enums.CommonKeys, enums.RWKeys, []string{
			"command_template", "value_template", "min", "max", "step", "mode", "payload_reset",
			"unit_of_measurement", "device_class",
		}),
		"select": set(enums.CommonKeys, enums.RWKeys, []string{
			"options", "command_template", "value_template",
		}),
		"event": set(enums.CommonKeys, enums.ROKeys, []string{
			"event_types", "device_class",
		}),
		"cover": set(enums.CommonKeys, []string{
			"command_topic", "state_topic", "position_topic", "set_position_topic",
			"set_position_template", "position_template", "tilt_command_topic",
			"tilt_command_template", "tilt_status_topic", "tilt_status_template",
			"value_template", "payload_open", "payload_close", "payload_stop",
			"payload_stop_tilt", "state_open", "state_opening", "state_closed",
			"state_closing", "state_stopped", "position_open", "position_closed",
			"tilt_min", "tilt_max", "tilt_opened_value", "tilt_closed_value",
			"tilt_optimistic", "optimistic", "retain", "device_class",
		}),
	}

	// lightKeys are the options of each light schema the double knows
	// the keys of; the template schema is not modelled.
	lightKeys = map[string]map[string]bool{
		"json": set(enums.CommonKeys, enums.RWKeys, []string{
			"schema", "brightness", "brightness_scale", "color_temp_kelvin", "effect",
			"effect_list", "flash", "flash_time_long", "flash_time_short", "transition",
			"min_mireds", "max_mireds", "min_kelvin", "max_kelvin", "supported_color_modes",
			"white_scale",
		}),
		"basic": set(enums.CommonKeys, enums.RWKeys, []string{
			"schema", "payload_on", "payload_off", "on_command_type", "brightness_command_topic",
			"brightness_command_template", "brightness_state_topic", "brightness_value_template",
			"brightness_scale", "color_mode_state_topic", "color_mode_value_template",
			"color_temp_command_topic", "color_temp_command_template", "color_temp_state_topic",
			"color_temp_value_template", "color_temp_kelvin", "effect_command_topic",
			"effect_command_template", "effect_state_topic", "effect_value_template", "effect_list",
			"hs_command_topic", "hs_command_template", "hs_state_topic", "hs_value_template",
			"rgb_command_topic", "rgb_command_template", "rgb_state_topic", "rgb_value_template",
			"rgbw_command_topic", "rgbw_command_template", "rgbw_state_topic", "rgbw_value_template",
			"rgbww_command_topic", "rgbww_command_template", "rgbww_state_topic", "rgbww_value_template",
			"xy_command_topic", "xy_command_template", "xy_state_topic", "xy_value_template",
			"white_command_topic", "white_scale", "min_mireds", "max_mireds", "min_kelvin",
			"max_kelvin", "state_value_template",
		}),
	}
)
