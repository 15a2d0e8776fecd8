package ingest

import (
	"context"
	"fmt"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/aspmhq/aspm/pkg/event"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/services/ingest/internal/inventory"
	"github.com/aspmhq/aspm/services/ingest/internal/kubewatch"
)

// KubeConfig turns on the Kubernetes watcher: running pods are observed as deployments.
type KubeConfig struct {
	kubewatch.Config
	// Kubeconfig is a kubeconfig file; empty uses the in-cluster service account.
	Kubeconfig string
}

// observe publishes deployment observations from the inventory sources, as the API does for
// CD systems: every source produces the same aspm.deploy.observed event.
func (s *Service) observe(ctx context.Context, deps []evidence.Deployment) error {
	for _, d := range deps {
		if err := s.bus.Publish(ctx, event.SubjectDeployObserved, event.NewDeployObserved(d)); err != nil {
			return err
		}
	}
	if len(deps) > 0 {
		s.log.Info("deployments observed", "count", len(deps))
	}
	return nil
}

// runInventory watches the inventory file until ctx is done.
func (s *Service) runInventory(ctx context.Context) error {
	w, err := inventory.NewWatcher(s.cfg.Inventory, s.reg, s.observe, inventory.Options{Logger: s.log.With("source", "inventory")})
	if err != nil {
		return err
	}
	return w.Run(ctx)
}

// runKube watches the cluster's pods until ctx is done.
func (s *Service) runKube(ctx context.Context) error {
	var (
		rc  *rest.Config
		err error
	)
	if s.cfg.Kube.Kubeconfig != "" {
		rc, err = clientcmd.BuildConfigFromFlags("", s.cfg.Kube.Kubeconfig)
	} else {
		rc, err = rest.InClusterConfig()
	}
	if err != nil {
		return fmt.Errorf("kubernetes: loading client configuration: %w", err)
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("kubernetes: creating client: %w", err)
	}
	return kubewatch.Run(ctx, client, s.cfg.Kube.Config, s.observe, s.log.With("source", "kubernetes"))
}
