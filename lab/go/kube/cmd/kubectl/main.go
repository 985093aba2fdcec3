// Command kubectl is upstream kubectl (k8s.io/kubectl, cmd/kubectl of k8s.io/kubernetes) built
// from the same pinned module graph as the lab's control plane. Only benchmarks use it
// (benchmarks/converged_site_bench.py); `lab/build.sh kubectl` builds it.
package main

import (
	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		util.CheckErr(err)
	}
}
