//go:build tools

// Package tools keeps github.com/kserve/kserve and the packages of its cmd/manager in this module's
// requirements and go.sum: build.sh builds the upstream command github.com/kserve/kserve/cmd/manager
// from here (`go install pkg@version` needs the module's version list, which the proxy does not
// serve for kserve).
package tools

import (
	_ "github.com/kserve/kserve/pkg/controller/v1alpha1/inferencegraph"
	_ "github.com/kserve/kserve/pkg/controller/v1alpha1/trainedmodel"
	_ "github.com/kserve/kserve/pkg/controller/v1beta1/inferenceservice"
	_ "github.com/kserve/kserve/pkg/webhook/admission/localmodelcache"
	_ "github.com/kserve/kserve/pkg/webhook/admission/pod"
	_ "github.com/kserve/kserve/pkg/webhook/admission/servingruntime"
	_ "k8s.io/client-go/plugin/pkg/client/auth/gcp"
)
