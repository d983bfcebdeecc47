package main

import (
	"errors"
	"testing"
)

func TestParseServeFlags(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		want string // the cluster; "error": a usage error
	}{
		{"no arguments: one local server", nil, ""},
		{"--local-cluster=replica: a primary and a standby", []string{"--local-cluster=replica"}, "replica"},
		{"--local-cluster citus: a coordinator and two workers", []string{"--local-cluster", "citus"}, "citus"},
		{"another cluster kind is a usage error", []string{"--local-cluster=cockroach"}, "error"},
		{"an unknown flag is a usage error", []string{"--workers=3"}, "error"},
		{"a positional argument is a usage error", []string{"now"}, "error"},
		{"a positional argument after the flag is a usage error", []string{"--local-cluster=citus", "now"}, "error"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseServeFlags(c.args)
			if c.want == "error" {
				if !errors.Is(err, errUsage) {
					t.Fatalf("got %q, %v; want a usage error", got, err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %q, %v; want %q", got, err, c.want)
			}
		})
	}
}
