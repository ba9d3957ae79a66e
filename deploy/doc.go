// Package deploy holds what installs pinion as a service: the systemd unit
// (pinion.service) and its user (pinion.sysusers). It has no code; its
// tests check the unit with systemd-analyze and hold it to what the docs
// say it does.
package deploy
