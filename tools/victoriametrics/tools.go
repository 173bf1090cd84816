//go:build tools

// Package tools pins the VictoriaMetrics release that the real-server tests run against.
// Nothing here is compiled: scripts/build-peers builds the commands by import path
// from this module, so this module's go.mod and go.sum decide every dependency version.
package tools

import (
	_ "github.com/VictoriaMetrics/VictoriaMetrics/app/victoria-metrics"
	_ "github.com/VictoriaMetrics/VictoriaMetrics/app/vmagent"
	_ "github.com/VictoriaMetrics/VictoriaMetrics/app/vmauth"
)
