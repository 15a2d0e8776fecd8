package scorer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aspmhq/aspm/pkg/policy"
)

// fingerprint hashes the policy at path (a directory's files, or a bundle file), to notice
// changes without recompiling.
func fingerprint(path string) (string, error) {
	h := sha256.New()
	info, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if !info.IsDir() {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", err
		}
		h.Write(b)
		return hex.EncodeToString(h.Sum(nil)), nil
	}
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && p != path {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", p, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// watchPolicy reloads the policy at cfg.PolicyPath whenever its files change. A policy that
// fails to load or compile is rejected with the error logged, and the previous one keeps
// serving; scores record the version of the policy that made them.
func (s *Service) watchPolicy(ctx context.Context) error {
	last, err := fingerprint(s.cfg.PolicyPath)
	if err != nil {
		s.log.Warn("reading policy", "path", s.cfg.PolicyPath, "err", err)
	}
	t := time.NewTicker(s.cfg.PolicyReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		fp, err := fingerprint(s.cfg.PolicyPath)
		if err != nil || fp == last {
			if err != nil {
				s.log.Warn("reading policy", "path", s.cfg.PolicyPath, "err", err)
			}
			continue
		}
		last = fp
		eng, err := policy.LoadPath(ctx, s.cfg.PolicyPath)
		if err != nil {
			s.metrics.reloads.WithLabelValues("rejected").Inc()
			s.log.Error("policy change rejected; the previous policy keeps serving",
				"path", s.cfg.PolicyPath, "version", s.policy.Load().Version(), "err", err)
			continue
		}
		old := s.policy.Swap(eng)
		s.metrics.reloads.WithLabelValues("loaded").Inc()
		s.log.Info("policy reloaded", "path", s.cfg.PolicyPath, "from", old.Version(), "to", eng.Version())
	}
}
