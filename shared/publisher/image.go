package publisher

import (
	"github.com/aws/aws-lambda-go/events"

	"github.com/iginbox/iginbox/shared/domain"
)

// Items tells what a stream record's item is and decodes its images (implemented by
// store.StreamItems: the item layout is the store adapter's).
type Items interface {
	// Kind classifies an item by its key.
	Kind(pk, sk string) domain.ItemKind
	// Decode decodes an item image into out, a pointer to the domain type of its kind.
	Decode(img map[string]events.DynamoDBAttributeValue, out any) error
}

// image is one item image of a stream record (raw is nil when the record has none).
type image struct {
	raw   map[string]events.DynamoDBAttributeValue
	items Items
}

// present reports whether the record carries this image.
func (im image) present() bool { return im.raw != nil }

// decode decodes the image into out (a domain type).
func (im image) decode(out any) error { return im.items.Decode(im.raw, out) }
