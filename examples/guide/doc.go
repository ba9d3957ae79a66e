// Package guide keeps docs/writing-drivers.md true. It has no code of its
// own: its tests read the guide and check every Go block in it.
//
//   - The files of the guide's doorbell driver, each shown under a line
//     that names it ("`doorbell.go`:"), are written to a directory of
//     their own inside this package, gofmt-checked, vetted, and tested
//     with go test, so the driver a reader copies builds and works.
//   - The API listings ("// In package drivers:") are compared,
//     declaration by declaration, with the source of package drivers or
//     drivertest: every type with its fields, every signature.
//   - Quotes of the examples ("From `examples/relay/relay.go`:") must
//     appear verbatim in the file they name.
//   - Every drivers.X and drivertest.X the guide names must exist.
package guide
