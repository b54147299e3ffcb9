package metrics

import "context"

type labelKey struct{}

// WithLabel returns a context whose work is counted under label (the processor labels each
// event with its kind): the store's meter groups DynamoDB round trips and capacity by it.
func WithLabel(ctx context.Context, label string) context.Context {
	return context.WithValue(ctx, labelKey{}, label)
}

// Label returns the label WithLabel put on ctx, or "-" when there is none.
func Label(ctx context.Context) string {
	if l, ok := ctx.Value(labelKey{}).(string); ok {
		return l
	}
	return "-"
}
