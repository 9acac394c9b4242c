package main

import (
	"runtime/debug"
	"testing"
)

func TestTuneGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for _, tc := range []struct {
		name string
		env  map[string]string
		want int
	}{
		{name: "GOGC unset: ssm's", env: map[string]string{}, want: gcPercent},
		{name: "GOGC set: left to Go", env: map[string]string{"GOGC": "100"}, want: 100},
		{name: "GOGC empty: set all the same", env: map[string]string{"GOGC": ""}, want: 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetGCPercent(100) // as Go starts when GOGC is unset, or set to 100
			tuneGC(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			if got := debug.SetGCPercent(100); got != tc.want {
				t.Errorf("GC percent = %d, want %d", got, tc.want)
			}
		})
	}
}
