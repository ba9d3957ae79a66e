package system

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The parsers below read files the kernel writes, but they still treat them
// as outside input: the root may point at a container's mount, a testdata
// tree or a kernel with a different format. Each returns an error naming the
// field that is wrong; the caller adds the file's path.

// parseLoadavg parses /proc/loadavg ("0.52 0.58 0.59 1/1139 12345") into the
// 1, 5 and 15 minute load averages.
func parseLoadavg(b []byte) ([3]float64, error) {
	var load [3]float64
	fields := strings.Fields(string(b))
	if len(fields) < 3 {
		return load, fmt.Errorf("want at least 3 fields (1, 5 and 15 minute load), got %d", len(fields))
	}
	names := [3]string{"1 minute load", "5 minute load", "15 minute load"}
	for i := range load {
		v, err := parseNonNegative(fields[i])
		if err != nil {
			return load, fmt.Errorf("field %d (%s) %q: %w", i+1, names[i], fields[i], err)
		}
		load[i] = v
	}
	return load, nil
}

// meminfo holds the /proc/meminfo fields the driver uses, in kB.
type meminfo struct {
	Total     uint64
	Available uint64
}

// UsedPercent is the share of memory in use, the way free(1) counts it:
// what is not available to start new programs without swapping.
func (m meminfo) UsedPercent() float64 {
	return float64(m.Total-m.Available) / float64(m.Total) * 100
}

// parseMeminfo parses /proc/meminfo. Only MemTotal and MemAvailable are
// needed; other lines are skipped unread, so a field the driver does not use
// cannot break it.
func parseMeminfo(b []byte) (meminfo, error) {
	var m meminfo
	var haveTotal, haveAvail bool
	for line := range bytes.Lines(b) {
		key, rest, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		var dst *uint64
		switch string(key) {
		case "MemTotal":
			if haveTotal {
				continue
			}
			dst, haveTotal = &m.Total, true
		case "MemAvailable":
			if haveAvail {
				continue
			}
			dst, haveAvail = &m.Available, true
		default:
			continue
		}
		v, err := parseKB(rest)
		if err != nil {
			return m, fmt.Errorf("field %s: %w", key, err)
		}
		*dst = v
	}
	switch {
	case !haveTotal:
		return m, errors.New("no MemTotal field")
	case !haveAvail:
		return m, errors.New("no MemAvailable field (it needs Linux 3.14 or later)")
	case m.Total == 0:
		return m, errors.New("field MemTotal: is 0 kB")
	case m.Available > m.Total:
		return m, fmt.Errorf("field MemAvailable: %d kB is more than MemTotal %d kB", m.Available, m.Total)
	}
	return m, nil
}

// parseKB parses the value part of a meminfo line, "   16309428 kB".
func parseKB(b []byte) (uint64, error) {
	f := strings.Fields(string(b))
	if len(f) != 2 || f[1] != "kB" {
		return 0, fmt.Errorf("%q: want a number followed by kB", bytes.TrimSpace(b))
	}
	v, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q: not a whole number of kB", f[0])
	}
	return v, nil
}

// parseUptime parses /proc/uptime ("350735.47 234388.90") into the seconds
// since boot. The second field (idle time summed over CPUs) is not used.
func parseUptime(b []byte) (float64, error) {
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return 0, errors.New("empty; want the seconds since boot")
	}
	v, err := parseNonNegative(fields[0])
	if err != nil {
		return 0, fmt.Errorf("field 1 (seconds since boot) %q: %w", fields[0], err)
	}
	return v, nil
}

// parseMillidegrees parses a thermal zone's temp file ("48312"), which the
// kernel writes in thousandths of a degree Celsius, and returns °C.
func parseMillidegrees(b []byte) (float64, error) {
	s := string(bytes.TrimSpace(b))
	if s == "" {
		return 0, errors.New("empty; want millidegrees Celsius")
	}
	v, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%q: want a whole number of millidegrees Celsius", s)
	}
	// Below absolute zero is a sensor error code, not a temperature.
	if v < -273150 {
		return 0, fmt.Errorf("%d: below absolute zero; the sensor reports an error", v)
	}
	return float64(v) / 1000, nil
}

// parseNonNegative parses a plain decimal number that must be finite and not
// negative. ParseFloat alone would also take "NaN", "Inf" and hex floats.
func parseNonNegative(s string) (float64, error) {
	for _, c := range s {
		if (c < '0' || c > '9') && c != '.' {
			return 0, errors.New("not a plain decimal number")
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, errors.New("not a plain decimal number")
	}
	return v, nil
}
