package api

import (
	"context"

	"github.com/aspmhq/aspm/pkg/bus"
	"github.com/aspmhq/aspm/services/api/internal/httpapi"
	"github.com/aspmhq/aspm/services/api/internal/notify"
)

// loadNotifyConfig reads the notifier's configuration file; nil when path is empty (no
// notifier).
func loadNotifyConfig(path string) (*notify.Config, error) {
	if path == "" {
		return nil, nil
	}
	c, err := notify.LoadConfig(path)
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// startNotifier builds the notifier on b, when one is configured, and runs it until ctx is
// done; wait returns Run's error once it has stopped.
func (s *Service) startNotifier(ctx context.Context, b *bus.Bus) (wait func() error, err error) {
	if s.notifyCfg == nil {
		return func() error { return nil }, nil
	}
	n, err := notify.New(ctx, *s.notifyCfg, notify.Deps{JetStream: b.JetStream(), Replicas: s.cfg.Bus.Replicas,
		Logger: s.log.With("component", "notifier"), Queue: s.queue})
	if err != nil {
		return nil, err
	}
	s.notifier = n
	done := make(chan error, 1)
	go func() {
		err := n.Run(ctx)
		if err != nil {
			s.log.Error("notifier stopped", "err", err)
		}
		done <- err
	}()
	s.log.Info("notifier running", "sinks", len(s.notifyCfg.Sinks))
	return func() error { return <-done }, nil
}

// notifications is what the API shows of the notifier; nil when none runs.
func (s *Service) notifications() httpapi.Notifications {
	if s.notifier == nil {
		return nil
	}
	return s.notifier
}
