package cost

import "context"

type opKey struct{}

func contextWithOp(ctx context.Context, op string) context.Context {
	return context.WithValue(ctx, opKey{}, op)
}

type txKey struct{}
