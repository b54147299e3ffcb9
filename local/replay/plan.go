package replay

import "math/rand/v2"

// Delivery is one POST of one body: bodies are delivered Repeat times.
type Delivery struct {
	Body  *Body
	Round int // 1-based repetition
}

// Plan lists the deliveries in sending order: every body in input order, repeat times over
// (as Meta's retries redeliver the same bytes), then, when shuffle is set, the whole list in
// a random order determined by seed.
func Plan(bodies []Body, repeat int, shuffle bool, seed uint64) []Delivery {
	repeat = max(repeat, 1)
	plan := make([]Delivery, 0, len(bodies)*repeat)
	for r := 1; r <= repeat; r++ {
		for i := range bodies {
			plan = append(plan, Delivery{Body: &bodies[i], Round: r})
		}
	}
	if shuffle {
		rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
		rng.Shuffle(len(plan), func(i, j int) { plan[i], plan[j] = plan[j], plan[i] })
	}
	return plan
}
