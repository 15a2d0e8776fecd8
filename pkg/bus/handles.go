package bus

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"
)

// bucket returns the key-value bucket name, opened once: opening asks the server for the
// bucket's stream, a round trip that every read and write would otherwise pay. A handle stays
// valid while the bucket exists; operations on a deleted bucket fail as they would anyway.
func (b *Bus) bucket(ctx context.Context, name string) (jetstream.KeyValue, error) {
	if kv, ok := b.buckets.Load(name); ok {
		return kv.(jetstream.KeyValue), nil
	}
	kv, err := b.js.KeyValue(ctx, name)
	if err != nil {
		return nil, err
	}
	b.buckets.Store(name, kv)
	return kv, nil
}

// objectStore returns the object store name, opened once (see bucket).
func (b *Bus) objectStore(ctx context.Context, name string) (jetstream.ObjectStore, error) {
	if o, ok := b.stores.Load(name); ok {
		return o.(jetstream.ObjectStore), nil
	}
	o, err := b.js.ObjectStore(ctx, name)
	if err != nil {
		return nil, err
	}
	b.stores.Store(name, o)
	return o, nil
}
