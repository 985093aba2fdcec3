// Command kube is a multi-call binary for the private-ai lab: one link of
// kube-apiserver, kube-controller-manager and kube-scheduler from
// k8s.io/kubernetes. The first argument selects the component.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	_ "time/tzdata"

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

func usage() {
	fmt.Fprintln(os.Stderr, "usage: kube apiserver|controller-manager|scheduler [flags]")
	os.Exit(2)
}

func main() {
	name := strings.TrimPrefix(filepath.Base(os.Args[0]), "kube-")
	args := os.Args[1:]
	switch name {
	case "apiserver", "controller-manager", "scheduler":
	default:
		if len(args) == 0 {
			usage()
		}
		name, args = args[0], args[1:]
	}
	var cmd *cobra.Command
	switch name {
	case "apiserver":
		cmd = apiserver.NewAPIServerCommand()
	case "controller-manager":
		cmd = controllermanager.NewControllerManagerCommand()
	case "scheduler":
		cmd = scheduler.NewSchedulerCommand()
	default:
		usage()
	}
	cmd.SetArgs(args)
	os.Exit(cli.Run(cmd))
}
