//go:build tools

// Package tools keeps github.com/brancz/kube-rbac-proxy and the packages of its
// cmd/kube-rbac-proxy in this module's requirements and go.sum: build.sh builds the upstream
// command from here because `go install pkg@version` refuses a module whose go.mod has replace
// directives (v0.19.1 has one, repeated in this go.mod) and the proxy does not list its versions.
package tools

import (
	_ "github.com/brancz/kube-rbac-proxy/cmd/kube-rbac-proxy/app"
)
